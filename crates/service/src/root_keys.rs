//! The account's root access keys: what a valid one looks like, and the operator's explicit
//! management of them (`openkms root-key`) once the store is initialised.
//!
//! `OPENKMS_ROOT_ACCESS_KEY_ID/SECRET` only choose the key created at initialisation; on a later
//! start they must name an existing root key with the same secret, so a forgotten variable can
//! never add a second, permanent, unrestricted key.

use openkms_domain::AccessKeyStatus;
use openkms_store::RootKeyChange;

use crate::iam::{AccessKeyView, CreatedAccessKey};
use crate::{Error, Service};

/// Shortest root access key secret: Alibaba issues 30 characters.
pub const MIN_SECRET_LEN: usize = 30;
/// Longest accepted id or secret.
const MAX_LEN: usize = 128;

/// Why a root access key is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RootKeyRule {
    #[error("the AccessKeyId must be 1 to 128 letters, digits, '-' or '_'")]
    IdShape,
    #[error("the AccessKeyId must not begin with \"STS.\": that prefix marks temporary credentials, and such a key could never sign in")]
    StsPrefix,
    #[error("the AccessKeySecret must be 30 to 128 printable characters, as Alibaba issues them")]
    SecretShape,
}

/// Checks a root access key chosen by the operator.
pub fn validate(id: &str, secret: &[u8]) -> Result<(), RootKeyRule> {
    if id.len() >= 4 && id.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("STS.")) {
        return Err(RootKeyRule::StsPrefix);
    }
    if id.is_empty()
        || id.len() > MAX_LEN
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(RootKeyRule::IdShape);
    }
    if !(MIN_SECRET_LEN..=MAX_LEN).contains(&secret.len())
        || !secret.iter().all(u8::is_ascii_graphic)
    {
        return Err(RootKeyRule::SecretShape);
    }
    Ok(())
}

impl Service {
    /// The root access keys, oldest first.
    pub async fn root_access_keys(&self) -> Result<Vec<AccessKeyView>, Error> {
        let keys = self.store.root_access_keys().await?;
        Ok(keys.iter().map(AccessKeyView::from).collect())
    }

    /// A new root access key, generated; its secret is returned once.
    pub async fn create_root_access_key(&self) -> Result<CreatedAccessKey, Error> {
        let new = self.new_access_key("root".into()).await?;
        self.store.insert_access_key(new.record.clone()).await?;
        Ok(new.created())
    }

    /// Enables (`Some(Active)`), disables (`Some(Inactive)`) or deletes (`None`) a root
    /// access key. The last active one cannot be disabled or deleted.
    pub async fn change_root_access_key(
        &self,
        id: &str,
        status: Option<AccessKeyStatus>,
    ) -> Result<RootKeyChange, Error> {
        let outcome = self.store.change_root_access_key(id, status).await?;
        self.forget_shared_caches();
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_keys_are_refused_when_alibaba_would_never_issue_them() {
        let good = b"abcdefghijklmnopqrstuvwxyz0123";
        assert_eq!(validate("LTAI5tAbc", good), Ok(()));
        assert_eq!(validate("STS.abc", good), Err(RootKeyRule::StsPrefix));
        assert_eq!(validate("sts.abc", good), Err(RootKeyRule::StsPrefix));
        assert_eq!(validate("", good), Err(RootKeyRule::IdShape));
        assert_eq!(validate("a b", good), Err(RootKeyRule::IdShape));
        assert_eq!(validate("ak", b"x"), Err(RootKeyRule::SecretShape));
        assert_eq!(
            validate("ak", &good[..29]),
            Err(RootKeyRule::SecretShape),
            "29 characters is one short"
        );
        assert_eq!(
            validate("ak", b"abcdefghijklmnopqrstuvwxyz 0123"),
            Err(RootKeyRule::SecretShape)
        );
    }
}
