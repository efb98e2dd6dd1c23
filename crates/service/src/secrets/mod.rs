//! Secret actions, one module each. Shared here: resolving a name or ARN, choosing the key that
//! seals a secret, and the views returned to the server.

mod batch_get;
mod create;
mod delete;
mod describe;
mod get_value;
mod list;
mod new_version;
mod policy;
mod put_value;
mod random_password;
mod restore;
mod rotation_policy;
mod update;
mod version_stage;
mod view;

pub use batch_get::{BatchEntry, MAX_BATCH_SECRETS};
pub(crate) use create::new_secret_name;
pub use create::{CreateSecretInput, CreatedSecret};
pub use delete::{DeleteMode, DeletedSecret};
pub use describe::{SecretDescription, VersionListing, VersionSummary};
pub use get_value::{GetSecretValueInput, SecretValue};
pub use list::{ListSecretsInput, SecretPage};
pub use new_version::VersionInput;
/// GetRandomPassword's parameters, as the domain's password rules take them.
pub use openkms_domain::PasswordRequest;
pub use put_value::{PutSecretValueInput, PutVersion};
pub use rotation_policy::RotationPolicyInput;
pub use update::UpdateSecretInput;
pub use version_stage::UpdateVersionStageInput;
pub use view::{RotationView, SecretView};

use std::sync::Arc;

use openkms_crypto::Kek;
use openkms_domain::secret::Rejection;
use openkms_domain::{parse_secret_ref, SecretName};
use openkms_store::{KeyRecord, Plan, SealingKeyRefusal, SecretRecord, SecretState, UpdateOutcome};

use crate::{Error, Service};

impl Service {
    /// Resolves `SecretName` given as a name or an ARN of this account and region (as
    /// `resolve_key` does for keys: an ARN of another region names a secret this server does
    /// not hold). A text that cannot name a secret names none: lookups answer not-found rather
    /// than a syntax error. Authorization resolves names through this same function.
    pub(crate) fn secret_name(&self, input: &str) -> Result<SecretName, Error> {
        let r = parse_secret_ref(input).map_err(|_| Error::SecretNotFound)?;
        if r.account_id().is_some_and(|a| a != self.account_id())
            || r.region().is_some_and(|g| g != self.region())
        {
            return Err(Error::SecretNotFound);
        }
        Ok(r.into_name())
    }

    /// The secret's record; pending deletion counts as found.
    pub(crate) async fn find_secret(&self, name: &SecretName) -> Result<Arc<SecretRecord>, Error> {
        self.store
            .secret(name.as_str())
            .await?
            .ok_or(Error::SecretNotFound)
    }

    /// Writes a change to a secret that is not pending deletion, as `plan` decides inside the
    /// transaction; maps the store's outcome to the API's errors.
    pub(crate) async fn change_active_secret(
        &self,
        name: &SecretName,
        plan: impl Fn(&SecretState) -> Plan + Send + Sync + 'static,
    ) -> Result<Option<Box<SecretRecord>>, Error> {
        let outcome = self
            .store
            .update_secret(
                name.as_str(),
                Box::new(move |state| {
                    if state.secret.planned_delete_at.is_some() {
                        return Err(Rejection::PendingDeletion);
                    }
                    plan(state)
                }),
            )
            .await?;
        match outcome {
            UpdateOutcome::Applied(rec) => Ok(rec),
            UpdateOutcome::NotFound => Err(Error::SecretNotFound),
            UpdateOutcome::Rejected(r) => Err(r.into()),
            UpdateOutcome::SealingKeyRefused(r) => Err(sealing_key_refused(r)),
        }
    }

    /// The key that seals a secret's versions: its EncryptionKeyId (an id, alias or ARN) or the
    /// service key, which must be an enabled symmetric key.
    pub(crate) async fn sealing_key(
        &self,
        key_id: Option<&str>,
    ) -> Result<(KeyRecord, Arc<Kek>), Error> {
        let key = match key_id {
            None => self
                .store
                .key(&self.meta.service_key_id)
                .await?
                .ok_or(Error::EncryptionKeyNotFound)?,
            Some(text) => match self.resolve_key(text).await {
                Err(Error::KeyNotFound) => return Err(Error::EncryptionKeyNotFound),
                other => other?,
            },
        };
        check_key_usable(&key)?;
        let kek = self.primary_kek(&key).await?;
        Ok((key, kek))
    }

    /// The key version that sealed a version, checking the key still may decrypt.
    async fn opening_key(&self, key_id: &str, version_id: &str) -> Result<Arc<Kek>, Error> {
        if key_id != self.meta.service_key_id {
            let key = self.store.key(key_id).await?.ok_or(Error::KeyNotFound)?;
            check_key_usable(&key)?;
        }
        self.kek(key_id, version_id).await
    }
}

/// The error for a sealing key found unusable inside the write's transaction: the same
/// answers as the check made before sealing.
pub(crate) fn sealing_key_refused(r: SealingKeyRefusal) -> Error {
    match r {
        SealingKeyRefusal::Gone => Error::EncryptionKeyNotFound,
        SealingKeyRefusal::State(r) => r.into(),
    }
}

fn check_key_usable(key: &KeyRecord) -> Result<(), Error> {
    // Every spec and usage a key record can hold is a symmetric encryption key's: the store
    // refuses a row with any other as corrupt.
    match key.key_state {
        openkms_domain::key::KeyState::Enabled => Ok(()),
        openkms_domain::key::KeyState::Disabled => Err(Error::KeyDisabled),
        openkms_domain::key::KeyState::PendingDeletion => Err(Error::KeyPendingDeletion),
    }
}
