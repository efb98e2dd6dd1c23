//! Rules on a secret value (`SecretData`) given its type, data type and sub type (spec §4.4).
//!
//! Owns size, encoding and the managed-type formats. Must never echo the value: every error here
//! carries fixed text only, and JSON parser messages (which can quote input) are discarded.
//!
//! Accepted formats, with the decisions taken where the documentation is silent:
//!
//! - Any type: 1 to 30 720 UTF-8 bytes. `binary` data must be standard base64 with padding.
//! - Managed types (all but Generic) require `text`.
//! - Rds: `{"Accounts":[{"AccountName":..,"AccountPassword":..}, ...]}` with at least one
//!   account, or a single `{"AccountName":..,"AccountPassword":..}` object (the shape
//!   GetSecretValue returns, so a value read back can be written again).
//! - Redis, PolarDB: as Rds, or the marker `$Auto` (server generates the password).
//! - RAMCredentials: `{"AccessKeys":[{"AccessKeyId":..,"AccessKeySecret":..}, ...]}` with at
//!   least one pair, a single `{"AccessKeyId":..,"AccessKeySecret":..}` object (again the read
//!   shape), or `$Auto`.
//! - ECS: `{"UserName":..,"Password":..}` for sub type `Password`,
//!   `{"UserName":..,"PublicKey":..,"PrivateKey":..}` for `SSHKey`; either when the sub type is
//!   unknown. `$Auto` is not accepted.
//! - Required fields must be non-empty strings; other fields are allowed and kept.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::ValidationError;
use crate::names::AUTO_MARKER;
use crate::secret_type::{SecretDataType, SecretType};

/// Largest secret value, in UTF-8 bytes.
pub const SECRET_DATA_MAX_BYTES: usize = 30_720;

const PARAM: &str = "SecretData";

/// Checks a secret value against the rules of its type, data type and (ECS) sub type.
pub fn validate_secret_data(
    ty: SecretType,
    data_type: SecretDataType,
    data: &str,
    sub_type: Option<&str>,
) -> Result<(), ValidationError> {
    if data.is_empty() {
        return Err(ValidationError::Empty { param: PARAM });
    }
    if data.len() > SECRET_DATA_MAX_BYTES {
        return Err(ValidationError::TooLarge {
            param: PARAM,
            max: SECRET_DATA_MAX_BYTES,
        });
    }
    if ty.is_managed() && data_type == SecretDataType::Binary {
        return Err(ValidationError::NotAllowedFor {
            param: "SecretDataType",
            value: SecretDataType::Binary.wire_name(),
            secret_type: ty.wire_name(),
        });
    }
    if data_type == SecretDataType::Binary
        && base64::engine::general_purpose::STANDARD
            .decode(data)
            .is_err()
    {
        return Err(ValidationError::invalid(
            PARAM,
            "must be standard base64 text when SecretDataType is binary",
        ));
    }
    match ty {
        SecretType::Generic => Ok(()),
        SecretType::Rds => check_accounts(data),
        SecretType::Redis | SecretType::PolarDb => {
            if data == AUTO_MARKER {
                Ok(())
            } else {
                check_accounts(data)
            }
        }
        SecretType::RamCredentials => {
            if data == AUTO_MARKER {
                Ok(())
            } else {
                check_access_keys(data)
            }
        }
        SecretType::Ecs => check_ecs(data, sub_type),
    }
}

fn check_accounts(data: &str) -> Result<(), ValidationError> {
    const SHAPE: &str = "must be JSON {\"Accounts\":[{\"AccountName\":\"...\",\"AccountPassword\":\"...\"}]} with at least one account";
    check_list_or_single(data, "Accounts", &["AccountName", "AccountPassword"], SHAPE)
}

fn check_access_keys(data: &str) -> Result<(), ValidationError> {
    const SHAPE: &str = "must be JSON {\"AccessKeys\":[{\"AccessKeyId\":\"...\",\"AccessKeySecret\":\"...\"}]} with at least one AccessKey, or $Auto";
    check_list_or_single(
        data,
        "AccessKeys",
        &["AccessKeyId", "AccessKeySecret"],
        SHAPE,
    )
}

fn check_ecs(data: &str, sub_type: Option<&str>) -> Result<(), ValidationError> {
    const PASSWORD: &[&str] = &["UserName", "Password"];
    const SSH_KEY: &[&str] = &["UserName", "PublicKey", "PrivateKey"];
    const PASSWORD_SHAPE: &str =
        "must be JSON {\"UserName\":\"...\",\"Password\":\"...\"} for SecretSubType Password";
    const SSH_KEY_SHAPE: &str = "must be JSON {\"UserName\":\"...\",\"PublicKey\":\"...\",\"PrivateKey\":\"...\"} for SecretSubType SSHKey";
    const EITHER_SHAPE: &str =
        "must be JSON {\"UserName\",\"Password\"} or {\"UserName\",\"PublicKey\",\"PrivateKey\"}";
    let object = parse_object(data, EITHER_SHAPE)?;
    match sub_type {
        Some("Password") => require_fields(&object, PASSWORD, PASSWORD_SHAPE),
        Some("SSHKey") => require_fields(&object, SSH_KEY, SSH_KEY_SHAPE),
        _ => require_fields(&object, PASSWORD, EITHER_SHAPE)
            .or_else(|_| require_fields(&object, SSH_KEY, EITHER_SHAPE)),
    }
}

/// Accepts `{"<list>":[{fields...}, ...]}` (at least one item) or a single `{fields...}` object.
fn check_list_or_single(
    data: &str,
    list: &str,
    fields: &[&str],
    shape: &'static str,
) -> Result<(), ValidationError> {
    let object = parse_object(data, shape)?;
    match object.get(list) {
        Some(Value::Array(items)) if !items.is_empty() => items.iter().try_for_each(|item| {
            item.as_object()
                .ok_or_else(|| ValidationError::invalid(PARAM, shape))
                .and_then(|item| require_fields(item, fields, shape))
        }),
        Some(_) => Err(ValidationError::invalid(PARAM, shape)),
        None => require_fields(&object, fields, shape),
    }
}

fn parse_object(data: &str, shape: &'static str) -> Result<Map<String, Value>, ValidationError> {
    // The parser's message can quote the input, so it is dropped on purpose.
    match serde_json::from_str::<Value>(data) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(ValidationError::invalid(PARAM, shape)),
    }
}

fn require_fields(
    object: &Map<String, Value>,
    fields: &[&str],
    shape: &'static str,
) -> Result<(), ValidationError> {
    let complete = fields
        .iter()
        .all(|field| matches!(object.get(*field), Some(Value::String(s)) if !s.is_empty()));
    if complete {
        Ok(())
    } else {
        Err(ValidationError::invalid(PARAM, shape))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RDS: &str = r#"{"Accounts":[{"AccountName":"user1","AccountPassword":"hunter2"}]}"#;

    fn check(ty: SecretType, data: &str) -> Result<(), ValidationError> {
        validate_secret_data(ty, SecretDataType::Text, data, None)
    }

    #[test]
    fn generic_text_accepts_anything_non_empty() {
        assert!(check(SecretType::Generic, "p@ss w0rd").is_ok());
        assert!(check(SecretType::Generic, "$Auto").is_ok());
        assert_eq!(
            check(SecretType::Generic, ""),
            Err(ValidationError::Empty { param: PARAM })
        );
    }

    #[test]
    fn accepts_30720_bytes_and_rejects_30721() {
        assert!(check(SecretType::Generic, &"x".repeat(30_720)).is_ok());
        let err = check(SecretType::Generic, &"x".repeat(30_721)).unwrap_err();
        assert_eq!(err.to_string(), "SecretData is larger than 30720 bytes");
    }

    #[test]
    fn size_limit_counts_utf8_bytes_not_characters() {
        // 10 241 three-byte characters: 30 723 bytes but only 10 241 characters.
        let err = check(SecretType::Generic, &"\u{20ac}".repeat(10_241)).unwrap_err();
        assert!(matches!(err, ValidationError::TooLarge { .. }));
    }

    #[test]
    fn binary_must_be_standard_base64() {
        let ok = validate_secret_data(
            SecretType::Generic,
            SecretDataType::Binary,
            "aGVsbG8=",
            None,
        );
        assert!(ok.is_ok());
        for bad in ["aGVsbG8", "a-_b", "not base64!", "aGVs bG8="] {
            let err = validate_secret_data(SecretType::Generic, SecretDataType::Binary, bad, None)
                .unwrap_err();
            assert_eq!(err.param(), PARAM, "{bad}");
        }
    }

    #[test]
    fn managed_types_require_text() {
        for ty in SecretType::ALL.into_iter().filter(|t| t.is_managed()) {
            let err =
                validate_secret_data(ty, SecretDataType::Binary, "aGVsbG8=", None).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("SecretDataType binary is not allowed for SecretType {ty}")
            );
        }
    }

    #[test]
    fn rds_accepts_accounts_list_or_single_account() {
        assert!(check(SecretType::Rds, RDS).is_ok());
        assert!(check(
            SecretType::Rds,
            r#"{"AccountName":"user1","AccountPassword":"pw"}"#
        )
        .is_ok());
        assert!(check(
            SecretType::Rds,
            r#"{"Accounts":[{"AccountName":"a","AccountPassword":"1"},{"AccountName":"b","AccountPassword":"2"}]}"#
        )
        .is_ok());
    }

    #[test]
    fn rds_rejects_empty_or_incomplete_accounts_and_auto() {
        for bad in [
            r#"{"Accounts":[]}"#,
            r#"{"Accounts":{}}"#,
            r#"{"Accounts":[{"AccountName":"a"}]}"#,
            r#"{"Accounts":[{"AccountName":"","AccountPassword":"x"}]}"#,
            r#"{"Accounts":["a"]}"#,
            r#"{"AccountName":"a","AccountPassword":7}"#,
            "$Auto",
            "[]",
            "plain",
        ] {
            assert!(check(SecretType::Rds, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redis_and_polardb_accept_accounts_or_auto() {
        for ty in [SecretType::Redis, SecretType::PolarDb] {
            assert!(check(ty, RDS).is_ok());
            assert!(check(ty, "$Auto").is_ok());
            assert!(check(ty, "$auto").is_err());
            assert!(check(ty, "{}").is_err());
        }
    }

    #[test]
    fn ram_credentials_accept_access_keys_or_auto() {
        let ty = SecretType::RamCredentials;
        assert!(check(ty, "$Auto").is_ok());
        assert!(check(
            ty,
            r#"{"AccessKeys":[{"AccessKeyId":"LTAI","AccessKeySecret":"s"}]}"#
        )
        .is_ok());
        assert!(check(ty, r#"{"AccessKeyId":"LTAI","AccessKeySecret":"s"}"#).is_ok());
        assert!(check(ty, r#"{"AccessKeys":[]}"#).is_err());
        assert!(check(ty, RDS).is_err());
    }

    #[test]
    fn ecs_format_follows_sub_type() {
        let password = r#"{"UserName":"root","Password":"pw"}"#;
        let ssh = r#"{"UserName":"root","PublicKey":"ssh-ed25519 AAAA","PrivateKey":"-----BEGIN"}"#;
        let with = |data: &str, sub: Option<&str>| {
            validate_secret_data(SecretType::Ecs, SecretDataType::Text, data, sub)
        };
        assert!(with(password, Some("Password")).is_ok());
        assert!(with(ssh, Some("SSHKey")).is_ok());
        assert!(with(password, Some("SSHKey")).is_err());
        assert!(with(ssh, Some("Password")).is_err());
        let password_with_extra = r#"{"UserName":"root","Password":"pw","Port":"22"}"#;
        assert!(with(password_with_extra, Some("Password")).is_ok());
        assert!(with(r#"{"UserName":"root","PublicKey":"k"}"#, Some("SSHKey")).is_err());
        assert!(with(password, None).is_ok());
        assert!(with(ssh, None).is_ok());
        assert!(with("$Auto", None).is_err());
    }

    #[test]
    fn error_messages_never_echo_the_value() {
        let secret = "TOPSECRET-value-42";
        let inputs = [
            (SecretType::Rds, format!("{{\"Accounts\":\"{secret}\"}}")),
            (SecretType::Rds, format!("{{bad json {secret}")),
            (
                SecretType::Ecs,
                format!("{{\"UserName\":1,\"Password\":\"{secret}\"}}"),
            ),
            (SecretType::RamCredentials, secret.to_owned()),
        ];
        for (ty, data) in inputs {
            let err = check(ty, &data).unwrap_err();
            assert!(!err.to_string().contains(secret), "{err}");
            assert!(!format!("{err:?}").contains(secret), "{err:?}");
        }
        let err = validate_secret_data(
            SecretType::Generic,
            SecretDataType::Binary,
            &format!("{secret}!"),
            None,
        )
        .unwrap_err();
        assert!(!err.to_string().contains(secret));
    }

    proptest! {
        #[test]
        fn secret_data_validation_never_panics_or_leaks(data in ".{0,64}", ty_index in 0usize..6) {
            let ty = SecretType::ALL[ty_index];
            if let Err(err) = validate_secret_data(ty, SecretDataType::Text, &data, Some("SSHKey")) {
                let message = err.to_string();
                if data.len() > 8 {
                    prop_assert!(!message.contains(data.as_str()));
                }
            }
        }
    }
}
