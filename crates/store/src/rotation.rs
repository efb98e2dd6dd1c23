//! Managed rotation: registered database instances and the per-secret rotation lease.

use async_trait::async_trait;
use openkms_domain::db_instance::{Engine, TlsMode};

use crate::columns::Columns;
use crate::StoreError;

/// Managed rotation: registered database instances and the per-secret rotation lease.
#[async_trait]
pub trait RotationStore: Send + Sync {
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

    /// Gives a lease back (no-op unless `owner` holds it).
    async fn release_rotation(&self, name: &str, owner: &str) -> Result<(), StoreError>;
}

/// The columns [`DbInstanceRecord::from_row`] reads.
macro_rules! db_instance_columns {
    () => {
        "instance_id, engine, address, admin_secret, created_at, tls_mode, tls_ca"
    };
}
pub(crate) use db_instance_columns;

/// A database instance registered for managed rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbInstanceRecord {
    pub instance_id: String,
    pub engine: Engine,
    /// `host:port` (PostgreSQL: `host:port/db`; Redis: also `rediss://host:port`).
    pub address: String,
    /// Name of the Generic secret holding `{"AccountName":..,"AccountPassword":..}`.
    pub admin_secret: String,
    pub created_at: i64,
    /// Rows registered before TLS settings existed read `disabled`.
    pub tls_mode: TlsMode,
    /// PEM certificates trusted to sign the target's certificate (not a secret).
    pub tls_ca: Option<String>,
}

impl DbInstanceRecord {
    pub(crate) fn from_row<R: Columns>(r: &R) -> Result<Self, R::Error> {
        Ok(Self {
            instance_id: r.text("instance_id")?,
            engine: r.parsed("engine", "db instance engine", Engine::parse)?,
            address: r.text("address")?,
            admin_secret: r.text("admin_secret")?,
            created_at: r.int("created_at")?,
            tls_mode: r.parsed("tls_mode", "db instance TLS mode", TlsMode::parse)?,
            tls_ca: r.opt_text("tls_ca")?,
        })
    }
}
