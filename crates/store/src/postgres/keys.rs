use super::*;

#[async_trait]
impl crate::KeyStore for PgStore {
    async fn key(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let mut c = self.pool.acquire().await.map_err(pg("read key"))?;
        rows::key_by_id(&mut c, key_id, Lock::None).await
    }

    async fn key_version(
        &self,
        key_id: &str,
        version_id: &str,
    ) -> Result<Option<KeyVersionRecord>, StoreError> {
        sqlx::query("SELECT key_id, version_id, wrapped_material, created_at, root_id FROM key_versions WHERE key_id = $1 AND version_id = $2")
            .bind(key_id)
            .bind(version_id)
            .try_map(|r: PgRow| rows::key_version(&r))
            .fetch_optional(&self.pool)
            .await
            .map_err(pg("read key version"))
    }

    async fn create_key(
        &self,
        key: KeyRecord,
        version: KeyVersionRecord,
        tags: Vec<TagRecord>,
    ) -> Result<(), StoreError> {
        in_tx!(self, "create key", |c| create_key(c, &key, &version, &tags))
    }

    async fn list_user_keys(
        &self,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<KeyRecord>), StoreError> {
        read_tx!(self, "list keys", |tx| async {
            let total: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM keys WHERE creator <> 'Service'")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(pg("count keys"))?;
            let keys = sqlx::query(concat!(
                "SELECT ",
                rows::key_columns!(),
                " FROM keys WHERE creator <> 'Service' ORDER BY seq LIMIT $1 OFFSET $2"
            ))
            .bind(clamp(limit))
            .bind(clamp(offset))
            .try_map(|r: PgRow| rows::key(&r))
            .fetch_all(&mut *tx)
            .await
            .map_err(pg("list keys"))?;
            Ok((u64::try_from(total).unwrap_or_default(), keys))
        })
    }

    async fn update_key(
        &self,
        key_id: &str,
        plan: KeyPlanFn,
    ) -> Result<KeyUpdateOutcome, StoreError> {
        in_tx!(self, "update key", |c| update_key(c, key_id, &plan))
    }

    async fn add_key_version(
        &self,
        version: KeyVersionRecord,
        plan: KeyPlanFn,
    ) -> Result<KeyUpdateOutcome, StoreError> {
        in_tx!(self, "add key version", |c| add_key_version(
            c, &version, &plan
        ))
    }

    async fn key_versions(
        &self,
        key_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<KeyVersionRecord>), StoreError> {
        read_tx!(self, "list key versions", |tx| async {
            let total: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM key_versions WHERE key_id = $1")
                    .bind(key_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(pg("count key versions"))?;
            let rows = sqlx::query("SELECT key_id, version_id, wrapped_material, created_at, root_id FROM key_versions WHERE key_id = $1 ORDER BY created_at, seq LIMIT $2 OFFSET $3")
                .bind(key_id)
                .bind(clamp(limit))
                .bind(clamp(offset))
                .try_map(|r: PgRow| rows::key_version(&r))
                .fetch_all(&mut *tx)
                .await
                .map_err(pg("list key versions"))?;
            Ok((u64::try_from(total).unwrap_or_default(), rows))
        })
    }

    async fn keys_due_for_rotation(&self, now: i64) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(concat!(
            "SELECT key_id FROM (SELECT ",
            rows::key_columns!(),
            " AS last_rotation_at FROM keys WHERE creator <> 'Service' AND key_state = 'Enabled' AND rotation_interval_secs IS NOT NULL) k WHERE last_rotation_at + rotation_interval_secs <= $1 ORDER BY created_at, key_id"
        ))
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(pg("find keys due for rotation"))
    }

    async fn destroy_expired_keys(&self, now: i64) -> Result<Vec<String>, StoreError> {
        in_tx!(self, "destroy expired keys", |c| destroy_expired_keys(
            c, now
        ))
    }

    async fn alias(&self, alias_name: &str) -> Result<Option<AliasRecord>, StoreError> {
        sqlx::query("SELECT alias_name, key_id, created_at FROM aliases WHERE alias_name = $1")
            .bind(alias_name)
            .try_map(|r: PgRow| rows::alias(&r))
            .fetch_optional(&self.pool)
            .await
            .map_err(pg("read alias"))
    }

    async fn create_alias(&self, rec: AliasRecord) -> Result<AliasOutcome, StoreError> {
        let n = sqlx::query("INSERT INTO aliases (alias_name, key_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (alias_name) DO NOTHING")
            .bind(&rec.alias_name)
            .bind(&rec.key_id)
            .bind(rec.created_at)
            .execute(&self.pool)
            .await
            .map_err(pg("write alias"))?
            .rows_affected();
        Ok(if n == 0 {
            AliasOutcome::Taken
        } else {
            AliasOutcome::Applied
        })
    }

    async fn update_alias(
        &self,
        alias_name: &str,
        key_id: &str,
        from: Option<&str>,
    ) -> Result<AliasOutcome, StoreError> {
        let n = sqlx::query(
            "UPDATE aliases SET key_id = $2 \
             WHERE alias_name = $1 AND ($3::text IS NULL OR key_id = $3)",
        )
        .bind(alias_name)
        .bind(key_id)
        .bind(from)
        .execute(&self.pool)
        .await
        .map_err(pg("update alias"))?
        .rows_affected();
        Ok(if n == 0 {
            AliasOutcome::NotFound
        } else {
            AliasOutcome::Applied
        })
    }

    async fn delete_alias(
        &self,
        alias_name: &str,
        from: Option<&str>,
    ) -> Result<AliasOutcome, StoreError> {
        let n = sqlx::query(
            "DELETE FROM aliases WHERE alias_name = $1 AND ($2::text IS NULL OR key_id = $2)",
        )
        .bind(alias_name)
        .bind(from)
        .execute(&self.pool)
        .await
        .map_err(pg("delete alias"))?
        .rows_affected();
        Ok(if n == 0 {
            AliasOutcome::NotFound
        } else {
            AliasOutcome::Applied
        })
    }

    async fn aliases(
        &self,
        key_id: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<AliasRecord>), StoreError> {
        read_tx!(self, "list aliases", |tx| async {
            // `$1 IS NULL` selects every alias; otherwise those of one key.
            let total: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM aliases WHERE $1::text IS NULL OR key_id = $1",
            )
            .bind(key_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(pg("count aliases"))?;
            let rows = sqlx::query("SELECT alias_name, key_id, created_at FROM aliases WHERE $1::text IS NULL OR key_id = $1 ORDER BY alias_name LIMIT $2 OFFSET $3")
                .bind(key_id)
                .bind(clamp(limit))
                .bind(clamp(offset))
                .try_map(|r: PgRow| rows::alias(&r))
                .fetch_all(&mut *tx)
                .await
                .map_err(pg("list aliases"))?;
            Ok((u64::try_from(total).unwrap_or_default(), rows))
        })
    }
}
