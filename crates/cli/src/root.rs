//! The root of trust as configured: the root key file, or a key in the HSM token. Shared by
//! `serve` and `rekey`. The token PIN is read from the environment or an owner-only file,
//! never from a flag, and is held in a zeroizing type.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use openkms_crypto::pkcs11::{Pkcs11Error, Pkcs11Token};
use openkms_crypto::{RootFinder, RootKey, RootKeyError, RootOfTrust};
use openkms_service::StartRoot;

use crate::config::{HsmConfig, PinSource, RootOfTrustKind, ServeConfig};

/// Why the root of trust could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum RootSetupError {
    #[error("root key: {0}; the store in the data directory was initialised with a root key, so it cannot start without that file")]
    RootKeyMissing(RootKeyError),
    #[error("root key: {0}")]
    RootKey(#[from] RootKeyError),
    #[error("HSM: {0}")]
    Pkcs11(#[from] Pkcs11Error),
    #[error("HSM PIN: environment variable {0} is not set")]
    PinEnv(String),
    #[error("HSM PIN: file {path} could not be read")]
    PinFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("HSM PIN: file {0} is readable by group or others; run chmod 600 on it")]
    PinFileTooOpen(PathBuf),
    #[error("HSM: root key labelled {0:?} is missing, and the store was initialised with an HSM root; it is not generated again")]
    HsmKeyMissing(String),
    #[error("path {path}: {source}")]
    Path {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Opens the configured HSM token, if any.
pub fn open_token(hsm: Option<&HsmConfig>) -> Result<Option<Arc<Pkcs11Token>>, RootSetupError> {
    let Some(hsm) = hsm else {
        return Ok(None);
    };
    let pin = read_pin(&hsm.pin)?;
    Ok(Some(Pkcs11Token::open(&hsm.module, &hsm.token_label, pin)?))
}

/// Reads the configured root key file, if it exists, to refuse an unreadable or malformed one
/// before anything is written. Its absence is decided later (created on first start).
pub fn check_root_key_file(cfg: &ServeConfig) -> Result<(), RootSetupError> {
    if cfg.root_of_trust != RootOfTrustKind::File {
        return Ok(());
    }
    match RootKey::load(&cfg.root_key_file) {
        Ok(_) | Err(RootKeyError::Missing { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Loads the configured root; creates it (a file, or a key in the token) only when the store
/// is not initialised yet.
pub fn configured_root(
    cfg: &ServeConfig,
    token: Option<Arc<Pkcs11Token>>,
    initialised: bool,
) -> Result<StartRoot, RootSetupError> {
    let (root, locator): (Arc<dyn RootOfTrust>, String) = match (
        cfg.root_of_trust,
        &token,
        &cfg.hsm,
    ) {
        (RootOfTrustKind::Pkcs11, Some(token), Some(hsm)) => {
            let root = if initialised {
                token.find_root(&hsm.key_label).map_err(|e| match e {
                    Pkcs11Error::KeyNotFound { label } => RootSetupError::HsmKeyMissing(label),
                    other => other.into(),
                })?
            } else {
                let (root, created) = token.find_or_generate_root(&hsm.key_label)?;
                if created {
                    tracing::info!(
                        label = hsm.key_label.as_str(),
                        "generated the root key inside the HSM"
                    );
                }
                root
            };
            (Arc::new(root), hsm.key_label.clone())
        }
        _ => {
            let path = &cfg.root_key_file;
            let root = if initialised {
                RootKey::load(path).map_err(|e| match e {
                    RootKeyError::Missing { .. } => RootSetupError::RootKeyMissing(e),
                    other => RootSetupError::RootKey(other),
                })?
            } else if path.exists() {
                RootKey::load(path)?
            } else {
                tracing::warn!(
                    path = %path.display(),
                    "creating a development root key file; keep it safe and backed up apart from the data"
                );
                RootKey::create(path)?
            };
            (Arc::new(root), absolute(path)?)
        }
    };
    Ok(StartRoot {
        root,
        locator,
        finder: RootFinder::new(token),
    })
}

/// The absolute form of `path`, as recorded for other processes (which may run elsewhere).
pub fn absolute(path: &Path) -> Result<String, RootSetupError> {
    std::path::absolute(path)
        .map(|p| p.display().to_string())
        .map_err(|source| RootSetupError::Path {
            path: path.to_owned(),
            source,
        })
}

fn read_pin(source: &PinSource) -> Result<cryptoki::types::AuthPin, RootSetupError> {
    let text = match source {
        PinSource::Env(var) => zeroize::Zeroizing::new(
            std::env::var(var).map_err(|_| RootSetupError::PinEnv(var.clone()))?,
        ),
        PinSource::File(path) => {
            let err = |source| RootSetupError::PinFile {
                path: path.clone(),
                source,
            };
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let meta = std::fs::metadata(path).map_err(err)?;
                if meta.permissions().mode() & 0o077 != 0 {
                    return Err(RootSetupError::PinFileTooOpen(path.clone()));
                }
            }
            zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(err)?)
        }
    };
    Ok(cryptoki::types::AuthPin::from(
        text.trim_end_matches(['\n', '\r']),
    ))
}
