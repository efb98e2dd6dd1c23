//! openkms-server: HTTP (and the TLS it may run in) only. Bytes → wire request → authentication → service call → wire
//! reply. No SQL, no cryptography, no business rule lives here.

mod auth;
mod error_response;
mod handlers;
mod health;
mod http1;
mod http_server;
mod listener;
mod metrics_names;
mod rate_limit;
mod tls;

use std::sync::Arc;

use openkms_service::Service;
use tokio_util::sync::CancellationToken;

pub use health::run_metrics;
pub use http_server::{
    run, ServerLimits, DEFAULT_BODY_TIMEOUT, DEFAULT_HEAD_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_WRITE_TIMEOUT,
};
pub use rate_limit::{RateLimit, RateLimiter};
pub use tls::{read_certificates, TlsConfig, TlsError, TlsFiles};

/// Shared state of every request.
pub struct AppState {
    pub service: Arc<Service>,
    pub limits: ServerLimits,
    /// Requests per access key, when limited (off by default).
    pub rate_limit: Option<RateLimiter>,
    /// Cancelled when the process starts shutting down: `/readyz` answers 503 from then on, on
    /// every listener (the API listener also answers so once its own `shutdown` is cancelled).
    pub draining: CancellationToken,
}
