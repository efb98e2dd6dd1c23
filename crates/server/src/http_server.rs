//! The listener: one task per connection, one RequestId per request, and the reply (success
//! or Alibaba's error body) for every outcome.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openkms_wire::render::{self, ErrorBody, Format};
use openkms_wire::{ErrorCode, RequestView, RpcRequest};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error_response::ApiError;
use crate::metrics_names::{REQUESTS_TOTAL, REQUEST_DURATION};
use crate::{auth, handlers, http1, AppState};

/// Size limits of requests.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Largest request head (request line + headers). The legacy SDK puts a 30 KiB secret,
    /// percent-encoded, in the URL (kms-api.md §1.2), so this is generous.
    pub max_head_bytes: usize,
    /// Largest body after de-chunking.
    pub max_body_bytes: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_head_bytes: 256 * 1024,
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// Serves connections from `listener` until `shutdown` is cancelled, then stops accepting and
/// waits up to `grace` for the connections already open to finish.
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: CancellationToken,
    grace: Duration,
) {
    let limits = http1::Limits {
        max_head: state.limits.max_head_bytes,
        max_body: state.limits.max_body_bytes,
    };
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = shutdown.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let peer = Some(peer.ip());
            http1::serve(
                stream,
                limits,
                shutdown,
                |req| handle(&state, req, peer),
                unreadable,
            )
            .await;
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "shutdown grace ended with connections still open"
        );
    }
}

/// The reply to a request that could not be read (too large, malformed), in Alibaba's shape.
fn unreadable(status: u16, reason: &'static str) -> http1::Response {
    let code = match status {
        413 => ErrorCode::EntityTooLarge,
        _ => ErrorCode::InvalidParameter,
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    let body = render::error(
        Format::Json,
        &ErrorBody {
            request_id: &request_id,
            host_id: "openkms",
            code: code.code(),
            message: &format!("The request could not be read: {reason}."),
            status,
        },
    );
    reply(status, Format::Json, request_id, body)
}

async fn handle(
    state: &AppState,
    req: http1::Request,
    peer: Option<std::net::IpAddr>,
) -> http1::Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let host_id = req
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("openkms")
        .to_owned();
    let view = RequestView {
        method: &req.method,
        query: req.query(),
        headers: &req.headers,
        body: &req.body,
    };
    let rpc = match RpcRequest::parse(&view) {
        Ok(r) => r,
        Err(e) => return error_reply(Format::Json, &request_id, &host_id, "-", e.into(), started),
    };
    let format = rpc.format;
    let caller = match auth::authenticate(
        &state.service,
        state.rate_limit.as_ref(),
        peer,
        &view,
        &rpc,
    )
    .await
    {
        Ok(c) => c,
        Err(e) => return error_reply(format, &request_id, &host_id, "-", e, started),
    };
    let (action, result) =
        handlers::dispatch(&state.service, &caller, &rpc, format, &request_id).await;
    match result {
        Ok(body) => {
            record(action, "OK", started);
            reply(200, format, request_id, body)
        }
        Err(e) => error_reply(format, &request_id, &host_id, action, e, started),
    }
}

fn error_reply(
    format: Format,
    request_id: &str,
    host_id: &str,
    action: &'static str,
    e: ApiError,
    started: Instant,
) -> http1::Response {
    let status = e.code.status();
    tracing::info!(
        request_id,
        action,
        code = e.code.code(),
        status,
        "request refused"
    );
    record(action, e.code.code(), started);
    let body = render::error(
        format,
        &ErrorBody {
            request_id,
            host_id,
            code: e.code.code(),
            message: &e.message,
            status,
        },
    );
    reply(status, format, request_id.to_owned(), body)
}

fn record(action: &'static str, code: &'static str, started: Instant) {
    metrics::counter!(REQUESTS_TOTAL, "action" => action, "code" => code).increment(1);
    metrics::histogram!(REQUEST_DURATION, "action" => action)
        .record(started.elapsed().as_secs_f64());
}

fn reply(status: u16, format: Format, request_id: String, body: Vec<u8>) -> http1::Response {
    http1::Response {
        status,
        headers: vec![
            ("content-type", format.content_type().to_owned()),
            ("x-acs-request-id", request_id),
        ],
        body,
    }
}
