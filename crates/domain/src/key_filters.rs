//! ListKeys `Filters`: `[{"Key":"KeyState","Values":["Enabled","PendingDeletion"]}, ...]`
//! (kms-api.md §3.3). Values of one key are OR-ed, keys are AND-ed; every key matches exactly
//! (the reference leaves matching unconfirmed; chosen and documented here).

use crate::error::ValidationError;

/// The filter keys ListKeys accepts.
const KEYS: &str = "KeyState, KeySpec, KeyUsage, ProtectionLevel, CreatorType, DKMSInstanceId, KeyId, AliasName, Creator, TagKey, TagValue";

/// What a filter can look at for one key.
#[derive(Debug, Clone, Copy)]
pub struct KeyFacts<'a> {
    pub key_state: &'a str,
    pub key_spec: &'a str,
    pub key_usage: &'a str,
    pub protection_level: &'a str,
    /// `User` or `Service`.
    pub creator_type: &'a str,
    pub instance_id: &'a str,
    pub key_id: &'a str,
    pub creator: &'a str,
    pub aliases: &'a [String],
    pub tags: &'a [(String, String)],
}

/// Parsed ListKeys filters: (filter key, accepted values), all of which must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFilter(Vec<(String, Vec<String>)>);

impl KeyFilter {
    /// Parses the `Filters` parameter (shape shared with ListSecrets: `filters::parse_pairs`).
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let pairs = crate::filters::parse_pairs(text)?;
        for (key, _) in &pairs {
            if !KEYS.split(", ").any(|k| k == key) {
                return Err(ValidationError::NotOneOf {
                    param: "Filters Key",
                    allowed: KEYS,
                });
            }
        }
        Ok(Self(pairs))
    }

    /// Whether any filter needs the key's aliases or tags (fetched only then).
    pub fn needs(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// Whether a key passes every filter.
    pub fn matches(&self, f: &KeyFacts<'_>) -> bool {
        self.0.iter().all(|(key, values)| {
            let any = |field: &str| values.iter().any(|v| v == field);
            match key.as_str() {
                "KeyState" => any(f.key_state),
                "KeySpec" => any(f.key_spec),
                "KeyUsage" => any(f.key_usage),
                "ProtectionLevel" => any(f.protection_level),
                "CreatorType" => any(f.creator_type),
                "DKMSInstanceId" => any(f.instance_id),
                "KeyId" => any(f.key_id),
                "Creator" => any(f.creator),
                "AliasName" => f.aliases.iter().any(|a| any(a)),
                "TagKey" => f.tags.iter().any(|(k, _)| any(k)),
                "TagValue" => f.tags.iter().any(|(_, v)| any(v)),
                // `parse` admits only the keys above.
                _ => false,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(
        state: &'a str,
        aliases: &'a [String],
        tags: &'a [(String, String)],
    ) -> KeyFacts<'a> {
        KeyFacts {
            key_state: state,
            key_spec: "Aliyun_AES_256",
            key_usage: "ENCRYPT/DECRYPT",
            protection_level: "SOFTWARE",
            creator_type: "User",
            instance_id: "kst-1",
            key_id: "key-1",
            creator: "1234567890123456",
            aliases,
            tags,
        }
    }

    #[test]
    fn values_are_ored_and_keys_anded() {
        let f = KeyFilter::parse(r#"[{"Key":"KeyState","Values":["Enabled","PendingDeletion"]},{"Key":"KeySpec","Values":["Aliyun_AES_256"]}]"#).unwrap();
        assert!(f.matches(&facts("Enabled", &[], &[])));
        assert!(f.matches(&facts("PendingDeletion", &[], &[])));
        assert!(!f.matches(&facts("Disabled", &[], &[])));
        let g = KeyFilter::parse(
            r#"[{"Key":"KeyState","Values":["Enabled"]},{"Key":"KeySpec","Values":["RSA_2048"]}]"#,
        )
        .unwrap();
        assert!(!g.matches(&facts("Enabled", &[], &[])));
    }

    #[test]
    fn aliases_and_tags_match_any_of_the_keys_entries() {
        let aliases = vec!["alias/a".to_owned(), "alias/b".to_owned()];
        let tags = vec![("env".to_owned(), "prod".to_owned())];
        let f = KeyFilter::parse(
            r#"[{"Key":"AliasName","Values":["alias/b"]},{"Key":"TagValue","Values":["prod"]}]"#,
        )
        .unwrap();
        assert!(f.needs("AliasName") && f.needs("TagValue") && !f.needs("TagKey"));
        assert!(f.matches(&facts("Enabled", &aliases, &tags)));
        assert!(!f.matches(&facts("Enabled", &aliases[..1], &tags)));
    }

    #[test]
    fn rejects_malformed_filters() {
        for bad in [
            "{",
            "{}",
            r#"[{"Values":["x"]}]"#,
            r#"[{"Key":"Nope","Values":["x"]}]"#,
            r#"[{"Key":"KeyState","Values":[]}]"#,
            r#"[{"Key":"KeyState","Values":[1]}]"#,
        ] {
            assert!(KeyFilter::parse(bad).is_err(), "{bad}");
        }
    }
}
