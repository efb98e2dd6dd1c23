//! The CiphertextBlob of Encrypt and GenerateDataKey*: self-describing, so Decrypt needs no
//! KeyId. Layout: `0x01 || len(key id) u8 || key id || len(version id) u8 || version id ||`
//! the AES-256-GCM blob of [`crate::aead`]. The key id and version id travel in clear but are
//! also bound into the AAD ([`encrypt_aad`]), so changing them makes decryption fail.

use crate::CryptoError;

const FORMAT_V1: u8 = 1;

/// A decoded CiphertextBlob: which key version sealed it, and the sealed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiphertextBlob {
    pub key_id: String,
    pub key_version_id: String,
    pub sealed: Vec<u8>,
}

impl CiphertextBlob {
    /// The wire bytes (before base64). Ids longer than 255 bytes cannot be encoded.
    pub fn encode(&self) -> Result<Vec<u8>, CryptoError> {
        let kid = u8::try_from(self.key_id.len()).map_err(|_| CryptoError::Open)?;
        let vid = u8::try_from(self.key_version_id.len()).map_err(|_| CryptoError::Open)?;
        let mut out = Vec::with_capacity(
            3 + self.key_id.len() + self.key_version_id.len() + self.sealed.len(),
        );
        out.push(FORMAT_V1);
        out.push(kid);
        out.extend_from_slice(self.key_id.as_bytes());
        out.push(vid);
        out.extend_from_slice(self.key_version_id.as_bytes());
        out.extend_from_slice(&self.sealed);
        Ok(out)
    }

    /// Reads wire bytes; any malformation is the one opaque error.
    pub fn decode(bytes: &[u8]) -> Result<Self, CryptoError> {
        let (&format, rest) = bytes.split_first().ok_or(CryptoError::Open)?;
        if format != FORMAT_V1 {
            return Err(CryptoError::Open);
        }
        let (key_id, rest) = take_str(rest)?;
        let (key_version_id, sealed) = take_str(rest)?;
        if key_id.is_empty() || key_version_id.is_empty() || sealed.is_empty() {
            return Err(CryptoError::Open);
        }
        Ok(Self {
            key_id,
            key_version_id,
            sealed: sealed.to_vec(),
        })
    }
}

/// The AAD of Encrypt / GenerateDataKey*: binds the key id, key version id and the canonical
/// EncryptionContext: `openkms:encrypt:v1\0<key id>\0<version id>\0<context>`.
pub fn encrypt_aad(key_id: &str, key_version_id: &str, context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(20 + key_id.len() + key_version_id.len() + context.len());
    aad.extend_from_slice(b"openkms:encrypt:v1\0");
    aad.extend_from_slice(key_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(key_version_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(context);
    aad
}

fn take_str(bytes: &[u8]) -> Result<(String, &[u8]), CryptoError> {
    let (&len, rest) = bytes.split_first().ok_or(CryptoError::Open)?;
    let len = usize::from(len);
    if rest.len() < len {
        return Err(CryptoError::Open);
    }
    let (s, rest) = rest.split_at(len);
    let s = std::str::from_utf8(s).map_err(|_| CryptoError::Open)?;
    if s.contains('\0') {
        return Err(CryptoError::Open);
    }
    Ok((s.to_owned(), rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Kek, KeyMaterial};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn blob_round_trips(
            key_id in "[a-z0-9-]{1,40}",
            version in "[a-f0-9-]{1,40}",
            sealed in proptest::collection::vec(any::<u8>(), 1..128),
        ) {
            let b = CiphertextBlob { key_id, key_version_id: version, sealed };
            prop_assert_eq!(CiphertextBlob::decode(&b.encode().unwrap()).unwrap(), b);
        }

        #[test]
        fn any_changed_byte_fails_to_decrypt(
            data in proptest::collection::vec(any::<u8>(), 0..64),
            flip in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let kek = Kek::new(&KeyMaterial::generate().unwrap()).unwrap();
            let aad = encrypt_aad("key-a", "v-1", b"{}");
            let wire = CiphertextBlob {
                key_id: "key-a".into(),
                key_version_id: "v-1".into(),
                sealed: kek.encrypt(&data, &aad).unwrap(),
            }
            .encode()
            .unwrap();
            let mut bad = wire.clone();
            let i = flip.index(bad.len());
            bad[i] ^= 1 << bit;
            // Either the header no longer decodes, or it names other ids (other AAD), or the
            // AEAD tag fails: never the plaintext.
            let opened = CiphertextBlob::decode(&bad).and_then(|b| {
                kek.decrypt(&b.sealed, &encrypt_aad(&b.key_id, &b.key_version_id, b"{}"))
            });
            prop_assert!(opened.is_err());
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = CiphertextBlob::decode(&bytes);
        }
    }

    #[test]
    fn wrong_context_fails() {
        let kek = Kek::new(&KeyMaterial::generate().unwrap()).unwrap();
        let sealed = kek
            .encrypt(b"x", &encrypt_aad("k", "v", br#"{"a":"1"}"#))
            .unwrap();
        assert!(kek
            .decrypt(&sealed, &encrypt_aad("k", "v", br#"{"a":"2"}"#))
            .is_err());
        assert_eq!(
            kek.decrypt(&sealed, &encrypt_aad("k", "v", br#"{"a":"1"}"#))
                .unwrap()
                .expose_secret(),
            b"x"
        );
    }
}
