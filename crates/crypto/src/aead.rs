//! AES-256-GCM with a random 96-bit nonce, in one self-describing format:
//! `0x01 || nonce(12) || ciphertext || tag(16)`. The leading byte lets the format change later.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use ring::rand::{SecureRandom, SystemRandom};

use crate::secret_bytes::{KeyMaterial, SecretBytes};
use crate::CryptoError;

const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// An AES-256-GCM key ready for use. RustCrypto's `aes-gcm` with its `zeroize` feature wipes
/// the expanded key schedule and GHASH key when this is dropped, so a key version evicted
/// from the keyring leaves no copy in memory (ring's keys are not wiped on drop).
pub struct AeadKey(Aes256Gcm);

impl AeadKey {
    /// Expands key material into a usable key.
    pub fn new(material: &KeyMaterial) -> Result<Self, CryptoError> {
        Aes256Gcm::new_from_slice(material.expose_secret())
            .map(Self)
            .map_err(|_| CryptoError::Open)
    }

    /// Encrypts `plaintext` bound to `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| CryptoError::Random)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let body = out.get_mut(1 + NONCE_LEN..).ok_or(CryptoError::Random)?;
        let tag = self
            .0
            .encrypt_inout_detached(&Nonce::from(nonce), aad, body.into())
            .map_err(|_| CryptoError::Random)?;
        out.extend_from_slice(tag.as_slice());
        Ok(out)
    }

    /// Decrypts a blob made by [`AeadKey::seal`] with the same `aad`.
    pub fn open(&self, blob: &[u8], aad: &[u8]) -> Result<SecretBytes, CryptoError> {
        let (&format, rest) = blob.split_first().ok_or(CryptoError::Open)?;
        if format != FORMAT_V1 || rest.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Open);
        }
        let (nonce, rest) = rest.split_at(NONCE_LEN);
        let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
        let nonce = Nonce::try_from(nonce).map_err(|_| CryptoError::Open)?;
        let tag = Tag::try_from(tag).map_err(|_| CryptoError::Open)?;
        // Decrypt inside the zeroizing buffer so no plaintext copy escapes it.
        let mut buf = SecretBytes::new(ct.to_vec());
        self.0
            .decrypt_inout_detached(&nonce, aad, buf.as_mut_vec().as_mut_slice().into(), &tag)
            .map_err(|_| CryptoError::Open)?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn seal_open_round_trips_and_tampering_fails(
            data in proptest::collection::vec(any::<u8>(), 0..256),
            aad in proptest::collection::vec(any::<u8>(), 0..32),
            flip in any::<prop::sample::Index>(),
        ) {
            let key = AeadKey::new(&KeyMaterial::generate().unwrap()).unwrap();
            let blob = key.seal(&data, &aad).unwrap();
            let opened = key.open(&blob, &aad).unwrap();
            prop_assert_eq!(opened.expose_secret(), &data[..]);
            let mut bad = blob.clone();
            let i = flip.index(bad.len());
            bad[i] ^= 0x80;
            prop_assert!(key.open(&bad, &aad).is_err());
            let mut other_aad = aad.clone();
            other_aad.push(0);
            prop_assert!(key.open(&blob, &other_aad).is_err());
        }
    }

    #[test]
    fn the_key_schedule_is_wiped_on_drop() {
        fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        wiped_on_drop::<Aes256Gcm>();
        wiped_on_drop::<KeyMaterial>();
    }

    #[test]
    fn short_or_unknown_format_blobs_fail_without_panic() {
        let key = AeadKey::new(&KeyMaterial::generate().unwrap()).unwrap();
        for blob in [&[][..], &[1u8][..], &[2u8; 40][..], &[1u8; 28][..]] {
            assert_eq!(key.open(blob, b"").unwrap_err(), CryptoError::Open);
        }
    }
}
