//! What a database secret's type and ExtendedConfig say about rotating it, and the passwords
//! a rotation sets.

use openkms_store::{DbInstanceRecord, SecretRecord};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use openkms_domain::ExtendedConfig;

use crate::Error;

/// Length of generated passwords (letters and digits: ~190 bits).
const PASSWORD_LEN: usize = 32;

/// What a rotation acts on.
pub(super) enum Kind {
    /// A database account on a registered instance.
    Db {
        plan: Plan,
        instance: Box<DbInstanceRecord>,
    },
    /// The access keys of one of openkms's RAM users.
    Ram { user: String },
}

/// What a database secret's type and ExtendedConfig say about rotating it.
pub(super) struct Plan {
    pub(super) instance_id: String,
    /// The account from ExtendedConfig (Redis, PolarDB); Rds names it in the value.
    pub(super) account: Option<String>,
    pub(super) clone: Option<String>,
    pub(super) double: bool,
}

impl Plan {
    pub(super) fn for_secret(secret: &SecretRecord) -> Result<Self, Error> {
        let unsupported = || Error::RotationUnsupported {
            secret_type: secret.secret_type.wire_name().to_owned(),
        };
        let ty = secret.secret_type;
        let instance_field = super::authority::instance_field(ty).ok_or_else(unsupported)?;
        let config = secret
            .extended_config
            .as_deref()
            .map(|text| ExtendedConfig::parse_for(ty, text))
            .transpose()?
            .flatten();
        let field = |name: &str| {
            config
                .as_ref()
                .and_then(|c| c.get_str(name))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let instance_id = field(instance_field).ok_or(Error::RotationTargetRefused {
            reason: format!("the secret's ExtendedConfig has no {instance_field}"),
        })?;
        Ok(Self {
            instance_id,
            account: field("AccountName"),
            clone: field("CloneAccountName"),
            double: field("SecretSubType").as_deref() == Some("DoubleUsers"),
        })
    }

    /// The account and its clone, given the account the current value names.
    pub(super) fn accounts(&self, current: Option<&str>) -> Result<(String, String), Error> {
        let base = match (&self.account, current) {
            (Some(a), _) => a.clone(),
            (None, Some(c)) => c
                .strip_suffix("_clone")
                .filter(|_| self.double)
                .unwrap_or(c)
                .to_owned(),
            (None, None) => {
                return Err(Error::RotationTargetRefused {
                    reason: "the secret names no account to rotate".into(),
                })
            }
        };
        let clone = self
            .clone
            .clone()
            .unwrap_or_else(|| format!("{base}_clone"));
        Ok((base, clone))
    }
}

/// A password of letters and digits from the OS CSPRNG, without modulo bias: such a
/// password needs no quoting in any target's statements.
pub(super) fn generate_password() -> Result<Zeroizing<String>, Error> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // Bytes below 248 (= 4 × 62) map evenly onto the alphabet; the rest are redrawn.
    const LIMIT: u8 = 248;
    let rng = SystemRandom::new();
    let mut out = Zeroizing::new(String::with_capacity(PASSWORD_LEN));
    let mut buf = Zeroizing::new([0u8; 64]);
    while out.len() < PASSWORD_LEN {
        rng.fill(buf.as_mut())
            .map_err(|_| Error::internal("draw random bytes"))?;
        for &b in buf.iter().filter(|&&b| b < LIMIT) {
            if out.len() == PASSWORD_LEN {
                break;
            }
            let idx = usize::from(b) % ALPHABET.len();
            out.push(char::from(*ALPHABET.get(idx).unwrap_or(&b'A')));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_long_plain_and_different() {
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert_eq!(a.len(), PASSWORD_LEN);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(*a, *b);
    }

    fn plan(account: Option<&str>, double: bool) -> Plan {
        Plan {
            instance_id: "rm-1".into(),
            account: account.map(str::to_owned),
            clone: None,
            double,
        }
    }

    #[test]
    fn double_users_alternate_between_an_account_and_its_clone() {
        let p = plan(None, true);
        assert_eq!(
            p.accounts(Some("app")).unwrap(),
            ("app".into(), "app_clone".into())
        );
        assert_eq!(
            p.accounts(Some("app_clone")).unwrap(),
            ("app".into(), "app_clone".into())
        );
        let single = plan(None, false);
        assert_eq!(single.accounts(Some("x_clone")).unwrap().0, "x_clone");
        let named = plan(Some("svc"), true);
        assert_eq!(named.accounts(None).unwrap().1, "svc_clone");
        assert!(plan(None, true).accounts(None).is_err());
    }
}
