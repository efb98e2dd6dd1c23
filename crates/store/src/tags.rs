//! Tags of secrets and keys.

use async_trait::async_trait;

use crate::records::*;
use crate::StoreError;

/// Tags of secrets and keys.
#[async_trait]
pub trait TagStore: Send + Sync {
    /// A secret's tags.
    async fn secret_tags(&self, secret_id: i64) -> Result<Vec<TagRecord>, StoreError>;

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
}
