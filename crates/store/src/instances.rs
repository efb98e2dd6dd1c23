//! KMS instances and their resource counts.

use async_trait::async_trait;

use crate::records::*;
use crate::StoreError;

/// KMS instances and their resource counts.
#[async_trait]
pub trait InstanceStore: Send + Sync {
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
}
