use super::*;

#[async_trait]
impl crate::AccessKeyStore for PgStore {
    async fn access_key(&self, id: &str) -> Result<Option<AccessKeyRecord>, StoreError> {
        sqlx::query("SELECT access_key_id, sealed_secret, principal, status, created_at, root_id FROM access_keys WHERE access_key_id = $1")
            .bind(id)
            .try_map(|r: PgRow| access_key(&r))
            .fetch_optional(&self.pool)
            .await
            .map_err(pg("read access key"))
    }

    async fn insert_access_key(&self, rec: AccessKeyRecord) -> Result<(), StoreError> {
        in_tx!(self, "insert access key", |c| insert_access_key(c, &rec))
    }

    async fn root_access_keys(&self) -> Result<Vec<AccessKeyRecord>, StoreError> {
        sqlx::query("SELECT access_key_id, sealed_secret, principal, status, created_at, root_id FROM access_keys WHERE principal = 'root' ORDER BY created_at, access_key_id")
            .try_map(|r: PgRow| access_key(&r))
            .fetch_all(&self.pool)
            .await
            .map_err(pg("list root access keys"))
    }

    async fn change_root_access_key(
        &self,
        id: &str,
        status: Option<&str>,
    ) -> Result<RootKeyChange, StoreError> {
        in_tx!(self, "change root access key", |c| async {
            // Every root row locked: two nodes disabling the last two keys at once are ordered.
            let keys: Vec<(String, String)> = sqlx::query_as(
                "SELECT access_key_id, status FROM access_keys WHERE principal = 'root' ORDER BY access_key_id FOR UPDATE",
            )
            .fetch_all(&mut *c)
            .await
            .map_err(pg("lock root access keys"))?;
            let Some((_, current)) = keys.iter().find(|(k, _)| k == id) else {
                return Ok(RootKeyChange::NotFound);
            };
            let others = keys
                .iter()
                .filter(|(k, s)| k != id && s == "Active")
                .count() as u64;
            if !root_key_change_allowed(current, status, others) {
                return Ok(RootKeyChange::LastActive);
            }
            match status {
                Some(s) => sqlx::query(
                    "UPDATE access_keys SET status = $1 WHERE access_key_id = $2 AND principal = 'root'",
                )
                .bind(s)
                .bind(id),
                None => sqlx::query(
                    "DELETE FROM access_keys WHERE access_key_id = $1 AND principal = 'root'",
                )
                .bind(id),
            }
            .execute(&mut *c)
            .await
            .map_err(pg("change root access key"))?;
            Ok(RootKeyChange::Done)
        })
    }
}

pub(super) fn access_key(r: &PgRow) -> sqlx::Result<AccessKeyRecord> {
    Ok(AccessKeyRecord {
        access_key_id: r.try_get("access_key_id")?,
        sealed_secret: r.try_get("sealed_secret")?,
        principal: r.try_get("principal")?,
        status: r.try_get("status")?,
        created_at: r.try_get("created_at")?,
        root_id: r.try_get("root_id")?,
    })
}

pub(super) async fn insert_access_key(
    c: &mut PgConnection,
    a: &AccessKeyRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO access_keys (access_key_id, sealed_secret, principal, status, created_at, root_id) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&a.access_key_id)
    .bind(&a.sealed_secret)
    .bind(&a.principal)
    .bind(&a.status)
    .bind(a.created_at)
    .bind(&a.root_id)
    .execute(c)
    .await
    .map_err(pg("write access key"))?;
    Ok(())
}
