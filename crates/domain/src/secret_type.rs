//! The kind of a secret ([`SecretType`]) and the encoding of its value ([`SecretDataType`]).
//!
//! Owns the mapping between these enums and their wire spellings; parsing is exact and
//! case-sensitive (`Rds`, not `RDS`: the looser spellings accepted by ListSecrets filters are the
//! filter's business). Holds no rule about names or data: see `names` and `secret_data`.

use std::fmt;

use crate::error::ValidationError;

/// What a secret holds: a free-form value or credentials of a managed service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SecretType {
    /// A free-form secret, rotated by the caller with PutSecretValue.
    #[default]
    Generic,
    /// ApsaraDB RDS account credentials.
    Rds,
    /// Tair/Redis account credentials.
    Redis,
    /// PolarDB account credentials.
    PolarDb,
    /// RAM user AccessKey pairs.
    RamCredentials,
    /// ECS instance login (password or SSH key).
    Ecs,
}

impl SecretType {
    /// Every secret type, in wire order.
    pub const ALL: [SecretType; 6] = [
        SecretType::Generic,
        SecretType::Rds,
        SecretType::Redis,
        SecretType::PolarDb,
        SecretType::RamCredentials,
        SecretType::Ecs,
    ];

    /// Parses the exact wire name (`Generic`, `Rds`, `Redis`, `PolarDB`, `RAMCredentials`, `ECS`).
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|ty| ty.wire_name() == text)
            .ok_or(ValidationError::NotOneOf {
                param: "SecretType",
                allowed: "Generic, Rds, Redis, PolarDB, RAMCredentials, ECS",
            })
    }

    /// The wire spelling of this type.
    pub fn wire_name(self) -> &'static str {
        match self {
            Self::Generic => "Generic",
            Self::Rds => "Rds",
            Self::Redis => "Redis",
            Self::PolarDb => "PolarDB",
            Self::RamCredentials => "RAMCredentials",
            Self::Ecs => "ECS",
        }
    }

    /// True for the managed types, whose value is a service credential (everything but Generic).
    pub fn is_managed(self) -> bool {
        !matches!(self, Self::Generic)
    }

    /// True when automatic rotation may be enabled (managed types only, per CreateSecret).
    pub fn supports_automatic_rotation(self) -> bool {
        self.is_managed()
    }
}

impl fmt::Display for SecretType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wire_name())
    }
}

/// How a secret value is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SecretDataType {
    /// The value is text, stored as given.
    #[default]
    Text,
    /// The value is binary data carried as standard base64 text.
    Binary,
}

impl SecretDataType {
    /// Parses the exact wire name (`text` or `binary`, lower case).
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        match text {
            "text" => Ok(Self::Text),
            "binary" => Ok(Self::Binary),
            _ => Err(ValidationError::NotOneOf {
                param: "SecretDataType",
                allowed: "text, binary",
            }),
        }
    }

    /// The wire spelling of this data type.
    pub fn wire_name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Binary => "binary",
        }
    }
}

impl fmt::Display for SecretDataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wire_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_type_parse_round_trips_every_wire_name() {
        for ty in SecretType::ALL {
            assert_eq!(SecretType::parse(ty.wire_name()), Ok(ty));
        }
    }

    #[test]
    fn secret_type_parse_is_case_sensitive() {
        for text in [
            "RDS",
            "generic",
            "Polardb",
            "ecs",
            "RamCredentials",
            "",
            " Rds",
        ] {
            let err = SecretType::parse(text).unwrap_err();
            assert_eq!(err.param(), "SecretType");
        }
    }

    #[test]
    fn only_generic_is_unmanaged() {
        assert!(!SecretType::Generic.is_managed());
        for ty in SecretType::ALL.into_iter().skip(1) {
            assert!(ty.is_managed(), "{ty}");
            assert!(ty.supports_automatic_rotation());
        }
    }

    #[test]
    fn generic_is_the_default_type() {
        assert_eq!(SecretType::default(), SecretType::Generic);
        assert_eq!(SecretDataType::default(), SecretDataType::Text);
    }

    #[test]
    fn secret_data_type_accepts_only_lower_case_names() {
        assert_eq!(SecretDataType::parse("text"), Ok(SecretDataType::Text));
        assert_eq!(SecretDataType::parse("binary"), Ok(SecretDataType::Binary));
        assert!(SecretDataType::parse("Text").is_err());
        assert!(SecretDataType::parse("BINARY").is_err());
        assert_eq!(SecretDataType::Binary.wire_name(), "binary");
    }
}
