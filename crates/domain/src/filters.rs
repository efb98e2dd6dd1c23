//! ListSecrets `Filters`: `[{"Key":"SecretName","Values":["a","b"]}, ...]`.
//!
//! Matching rule (the reference leaves it unconfirmed; chosen and documented here): values of
//! one key are OR-ed, keys are AND-ed. `SecretName` and `Description` match a substring
//! (case-sensitive); `TagKey`, `TagValue`, `DKMSInstanceId` and `SecretType` match exactly
//! (`SecretType` accepts `RDS` for `Rds`, any case). `Creator` is accepted and matches the
//! account's own secrets, which are all the secrets a server holds.

use serde_json::Value;

use crate::error::ValidationError;
use crate::secret_type::SecretType;

const PARAM: &str = "Filters";
/// Most key/values pairs in Filters.
pub const MAX_FILTERS: usize = 10;
/// Most values per key.
pub const MAX_VALUES: usize = 10;

/// Parsed ListSecrets filters; an empty list means "no condition on this field".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretFilter {
    pub name_contains: Vec<String>,
    pub description_contains: Vec<String>,
    pub tag_keys: Vec<String>,
    pub tag_values: Vec<String>,
    pub instance_ids: Vec<String>,
    pub secret_types: Vec<String>,
}

impl SecretFilter {
    /// Parses the `Filters` parameter.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let mut f = Self::default();
        for (key, mut strings) in parse_pairs(text)? {
            if strings.iter().any(|s| s.chars().count() > 256) {
                return Err(ValidationError::invalid(
                    PARAM,
                    "each value must be 1 to 256 characters",
                ));
            }
            let target = match key.as_str() {
                "SecretName" => &mut f.name_contains,
                "Description" => &mut f.description_contains,
                "TagKey" => &mut f.tag_keys,
                "TagValue" => &mut f.tag_values,
                "DKMSInstanceId" => &mut f.instance_ids,
                "SecretType" => {
                    for s in &mut strings {
                        *s = normalise_type(s)?;
                    }
                    &mut f.secret_types
                }
                "Creator" => continue,
                _ => {
                    return Err(ValidationError::NotOneOf {
                        param: PARAM,
                        allowed: "SecretName, Description, TagKey, TagValue, DKMSInstanceId, SecretType, Creator",
                    })
                }
            };
            target.extend(strings);
        }
        Ok(f)
    }
}

/// The shape every list action's `Filters` shares: a JSON array of at most 10
/// `{"Key": <string>, "Values": [1 to 10 non-empty strings]}` objects.
pub fn parse_pairs(text: &str) -> Result<Vec<(String, Vec<String>)>, ValidationError> {
    let value: Value =
        serde_json::from_str(text).map_err(|_| ValidationError::InvalidJson { param: PARAM })?;
    let items = value.as_array().ok_or_else(|| {
        ValidationError::invalid(
            PARAM,
            "it must be a JSON array of {\"Key\",\"Values\"} objects",
        )
    })?;
    if items.len() > MAX_FILTERS {
        return Err(ValidationError::TooMany {
            param: PARAM,
            max: MAX_FILTERS,
            item: "filters",
        });
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let key = item
            .get("Key")
            .and_then(Value::as_str)
            .ok_or(ValidationError::MissingField {
                param: PARAM,
                field: "Key",
            })?;
        let values =
            item.get("Values")
                .and_then(Value::as_array)
                .ok_or(ValidationError::MissingField {
                    param: PARAM,
                    field: "Values",
                })?;
        if values.is_empty() || values.len() > MAX_VALUES {
            return Err(ValidationError::invalid(
                PARAM,
                "each filter needs 1 to 10 Values",
            ));
        }
        let values = values
            .iter()
            .map(|v| {
                v.as_str()
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        ValidationError::invalid(PARAM, "Values must be non-empty strings")
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push((key.to_owned(), values));
    }
    Ok(out)
}

fn normalise_type(s: &str) -> Result<String, ValidationError> {
    SecretType::ALL
        .iter()
        .find(|t| t.wire_name().eq_ignore_ascii_case(s))
        .map(|t| t.wire_name().to_owned())
        .ok_or_else(|| ValidationError::invalid(PARAM, "unknown SecretType value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_and_normalises_secret_type() {
        let f = SecretFilter::parse(
            r#"[{"Key":"SecretName","Values":["db","app"]},{"Key":"SecretType","Values":["RDS"]},{"Key":"TagKey","Values":["env"]}]"#,
        )
        .unwrap();
        assert_eq!(f.name_contains, vec!["db", "app"]);
        assert_eq!(f.secret_types, vec!["Rds"]);
        assert_eq!(f.tag_keys, vec!["env"]);
    }

    #[test]
    fn rejects_unknown_keys_too_many_values_and_bad_json() {
        assert!(SecretFilter::parse(r#"[{"Key":"Color","Values":["x"]}]"#).is_err());
        let many: Vec<String> = (0..11).map(|i| format!("\"v{i}\"")).collect();
        assert!(SecretFilter::parse(&format!(
            r#"[{{"Key":"SecretName","Values":[{}]}}]"#,
            many.join(",")
        ))
        .is_err());
        assert!(SecretFilter::parse("not json").is_err());
        assert!(SecretFilter::parse(r#"{"Key":"SecretName"}"#).is_err());
    }
}
