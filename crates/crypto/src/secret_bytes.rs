//! Types that hold secret bytes: zeroized on drop, never printed, read only through
//! `expose_secret()` so every use is easy to find in review.

use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::CryptoError;

/// Plaintext of any length: a secret value, an access key secret.
#[derive(Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of the bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Copies from a slice.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// The secret bytes.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// Mutable access for in-place decryption inside this crate only.
    pub(crate) fn as_mut_vec(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }

    /// `len` fresh random bytes from the OS CSPRNG (data keys of GenerateDataKey).
    pub fn random(len: usize) -> Result<Self, CryptoError> {
        let mut v = vec![0u8; len];
        SystemRandom::new()
            .fill(&mut v)
            .map_err(|_| CryptoError::Random)?;
        Ok(Self(v))
    }

    /// Decodes standard base64 straight into a zeroizing buffer; `None` if it is not base64.
    pub fn from_base64(text: &str) -> Option<Self> {
        use base64::Engine;
        let engine = &base64::engine::general_purpose::STANDARD;
        let mut buf = Self(vec![0u8; text.len() / 4 * 3 + 3]);
        let n = engine.decode_slice(text.as_bytes(), &mut buf.0).ok()?;
        buf.0.truncate(n);
        Some(buf)
    }

    /// The bytes as standard base64 text, itself held in a zeroizing buffer.
    pub fn to_base64(&self) -> Self {
        use base64::Engine;
        let engine = &base64::engine::general_purpose::STANDARD;
        let mut out = Self(vec![0u8; self.0.len().div_ceil(3) * 4]);
        // The buffer is exactly the encoded length, so encoding cannot run out of room.
        let n = engine.encode_slice(&self.0, &mut out.0).unwrap_or(0);
        out.0.truncate(n);
        out
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[redacted; {} bytes]", self.0.len())
    }
}

/// 256 bits of key material (root key, KMS key version, data key).
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct KeyMaterial([u8; 32]);

impl KeyMaterial {
    /// Fresh material from the OS CSPRNG.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut k = [0u8; 32];
        SystemRandom::new()
            .fill(&mut k)
            .map_err(|_| CryptoError::Random)?;
        Ok(Self(k))
    }

    /// Builds material from exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    /// The key bytes.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted; 32 bytes]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_and_rejects_non_base64() {
        for n in 0..20 {
            let s = SecretBytes::random(n).unwrap();
            let text = s.to_base64();
            let back = SecretBytes::from_base64(std::str::from_utf8(text.expose_secret()).unwrap());
            assert_eq!(back.unwrap().expose_secret(), s.expose_secret());
        }
        assert_eq!(
            SecretBytes::from_slice(b"hello")
                .to_base64()
                .expose_secret(),
            b"aGVsbG8="
        );
        assert!(SecretBytes::from_base64("not base64!").is_none());
        assert!(SecretBytes::from_base64("aGVsbG8").is_none());
    }

    #[test]
    fn debug_never_prints_the_bytes() {
        let s = SecretBytes::from_slice(b"hunter2");
        assert_eq!(format!("{s:?}"), "[redacted; 7 bytes]");
        let k = KeyMaterial::generate().unwrap();
        assert_eq!(format!("{k:?}"), "[redacted; 32 bytes]");
    }

    #[test]
    fn generated_keys_differ() {
        let a = KeyMaterial::generate().unwrap();
        let b = KeyMaterial::generate().unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
    }
}
