//! `openkms root-key`: list, create, disable, enable and delete the account's root access
//! keys, on the store directly (with the configured root of trust, like `rekey`), beside a
//! running server. Servers drop their access-key cache every few seconds, so a disabled or
//! deleted key stops working within that bound. Every change is logged.

use std::sync::Arc;

use openkms_domain::AccessKeyStatus;
use openkms_service::{Service, StartOptions, SystemClock};
use openkms_store::RootKeyChange;

use crate::config::{ConfigError, ServeArgs};
use crate::root::{self, RootSetupError};

/// Flags of `openkms root-key`.
#[derive(clap::Args, Debug)]
pub struct RootKeyArgs {
    #[command(subcommand)]
    pub op: RootKeyOp,
    /// The installation, as given to `serve`.
    #[command(flatten)]
    pub store: ServeArgs,
}

/// What to do.
#[derive(clap::Subcommand, Debug)]
pub enum RootKeyOp {
    /// List root access keys (ids, status, creation time; never secrets).
    List,
    /// Create a root access key; its secret is printed once.
    Create,
    /// Disable a root access key (the last active one cannot be disabled).
    Disable { access_key_id: String },
    /// Enable a disabled root access key.
    Enable { access_key_id: String },
    /// Delete a root access key (the last active one cannot be deleted).
    Delete { access_key_id: String },
}

/// Why `root-key` failed.
#[derive(Debug, thiserror::Error)]
pub enum RootKeyError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Root(#[from] RootSetupError),
    #[error("store: {0}")]
    Store(#[from] openkms_store::StoreError),
    #[error("the store is not initialised: start `openkms serve` once first")]
    NotInitialised,
    #[error("start-up: {0}")]
    Start(#[from] openkms_service::BootstrapError),
    #[error("{0}")]
    Service(#[from] openkms_service::Error),
    #[error("no root access key {0}")]
    NotFound(String),
    #[error("{0} is the last active root access key: create or enable another one first")]
    LastActive(String),
    #[error("could not start the runtime: {0}")]
    Runtime(std::io::Error),
}

/// Runs one `root-key` operation.
pub fn run(args: RootKeyArgs) -> Result<(), RootKeyError> {
    let cfg = args.store.resolve()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RootKeyError::Runtime)?;
    rt.block_on(async move {
        if let crate::config::StoreLocation::Sqlite(db) = &cfg.store {
            if !db.exists() {
                return Err(RootKeyError::NotInitialised);
            }
        }
        let store = crate::store::open(&cfg).await?;
        if store.meta().await?.is_none() {
            return Err(RootKeyError::NotInitialised);
        }
        let token = root::open_token(cfg.hsm.as_ref())?;
        let started = Service::start(
            store,
            root::configured_root(&cfg, token, true)?,
            StartOptions {
                region: cfg.region.clone(),
                account_id: cfg.account_id.clone(),
                root_access_key: None,
                clock: Arc::new(SystemClock),
                keyring_capacity: cfg.keyring_capacity,
                    replay_capacity: cfg.replay_capacity,
                // Signs no request: no replay window to keep.
                nonce_journal: None,
            },
        )
        .await?;
        let service = started.service;
        let (id, status) = match args.op {
            RootKeyOp::List => {
                println!("{:<32} {:<9} CREATED (unix seconds)", "ACCESS KEY ID", "STATUS");
                for k in service.root_access_keys().await? {
                    println!("{:<32} {:<9} {}", k.access_key_id, k.status, k.created_at);
                }
                return Ok(());
            }
            RootKeyOp::Create => {
                let created = service.create_root_access_key().await?;
                let id = &created.key.access_key_id;
                tracing::info!(access_key_id = %id, "root access key created");
                // Printed once to the operator's terminal on purpose; never logged.
                println!("AccessKeyId:     {id}\nAccessKeySecret: {}", created.secret.as_str());
                return Ok(());
            }
            RootKeyOp::Disable { access_key_id } => (access_key_id, Some(AccessKeyStatus::Inactive)),
            RootKeyOp::Enable { access_key_id } => (access_key_id, Some(AccessKeyStatus::Active)),
            RootKeyOp::Delete { access_key_id } => (access_key_id, None),
        };
        match service.change_root_access_key(&id, status).await? {
            RootKeyChange::Done => {
                let what = match status {
                    Some(AccessKeyStatus::Active) => "enabled",
                    Some(_) => "disabled",
                    None => "deleted",
                };
                tracing::info!(access_key_id = %id, "root access key {what}");
                println!("root access key {id} {what} (running servers stop accepting a disabled or deleted key within 5 s)");
                Ok(())
            }
            RootKeyChange::NotFound => Err(RootKeyError::NotFound(id)),
            RootKeyChange::LastActive => Err(RootKeyError::LastActive(id)),
        }
    })
}
