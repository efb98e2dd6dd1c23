//! Tags of secrets and keys.

use async_trait::async_trait;

use crate::columns::Columns;
use crate::dialect::{where_all, Args, Dialect};
use crate::{clamp, StoreError};

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

/// A tag on a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRecord {
    pub key: String,
    pub value: String,
}

/// Which kind of resource a tag belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    Secret,
    Key,
}

/// Tag changes for one resource, identified by secret name or key id.
#[derive(Debug, Clone, Default)]
pub struct TagChange {
    pub resource_id: String,
    /// Tags to add or overwrite.
    pub set: Vec<TagRecord>,
    /// Tag keys to remove.
    pub remove: Vec<String>,
    /// Remove every tag first.
    pub remove_all: bool,
}

/// Result of a tag change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagOutcome {
    Applied,
    /// No resource with this id; nothing was changed.
    NotFound(String),
    /// This resource would carry too many tags; nothing was changed.
    TooMany(String),
    /// This secret is pending deletion; nothing was changed.
    PendingDeletion(String),
}

/// One (resource, tag) row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRow {
    pub resource_id: String,
    pub key: String,
    pub value: String,
}

impl TagRecord {
    pub(crate) fn from_row<R: Columns>(r: &R) -> Result<Self, R::Error> {
        Ok(Self {
            key: r.text("tag_key")?,
            value: r.text("tag_value")?,
        })
    }
}

impl TagRow {
    pub(crate) fn from_row<R: Columns>(r: &R) -> Result<Self, R::Error> {
        Ok(Self {
            resource_id: r.text("resource_id")?,
            key: r.text("tag_key")?,
            value: r.text("tag_value")?,
        })
    }
}

/// The row a tag belongs to: a secret's numeric id or a key id.
pub(crate) enum Owner {
    Secret(i64),
    /// A secret waiting for deletion: its tags may not change.
    PendingSecret,
    Key(String),
}

impl Owner {
    /// The owner of a secret's tags, from its row.
    pub(crate) fn secret(id: i64, pending_deletion: bool) -> Self {
        if pending_deletion {
            Owner::PendingSecret
        } else {
            Owner::Secret(id)
        }
    }

    /// The owner's tag table and the column naming the owner; both tables are keyed by
    /// (owner, tag_key). `None` for a secret pending deletion.
    pub(crate) fn table(&self) -> Option<(&'static str, &'static str)> {
        match self {
            Owner::Secret(_) => Some(("secret_tags", "secret_id")),
            Owner::Key(_) => Some(("key_tags", "key_id")),
            Owner::PendingSecret => None,
        }
    }
}

/// The statements of one tag change of `owner`'s `table` and `col`, with `$1` or `?1` the owner
/// and the tag key next: remove all, remove one, set one (the value last).
pub(crate) fn tag_change_sql(d: Dialect, table: &str, col: &str) -> [String; 3] {
    let (o, k, v) = (d.mark(1), d.mark(2), d.mark(3));
    [
        format!("DELETE FROM {table} WHERE {col} = {o}"),
        format!("DELETE FROM {table} WHERE {col} = {o} AND tag_key = {k}"),
        format!(
            "INSERT INTO {table} ({col}, tag_key, tag_value) VALUES ({o}, {k}, {v}) ON CONFLICT ({col}, tag_key) DO UPDATE SET tag_value = excluded.tag_value"
        ),
    ]
}

/// The statement of [`crate::TagStore::tag_rows`] and its parameters.
pub(crate) fn tag_rows_sql(
    d: Dialect,
    kind: ResourceKind,
    resource_ids: &[String],
    tag_filter: &[(String, Option<String>)],
    offset: u64,
    limit: u64,
) -> (String, Vec<String>) {
    let (base, id_col, order) = match kind {
        ResourceKind::Secret => (
            "SELECT s.name AS resource_id, t.tag_key, t.tag_value FROM secret_tags t JOIN secrets s ON s.id = t.secret_id",
            "s.name",
            "s.id, t.tag_key",
        ),
        ResourceKind::Key => (
            "SELECT t.key_id AS resource_id, t.tag_key, t.tag_value FROM key_tags t",
            "t.key_id",
            "t.key_id, t.tag_key",
        ),
    };
    let mut args = Args::new(d);
    let mut clauses = Vec::new();
    if !resource_ids.is_empty() {
        let marks: Vec<String> = resource_ids.iter().map(|id| args.push(id)).collect();
        clauses.push(format!("{id_col} IN ({})", marks.join(", ")));
    }
    if !tag_filter.is_empty() {
        let parts: Vec<String> = tag_filter
            .iter()
            .map(|(k, v)| {
                let key = args.push(k);
                match v {
                    Some(v) => format!("(t.tag_key = {key} AND t.tag_value = {})", args.push(v)),
                    None => format!("t.tag_key = {key}"),
                }
            })
            .collect();
        clauses.push(format!("({})", parts.join(" OR ")));
    }
    let sql = format!(
        "{base}{} ORDER BY {order} LIMIT {} OFFSET {}",
        where_all(&clauses),
        clamp(limit),
        clamp(offset)
    );
    (sql, args.values)
}
