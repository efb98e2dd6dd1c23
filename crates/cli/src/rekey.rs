//! `openkms rekey`: move every KMS key version and access key secret to a new root of trust
//! while `openkms serve` keeps serving from the same data directory (see
//! `openkms_service::rekey` for the steps and why a crash leaves every key openable).
//!
//! It reads the same configuration as `serve` (file, `OPENKMS_*`, flags) for the current
//! root, and takes the new root as `--new-root-key-file` (created if missing) or
//! `--new-hsm-key-label` (generated in the configured token). Afterwards, start `serve`
//! with the new root; the old one can be destroyed once rekey reports it retired.

use std::path::PathBuf;
use std::sync::Arc;

use openkms_crypto::{RootKey, RootOfTrust};
use openkms_service::rekey::{rekey, RekeyPlan};
use openkms_store::sqlite::SqliteStore;
use openkms_store::Store;

use crate::config::{ConfigError, ServeArgs};
use crate::root::{self, RootSetupError};

/// Flags of `openkms rekey`.
#[derive(clap::Args, Debug)]
pub struct RekeyArgs {
    /// The current configuration, as given to `serve`.
    #[command(flatten)]
    pub current: ServeArgs,
    /// New root key file (created, owner-only, if it does not exist).
    #[arg(
        long,
        conflicts_with = "new_hsm_key_label",
        required_unless_present = "new_hsm_key_label"
    )]
    pub new_root_key_file: Option<PathBuf>,
    /// Label of a new root key to generate in the configured HSM token.
    #[arg(long)]
    pub new_hsm_key_label: Option<String>,
}

/// Why rekey stopped.
#[derive(Debug, thiserror::Error)]
pub enum RekeyCliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Root(#[from] RootSetupError),
    #[error("store: {0}")]
    Store(#[from] openkms_store::StoreError),
    #[error("data directory {0} holds no initialised store")]
    NotInitialised(String),
    #[error("--new-hsm-key-label needs the HSM settings (--hsm-module, --hsm-token-label)")]
    NoToken,
    #[error("HSM: {0}")]
    Pkcs11(#[from] openkms_crypto::pkcs11::Pkcs11Error),
    #[error("rekey: {0}")]
    Rekey(#[from] openkms_service::rekey::RekeyError),
    #[error("could not start the runtime: {0}")]
    Runtime(std::io::Error),
}

/// Runs the rekey to completion.
pub fn run(args: RekeyArgs) -> Result<(), RekeyCliError> {
    let cfg = args.current.resolve()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RekeyCliError::Runtime)?;
    rt.block_on(async move {
        let db = cfg.data_dir.join("openkms.db");
        if !db.exists() {
            return Err(RekeyCliError::NotInitialised(cfg.data_dir.display().to_string()));
        }
        let store = SqliteStore::open(&db)?;
        if store.meta().await?.is_none() {
            return Err(RekeyCliError::NotInitialised(cfg.data_dir.display().to_string()));
        }
        let token = root::open_token(cfg.hsm.as_ref())?;
        let current = root::configured_root(&cfg, token.clone(), true)?;
        let (new, new_locator): (Arc<dyn RootOfTrust>, String) =
            match (&args.new_root_key_file, &args.new_hsm_key_label) {
                (Some(path), _) => {
                    let key = if path.exists() {
                        RootKey::load(path).map_err(RootSetupError::from)?
                    } else {
                        RootKey::create(path).map_err(RootSetupError::from)?
                    };
                    (Arc::new(key), root::absolute(path)?)
                }
                (None, Some(label)) => {
                    let token = token.as_ref().ok_or(RekeyCliError::NoToken)?;
                    // Resuming an interrupted rekey finds the key generated the first time.
                    let (key, _) = token.find_or_generate_root(label)?;
                    (Arc::new(key), label.clone())
                }
                (None, None) => return Err(RekeyCliError::NoToken),
            };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let report = rekey(
            &store,
            RekeyPlan {
                current: current.root,
                current_locator: current.locator,
                new: new.clone(),
                new_locator: new_locator.clone(),
                finder: current.finder,
                stop_after: None,
            },
            now,
        )
        .await?;
        println!(
            "rekey done: {} key versions and {} access key secrets rewrapped under root {} ({}); {} rows changed meanwhile and were left as they were; old roots retired. Start `openkms serve` with the new root from now on.",
            report.key_versions,
            report.access_keys,
            new.id(),
            new_locator,
            report.skipped,
        );
        Ok(())
    })
}
