//! Metric names; labels come from closed sets (action names, error codes), never from ids.

/// Requests by action and code (`OK` for success).
pub const REQUESTS_TOTAL: &str = "openkms_requests_total";
/// Request latency by action.
pub const REQUEST_DURATION: &str = "openkms_request_duration_seconds";
/// Attempts to load a new TLS certificate and key, by outcome (`loaded`, `refused`).
pub const TLS_RELOADS: &str = "openkms_tls_reloads_total";
/// The serving certificate's notAfter, as seconds since the epoch (for expiry alerts).
pub const TLS_CERT_NOT_AFTER: &str = "openkms_tls_certificate_not_after_seconds";
/// TLS handshakes that failed (bad client, no client certificate, timeout), counted by reason.
pub const TLS_HANDSHAKE_FAILURES: &str = "openkms_tls_handshake_failures_total";
