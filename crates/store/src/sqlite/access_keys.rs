use super::*;

#[async_trait]
impl crate::AccessKeyStore for SqliteStore {
    async fn access_key(&self, id: &str) -> Result<Option<AccessKeyRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT access_key_id, sealed_secret, principal, status, created_at, root_id FROM access_keys WHERE access_key_id = ?1")
                .and_then(|mut s| s.query_row([id], access_key).optional())
                .map_err(db("read access key"))
        })
    }

    async fn insert_access_key(&self, rec: AccessKeyRecord) -> Result<(), StoreError> {
        self.writer.write(move |c| insert_access_key(c, &rec)).await
    }

    async fn root_access_keys(&self) -> Result<Vec<AccessKeyRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT access_key_id, sealed_secret, principal, status, created_at, root_id FROM access_keys WHERE principal = 'root' ORDER BY created_at, access_key_id")
                .and_then(|mut s| {
                    s.query_map([], access_key)?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(db("list root access keys"))
        })
    }

    async fn change_root_access_key(
        &self,
        id: &str,
        status: Option<&str>,
    ) -> Result<RootKeyChange, StoreError> {
        let (id, status) = (id.to_owned(), status.map(str::to_owned));
        self.writer
            .write(move |c| {
                let current: Option<String> = c
                    .query_row(
                        "SELECT status FROM access_keys WHERE access_key_id = ?1 AND principal = 'root'",
                        [&id],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(db("read root access key"))?;
                let Some(current) = current else {
                    return Ok(RootKeyChange::NotFound);
                };
                let others: u64 = c
                    .query_row(
                        "SELECT COUNT(*) FROM access_keys WHERE principal = 'root' AND status = 'Active' AND access_key_id <> ?1",
                        [&id],
                        |r| r.get(0),
                    )
                    .map_err(db("count root access keys"))?;
                if !root_key_change_allowed(&current, status.as_deref(), others) {
                    return Ok(RootKeyChange::LastActive);
                }
                match &status {
                    Some(s) => c.execute(
                        "UPDATE access_keys SET status = ?1 WHERE access_key_id = ?2 AND principal = 'root'",
                        params![s, id],
                    ),
                    None => c.execute(
                        "DELETE FROM access_keys WHERE access_key_id = ?1 AND principal = 'root'",
                        [&id],
                    ),
                }
                .map_err(db("change root access key"))?;
                Ok(RootKeyChange::Done)
            })
            .await
    }
}

pub(super) fn access_key(r: &rusqlite::Row<'_>) -> rusqlite::Result<AccessKeyRecord> {
    Ok(AccessKeyRecord {
        access_key_id: r.get("access_key_id")?,
        sealed_secret: r.get("sealed_secret")?,
        principal: r.get("principal")?,
        status: r.get("status")?,
        created_at: r.get("created_at")?,
        root_id: r.get("root_id")?,
    })
}

pub(super) fn insert_access_key(c: &Connection, a: &AccessKeyRecord) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO access_keys (access_key_id, sealed_secret, principal, status, created_at, root_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![a.access_key_id, a.sealed_secret, a.principal, a.status, a.created_at, a.root_id],
    )
    .map_err(db("write access key"))?;
    Ok(())
}
