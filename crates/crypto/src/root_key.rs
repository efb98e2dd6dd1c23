//! The root of trust held in a file (the development default): 32 random bytes, base64 in a
//! small text file with owner-only permissions. It wraps KMS key material and access key
//! secrets; it never wraps secret values directly.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use ring::digest;

use crate::aead::AeadKey;
use crate::root_of_trust::{RootKind, RootOfTrust};
use crate::secret_bytes::{KeyMaterial, SecretBytes};
use crate::CryptoError;

const HEADER: &str = "openkms-root-key-v1";

/// Why a root key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RootKeyError {
    #[error("root key file {path} does not exist")]
    Missing { path: PathBuf },
    #[error("root key file {path} could not be read or written")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("root key file {path} is not an openkms root key")]
    Malformed { path: PathBuf },
    #[error("root key file {path} is readable by group or others; run chmod 600 on it")]
    TooOpen { path: PathBuf },
    #[error("root key could not be generated")]
    Random,
}

/// The root key, expanded and ready to wrap and unwrap.
pub struct RootKey {
    key: AeadKey,
    fingerprint: String,
}

impl RootKey {
    /// Creates a new random root key file; fails if the file already exists.
    pub fn create(path: &Path) -> Result<Self, RootKeyError> {
        let material = KeyMaterial::generate().map_err(|_| RootKeyError::Random)?;
        let io = |source| RootKeyError::Io {
            path: path.to_owned(),
            source,
        };
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts.open(path).map_err(io)?;
        let text = zeroize::Zeroizing::new(format!(
            "{HEADER}\n{}\n",
            base64::engine::general_purpose::STANDARD.encode(material.expose_secret())
        ));
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Self::from_material(&material, path)
    }

    /// Loads an existing root key file, refusing one that others can read.
    pub fn load(path: &Path) -> Result<Self, RootKeyError> {
        let meta = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RootKeyError::Missing {
                    path: path.to_owned(),
                })
            }
            Err(source) => {
                return Err(RootKeyError::Io {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(RootKeyError::TooOpen {
                    path: path.to_owned(),
                });
            }
        }
        #[cfg(not(unix))]
        let _ = meta;
        let text = zeroize::Zeroizing::new(fs::read_to_string(path).map_err(|source| {
            RootKeyError::Io {
                path: path.to_owned(),
                source,
            }
        })?);
        let malformed = || RootKeyError::Malformed {
            path: path.to_owned(),
        };
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(malformed());
        }
        let bytes = zeroize::Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(lines.next().unwrap_or_default().trim())
                .map_err(|_| malformed())?,
        );
        let material = KeyMaterial::from_slice(&bytes).ok_or_else(malformed)?;
        Self::from_material(&material, path)
    }

    fn from_material(material: &KeyMaterial, path: &Path) -> Result<Self, RootKeyError> {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"openkms root key fingerprint\0");
        ctx.update(material.expose_secret());
        let fingerprint = hex::encode(ctx.finish().as_ref().get(..16).unwrap_or_default());
        let key = AeadKey::new(material).map_err(|_| RootKeyError::Malformed {
            path: path.to_owned(),
        })?;
        Ok(Self { key, fingerprint })
    }

    /// A one-way fingerprint: this root's id, stored with every wrap it makes.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

impl RootOfTrust for RootKey {
    fn id(&self) -> &str {
        &self.fingerprint
    }

    fn kind(&self) -> RootKind {
        RootKind::File
    }

    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.key.seal(plaintext, aad)
    }

    fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<SecretBytes, CryptoError> {
        self.key.open(sealed, aad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_key_loads_back_with_the_same_fingerprint_and_unwraps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        let a = RootKey::create(&path).unwrap();
        let m = KeyMaterial::generate().unwrap();
        let wrapped = a.seal(m.expose_secret(), b"key-1").unwrap();
        let b = RootKey::load(&path).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(
            b.open(&wrapped, b"key-1").unwrap().expose_secret(),
            m.expose_secret()
        );
        assert!(b.open(&wrapped, b"key-2").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn root_key_file_is_owner_only_and_a_world_readable_one_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        RootKey::create(&path).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            RootKey::load(&path),
            Err(RootKeyError::TooOpen { .. })
        ));
    }

    #[test]
    fn create_refuses_to_overwrite_and_load_reports_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        RootKey::create(&path).unwrap();
        assert!(RootKey::create(&path).is_err());
        assert!(matches!(
            RootKey::load(&dir.path().join("nope")),
            Err(RootKeyError::Missing { .. })
        ));
    }
}
