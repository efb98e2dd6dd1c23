//! KMS instances, on PostgreSQL.

use super::*;
use crate::instances::instance_sql;

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
                if let Some(rec) = instance(&mut *tx, &id).await? {
                    out.push(rec);
                }
            }
            Ok((u64::try_from(total).unwrap_or_default(), out))
        })
    }

    async fn instance(&self, instance_id: &str) -> Result<Option<InstanceRecord>, StoreError> {
        let mut c = self.pool.acquire().await.map_err(pg("read instance"))?;
        instance(&mut c, instance_id).await
    }

    async fn instance_exists(&self, instance_id: &str) -> Result<bool, StoreError> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM instances WHERE instance_id = $1)")
            .bind(instance_id)
            .fetch_one(&self.pool)
            .await
            .map_err(pg("read instance"))
    }
}

async fn instance(c: &mut PgConnection, id: &str) -> Result<Option<InstanceRecord>, StoreError> {
    sqlx::query(concat!(instance_sql!(), "$1"))
        .bind(id)
        .try_map(|r: PgRow| InstanceRecord::from_row(&r))
        .fetch_optional(c)
        .await
        .map_err(pg("read instance"))
}
