//! Metric names; labels come from closed sets (action names, error codes), never from ids.

/// Requests by action and code (`OK` for success).
pub const REQUESTS_TOTAL: &str = "openkms_requests_total";
/// Request latency by action.
pub const REQUEST_DURATION: &str = "openkms_request_duration_seconds";
