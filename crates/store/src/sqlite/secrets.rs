use super::*;

#[async_trait]
impl crate::SecretStore for SqliteStore {
    async fn secret(&self, name: &str) -> Result<Option<Arc<SecretRecord>>, StoreError> {
        let generation = match self.cache.secret(name) {
            Ok(hit) => return Ok(Some(hit)),
            Err(generation) => generation,
        };
        let Some(rec) = self.read(|c| rows::secret_by_name(c, name))? else {
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
            c.prepare_cached("SELECT version_id, data_type, key_id, key_version_id, wrapped_key, ciphertext, created_at FROM secret_versions WHERE secret_id = ?1 AND version_id = ?2")
                .and_then(|mut s| s.query_row(params![secret_id, version_id], rows::version).optional())
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
        self.read(|c| rows::version_metas(c, secret_id))
    }

    async fn list_secrets(
        &self,
        filter: &SecretFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<SecretRecord>), StoreError> {
        self.read(|c| rows::list_secrets(c, filter, offset, limit))
    }

    async fn create_secret(&self, new: NewSecret) -> Result<CreateOutcome, StoreError> {
        let name = new.secret.name.clone();
        let out = self
            .writer
            .write(move |c| {
                if let Some(existing) = rows::secret_by_name(c, &new.secret.name)? {
                    return Ok(CreateOutcome::NameTaken {
                        pending_deletion: existing.planned_delete_at.is_some(),
                    });
                }
                if let Err(r) = rows::sealing_key_check(c, &new.first_version.key_id)? {
                    return Ok(CreateOutcome::SealingKeyRefused(r));
                }
                let id = rows::insert_secret(c, &new.secret)?;
                for t in &new.tags {
                    c.prepare_cached("INSERT INTO secret_tags (secret_id, tag_key, tag_value) VALUES (?1, ?2, ?3)")
                        .and_then(|mut s| s.execute(params![id, t.key, t.value]))
                        .map_err(db("write tag"))?;
                }
                rows::insert_version(c, id, &new.first_version)?;
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
                let Some(secret) = rows::secret_by_name(c, &name)? else {
                    return Ok((UpdateOutcome::NotFound, None));
                };
                let versions = rows::version_metas(c, secret.id)?;
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
                    if let Err(r) = rows::sealing_key_check(c, &v.key_id)? {
                        return Ok((UpdateOutcome::SealingKeyRefused(r), Some(id)));
                    }
                    rows::insert_version(c, id, v)?;
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
                rows::update_secret_row(c, &next)?;
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
                    .query_map([now], |r| r.get::<_, String>(0))
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
