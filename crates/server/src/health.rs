//! Health endpoints and the metrics listener.
//!
//! `GET /healthz` answers 200 while the process runs; `GET /readyz` answers 200 when the store
//! answers a read, the active root of trust is loaded and the process is not draining, 503
//! otherwise. Both are served on the API listener before the RPC path (unauthenticated, not
//! counted as actions, never audited) and on the metrics listener beside `/metrics`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::listener::{accept_loop, ListenerConfig, Transport};
use crate::{http1, AppState};

/// Connections the metrics listener serves at once: scrapers and probes, never many.
const METRICS_MAX_CONNECTIONS: usize = 64;

/// The answer to a health check, or `None` when `req` is not one.
pub(crate) async fn answer(
    state: &AppState,
    shutdown: &CancellationToken,
    req: &http1::Request,
) -> Option<http1::Response> {
    if req.method != "GET" {
        return None;
    }
    match req.path() {
        "/healthz" => Some(text(200, "ok\n")),
        "/readyz" => Some(
            if shutdown.is_cancelled() || state.draining.is_cancelled() {
                text(503, "draining\n")
            } else if state.service.ready().await {
                text(200, "ready\n")
            } else {
                text(503, "not ready\n")
            },
        ),
        _ => None,
    }
}

/// Serves `/metrics` (Prometheus text from `render`), `/healthz` and `/readyz` from `listener`
/// until `stop` is cancelled, with the API listener's deadlines.
pub async fn run_metrics<F>(
    listener: TcpListener,
    render: F,
    state: Arc<AppState>,
    stop: CancellationToken,
) where
    F: Fn() -> String + Send + Sync + 'static,
{
    let config = ListenerConfig {
        limits: state.limits.http1(),
        max_connections: METRICS_MAX_CONNECTIONS,
        grace: Duration::from_secs(5),
    };
    let render = Arc::new(render);
    let stopping = stop.clone();
    let handle = move |req: http1::Request, _ip: IpAddr| {
        let state = state.clone();
        let render = render.clone();
        let stopping = stopping.clone();
        async move {
            if let Some(resp) = answer(&state, &stopping, &req).await {
                return resp;
            }
            match (req.method.as_str(), req.path()) {
                ("GET", "/metrics") => http1::Response {
                    status: 200,
                    headers: vec![("content-type", "text/plain; version=0.0.4".to_owned())],
                    body: render().into_bytes(),
                },
                _ => text(404, "not found\n"),
            }
        }
    };
    accept_loop(
        listener,
        config,
        Transport::Plain,
        stop,
        handle,
        plain_reject,
    )
    .await;
}

fn plain_reject(status: u16, reason: &'static str) -> http1::Response {
    text(status, reason)
}

fn text(status: u16, body: &str) -> http1::Response {
    http1::Response {
        status,
        headers: vec![("content-type", "text/plain; charset=utf-8".to_owned())],
        body: body.as_bytes().to_vec(),
    }
}
