//! Opens the configured store, bringing its schema up to date: the embedded SQLite file, or a
//! PostgreSQL database shared by several nodes. `openkms migrate` runs only this step.

use std::path::PathBuf;
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
    #[error(transparent)]
    Lock(#[from] crate::dir_lock::DirLockError),
}

/// Flags of `openkms migrate`.
#[derive(clap::Args, Debug)]
pub struct MigrateArgs {
    /// Copy the embedded store of this data directory (stop its server first)...
    #[arg(long, value_name = "DATA_DIR", requires = "to")]
    pub from: Option<PathBuf>,
    /// ...into this empty PostgreSQL database, `postgres://...`, and verify the copy.
    #[arg(long, value_name = "URL", requires = "from")]
    pub to: Option<String>,
    #[command(flatten)]
    pub store: ServeArgs,
}

/// `openkms migrate`: applies the schema migrations this binary knows and exits. `serve` does
/// the same at start; this lets an operator migrate once before rolling out new nodes.
/// With `--from DIR --to URL` it moves an installation from SQLite to PostgreSQL instead.
pub fn migrate(args: MigrateArgs) -> Result<(), MigrateError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(MigrateError::Runtime)?;
    if let (Some(from), Some(to)) = (&args.from, &args.to) {
        return rt.block_on(copy_to_postgres(from, to));
    }
    let cfg = args.store.resolve()?;
    rt.block_on(async {
        // A schema change under a running server is refused; a shared PostgreSQL store is
        // migrated beside its nodes (migrations take an advisory lock there).
        let _lock = match cfg.store {
            StoreLocation::Sqlite(_) => {
                crate::serve::create_private_dir(&cfg.data_dir)?;
                Some(crate::dir_lock::DirLock::acquire(&cfg.data_dir)?)
            }
            StoreLocation::Postgres(_) => None,
        };
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

/// `openkms migrate --from DIR --to URL`.
async fn copy_to_postgres(data_dir: &std::path::Path, url: &str) -> Result<(), MigrateError> {
    if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        return Err(StoreError::Config {
            reason: "--to takes a postgres:// URL".into(),
        }
        .into());
    }
    // The copy is a snapshot of a stopped installation: a server still writing (or one started
    // during the copy) is refused by the directory's lock.
    let _lock = if data_dir.is_dir() {
        Some(crate::dir_lock::DirLock::acquire(data_dir)?)
    } else {
        None
    };
    let report = openkms_store::copy::sqlite_to_postgres(&data_dir.join("openkms.db"), url).await?;
    for (table, rows) in &report.tables {
        println!("  {table:<20} {rows:>10} rows");
    }
    println!(
        "openkms migrate: copied {} rows in {} tables from {} and verified them (row counts and \
         SHA-256 of every table match)",
        report.rows(),
        report.tables.len(),
        data_dir.display()
    );
    let root_key = data_dir.join("root.key");
    println!(
        "start each node with --store <the --to URL> and this installation's root of trust{}",
        if root_key.is_file() {
            format!(" (--root-key-file {})", root_key.display())
        } else {
            " (the same --root-key-file or HSM key it used)".to_owned()
        }
    );
    Ok(())
}
