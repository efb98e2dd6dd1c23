//! Secrets, their versions and stage labels, on SQLite.

use super::*;
use crate::dialect::Dialect;
use crate::secrets::{filter_sql, sealing_verdict, secret_columns, version_columns};

#[async_trait]
impl crate::SecretStore for SqliteStore {
    async fn secret(&self, name: &str) -> Result<Option<Arc<SecretRecord>>, StoreError> {
        let generation = match self.cache.secret(name) {
            Ok(hit) => return Ok(Some(hit)),
            Err(generation) => generation,
        };
        let Some(rec) = self.read(|c| secret_by_name(c, name))? else {
            return Ok(None);
        };
        let rec = Arc::new(rec);
        self.cache.put_secret(generation, rec.clone());
        Ok(Some(rec))
    }

    async fn version(
        &self,
        secret: &SecretRecord,
        version_id: &str,
    ) -> Result<Option<Arc<VersionRecord>>, StoreError> {
        let secret_id = secret.id;
        let generation = match self.cache.version(secret_id, version_id) {
            Ok(hit) => return Ok(Some(hit)),
            Err(generation) => generation,
        };
        let found = self.read(|c| {
            c.prepare_cached(concat!(
                "SELECT ",
                version_columns!(),
                " FROM secret_versions WHERE secret_id = ?1 AND version_id = ?2"
            ))
            .and_then(|mut s| {
                s.query_row(params![secret_id, version_id], |r| {
                    VersionRecord::from_row(r)
                })
                .optional()
            })
            .map_err(db("read secret version"))
        })?;
        let Some(rec) = found else {
            return Ok(None);
        };
        let rec = Arc::new(rec);
        self.cache.put_version(generation, secret_id, rec.clone());
        Ok(Some(rec))
    }

    async fn versions(&self, secret_id: i64) -> Result<Vec<VersionMeta>, StoreError> {
        self.read(|c| version_metas(c, secret_id))
    }

    async fn list_secrets(
        &self,
        filter: &SecretFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<SecretRecord>), StoreError> {
        self.read(|c| list_secrets(c, filter, offset, limit))
    }

    async fn create_secret(&self, new: NewSecret) -> Result<CreateOutcome, StoreError> {
        let name = new.secret.name.clone();
        let out = self
            .writer
            .write(move |c| {
                if let Some(existing) = secret_by_name(c, &new.secret.name)? {
                    return Ok(CreateOutcome::NameTaken {
                        pending_deletion: existing.planned_delete_at.is_some(),
                    });
                }
                if let Err(r) = sealing_key_check(c, &new.first_version.key_id)? {
                    return Ok(CreateOutcome::SealingKeyRefused(r));
                }
                let id = insert_secret(c, &new.secret)?;
                for t in &new.tags {
                    c.prepare_cached("INSERT INTO secret_tags (secret_id, tag_key, tag_value) VALUES (?1, ?2, ?3)")
                        .and_then(|mut s| s.execute(params![id, t.key, t.value]))
                        .map_err(db("write tag"))?;
                }
                insert_version(c, id, &new.first_version)?;
                Ok(CreateOutcome::Created)
            })
            .await;
        self.cache.invalidate(&name, None);
        out
    }

    async fn update_secret(&self, name: &str, plan: PlanFn) -> Result<UpdateOutcome, StoreError> {
        let owned = name.to_owned();
        let result = self
            .writer
            .write(move |c| {
                let name = owned;
                let Some(secret) = secret_by_name(c, &name)? else {
                    return Ok((UpdateOutcome::NotFound, None));
                };
                let versions = version_metas(c, secret.id)?;
                let id = secret.id;
                let state = SecretState { secret, versions };
                let mut update = match plan(&state) {
                    Ok(u) => u,
                    Err(r) => return Ok((UpdateOutcome::Rejected(r), Some(id))),
                };
                if update.purge {
                    c.prepare_cached("DELETE FROM secrets WHERE id = ?1")
                        .and_then(|mut s| s.execute([id]))
                        .map_err(db("purge secret"))?;
                    return Ok((UpdateOutcome::Applied(None), Some(id)));
                }
                if let Some(v) = &update.insert_version {
                    // Checked here, not before the write: a key disabled or scheduled for
                    // deletion by a write that committed first refuses the version.
                    if let Err(r) = sealing_key_check(c, &v.key_id)? {
                        return Ok((UpdateOutcome::SealingKeyRefused(r), Some(id)));
                    }
                    insert_version(c, id, v)?;
                }
                for v in &update.delete_versions {
                    c.prepare_cached(
                        "DELETE FROM secret_versions WHERE secret_id = ?1 AND version_id = ?2",
                    )
                    .and_then(|mut s| s.execute(params![id, v]))
                    .map_err(db("drop version"))?;
                }
                let mut next = state.secret;
                update.apply_to(&mut next);
                update_secret_row(c, &next)?;
                Ok((UpdateOutcome::Applied(Some(Box::new(next))), Some(id)))
            })
            .await;
        // Invalidate even when the write failed: its outcome is unknown to the cache.
        let id = result.as_ref().ok().and_then(|(_, id)| *id);
        self.cache.invalidate(name, id);
        result.map(|(outcome, _)| outcome)
    }

    async fn purge_expired(&self, now: i64) -> Result<Vec<String>, StoreError> {
        let out = self
            .writer
            .write(move |c| {
                let mut stmt = c
                    .prepare_cached("DELETE FROM secrets WHERE planned_delete_at IS NOT NULL AND planned_delete_at <= ?1 RETURNING name")
                    .map_err(db("purge expired"))?;
                let names = stmt
                    .query_map([now], |r| r.get::<_, String>("name"))
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(db("purge expired"))?;
                Ok(names)
            })
            .await;
        if !matches!(&out, Ok(names) if names.is_empty()) {
            self.cache.clear();
        }
        out
    }
}

fn secret_by_name(c: &Connection, name: &str) -> Result<Option<SecretRecord>, StoreError> {
    c.prepare_cached(concat!(
        "SELECT ",
        secret_columns!(),
        ", 0 AS revision FROM secrets WHERE name = ?1"
    ))
    .and_then(|mut s| {
        s.query_row([name], |r| SecretRecord::from_row(r))
            .optional()
    })
    .map_err(db("read secret"))
}

fn list_secrets(
    c: &Connection,
    f: &SecretFilter,
    offset: u64,
    limit: u64,
) -> Result<(u64, Vec<SecretRecord>), StoreError> {
    let (clause, args) = filter_sql(f, Dialect::Sqlite);
    // Unfiltered: the trigger-maintained counter, so the first page costs the same at any
    // number of secrets. Filtered: counting needs the matching rows.
    let count_sql = if clause.is_empty() {
        "SELECT value FROM counters WHERE name = 'secrets'".to_owned()
    } else {
        format!("SELECT COUNT(*) FROM secrets s{clause}")
    };
    let total: i64 = c
        .prepare_cached(&count_sql)
        .and_then(|mut s| s.query_row(rusqlite::params_from_iter(args.iter()), |r| r.get(0)))
        .map_err(db("count secrets"))?;
    let sql = format!(
        concat!(
            "SELECT ",
            secret_columns!(),
            ", 0 AS revision FROM secrets s{} ORDER BY s.id LIMIT {} OFFSET {}"
        ),
        clause,
        clamp(limit),
        clamp(offset)
    );
    let mut stmt = c.prepare_cached(&sql).map_err(db("list secrets"))?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(args.iter()), |r| {
            SecretRecord::from_row(r)
        })
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(db("list secrets"))?;
    Ok((u64::try_from(total).unwrap_or_default(), rows))
}

fn version_metas(c: &Connection, secret_id: i64) -> Result<Vec<VersionMeta>, StoreError> {
    let mut s = c
        .prepare_cached(
            "SELECT version_id, created_at FROM secret_versions WHERE secret_id = ?1 ORDER BY seq",
        )
        .map_err(db("read versions"))?;
    s.query_map([secret_id], |r| VersionMeta::from_row(r))
        .and_then(|it| it.collect())
        .map_err(db("read versions"))
}

/// Whether the key `key_id` may seal a new secret version now. Run inside the write that
/// inserts the version, so a DisableKey or ScheduleKeyDeletion that commits first is seen.
fn sealing_key_check(
    c: &Connection,
    key_id: &str,
) -> Result<Result<(), SealingKeyRefusal>, StoreError> {
    let state: Option<String> = c
        .prepare_cached("SELECT key_state FROM keys WHERE key_id = ?1")
        .and_then(|mut s| s.query_row([key_id], |r| r.get(0)).optional())
        .map_err(db("read sealing key state"))?;
    sealing_verdict(state)
}

fn insert_secret(c: &Connection, s: &SecretRecord) -> Result<i64, StoreError> {
    let stages = s.stages_json()?;
    let progress = s.progress_json()?;
    c.prepare_cached(
        "INSERT INTO secrets (name, secret_type, description, encryption_key_id, dkms_instance_id, extended_config, rotation_enabled, rotation_interval, next_rotation_at, last_rotation_at, policy, stages, created_at, updated_at, planned_delete_at, rotation_state, rotation_due_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    )
    .and_then(|mut st| {
        st.execute(params![
            s.name,
            s.secret_type.wire_name(),
            s.description,
            s.encryption_key_id,
            s.dkms_instance_id,
            s.extended_config,
            s.rotation.enabled,
            s.rotation.interval_secs,
            s.rotation.next_at,
            s.rotation.last_at,
            s.policy,
            stages,
            s.created_at,
            s.updated_at,
            s.planned_delete_at,
            progress,
            s.rotation_due(),
        ])
    })
    .map_err(db("write secret"))?;
    Ok(c.last_insert_rowid())
}

fn update_secret_row(c: &Connection, s: &SecretRecord) -> Result<(), StoreError> {
    let stages = s.stages_json()?;
    let progress = s.progress_json()?;
    c.prepare_cached(
        "UPDATE secrets SET description = ?2, extended_config = ?3, rotation_enabled = ?4, rotation_interval = ?5, next_rotation_at = ?6, last_rotation_at = ?7, policy = ?8, stages = ?9, updated_at = ?10, planned_delete_at = ?11, rotation_state = ?12, rotation_due_at = ?13 WHERE id = ?1",
    )
    .and_then(|mut st| {
        st.execute(params![
            s.id,
            s.description,
            s.extended_config,
            s.rotation.enabled,
            s.rotation.interval_secs,
            s.rotation.next_at,
            s.rotation.last_at,
            s.policy,
            stages,
            s.updated_at,
            s.planned_delete_at,
            progress,
            s.rotation_due(),
        ])
    })
    .map_err(db("update secret"))?;
    Ok(())
}

fn insert_version(c: &Connection, secret_id: i64, v: &VersionRecord) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO secret_versions (secret_id, version_id, seq, data_type, key_id, key_version_id, wrapped_key, ciphertext, created_at) VALUES (?1, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM secret_versions WHERE secret_id = ?1), ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut st| {
        st.execute(params![
            secret_id,
            v.version_id,
            v.data_type.wire_name(),
            v.key_id,
            v.key_version_id,
            v.wrapped_key,
            v.ciphertext,
            v.created_at,
        ])
    })
    .map_err(db("write secret version"))?;
    Ok(())
}
