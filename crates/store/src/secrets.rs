//! Secrets with their versions and stage labels. Writes that depend on current state take a
//! plan function that sees the state inside the transaction.

use std::sync::Arc;

use async_trait::async_trait;
use openkms_domain::filters::SecretFilter;

use crate::records::*;
use crate::StoreError;

/// What an update plan decided: a change to apply, or a business rejection (nothing written).
pub type Plan = Result<SecretUpdate, openkms_domain::secret::Rejection>;

/// A plan function: sees the current state, returns the change. Called again if a backend
/// retries the transaction, so it must be pure.
pub type PlanFn = Box<dyn Fn(&SecretState) -> Plan + Send + Sync>;

/// Secrets with their versions and stage labels.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// A secret's metadata by name.
    async fn secret(&self, name: &str) -> Result<Option<Arc<SecretRecord>>, StoreError>;

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

    /// Creates a secret with its first version, unless the name is taken.
    async fn create_secret(&self, new: NewSecret) -> Result<CreateOutcome, StoreError>;

    /// Changes a secret as `plan` decides, in one transaction.
    async fn update_secret(&self, name: &str, plan: PlanFn) -> Result<UpdateOutcome, StoreError>;

    /// Removes secrets whose recovery window ended at or before `now`; returns their names.
    async fn purge_expired(&self, now: i64) -> Result<Vec<String>, StoreError>;
}
