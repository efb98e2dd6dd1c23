//! KMS instances and their resource counts.

use async_trait::async_trait;

use crate::columns::Columns;
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

/// A KMS instance with its resource counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRecord {
    pub instance_id: String,
    pub created_at: i64,
    pub key_count: u64,
    pub secret_count: u64,
}

/// One instance with its counts: the user keys in it, and the secrets in it (a secret naming
/// no instance is in the default one). Ends before the instance id's placeholder.
macro_rules! instance_sql {
    () => {
        "SELECT i.instance_id AS instance_id, i.created_at AS created_at, (SELECT COUNT(*) FROM keys k WHERE k.instance_id = i.instance_id AND k.creator <> 'Service') AS key_count, (SELECT COUNT(*) FROM secrets s WHERE s.dkms_instance_id = i.instance_id OR (s.dkms_instance_id IS NULL AND i.instance_id = (SELECT default_instance FROM meta WHERE id = 1))) AS secret_count FROM instances i WHERE i.instance_id = "
    };
}
pub(crate) use instance_sql;

impl InstanceRecord {
    pub(crate) fn from_row<R: Columns>(r: &R) -> Result<Self, R::Error> {
        Ok(Self {
            instance_id: r.text("instance_id")?,
            created_at: r.int("created_at")?,
            key_count: r.count("key_count")?,
            secret_count: r.count("secret_count")?,
        })
    }
}
