//! AES-256-GCM with a random 96-bit nonce, in one self-describing format:
//! `0x01 || nonce(12) || ciphertext || tag(16)`. The leading byte lets the format change later.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

use crate::secret_bytes::{KeyMaterial, SecretBytes};
use crate::CryptoError;

const FORMAT_V1: u8 = 1;
const TAG_LEN: usize = 16;

/// An AES-256-GCM key ready for use.
pub struct AeadKey(LessSafeKey);

impl AeadKey {
    /// Expands key material into a usable key.
    pub fn new(material: &KeyMaterial) -> Result<Self, CryptoError> {
        let unbound = UnboundKey::new(&AES_256_GCM, material.expose_secret())
            .map_err(|_| CryptoError::Open)?;
        Ok(Self(LessSafeKey::new(unbound)))
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
        let mut body = out.split_off(1 + NONCE_LEN);
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut body,
            )
            .map_err(|_| CryptoError::Random)?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Decrypts a blob made by [`AeadKey::seal`] with the same `aad`.
    pub fn open(&self, blob: &[u8], aad: &[u8]) -> Result<SecretBytes, CryptoError> {
        let (&format, rest) = blob.split_first().ok_or(CryptoError::Open)?;
        if format != FORMAT_V1 || rest.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Open);
        }
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Open)?;
        let mut buf = SecretBytes::new(ct.to_vec());
        let len = {
            // Decrypt inside the zeroizing buffer so no plaintext copy escapes it.
            let inner = secret_vec_mut(&mut buf);
            let plain = self
                .0
                .open_in_place(nonce, Aad::from(aad), inner)
                .map_err(|_| CryptoError::Open)?;
            plain.len()
        };
        Ok(truncate(buf, len))
    }
}

fn secret_vec_mut(s: &mut SecretBytes) -> &mut Vec<u8> {
    s.as_mut_vec()
}

fn truncate(mut s: SecretBytes, len: usize) -> SecretBytes {
    s.as_mut_vec().truncate(len);
    s
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
    fn short_or_unknown_format_blobs_fail_without_panic() {
        let key = AeadKey::new(&KeyMaterial::generate().unwrap()).unwrap();
        for blob in [&[][..], &[1u8][..], &[2u8; 40][..], &[1u8; 28][..]] {
            assert_eq!(key.open(blob, b"").unwrap_err(), CryptoError::Open);
        }
    }
}
