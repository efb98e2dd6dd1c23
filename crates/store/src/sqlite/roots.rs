//! The installation and its roots of trust, on SQLite.

use super::identities::insert_access_key;
use super::keys::{insert_key, insert_key_version};
use super::*;

#[async_trait]
impl crate::RootStore for SqliteStore {
    async fn meta(&self) -> Result<Option<Meta>, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT account_id, root_fingerprint, default_instance, service_key_id, created_at FROM meta WHERE id = 1")
                .and_then(|mut s| s.query_row([], |r| Meta::from_row(r)).optional())
                .map_err(db("read meta"))
        })
    }

    async fn initialize(&self, boot: Bootstrap) -> Result<(), StoreError> {
        self.writer
            .write(move |c| {
                let m = &boot.meta;
                let exists = c
                    .prepare_cached("SELECT 1 FROM meta WHERE id = 1")
                    .and_then(|mut s| s.exists([]))
                    .map_err(db("read meta"))?;
                if exists {
                    return Err(StoreError::AlreadyInitialized);
                }
                c.execute(
                    "INSERT INTO meta (id, account_id, root_fingerprint, default_instance, service_key_id, created_at) VALUES (1, ?1, ?2, ?3, ?4, ?5)",
                    params![m.account_id, m.root_fingerprint, m.default_instance, m.service_key_id, m.created_at],
                )
                .map_err(db("write meta"))?;
                c.execute(
                    "INSERT INTO instances (instance_id, created_at) VALUES (?1, ?2)",
                    params![m.default_instance, m.created_at],
                )
                .map_err(db("write instance"))?;
                insert_root(c, &boot.root)?;
                insert_key(c, &boot.service_key)?;
                insert_key_version(c, &boot.service_key_version)?;
                for ak in &boot.access_keys {
                    insert_access_key(c, ak)?;
                }
                Ok(())
            })
            .await
    }

    async fn roots(&self) -> Result<Vec<RootRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT root_id, kind, locator, state, created_at FROM roots ORDER BY state = 'active' DESC, created_at DESC, root_id")
                .and_then(|mut s| s.query_map([], |r| RootRecord::from_row(r))?.collect())
                .map_err(db("read roots"))
        })
    }

    async fn activate_root(&self, root: RootRecord) -> Result<(), StoreError> {
        self.writer
            .write(move |c| {
                c.execute(
                    "UPDATE roots SET state = 'retiring' WHERE state = 'active' AND root_id <> ?1",
                    [&root.root_id],
                )
                .map_err(db("demote active root"))?;
                c.execute(
                    "INSERT INTO roots (root_id, kind, locator, state, created_at) VALUES (?1, ?2, ?3, 'active', ?4) ON CONFLICT (root_id) DO UPDATE SET state = 'active', locator = COALESCE(excluded.locator, roots.locator)",
                    params![root.root_id, root.kind, root.locator, root.created_at],
                )
                .map_err(db("activate root"))?;
                Ok(())
            })
            .await
    }

    async fn set_root_locator(&self, root_id: &str, locator: &str) -> Result<(), StoreError> {
        let (id, loc) = (root_id.to_owned(), locator.to_owned());
        self.writer
            .write(move |c| {
                c.execute(
                    "UPDATE roots SET locator = ?2 WHERE root_id = ?1",
                    [id, loc],
                )
                .map_err(db("write root locator"))?;
                Ok(())
            })
            .await
    }

    async fn rows_to_rewrap(&self) -> Result<Vec<WrappedRow>, StoreError> {
        self.read(|c| {
            let active = "(SELECT root_id FROM roots WHERE state = 'active')";
            let mut out: Vec<WrappedRow> = c
                .prepare_cached(&format!("SELECT key_id, version_id, root_id, wrapped_material FROM key_versions WHERE root_id IS NOT {active} ORDER BY key_id, version_id"))
                .and_then(|mut s| {
                    s.query_map([], |r| WrappedRow::key_version(r))?
                        .collect()
                })
                .map_err(db("list key versions to rewrap"))?;
            let access: Vec<WrappedRow> = c
                .prepare_cached(&format!("SELECT access_key_id, root_id, sealed_secret FROM access_keys WHERE root_id IS NOT {active} ORDER BY access_key_id"))
                .and_then(|mut s| {
                    s.query_map([], |r| WrappedRow::access_key(r))?
                        .collect()
                })
                .map_err(db("list access keys to rewrap"))?;
            out.extend(access);
            Ok(out)
        })
    }

    async fn rewrap(
        &self,
        row: WrappedRow,
        wrapped: Vec<u8>,
        root_id: String,
    ) -> Result<bool, StoreError> {
        self.writer
            .write(move |c| {
                // Compare-and-set on the old bytes: a row changed or deleted meanwhile (key
                // destroyed) is left alone and reported, never overwritten.
                let n = match &row.target {
                    WrappedTarget::KeyVersion { key_id, version_id } => c
                        .prepare_cached("UPDATE key_versions SET wrapped_material = ?1, root_id = ?2 WHERE key_id = ?3 AND version_id = ?4 AND wrapped_material = ?5")
                        .and_then(|mut s| s.execute(params![wrapped, root_id, key_id, version_id, row.wrapped]))
                        .map_err(db("rewrap key version"))?,
                    WrappedTarget::AccessKey { access_key_id } => c
                        .prepare_cached("UPDATE access_keys SET sealed_secret = ?1, root_id = ?2 WHERE access_key_id = ?3 AND sealed_secret = ?4")
                        .and_then(|mut s| s.execute(params![wrapped, root_id, access_key_id, row.wrapped]))
                        .map_err(db("rewrap access key"))?,
                };
                Ok(n == 1)
            })
            .await
    }

    async fn retire_roots(&self) -> Result<bool, StoreError> {
        self.writer
            .write(move |c| {
                // One transaction: the check and the retirement see the same rows, and the
                // triggers refuse any later write under a retired root.
                c.execute(
                        "UPDATE roots SET state = 'retired' WHERE state = 'retiring' AND NOT EXISTS (SELECT 1 FROM key_versions WHERE root_id IS NOT (SELECT root_id FROM roots WHERE state = 'active')) AND NOT EXISTS (SELECT 1 FROM access_keys WHERE root_id IS NOT (SELECT root_id FROM roots WHERE state = 'active'))",
                        [],
                    )
                    .map_err(db("retire roots"))?;
                let left: i64 = c
                    .query_row("SELECT COUNT(*) FROM roots WHERE state = 'retiring'", [], |r| r.get(0))
                    .map_err(db("count retiring roots"))?;
                Ok(left == 0)
            })
            .await
    }
}

fn insert_root(c: &Connection, root: &RootRecord) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO roots (root_id, kind, locator, state, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            root.root_id,
            root.kind,
            root.locator,
            root.state.name(),
            root.created_at
        ],
    )
    .map_err(db("write root"))?;
    Ok(())
}
