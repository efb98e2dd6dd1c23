//! Tag statements for secrets (keyed by secret id, found by name) and keys (by key id).

use super::*;

use rusqlite::{params, Connection, OptionalExtension};

use super::db;
use crate::records::{ResourceKind, TagChange, TagRow};
use crate::StoreError;

/// The row key of a resource: a secret's numeric id or a key id.
pub enum Owner {
    Secret(i64),
    PendingSecret,
    Key(String),
}

pub fn owner(c: &Connection, kind: ResourceKind, id: &str) -> Result<Option<Owner>, StoreError> {
    match kind {
        ResourceKind::Secret => c
            .prepare_cached("SELECT id, planned_delete_at IS NOT NULL FROM secrets WHERE name = ?1")
            .and_then(|mut s| {
                s.query_row([id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, bool>(1)?)))
                    .optional()
            })
            .map(|o| {
                o.map(|(id, pending)| {
                    if pending {
                        Owner::PendingSecret
                    } else {
                        Owner::Secret(id)
                    }
                })
            })
            .map_err(db("find tagged secret")),
        ResourceKind::Key => c
            .prepare_cached("SELECT key_id FROM keys WHERE key_id = ?1")
            .and_then(|mut s| s.query_row([id], |r| r.get::<_, String>(0)).optional())
            .map(|o| o.map(Owner::Key))
            .map_err(db("find tagged key")),
    }
}

pub fn apply(
    c: &Connection,
    _kind: ResourceKind,
    owner: &Owner,
    ch: &TagChange,
) -> Result<(), StoreError> {
    let run =
        |sql_secret: &str, sql_key: &str, k: &str, v: Option<&str>| -> rusqlite::Result<usize> {
            match (owner, v) {
                (Owner::PendingSecret, _) => Ok(0),
                (Owner::Secret(id), Some(v)) => {
                    c.prepare_cached(sql_secret)?.execute(params![id, k, v])
                }
                (Owner::Secret(id), None) => c.prepare_cached(sql_secret)?.execute(params![id, k]),
                (Owner::Key(id), Some(v)) => c.prepare_cached(sql_key)?.execute(params![id, k, v]),
                (Owner::Key(id), None) => c.prepare_cached(sql_key)?.execute(params![id, k]),
            }
        };
    if ch.remove_all {
        match owner {
            Owner::Secret(id) => c
                .prepare_cached("DELETE FROM secret_tags WHERE secret_id = ?1")
                .and_then(|mut s| s.execute([id])),
            Owner::Key(id) => c
                .prepare_cached("DELETE FROM key_tags WHERE key_id = ?1")
                .and_then(|mut s| s.execute([id])),
            Owner::PendingSecret => Ok(0),
        }
        .map_err(db("remove tags"))?;
    }
    for k in &ch.remove {
        run(
            "DELETE FROM secret_tags WHERE secret_id = ?1 AND tag_key = ?2",
            "DELETE FROM key_tags WHERE key_id = ?1 AND tag_key = ?2",
            k,
            None,
        )
        .map_err(db("remove tag"))?;
    }
    for t in &ch.set {
        run(
            "INSERT INTO secret_tags (secret_id, tag_key, tag_value) VALUES (?1, ?2, ?3) ON CONFLICT (secret_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
            "INSERT INTO key_tags (key_id, tag_key, tag_value) VALUES (?1, ?2, ?3) ON CONFLICT (key_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
            &t.key,
            Some(&t.value),
        )
        .map_err(db("set tag"))?;
    }
    Ok(())
}

pub fn count(c: &Connection, _kind: ResourceKind, owner: &Owner) -> Result<usize, StoreError> {
    let n: i64 = match owner {
        Owner::Secret(id) => c
            .prepare_cached("SELECT COUNT(*) FROM secret_tags WHERE secret_id = ?1")
            .and_then(|mut s| s.query_row([id], |r| r.get(0))),
        Owner::Key(id) => c
            .prepare_cached("SELECT COUNT(*) FROM key_tags WHERE key_id = ?1")
            .and_then(|mut s| s.query_row([id], |r| r.get(0))),
        Owner::PendingSecret => Ok(0),
    }
    .map_err(db("count tags"))?;
    Ok(usize::try_from(n).unwrap_or_default())
}

pub fn rows(
    c: &Connection,
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
    let mut args: Vec<String> = Vec::new();
    let mut clauses = Vec::new();
    if !resource_ids.is_empty() {
        let marks: Vec<String> = resource_ids
            .iter()
            .map(|id| {
                args.push(id.clone());
                format!("?{}", args.len())
            })
            .collect();
        clauses.push(format!("{id_col} IN ({})", marks.join(", ")));
    }
    if !tag_filter.is_empty() {
        let parts: Vec<String> = tag_filter
            .iter()
            .map(|(k, v)| {
                args.push(k.clone());
                let key_mark = args.len();
                match v {
                    Some(v) => {
                        args.push(v.clone());
                        format!(
                            "(t.tag_key = ?{key_mark} AND t.tag_value = ?{})",
                            args.len()
                        )
                    }
                    None => format!("t.tag_key = ?{key_mark}"),
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
        limit.min(i64::MAX as u64),
        offset.min(i64::MAX as u64)
    );
    let mut stmt = c.prepare_cached(&sql).map_err(db("list tags"))?;
    stmt.query_map(rusqlite::params_from_iter(args.iter()), |r| {
        Ok(TagRow {
            resource_id: r.get(0)?,
            key: r.get(1)?,
            value: r.get(2)?,
        })
    })
    .and_then(|it| it.collect())
    .map_err(db("list tags"))
}

#[async_trait]
impl crate::TagStore for SqliteStore {
    async fn secret_tags(&self, secret_id: i64) -> Result<Vec<TagRecord>, StoreError> {
        self.read(|c| rows::tags(c, secret_id))
    }

    async fn tags_of(&self, secret_ids: &[i64]) -> Result<Vec<(i64, TagRecord)>, StoreError> {
        self.read(|c| {
            let mut out = Vec::new();
            for id in secret_ids {
                out.extend(rows::tags(c, *id)?.into_iter().map(|t| (*id, t)));
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
                    let Some(owner) = tags::owner(c, kind, &ch.resource_id)? else {
                        return Err(StoreError::Rejected(TagOutcome::NotFound(
                            ch.resource_id.clone(),
                        )));
                    };
                    if matches!(owner, tags::Owner::PendingSecret) {
                        return Err(StoreError::Rejected(TagOutcome::PendingDeletion(
                            ch.resource_id.clone(),
                        )));
                    }
                    tags::apply(c, kind, &owner, ch)?;
                    if tags::count(c, kind, &owner)? > max_tags {
                        return Err(StoreError::Rejected(TagOutcome::TooMany(
                            ch.resource_id.clone(),
                        )));
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
        self.read(|c| tags::rows(c, kind, resource_ids, tag_filter, offset, limit))
    }

    async fn key_tags(&self, key_id: &str) -> Result<Vec<TagRecord>, StoreError> {
        self.read(|c| {
            let rows = tags::rows(c, ResourceKind::Key, &[key_id.to_owned()], &[], 0, 1000)?;
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
