//! Encrypt, Decrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext. The key version's
//! material encrypts directly (AES-256-GCM); the AAD binds key id, key version id and the
//! canonical EncryptionContext; the CiphertextBlob names the key version so Decrypt needs no
//! KeyId. Every way a blob can fail to open is the one [`Error::InvalidCiphertext`].
//! DryRun checks the parameters and the key (Decrypt: the blob's key and its state) and then
//! answers `DryRunOperationError`, as GetSecretValue does.

use openkms_crypto::{encrypt_aad, CiphertextBlob, SecretBytes};
use openkms_domain::key::{check_usable, EncryptionContext};
use openkms_domain::ValidationError;
use openkms_store::KeyRecord;

use crate::{Caller, Error, Service};

/// Largest Plaintext of Encrypt, in bytes of data (kms-api.md §3.3: 6 KiB, unconfirmed).
pub const MAX_PLAINTEXT_BYTES: usize = 6 * 1024;

/// What Encrypt returns.
#[derive(Debug)]
pub struct Encrypted {
    pub key_id: String,
    pub key_version_id: String,
    /// Base64 text.
    pub ciphertext_blob: String,
}

/// What Decrypt returns; `plaintext` is base64 text in a zeroizing buffer.
#[derive(Debug)]
pub struct Decrypted {
    pub key_id: String,
    pub key_version_id: String,
    pub plaintext_base64: SecretBytes,
}

/// What GenerateDataKey* returns; `plaintext_base64` only for GenerateDataKey.
#[derive(Debug)]
pub struct DataKey {
    pub key_id: String,
    pub key_version_id: String,
    pub ciphertext_blob: String,
    pub plaintext_base64: Option<SecretBytes>,
}

/// Length of a generated data key: NumberOfBytes (1–1024) wins over KeySpec (AES_256 = 32,
/// AES_128 = 16; default AES_256).
#[derive(Debug, Clone, Copy)]
pub struct DataKeySpec(usize);

impl DataKeySpec {
    /// Reads KeySpec and NumberOfBytes.
    pub fn parse(key_spec: Option<&str>, number_of_bytes: Option<u64>) -> Result<Self, Error> {
        if let Some(n) = number_of_bytes {
            if !(1..=1024).contains(&n) {
                return Err(ValidationError::OutOfRange {
                    param: "NumberOfBytes",
                    min: "1",
                    max: "1024",
                }
                .into());
            }
            return Ok(Self(usize::try_from(n).unwrap_or(1024)));
        }
        match key_spec {
            None | Some("AES_256") => Ok(Self(32)),
            Some("AES_128") => Ok(Self(16)),
            Some(_) => Err(ValidationError::NotOneOf {
                param: "KeySpec",
                allowed: "AES_256, AES_128",
            }
            .into()),
        }
    }
}

impl Service {
    /// Encrypt: `plaintext_base64` is the caller's base64 text.
    pub async fn encrypt(
        &self,
        _c: &Caller,
        key_id: &str,
        plaintext_base64: &str,
        context: Option<&str>,
        dry_run: bool,
    ) -> Result<Encrypted, Error> {
        let context = EncryptionContext::parse(context)?;
        let plaintext = SecretBytes::from_base64(plaintext_base64).ok_or_else(|| {
            Error::from(ValidationError::invalid("Plaintext", "it must be base64"))
        })?;
        if plaintext.len() > MAX_PLAINTEXT_BYTES {
            return Err(ValidationError::TooLarge {
                param: "Plaintext",
                max: MAX_PLAINTEXT_BYTES,
            }
            .into());
        }
        let key = self.usable_key(key_id).await?;
        if dry_run {
            return Err(Error::DryRun);
        }
        let ciphertext_blob = self.seal_blob(&key, &plaintext, &context).await?;
        Ok(Encrypted {
            key_id: key.key_id,
            key_version_id: key.primary_version_id,
            ciphertext_blob,
        })
    }

    /// Decrypt: the blob names its key version; the key must be Enabled.
    pub async fn decrypt(
        &self,
        _c: &Caller,
        ciphertext_blob: &str,
        context: Option<&str>,
        dry_run: bool,
    ) -> Result<Decrypted, Error> {
        let context = EncryptionContext::parse(context)?;
        let blob = decode_blob(ciphertext_blob).ok_or(Error::InvalidCiphertext)?;
        // A blob naming an unknown key, or the service key, is simply not a valid blob.
        let key = match self.store.key(&blob.key_id).await? {
            Some(k) if k.creator != super::SERVICE_CREATOR => k,
            _ => return Err(Error::InvalidCiphertext),
        };
        check_usable(key.key_state)?;
        if dry_run {
            return Err(Error::DryRun);
        }
        let kek = match self
            .store
            .key_version(&blob.key_id, &blob.key_version_id)
            .await?
        {
            Some(_) => self.kek(&blob.key_id, &blob.key_version_id).await?,
            None => return Err(Error::InvalidCiphertext),
        };
        let aad = encrypt_aad(&blob.key_id, &blob.key_version_id, &context.canonical());
        let plaintext = kek
            .decrypt(&blob.sealed, &aad)
            .map_err(|_| Error::InvalidCiphertext)?;
        Ok(Decrypted {
            key_id: blob.key_id,
            key_version_id: blob.key_version_id,
            plaintext_base64: plaintext.to_base64(),
        })
    }

    /// GenerateDataKey (`with_plaintext`) or GenerateDataKeyWithoutPlaintext.
    pub async fn generate_data_key(
        &self,
        _c: &Caller,
        key_id: &str,
        spec: DataKeySpec,
        context: Option<&str>,
        with_plaintext: bool,
        dry_run: bool,
    ) -> Result<DataKey, Error> {
        let context = EncryptionContext::parse(context)?;
        let key = self.usable_key(key_id).await?;
        if dry_run {
            return Err(Error::DryRun);
        }
        let data_key =
            SecretBytes::random(spec.0).map_err(|_| Error::internal("generate data key"))?;
        let ciphertext_blob = self.seal_blob(&key, &data_key, &context).await?;
        Ok(DataKey {
            key_id: key.key_id,
            key_version_id: key.primary_version_id,
            ciphertext_blob,
            plaintext_base64: with_plaintext.then(|| data_key.to_base64()),
        })
    }

    async fn usable_key(&self, key_id: &str) -> Result<KeyRecord, Error> {
        let key = self.resolve_user_key(key_id).await?;
        check_usable(key.key_state)?;
        Ok(key)
    }

    async fn seal_blob(
        &self,
        key: &KeyRecord,
        plaintext: &SecretBytes,
        context: &EncryptionContext,
    ) -> Result<String, Error> {
        let kek = self.primary_kek(key).await?;
        let aad = encrypt_aad(&key.key_id, &key.primary_version_id, &context.canonical());
        let sealed = kek
            .encrypt(plaintext.expose_secret(), &aad)
            .map_err(|_| Error::internal("encrypt"))?;
        let wire = CiphertextBlob {
            key_id: key.key_id.clone(),
            key_version_id: key.primary_version_id.clone(),
            sealed,
        }
        .encode()
        .map_err(|_| Error::internal("encode ciphertext blob"))?;
        use base64::Engine;
        Ok(base64::engine::general_purpose::STANDARD.encode(wire))
    }
}

/// A CiphertextBlob parameter decoded, or `None` when it is not one. Decrypt and its
/// authorization both read the blob through this one function, so the key authorized is the
/// key that decrypts.
fn decode_blob(text: &str) -> Option<CiphertextBlob> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    CiphertextBlob::decode(&bytes).ok()
}

/// The key id a CiphertextBlob parameter names, for authorization.
pub(crate) fn blob_key_id(text: &str) -> Option<String> {
    decode_blob(text).map(|b| b.key_id)
}
