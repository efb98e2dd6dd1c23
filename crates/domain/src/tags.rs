//! Resource tags ([`Tag`]): the key/value rules, the `Tags` JSON list of CreateSecret and
//! TagResource, and the `TagKeys` list of UntagResource.
//!
//! Decisions taken where the documentation is silent:
//!
//! - The documented character set (letters, digits, `/ \ _ - . + = : @`) does not list the
//!   space, so spaces are refused; letters are ASCII letters.
//! - A tag value may be empty (0 to 128 characters); an absent `TagValue` field means `""`.
//! - Reserved key prefixes `aliyun` and `acs:` are matched case-insensitively.
//! - Two tags with the same key (compared exactly) in one request are refused.
//! - An empty or whitespace-only `Tags` text, like `[]`, means "no tags".
//! - `TagKeys` is a JSON array when its text starts with `[`, otherwise a comma-separated list
//!   whose items are trimmed; an empty item is refused, repeated keys are kept once, and at most
//!   20 keys are accepted. Reserved prefixes are not checked there: such tags cannot exist.

use serde_json::Value;

use crate::error::ValidationError;

/// Most tags a resource may carry, and most keys one untag request may name.
pub const MAX_TAGS: usize = 20;
/// Longest tag key, in characters.
pub const TAG_KEY_MAX_LEN: usize = 128;
/// Longest tag value, in characters.
pub const TAG_VALUE_MAX_LEN: usize = 128;

const TAG_CHARSET: &str = "letters, digits and / \\ _ - . + = : @";
const RESERVED_KEY_PREFIXES: [&str; 2] = ["aliyun", "acs:"];

/// One validated tag: a key and a (possibly empty) value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag {
    key: String,
    value: String,
}

impl Tag {
    /// Builds a tag from a key and a value, checking length, characters and reserved prefixes.
    pub fn new(key: &str, value: &str) -> Result<Self, ValidationError> {
        check_tag_key("TagKey", key)?;
        check_reserved_prefix("TagKey", key)?;
        check_tag_value("TagValue", value)?;
        Ok(Self {
            key: key.to_owned(),
            value: value.to_owned(),
        })
    }

    /// The tag key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The tag value.
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// Checks a set of tags sent together: at most 20, no key twice.
pub fn check_tag_set(param: &'static str, tags: &[Tag]) -> Result<(), ValidationError> {
    if tags.len() > MAX_TAGS {
        return Err(ValidationError::TooMany {
            param,
            max: MAX_TAGS,
            item: "tags",
        });
    }
    for (i, tag) in tags.iter().enumerate() {
        if tags.iter().take(i).any(|earlier| earlier.key == tag.key) {
            return Err(ValidationError::Duplicate {
                param,
                item: format!("the tag key {}", tag.key),
            });
        }
    }
    Ok(())
}

/// Parses the `Tags` parameter: `[{"TagKey":"k","TagValue":"v"},...]`.
pub fn parse_tags_json(text: &str) -> Result<Vec<Tag>, ValidationError> {
    const PARAM: &str = "Tags";
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let value: Value =
        serde_json::from_str(text).map_err(|_| ValidationError::InvalidJson { param: PARAM })?;
    let items = value.as_array().ok_or_else(|| {
        ValidationError::invalid(
            PARAM,
            "must be a JSON array of {\"TagKey\",\"TagValue\"} objects",
        )
    })?;
    if items.len() > MAX_TAGS {
        return Err(ValidationError::TooMany {
            param: PARAM,
            max: MAX_TAGS,
            item: "tags",
        });
    }
    let mut tags = Vec::with_capacity(items.len());
    for item in items {
        let object = item.as_object().ok_or_else(|| {
            ValidationError::invalid(
                PARAM,
                "each tag must be a JSON object with TagKey and TagValue",
            )
        })?;
        let key = match object.get("TagKey") {
            Some(Value::String(key)) => key.as_str(),
            Some(_) => return Err(ValidationError::invalid(PARAM, "TagKey must be a string")),
            None => {
                return Err(ValidationError::MissingField {
                    param: PARAM,
                    field: "TagKey",
                })
            }
        };
        let value = match object.get("TagValue") {
            Some(Value::String(value)) => value.as_str(),
            None | Some(Value::Null) => "",
            Some(_) => return Err(ValidationError::invalid(PARAM, "TagValue must be a string")),
        };
        check_tag_key(PARAM, key)?;
        check_reserved_prefix(PARAM, key)?;
        check_tag_value(PARAM, value)?;
        tags.push(Tag {
            key: key.to_owned(),
            value: value.to_owned(),
        });
    }
    check_tag_set(PARAM, &tags)?;
    Ok(tags)
}

/// Parses the `TagKeys` parameter of UntagResource: a JSON array or a comma-separated list.
pub fn parse_tag_keys(text: &str) -> Result<Vec<String>, ValidationError> {
    const PARAM: &str = "TagKeys";
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(ValidationError::Empty { param: PARAM });
    }
    let raw: Vec<String> = if trimmed.starts_with('[') {
        let value: Value = serde_json::from_str(trimmed)
            .map_err(|_| ValidationError::InvalidJson { param: PARAM })?;
        let items = value
            .as_array()
            .ok_or_else(|| ValidationError::invalid(PARAM, "must be a JSON array of strings"))?;
        items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_owned).ok_or_else(|| {
                    ValidationError::invalid(PARAM, "must be a JSON array of strings")
                })
            })
            .collect::<Result<_, _>>()?
    } else {
        trimmed
            .split(',')
            .map(|key| key.trim().to_owned())
            .collect()
    };
    let mut keys: Vec<String> = Vec::with_capacity(raw.len());
    for key in raw {
        check_tag_key(PARAM, &key)?;
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    if keys.is_empty() {
        return Err(ValidationError::Empty { param: PARAM });
    }
    if keys.len() > MAX_TAGS {
        return Err(ValidationError::TooMany {
            param: PARAM,
            max: MAX_TAGS,
            item: "tag keys",
        });
    }
    Ok(keys)
}

fn is_tag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '/' | '\\' | '_' | '-' | '.' | '+' | '=' | ':' | '@')
}

/// Which part of a tag a rule concerns, named as in the TagKey/TagValue fields.
#[derive(Clone, Copy)]
enum Part {
    Key,
    Value,
}

impl Part {
    fn field(self) -> &'static str {
        match self {
            Part::Key => "TagKey",
            Part::Value => "TagValue",
        }
    }
}

/// Builds the error for a broken tag rule: typed when the parameter is the field itself
/// (`TagKey`), otherwise naming the field inside the parameter (`Tags is invalid: TagKey ...`).
fn tag_error(param: &'static str, part: Part, typed: ValidationError) -> ValidationError {
    if param == part.field() {
        typed
    } else {
        let rule = typed.to_string();
        let rule = rule
            .strip_prefix(param)
            .map_or(rule.as_str(), str::trim_start);
        ValidationError::invalid(param, format!("{} {rule}", part.field()))
    }
}

fn check_tag_key(param: &'static str, key: &str) -> Result<(), ValidationError> {
    if key.is_empty() {
        return Err(tag_error(
            param,
            Part::Key,
            ValidationError::Empty { param },
        ));
    }
    check_tag_text(param, Part::Key, key, TAG_KEY_MAX_LEN)
}

fn check_tag_value(param: &'static str, value: &str) -> Result<(), ValidationError> {
    check_tag_text(param, Part::Value, value, TAG_VALUE_MAX_LEN)
}

fn check_tag_text(
    param: &'static str,
    part: Part,
    text: &str,
    max: usize,
) -> Result<(), ValidationError> {
    if !text.chars().all(is_tag_char) {
        let typed = ValidationError::InvalidCharacter {
            param,
            allowed: TAG_CHARSET,
        };
        return Err(tag_error(param, part, typed));
    }
    // Only ASCII passes the check above, so bytes and characters agree.
    if text.len() > max {
        return Err(tag_error(
            param,
            part,
            ValidationError::TooLong { param, max },
        ));
    }
    Ok(())
}

fn check_reserved_prefix(param: &'static str, key: &str) -> Result<(), ValidationError> {
    for prefix in RESERVED_KEY_PREFIXES {
        let head = key.get(..prefix.len());
        if head.is_some_and(|head| head.eq_ignore_ascii_case(prefix)) {
            let typed = ValidationError::ReservedPrefix { param, prefix };
            return Err(tag_error(param, Part::Key, typed));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_documented_example() {
        let tags = parse_tags_json(
            r#"[{"TagKey":"key1","TagValue":"val1"},{"TagKey":"key2","TagValue":"val2"}]"#,
        )
        .unwrap();
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0].key(), "key1");
        assert_eq!(tags[1].value(), "val2");
    }

    #[test]
    fn empty_array_and_empty_text_mean_no_tags() {
        assert!(parse_tags_json("[]").unwrap().is_empty());
        assert!(parse_tags_json("  ").unwrap().is_empty());
    }

    #[test]
    fn accepts_every_documented_character_and_empty_value() {
        let tags =
            parse_tags_json(r#"[{"TagKey":"a/b\\c_d-e.f+g=h:i@J9","TagValue":""}]"#).unwrap();
        assert_eq!(tags[0].key(), "a/b\\c_d-e.f+g=h:i@J9");
        assert_eq!(tags[0].value(), "");
        let missing_value = parse_tags_json(r#"[{"TagKey":"k"}]"#).unwrap();
        assert_eq!(missing_value[0].value(), "");
    }

    #[test]
    fn rejects_more_than_20_tags() {
        let items: Vec<String> = (0..21)
            .map(|i| format!(r#"{{"TagKey":"k{i}","TagValue":"v"}}"#))
            .collect();
        let err = parse_tags_json(&format!("[{}]", items.join(","))).unwrap_err();
        assert_eq!(err.to_string(), "Tags has more than 20 tags");
        let twenty = format!("[{}]", items[..20].join(","));
        assert_eq!(parse_tags_json(&twenty).unwrap().len(), 20);
    }

    #[test]
    fn rejects_key_longer_than_128_characters() {
        let ok = format!(
            r#"[{{"TagKey":"{}","TagValue":"{}"}}]"#,
            "k".repeat(128),
            "v".repeat(128)
        );
        assert!(parse_tags_json(&ok).is_ok());
        let long_key = format!(r#"[{{"TagKey":"{}","TagValue":"v"}}]"#, "k".repeat(129));
        assert_eq!(
            parse_tags_json(&long_key).unwrap_err().to_string(),
            "Tags is invalid: TagKey is longer than 128 characters"
        );
        assert_eq!(
            Tag::new(&"k".repeat(129), "v").unwrap_err().to_string(),
            "TagKey is longer than 128 characters"
        );
        let long_value = format!(r#"[{{"TagKey":"k","TagValue":"{}"}}]"#, "v".repeat(129));
        assert!(parse_tags_json(&long_value).is_err());
    }

    #[test]
    fn rejects_spaces_and_other_characters() {
        for bad in [
            r#"[{"TagKey":"a b","TagValue":"v"}]"#,
            r#"[{"TagKey":"k","TagValue":"v v"}]"#,
            r#"[{"TagKey":"k*","TagValue":"v"}]"#,
            r#"[{"TagKey":"k","TagValue":"caf\u00e9"}]"#,
        ] {
            let err = parse_tags_json(bad).unwrap_err().to_string();
            assert!(
                err.ends_with("may contain only letters, digits and / \\ _ - . + = : @"),
                "{err}"
            );
        }
    }

    #[test]
    fn rejects_reserved_key_prefixes_in_any_case() {
        for key in ["aliyun", "AliYun-x", "acs:owner", "ACS:x"] {
            let text = format!(r#"[{{"TagKey":"{key}","TagValue":"v"}}]"#);
            let err = parse_tags_json(&text).unwrap_err().to_string();
            assert!(
                err.starts_with("Tags is invalid: TagKey must not start with"),
                "{err}"
            );
        }
        assert!(parse_tags_json(r#"[{"TagKey":"acs","TagValue":"v"}]"#).is_ok());
        assert!(parse_tags_json(r#"[{"TagKey":"myaliyun","TagValue":"v"}]"#).is_ok());
        assert!(matches!(
            Tag::new("acs:x", "v"),
            Err(ValidationError::ReservedPrefix {
                param: "TagKey",
                prefix: "acs:"
            })
        ));
        assert!(matches!(
            Tag::new("k", "a b"),
            Err(ValidationError::InvalidCharacter {
                param: "TagValue",
                ..
            })
        ));
    }

    #[test]
    fn rejects_duplicate_keys() {
        let err =
            parse_tags_json(r#"[{"TagKey":"k","TagValue":"a"},{"TagKey":"k","TagValue":"b"}]"#)
                .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Tags contains the tag key k more than once"
        );
    }

    #[test]
    fn rejects_wrong_shapes() {
        for bad in [
            "{}",
            "not json",
            r#"["k"]"#,
            r#"[{"TagValue":"v"}]"#,
            r#"[{"TagKey":1,"TagValue":"v"}]"#,
            r#"[{"TagKey":"","TagValue":"v"}]"#,
            r#"[{"TagKey":"k","TagValue":2}]"#,
        ] {
            assert!(parse_tags_json(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tag_keys_accept_json_array_or_comma_list() {
        assert_eq!(parse_tag_keys(r#"["k1","k2"]"#).unwrap(), vec!["k1", "k2"]);
        assert_eq!(parse_tag_keys("k1, k2 ,k1").unwrap(), vec!["k1", "k2"]);
        assert_eq!(parse_tag_keys("single").unwrap(), vec!["single"]);
    }

    #[test]
    fn tag_keys_reject_empty_items_and_bad_json() {
        for bad in ["", "[]", "k1,,k2", "[1]", "[\"a\"", "a b"] {
            assert!(parse_tag_keys(bad).is_err(), "{bad}");
        }
        let many: Vec<String> = (0..21).map(|i| format!("k{i}")).collect();
        assert!(parse_tag_keys(&many.join(",")).is_err());
    }

    proptest! {
        #[test]
        fn tag_json_parse_never_panics(text in ".*") {
            let _ = parse_tags_json(&text);
            let _ = parse_tag_keys(&text);
        }

        #[test]
        fn tag_json_parse_never_panics_on_tag_like_json(
            key in ".{0,140}", value in ".{0,140}", count in 0usize..25
        ) {
            let item = serde_json::json!({"TagKey": key, "TagValue": value});
            let text = serde_json::Value::Array(vec![item; count]).to_string();
            let _ = parse_tags_json(&text);
        }
    }
}
