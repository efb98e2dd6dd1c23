//! KMS instances, on SQLite.

use super::*;
use crate::instances::instance_sql;

#[async_trait]
impl crate::InstanceStore for SqliteStore {
    async fn instances(
        &self,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<InstanceRecord>), StoreError> {
        self.read(|c| {
            let total: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM instances")
                .and_then(|mut s| s.query_row([], |r| r.get(0)))
                .map_err(db("count instances"))?;
            let ids: Vec<String> = c
                .prepare_cached("SELECT instance_id FROM instances ORDER BY created_at, instance_id LIMIT ?1 OFFSET ?2")
                .and_then(|mut s| {
                    s.query_map(params![clamp(limit), clamp(offset)], |r| r.get("instance_id"))?
                        .collect()
                })
                .map_err(db("list instances"))?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(rec) = instance(c, &id)? {
                    out.push(rec);
                }
            }
            Ok((u64::try_from(total).unwrap_or_default(), out))
        })
    }

    async fn instance(&self, instance_id: &str) -> Result<Option<InstanceRecord>, StoreError> {
        self.read(|c| instance(c, instance_id))
    }

    async fn instance_exists(&self, instance_id: &str) -> Result<bool, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT 1 FROM instances WHERE instance_id = ?1")
                .and_then(|mut s| s.exists([instance_id]))
                .map_err(db("read instance"))
        })
    }
}

fn instance(c: &Connection, id: &str) -> Result<Option<InstanceRecord>, StoreError> {
    c.prepare_cached(concat!(instance_sql!(), "?1"))
        .and_then(|mut s| {
            s.query_row([id], |r| InstanceRecord::from_row(r))
                .optional()
        })
        .map_err(db("read instance"))
}
