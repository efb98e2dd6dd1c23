//! Registered database instances and rotation leases, on SQLite.

use super::*;
use crate::rotation::db_instance_columns;

#[async_trait]
impl crate::RotationStore for SqliteStore {
    async fn db_instance(&self, instance_id: &str) -> Result<Option<DbInstanceRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(concat!(
                "SELECT ",
                db_instance_columns!(),
                " FROM db_instances WHERE instance_id = ?1"
            ))
            .and_then(|mut s| {
                s.query_row([instance_id], |r| DbInstanceRecord::from_row(r))
                    .optional()
            })
            .map_err(db("read db instance"))
        })
    }

    async fn db_instances(&self) -> Result<Vec<DbInstanceRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(concat!(
                "SELECT ",
                db_instance_columns!(),
                " FROM db_instances ORDER BY instance_id"
            ))
            .and_then(|mut s| {
                s.query_map([], |r| DbInstanceRecord::from_row(r))?
                    .collect()
            })
            .map_err(db("list db instances"))
        })
    }

    async fn add_db_instance(&self, rec: DbInstanceRecord) -> Result<bool, StoreError> {
        self.writer
            .write(move |c| {
                c.prepare_cached(concat!(
                    "INSERT INTO db_instances (",
                    db_instance_columns!(),
                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (instance_id) DO NOTHING"
                ))
                .and_then(|mut s| {
                    s.execute(params![
                        rec.instance_id,
                        rec.engine.name(),
                        rec.address,
                        rec.admin_secret,
                        rec.created_at,
                        rec.tls_mode.name(),
                        rec.tls_ca
                    ])
                })
                .map(|n| n == 1)
                .map_err(db("register db instance"))
            })
            .await
    }

    async fn remove_db_instance(&self, instance_id: &str) -> Result<bool, StoreError> {
        let id = instance_id.to_owned();
        self.writer
            .write(move |c| {
                c.prepare_cached("DELETE FROM db_instances WHERE instance_id = ?1")
                    .and_then(|mut s| s.execute([id]))
                    .map(|n| n == 1)
                    .map_err(db("remove db instance"))
            })
            .await
    }

    async fn claim_due_rotations(
        &self,
        now: i64,
        owner: &str,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let owner = owner.to_owned();
        self.writer
            .write(move |c| {
                c.prepare_cached(
                    "UPDATE secrets SET rotation_lease_owner = ?1, rotation_lease_until = ?2 WHERE id IN (SELECT id FROM secrets WHERE rotation_due_at IS NOT NULL AND rotation_due_at <= ?3 AND (rotation_lease_until IS NULL OR rotation_lease_until <= ?3) ORDER BY rotation_due_at LIMIT ?4) RETURNING name",
                )
                .and_then(|mut s| {
                    s.query_map(params![owner, lease_until, now, limit], |r| r.get("name"))?
                        .collect()
                })
                .map_err(db("claim due rotations"))
            })
            .await
    }

    async fn claim_rotation(
        &self,
        name: &str,
        now: i64,
        owner: &str,
        lease_until: i64,
    ) -> Result<bool, StoreError> {
        let (name, owner) = (name.to_owned(), owner.to_owned());
        self.writer
            .write(move |c| {
                c.prepare_cached(
                    "UPDATE secrets SET rotation_lease_owner = ?1, rotation_lease_until = ?2 WHERE name = ?3 AND (rotation_lease_until IS NULL OR rotation_lease_until <= ?4 OR rotation_lease_owner = ?1)",
                )
                .and_then(|mut s| s.execute(params![owner, lease_until, name, now]))
                .map(|n| n == 1)
                .map_err(db("claim rotation"))
            })
            .await
    }

    async fn release_rotation(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        let (name, owner) = (name.to_owned(), owner.to_owned());
        self.writer
            .write(move |c| {
                c.prepare_cached(
                    "UPDATE secrets SET rotation_lease_owner = NULL, rotation_lease_until = NULL WHERE name = ?1 AND rotation_lease_owner = ?2",
                )
                .and_then(|mut s| s.execute(params![name, owner]))
                .map(|_| ())
                .map_err(db("release rotation"))
            })
            .await
    }
}
