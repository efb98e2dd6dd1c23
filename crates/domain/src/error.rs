//! The one error type of the domain layer: [`ValidationError`], a value that failed a rule.
//!
//! Each variant carries the wire parameter it concerns (a `&'static str`, the only place the
//! domain spells Alibaba parameter names) and the rule it broke as typed data, so the service can
//! map it to `InvalidParameter`/`MissingParameter` and the caller can read what to fix. Messages
//! never contain a secret value: rules that inspect `SecretData` only ever report fixed text.

use thiserror::Error;

/// A parameter value that breaks one of the API's rules.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidationError {
    /// A required parameter was not given.
    #[error("{param} is required")]
    Missing {
        /// Wire name of the parameter.
        param: &'static str,
    },
    /// The parameter was given but is empty.
    #[error("{param} must not be empty")]
    Empty {
        /// Wire name of the parameter.
        param: &'static str,
    },
    /// The parameter is longer than its limit, counted in characters.
    #[error("{param} is longer than {max} characters")]
    TooLong {
        /// Wire name of the parameter.
        param: &'static str,
        /// Largest accepted length in characters.
        max: usize,
    },
    /// The parameter is larger than its limit, counted in UTF-8 bytes.
    #[error("{param} is larger than {max} bytes")]
    TooLarge {
        /// Wire name of the parameter.
        param: &'static str,
        /// Largest accepted size in bytes.
        max: usize,
    },
    /// The parameter holds more items than allowed.
    #[error("{param} has more than {max} {item}")]
    TooMany {
        /// Wire name of the parameter.
        param: &'static str,
        /// Largest accepted number of items.
        max: usize,
        /// What is counted, in the plural ("tags", "CustomData pairs").
        item: &'static str,
    },
    /// The parameter contains a character outside its allowed set.
    #[error("{param} may contain only {allowed}")]
    InvalidCharacter {
        /// Wire name of the parameter.
        param: &'static str,
        /// Human-readable description of the allowed set.
        allowed: &'static str,
    },
    /// The parameter starts with a prefix that is reserved.
    #[error("{param} must not start with {prefix}")]
    ReservedPrefix {
        /// Wire name of the parameter.
        param: &'static str,
        /// The reserved prefix.
        prefix: &'static str,
    },
    /// The parameter must start with a given prefix for this secret type.
    #[error("{param} must start with {prefix} for SecretType {secret_type}")]
    RequiredPrefix {
        /// Wire name of the parameter.
        param: &'static str,
        /// The required prefix.
        prefix: &'static str,
        /// Wire name of the secret type that imposes the prefix.
        secret_type: &'static str,
    },
    /// A numeric or duration value lies outside its inclusive range.
    #[error("{param} must be between {min} and {max}")]
    OutOfRange {
        /// Wire name of the parameter.
        param: &'static str,
        /// Lower bound, as the caller would write it ("6h").
        min: &'static str,
        /// Upper bound, as the caller would write it ("8760h").
        max: &'static str,
    },
    /// The parameter is not one of the accepted values.
    #[error("{param} must be one of {allowed}")]
    NotOneOf {
        /// Wire name of the parameter.
        param: &'static str,
        /// The accepted values, comma-separated.
        allowed: &'static str,
    },
    /// The parameter must hold JSON text but does not parse.
    #[error("{param} is not valid JSON")]
    InvalidJson {
        /// Wire name of the parameter.
        param: &'static str,
    },
    /// A JSON parameter lacks a field it must contain.
    #[error("{param} must contain the field {field}")]
    MissingField {
        /// Wire name of the parameter.
        param: &'static str,
        /// Name of the missing field (dotted path for nested fields).
        field: &'static str,
    },
    /// The parameter is required because of the secret type.
    #[error("{param} is required for SecretType {secret_type}")]
    RequiredFor {
        /// Wire name of the parameter.
        param: &'static str,
        /// Wire name of the secret type.
        secret_type: &'static str,
    },
    /// The value is not allowed for this secret type.
    #[error("{param} {value} is not allowed for SecretType {secret_type}")]
    NotAllowedFor {
        /// Wire name of the parameter.
        param: &'static str,
        /// The rejected value (never secret data).
        value: &'static str,
        /// Wire name of the secret type.
        secret_type: &'static str,
    },
    /// The same item appears twice where it must be unique.
    #[error("{param} contains {item} more than once")]
    Duplicate {
        /// Wire name of the parameter.
        param: &'static str,
        /// The repeated item (a tag key, never secret data).
        item: String,
    },
    /// Any other broken rule, described by `reason` (never secret data).
    #[error("{param} is invalid: {reason}")]
    Invalid {
        /// Wire name of the parameter.
        param: &'static str,
        /// What is wrong and how to fix it.
        reason: String,
    },
}

impl ValidationError {
    /// Wire name of the parameter the error concerns.
    pub fn param(&self) -> &'static str {
        match self {
            Self::Missing { param }
            | Self::Empty { param }
            | Self::TooLong { param, .. }
            | Self::TooLarge { param, .. }
            | Self::TooMany { param, .. }
            | Self::InvalidCharacter { param, .. }
            | Self::ReservedPrefix { param, .. }
            | Self::RequiredPrefix { param, .. }
            | Self::OutOfRange { param, .. }
            | Self::NotOneOf { param, .. }
            | Self::InvalidJson { param }
            | Self::MissingField { param, .. }
            | Self::RequiredFor { param, .. }
            | Self::NotAllowedFor { param, .. }
            | Self::Duplicate { param, .. }
            | Self::Invalid { param, .. } => param,
        }
    }

    /// True when the parameter was absent, which the API reports as `MissingParameter`.
    pub fn is_missing(&self) -> bool {
        matches!(self, Self::Missing { .. })
    }

    /// Shorthand for [`ValidationError::Invalid`].
    pub fn invalid(param: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            param,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_long_message_names_parameter_and_limit() {
        let err = ValidationError::TooLong {
            param: "SecretName",
            max: 192,
        };
        assert_eq!(err.to_string(), "SecretName is longer than 192 characters");
        assert_eq!(err.param(), "SecretName");
    }

    #[test]
    fn out_of_range_message_names_both_bounds() {
        let err = ValidationError::OutOfRange {
            param: "RotationInterval",
            min: "6h",
            max: "8760h",
        };
        assert_eq!(
            err.to_string(),
            "RotationInterval must be between 6h and 8760h"
        );
    }

    #[test]
    fn required_for_message_names_secret_type() {
        let err = ValidationError::RequiredFor {
            param: "ExtendedConfig",
            secret_type: "Rds",
        };
        assert_eq!(
            err.to_string(),
            "ExtendedConfig is required for SecretType Rds"
        );
    }

    #[test]
    fn only_missing_is_reported_as_missing() {
        assert!(ValidationError::Missing { param: "VersionId" }.is_missing());
        assert!(!ValidationError::Empty { param: "VersionId" }.is_missing());
    }
}
