//! The listener: one task per connection, one RequestId per request, and the reply (success
//! or Alibaba's error body) for every outcome.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openkms_wire::render::{self, ErrorBody, Format};
use openkms_wire::{ErrorCode, RequestView, RpcRequest};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::error_response::ApiError;
use crate::listener::{accept_loop, ListenerConfig, Transport};
use crate::metrics_names::{REQUESTS_TOTAL, REQUEST_DURATION};
use crate::tls::TlsConfig;
use crate::{auth, handlers, health, http1, AppState};

/// Size limits, deadlines and the connection cap of the API listener.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Largest request head (request line + headers). The legacy SDK puts a 30 KiB secret,
    /// percent-encoded, in the URL (kms-api.md §1.2), so this is generous.
    pub max_head_bytes: usize,
    /// Largest body after de-chunking.
    pub max_body_bytes: usize,
    /// Reading a whole request head, from the accept or the request's first byte.
    pub head_timeout: Duration,
    /// Reading a body, from the end of its head.
    pub body_timeout: Duration,
    /// Writing one response.
    pub write_timeout: Duration,
    /// A keep-alive connection idle this long between requests is closed.
    pub idle_timeout: Duration,
    /// Connections served at once; more are answered 503 and closed at once.
    pub max_connections: usize,
}

/// Default deadline for a whole request head (as hyper's).
pub const DEFAULT_HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// Default deadline for a body.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// Default deadline for writing a response.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default keep-alive idle timeout.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);
/// Connection cap when none is derived from the file limit.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_head_bytes: 256 * 1024,
            max_body_bytes: 1024 * 1024,
            head_timeout: DEFAULT_HEAD_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl ServerLimits {
    pub(crate) fn http1(&self) -> http1::Limits {
        http1::Limits {
            max_head: self.max_head_bytes,
            max_body: self.max_body_bytes,
            head_timeout: self.head_timeout,
            body_timeout: self.body_timeout,
            write_timeout: self.write_timeout,
            idle_timeout: self.idle_timeout,
        }
    }
}

/// Serves connections from `listener` until `shutdown` is cancelled. Then it stops accepting at
/// once, closes idle keep-alive connections, finishes and answers every request already
/// received (with `Connection: close`), and returns when every connection is closed, or when
/// `grace` has run out and the remaining connections are dropped. With `tls`, every
/// connection is TLS (the config current when it was accepted); without, plain HTTP.
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    tls: Option<Arc<TlsConfig>>,
    shutdown: CancellationToken,
    grace: Duration,
) {
    let config = ListenerConfig {
        limits: state.limits.http1(),
        max_connections: state.limits.max_connections,
        grace,
    };
    let draining = shutdown.clone();
    let handle_one = move |req, ip| {
        let state = state.clone();
        let draining = draining.clone();
        async move { handle(&state, &draining, req, Some(ip)).await }
    };
    let transport = tls.map_or(Transport::Plain, Transport::Tls);
    accept_loop(
        listener, config, transport, shutdown, handle_one, unreadable,
    )
    .await;
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
    shutdown: &CancellationToken,
    req: http1::Request,
    peer: Option<std::net::IpAddr>,
) -> http1::Response {
    // Health checks come before the RPC path: unauthenticated, not counted as actions, never
    // audited.
    if let Some(resp) = health::answer(state, shutdown, &req).await {
        return resp;
    }
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
