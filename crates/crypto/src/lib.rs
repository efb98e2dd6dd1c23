//! openkms-crypto: the key hierarchy and everything that touches plaintext key material.
//!
//! Root of trust (a key file, or an AES key inside a PKCS#11 token) → KMS key version material → per-version data key → secret value, each layer
//! AES-256-GCM. Plaintext lives only in the zeroizing types of [`secret_bytes`]. Errors are
//! opaque: they never say why a decryption failed.

pub mod aead;
pub mod ciphertext_blob;
pub mod envelope;
pub mod pkcs11;
pub mod root_key;
pub mod root_of_trust;
pub mod secret_bytes;

pub use ciphertext_blob::{encrypt_aad, CiphertextBlob};
pub use envelope::{Kek, Sealed};
pub use root_key::{RootKey, RootKeyError};
pub use root_of_trust::{
    wrapped_by, FindError, RootFinder, RootKind, RootOfTrust, RootSet, UnwrapError,
};
pub use secret_bytes::{KeyMaterial, SecretBytes};

/// The one error of this crate's operations; deliberately says nothing about the cause.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("decryption failed")]
    Open,
    #[error("the system random source failed")]
    Random,
    #[error("the root of trust could not be reached")]
    Unavailable,
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}
