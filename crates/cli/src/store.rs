//! Opens the configured store, bringing its schema up to date: the embedded SQLite file, or a
//! PostgreSQL database shared by several nodes. `openkms migrate` runs only this step.

use std::sync::Arc;

use openkms_store::postgres::PgStore;
use openkms_store::sqlite::SqliteStore;
use openkms_store::{Store, StoreError};

use crate::config::{ServeArgs, ServeConfig, StoreLocation};

/// The store `cfg` names, migrated.
pub async fn open(cfg: &ServeConfig) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match &cfg.store {
        StoreLocation::Sqlite(path) => Arc::new(SqliteStore::open(path)?),
        StoreLocation::Postgres(url) => Arc::new(PgStore::connect(&url.0).await?),
    })
}

/// Why `migrate` stopped.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    DataDir(#[from] crate::serve::ServeError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("could not start the runtime: {0}")]
    Runtime(std::io::Error),
}

/// `openkms migrate`: applies the schema migrations this binary knows and exits. `serve` does
/// the same at start; this lets an operator migrate once before rolling out new nodes.
pub fn migrate(args: ServeArgs) -> Result<(), MigrateError> {
    let cfg = args.resolve()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(MigrateError::Runtime)?;
    rt.block_on(async {
        if let StoreLocation::Sqlite(_) = cfg.store {
            crate::serve::create_private_dir(&cfg.data_dir)?;
        }
        let store = open(&cfg).await?;
        let initialised = store.meta().await?.is_some();
        println!(
            "openkms migrate: the {} schema is up to date ({})",
            match cfg.store {
                StoreLocation::Sqlite(_) => "SQLite",
                StoreLocation::Postgres(_) => "PostgreSQL",
            },
            if initialised {
                "initialised"
            } else {
                "empty: the first `openkms serve` initialises it"
            }
        );
        Ok(())
    })
}
