//! Keys, their versions and aliases, on SQLite.

use super::*;
use crate::keys::{key_columns, key_version_columns};

#[async_trait]
impl crate::KeyStore for SqliteStore {
    async fn key(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.read(|c| key_by_id(c, key_id))
    }

    async fn key_version(
        &self,
        key_id: &str,
        version_id: &str,
    ) -> Result<Option<KeyVersionRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(concat!(
                "SELECT ",
                key_version_columns!(),
                " FROM key_versions WHERE key_id = ?1 AND version_id = ?2"
            ))
            .and_then(|mut s| {
                s.query_row([key_id, version_id], |r| KeyVersionRecord::from_row(r))
                    .optional()
            })
            .map_err(db("read key version"))
        })
    }

    async fn create_key(
        &self,
        key: KeyRecord,
        version: KeyVersionRecord,
        tags: Vec<TagRecord>,
    ) -> Result<(), StoreError> {
        self.writer
            .write(move |c| {
                insert_key(c, &key)?;
                insert_key_version(c, &version)?;
                for t in &tags {
                    c.prepare_cached(
                        "INSERT INTO key_tags (key_id, tag_key, tag_value) VALUES (?1, ?2, ?3)",
                    )
                    .and_then(|mut s| s.execute(params![key.key_id, t.key, t.value]))
                    .map_err(db("write key tag"))?;
                }
                Ok(())
            })
            .await
    }

    async fn list_user_keys(
        &self,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<KeyRecord>), StoreError> {
        self.read(|c| {
            let total: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM keys WHERE creator <> 'Service'")
                .and_then(|mut s| s.query_row([], |r| r.get(0)))
                .map_err(db("count keys"))?;
            let keys = c
                .prepare_cached(concat!(
                    "SELECT ",
                    key_columns!(),
                    " FROM keys WHERE creator <> 'Service' ORDER BY rowid LIMIT ?1 OFFSET ?2"
                ))
                .and_then(|mut s| {
                    s.query_map(params![clamp(limit), clamp(offset)], |r| {
                        KeyRecord::from_row(r)
                    })?
                    .collect::<Result<Vec<_>, _>>()
                })
                .map_err(db("list keys"))?;
            Ok((u64::try_from(total).unwrap_or_default(), keys))
        })
    }

    async fn update_key(
        &self,
        key_id: &str,
        plan: KeyPlanFn,
    ) -> Result<KeyUpdateOutcome, StoreError> {
        let key_id = key_id.to_owned();
        self.writer
            .write(move |c| {
                let Some(key) = key_by_id(c, &key_id)? else {
                    return Ok(KeyUpdateOutcome::NotFound);
                };
                let protected: i64 = c
                    .prepare_cached("SELECT COUNT(*) FROM secrets WHERE encryption_key_id = ?1")
                    .and_then(|mut s| s.query_row([&key_id], |r| r.get(0)))
                    .map_err(db("count secrets of key"))?;
                let state = KeyPlanState {
                    key,
                    protected_secrets: u64::try_from(protected).unwrap_or_default(),
                };
                let next = match state.decide(&plan) {
                    Ok(next) => next,
                    Err(r) => return Ok(KeyUpdateOutcome::Rejected(r)),
                };
                write_key(c, &next)?;
                Ok(KeyUpdateOutcome::Applied(Box::new(next)))
            })
            .await
    }

    async fn add_key_version(
        &self,
        version: KeyVersionRecord,
        plan: KeyPlanFn,
    ) -> Result<KeyUpdateOutcome, StoreError> {
        self.writer
            .write(move |c| {
                let Some(key) = key_by_id(c, &version.key_id)? else {
                    return Ok(KeyUpdateOutcome::NotFound);
                };
                let state = KeyPlanState {
                    key,
                    protected_secrets: 0,
                };
                let next = match state.decide_new_version(&version, &plan) {
                    Ok(next) => next,
                    Err(r) => return Ok(KeyUpdateOutcome::Rejected(r)),
                };
                insert_key_version(c, &version)?;
                write_key(c, &next)?;
                Ok(KeyUpdateOutcome::Applied(Box::new(next)))
            })
            .await
    }

    async fn key_versions(
        &self,
        key_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<KeyVersionRecord>), StoreError> {
        self.read(|c| {
            let total: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM key_versions WHERE key_id = ?1")
                .and_then(|mut s| s.query_row([key_id], |r| r.get(0)))
                .map_err(db("count key versions"))?;
            let rows = c
                .prepare_cached(concat!("SELECT ", key_version_columns!(), " FROM key_versions WHERE key_id = ?1 ORDER BY created_at, rowid LIMIT ?2 OFFSET ?3"))
                .and_then(|mut s| {
                    s.query_map(params![key_id, clamp(limit), clamp(offset)], |r| KeyVersionRecord::from_row(r))?
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(db("list key versions"))?;
            Ok((u64::try_from(total).unwrap_or_default(), rows))
        })
    }

    async fn keys_due_for_rotation(&self, now: i64) -> Result<Vec<String>, StoreError> {
        self.read(|c| {
            c.prepare_cached(concat!(
                "SELECT key_id FROM (SELECT ",
                key_columns!(),
                " FROM keys WHERE creator <> 'Service' AND key_state = 'Enabled' AND rotation_interval_secs IS NOT NULL) WHERE last_rotation_at + rotation_interval_secs <= ?1 ORDER BY created_at, key_id"
            ))
            .and_then(|mut s| {
                s.query_map([now], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(db("find keys due for rotation"))
        })
    }

    async fn destroy_expired_keys(&self, now: i64) -> Result<Vec<String>, StoreError> {
        self.writer
            .write(move |c| {
                // A key that still seals anything is kept whatever its date: destroying its
                // material would lose those values for good.
                let ids = c
                    .prepare_cached("SELECT key_id FROM keys k WHERE key_state = 'PendingDeletion' AND delete_at IS NOT NULL AND delete_at <= ?1 AND creator <> 'Service' AND NOT EXISTS (SELECT 1 FROM secrets s WHERE s.encryption_key_id = k.key_id) AND NOT EXISTS (SELECT 1 FROM secret_versions v WHERE v.key_id = k.key_id)")
                    .and_then(|mut s| {
                        s.query_map([now], |r| r.get::<_, String>(0))?
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .map_err(db("find keys to destroy"))?;
                for id in &ids {
                    for sql in [
                        "DELETE FROM aliases WHERE key_id = ?1",
                        "DELETE FROM key_versions WHERE key_id = ?1",
                        "DELETE FROM keys WHERE key_id = ?1",
                    ] {
                        c.prepare_cached(sql)
                            .and_then(|mut s| s.execute([id]))
                            .map_err(db("destroy key"))?;
                    }
                }
                Ok(ids)
            })
            .await
    }

    async fn alias(&self, alias_name: &str) -> Result<Option<AliasRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT alias_name, key_id, created_at FROM aliases WHERE alias_name = ?1",
            )
            .and_then(|mut s| {
                s.query_row([alias_name], |r| AliasRecord::from_row(r))
                    .optional()
            })
            .map_err(db("read alias"))
        })
    }

    async fn create_alias(&self, rec: AliasRecord) -> Result<AliasOutcome, StoreError> {
        self.writer
            .write(move |c| {
                let n = c
                    .prepare_cached("INSERT INTO aliases (alias_name, key_id, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (alias_name) DO NOTHING")
                    .and_then(|mut s| s.execute(params![rec.alias_name, rec.key_id, rec.created_at]))
                    .map_err(db("write alias"))?;
                Ok(if n == 0 {
                    AliasOutcome::Taken
                } else {
                    AliasOutcome::Applied
                })
            })
            .await
    }

    async fn update_alias(
        &self,
        alias_name: &str,
        key_id: &str,
        from: Option<&str>,
    ) -> Result<AliasOutcome, StoreError> {
        let (alias_name, key_id) = (alias_name.to_owned(), key_id.to_owned());
        let from = from.map(str::to_owned);
        self.writer
            .write(move |c| {
                let n = c
                    .prepare_cached(
                        "UPDATE aliases SET key_id = ?2 \
                         WHERE alias_name = ?1 AND (?3 IS NULL OR key_id = ?3)",
                    )
                    .and_then(|mut s| s.execute(params![alias_name, key_id, from]))
                    .map_err(db("update alias"))?;
                Ok(if n == 0 {
                    AliasOutcome::NotFound
                } else {
                    AliasOutcome::Applied
                })
            })
            .await
    }

    async fn delete_alias(
        &self,
        alias_name: &str,
        from: Option<&str>,
    ) -> Result<AliasOutcome, StoreError> {
        let alias_name = alias_name.to_owned();
        let from = from.map(str::to_owned);
        self.writer
            .write(move |c| {
                let n = c
                    .prepare_cached(
                        "DELETE FROM aliases WHERE alias_name = ?1 AND (?2 IS NULL OR key_id = ?2)",
                    )
                    .and_then(|mut s| s.execute(params![alias_name, from]))
                    .map_err(db("delete alias"))?;
                Ok(if n == 0 {
                    AliasOutcome::NotFound
                } else {
                    AliasOutcome::Applied
                })
            })
            .await
    }

    async fn aliases(
        &self,
        key_id: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<AliasRecord>), StoreError> {
        self.read(|c| {
            // `?1 IS NULL` selects every alias; otherwise those of one key.
            let total: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM aliases WHERE ?1 IS NULL OR key_id = ?1")
                .and_then(|mut s| s.query_row([key_id], |r| r.get(0)))
                .map_err(db("count aliases"))?;
            let rows = c
                .prepare_cached("SELECT alias_name, key_id, created_at FROM aliases WHERE ?1 IS NULL OR key_id = ?1 ORDER BY alias_name LIMIT ?2 OFFSET ?3")
                .and_then(|mut s| {
                    s.query_map(params![key_id, clamp(limit), clamp(offset)], |r| AliasRecord::from_row(r))?
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(db("list aliases"))?;
            Ok((u64::try_from(total).unwrap_or_default(), rows))
        })
    }
}

pub(super) fn key_by_id(c: &Connection, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
    c.prepare_cached(concat!(
        "SELECT ",
        key_columns!(),
        " FROM keys WHERE key_id = ?1"
    ))
    .and_then(|mut s| s.query_row([key_id], |r| KeyRecord::from_row(r)).optional())
    .map_err(db("read key"))
}

pub(super) fn insert_key(c: &Connection, k: &KeyRecord) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO keys (key_id, instance_id, key_spec, key_usage, key_state, creator, description, primary_version_id, created_at, delete_at, rotation_interval_secs) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![k.key_id, k.instance_id, k.key_spec.name(), k.key_usage.name(), k.key_state.name(), k.creator, k.description, k.primary_version_id, k.created_at, k.delete_at, k.rotation_interval_secs],
    )
    .map_err(db("write key"))?;
    Ok(())
}

pub(super) fn insert_key_version(c: &Connection, v: &KeyVersionRecord) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO key_versions (key_id, version_id, wrapped_material, created_at, root_id) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![v.key_id, v.version_id, v.wrapped_material, v.created_at, v.root_id],
    )
    .map_err(db("write key version"))?;
    Ok(())
}

/// Writes a key's mutable columns (state, deletion date, description, rotation, primary
/// version) from the record.
fn write_key(c: &Connection, k: &KeyRecord) -> Result<(), StoreError> {
    c.prepare_cached(
        "UPDATE keys SET key_state = ?2, delete_at = ?3, description = ?4, rotation_interval_secs = ?5, primary_version_id = ?6 WHERE key_id = ?1",
    )
    .and_then(|mut s| {
        s.execute(params![
            k.key_id,
            k.key_state.name(),
            k.delete_at,
            k.description,
            k.rotation_interval_secs,
            k.primary_version_id
        ])
    })
    .map_err(db("update key"))?;
    Ok(())
}
