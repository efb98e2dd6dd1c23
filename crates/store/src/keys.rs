//! KMS keys, their versions and their aliases.

use async_trait::async_trait;

use crate::records::*;
use crate::StoreError;

/// A key plan function: sees the key inside the transaction, returns the change.
pub type KeyPlanFn = Box<
    dyn Fn(&KeyPlanState) -> Result<KeyUpdate, openkms_domain::key::KeyRejection> + Send + Sync,
>;

/// KMS keys, their versions and their aliases.
#[async_trait]
pub trait KeyStore: Send + Sync {
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
}
