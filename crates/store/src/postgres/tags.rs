//! Tags of secrets (keyed by secret id, found by name) and keys (by key id), on PostgreSQL.

use super::*;
use crate::dialect::Dialect;
use crate::tags::{tag_change_sql, tag_rows_sql, Owner};

#[async_trait]
impl crate::TagStore for PgStore {
    async fn secret_tags(&self, secret_id: i64) -> Result<Vec<TagRecord>, StoreError> {
        sqlx::query(
            "SELECT tag_key, tag_value FROM secret_tags WHERE secret_id = $1 ORDER BY tag_key",
        )
        .bind(secret_id)
        .try_map(|r: PgRow| TagRecord::from_row(&r))
        .fetch_all(&self.pool)
        .await
        .map_err(pg("read tags"))
    }

    async fn tags_of(&self, secret_ids: &[i64]) -> Result<Vec<(i64, TagRecord)>, StoreError> {
        sqlx::query("SELECT secret_id, tag_key, tag_value FROM secret_tags WHERE secret_id = ANY($1) ORDER BY array_position($1, secret_id), tag_key")
            .bind(secret_ids)
            .try_map(|r: PgRow| Ok((r.try_get("secret_id")?, TagRecord::from_row(&r)?)))
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
        let (sql, args) = tag_rows_sql(
            Dialect::Postgres,
            kind,
            resource_ids,
            tag_filter,
            offset,
            limit,
        );
        let mut q = sqlx::query(&sql);
        for a in &args {
            q = q.bind(a);
        }
        q.try_map(|r: PgRow| TagRow::from_row(&r))
            .fetch_all(&self.pool)
            .await
            .map_err(pg("list tags"))
    }

    async fn key_tags(&self, key_id: &str) -> Result<Vec<TagRecord>, StoreError> {
        sqlx::query("SELECT tag_key, tag_value FROM key_tags WHERE key_id = $1 ORDER BY tag_key")
            .bind(key_id)
            .try_map(|r: PgRow| TagRecord::from_row(&r))
            .fetch_all(&self.pool)
            .await
            .map_err(pg("read key tags"))
    }
}

async fn change_tags(
    c: &mut PgConnection,
    kind: ResourceKind,
    changes: &[TagChange],
    max_tags: usize,
) -> Result<TagOutcome, StoreError> {
    for ch in changes {
        // An Err rolls the whole transaction back, so a rejection after some resources were
        // changed undoes them all.
        let rejected = |outcome: fn(String) -> TagOutcome| {
            Err(StoreError::Rejected(outcome(ch.resource_id.clone())))
        };
        let Some(owner) = owner(c, kind, &ch.resource_id).await? else {
            return rejected(TagOutcome::NotFound);
        };
        let Some((table, col)) = owner.table() else {
            return rejected(TagOutcome::PendingDeletion);
        };
        apply(c, &owner, table, col, ch).await?;
        if count(c, &owner, table, col).await? > max_tags {
            return rejected(TagOutcome::TooMany);
        }
    }
    Ok(TagOutcome::Applied)
}

/// Finds and locks the tagged resource's row, so concurrent tag changes on one resource run
/// one after the other and the count checked after the change is the count committed.
async fn owner(
    c: &mut PgConnection,
    kind: ResourceKind,
    id: &str,
) -> Result<Option<Owner>, StoreError> {
    match kind {
        ResourceKind::Secret => sqlx::query(
            "SELECT id, planned_delete_at IS NOT NULL AS pending FROM secrets WHERE name = $1 FOR UPDATE",
        )
        .bind(id)
        .try_map(|r: PgRow| Ok(Owner::secret(r.try_get("id")?, r.try_get("pending")?)))
        .fetch_optional(c)
        .await
        .map_err(pg("find tagged secret")),
        ResourceKind::Key => {
            sqlx::query_scalar("SELECT key_id FROM keys WHERE key_id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(c)
                .await
                .map(|o| o.map(Owner::Key))
                .map_err(pg("find tagged key"))
        }
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds the owner's id, BIGINT or TEXT by table.
fn bind_owner<'q>(q: PgQuery<'q>, owner: &'q Owner) -> PgQuery<'q> {
    match owner {
        Owner::Secret(id) => q.bind(*id),
        Owner::Key(id) => q.bind(id.as_str()),
        Owner::PendingSecret => q,
    }
}

async fn apply(
    c: &mut PgConnection,
    owner: &Owner,
    table: &str,
    col: &str,
    ch: &TagChange,
) -> Result<(), StoreError> {
    let [remove_all, remove, set] = tag_change_sql(Dialect::Postgres, table, col);
    if ch.remove_all {
        bind_owner(sqlx::query(&remove_all), owner)
            .execute(&mut *c)
            .await
            .map_err(pg("remove tags"))?;
    }
    for k in &ch.remove {
        bind_owner(sqlx::query(&remove), owner)
            .bind(k)
            .execute(&mut *c)
            .await
            .map_err(pg("remove tag"))?;
    }
    for t in &ch.set {
        bind_owner(sqlx::query(&set), owner)
            .bind(&t.key)
            .bind(&t.value)
            .execute(&mut *c)
            .await
            .map_err(pg("set tag"))?;
    }
    Ok(())
}

async fn count(
    c: &mut PgConnection,
    owner: &Owner,
    table: &str,
    col: &str,
) -> Result<usize, StoreError> {
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE {col} = $1");
    let n: i64 = bind_owner(sqlx::query(&sql), owner)
        .try_map(|r: PgRow| r.try_get(0))
        .fetch_one(c)
        .await
        .map_err(pg("count tags"))?;
    Ok(usize::try_from(n).unwrap_or_default())
}
