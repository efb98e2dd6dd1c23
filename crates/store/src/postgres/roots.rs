use super::*;

#[async_trait]
impl crate::RootStore for PgStore {
    async fn meta(&self) -> Result<Option<Meta>, StoreError> {
        let meta = sqlx::query("SELECT account_id, root_fingerprint, default_instance, service_key_id, created_at FROM meta WHERE id = 1")
            .try_map(|r: PgRow| rows::meta(&r))
            .fetch_optional(&self.pool)
            .await
            .map_err(pg("read meta"))?;
        if let Some(m) = &meta {
            let _ = self.service_key.set(m.service_key_id.clone());
        }
        Ok(meta)
    }

    async fn initialize(&self, boot: Bootstrap) -> Result<(), StoreError> {
        in_tx!(self, "initialize", |c| initialize(c, &boot))
    }

    async fn roots(&self) -> Result<Vec<RootRecord>, StoreError> {
        sqlx::query("SELECT root_id, kind, locator, state, created_at FROM roots ORDER BY state = 'active' DESC, created_at DESC, root_id")
            .try_map(|r: PgRow| rows::root(&r))
            .fetch_all(&self.pool)
            .await
            .map_err(pg("read roots"))
    }

    async fn activate_root(&self, root: RootRecord) -> Result<(), StoreError> {
        in_tx!(self, "activate root", |c| activate_root(c, &root))
    }

    async fn set_root_locator(&self, root_id: &str, locator: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE roots SET locator = $2 WHERE root_id = $1")
            .bind(root_id)
            .bind(locator)
            .execute(&self.pool)
            .await
            .map_err(pg("write root locator"))?;
        Ok(())
    }

    async fn rows_to_rewrap(&self) -> Result<Vec<WrappedRow>, StoreError> {
        let mut c = self.pool.acquire().await.map_err(pg("rows to rewrap"))?;
        let mut out: Vec<WrappedRow> = sqlx::query("SELECT key_id, version_id, root_id, wrapped_material FROM key_versions WHERE root_id IS DISTINCT FROM (SELECT root_id FROM roots WHERE state = 'active') ORDER BY key_id, version_id")
            .try_map(|r: PgRow| {
                Ok(WrappedRow {
                    target: WrappedTarget::KeyVersion {
                        key_id: r.try_get(0)?,
                        version_id: r.try_get(1)?,
                    },
                    root_id: r.try_get(2)?,
                    wrapped: r.try_get(3)?,
                })
            })
            .fetch_all(&mut *c)
            .await
            .map_err(pg("list key versions to rewrap"))?;
        let access: Vec<WrappedRow> = sqlx::query("SELECT access_key_id, root_id, sealed_secret FROM access_keys WHERE root_id IS DISTINCT FROM (SELECT root_id FROM roots WHERE state = 'active') ORDER BY access_key_id")
            .try_map(|r: PgRow| {
                Ok(WrappedRow {
                    target: WrappedTarget::AccessKey {
                        access_key_id: r.try_get(0)?,
                    },
                    root_id: r.try_get(1)?,
                    wrapped: r.try_get(2)?,
                })
            })
            .fetch_all(&mut *c)
            .await
            .map_err(pg("list access keys to rewrap"))?;
        out.extend(access);
        Ok(out)
    }

    async fn rewrap(
        &self,
        row: WrappedRow,
        wrapped: Vec<u8>,
        root_id: String,
    ) -> Result<bool, StoreError> {
        // Compare-and-set on the old bytes, one statement: a row changed or deleted meanwhile
        // is left alone and reported, never overwritten.
        let n = match &row.target {
            WrappedTarget::KeyVersion { key_id, version_id } => sqlx::query("UPDATE key_versions SET wrapped_material = $1, root_id = $2 WHERE key_id = $3 AND version_id = $4 AND wrapped_material = $5")
                .bind(&wrapped)
                .bind(&root_id)
                .bind(key_id)
                .bind(version_id)
                .bind(&row.wrapped)
                .execute(&self.pool)
                .await
                .map_err(pg("rewrap key version"))?,
            WrappedTarget::AccessKey { access_key_id } => sqlx::query("UPDATE access_keys SET sealed_secret = $1, root_id = $2 WHERE access_key_id = $3 AND sealed_secret = $4")
                .bind(&wrapped)
                .bind(&root_id)
                .bind(access_key_id)
                .bind(&row.wrapped)
                .execute(&self.pool)
                .await
                .map_err(pg("rewrap access key"))?,
        };
        Ok(n.rows_affected() == 1)
    }

    async fn retire_roots(&self) -> Result<bool, StoreError> {
        in_tx!(self, "retire roots", |c| retire_roots(c))
    }
}
