//! Tags of secrets (keyed by secret id, found by name) and keys (by key id), on SQLite.

use rusqlite::ToSql;

use super::*;
use crate::dialect::Dialect;
use crate::tags::{tag_change_sql, tag_rows_sql, Owner};

#[async_trait]
impl crate::TagStore for SqliteStore {
    async fn secret_tags(&self, secret_id: i64) -> Result<Vec<TagRecord>, StoreError> {
        self.read(|c| secret_tags(c, secret_id))
    }

    async fn tags_of(&self, secret_ids: &[i64]) -> Result<Vec<(i64, TagRecord)>, StoreError> {
        self.read(|c| {
            let mut out = Vec::new();
            for id in secret_ids {
                out.extend(secret_tags(c, *id)?.into_iter().map(|t| (*id, t)));
            }
            Ok(out)
        })
    }

    async fn change_tags(
        &self,
        kind: ResourceKind,
        changes: Vec<TagChange>,
        max_tags: usize,
    ) -> Result<TagOutcome, StoreError> {
        self.writer
            .write(move |c| {
                for ch in &changes {
                    // The writer rolls a job's savepoint back when it returns Err, so a
                    // rejection after some resources were changed undoes them all.
                    let rejected = |outcome: fn(String) -> TagOutcome| {
                        Err(StoreError::Rejected(outcome(ch.resource_id.clone())))
                    };
                    let Some(owner) = owner(c, kind, &ch.resource_id)? else {
                        return rejected(TagOutcome::NotFound);
                    };
                    let Some((table, col)) = owner.table() else {
                        return rejected(TagOutcome::PendingDeletion);
                    };
                    apply(c, &owner, table, col, ch)?;
                    if count(c, &owner, table, col)? > max_tags {
                        return rejected(TagOutcome::TooMany);
                    }
                }
                Ok(TagOutcome::Applied)
            })
            .await
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
        self.read(|c| tag_rows(c, kind, resource_ids, tag_filter, offset, limit))
    }

    async fn key_tags(&self, key_id: &str) -> Result<Vec<TagRecord>, StoreError> {
        self.read(|c| {
            let rows = tag_rows(c, ResourceKind::Key, &[key_id.to_owned()], &[], 0, 1000)?;
            Ok(rows
                .into_iter()
                .map(|r| TagRecord {
                    key: r.key,
                    value: r.value,
                })
                .collect())
        })
    }
}

fn secret_tags(c: &Connection, secret_id: i64) -> Result<Vec<TagRecord>, StoreError> {
    let mut s = c
        .prepare_cached(
            "SELECT tag_key, tag_value FROM secret_tags WHERE secret_id = ?1 ORDER BY tag_key",
        )
        .map_err(db("read tags"))?;
    s.query_map([secret_id], |r| TagRecord::from_row(r))
        .and_then(|it| it.collect())
        .map_err(db("read tags"))
}

fn owner(c: &Connection, kind: ResourceKind, id: &str) -> Result<Option<Owner>, StoreError> {
    match kind {
        ResourceKind::Secret => c
            .prepare_cached(
                "SELECT id, planned_delete_at IS NOT NULL AS pending FROM secrets WHERE name = ?1",
            )
            .and_then(|mut s| {
                s.query_row([id], |r| Ok(Owner::secret(r.get("id")?, r.get("pending")?)))
                    .optional()
            })
            .map_err(db("find tagged secret")),
        ResourceKind::Key => c
            .prepare_cached("SELECT key_id FROM keys WHERE key_id = ?1")
            .and_then(|mut s| s.query_row([id], |r| r.get::<_, String>(0)).optional())
            .map(|o| o.map(Owner::Key))
            .map_err(db("find tagged key")),
    }
}

fn owner_id(owner: &Owner) -> &dyn ToSql {
    match owner {
        Owner::Secret(id) => id,
        Owner::Key(id) => id,
        Owner::PendingSecret => &rusqlite::types::Null,
    }
}

fn apply(
    c: &Connection,
    owner: &Owner,
    table: &str,
    col: &str,
    ch: &TagChange,
) -> Result<(), StoreError> {
    let [remove_all, remove, set] = tag_change_sql(Dialect::Sqlite, table, col);
    let id = owner_id(owner);
    if ch.remove_all {
        c.prepare_cached(&remove_all)
            .and_then(|mut s| s.execute(params![id]))
            .map_err(db("remove tags"))?;
    }
    for k in &ch.remove {
        c.prepare_cached(&remove)
            .and_then(|mut s| s.execute(params![id, k]))
            .map_err(db("remove tag"))?;
    }
    for t in &ch.set {
        c.prepare_cached(&set)
            .and_then(|mut s| s.execute(params![id, t.key, t.value]))
            .map_err(db("set tag"))?;
    }
    Ok(())
}

fn count(c: &Connection, owner: &Owner, table: &str, col: &str) -> Result<usize, StoreError> {
    let n: i64 = c
        .prepare_cached(&format!("SELECT COUNT(*) FROM {table} WHERE {col} = ?1"))
        .and_then(|mut s| s.query_row(params![owner_id(owner)], |r| r.get(0)))
        .map_err(db("count tags"))?;
    Ok(usize::try_from(n).unwrap_or_default())
}

fn tag_rows(
    c: &Connection,
    kind: ResourceKind,
    resource_ids: &[String],
    tag_filter: &[(String, Option<String>)],
    offset: u64,
    limit: u64,
) -> Result<Vec<TagRow>, StoreError> {
    let (sql, args) = tag_rows_sql(
        Dialect::Sqlite,
        kind,
        resource_ids,
        tag_filter,
        offset,
        limit,
    );
    let mut stmt = c.prepare_cached(&sql).map_err(db("list tags"))?;
    stmt.query_map(rusqlite::params_from_iter(args.iter()), |r| {
        TagRow::from_row(r)
    })
    .and_then(|it| it.collect())
    .map_err(db("list tags"))
}
