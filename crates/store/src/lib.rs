//! openkms-store: persistence behind one trait per aggregate ([`Store`] is all of them), on
//! SQLite (one node, the default) or PostgreSQL (several nodes, [`postgres`]). SQL and backend
//! differences stay here; the rows hold only sealed bytes and metadata, never plaintext.
//! `tests/conformance.rs` runs one suite on both backends.
//!
//! Each aggregate has one file here (`keys.rs`: its trait, its records, their row mapping and
//! the SQL both backends share) and one per backend (`sqlite/keys.rs`, `postgres/keys.rs`: the
//! trait's impl in the trait's order, then its statements), so the two backends read side by
//! side. Rows are read by column name (`columns.rs`); stored names of domain values are parsed
//! once, there, and text no domain value has is [`StoreError::Corrupt`].
//!
//! Writes that depend on current state (`update_secret`) take a plan function that sees the
//! state inside the transaction, so each write is one transaction on every backend.

mod columns;
pub mod copy;
mod dialect;
pub mod identities;
mod instances;
mod keys;
mod nonces;
pub mod postgres;
mod roots;
mod rotation;
mod secrets;
pub mod sqlite;
mod tags;

use std::sync::Arc;

use async_trait::async_trait;

pub use identities::*;
pub use instances::*;
pub use keys::*;
pub use nonces::NonceStore;
pub use roots::*;
pub use rotation::*;
pub use secrets::*;
pub use tags::*;

/// The store's traits, for callers that hold a `dyn Store`: a method of a supertrait is found
/// only when that trait is in scope.
pub mod prelude {
    pub use crate::{
        AccessKeyStore, IdentityStore, InstanceStore, KeyStore, NonceStore, PolicyStore, RoleStore,
        RootStore, RotationStore, SecretStore, Store, TagStore, UserStore,
    };
}

/// A storage failure. Never carries secret values.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error during {op}")]
    Database {
        op: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("PostgreSQL error during {op}")]
    Postgres {
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// The database cannot be reached (connection refused or lost, server shutting down, pool
    /// exhausted): the caller may retry later.
    #[error("the database is unreachable during {op}")]
    Disconnected {
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// TLS to PostgreSQL failed while connecting at start: the server's certificate did not
    /// verify, the handshake failed, or the server offers no TLS and `sslmode` requires it.
    #[error("TLS to the PostgreSQL store failed (sslmode={sslmode}): {reason}")]
    Tls {
        sslmode: &'static str,
        reason: String,
    },
    /// A failure shared by every request of one batched statement (the shared nonce window).
    #[error("a batched PostgreSQL statement failed")]
    Batch {
        #[source]
        source: Arc<StoreError>,
    },
    /// `initialize` found an installation already there (another node initialised it first).
    #[error("the store is already initialised")]
    AlreadyInitialized,
    #[error("store configuration: {reason}")]
    Config { reason: String },
    #[error("stored row is corrupt: {what}")]
    Corrupt { what: &'static str },
    #[error("the database file could not be created")]
    Create(#[source] std::io::Error),
    #[error("database migration failed: {reason}")]
    Migration { reason: String },
    #[error("the store's writer has stopped")]
    WriterGone,
    #[error("the store is unavailable")]
    Unavailable,
    /// A business rejection found inside a write; used to roll the write back. Never leaves
    /// the store: each operation turns it back into its outcome value.
    #[error("write rejected")]
    Rejected(TagOutcome),
}

/// A page bound as both backends' signed 64-bit integer.
pub(crate) fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// What the triggers of both backends say when a row names a root of trust that is retired or
/// unknown (migrations sqlite/0006, postgres/0001).
const ROOT_REFUSED: &str = "retired or unknown root";

impl StoreError {
    /// The write named a root of trust that a concurrent `rekey` retired after the caller
    /// wrapped under it: wrapping again under the now active root and retrying succeeds.
    pub fn is_root_retired(&self) -> bool {
        match self {
            Self::Database {
                source: rusqlite::Error::SqliteFailure(_, Some(message)),
                ..
            } => message.contains(ROOT_REFUSED),
            Self::Postgres {
                source: sqlx::Error::Database(e),
                ..
            } => e.message().contains(ROOT_REFUSED),
            Self::Batch { source } => source.is_root_retired(),
            _ => false,
        }
    }
}

/// The persistence interface the service uses: every aggregate's trait, and the store's life.
#[async_trait]
pub trait Store:
    RootStore
    + KeyStore
    + InstanceStore
    + SecretStore
    + TagStore
    + RotationStore
    + NonceStore
    + IdentityStore
    + Send
    + Sync
    + 'static
{
    /// Stops writing at shutdown: every write already acknowledged is durable (as always), and
    /// the writes queued before this call are committed and answered first. Later writes fail.
    async fn close(&self) {}
}
