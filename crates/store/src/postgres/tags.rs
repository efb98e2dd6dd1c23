//! Tag statements for secrets (keyed by secret id, found by name) and keys (by key id).

use super::*;

use sqlx::postgres::{PgConnection, PgRow};
use sqlx::Row;

use super::{clamp, pg};
use crate::records::{ResourceKind, TagChange, TagRow};
use crate::StoreError;

/// The row key of a resource: a secret's numeric id or a key id.
pub enum Owner {
    Secret(i64),
    PendingSecret,
    Key(String),
}

/// Finds and locks the tagged resource's row, so concurrent tag changes on one resource run
/// one after the other and the count checked after the change is the count committed.
pub async fn owner(
    c: &mut PgConnection,
    kind: ResourceKind,
    id: &str,
) -> Result<Option<Owner>, StoreError> {
    match kind {
        ResourceKind::Secret => {
            let row: Option<(i64, bool)> = sqlx::query_as(
                "SELECT id, planned_delete_at IS NOT NULL FROM secrets WHERE name = $1 FOR UPDATE",
            )
            .bind(id)
            .fetch_optional(c)
            .await
            .map_err(pg("find tagged secret"))?;
            Ok(row.map(|(id, pending)| {
                if pending {
                    Owner::PendingSecret
                } else {
                    Owner::Secret(id)
                }
            }))
        }
        ResourceKind::Key => {
            let row: Option<String> =
                sqlx::query_scalar("SELECT key_id FROM keys WHERE key_id = $1 FOR UPDATE")
                    .bind(id)
                    .fetch_optional(c)
                    .await
                    .map_err(pg("find tagged key"))?;
            Ok(row.map(Owner::Key))
        }
    }
}

pub async fn apply(c: &mut PgConnection, owner: &Owner, ch: &TagChange) -> Result<(), StoreError> {
    // Both tables are keyed by (owner, tag_key); the owner column is BIGINT or TEXT.
    let (table, col) = match owner {
        Owner::PendingSecret => return Ok(()),
        Owner::Secret(_) => ("secret_tags", "secret_id"),
        Owner::Key(_) => ("key_tags", "key_id"),
    };
    if ch.remove_all {
        let sql = format!("DELETE FROM {table} WHERE {col} = $1");
        bind_owner(sqlx::query(&sql), owner)
            .execute(&mut *c)
            .await
            .map_err(pg("remove tags"))?;
    }
    for k in &ch.remove {
        let sql = format!("DELETE FROM {table} WHERE {col} = $1 AND tag_key = $2");
        bind_owner(sqlx::query(&sql), owner)
            .bind(k)
            .execute(&mut *c)
            .await
            .map_err(pg("remove tag"))?;
    }
    for t in &ch.set {
        let sql = format!(
            "INSERT INTO {table} ({col}, tag_key, tag_value) VALUES ($1, $2, $3) ON CONFLICT ({col}, tag_key) DO UPDATE SET tag_value = excluded.tag_value"
        );
        bind_owner(sqlx::query(&sql), owner)
            .bind(&t.key)
            .bind(&t.value)
            .execute(&mut *c)
            .await
            .map_err(pg("set tag"))?;
    }
    Ok(())
}

pub async fn count(c: &mut PgConnection, owner: &Owner) -> Result<usize, StoreError> {
    let n: i64 = match owner {
        Owner::Secret(id) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM secret_tags WHERE secret_id = $1")
                .bind(id)
                .fetch_one(c)
                .await
        }
        Owner::Key(id) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM key_tags WHERE key_id = $1")
                .bind(id)
                .fetch_one(c)
                .await
        }
        Owner::PendingSecret => Ok(0),
    }
    .map_err(pg("count tags"))?;
    Ok(usize::try_from(n).unwrap_or_default())
}

pub async fn rows(
    c: &mut PgConnection,
    kind: ResourceKind,
    resource_ids: &[String],
    tag_filter: &[(String, Option<String>)],
    offset: u64,
    limit: u64,
) -> Result<Vec<TagRow>, StoreError> {
    let (base, id_col, order) = match kind {
        ResourceKind::Secret => (
            "SELECT s.name, t.tag_key, t.tag_value FROM secret_tags t JOIN secrets s ON s.id = t.secret_id",
            "s.name",
            "s.id, t.tag_key",
        ),
        ResourceKind::Key => (
            "SELECT t.key_id, t.tag_key, t.tag_value FROM key_tags t",
            "t.key_id",
            "t.key_id, t.tag_key",
        ),
    };
    let mut args: Vec<&str> = Vec::new();
    let mut clauses = Vec::new();
    if !resource_ids.is_empty() {
        args.extend(resource_ids.iter().map(String::as_str));
        clauses.push(format!("{id_col} = ANY($1)"));
    }
    let ids_bound = !resource_ids.is_empty();
    let mut filter_args: Vec<&str> = Vec::new();
    if !tag_filter.is_empty() {
        let first = if ids_bound { 2 } else { 1 };
        let parts: Vec<String> = tag_filter
            .iter()
            .map(|(k, v)| {
                filter_args.push(k);
                let key_mark = first + filter_args.len() - 1;
                match v {
                    Some(v) => {
                        filter_args.push(v);
                        format!(
                            "(t.tag_key = ${key_mark} AND t.tag_value = ${})",
                            first + filter_args.len() - 1
                        )
                    }
                    None => format!("t.tag_key = ${key_mark}"),
                }
            })
            .collect();
        clauses.push(format!("({})", parts.join(" OR ")));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    let sql = format!(
        "{base}{filter} ORDER BY {order} LIMIT {} OFFSET {}",
        clamp(limit),
        clamp(offset)
    );
    let mut q = sqlx::query(&sql);
    if ids_bound {
        q = q.bind(args);
    }
    for a in filter_args {
        q = q.bind(a);
    }
    q.try_map(|r: PgRow| {
        Ok(TagRow {
            resource_id: r.try_get(0)?,
            key: r.try_get(1)?,
            value: r.try_get(2)?,
        })
    })
    .fetch_all(c)
    .await
    .map_err(pg("list tags"))
}

fn bind_owner<'q>(
    q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    owner: &'q Owner,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    match owner {
        Owner::Secret(id) => q.bind(*id),
        Owner::Key(id) => q.bind(id.as_str()),
        Owner::PendingSecret => q,
    }
}

#[async_trait]
impl crate::TagStore for PgStore {
    async fn secret_tags(&self, secret_id: i64) -> Result<Vec<TagRecord>, StoreError> {
        sqlx::query(
            "SELECT tag_key, tag_value FROM secret_tags WHERE secret_id = $1 ORDER BY tag_key",
        )
        .bind(secret_id)
        .try_map(|r: PgRow| rows::tag(&r))
        .fetch_all(&self.pool)
        .await
        .map_err(pg("read tags"))
    }

    async fn tags_of(&self, secret_ids: &[i64]) -> Result<Vec<(i64, TagRecord)>, StoreError> {
        sqlx::query("SELECT secret_id, tag_key, tag_value FROM secret_tags WHERE secret_id = ANY($1) ORDER BY array_position($1, secret_id), tag_key")
            .bind(secret_ids)
            .try_map(|r: PgRow| {
                Ok((
                    r.try_get(0)?,
                    TagRecord {
                        key: r.try_get(1)?,
                        value: r.try_get(2)?,
                    },
                ))
            })
            .fetch_all(&self.pool)
            .await
            .map_err(pg("read tags"))
    }

    async fn change_tags(
        &self,
        kind: ResourceKind,
        changes: Vec<TagChange>,
        max_tags: usize,
    ) -> Result<TagOutcome, StoreError> {
        in_tx!(self, "change tags", |c| change_tags(
            c, kind, &changes, max_tags
        ))
        .or_else(|e| match e {
            StoreError::Rejected(outcome) => Ok(outcome),
            other => Err(other),
        })
    }

    async fn tag_rows(
        &self,
        kind: ResourceKind,
        resource_ids: &[String],
        tag_filter: &[(String, Option<String>)],
        offset: u64,
        limit: u64,
    ) -> Result<Vec<TagRow>, StoreError> {
        let mut c = self.pool.acquire().await.map_err(pg("list tags"))?;
        tags::rows(&mut c, kind, resource_ids, tag_filter, offset, limit).await
    }

    async fn key_tags(&self, key_id: &str) -> Result<Vec<TagRecord>, StoreError> {
        sqlx::query("SELECT tag_key, tag_value FROM key_tags WHERE key_id = $1 ORDER BY tag_key")
            .bind(key_id)
            .try_map(|r: PgRow| rows::tag(&r))
            .fetch_all(&self.pool)
            .await
            .map_err(pg("read key tags"))
    }
}
