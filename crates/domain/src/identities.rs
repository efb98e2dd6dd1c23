//! RAM identity names and the small closed vocabularies of RAM (policy type, access key
//! status), each parsed once. A [`UserName`], [`RoleName`] or [`PolicyName`] in hand is known
//! to follow RAM's rule, so the service and the store pass them on without checking again.

use std::fmt;

use crate::error::ValidationError;

/// Longest RAM user name, in characters.
pub const USER_NAME_MAX_LEN: usize = 64;
/// Longest RAM role name, in characters.
pub const ROLE_NAME_MAX_LEN: usize = 64;
/// Longest customer policy name, in characters.
pub const POLICY_NAME_MAX_LEN: usize = 128;

/// Checks `text` against one of RAM's name rules: not empty, at most `max` characters, each
/// accepted by `allowed`.
fn check_name(
    param: &'static str,
    text: &str,
    max: usize,
    allowed: fn(char) -> bool,
    described: &'static str,
) -> Result<(), ValidationError> {
    if text.is_empty() {
        return Err(ValidationError::Empty { param });
    }
    if text.chars().count() > max {
        return Err(ValidationError::TooLong { param, max });
    }
    if !text.chars().all(allowed) {
        return Err(ValidationError::InvalidCharacter {
            param,
            allowed: described,
        });
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $param:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Parses the wire parameter of the usual name.
            pub fn parse(text: &str) -> Result<Self, ValidationError> {
                Self::parse_as($param, text)
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The name as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

name_type!(
    /// A RAM user name: 1 to 64 letters, digits, `.`, `_` and `-` (RAM's CreateUser rule).
    UserName,
    "UserName"
);

impl UserName {
    /// Parses a user name given in parameter `param` (`UserName`, `NewUserName`, …).
    pub fn parse_as(param: &'static str, text: &str) -> Result<Self, ValidationError> {
        check_name(
            param,
            text,
            USER_NAME_MAX_LEN,
            |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'),
            "letters, digits, periods (.), underscores (_) and hyphens (-)",
        )?;
        Ok(Self(text.to_owned()))
    }
}

name_type!(
    /// A RAM role name: 1 to 64 letters, digits, `.` and `-`.
    RoleName,
    "RoleName"
);

impl RoleName {
    /// Parses a role name given in parameter `param`.
    pub fn parse_as(param: &'static str, text: &str) -> Result<Self, ValidationError> {
        check_name(
            param,
            text,
            ROLE_NAME_MAX_LEN,
            |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'),
            "letters, digits, periods (.) and hyphens (-)",
        )?;
        Ok(Self(text.to_owned()))
    }
}

name_type!(
    /// A policy name: 1 to 128 letters, digits and `-`. System policy names follow the same
    /// rule, so an attachment names either kind with this type.
    PolicyName,
    "PolicyName"
);

impl PolicyName {
    /// Parses a policy name given in parameter `param`.
    pub fn parse_as(param: &'static str, text: &str) -> Result<Self, ValidationError> {
        check_name(
            param,
            text,
            POLICY_NAME_MAX_LEN,
            |c| c.is_ascii_alphanumeric() || c == '-',
            "letters, digits and hyphens (-)",
        )?;
        Ok(Self(text.to_owned()))
    }
}

/// Whether a policy is one of RAM's system policies or the account's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyType {
    System,
    Custom,
}

impl PolicyType {
    /// The wire and stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "System",
            Self::Custom => "Custom",
        }
    }

    /// Parses the `PolicyType` parameter.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        match text {
            "System" => Ok(Self::System),
            "Custom" => Ok(Self::Custom),
            _ => Err(ValidationError::NotOneOf {
                param: "PolicyType",
                allowed: "System, Custom",
            }),
        }
    }
}

impl fmt::Display for PolicyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether an access key may sign requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessKeyStatus {
    Active,
    Inactive,
}

impl AccessKeyStatus {
    /// The wire and stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Inactive => "Inactive",
        }
    }

    /// Parses the `Status` parameter.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        match text {
            "Active" => Ok(Self::Active),
            "Inactive" => Ok(Self::Inactive),
            _ => Err(ValidationError::NotOneOf {
                param: "Status",
                allowed: "Active, Inactive",
            }),
        }
    }
}

impl fmt::Display for AccessKeyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_follow_rams_rule() {
        assert_eq!(
            UserName::parse("alice.b_c-1").unwrap().as_str(),
            "alice.b_c-1"
        );
        assert_eq!(
            UserName::parse(""),
            Err(ValidationError::Empty { param: "UserName" })
        );
        assert_eq!(
            UserName::parse_as("NewUserName", &"a".repeat(65)),
            Err(ValidationError::TooLong {
                param: "NewUserName",
                max: 64
            })
        );
        assert!(UserName::parse(&"a".repeat(64)).is_ok());
        assert!(matches!(
            UserName::parse("al ice"),
            Err(ValidationError::InvalidCharacter {
                param: "UserName",
                ..
            })
        ));
        assert!(UserName::parse("alice/x").is_err());
    }

    #[test]
    fn role_names_refuse_underscores() {
        assert!(RoleName::parse("app-role.1").is_ok());
        assert!(matches!(
            RoleName::parse("app_role"),
            Err(ValidationError::InvalidCharacter {
                param: "RoleName",
                ..
            })
        ));
        assert_eq!(
            RoleName::parse(&"r".repeat(65)),
            Err(ValidationError::TooLong {
                param: "RoleName",
                max: 64
            })
        );
        assert_eq!(
            RoleName::parse(""),
            Err(ValidationError::Empty { param: "RoleName" })
        );
    }

    #[test]
    fn policy_names_allow_letters_digits_and_hyphens() {
        assert!(PolicyName::parse("AliyunKMSFullAccess").is_ok());
        assert!(PolicyName::parse(&"p".repeat(128)).is_ok());
        assert!(matches!(
            PolicyName::parse(&"p".repeat(129)),
            Err(ValidationError::TooLong { max: 128, .. })
        ));
        assert!(matches!(
            PolicyName::parse("a.b"),
            Err(ValidationError::InvalidCharacter { .. })
        ));
    }

    #[test]
    fn closed_vocabularies_round_trip() {
        for t in [PolicyType::System, PolicyType::Custom] {
            assert_eq!(PolicyType::parse(t.as_str()), Ok(t));
        }
        for s in [AccessKeyStatus::Active, AccessKeyStatus::Inactive] {
            assert_eq!(AccessKeyStatus::parse(s.as_str()), Ok(s));
        }
        assert!(matches!(
            PolicyType::parse("custom"),
            Err(ValidationError::NotOneOf {
                param: "PolicyType",
                ..
            })
        ));
        assert!(matches!(
            AccessKeyStatus::parse("Enabled"),
            Err(ValidationError::NotOneOf {
                param: "Status",
                ..
            })
        ));
    }
}
