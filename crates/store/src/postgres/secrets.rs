use super::*;

#[async_trait]
impl crate::SecretStore for PgStore {
    async fn secret(&self, name: &str) -> Result<Option<Arc<SecretRecord>>, StoreError> {
        let mut c = self.pool.acquire().await.map_err(pg("read secret"))?;
        Ok(rows::secret_by_name(&mut c, name, Lock::None)
            .await?
            .map(Arc::new))
    }

    async fn version(
        &self,
        secret: &SecretRecord,
        version_id: &str,
    ) -> Result<Option<Arc<VersionRecord>>, StoreError> {
        let secret_id = secret.id;
        if let Some(v) = self.versions.get(secret, version_id) {
            return Ok(Some(v));
        }
        let v = sqlx::query("SELECT version_id, data_type, key_id, key_version_id, wrapped_key, ciphertext, created_at FROM secret_versions WHERE secret_id = $1 AND version_id = $2")
            .bind(secret_id)
            .bind(version_id)
            .try_map(|r: PgRow| rows::version(&r))
            .fetch_optional(&self.pool)
            .await
            .map_err(pg("read secret version"))?
            .map(Arc::new);
        if let Some(v) = &v {
            self.versions.put(secret, v.clone());
        }
        Ok(v)
    }

    async fn versions(&self, secret_id: i64) -> Result<Vec<VersionMeta>, StoreError> {
        let mut c = self.pool.acquire().await.map_err(pg("read versions"))?;
        rows::version_metas(&mut c, secret_id).await
    }

    async fn list_secrets(
        &self,
        filter: &SecretFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<SecretRecord>), StoreError> {
        read_tx!(self, "list secrets", |tx| async {
            rows::list_secrets(&mut *tx, filter, offset, limit).await
        })
    }

    async fn create_secret(&self, new: NewSecret) -> Result<CreateOutcome, StoreError> {
        let service_key = self.service_key.get().map(String::as_str);
        in_tx!(self, "create secret", |c| create_secret(
            c,
            &new,
            service_key
        ))
    }

    async fn update_secret(&self, name: &str, plan: PlanFn) -> Result<UpdateOutcome, StoreError> {
        // Declared before the answer, so dropped after it: a cancelled call unqueues its write.
        let _prune = self.writes.pruning(name);
        let mut answer = self.writes.enqueue(name, plan);
        // Whichever comes first: the answer (another turn took this write along), or a turn of
        // our own. A caller whose write is done must not queue for a turn just to find
        // nothing left: the callers behind it would wait for one empty turn each.
        let turn = tokio::select! {
            biased;
            done = &mut answer => return done.map_err(|_| StoreError::Unavailable)?,
            turn = self.writes.turn(name) => turn,
        };
        {
            let _turn = turn;
            let batch = self.writes.take(name);
            if !batch.is_empty() {
                let job = SecretWrites {
                    pool: self.pool.clone(),
                    name: name.to_owned(),
                    service_key: self.service_key.get().cloned(),
                };
                // A task of its own: the batch holds other callers' writes, which must be
                // applied and answered even if this caller goes away meanwhile. (A failed task
                // dropped its replies: those callers get 503 below.)
                let _ = tokio::spawn(job.apply(batch)).await;
            }
        }
        answer.await.map_err(|_| StoreError::Unavailable)?
    }

    async fn purge_expired(&self, now: i64) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar("DELETE FROM secrets WHERE planned_delete_at IS NOT NULL AND planned_delete_at <= $1 RETURNING name")
            .bind(now)
            .fetch_all(&self.pool)
            .await
            .map_err(pg("purge expired"))
    }
}
