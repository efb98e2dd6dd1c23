//! openkms-server: HTTP only. Bytes → wire request → authentication → service call → wire
//! reply. No SQL, no cryptography, no business rule lives here.

mod auth;
mod error_response;
mod handlers;
mod http1;
mod http_server;
mod metrics_names;
mod rate_limit;

use std::sync::Arc;

use openkms_service::Service;

pub use http_server::{run, ServerLimits};
pub use rate_limit::{RateLimit, RateLimiter};

/// Shared state of every request.
pub struct AppState {
    pub service: Arc<Service>,
    pub limits: ServerLimits,
    /// Requests per access key, when limited (off by default).
    pub rate_limit: Option<RateLimiter>,
}
