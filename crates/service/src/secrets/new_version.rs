//! A new secret version, as CreateSecret and PutSecretValue both receive and seal it.

use openkms_crypto::envelope::secret_aad;
use openkms_crypto::Kek;
use openkms_domain::{SecretDataType, SecretName, VersionId};
use openkms_store::{KeyRecord, VersionRecord};

use crate::{Error, Service};

/// VersionId, SecretData and SecretDataType as received.
/// Deliberately not `Debug`: it carries plaintext.
#[derive(Default, Clone, Copy)]
pub struct VersionInput<'a> {
    pub version_id: &'a str,
    pub secret_data: &'a str,
    /// `text` when absent.
    pub secret_data_type: Option<&'a str>,
}

/// A new version's id and data type, checked; the data is still the caller's.
pub(crate) struct NewVersion<'a> {
    pub(crate) id: VersionId,
    pub(crate) data: &'a str,
    pub(crate) data_type: SecretDataType,
}

impl<'a> VersionInput<'a> {
    /// Checks the id and the data type; the data itself is checked against the secret's type
    /// by the caller, which knows it.
    pub(crate) fn parse(self) -> Result<NewVersion<'a>, Error> {
        Ok(NewVersion {
            id: VersionId::parse(self.version_id)?,
            data: self.secret_data,
            data_type: SecretDataType::parse(self.secret_data_type.unwrap_or("text"))?,
        })
    }
}

impl Service {
    /// Seals a version of secret `name` under the primary version of its sealing key, bound to
    /// the account, the secret and the version id.
    pub(crate) fn seal_version(
        &self,
        name: &SecretName,
        version: &NewVersion<'_>,
        key: &KeyRecord,
        kek: &Kek,
        now: i64,
    ) -> Result<VersionRecord, Error> {
        let sealed = kek
            .seal(
                version.data.as_bytes(),
                &secret_aad(self.account_id(), name.as_str(), version.id.as_str()),
            )
            .map_err(|_| Error::internal("seal secret value"))?;
        Ok(VersionRecord {
            version_id: version.id.as_str().to_owned(),
            data_type: version.data_type,
            key_id: key.key_id.clone(),
            key_version_id: key.primary_version_id.clone(),
            wrapped_key: sealed.wrapped_key,
            ciphertext: sealed.ciphertext,
            created_at: now,
        })
    }
}
