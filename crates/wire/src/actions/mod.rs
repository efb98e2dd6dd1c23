//! Request readers and reply shapes per action family, with Alibaba's exact parameter names
//! and JSON nesting (kms-sdk-models.md).

pub mod common;
pub mod keys;
pub mod ram;
pub mod rotation;
pub mod secrets;
pub mod service;
pub mod sts;
pub mod tags;
