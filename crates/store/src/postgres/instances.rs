use super::*;

#[async_trait]
impl crate::InstanceStore for PgStore {
    async fn instances(
        &self,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<InstanceRecord>), StoreError> {
        read_tx!(self, "list instances", |tx| async {
            let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM instances")
                .fetch_one(&mut *tx)
                .await
                .map_err(pg("count instances"))?;
            let ids: Vec<String> = sqlx::query_scalar(
                "SELECT instance_id FROM instances ORDER BY created_at, instance_id LIMIT $1 OFFSET $2",
            )
            .bind(clamp(limit))
            .bind(clamp(offset))
            .fetch_all(&mut *tx)
            .await
            .map_err(pg("list instances"))?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(rec) = rows::instance(&mut *tx, &id).await? {
                    out.push(rec);
                }
            }
            Ok((u64::try_from(total).unwrap_or_default(), out))
        })
    }

    async fn instance(&self, instance_id: &str) -> Result<Option<InstanceRecord>, StoreError> {
        let mut c = self.pool.acquire().await.map_err(pg("read instance"))?;
        rows::instance(&mut c, instance_id).await
    }

    async fn instance_exists(&self, instance_id: &str) -> Result<bool, StoreError> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM instances WHERE instance_id = $1)")
            .bind(instance_id)
            .fetch_one(&self.pool)
            .await
            .map_err(pg("read instance"))
    }
}
