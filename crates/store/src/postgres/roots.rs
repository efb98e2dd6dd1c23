//! The installation and its roots of trust, on PostgreSQL.

use super::identities::insert_access_key;
use super::keys::{insert_key, insert_key_version};
use super::*;

#[async_trait]
impl crate::RootStore for PgStore {
    async fn meta(&self) -> Result<Option<Meta>, StoreError> {
        let meta = sqlx::query("SELECT account_id, root_fingerprint, default_instance, service_key_id, created_at FROM meta WHERE id = 1")
            .try_map(|r: PgRow| Meta::from_row(&r))
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
            .try_map(|r: PgRow| RootRecord::from_row(&r))
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
            .try_map(|r: PgRow| WrappedRow::key_version(&r))
            .fetch_all(&mut *c)
            .await
            .map_err(pg("list key versions to rewrap"))?;
        let access: Vec<WrappedRow> = sqlx::query("SELECT access_key_id, root_id, sealed_secret FROM access_keys WHERE root_id IS DISTINCT FROM (SELECT root_id FROM roots WHERE state = 'active') ORDER BY access_key_id")
            .try_map(|r: PgRow| WrappedRow::access_key(&r))
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

async fn initialize(c: &mut PgConnection, boot: &Bootstrap) -> Result<(), StoreError> {
    let m = &boot.meta;
    // Several nodes may start on an empty database at once: the first insert wins, the others
    // wait for its commit here and are told to join instead.
    let n = sqlx::query("INSERT INTO meta (id, account_id, root_fingerprint, default_instance, service_key_id, created_at) VALUES (1, $1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING")
        .bind(&m.account_id)
        .bind(&m.root_fingerprint)
        .bind(&m.default_instance)
        .bind(&m.service_key_id)
        .bind(m.created_at)
        .execute(&mut *c)
        .await
        .map_err(pg("write meta"))?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::AlreadyInitialized);
    }
    sqlx::query("INSERT INTO instances (instance_id, created_at) VALUES ($1, $2)")
        .bind(&m.default_instance)
        .bind(m.created_at)
        .execute(&mut *c)
        .await
        .map_err(pg("write instance"))?;
    insert_root(c, &boot.root).await?;
    insert_key(c, &boot.service_key).await?;
    insert_key_version(c, &boot.service_key_version).await?;
    for ak in &boot.access_keys {
        insert_access_key(c, ak).await?;
    }
    Ok(())
}

async fn activate_root(c: &mut PgConnection, root: &RootRecord) -> Result<(), StoreError> {
    sqlx::query("UPDATE roots SET state = 'retiring' WHERE state = 'active' AND root_id <> $1")
        .bind(&root.root_id)
        .execute(&mut *c)
        .await
        .map_err(pg("demote active root"))?;
    sqlx::query("INSERT INTO roots (root_id, kind, locator, state, created_at) VALUES ($1, $2, $3, 'active', $4) ON CONFLICT (root_id) DO UPDATE SET state = 'active', locator = COALESCE(excluded.locator, roots.locator)")
        .bind(&root.root_id)
        .bind(&root.kind)
        .bind(&root.locator)
        .bind(root.created_at)
        .execute(&mut *c)
        .await
        .map_err(pg("activate root"))?;
    Ok(())
}

async fn retire_roots(c: &mut PgConnection) -> Result<bool, StoreError> {
    // Lock the retiring roots first: a write under one of them holds its row FOR SHARE (the
    // live-root trigger) until it commits, so the check below, a new statement, sees that row.
    sqlx::query("SELECT root_id FROM roots WHERE state = 'retiring' FOR UPDATE")
        .execute(&mut *c)
        .await
        .map_err(pg("lock retiring roots"))?;
    sqlx::query("UPDATE roots SET state = 'retired' WHERE state = 'retiring' AND NOT EXISTS (SELECT 1 FROM key_versions WHERE root_id IS DISTINCT FROM (SELECT root_id FROM roots WHERE state = 'active')) AND NOT EXISTS (SELECT 1 FROM access_keys WHERE root_id IS DISTINCT FROM (SELECT root_id FROM roots WHERE state = 'active'))")
        .execute(&mut *c)
        .await
        .map_err(pg("retire roots"))?;
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM roots WHERE state = 'retiring'")
        .fetch_one(&mut *c)
        .await
        .map_err(pg("count retiring roots"))?;
    Ok(left == 0)
}

async fn insert_root(c: &mut PgConnection, root: &RootRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO roots (root_id, kind, locator, state, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&root.root_id)
    .bind(&root.kind)
    .bind(&root.locator)
    .bind(root.state.name())
    .bind(root.created_at)
    .execute(c)
    .await
    .map_err(pg("write root"))?;
    Ok(())
}
