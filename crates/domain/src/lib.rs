//! openkms domain: the rules of secrets, versions, stages, tags and policies as pure functions
//! over values.
//!
//! This crate parses and validates what callers send (names, limits, per-type formats, policy
//! documents) and builds identifiers (ARNs). It never reads the clock or a random source, never
//! touches storage or the network, and never holds key material: `now` and generated ids are
//! parameters supplied by the service.

pub mod arn;
pub mod duration;
pub mod error;
pub mod extended_config;
pub mod names;
pub mod policy;
pub mod secret_data;
pub mod secret_type;
pub mod tags;

pub use duration::RotationInterval;
pub use error::ValidationError;

pub use names::{
    check_name_for_type, ram_credentials_secret_name, SecretName, VersionId, VersionStage,
};

pub use secret_type::{SecretDataType, SecretType};
pub use tags::{parse_tag_keys, parse_tags_json, Tag};
