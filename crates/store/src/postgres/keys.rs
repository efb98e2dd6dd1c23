//! Keys, their versions and aliases, on PostgreSQL.

use super::*;
use crate::keys::{key_columns, key_version_columns};

#[async_trait]
impl crate::KeyStore for PgStore {
    async fn key(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let mut c = self.pool.acquire().await.map_err(pg("read key"))?;
        key_by_id(&mut c, key_id, Lock::None).await
    }

    async fn key_version(
        &self,
        key_id: &str,
        version_id: &str,
    ) -> Result<Option<KeyVersionRecord>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            key_version_columns!(),
            " FROM key_versions WHERE key_id = $1 AND version_id = $2"
        ))
        .bind(key_id)
        .bind(version_id)
        .try_map(|r: PgRow| KeyVersionRecord::from_row(&r))
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
                key_columns!(),
                " FROM keys WHERE creator <> 'Service' ORDER BY seq LIMIT $1 OFFSET $2"
            ))
            .bind(clamp(limit))
            .bind(clamp(offset))
            .try_map(|r: PgRow| KeyRecord::from_row(&r))
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
            let rows = sqlx::query(concat!(
                "SELECT ",
                key_version_columns!(),
                " FROM key_versions WHERE key_id = $1 ORDER BY created_at, seq LIMIT $2 OFFSET $3"
            ))
            .bind(key_id)
            .bind(clamp(limit))
            .bind(clamp(offset))
            .try_map(|r: PgRow| KeyVersionRecord::from_row(&r))
            .fetch_all(&mut *tx)
            .await
            .map_err(pg("list key versions"))?;
            Ok((u64::try_from(total).unwrap_or_default(), rows))
        })
    }

    async fn keys_due_for_rotation(&self, now: i64) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(concat!(
            "SELECT key_id FROM (SELECT ",
            key_columns!(),
            " FROM keys WHERE creator <> 'Service' AND key_state = 'Enabled' AND rotation_interval_secs IS NOT NULL) k WHERE last_rotation_at + rotation_interval_secs <= $1 ORDER BY created_at, key_id"
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
            .try_map(|r: PgRow| AliasRecord::from_row(&r))
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
                .try_map(|r: PgRow| AliasRecord::from_row(&r))
                .fetch_all(&mut *tx)
                .await
                .map_err(pg("list aliases"))?;
            Ok((u64::try_from(total).unwrap_or_default(), rows))
        })
    }
}

async fn create_key(
    c: &mut PgConnection,
    key: &KeyRecord,
    version: &KeyVersionRecord,
    tags: &[TagRecord],
) -> Result<(), StoreError> {
    insert_key(c, key).await?;
    insert_key_version(c, version).await?;
    for t in tags {
        sqlx::query("INSERT INTO key_tags (key_id, tag_key, tag_value) VALUES ($1, $2, $3)")
            .bind(&key.key_id)
            .bind(&t.key)
            .bind(&t.value)
            .execute(&mut *c)
            .await
            .map_err(pg("write key tag"))?;
    }
    Ok(())
}

async fn update_key(
    c: &mut PgConnection,
    key_id: &str,
    plan: &KeyPlanFn,
) -> Result<KeyUpdateOutcome, StoreError> {
    // The key row lock orders this against CreateSecret / PutSecretValue, which hold it FOR
    // SHARE: the count below includes every secret whose write committed first.
    let Some(key) = key_by_id(c, key_id, Lock::Update).await? else {
        return Ok(KeyUpdateOutcome::NotFound);
    };
    let protected: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM secrets WHERE encryption_key_id = $1")
            .bind(key_id)
            .fetch_one(&mut *c)
            .await
            .map_err(pg("count secrets of key"))?;
    let state = KeyPlanState {
        key,
        protected_secrets: u64::try_from(protected).unwrap_or_default(),
    };
    let next = match state.decide(plan) {
        Ok(next) => next,
        Err(r) => return Ok(KeyUpdateOutcome::Rejected(r)),
    };
    write_key(c, &next).await?;
    Ok(KeyUpdateOutcome::Applied(Box::new(next)))
}

async fn add_key_version(
    c: &mut PgConnection,
    version: &KeyVersionRecord,
    plan: &KeyPlanFn,
) -> Result<KeyUpdateOutcome, StoreError> {
    let Some(key) = key_by_id(c, &version.key_id, Lock::Update).await? else {
        return Ok(KeyUpdateOutcome::NotFound);
    };
    let state = KeyPlanState {
        key,
        protected_secrets: 0,
    };
    let next = match state.decide_new_version(version, plan) {
        Ok(next) => next,
        Err(r) => return Ok(KeyUpdateOutcome::Rejected(r)),
    };
    insert_key_version(c, version).await?;
    write_key(c, &next).await?;
    Ok(KeyUpdateOutcome::Applied(Box::new(next)))
}

async fn destroy_expired_keys(c: &mut PgConnection, now: i64) -> Result<Vec<String>, StoreError> {
    // A key that still seals anything is kept whatever its date: destroying its material
    // would lose those values for good. The key rows are locked, so a CancelKeyDeletion or a
    // secret write naming the key (FOR SHARE) is ordered against this.
    let ids: Vec<String> = sqlx::query_scalar("SELECT key_id FROM keys k WHERE key_state = 'PendingDeletion' AND delete_at IS NOT NULL AND delete_at <= $1 AND creator <> 'Service' AND NOT EXISTS (SELECT 1 FROM secrets s WHERE s.encryption_key_id = k.key_id) AND NOT EXISTS (SELECT 1 FROM secret_versions v WHERE v.key_id = k.key_id) ORDER BY key_id FOR UPDATE")
        .bind(now)
        .fetch_all(&mut *c)
        .await
        .map_err(pg("find keys to destroy"))?;
    for sql in [
        "DELETE FROM aliases WHERE key_id = ANY($1)",
        "DELETE FROM key_versions WHERE key_id = ANY($1)",
        "DELETE FROM keys WHERE key_id = ANY($1)",
    ] {
        sqlx::query(sql)
            .bind(&ids)
            .execute(&mut *c)
            .await
            .map_err(pg("destroy key"))?;
    }
    Ok(ids)
}

pub(super) async fn key_by_id(
    c: &mut PgConnection,
    key_id: &str,
    lock: Lock,
) -> Result<Option<KeyRecord>, StoreError> {
    let sql = match lock {
        Lock::None => concat!("SELECT ", key_columns!(), " FROM keys WHERE key_id = $1"),
        Lock::Update => concat!(
            "SELECT ",
            key_columns!(),
            " FROM keys WHERE key_id = $1 FOR UPDATE"
        ),
    };
    sqlx::query(sql)
        .bind(key_id)
        .try_map(|r: PgRow| KeyRecord::from_row(&r))
        .fetch_optional(c)
        .await
        .map_err(pg("read key"))
}

pub(super) async fn insert_key(c: &mut PgConnection, k: &KeyRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO keys (key_id, instance_id, key_spec, key_usage, key_state, creator, description, primary_version_id, created_at, delete_at, rotation_interval_secs) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&k.key_id)
    .bind(&k.instance_id)
    .bind(k.key_spec.name())
    .bind(k.key_usage.name())
    .bind(k.key_state.name())
    .bind(&k.creator)
    .bind(&k.description)
    .bind(&k.primary_version_id)
    .bind(k.created_at)
    .bind(k.delete_at)
    .bind(k.rotation_interval_secs)
    .execute(c)
    .await
    .map_err(pg("write key"))?;
    Ok(())
}

pub(super) async fn insert_key_version(
    c: &mut PgConnection,
    v: &KeyVersionRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO key_versions (key_id, version_id, wrapped_material, created_at, root_id) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&v.key_id)
    .bind(&v.version_id)
    .bind(&v.wrapped_material)
    .bind(v.created_at)
    .bind(&v.root_id)
    .execute(c)
    .await
    .map_err(pg("write key version"))?;
    Ok(())
}

/// Writes a key's mutable columns (state, deletion date, description, rotation, primary
/// version) from the record.
async fn write_key(c: &mut PgConnection, k: &KeyRecord) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE keys SET key_state = $2, delete_at = $3, description = $4, rotation_interval_secs = $5, primary_version_id = $6 WHERE key_id = $1",
    )
    .bind(&k.key_id)
    .bind(k.key_state.name())
    .bind(k.delete_at)
    .bind(&k.description)
    .bind(k.rotation_interval_secs)
    .bind(&k.primary_version_id)
    .execute(c)
    .await
    .map_err(pg("update key"))?;
    Ok(())
}
