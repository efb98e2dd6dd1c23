//! Registered database instances and rotation leases, on PostgreSQL.

use super::*;
use crate::rotation::db_instance_columns;

#[async_trait]
impl crate::RotationStore for PgStore {
    async fn db_instance(&self, instance_id: &str) -> Result<Option<DbInstanceRecord>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            db_instance_columns!(),
            " FROM db_instances WHERE instance_id = $1"
        ))
        .bind(instance_id)
        .try_map(|r: PgRow| DbInstanceRecord::from_row(&r))
        .fetch_optional(&self.pool)
        .await
        .map_err(pg("read db instance"))
    }

    async fn db_instances(&self) -> Result<Vec<DbInstanceRecord>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            db_instance_columns!(),
            " FROM db_instances ORDER BY instance_id"
        ))
        .try_map(|r: PgRow| DbInstanceRecord::from_row(&r))
        .fetch_all(&self.pool)
        .await
        .map_err(pg("list db instances"))
    }

    async fn add_db_instance(&self, rec: DbInstanceRecord) -> Result<bool, StoreError> {
        sqlx::query(concat!(
            "INSERT INTO db_instances (",
            db_instance_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (instance_id) DO NOTHING"
        ))
        .bind(&rec.instance_id)
        .bind(rec.engine.name())
        .bind(&rec.address)
        .bind(&rec.admin_secret)
        .bind(rec.created_at)
        .bind(rec.tls_mode.name())
        .bind(&rec.tls_ca)
        .execute(&self.pool)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(pg("register db instance"))
    }

    async fn remove_db_instance(&self, instance_id: &str) -> Result<bool, StoreError> {
        sqlx::query("DELETE FROM db_instances WHERE instance_id = $1")
            .bind(instance_id)
            .execute(&self.pool)
            .await
            .map(|r| r.rows_affected() == 1)
            .map_err(pg("remove db instance"))
    }

    async fn claim_due_rotations(
        &self,
        now: i64,
        owner: &str,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        // SKIP LOCKED: a node claiming at the same moment takes other due secrets instead of
        // waiting for these (and the WHERE is rechecked on the locked row, so an unexpired
        // lease taken meanwhile is not stolen).
        sqlx::query_scalar(
            "UPDATE secrets SET rotation_lease_owner = $1, rotation_lease_until = $2 WHERE id IN (SELECT id FROM secrets WHERE rotation_due_at IS NOT NULL AND rotation_due_at <= $3 AND (rotation_lease_until IS NULL OR rotation_lease_until <= $3) ORDER BY rotation_due_at LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING name",
        )
        .bind(owner)
        .bind(lease_until)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(pg("claim due rotations"))
    }

    async fn claim_rotation(
        &self,
        name: &str,
        now: i64,
        owner: &str,
        lease_until: i64,
    ) -> Result<bool, StoreError> {
        sqlx::query(
            "UPDATE secrets SET rotation_lease_owner = $1, rotation_lease_until = $2 WHERE name = $3 AND (rotation_lease_until IS NULL OR rotation_lease_until <= $4 OR rotation_lease_owner = $1)",
        )
        .bind(owner)
        .bind(lease_until)
        .bind(name)
        .bind(now)
        .execute(&self.pool)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(pg("claim rotation"))
    }

    async fn release_rotation(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE secrets SET rotation_lease_owner = NULL, rotation_lease_until = NULL WHERE name = $1 AND rotation_lease_owner = $2",
        )
        .bind(name)
        .bind(owner)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(pg("release rotation"))
    }
}
