//! placeholder
pub mod secret;
pub mod stages;
