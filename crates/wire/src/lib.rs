//! openkms-wire: the Alibaba Cloud RPC protocol (KMS 2016-01-20) as bytes and names.
//!
//! Owns every Alibaba parameter name, encoding quirk, signature algorithm, reply shape and
//! error code, so wire fidelity can be reviewed in one place. It never touches storage or
//! key material beyond borrowing an access key's secret for one signature check.

pub mod action;
pub mod actions;
pub mod endpoint;
pub mod error;
pub mod params;
pub mod pct;
pub mod render;
pub mod request;
pub mod signature;
pub mod timefmt;

pub use action::Action;
pub use error::{ErrorCode, ProtocolError};
pub use params::Params;
pub use render::Format;
pub use request::{RequestView, RpcRequest};

/// The only API version this server speaks.
pub const API_VERSION: &str = "2016-01-20";
