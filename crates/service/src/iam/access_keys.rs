//! A RAM user's access keys: CreateAccessKey, UpdateAccessKey, DeleteAccessKey,
//! ListAccessKeys.
//!
//! Access key secrets are sealed by the active root of trust (the root key file or an HSM key)
//! exactly like the root access keys', and returned once, by CreateAccessKey. Every status
//! change or deletion drops the key from the authenticator's cache in the same call, so the
//! key's next request is refused.

use openkms_domain::AccessKeyStatus;
use openkms_store::{AccessKeyRecord, ChangeAccessKeyOutcome, CreateAccessKeyOutcome};
use zeroize::Zeroizing;

use super::existing_user;
use crate::{access_key_aad, ids, Caller, Error, Service};

/// Access keys one user may hold (RAM's documented limit).
pub const MAX_ACCESS_KEYS_PER_USER: u32 = 2;

/// An access key as the RAM replies show it; never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyView {
    pub access_key_id: String,
    /// `Active` or `Inactive`.
    pub status: &'static str,
    pub created_at: i64,
}

impl From<&AccessKeyRecord> for AccessKeyView {
    fn from(k: &AccessKeyRecord) -> Self {
        Self {
            access_key_id: k.access_key_id.clone(),
            status: k.status.as_str(),
            created_at: k.created_at,
        }
    }
}

/// A newly created access key: its secret is shown this once, and wiped from memory when
/// this value is dropped.
pub struct CreatedAccessKey {
    pub key: AccessKeyView,
    pub secret: Zeroizing<String>,
}

/// A new access key before it is stored: the row (secret sealed) and the secret itself.
pub(crate) struct NewAccessKey {
    pub record: AccessKeyRecord,
    pub secret: Zeroizing<String>,
}

impl NewAccessKey {
    /// What the caller may see once the row is stored.
    pub(crate) fn created(self) -> CreatedAccessKey {
        CreatedAccessKey {
            key: AccessKeyView::from(&self.record),
            secret: self.secret,
        }
    }
}

impl Service {
    /// CreateAccessKey for `user_name`.
    pub async fn create_access_key(
        &self,
        caller: &Caller,
        user_name: &str,
    ) -> Result<CreatedAccessKey, Error> {
        self.require_root(caller, "CreateAccessKey", &format!("user/{user_name}"))?;
        let user = existing_user(user_name)?;
        let new = self.new_access_key(format!("user/{user_name}")).await?;
        match self
            .store
            .create_user_access_key(&user, new.record.clone(), MAX_ACCESS_KEYS_PER_USER)
            .await?
        {
            CreateAccessKeyOutcome::Created => Ok(new.created()),
            CreateAccessKeyOutcome::UserNotFound => Err(Error::UserNotFound {
                name: user_name.to_owned(),
            }),
            CreateAccessKeyOutcome::LimitReached { limit } => Err(Error::AccessKeyLimit { limit }),
        }
    }

    /// A new active access key for `principal`, its secret sealed by the active root of trust;
    /// not stored yet.
    pub(crate) async fn new_access_key(&self, principal: String) -> Result<NewAccessKey, Error> {
        let id = ids::access_key_id()?;
        let secret = Zeroizing::new(ids::access_key_secret()?);
        let (sealed_secret, root_id) = self
            .roots
            .seal(self.store.as_ref(), secret.as_bytes(), &access_key_aad(&id))
            .await
            .map_err(|e| Error::root("seal access key secret", e))?;
        let record = AccessKeyRecord {
            sealed_secret,
            root_id,
            access_key_id: id,
            principal,
            status: AccessKeyStatus::Active,
            created_at: self.now(),
        };
        Ok(NewAccessKey { record, secret })
    }

    /// UpdateAccessKey: `Active` or `Inactive`.
    pub async fn update_access_key(
        &self,
        caller: &Caller,
        user_name: &str,
        access_key_id: &str,
        status: &str,
    ) -> Result<(), Error> {
        self.require_root(caller, "UpdateAccessKey", &format!("user/{user_name}"))?;
        let status = AccessKeyStatus::parse(status)?;
        let user = existing_user(user_name)?;
        let outcome = self
            .store
            .set_access_key_status(&user, access_key_id, status)
            .await?;
        self.forget_access_keys(|id, _| id == access_key_id);
        key_changed(outcome, user_name, access_key_id)
    }

    /// DeleteAccessKey.
    pub async fn delete_access_key(
        &self,
        caller: &Caller,
        user_name: &str,
        access_key_id: &str,
    ) -> Result<(), Error> {
        self.require_root(caller, "DeleteAccessKey", &format!("user/{user_name}"))?;
        let user = existing_user(user_name)?;
        let outcome = self
            .store
            .delete_user_access_key(&user, access_key_id)
            .await?;
        self.forget_access_keys(|id, _| id == access_key_id);
        key_changed(outcome, user_name, access_key_id)
    }

    /// ListAccessKeys of a user.
    pub async fn list_access_keys(
        &self,
        caller: &Caller,
        user_name: &str,
    ) -> Result<Vec<AccessKeyView>, Error> {
        self.require_root(caller, "ListAccessKeys", &format!("user/{user_name}"))?;
        let keys = self
            .store
            .user_access_keys(&existing_user(user_name)?)
            .await?
            .ok_or_else(|| Error::UserNotFound {
                name: user_name.to_owned(),
            })?;
        Ok(keys.iter().map(AccessKeyView::from).collect())
    }
}

fn key_changed(
    outcome: ChangeAccessKeyOutcome,
    user_name: &str,
    access_key_id: &str,
) -> Result<(), Error> {
    match outcome {
        ChangeAccessKeyOutcome::Changed => Ok(()),
        ChangeAccessKeyOutcome::UserNotFound => Err(Error::UserNotFound {
            name: user_name.to_owned(),
        }),
        ChangeAccessKeyOutcome::KeyNotFound => Err(Error::AccessKeyNotFound {
            id: access_key_id.to_owned(),
        }),
    }
}
