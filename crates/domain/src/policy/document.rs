//! Policy documents as JSON text: parsing and checking into a typed [`PolicyDocument`], its
//! re-rendering, and the default policy of a new secret. Two kinds share one grammar (RAM's
//! policy structure and syntax, spec §4.5 for secrets): identity policies (RAM `CreatePolicy`,
//! no `Principal`) and secret policies (CreateSecret/SetSecretPolicy `Policy`, with
//! `Principal.RAM` and `Resource` only `*`).
//!
//! This module only checks shape, limits and that condition values parse; deciding whether a
//! caller is allowed belongs to [`super::compiled`] and [`super::decide`]. Parsing never panics,
//! whatever the input (a fuzz/property target).
//!
//! Decisions taken where the documentation is silent:
//!
//! - Unknown fields are refused, at the top level and in statements: silently ignoring
//!   `NotAction`, `NotPrincipal`, `NotResource` or a misspelt field would change what a policy
//!   grants. `Version` must be the string `"1"`; `Statement` a non-empty array.
//! - `Sid` is optional, 1 to 128 characters of letters, digits, `_ / + = . @ -` **and space**:
//!   the documented default policy's own Sid (`kms default secret policy`) contains spaces.
//! - Secret policies: `Principal` must be an object whose only member is `RAM`: a string or a
//!   non-empty array of `acs:ram::<uid>:*`, `acs:ram::<uid>:root`, `acs:ram::<uid>:user/<name>` or
//!   `acs:ram::<uid>:role/<name>`, where `<uid>` is 16 digits or `*` and `<name>` is 1 to 128
//!   letters, digits, `. _ - @` or the wildcards `*` `?`. Identity policies have no `Principal`.
//! - `Action`: a string or non-empty array. In a secret policy each is `kms:<name>`; in an
//!   identity policy `*` or `<service>:<name>` (service code of lower-case letters, digits and
//!   `-`). `<name>` is 1 to 128 letters, digits or wildcards. Unknown action names are accepted
//!   and simply never match.
//! - `Resource`: in a secret policy only `*` (this secret): the document is checked without
//!   knowing which secret it will be attached to. In an identity policy `*` or any non-empty
//!   text without whitespace, normally an ARN (`acs:kms:*:*:secret/app/*`).
//! - `Condition`: optional object operator → key → value or non-empty array of values. Operators
//!   are RAM's known set and values must parse for their operator ([`super::condition`]), so
//!   evaluation never meets one it cannot decide. Values may be strings, numbers or booleans and
//!   are kept as their text (`true`, `10`); re-rendering always writes them as arrays of strings.

use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::condition::{Condition, OPERATORS};
use super::Effect;
use crate::error::ValidationError;

/// Largest secret policy document, in bytes.
pub const POLICY_MAX_BYTES: usize = 32_768;
/// Longest statement id, in characters.
pub const SID_MAX_LEN: usize = 128;

const SECRET_POLICY_PARAM: &str = "Policy";
const VERSION: &str = "1";
const NAME_MAX_LEN: usize = 128;

/// Which of the two policy kinds a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// Attached to a RAM user or role: no `Principal`; resources are ARN patterns.
    Identity,
    /// Attached to a secret: `Principal.RAM` required; `Resource` only `*`.
    Secret,
    /// A RAM role's trust policy (AssumeRolePolicyDocument): `Principal` with `RAM` and/or
    /// `Service`, `sts:` actions, no `Resource` (the role itself).
    Trust,
}

/// Conditions of a statement: operator → condition key → accepted values.
pub type Conditions = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// A validated policy document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PolicyDocument {
    /// The policy language version, always `"1"`.
    #[serde(rename = "Version")]
    pub version: String,
    /// The statements, at least one.
    #[serde(rename = "Statement")]
    pub statements: Vec<Statement>,
}

/// One statement of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Statement {
    /// Optional statement id.
    #[serde(rename = "Sid", skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Whether the statement allows or denies.
    #[serde(rename = "Effect")]
    pub effect: Effect,
    /// RAM principal ARN patterns the statement applies to (secret policies only).
    #[serde(
        rename = "Principal",
        serialize_with = "serialize_principals",
        skip_serializing_if = "Option::is_none"
    )]
    pub principals: Option<Vec<String>>,
    /// Action patterns (`kms:*`, `kms:GetSecretValue`).
    #[serde(rename = "Action")]
    pub actions: Vec<String>,
    /// Resource patterns (only `*` in a secret policy).
    #[serde(rename = "Resource", skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Optional conditions; empty when absent.
    #[serde(rename = "Condition", skip_serializing_if = "BTreeMap::is_empty")]
    pub conditions: Conditions,
}

impl PolicyDocument {
    /// The document as compact JSON text.
    pub fn to_json_string(&self) -> String {
        // Every field serialises to plain strings, arrays and maps with string keys: infallible.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Validates secret policy text (CreateSecret/SetSecretPolicy `Policy`) into a typed document.
pub fn validate_secret_policy(text: &str) -> Result<PolicyDocument, ValidationError> {
    parse_document(
        text,
        DocumentKind::Secret,
        SECRET_POLICY_PARAM,
        POLICY_MAX_BYTES,
    )
}

/// Parses policy text of `kind` given in parameter `param`, at most `max_bytes` long.
pub fn parse_document(
    text: &str,
    kind: DocumentKind,
    param: &'static str,
    max_bytes: usize,
) -> Result<PolicyDocument, ValidationError> {
    let invalid = |reason: &str| ValidationError::invalid(param, reason);
    if text.len() > max_bytes {
        return Err(ValidationError::TooLarge {
            param,
            max: max_bytes,
        });
    }
    if text.trim().is_empty() {
        return Err(ValidationError::Empty { param });
    }
    let value: Value =
        serde_json::from_str(text).map_err(|_| ValidationError::InvalidJson { param })?;
    let top = value
        .as_object()
        .ok_or_else(|| invalid("must be a JSON object"))?;
    if top.keys().any(|k| k != "Version" && k != "Statement") {
        return Err(invalid("may contain only the fields Version and Statement"));
    }
    match top.get("Version") {
        Some(Value::String(v)) if v == VERSION => {}
        Some(_) => return Err(invalid("Version must be \"1\"")),
        None => {
            return Err(ValidationError::MissingField {
                param,
                field: "Version",
            })
        }
    }
    let statements = match top.get("Statement") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(_) => return Err(invalid("Statement must be a non-empty array")),
        None => {
            return Err(ValidationError::MissingField {
                param,
                field: "Statement",
            })
        }
    };
    let statements = statements
        .iter()
        .enumerate()
        .map(|(i, item)| {
            parse_statement(item, kind)
                .map_err(|what| invalid(&format!("statement {}: {what}", i.saturating_add(1))))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PolicyDocument {
        version: VERSION.to_owned(),
        statements,
    })
}

/// The policy given to a secret created without one: the owning account may do everything.
pub fn default_secret_policy(account_id: &str) -> String {
    PolicyDocument {
        version: VERSION.to_owned(),
        statements: vec![Statement {
            sid: Some("kms default secret policy".to_owned()),
            effect: Effect::Allow,
            principals: Some(vec![format!("acs:ram::{account_id}:*")]),
            actions: vec!["kms:*".to_owned()],
            resources: vec!["*".to_owned()],
            conditions: Conditions::new(),
        }],
    }
    .to_json_string()
}

fn serialize_principals<S: Serializer>(
    principals: &Option<Vec<String>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(1))?;
    map.serialize_entry("RAM", principals.as_deref().unwrap_or_default())?;
    map.end()
}

const SECRET_STATEMENT_FIELDS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "Action",
    "Resource",
    "Condition",
];
const IDENTITY_STATEMENT_FIELDS: &[&str] = &["Sid", "Effect", "Action", "Resource", "Condition"];
const TRUST_STATEMENT_FIELDS: &[&str] = &["Sid", "Effect", "Principal", "Action", "Condition"];

fn parse_statement(item: &Value, kind: DocumentKind) -> Result<Statement, String> {
    let fields = item.as_object().ok_or("must be a JSON object")?;
    let allowed = match kind {
        DocumentKind::Secret => SECRET_STATEMENT_FIELDS,
        DocumentKind::Identity => IDENTITY_STATEMENT_FIELDS,
        DocumentKind::Trust => TRUST_STATEMENT_FIELDS,
    };
    if fields.keys().any(|k| !allowed.contains(&k.as_str())) {
        return Err(match kind {
            DocumentKind::Secret => {
                "may contain only Sid, Effect, Principal, Action, Resource and Condition"
            }
            DocumentKind::Identity => {
                "may contain only Sid, Effect, Action, Resource and Condition"
            }
            DocumentKind::Trust => "may contain only Sid, Effect, Principal, Action and Condition",
        }
        .to_owned());
    }
    let sid = match fields.get("Sid") {
        None => None,
        Some(Value::String(sid)) if is_valid_sid(sid) => Some(sid.clone()),
        Some(_) => {
            return Err("Sid must be 1 to 128 letters, digits, spaces and _ / + = . @ -".into())
        }
    };
    let effect = match fields.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return Err("Effect must be Allow or Deny".into()),
    };
    let principals = match kind {
        DocumentKind::Identity => None,
        DocumentKind::Secret => Some(parse_principals(fields.get("Principal"))?),
        DocumentKind::Trust => Some(parse_trust_principals(fields.get("Principal"))?),
    };
    let actions = string_or_list(fields.get("Action"))
        .ok_or("Action must be a string or a non-empty array of strings")?;
    let action_ok = match kind {
        DocumentKind::Secret => is_kms_action,
        DocumentKind::Identity => is_any_action,
        DocumentKind::Trust => is_sts_action,
    };
    if !actions.iter().all(|a| action_ok(a)) {
        return Err(match kind {
            DocumentKind::Secret => "each Action must be kms:<action name> or kms:*",
            DocumentKind::Identity => "each Action must be * or <service>:<action name>",
            DocumentKind::Trust => "each Action must be sts:<action name>",
        }
        .into());
    }
    let resources = match kind {
        DocumentKind::Trust => Vec::new(),
        _ => string_or_list(fields.get("Resource"))
            .ok_or("Resource must be a string or a non-empty array of strings")?,
    };
    match kind {
        DocumentKind::Secret if !resources.iter().all(|r| r == "*") => {
            return Err("Resource must be * in a secret policy".into())
        }
        DocumentKind::Identity
            if !resources
                .iter()
                .all(|r| !r.is_empty() && !r.chars().any(char::is_whitespace)) =>
        {
            return Err("each Resource must be * or a resource ARN pattern".into())
        }
        _ => {}
    }
    let conditions = match fields.get("Condition") {
        None => Conditions::new(),
        Some(Value::Object(ops)) => parse_conditions(ops)?,
        Some(_) => return Err("Condition must be a JSON object".into()),
    };
    Ok(Statement {
        sid,
        effect,
        principals,
        actions,
        resources,
        conditions,
    })
}

fn parse_principals(principal: Option<&Value>) -> Result<Vec<String>, String> {
    let principal = principal
        .and_then(Value::as_object)
        .ok_or("Principal must be an object with a RAM member")?;
    if principal.keys().any(|k| k != "RAM") {
        return Err("Principal may contain only RAM".into());
    }
    let principals = string_or_list(principal.get("RAM"))
        .ok_or("Principal RAM must be a string or a non-empty array of strings")?;
    if !principals.iter().all(|p| is_ram_principal(p)) {
        return Err(
            "Principal RAM entries must look like acs:ram::<account id or *>:*, :root, :user/<name> or :role/<name>"
                .into(),
        );
    }
    Ok(principals)
}

/// A trust policy's principals: `RAM` entries as in secret policies; `Service` entries (cloud
/// services assuming the role) are accepted and kept out of the list, as no service acts inside
/// openkms.
fn parse_trust_principals(principal: Option<&Value>) -> Result<Vec<String>, String> {
    let principal = principal
        .and_then(Value::as_object)
        .ok_or("Principal must be an object with a RAM or Service member")?;
    if principal.is_empty() || principal.keys().any(|k| k != "RAM" && k != "Service") {
        return Err("Principal may contain only RAM and Service".into());
    }
    if principal.contains_key("Service") {
        string_or_list(principal.get("Service"))
            .ok_or("Principal Service must be a string or a non-empty array of strings")?;
    }
    match principal.get("RAM") {
        None => Ok(Vec::new()),
        Some(_) => {
            let mut only_ram = Map::new();
            if let Some(ram) = principal.get("RAM") {
                only_ram.insert("RAM".to_owned(), ram.clone());
            }
            parse_principals(Some(&Value::Object(only_ram)))
        }
    }
}

fn parse_conditions(ops: &Map<String, Value>) -> Result<Conditions, String> {
    let mut conditions = Conditions::new();
    for (operator, keys) in ops {
        if !OPERATORS.iter().any(|op| op.name() == operator) {
            return Err("Condition uses an unknown operator".into());
        }
        let keys = keys
            .as_object()
            .filter(|keys| !keys.is_empty())
            .ok_or("each Condition operator must map to a non-empty object")?;
        let mut by_key = BTreeMap::new();
        for (key, values) in keys {
            if key.is_empty() {
                return Err("Condition keys must not be empty".into());
            }
            let values = condition_values(values).ok_or(
                "Condition values must be strings, numbers, booleans or a non-empty array of them",
            )?;
            // Compiling checks that each value parses for its operator (a CIDR, a date...).
            Condition::compile(operator, key, &values)
                .map_err(|e| format!("Condition {operator} on {key}: {e}"))?;
            by_key.insert(key.clone(), values);
        }
        conditions.insert(operator.clone(), by_key);
    }
    Ok(conditions)
}

fn condition_values(value: &Value) -> Option<Vec<String>> {
    fn scalar(value: &Value) -> Option<String> {
        match value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    match value {
        Value::Array(items) if !items.is_empty() => items.iter().map(scalar).collect(),
        Value::Array(_) => None,
        other => scalar(other).map(|s| vec![s]),
    }
}

/// A string, or a non-empty array of strings, as a list.
fn string_or_list(value: Option<&Value>) -> Option<Vec<String>> {
    match value? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    }
}

fn is_valid_sid(sid: &str) -> bool {
    !sid.is_empty()
        && sid.chars().count() <= SID_MAX_LEN
        && sid.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '+' | '=' | '.' | '@' | '-' | ' ')
        })
}

fn is_ram_principal(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("acs:ram::") else {
        return false;
    };
    let Some((uid, resource)) = rest.split_once(':') else {
        return false;
    };
    let uid_ok = uid == "*" || (uid.len() == 16 && uid.bytes().all(|b| b.is_ascii_digit()));
    if !uid_ok {
        return false;
    }
    match resource {
        "*" | "root" => true,
        _ => resource
            .strip_prefix("user/")
            .or_else(|| resource.strip_prefix("role/"))
            .is_some_and(|name| {
                !name.is_empty()
                    && name.len() <= NAME_MAX_LEN
                    && name.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '*' | '?')
                    })
            }),
    }
}

fn is_action_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= NAME_MAX_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?')
}

fn is_kms_action(action: &str) -> bool {
    action.strip_prefix("kms:").is_some_and(is_action_name)
}

fn is_sts_action(action: &str) -> bool {
    action.strip_prefix("sts:").is_some_and(is_action_name)
}

fn is_any_action(action: &str) -> bool {
    if action == "*" {
        return true;
    }
    action.split_once(':').is_some_and(|(service, name)| {
        !service.is_empty()
            && service
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'*')
            && is_action_name(name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ACCOUNT: &str = "1234567890123456";

    fn statement_with(field: &str, json: &str) -> String {
        let mut base: Map<String, Value> = serde_json::from_str(
            r#"{"Effect":"Allow","Principal":{"RAM":["acs:ram::1234567890123456:*"]},"Action":["kms:GetSecretValue"],"Resource":["*"]}"#,
        )
        .unwrap();
        if json.is_empty() {
            base.remove(field);
        } else {
            base.insert(field.to_owned(), serde_json::from_str(json).unwrap());
        }
        serde_json::json!({"Version": "1", "Statement": [base]}).to_string()
    }

    #[test]
    fn default_policy_matches_documented_text() {
        assert_eq!(
            default_secret_policy(ACCOUNT),
            r#"{"Version":"1","Statement":[{"Sid":"kms default secret policy","Effect":"Allow","Principal":{"RAM":["acs:ram::1234567890123456:*"]},"Action":["kms:*"],"Resource":["*"]}]}"#
        );
    }

    #[test]
    fn default_policy_validates_and_round_trips() {
        let text = default_secret_policy(ACCOUNT);
        let doc = validate_secret_policy(&text).unwrap();
        assert_eq!(doc.statements.len(), 1);
        assert_eq!(doc.statements[0].effect, Effect::Allow);
        assert_eq!(doc.to_json_string(), text);
    }

    #[test]
    fn parses_documented_example_with_spaces_and_condition() {
        let text = r#"{"Version":"1","Statement": [{"Sid":"opt","Effect":"Deny","Principal":{"RAM": "acs:ram::1234567890123456:user/alice"},"Action":"kms:GetSecretValue","Resource": "*","Condition":{"IpAddress":{"acs:SourceIp":["10.0.0.0/8","192.168.0.1"]},"Bool":{"acs:SecureTransport":true}}}] }"#;
        let doc = validate_secret_policy(text).unwrap();
        let statement = &doc.statements[0];
        assert_eq!(statement.effect, Effect::Deny);
        assert_eq!(
            statement.principals,
            Some(vec!["acs:ram::1234567890123456:user/alice".to_owned()])
        );
        assert_eq!(statement.actions, vec!["kms:GetSecretValue"]);
        assert_eq!(statement.resources, vec!["*"]);
        assert_eq!(
            statement.conditions["Bool"]["acs:SecureTransport"],
            vec!["true"]
        );
        assert_eq!(statement.conditions["IpAddress"]["acs:SourceIp"].len(), 2);
        let rendered = doc.to_json_string();
        assert_eq!(validate_secret_policy(&rendered).unwrap(), doc);
    }

    #[test]
    fn accepts_every_principal_form() {
        for principal in [
            "acs:ram::1234567890123456:*",
            "acs:ram::*:*",
            "acs:ram::1234567890123456:root",
            "acs:ram::1234567890123456:user/dev*",
            "acs:ram::1234567890123456:role/app-role",
        ] {
            let text = statement_with("Principal", &format!(r#"{{"RAM":"{principal}"}}"#));
            assert!(validate_secret_policy(&text).is_ok(), "{principal}");
        }
    }

    #[test]
    fn rejects_bad_principals() {
        for principal in [
            r#"{"RAM":"acs:ram::123:*"}"#,
            r#"{"RAM":"acs:ram:cn-hangzhou:1234567890123456:*"}"#,
            r#"{"RAM":"acs:ram::1234567890123456:group/x"}"#,
            r#"{"RAM":"acs:ram::1234567890123456:user/"}"#,
            r#"{"RAM":[]}"#,
            r#"{"RAM":[1]}"#,
            r#"{"Service":"x"}"#,
            r#""*""#,
            "",
        ] {
            let text = statement_with("Principal", principal);
            assert!(validate_secret_policy(&text).is_err(), "{principal}");
        }
    }

    #[test]
    fn rejects_bad_actions_and_resources() {
        for action in [
            r#""GetSecretValue""#,
            r#"["kms:"]"#,
            r#"["kms:Get Secret"]"#,
            "[]",
            "",
        ] {
            assert!(
                validate_secret_policy(&statement_with("Action", action)).is_err(),
                "{action}"
            );
        }
        assert!(validate_secret_policy(&statement_with("Action", r#""kms:*""#)).is_ok());
        assert!(validate_secret_policy(&statement_with(
            "Action",
            r#"["kms:Get*","kms:Describe*"]"#
        ))
        .is_ok());
        for resource in [
            r#""acs:kms:cn-hangzhou:1234567890123456:secret/db""#,
            r#"["*","x"]"#,
            "[]",
            "",
        ] {
            assert!(
                validate_secret_policy(&statement_with("Resource", resource)).is_err(),
                "{resource}"
            );
        }
    }

    #[test]
    fn rejects_bad_effect_sid_and_unknown_fields() {
        assert!(validate_secret_policy(&statement_with("Effect", r#""allow""#)).is_err());
        assert!(validate_secret_policy(&statement_with("Effect", "")).is_err());
        assert!(validate_secret_policy(&statement_with("Sid", r#""ok-sid_1""#)).is_ok());
        assert!(validate_secret_policy(&statement_with("Sid", r#""bad:sid""#)).is_err());
        assert!(validate_secret_policy(&statement_with(
            "Sid",
            &format!("\"{}\"", "s".repeat(129))
        ))
        .is_err());
        assert!(validate_secret_policy(&statement_with("NotAction", r#""kms:*""#)).is_err());
    }

    #[test]
    fn rejects_bad_conditions() {
        for condition in [
            r#"{"StringMaybe":{"k":"v"}}"#,
            r#"{"StringEquals":{}}"#,
            r#"{"StringEquals":{"k":[]}}"#,
            r#"{"StringEquals":{"k":{"x":1}}}"#,
            r#"{"StringEquals":"v"}"#,
            r#"[]"#,
        ] {
            assert!(
                validate_secret_policy(&statement_with("Condition", condition)).is_err(),
                "{condition}"
            );
        }
    }

    #[test]
    fn rejects_bad_top_level_shapes() {
        for text in [
            "",
            "[]",
            "{",
            r#"{"Statement":[]}"#,
            r#"{"Version":"2","Statement":[{}]}"#,
            r#"{"Version":1,"Statement":[{}]}"#,
            r#"{"Version":"1"}"#,
            r#"{"Version":"1","Statement":[]}"#,
            r#"{"Version":"1","Statement":{}}"#,
            r#"{"Version":"1","Statement":["x"]}"#,
            r#"{"Version":"1","Statement":[],"Extra":1}"#,
        ] {
            let err = validate_secret_policy(text).unwrap_err();
            assert_eq!(err.param(), "Policy", "{text}");
        }
    }

    #[test]
    fn rejects_policy_larger_than_32768_bytes() {
        let padding = " ".repeat(POLICY_MAX_BYTES);
        let text = format!("{}{padding}", default_secret_policy(ACCOUNT));
        assert_eq!(
            validate_secret_policy(&text).unwrap_err().to_string(),
            "Policy is larger than 32768 bytes"
        );
    }

    #[test]
    fn error_names_the_statement() {
        let good: Value = serde_json::from_str(&default_secret_policy(ACCOUNT)).unwrap();
        let first = good["Statement"][0].clone();
        let mut second = first.clone();
        second["Effect"] = Value::String("Maybe".to_owned());
        let text = serde_json::json!({"Version": "1", "Statement": [first, second]}).to_string();
        assert_eq!(
            validate_secret_policy(&text).unwrap_err().to_string(),
            "Policy is invalid: statement 2: Effect must be Allow or Deny"
        );
    }

    fn identity(text: &str) -> Result<PolicyDocument, ValidationError> {
        parse_document(text, DocumentKind::Identity, "PolicyDocument", 6144)
    }

    #[test]
    fn identity_policies_take_arn_resources_and_any_service_action() {
        let doc = identity(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["kms:Get*","ram:CreateServiceLinkedRole","*"],"Resource":"acs:kms:*:*:secret/app/*"}]}"#,
        )
        .unwrap();
        assert_eq!(doc.statements[0].principals, None);
        assert_eq!(
            doc.statements[0].resources,
            vec!["acs:kms:*:*:secret/app/*"]
        );
        assert!(!doc.to_json_string().contains("Principal"));
        assert_eq!(identity(&doc.to_json_string()).unwrap(), doc);
    }

    #[test]
    fn identity_policies_refuse_principal_and_bad_actions() {
        for statement in [
            r#"{"Effect":"Allow","Principal":{"RAM":"acs:ram::*:*"},"Action":"kms:*","Resource":"*"}"#,
            r#"{"Effect":"Allow","Action":"GetSecretValue","Resource":"*"}"#,
            r#"{"Effect":"Allow","Action":"kms:","Resource":"*"}"#,
            r#"{"Effect":"Allow","Action":"kms:*","Resource":""}"#,
            r#"{"Effect":"Allow","Action":"kms:*","Resource":"a b"}"#,
            r#"{"Effect":"Allow","NotAction":"kms:*","Resource":"*"}"#,
        ] {
            let text = format!(r#"{{"Version":"1","Statement":[{statement}]}}"#);
            assert!(identity(&text).is_err(), "{statement}");
        }
        assert_eq!(
            identity(&"x".repeat(6145)).unwrap_err().to_string(),
            "PolicyDocument is larger than 6144 bytes"
        );
    }

    #[test]
    fn condition_values_must_parse_for_their_operator() {
        for condition in [
            r#"{"IpAddress":{"acs:SourceIp":"10.0.0.0/40"}}"#,
            r#"{"NumericLessThan":{"k":"many"}}"#,
            r#"{"DateLessThan":{"acs:CurrentTime":"soon"}}"#,
            r#"{"Bool":{"acs:SecureTransport":"maybe"}}"#,
        ] {
            let err = validate_secret_policy(&statement_with("Condition", condition)).unwrap_err();
            assert!(err.to_string().contains("Condition"), "{condition}: {err}");
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            prop::sample::select(vec![
                "1",
                "*",
                "Allow",
                "Deny",
                "kms:*",
                "acs:ram::1234567890123456:*",
                "Version",
                "Statement",
                "RAM",
                "StringEquals",
                "",
            ])
            .prop_map(|s| Value::String(s.to_owned())),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            let keys = prop::sample::select(vec![
                "Version",
                "Statement",
                "Sid",
                "Effect",
                "Principal",
                "RAM",
                "Action",
                "Resource",
                "Condition",
                "StringEquals",
                "k",
                "Other",
            ]);
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(keys.prop_map(str::to_owned), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn policy_validation_never_panics_on_arbitrary_json(value in arb_json()) {
            let text = value.to_string();
            if let Ok(doc) = validate_secret_policy(&text) {
                prop_assert_eq!(validate_secret_policy(&doc.to_json_string()), Ok(doc));
            }
        }

        #[test]
        fn policy_validation_never_panics_on_arbitrary_text(text in ".{0,200}") {
            let _ = validate_secret_policy(&text);
        }
    }
}
