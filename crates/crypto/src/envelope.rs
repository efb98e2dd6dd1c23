//! Envelope encryption of secret values: a fresh data key per version seals the value; the
//! KMS key version (a [`Kek`]) wraps the data key. Both layers use the same AAD, which binds
//! account id, secret name and version id so sealed rows cannot be swapped.

use crate::aead::AeadKey;
use crate::secret_bytes::{KeyMaterial, SecretBytes};
use crate::CryptoError;

/// An unwrapped KMS key version, able to wrap and unwrap data keys.
pub struct Kek(AeadKey);

/// A sealed secret value: the wrapped data key and the ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub wrapped_key: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl Kek {
    /// Makes a key-encryption key from unwrapped KMS key material (Aliyun_AES_256).
    pub fn new(material: &KeyMaterial) -> Result<Self, CryptoError> {
        AeadKey::new(material).map(Self)
    }

    /// An Aliyun_SM4 key-encryption key (SM4-GCM). Data keys under it stay AES-256-GCM: the
    /// key spec governs what the KMS key itself encrypts.
    pub fn new_sm4(material: &KeyMaterial) -> Result<Self, CryptoError> {
        AeadKey::new_sm4(material).map(Self)
    }

    /// Seals `plaintext` under a fresh data key.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, CryptoError> {
        let data_key = KeyMaterial::generate()?;
        let ciphertext = AeadKey::new(&data_key)?.seal(plaintext, aad)?;
        let wrapped_key = self.0.seal(data_key.expose_secret(), aad)?;
        Ok(Sealed {
            wrapped_key,
            ciphertext,
        })
    }

    /// Encrypts `plaintext` directly under this key version (Encrypt, GenerateDataKey).
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.0.seal(plaintext, aad)
    }

    /// Decrypts a blob made by [`Kek::encrypt`] with the same `aad`.
    pub fn decrypt(&self, blob: &[u8], aad: &[u8]) -> Result<SecretBytes, CryptoError> {
        self.0.open(blob, aad)
    }

    /// Opens a sealed value.
    pub fn open(
        &self,
        wrapped_key: &[u8],
        ciphertext: &[u8],
        aad: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        let dk = self.0.open(wrapped_key, aad)?;
        let data_key = KeyMaterial::from_slice(dk.expose_secret()).ok_or(CryptoError::Open)?;
        AeadKey::new(&data_key)?.open(ciphertext, aad)
    }
}

/// The AAD of a secret version: `openkms:secret:v1\0<account>\0<name>\0<version>`.
/// Lengths are implied by the NUL separators, which none of the three values may contain.
pub fn secret_aad(account_id: &str, secret_name: &str, version_id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(24 + account_id.len() + secret_name.len() + version_id.len());
    aad.extend_from_slice(b"openkms:secret:v1\0");
    aad.extend_from_slice(account_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(secret_name.as_bytes());
    aad.push(0);
    aad.extend_from_slice(version_id.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_value_opens_only_with_its_own_name_and_version() {
        let kek = Kek::new(&KeyMaterial::generate().unwrap()).unwrap();
        let aad = secret_aad("1234567890123456", "db/password", "v1");
        let sealed = kek.seal(b"s3cr3t", &aad).unwrap();
        assert!(!sealed.ciphertext.windows(6).any(|w| w == b"s3cr3t"));
        assert_eq!(
            kek.open(&sealed.wrapped_key, &sealed.ciphertext, &aad)
                .unwrap()
                .expose_secret(),
            b"s3cr3t"
        );
        let other = secret_aad("1234567890123456", "db/password", "v2");
        assert!(kek
            .open(&sealed.wrapped_key, &sealed.ciphertext, &other)
            .is_err());
        let other_kek = Kek::new(&KeyMaterial::generate().unwrap()).unwrap();
        assert!(other_kek
            .open(&sealed.wrapped_key, &sealed.ciphertext, &aad)
            .is_err());
    }
}
