//! openkms domain: the rules of secrets, versions, stages, tags and policies as pure functions
//! over values.
//!
//! This crate parses and validates what callers send (names, limits, per-type formats, policy
//! documents) and builds identifiers (ARNs). It never reads the clock or a random source, never
//! touches storage or the network, and never holds key material: `now` and generated ids are
//! parameters supplied by the service.

pub mod arn;
pub mod db_instance;
pub mod duration;
pub mod error;
pub mod extended_config;
pub mod filters;
pub mod identities;
pub mod key;
pub mod key_filters;
pub mod names;
pub mod paging;
pub mod password;
pub mod policy;
pub mod secret;
pub mod secret_data;
pub mod secret_type;
pub mod stages;
pub mod tags;

pub use arn::{
    alias_arn, db_instance_arn, instance_arn, key_arn, parse_secret_ref, ram_user_arn, secret_arn,
    SecretRef,
};
pub use duration::RotationInterval;
pub use error::ValidationError;
pub use extended_config::{missing_for, ExtendedConfig};
pub use identities::{AccessKeyStatus, PolicyName, PolicyType, RoleName, UserName};
pub use names::{
    check_name_for_type, check_ram_credentials_name, ram_credentials_secret_name, SecretName,
    VersionId, VersionStage, AUTO_MARKER,
};
pub use password::{PasswordRequest, PasswordRules};
pub use policy::{
    default_secret_policy, validate_secret_policy, Effect, Policy, PolicyDocument, Statement,
};
pub use secret_data::validate_secret_data;
pub use secret_type::{SecretDataType, SecretType};
pub use tags::{check_tag_set, parse_tag_keys, parse_tags_json, Tag};
