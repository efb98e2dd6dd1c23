//! AES-256-GCM (or SM4-GCM, for Aliyun_SM4 keys) with a random 96-bit nonce, in one
//! self-describing format: `0x01 || nonce(12) || ciphertext || tag(16)`. The leading byte lets
//! the format change later; which cipher a blob needs follows from the key that made it.

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, AesGcm, Nonce, Tag};
use ring::rand::{SecureRandom, SystemRandom};

use crate::secret_bytes::{KeyMaterial, SecretBytes};
use crate::CryptoError;

const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// An AEAD key ready for use: AES-256-GCM, or SM4-GCM for Aliyun_SM4 keys. RustCrypto's
/// `aes-gcm` and `sm4` with their `zeroize` features wipe the expanded key schedule and GHASH
/// key when this is dropped, so a key version evicted
/// from the keyring leaves no copy in memory (ring's keys are not wiped on drop).
pub struct AeadKey(Cipher);

/// SM4 (GB/T 32907) in GCM mode with a 96-bit nonce, as RFC 8998 uses it.
type Sm4Gcm = AesGcm<sm4::Sm4, U12>;

// Unboxed on purpose: one value per cached key version (inside an `Arc<Kek>`), so the size
// difference costs nothing, and the AES hot path keeps no extra indirection.
#[allow(clippy::large_enum_variant)]
enum Cipher {
    Aes256(Aes256Gcm),
    Sm4(Sm4Gcm),
}

/// Runs the same AEAD call on whichever cipher the key holds.
macro_rules! with_cipher {
    ($key:expr, $c:ident => $body:expr) => {
        match &$key.0 {
            Cipher::Aes256($c) => $body,
            Cipher::Sm4($c) => $body,
        }
    };
}

impl AeadKey {
    /// Expands key material into a usable AES-256-GCM key.
    pub fn new(material: &KeyMaterial) -> Result<Self, CryptoError> {
        Aes256Gcm::new_from_slice(material.expose_secret())
            .map(|c| Self(Cipher::Aes256(c)))
            .map_err(|_| CryptoError::Open)
    }

    /// An SM4-GCM key from the first 128 bits of the (256-bit, random) key material.
    pub fn new_sm4(material: &KeyMaterial) -> Result<Self, CryptoError> {
        let key = material
            .expose_secret()
            .get(..16)
            .ok_or(CryptoError::Open)?;
        Sm4Gcm::new_from_slice(key)
            .map(|c| Self(Cipher::Sm4(c)))
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
        let nonce = Nonce::from(nonce);
        let tag = with_cipher!(self, c => c.encrypt_inout_detached(&nonce, aad, body.into()))
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
        let inout = buf.as_mut_vec().as_mut_slice().into();
        with_cipher!(self, c => c.decrypt_inout_detached(&nonce, aad, inout, &tag))
            .map_err(|_| CryptoError::Open)?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn sm4_gcm_matches_the_rfc_8998_example() {
        // RFC 8998, appendix A.1 (SM4-GCM).
        let key = unhex("0123456789ABCDEFFEDCBA9876543210");
        let mut material = key.clone();
        material.extend_from_slice(&[0u8; 16]);
        let k = AeadKey::new_sm4(&KeyMaterial::from_slice(&material).unwrap()).unwrap();
        let nonce = unhex("00001234567800000000ABCD");
        let aad = unhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2");
        let plaintext = unhex(concat!(
            "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD",
            "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
        ));
        let expected_ct = unhex(concat!(
            "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735",
            "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
        ));
        let expected_tag = unhex("83DE3541E4C2B58177E065A9BF7B62EC");
        let mut blob = vec![FORMAT_V1];
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&expected_ct);
        blob.extend_from_slice(&expected_tag);
        assert_eq!(k.open(&blob, &aad).unwrap().expose_secret(), &plaintext[..]);
        // And the AES key made from the same material does not open it.
        let aes = AeadKey::new(&KeyMaterial::from_slice(&material).unwrap()).unwrap();
        assert!(aes.open(&blob, &aad).is_err());
    }

    #[test]
    fn sm4_seal_open_round_trips() {
        let k = AeadKey::new_sm4(&KeyMaterial::generate().unwrap()).unwrap();
        let blob = k.seal(b"secret", b"aad").unwrap();
        assert_eq!(k.open(&blob, b"aad").unwrap().expose_secret(), b"secret");
        assert!(k.open(&blob, b"other").is_err());
    }

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
