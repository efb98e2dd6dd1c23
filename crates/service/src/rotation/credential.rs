//! The account credential inside a database secret's value: `{"AccountName","AccountPassword"}`
//! (what GetSecretValue returns for Rds, Redis and PolarDB), also read from the
//! `{"Accounts":[...]}` form a caller writes at CreateSecret (its first account).

use openkms_crypto::SecretBytes;
use serde_json::Value;
use zeroize::Zeroizing;

/// An account name with its password, parsed out of a secret value.
pub struct AccountCredential {
    pub account: String,
    pub password: Zeroizing<String>,
}

impl AccountCredential {
    /// Reads the credential of a secret value; `None` for `$Auto` or another shape.
    pub fn parse(value: &SecretBytes) -> Option<Self> {
        let parsed: Value = serde_json::from_slice(value.expose_secret()).ok()?;
        let object = match parsed.get("Accounts") {
            Some(Value::Array(list)) => list.first()?.clone(),
            Some(_) => return None,
            None => parsed,
        };
        Some(Self {
            account: object.get("AccountName")?.as_str()?.to_owned(),
            password: Zeroizing::new(object.get("AccountPassword")?.as_str()?.to_owned()),
        })
    }

    /// The secret value holding this credential.
    pub fn to_value(&self) -> Zeroizing<String> {
        let json = serde_json::json!({
            "AccountName": self.account,
            "AccountPassword": self.password.as_str(),
        });
        Zeroizing::new(json.to_string())
    }

    pub fn as_target(&self) -> openkms_rotation::Credential<'_> {
        openkms_rotation::Credential {
            account: &self.account,
            password: &self.password,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(s: &str) -> SecretBytes {
        SecretBytes::from_slice(s.as_bytes())
    }

    #[test]
    fn both_written_shapes_parse_and_the_single_shape_is_written() {
        let list = AccountCredential::parse(&bytes(
            r#"{"Accounts":[{"AccountName":"app","AccountPassword":"p1"},{"AccountName":"x","AccountPassword":"y"}]}"#,
        ))
        .unwrap();
        assert_eq!(
            (list.account.as_str(), list.password.as_str()),
            ("app", "p1")
        );
        let single =
            AccountCredential::parse(&bytes(r#"{"AccountName":"app","AccountPassword":"p2"}"#))
                .unwrap();
        assert_eq!(single.password.as_str(), "p2");
        let again = AccountCredential::parse(&bytes(&single.to_value())).unwrap();
        assert_eq!(
            (again.account.as_str(), again.password.as_str()),
            ("app", "p2")
        );
        assert!(AccountCredential::parse(&bytes("$Auto")).is_none());
        assert!(AccountCredential::parse(&bytes(r#"{"Accounts":[]}"#)).is_none());
    }
}
