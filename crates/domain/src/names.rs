//! Validated identifiers of secrets: [`SecretName`], [`VersionId`], [`VersionStage`], and the
//! per-type naming rules of CreateSecret ([`check_name_for_type`]).
//!
//! `parse` is the only way to build these values, so holding one proves it passed the rules.
//! Decisions taken where the API documentation is silent:
//!
//! - Length limits count characters. Secret names and stage labels are ASCII, so characters and
//!   bytes agree; a version id may hold any non-whitespace, non-control Unicode character, so its
//!   64 characters may take up to 256 bytes.
//! - The `acs/` prefix checks are case-sensitive (`ACS/x` is an ordinary name).
//! - A RAMCredentials secret is named `acs/ram/user/<UserName>`. The caller normally sends the
//!   marker [`AUTO_MARKER`] (`$Auto`) and the service builds the name with
//!   [`ram_credentials_secret_name`]; a name given explicitly must already have that exact shape
//!   and is then checked against the ExtendedConfig's UserName with
//!   [`check_ram_credentials_name`]. `UserName` follows RAM's own rule: 1 to 64 letters, digits,
//!   `.`, `_`, `-`.
//! - An ECS secret name must start with `acs/ecs/` and have at least one character after it.
//! - Custom stage labels use the secret-name character set and at most 64 characters (the API
//!   documents no limit; this keeps labels printable, free of separators, and storable).

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::identities::UserName;
use crate::secret_type::SecretType;

/// The wire marker asking the server to generate a value (`SecretName`, or managed `SecretData`).
pub const AUTO_MARKER: &str = "$Auto";

/// Longest secret name, in characters.
pub const SECRET_NAME_MAX_LEN: usize = 192;
/// Longest version id, in characters.
pub const VERSION_ID_MAX_LEN: usize = 64;
/// Longest stage label, in characters.
pub const VERSION_STAGE_MAX_LEN: usize = 64;
/// Longest RAM user name, in characters.
pub const RAM_USER_NAME_MAX_LEN: usize = crate::identities::USER_NAME_MAX_LEN;

/// Prefix no unmanaged-style secret (Generic, Rds, Redis, PolarDB) may use.
const RESERVED_PREFIX: &str = "acs/";
/// Required prefix of ECS secret names.
const ECS_PREFIX: &str = "acs/ecs/";
/// Required prefix of RAMCredentials secret names.
const RAM_PREFIX: &str = "acs/ram/user/";

const NAME_CHARSET: &str = "letters, digits and _ / + = . - @";

/// The name of a secret: 1 to 192 ASCII letters, digits, `_ / + = . - @`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SecretName(String);

impl SecretName {
    /// Parses a secret name, checking its length and character set.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        check_name_charset("SecretName", text, SECRET_NAME_MAX_LEN)?;
        Ok(Self(text.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for SecretName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SecretName {
    type Error = ValidationError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        check_name_charset("SecretName", &text, SECRET_NAME_MAX_LEN)?;
        Ok(Self(text))
    }
}

impl From<SecretName> for String {
    fn from(name: SecretName) -> Self {
        name.0
    }
}

/// Checks the per-type prefix rules of CreateSecret on an explicitly given name.
///
/// Generic, Rds, Redis and PolarDB names must not start with `acs/`; ECS names must start with
/// `acs/ecs/`; RAMCredentials names must be `acs/ram/user/<UserName>` with a valid RAM user name.
pub fn check_name_for_type(name: &SecretName, ty: SecretType) -> Result<(), ValidationError> {
    let text = name.as_str();
    match ty {
        SecretType::Generic | SecretType::Rds | SecretType::Redis | SecretType::PolarDb => {
            if text.starts_with(RESERVED_PREFIX) {
                return Err(ValidationError::ReservedPrefix {
                    param: "SecretName",
                    prefix: RESERVED_PREFIX,
                });
            }
            Ok(())
        }
        SecretType::Ecs => match text.strip_prefix(ECS_PREFIX) {
            Some(rest) if !rest.is_empty() => Ok(()),
            _ => Err(ValidationError::RequiredPrefix {
                param: "SecretName",
                prefix: ECS_PREFIX,
                secret_type: ty.wire_name(),
            }),
        },
        SecretType::RamCredentials => {
            let user = text
                .strip_prefix(RAM_PREFIX)
                .ok_or(ValidationError::RequiredPrefix {
                    param: "SecretName",
                    prefix: RAM_PREFIX,
                    secret_type: ty.wire_name(),
                })?;
            check_ram_user_name("SecretName", user)
        }
    }
}

/// The generated name of a RAMCredentials secret: `acs/ram/user/<UserName>`.
///
/// `user_name` comes from the ExtendedConfig's `UserName` and must be a valid RAM user name.
pub fn ram_credentials_secret_name(user_name: &str) -> Result<SecretName, ValidationError> {
    check_ram_user_name("ExtendedConfig", user_name)?;
    SecretName::parse(&format!("{RAM_PREFIX}{user_name}"))
}

/// Checks that an explicitly given RAMCredentials name is the one generated for `user_name`.
pub fn check_ram_credentials_name(
    name: &SecretName,
    user_name: &str,
) -> Result<(), ValidationError> {
    let expected = ram_credentials_secret_name(user_name)?;
    if &expected == name {
        Ok(())
    } else {
        Err(ValidationError::invalid(
            "SecretName",
            "must be $Auto or acs/ram/user/ followed by the UserName of ExtendedConfig",
        ))
    }
}

/// Checks a RAM user name inside a secret's name or ExtendedConfig: [`UserName`]'s rule, with
/// messages that say the user name is what is wrong, since `param` names the larger value.
pub fn check_ram_user_name(param: &'static str, user_name: &str) -> Result<(), ValidationError> {
    UserName::parse_as(param, user_name)
        .map(|_| ())
        .map_err(|e| {
            let reason = match e {
                ValidationError::Empty { .. } => "UserName must not be empty",
                ValidationError::TooLong { .. } => "UserName is longer than 64 characters",
                _ => "UserName may contain only letters, digits and . _ -",
            };
            ValidationError::invalid(param, reason)
        })
}

/// The id of one version of a secret: 1 to 64 characters, no whitespace or control characters.
///
/// The API only documents the 64-character limit. Whitespace and control characters are refused
/// because they cannot round-trip safely through query strings, logs and list outputs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VersionId(String);

impl VersionId {
    /// Parses a version id.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        check_version_id(text)?;
        Ok(Self(text.to_owned()))
    }

    /// The version id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for VersionId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for VersionId {
    type Error = ValidationError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        check_version_id(&text)?;
        Ok(Self(text))
    }
}

impl From<VersionId> for String {
    fn from(id: VersionId) -> Self {
        id.0
    }
}

/// A stage label attached to a version: 1 to 64 characters from the secret-name character set.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VersionStage(Cow<'static, str>);

impl VersionStage {
    /// The label of the version returned by default (`ACSCurrent`).
    pub const CURRENT: VersionStage = VersionStage(Cow::Borrowed("ACSCurrent"));
    /// The label of the version that was current before the last change (`ACSPrevious`).
    pub const PREVIOUS: VersionStage = VersionStage(Cow::Borrowed("ACSPrevious"));
    /// The label of a version being rotated in (`ACSPending`).
    pub const PENDING: VersionStage = VersionStage(Cow::Borrowed("ACSPending"));

    /// Parses a stage label.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        check_name_charset("VersionStage", text, VERSION_STAGE_MAX_LEN)?;
        Ok(Self(Cow::Owned(text.to_owned())))
    }

    /// The label as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for the labels the service manages itself (current, previous, pending).
    pub fn is_reserved(&self) -> bool {
        *self == Self::CURRENT || *self == Self::PREVIOUS || *self == Self::PENDING
    }
}

impl fmt::Display for VersionStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for VersionStage {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for VersionStage {
    type Error = ValidationError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        check_name_charset("VersionStage", &text, VERSION_STAGE_MAX_LEN)?;
        Ok(Self(Cow::Owned(text)))
    }
}

impl From<VersionStage> for String {
    fn from(stage: VersionStage) -> Self {
        stage.0.into_owned()
    }
}

/// True for a character allowed in secret names and stage labels.
pub(crate) fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '+' | '=' | '.' | '-' | '@')
}

fn check_name_charset(param: &'static str, text: &str, max: usize) -> Result<(), ValidationError> {
    if text.is_empty() {
        return Err(ValidationError::Empty { param });
    }
    if !text.chars().all(is_name_char) {
        return Err(ValidationError::InvalidCharacter {
            param,
            allowed: NAME_CHARSET,
        });
    }
    // All accepted characters are ASCII, so the byte length is the character count.
    if text.len() > max {
        return Err(ValidationError::TooLong { param, max });
    }
    Ok(())
}

fn check_version_id(text: &str) -> Result<(), ValidationError> {
    const PARAM: &str = "VersionId";
    if text.is_empty() {
        return Err(ValidationError::Empty { param: PARAM });
    }
    if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ValidationError::InvalidCharacter {
            param: PARAM,
            allowed: "characters other than whitespace and control characters",
        });
    }
    if text.chars().count() > VERSION_ID_MAX_LEN {
        return Err(ValidationError::TooLong {
            param: PARAM,
            max: VERSION_ID_MAX_LEN,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn name(text: &str) -> SecretName {
        SecretName::parse(text).unwrap()
    }

    #[test]
    fn accepts_name_of_exactly_192_characters() {
        assert!(SecretName::parse(&"a".repeat(192)).is_ok());
    }

    #[test]
    fn rejects_name_longer_than_192_characters() {
        let err = SecretName::parse(&"a".repeat(193)).unwrap_err();
        assert_eq!(err.to_string(), "SecretName is longer than 192 characters");
    }

    #[test]
    fn rejects_empty_name() {
        assert_eq!(
            SecretName::parse(""),
            Err(ValidationError::Empty {
                param: "SecretName"
            })
        );
    }

    #[test]
    fn accepts_every_documented_special_character() {
        let n = name("db/prod_1+a=b.c-d@e");
        assert_eq!(n.as_str(), "db/prod_1+a=b.c-d@e");
    }

    #[test]
    fn rejects_spaces_colons_dollar_and_non_ascii_in_names() {
        for bad in ["a b", "a:b", "$Auto", "caf\u{e9}", "a\nb", "a*b", "a\\b"] {
            let err = SecretName::parse(bad).unwrap_err();
            assert!(
                matches!(err, ValidationError::InvalidCharacter { .. }),
                "{bad}"
            );
        }
    }

    #[test]
    fn unmanaged_style_types_reject_acs_prefix() {
        for ty in [
            SecretType::Generic,
            SecretType::Rds,
            SecretType::Redis,
            SecretType::PolarDb,
        ] {
            let err = check_name_for_type(&name("acs/mine"), ty).unwrap_err();
            assert_eq!(err.to_string(), "SecretName must not start with acs/");
            assert!(check_name_for_type(&name("mine/acs/x"), ty).is_ok());
            assert!(check_name_for_type(&name("acs"), ty).is_ok());
        }
    }

    #[test]
    fn ecs_names_must_start_with_acs_ecs() {
        assert!(check_name_for_type(&name("acs/ecs/i-123/root"), SecretType::Ecs).is_ok());
        for bad in ["acs/ecs/", "ecs/x", "acs/ram/user/x", "plain"] {
            let err = check_name_for_type(&name(bad), SecretType::Ecs).unwrap_err();
            assert_eq!(
                err.to_string(),
                "SecretName must start with acs/ecs/ for SecretType ECS",
                "{bad}"
            );
        }
    }

    #[test]
    fn ram_credentials_names_must_be_acs_ram_user_and_a_user_name() {
        let ty = SecretType::RamCredentials;
        assert!(check_name_for_type(&name("acs/ram/user/alice.dev"), ty).is_ok());
        assert!(check_name_for_type(&name("alice"), ty).is_err());
        assert!(check_name_for_type(&name("acs/ram/user/"), ty).is_err());
        assert!(check_name_for_type(&name("acs/ram/user/a/b"), ty).is_err());
        assert!(check_name_for_type(&name("acs/ram/user/a@b"), ty).is_err());
    }

    #[test]
    fn ram_credentials_secret_name_is_acs_ram_user_prefixed() {
        let generated = ram_credentials_secret_name("alice").unwrap();
        assert_eq!(generated.as_str(), "acs/ram/user/alice");
        assert!(check_name_for_type(&generated, SecretType::RamCredentials).is_ok());
    }

    #[test]
    fn ram_credentials_secret_name_rejects_bad_user_names() {
        assert!(ram_credentials_secret_name("").is_err());
        assert!(ram_credentials_secret_name("a b").is_err());
        assert!(ram_credentials_secret_name(&"u".repeat(65)).is_err());
        assert!(ram_credentials_secret_name(&"u".repeat(64)).is_ok());
    }

    #[test]
    fn explicit_ram_credentials_name_must_match_user_name() {
        let n = name("acs/ram/user/alice");
        assert!(check_ram_credentials_name(&n, "alice").is_ok());
        let err = check_ram_credentials_name(&n, "bob").unwrap_err();
        assert_eq!(err.param(), "SecretName");
    }

    #[test]
    fn version_id_accepts_64_characters_and_rejects_65() {
        assert!(VersionId::parse(&"v".repeat(64)).is_ok());
        assert!(VersionId::parse(&"\u{e9}".repeat(64)).is_ok());
        assert_eq!(
            VersionId::parse(&"v".repeat(65)).unwrap_err().to_string(),
            "VersionId is longer than 64 characters"
        );
    }

    #[test]
    fn version_id_rejects_empty_whitespace_and_control_characters() {
        for bad in ["", "v 1", "v\t1", "v\u{0}1", "v\u{7f}", "\u{a0}"] {
            let err = VersionId::parse(bad).unwrap_err();
            assert_eq!(err.param(), "VersionId", "{bad:?}");
        }
        assert_eq!(VersionId::parse("v1:x$").unwrap().as_str(), "v1:x$");
    }

    #[test]
    fn version_stage_consts_are_reserved_and_parse() {
        for stage in [
            VersionStage::CURRENT,
            VersionStage::PREVIOUS,
            VersionStage::PENDING,
        ] {
            assert!(stage.is_reserved());
            assert_eq!(VersionStage::parse(stage.as_str()).unwrap(), stage);
        }
        assert_eq!(VersionStage::CURRENT.as_str(), "ACSCurrent");
        assert!(!VersionStage::parse("custom").unwrap().is_reserved());
    }

    #[test]
    fn version_stage_rejects_long_or_odd_labels() {
        assert!(VersionStage::parse(&"s".repeat(64)).is_ok());
        assert!(VersionStage::parse(&"s".repeat(65)).is_err());
        assert!(VersionStage::parse("a b").is_err());
        assert!(VersionStage::parse("").is_err());
    }

    #[test]
    fn newtypes_deserialize_only_valid_values() {
        let n: SecretName = serde_json::from_str("\"db/x\"").unwrap();
        assert_eq!(n.as_str(), "db/x");
        assert!(serde_json::from_str::<SecretName>("\"a b\"").is_err());
        assert_eq!(
            serde_json::to_string(&VersionStage::CURRENT).unwrap(),
            "\"ACSCurrent\""
        );
        assert!(serde_json::from_str::<VersionId>("\"\"").is_err());
    }

    proptest! {
        #[test]
        fn secret_name_accepted_exactly_when_charset_and_length_hold(
            text in "[a-zA-Z0-9_/+=.@ :$\u{e9}*-]{0,200}"
        ) {
            let expected = !text.is_empty()
                && text.chars().count() <= 192
                && text.chars().all(|c| c.is_ascii_alphanumeric() || "_/+=.-@".contains(c));
            prop_assert_eq!(SecretName::parse(&text).is_ok(), expected);
        }

        #[test]
        fn secret_name_in_charset_accepted_exactly_up_to_192_characters(
            text in "[a-zA-Z0-9_/+=.@-]{0,230}"
        ) {
            let expected = !text.is_empty() && text.len() <= 192;
            prop_assert_eq!(SecretName::parse(&text).is_ok(), expected);
        }

        #[test]
        fn secret_name_parse_never_panics(text in ".*") {
            let _ = SecretName::parse(&text);
            let _ = VersionId::parse(&text);
            let _ = VersionStage::parse(&text);
        }
    }
}
