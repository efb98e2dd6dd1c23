//! The pluggable root of trust: whatever wraps KMS key material and seals access key secrets.
//! Two kinds exist: a key file ([`crate::RootKey`], the development default) and an AES key
//! inside a PKCS#11 token ([`crate::pkcs11::Pkcs11Root`]) that never leaves it.
//!
//! Every wrap is self-describing: `0x02 || id length (1 byte) || root id || inner`, where
//! `inner` is the root's own AES-256-GCM format. The id says which root made it, so one store
//! holds wraps from several roots at once: old and new during `openkms rekey`, file and HSM
//! after a migration. A blob that starts with `0x01` predates this header and was made by the
//! store's original root (its id is the fingerprint recorded at initialisation).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::pkcs11::{Pkcs11Error, Pkcs11Token};
use crate::root_key::{RootKey, RootKeyError};

use crate::secret_bytes::{KeyMaterial, SecretBytes};
use crate::CryptoError;

const FORMAT_ROOT_TAGGED: u8 = 2;
const FORMAT_LEGACY: u8 = 1;

/// Which kind of root this is; stored with each root so a process can find it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootKind {
    /// A root key file; located by its path.
    File,
    /// An AES key in a PKCS#11 token; located by its label in the configured token.
    Pkcs11,
}

impl RootKind {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Pkcs11 => "pkcs11",
        }
    }

    /// Reads a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "file" => Some(Self::File),
            "pkcs11" => Some(Self::Pkcs11),
            _ => None,
        }
    }
}

/// A root of trust: seals and opens small secrets under a key this process may never see.
pub trait RootOfTrust: Send + Sync {
    /// Stable id written into every wrap (at most 255 bytes of ASCII).
    fn id(&self) -> &str;
    /// Which kind of root this is.
    fn kind(&self) -> RootKind;
    /// Encrypts `plaintext` bound to `aad`; the result is this root's own format.
    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError>;
    /// Opens what [`RootOfTrust::seal`] made.
    fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<SecretBytes, CryptoError>;
}

/// Why a wrapped blob could not be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UnwrapError {
    /// The blob names a root this set does not hold (yet): load it and try again.
    #[error("wrapped by root {0}, which is not loaded")]
    UnknownRoot(String),
    /// The blob is malformed, tampered with, or bound to another AAD.
    #[error("decryption failed")]
    Open,
}

/// The roots this process can use, by id. Wrapping always names the root to use, so the
/// caller (which reads the active root from the store) decides; unwrapping reads the root id
/// from the blob.
pub struct RootSet {
    roots: RwLock<HashMap<String, Arc<dyn RootOfTrust>>>,
    /// The root that made headerless (format 1) blobs.
    legacy_id: String,
}

impl RootSet {
    /// A set holding `root`; headerless blobs belong to the root with id `legacy_id`.
    pub fn new(root: Arc<dyn RootOfTrust>, legacy_id: &str) -> Self {
        let set = Self {
            roots: RwLock::new(HashMap::new()),
            legacy_id: legacy_id.to_owned(),
        };
        set.insert(root);
        set
    }

    /// Adds a root (a new one from `rekey`, or an old one loaded on demand).
    pub fn insert(&self, root: Arc<dyn RootOfTrust>) {
        self.roots.write().insert(root.id().to_owned(), root);
    }

    /// The root with this id, if loaded.
    pub fn get(&self, id: &str) -> Option<Arc<dyn RootOfTrust>> {
        self.roots.read().get(id).cloned()
    }

    /// Wraps KMS key material under the root `root_id`.
    pub fn wrap(
        &self,
        root_id: &str,
        material: &KeyMaterial,
        aad: &[u8],
    ) -> Result<Vec<u8>, UnwrapError> {
        self.seal(root_id, material.expose_secret(), aad)
    }

    /// Unwraps KMS key material made by any root of this set.
    pub fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<KeyMaterial, UnwrapError> {
        let plain = self.open(wrapped, aad)?;
        KeyMaterial::from_slice(plain.expose_secret()).ok_or(UnwrapError::Open)
    }

    /// Seals a small secret (an access key secret) under the root `root_id`.
    pub fn seal(
        &self,
        root_id: &str,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, UnwrapError> {
        let root = self
            .get(root_id)
            .ok_or_else(|| UnwrapError::UnknownRoot(root_id.to_owned()))?;
        let inner = root.seal(plaintext, aad).map_err(|_| UnwrapError::Open)?;
        encode(root.id(), &inner).ok_or(UnwrapError::Open)
    }

    /// Opens what [`RootSet::seal`] (or a root's own `seal`, before root ids) made.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<SecretBytes, UnwrapError> {
        let (id, inner) = match decode(sealed).ok_or(UnwrapError::Open)? {
            (Some(id), inner) => (id, inner),
            (None, _) => (self.legacy_id.as_str(), sealed),
        };
        let root = self
            .get(id)
            .ok_or_else(|| UnwrapError::UnknownRoot(id.to_owned()))?;
        root.open(inner, aad).map_err(|_| UnwrapError::Open)
    }
}

/// Finds a root again from what the store records about it (kind and locator): another
/// process (`openkms rekey`) may have added it, or a restarted server needs an old one.
pub struct RootFinder {
    pkcs11: Option<Arc<Pkcs11Token>>,
}

/// Why a recorded root could not be found.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    #[error(transparent)]
    File(#[from] RootKeyError),
    #[error(transparent)]
    Pkcs11(#[from] Pkcs11Error),
    #[error("the root is in a PKCS#11 token, but this process has no token configured")]
    NoToken,
    #[error("the store records no location for this root")]
    NoLocator,
}

impl RootFinder {
    /// A finder for file roots and, when `pkcs11` is given, keys in that token.
    pub fn new(pkcs11: Option<Arc<Pkcs11Token>>) -> Self {
        Self { pkcs11 }
    }

    /// Loads the root of `kind` at `locator` (a file path or a key label).
    pub fn find(
        &self,
        kind: RootKind,
        locator: Option<&str>,
    ) -> Result<Arc<dyn RootOfTrust>, FindError> {
        let locator = locator.ok_or(FindError::NoLocator)?;
        Ok(match kind {
            RootKind::File => Arc::new(RootKey::load(Path::new(locator))?),
            RootKind::Pkcs11 => {
                let token = self.pkcs11.as_ref().ok_or(FindError::NoToken)?;
                Arc::new(token.find_root(locator)?)
            }
        })
    }
}

/// The id of the root that made `wrapped` (`legacy_id` for a headerless blob); `None` if the
/// blob is malformed.
pub fn wrapped_by<'a>(wrapped: &'a [u8], legacy_id: &'a str) -> Option<&'a str> {
    match decode(wrapped)? {
        (Some(id), _) => Some(id),
        (None, _) => Some(legacy_id),
    }
}

fn encode(root_id: &str, inner: &[u8]) -> Option<Vec<u8>> {
    let len = u8::try_from(root_id.len()).ok()?;
    let mut out = Vec::with_capacity(2 + root_id.len() + inner.len());
    out.push(FORMAT_ROOT_TAGGED);
    out.push(len);
    out.extend_from_slice(root_id.as_bytes());
    out.extend_from_slice(inner);
    Some(out)
}

/// `(Some(root id), inner)` for a tagged blob, `(None, blob)` for a legacy one.
fn decode(blob: &[u8]) -> Option<(Option<&str>, &[u8])> {
    match blob.split_first()? {
        (&FORMAT_LEGACY, _) => Some((None, blob)),
        (&FORMAT_ROOT_TAGGED, rest) => {
            let (&len, rest) = rest.split_first()?;
            let (id, inner) = rest.split_at_checked(usize::from(len))?;
            Some((Some(std::str::from_utf8(id).ok()?), inner))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_root(dir: &std::path::Path, name: &str) -> Arc<dyn RootOfTrust> {
        Arc::new(RootKey::create(&dir.join(name)).unwrap())
    }

    #[test]
    fn wraps_name_their_root_and_open_under_either_root_of_the_set() {
        let dir = tempfile::tempdir().unwrap();
        let a = file_root(dir.path(), "a");
        let b = file_root(dir.path(), "b");
        let set = RootSet::new(a.clone(), a.id());
        set.insert(b.clone());
        let m = KeyMaterial::generate().unwrap();
        let wa = set.wrap(a.id(), &m, b"aad").unwrap();
        let wb = set.wrap(b.id(), &m, b"aad").unwrap();
        assert_eq!(wrapped_by(&wa, "x"), Some(a.id()));
        assert_eq!(wrapped_by(&wb, "x"), Some(b.id()));
        for w in [&wa, &wb] {
            assert_eq!(
                set.unwrap(w, b"aad").unwrap().expose_secret(),
                m.expose_secret()
            );
            assert_eq!(set.unwrap(w, b"other").unwrap_err(), UnwrapError::Open);
        }
    }

    #[test]
    fn a_blob_of_an_unloaded_root_says_which_root_it_needs() {
        let dir = tempfile::tempdir().unwrap();
        let a = file_root(dir.path(), "a");
        let b = file_root(dir.path(), "b");
        let wb = RootSet::new(b.clone(), b.id())
            .seal(b.id(), b"secret", b"aad")
            .unwrap();
        let set = RootSet::new(a.clone(), a.id());
        assert_eq!(
            set.open(&wb, b"aad").unwrap_err(),
            UnwrapError::UnknownRoot(b.id().to_owned())
        );
        set.insert(b);
        assert_eq!(set.open(&wb, b"aad").unwrap().expose_secret(), b"secret");
    }

    #[test]
    fn headerless_blobs_belong_to_the_legacy_root() {
        let dir = tempfile::tempdir().unwrap();
        let a = file_root(dir.path(), "a");
        let legacy = a.seal(b"old", b"aad").unwrap();
        let set = RootSet::new(a.clone(), a.id());
        assert_eq!(wrapped_by(&legacy, a.id()), Some(a.id()));
        assert_eq!(set.open(&legacy, b"aad").unwrap().expose_secret(), b"old");
    }

    #[test]
    fn malformed_blobs_fail_without_panic() {
        let dir = tempfile::tempdir().unwrap();
        let a = file_root(dir.path(), "a");
        let set = RootSet::new(a.clone(), a.id());
        for blob in [
            &[][..],
            &[2][..],
            &[2, 5, b'a'][..],
            &[2, 1, 0xff][..],
            &[9; 40][..],
        ] {
            assert!(set.open(blob, b"").is_err());
        }
    }
}
