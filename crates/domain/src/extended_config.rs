//! The `ExtendedConfig` of a managed secret ([`ExtendedConfig`]): its size, shape and the fields
//! each managed type requires (spec §4.4), plus the `CustomData` merge of UpdateSecret.
//!
//! Decisions taken where the documentation is silent or loose:
//!
//! - At most 1 024 characters (Unicode scalar values) of JSON text, which must be an object.
//! - Generic secrets: the config is checked for size and for being a JSON object (bad input is
//!   still an InvalidParameter, so a caller learns of the mistake), then discarded: `Ok(None)`.
//!   Empty text counts as absent.
//! - Managed types require a `SecretSubType` from the type's list and these non-empty strings:
//!
//!   | type           | SecretSubType            | required fields          |
//!   |----------------|--------------------------|--------------------------|
//!   | Rds            | SingleUser, DoubleUsers  | DBInstanceId             |
//!   | Redis          | DoubleUsers              | InstanceId               |
//!   | PolarDB        | DoubleUsers              | DBClusterId              |
//!   | RAMCredentials | RamUserAccessKey         | UserName (a RAM user name) |
//!   | ECS            | Password, SSHKey         | RegionId, InstanceId     |
//!
//!   Redis `AccountName`, PolarDB `DBType`/`AccountName`, `RegionId` of Redis/PolarDB and the
//!   other fields of §4.4 are optional (a value in SecretData can name the account); when present
//!   they must be strings, and PolarDB `DBType` must be `MySQL` or `PostgreSQL`. Unknown fields
//!   are kept as given.
//! - `CustomData` is optional: an object of at most 10 pairs with non-empty keys and string values.
//!   A merge must keep both the 10-pair limit and the 1 024-character limit of the whole config.

use serde_json::{Map, Value};

use crate::error::ValidationError;
use crate::names::check_ram_user_name;
use crate::secret_type::SecretType;

/// Longest ExtendedConfig text, in characters.
pub const EXTENDED_CONFIG_MAX_LEN: usize = 1_024;
/// Most key/value pairs in `CustomData`.
pub const MAX_CUSTOM_DATA_PAIRS: usize = 10;

const PARAM: &str = "ExtendedConfig";
const SUB_TYPE: &str = "SecretSubType";
const CUSTOM_DATA: &str = "CustomData";

/// Fields that, when present, must be strings whatever the type.
const STRING_FIELDS: &[&str] = &[
    SUB_TYPE,
    "DBInstanceId",
    "InstanceId",
    "DBClusterId",
    "UserName",
    "RegionId",
    "AccountName",
    "CloneAccountName",
    "AccountPrivilege",
    "AccountType",
    "DBType",
    "DBName",
];

/// Validated extended configuration of a managed secret, kept as a JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendedConfig {
    fields: Map<String, Value>,
}

impl ExtendedConfig {
    /// Parses the ExtendedConfig text of a secret of type `ty`; `Ok(None)` for Generic secrets.
    pub fn parse_for(ty: SecretType, text: &str) -> Result<Option<Self>, ValidationError> {
        if text.chars().count() > EXTENDED_CONFIG_MAX_LEN {
            return Err(ValidationError::TooLong {
                param: PARAM,
                max: EXTENDED_CONFIG_MAX_LEN,
            });
        }
        if text.trim().is_empty() {
            return if ty.is_managed() {
                Err(missing_for(ty))
            } else {
                Ok(None)
            };
        }
        let fields = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(fields)) => fields,
            Ok(_) => return Err(ValidationError::invalid(PARAM, "must be a JSON object")),
            Err(_) => return Err(ValidationError::InvalidJson { param: PARAM }),
        };
        let Some(rules) = TypeRules::for_type(ty) else {
            return Ok(None);
        };
        check_fields(&fields, &rules)?;
        Ok(Some(Self { fields }))
    }

    /// Resolves an optional ExtendedConfig parameter: required for managed types, ignored for Generic.
    pub fn from_param(ty: SecretType, text: Option<&str>) -> Result<Option<Self>, ValidationError> {
        match text {
            Some(text) => Self::parse_for(ty, text),
            None if ty.is_managed() => Err(missing_for(ty)),
            None => Ok(None),
        }
    }

    /// The config as compact JSON text, as stored and as returned to callers.
    pub fn to_json_string(&self) -> String {
        // Serialising a map with string keys cannot fail.
        serde_json::to_string(&self.fields).unwrap_or_default()
    }

    /// The `SecretSubType` field.
    pub fn sub_type(&self) -> Option<&str> {
        self.get_str(SUB_TYPE)
    }

    /// Any field of the config.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.fields.get(field)
    }

    /// A field of the config when it is a string.
    pub fn get_str(&self, field: &str) -> Option<&str> {
        self.fields.get(field).and_then(Value::as_str)
    }

    /// The `CustomData` object, if any.
    pub fn custom_data(&self) -> Option<&Map<String, Value>> {
        self.fields.get(CUSTOM_DATA).and_then(Value::as_object)
    }

    /// Adds or overwrites `CustomData` pairs (UpdateSecret); leaves the config unchanged on error.
    pub fn merge_custom_data<I>(&mut self, pairs: I) -> Result<(), ValidationError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut custom = self.custom_data().cloned().unwrap_or_default();
        for (key, value) in pairs {
            if key.is_empty() {
                return Err(ValidationError::invalid(
                    PARAM,
                    "CustomData keys must not be empty",
                ));
            }
            custom.insert(key, Value::String(value));
        }
        if custom.len() > MAX_CUSTOM_DATA_PAIRS {
            return Err(too_many_custom_pairs());
        }
        let mut merged = self.fields.clone();
        merged.insert(CUSTOM_DATA.to_owned(), Value::Object(custom));
        let candidate = Self { fields: merged };
        if candidate.to_json_string().chars().count() > EXTENDED_CONFIG_MAX_LEN {
            return Err(ValidationError::TooLong {
                param: PARAM,
                max: EXTENDED_CONFIG_MAX_LEN,
            });
        }
        *self = candidate;
        Ok(())
    }
}

/// The error for a managed secret created without ExtendedConfig.
pub fn missing_for(ty: SecretType) -> ValidationError {
    ValidationError::RequiredFor {
        param: PARAM,
        secret_type: ty.wire_name(),
    }
}

/// What one managed type requires.
struct TypeRules {
    sub_types: &'static [&'static str],
    sub_types_text: &'static str,
    required: &'static [&'static str],
}

impl TypeRules {
    fn for_type(ty: SecretType) -> Option<Self> {
        let rules = match ty {
            SecretType::Generic => return None,
            SecretType::Rds => Self {
                sub_types: &["SingleUser", "DoubleUsers"],
                sub_types_text: "SingleUser or DoubleUsers",
                required: &["DBInstanceId"],
            },
            SecretType::Redis => Self {
                sub_types: &["DoubleUsers"],
                sub_types_text: "DoubleUsers",
                required: &["InstanceId"],
            },
            SecretType::PolarDb => Self {
                sub_types: &["DoubleUsers"],
                sub_types_text: "DoubleUsers",
                required: &["DBClusterId"],
            },
            SecretType::RamCredentials => Self {
                sub_types: &["RamUserAccessKey"],
                sub_types_text: "RamUserAccessKey",
                required: &["UserName"],
            },
            SecretType::Ecs => Self {
                sub_types: &["Password", "SSHKey"],
                sub_types_text: "Password or SSHKey",
                required: &["RegionId", "InstanceId"],
            },
        };
        Some(rules)
    }
}

fn check_fields(fields: &Map<String, Value>, rules: &TypeRules) -> Result<(), ValidationError> {
    for field in STRING_FIELDS {
        if fields.get(*field).is_some_and(|v| !v.is_string()) {
            return Err(ValidationError::invalid(
                PARAM,
                format!("{field} must be a string"),
            ));
        }
    }
    let sub_type = non_empty_str(fields, SUB_TYPE).ok_or(ValidationError::MissingField {
        param: PARAM,
        field: SUB_TYPE,
    })?;
    if !rules.sub_types.contains(&sub_type) {
        return Err(ValidationError::invalid(
            PARAM,
            format!("SecretSubType must be {}", rules.sub_types_text),
        ));
    }
    for field in rules.required {
        if non_empty_str(fields, field).is_none() {
            return Err(ValidationError::MissingField {
                param: PARAM,
                field,
            });
        }
    }
    if let Some(user_name) = non_empty_str(fields, "UserName") {
        if rules.required.contains(&"UserName") {
            check_ram_user_name(PARAM, user_name)?;
        }
    }
    if let Some(db_type) = fields.get("DBType").and_then(Value::as_str) {
        if !matches!(db_type, "MySQL" | "PostgreSQL") {
            return Err(ValidationError::invalid(
                PARAM,
                "DBType must be MySQL or PostgreSQL",
            ));
        }
    }
    if let Some(custom) = fields.get(CUSTOM_DATA) {
        check_custom_data(custom)?;
    }
    Ok(())
}

fn check_custom_data(custom: &Value) -> Result<(), ValidationError> {
    let object = custom.as_object().ok_or_else(|| {
        ValidationError::invalid(PARAM, "CustomData must be a JSON object of string values")
    })?;
    if object.len() > MAX_CUSTOM_DATA_PAIRS {
        return Err(too_many_custom_pairs());
    }
    for (key, value) in object {
        if key.is_empty() {
            return Err(ValidationError::invalid(
                PARAM,
                "CustomData keys must not be empty",
            ));
        }
        if !value.is_string() {
            return Err(ValidationError::invalid(
                PARAM,
                "CustomData must be a JSON object of string values",
            ));
        }
    }
    Ok(())
}

fn too_many_custom_pairs() -> ValidationError {
    ValidationError::TooMany {
        param: PARAM,
        max: MAX_CUSTOM_DATA_PAIRS,
        item: "CustomData pairs",
    }
}

fn non_empty_str<'a>(fields: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    fields
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RDS: &str = r#"{"SecretSubType":"SingleUser", "DBInstanceId":"rm-bp1b3dd3a506e****" ,"CustomData":{"Key1": "v1", "fds":"fdsf"}}"#;

    fn parse(ty: SecretType, text: &str) -> Result<Option<ExtendedConfig>, ValidationError> {
        ExtendedConfig::parse_for(ty, text)
    }

    /// Found by the `extended_config` fuzz target: without serde_json's `float_roundtrip`, a
    /// long decimal was parsed 1 ulp off, so the stored text read back as another number.
    #[test]
    fn numbers_survive_the_stored_text() {
        let text = format!(
            r#"{{"SecretSubType":"DoubleUsers","InstanceId":"r-0","n":6{}7{}}}"#,
            "0".repeat(50),
            "0".repeat(30)
        );
        let config = parse(SecretType::Redis, &text).unwrap().unwrap();
        let again = parse(SecretType::Redis, &config.to_json_string())
            .unwrap()
            .unwrap();
        assert_eq!(again, config);
        assert_eq!(again.to_json_string(), config.to_json_string());
    }

    #[test]
    fn parses_documented_rds_example() {
        let config = parse(SecretType::Rds, RDS).unwrap().unwrap();
        assert_eq!(config.sub_type(), Some("SingleUser"));
        assert_eq!(config.get_str("DBInstanceId"), Some("rm-bp1b3dd3a506e****"));
        assert_eq!(config.custom_data().map(Map::len), Some(2));
        let again = parse(SecretType::Rds, &config.to_json_string())
            .unwrap()
            .unwrap();
        assert_eq!(again, config);
    }

    #[test]
    fn generic_config_is_checked_then_ignored() {
        assert_eq!(parse(SecretType::Generic, r#"{"anything":1}"#), Ok(None));
        assert_eq!(parse(SecretType::Generic, ""), Ok(None));
        assert_eq!(
            parse(SecretType::Generic, "{not json"),
            Err(ValidationError::InvalidJson { param: PARAM })
        );
        assert!(parse(SecretType::Generic, "[1]").is_err());
        assert_eq!(
            ExtendedConfig::from_param(SecretType::Generic, None),
            Ok(None)
        );
    }

    #[test]
    fn managed_types_require_extended_config() {
        for ty in SecretType::ALL.into_iter().filter(|t| t.is_managed()) {
            let err = ExtendedConfig::from_param(ty, None).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("ExtendedConfig is required for SecretType {ty}")
            );
            assert_eq!(parse(ty, " ").unwrap_err(), missing_for(ty));
        }
    }

    #[test]
    fn rejects_config_longer_than_1024_characters() {
        let padding = "x".repeat(1_000);
        let text =
            format!(r#"{{"SecretSubType":"SingleUser","DBInstanceId":"rm-1","Note":"{padding}"}}"#);
        assert!(text.chars().count() > 1_024);
        assert_eq!(
            parse(SecretType::Rds, &text).unwrap_err().to_string(),
            "ExtendedConfig is longer than 1024 characters"
        );
    }

    #[test]
    fn each_managed_type_accepts_its_minimal_config() {
        let cases = [
            (
                SecretType::Rds,
                r#"{"SecretSubType":"DoubleUsers","DBInstanceId":"rm-1"}"#,
            ),
            (
                SecretType::Redis,
                r#"{"SecretSubType":"DoubleUsers","InstanceId":"r-1","AccountName":"app"}"#,
            ),
            (
                SecretType::PolarDb,
                r#"{"SecretSubType":"DoubleUsers","DBClusterId":"pc-1","DBType":"MySQL"}"#,
            ),
            (
                SecretType::RamCredentials,
                r#"{"SecretSubType":"RamUserAccessKey","UserName":"alice"}"#,
            ),
            (
                SecretType::Ecs,
                r#"{"SecretSubType":"SSHKey","RegionId":"cn-hangzhou","InstanceId":"i-1"}"#,
            ),
        ];
        for (ty, text) in cases {
            assert!(parse(ty, text).unwrap().is_some(), "{ty}");
        }
    }

    #[test]
    fn rejects_wrong_sub_type_for_the_type() {
        let err = parse(
            SecretType::Redis,
            r#"{"SecretSubType":"SingleUser","InstanceId":"r-1"}"#,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "ExtendedConfig is invalid: SecretSubType must be DoubleUsers"
        );
        let err = parse(SecretType::Rds, r#"{"DBInstanceId":"rm-1"}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ExtendedConfig must contain the field SecretSubType"
        );
    }

    #[test]
    fn rejects_missing_required_fields() {
        let cases = [
            (
                SecretType::Rds,
                r#"{"SecretSubType":"SingleUser"}"#,
                "DBInstanceId",
            ),
            (
                SecretType::Redis,
                r#"{"SecretSubType":"DoubleUsers"}"#,
                "InstanceId",
            ),
            (
                SecretType::PolarDb,
                r#"{"SecretSubType":"DoubleUsers"}"#,
                "DBClusterId",
            ),
            (
                SecretType::RamCredentials,
                r#"{"SecretSubType":"RamUserAccessKey","UserName":""}"#,
                "UserName",
            ),
            (
                SecretType::Ecs,
                r#"{"SecretSubType":"Password","InstanceId":"i-1"}"#,
                "RegionId",
            ),
        ];
        for (ty, text, field) in cases {
            assert_eq!(
                parse(ty, text),
                Err(ValidationError::MissingField {
                    param: PARAM,
                    field
                }),
                "{ty}"
            );
        }
    }

    #[test]
    fn rejects_bad_field_values() {
        for (ty, text) in [
            (
                SecretType::Rds,
                r#"{"SecretSubType":"SingleUser","DBInstanceId":7}"#,
            ),
            (
                SecretType::PolarDb,
                r#"{"SecretSubType":"DoubleUsers","DBClusterId":"pc","DBType":"Oracle"}"#,
            ),
            (
                SecretType::RamCredentials,
                r#"{"SecretSubType":"RamUserAccessKey","UserName":"a b"}"#,
            ),
        ] {
            assert!(parse(ty, text).is_err(), "{text}");
        }
    }

    #[test]
    fn custom_data_must_be_at_most_10_string_pairs() {
        let pairs: Vec<String> = (0..11).map(|i| format!(r#""k{i}":"v""#)).collect();
        let eleven = format!(
            r#"{{"SecretSubType":"SingleUser","DBInstanceId":"rm-1","CustomData":{{{}}}}}"#,
            pairs.join(",")
        );
        assert_eq!(
            parse(SecretType::Rds, &eleven).unwrap_err().to_string(),
            "ExtendedConfig has more than 10 CustomData pairs"
        );
        let ten = eleven.replace(r#","k10":"v""#, "");
        assert!(parse(SecretType::Rds, &ten).is_ok());
        for bad in [
            r#""CustomData":[]"#,
            r#""CustomData":{"k":1}"#,
            r#""CustomData":{"":"v"}"#,
        ] {
            let text = format!(r#"{{"SecretSubType":"SingleUser","DBInstanceId":"rm-1",{bad}}}"#);
            assert!(parse(SecretType::Rds, &text).is_err(), "{bad}");
        }
    }

    #[test]
    fn merge_custom_data_adds_and_overwrites_pairs() {
        let mut config = parse(SecretType::Rds, RDS).unwrap().unwrap();
        config
            .merge_custom_data([
                ("Key1".to_owned(), "new".to_owned()),
                ("k2".to_owned(), "v".to_owned()),
            ])
            .unwrap();
        let custom = config.custom_data().unwrap();
        assert_eq!(custom.len(), 3);
        assert_eq!(custom.get("Key1"), Some(&Value::String("new".to_owned())));
        assert_eq!(config.get_str("DBInstanceId"), Some("rm-bp1b3dd3a506e****"));
    }

    #[test]
    fn merge_custom_data_rejects_more_than_10_pairs_and_keeps_config() {
        let mut config = parse(SecretType::Rds, RDS).unwrap().unwrap();
        let before = config.clone();
        let pairs = (0..9).map(|i| (format!("n{i}"), "v".to_owned()));
        let err = config.merge_custom_data(pairs).unwrap_err();
        assert!(matches!(err, ValidationError::TooMany { max: 10, .. }));
        assert_eq!(config, before);
    }

    #[test]
    fn merge_custom_data_keeps_the_1024_character_limit() {
        let mut config = parse(SecretType::Rds, RDS).unwrap().unwrap();
        let err = config
            .merge_custom_data([("big".to_owned(), "x".repeat(1_000))])
            .unwrap_err();
        assert!(matches!(err, ValidationError::TooLong { .. }));
    }

    #[test]
    fn merge_custom_data_creates_custom_data_when_absent() {
        let mut config = parse(
            SecretType::Ecs,
            r#"{"SecretSubType":"Password","RegionId":"cn-hangzhou","InstanceId":"i-1"}"#,
        )
        .unwrap()
        .unwrap();
        config
            .merge_custom_data([("a".to_owned(), "b".to_owned())])
            .unwrap();
        assert_eq!(config.custom_data().map(Map::len), Some(1));
    }

    proptest! {
        #[test]
        fn extended_config_parse_never_panics(text in ".{0,200}", ty_index in 0usize..6) {
            let _ = ExtendedConfig::parse_for(SecretType::ALL[ty_index], &text);
        }
    }
}
