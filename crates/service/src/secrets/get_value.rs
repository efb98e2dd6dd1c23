//! GetSecretValue: the hot read. Select the version by id and/or stage, open its envelope and
//! hand the plaintext to the server, which writes it into the reply body.

use openkms_crypto::envelope::secret_aad;
use openkms_crypto::SecretBytes;
use openkms_domain::stages::CURRENT;
use std::sync::Arc;

use openkms_store::{SecretRecord, VersionRecord};

use super::view::{is_managed, RotationView};
use crate::{Caller, Error, Service};

/// GetSecretValue parameters.
#[derive(Debug, Default)]
pub struct GetSecretValueInput<'a> {
    pub secret_name: &'a str,
    pub version_id: Option<&'a str>,
    pub version_stage: Option<&'a str>,
    pub fetch_extended_config: bool,
    pub dry_run: bool,
    /// The secret authorization checked (`Authorized::secret_id`): a secret re-created under
    /// the same name since then is not the one whose key was checked, and is not read.
    pub authorized_secret: Option<i64>,
}

/// An opened secret version: the plaintext and what GetSecretValue reports beside it. The
/// rows stay shared with the store's cache (this is the hot read, so nothing is copied) and
/// private: the server reads them through the methods below.
pub struct SecretValue {
    secret: Arc<SecretRecord>,
    version: Arc<VersionRecord>,
    pub data: SecretBytes,
    pub stages: Vec<String>,
    /// Whether the reply carries ExtendedConfig: managed types, when asked for.
    with_extended_config: bool,
}

impl SecretValue {
    pub fn secret_name(&self) -> &str {
        &self.secret.name
    }

    /// The type's API name.
    pub fn secret_type(&self) -> &str {
        self.secret.secret_type.wire_name()
    }

    pub fn version_id(&self) -> &str {
        &self.version.version_id
    }

    /// When the version was created.
    pub fn created_at(&self) -> i64 {
        self.version.created_at
    }

    /// The version's SecretDataType (`text` or `binary`).
    pub fn data_type(&self) -> &str {
        self.version.data_type.wire_name()
    }

    pub fn rotation(&self) -> RotationView {
        RotationView::from(&self.secret.rotation)
    }

    /// The ExtendedConfig to return, if any.
    pub fn extended_config(&self) -> Option<&str> {
        self.with_extended_config
            .then_some(self.secret.extended_config.as_deref())
            .flatten()
    }
}

impl Service {
    /// GetSecretValue.
    pub async fn get_secret_value(
        &self,
        _caller: &Caller,
        input: GetSecretValueInput<'_>,
    ) -> Result<SecretValue, Error> {
        let name = self.secret_name(input.secret_name)?;
        let secret = self.find_secret(&name).await?;
        check_same_secret(&secret, input.authorized_secret)?;
        if secret.planned_delete_at.is_some() {
            return Err(Error::PendingDeletion);
        }
        let version_id = match (input.version_id, input.version_stage) {
            (Some(v), Some(stage)) => {
                if secret.stages.version_of(stage) != Some(v) {
                    return Err(Error::VersionStageMismatch {
                        version_id: v.to_owned(),
                        stage: stage.to_owned(),
                    });
                }
                v
            }
            (Some(v), None) => v,
            (None, stage) => {
                let stage = stage.unwrap_or(CURRENT);
                secret
                    .stages
                    .version_of(stage)
                    .ok_or_else(|| Error::StageNotFound {
                        stage: stage.to_owned(),
                    })?
            }
        };
        let version = self
            .store
            .version(&secret, version_id)
            .await?
            .ok_or(Error::VersionNotFound)?;
        let data = self.open_version(&secret.name, &version).await?;
        if input.dry_run {
            return Err(Error::DryRun);
        }
        let stages = secret.stages.labels_of(&version.version_id);
        let with_extended_config = input.fetch_extended_config && is_managed(&secret);
        Ok(SecretValue {
            secret,
            version,
            data,
            stages,
            with_extended_config,
        })
    }

    /// Opens one sealed version of a secret.
    pub(crate) async fn open_version(
        &self,
        secret_name: &str,
        version: &VersionRecord,
    ) -> Result<SecretBytes, Error> {
        let kek = self
            .opening_key(&version.key_id, &version.key_version_id)
            .await?;
        kek.open(
            &version.wrapped_key,
            &version.ciphertext,
            &secret_aad(self.account_id(), secret_name, &version.version_id),
        )
        .map_err(|_| Error::internal("open secret version"))
    }
}

/// Refuses a secret other than the one authorization checked (deleted and re-created under
/// the same name in between, perhaps under another key): for the caller, the secret it was
/// allowed to use no longer exists.
pub(crate) fn check_same_secret(
    secret: &SecretRecord,
    authorized: Option<i64>,
) -> Result<(), Error> {
    match authorized {
        Some(id) if id != secret.id => Err(Error::SecretNotFound),
        _ => Ok(()),
    }
}
