//! openkms-store: persistence behind one [`Store`] trait, on SQLite (one node, the default) or
//! PostgreSQL (several nodes, [`postgres`]). SQL and backend differences stay here; the rows
//! hold only sealed bytes and metadata, never plaintext. `tests/conformance.rs` runs one suite
//! on both backends.
//!
//! Writes that depend on current state (`update_secret`) take a plan function that sees the
//! state inside the transaction, so each write is one transaction on every backend.

pub mod copy;
pub mod identities;
pub mod postgres;
pub mod records;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use openkms_domain::filters::SecretFilter;

pub use identities::*;
pub use records::*;

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

/// What an update plan decided: a change to apply, or a business rejection (nothing written).
pub type Plan = Result<SecretUpdate, openkms_domain::secret::Rejection>;

/// A plan function: sees the current state, returns the change. Called again if a backend
/// retries the transaction, so it must be pure.
pub type PlanFn = Box<dyn Fn(&SecretState) -> Plan + Send + Sync>;

/// A key plan function: sees the key inside the transaction, returns the change.
pub type KeyPlanFn = Box<
    dyn Fn(&KeyPlanState) -> Result<KeyUpdate, openkms_domain::key::KeyRejection> + Send + Sync,
>;

/// The persistence interface the service uses.
#[async_trait]
pub trait Store: IdentityStore + Send + Sync + 'static {
    /// The installation's metadata, `None` before initialisation.
    async fn meta(&self) -> Result<Option<Meta>, StoreError>;
    /// Writes the first rows of a fresh installation in one transaction;
    /// [`StoreError::AlreadyInitialized`] (nothing written) when there is one already.
    async fn initialize(&self, boot: Bootstrap) -> Result<(), StoreError>;

    /// An access key by id.
    async fn access_key(&self, id: &str) -> Result<Option<AccessKeyRecord>, StoreError>;
    /// The roots of trust, the active one first.
    async fn roots(&self) -> Result<Vec<RootRecord>, StoreError>;
    /// Makes `root` the active root (inserting it, or reactivating a known one) and turns the
    /// previous active root into a retiring one, in one transaction.
    async fn activate_root(&self, root: RootRecord) -> Result<(), StoreError>;
    /// Records where another process finds a root.
    async fn set_root_locator(&self, root_id: &str, locator: &str) -> Result<(), StoreError>;
    /// Every key version and access key not wrapped by the active root.
    async fn rows_to_rewrap(&self) -> Result<Vec<WrappedRow>, StoreError>;
    /// Replaces one row's wrap if it still holds `row.wrapped`; `false` if it changed or is
    /// gone. One transaction per row.
    async fn rewrap(
        &self,
        row: WrappedRow,
        wrapped: Vec<u8>,
        root_id: String,
    ) -> Result<bool, StoreError>;
    /// Retires every retiring root if no row still uses one; `true` when none is left
    /// retiring. One transaction.
    async fn retire_roots(&self) -> Result<bool, StoreError>;
    /// Adds an access key.
    async fn insert_access_key(&self, rec: AccessKeyRecord) -> Result<(), StoreError>;
    /// The account's root access keys (principal `root`), oldest first.
    async fn root_access_keys(&self) -> Result<Vec<AccessKeyRecord>, StoreError>;
    /// Sets root access key `id` to `status` (`Active`/`Inactive`), or deletes it when `None`.
    /// One transaction, refused when it would leave the account without an active root key.
    async fn change_root_access_key(
        &self,
        id: &str,
        status: Option<&str>,
    ) -> Result<RootKeyChange, StoreError>;

    /// A KMS key by id.
    async fn key(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError>;
    /// A KMS key version (wrapped material).
    async fn key_version(
        &self,
        key_id: &str,
        version_id: &str,
    ) -> Result<Option<KeyVersionRecord>, StoreError>;
    /// Creates a key with its first version and its tags, in one transaction.
    async fn create_key(
        &self,
        key: KeyRecord,
        version: KeyVersionRecord,
        tags: Vec<TagRecord>,
    ) -> Result<(), StoreError>;
    /// One page of keys not created by the service, in creation order, and their total count.
    async fn list_user_keys(
        &self,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<KeyRecord>), StoreError>;
    /// Changes a key as `plan` decides, in one transaction.
    async fn update_key(
        &self,
        key_id: &str,
        plan: KeyPlanFn,
    ) -> Result<KeyUpdateOutcome, StoreError>;
    /// Adds `version` to its key and makes it the primary version, with the change `plan`
    /// decides on the key as stored, in one transaction; a rejection writes nothing.
    async fn add_key_version(
        &self,
        version: KeyVersionRecord,
        plan: KeyPlanFn,
    ) -> Result<KeyUpdateOutcome, StoreError>;
    /// One page of a key's versions, oldest first, and their total count.
    async fn key_versions(
        &self,
        key_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<KeyVersionRecord>), StoreError>;
    /// Ids of Enabled user keys with automatic rotation whose next rotation (primary version's
    /// creation + interval) is at or before `now`.
    async fn keys_due_for_rotation(&self, now: i64) -> Result<Vec<String>, StoreError>;
    /// Removes keys pending deletion whose DeleteDate is at or before `now` and that seal no
    /// secret, with their versions, aliases and tags, in one transaction; returns their ids.
    async fn destroy_expired_keys(&self, now: i64) -> Result<Vec<String>, StoreError>;
    /// An alias by its full name.
    async fn alias(&self, alias_name: &str) -> Result<Option<AliasRecord>, StoreError>;
    /// Creates an alias unless the name is taken.
    async fn create_alias(&self, rec: AliasRecord) -> Result<AliasOutcome, StoreError>;
    /// Points an existing alias at another key; with `from`, only if it names that key now
    /// (`NotFound` otherwise), in one statement.
    async fn update_alias(
        &self,
        alias_name: &str,
        key_id: &str,
        from: Option<&str>,
    ) -> Result<AliasOutcome, StoreError>;
    /// Removes an alias; with `from`, only if it names that key now (`NotFound` otherwise).
    async fn delete_alias(
        &self,
        alias_name: &str,
        from: Option<&str>,
    ) -> Result<AliasOutcome, StoreError>;
    /// One page of aliases (of one key when `key_id` is given), by name, and the total count.
    async fn aliases(
        &self,
        key_id: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<AliasRecord>), StoreError>;
    /// One page of KMS instances and the total count.
    async fn instances(
        &self,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<InstanceRecord>), StoreError>;
    /// One KMS instance with its counts.
    async fn instance(&self, instance_id: &str) -> Result<Option<InstanceRecord>, StoreError>;
    /// Whether a KMS instance exists.
    async fn instance_exists(&self, instance_id: &str) -> Result<bool, StoreError>;

    /// A secret's metadata by name.
    async fn secret(&self, name: &str) -> Result<Option<Arc<SecretRecord>>, StoreError>;
    /// A secret's tags.
    async fn secret_tags(&self, secret_id: i64) -> Result<Vec<TagRecord>, StoreError>;
    /// One sealed version of `secret` (as just read from this store).
    async fn version(
        &self,
        secret: &SecretRecord,
        version_id: &str,
    ) -> Result<Option<Arc<VersionRecord>>, StoreError>;
    /// All versions' metadata, oldest first.
    async fn versions(&self, secret_id: i64) -> Result<Vec<VersionMeta>, StoreError>;

    /// One page of secrets matching `filter`, in creation order, and the total match count.
    async fn list_secrets(
        &self,
        filter: &SecretFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<SecretRecord>), StoreError>;
    /// Tags of several secrets at once, as (secret id, tag).
    async fn tags_of(&self, secret_ids: &[i64]) -> Result<Vec<(i64, TagRecord)>, StoreError>;

    /// Applies tag changes to several resources in one transaction: all or nothing. A resource
    /// left with more than `max_tags` tags rejects the whole change.
    async fn change_tags(
        &self,
        kind: ResourceKind,
        changes: Vec<TagChange>,
        max_tags: usize,
    ) -> Result<TagOutcome, StoreError>;
    /// Tag rows of resources of one kind, by resource id (all when empty), optionally only the
    /// rows matching one of `tag_filter` (key, and value when given); ordered, paged.
    async fn tag_rows(
        &self,
        kind: ResourceKind,
        resource_ids: &[String],
        tag_filter: &[(String, Option<String>)],
        offset: u64,
        limit: u64,
    ) -> Result<Vec<TagRow>, StoreError>;
    /// A key's tags.
    async fn key_tags(&self, key_id: &str) -> Result<Vec<TagRecord>, StoreError>;

    /// Creates a secret with its first version, unless the name is taken.
    async fn create_secret(&self, new: NewSecret) -> Result<CreateOutcome, StoreError>;
    /// Changes a secret as `plan` decides, in one transaction.
    async fn update_secret(&self, name: &str, plan: PlanFn) -> Result<UpdateOutcome, StoreError>;
    /// Removes secrets whose recovery window ended at or before `now`; returns their names.
    async fn purge_expired(&self, now: i64) -> Result<Vec<String>, StoreError>;

    /// A registered database instance.
    async fn db_instance(&self, instance_id: &str) -> Result<Option<DbInstanceRecord>, StoreError>;
    /// Every registered database instance, by id.
    async fn db_instances(&self) -> Result<Vec<DbInstanceRecord>, StoreError>;
    /// Registers an instance; `false` when the id is already registered (nothing changed).
    async fn add_db_instance(&self, rec: DbInstanceRecord) -> Result<bool, StoreError>;
    /// Forgets an instance; `false` when it was not registered.
    async fn remove_db_instance(&self, instance_id: &str) -> Result<bool, StoreError>;
    /// Leases up to `limit` secrets whose rotation is due at `now` to `owner` until
    /// `lease_until`, skipping secrets another owner holds; returns their names. Several
    /// nodes may call this at once: each due secret goes to one of them.
    async fn claim_due_rotations(
        &self,
        now: i64,
        owner: &str,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<String>, StoreError>;
    /// Leases one secret for a rotation asked for by a caller; `false` when another owner
    /// holds an unexpired lease on it.
    async fn claim_rotation(
        &self,
        name: &str,
        now: i64,
        owner: &str,
        lease_until: i64,
    ) -> Result<bool, StoreError>;
    /// Records a signed request's nonce until `expires_at`; `false` when it is recorded
    /// already (a replay seen by any node). A store that one process owns (SQLite) records
    /// nothing and answers `true`: that process's in-memory window sees every request.
    async fn record_nonce(
        &self,
        _access_key_id: &str,
        _nonce: &str,
        _expires_at: i64,
    ) -> Result<bool, StoreError> {
        Ok(true)
    }
    /// Where a store shares the nonce window (PostgreSQL), the moment its memory of that
    /// window begins: requests signed earlier may have been accepted by a memory since lost
    /// (a store made by `migrate`, a table emptied by a database crash). Recorded at `now` if
    /// the store holds none. `None` for stores that keep no shared window.
    async fn replay_fence(&self, _now: i64) -> Result<Option<i64>, StoreError> {
        Ok(None)
    }
    /// Forgets nonces that expired at or before `now`; returns how many.
    async fn purge_nonces(&self, _now: i64) -> Result<u64, StoreError> {
        Ok(0)
    }
    /// Gives a lease back (no-op unless `owner` holds it).
    async fn release_rotation(&self, name: &str, owner: &str) -> Result<(), StoreError>;
    /// Stops writing at shutdown: every write already acknowledged is durable (as always), and
    /// the writes queued before this call are committed and answered first. Later writes fail.
    async fn close(&self) {}
}
