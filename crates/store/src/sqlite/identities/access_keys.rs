//! [`AccessKeyStore`] on SQLite: every statement on `access_keys` but the root of trust's
//! rewrap (`roots.rs`) and a user's rename (`users.rs`, which moves the keys along).

use async_trait::async_trait;
use openkms_domain::{AccessKeyStatus, UserName};
use rusqlite::{params, Connection, OptionalExtension};

use super::{count, db, user_exists, SqliteStore};
use crate::identities::*;
use crate::StoreError;

const ACCESS_KEY_COLUMNS: &str =
    "access_key_id, sealed_secret, principal, status, created_at, root_id";

/// Inserts an access key inside the caller's transaction (also the bootstrap's).
pub(in crate::sqlite) fn insert_access_key(
    c: &Connection,
    a: &AccessKeyRecord,
) -> Result<(), StoreError> {
    c.execute(
        &format!("INSERT INTO access_keys ({ACCESS_KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
        params![
            a.access_key_id,
            a.sealed_secret,
            a.principal,
            a.status.as_str(),
            a.created_at,
            a.root_id
        ],
    )
    .map_err(db("write access key"))?;
    Ok(())
}

fn keys_of(
    c: &Connection,
    principal: &str,
    op: &'static str,
) -> Result<Vec<AccessKeyRecord>, StoreError> {
    c.prepare_cached(&format!(
        "SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE principal = ?1 ORDER BY created_at, access_key_id"
    ))
    .and_then(|mut s| {
        s.query_map([principal], |r| AccessKeyRecord::from_row(r))?
            .collect::<rusqlite::Result<Vec<_>>>()
    })
    .map_err(db(op))
}

#[async_trait]
impl AccessKeyStore for SqliteStore {
    async fn access_key(&self, id: &str) -> Result<Option<AccessKeyRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE access_key_id = ?1"
            ))
            .and_then(|mut s| {
                s.query_row([id], |r| AccessKeyRecord::from_row(r))
                    .optional()
            })
            .map_err(db("read access key"))
        })
    }

    async fn insert_access_key(&self, rec: AccessKeyRecord) -> Result<(), StoreError> {
        self.writer.write(move |c| insert_access_key(c, &rec)).await
    }

    async fn root_access_keys(&self) -> Result<Vec<AccessKeyRecord>, StoreError> {
        self.read(|c| keys_of(c, ROOT_PRINCIPAL, "list root access keys"))
    }

    async fn change_root_access_key(
        &self,
        id: &str,
        status: Option<AccessKeyStatus>,
    ) -> Result<RootKeyChange, StoreError> {
        let id = id.to_owned();
        self.writer
            .write(move |c| {
                let current = c
                    .query_row(
                        "SELECT status FROM access_keys WHERE access_key_id = ?1 AND principal = ?2",
                        params![id, ROOT_PRINCIPAL],
                        |r| access_key_status(r),
                    )
                    .optional()
                    .map_err(db("read root access key"))?;
                let Some(current) = current else {
                    return Ok(RootKeyChange::NotFound);
                };
                let others: u64 = c
                    .query_row(
                        "SELECT COUNT(*) AS n FROM access_keys WHERE principal = ?1 AND status = ?2 AND access_key_id <> ?3",
                        params![ROOT_PRINCIPAL, AccessKeyStatus::Active.as_str(), id],
                        |r| r.get("n"),
                    )
                    .map_err(db("count root access keys"))?;
                if !root_key_change_allowed(current, status, others) {
                    return Ok(RootKeyChange::LastActive);
                }
                match status {
                    Some(s) => c.execute(
                        "UPDATE access_keys SET status = ?1 WHERE access_key_id = ?2 AND principal = ?3",
                        params![s.as_str(), id, ROOT_PRINCIPAL],
                    ),
                    None => c.execute(
                        "DELETE FROM access_keys WHERE access_key_id = ?1 AND principal = ?2",
                        params![id, ROOT_PRINCIPAL],
                    ),
                }
                .map_err(db("change root access key"))?;
                Ok(RootKeyChange::Done)
            })
            .await
    }

    async fn create_user_access_key(
        &self,
        user_name: &UserName,
        key: AccessKeyRecord,
        max_keys: u32,
    ) -> Result<CreateAccessKeyOutcome, StoreError> {
        let user_name = user_name.clone();
        self.writer
            .write(move |c| {
                if !user_exists(c, &user_name)? {
                    return Ok(CreateAccessKeyOutcome::UserNotFound);
                }
                let held = count(
                    c,
                    "SELECT COUNT(*) AS n FROM access_keys WHERE principal = ?1",
                    &user_principal(&user_name),
                )?;
                if limit_reached(held, max_keys) {
                    return Ok(CreateAccessKeyOutcome::LimitReached { limit: max_keys });
                }
                insert_access_key(c, &key)?;
                Ok(CreateAccessKeyOutcome::Created)
            })
            .await
    }

    async fn user_access_keys(
        &self,
        user_name: &UserName,
    ) -> Result<Option<Vec<AccessKeyRecord>>, StoreError> {
        self.read(|c| {
            if !user_exists(c, user_name)? {
                return Ok(None);
            }
            keys_of(c, &user_principal(user_name), "list access keys").map(Some)
        })
    }

    async fn set_access_key_status(
        &self,
        user_name: &UserName,
        access_key_id: &str,
        status: AccessKeyStatus,
    ) -> Result<ChangeAccessKeyOutcome, StoreError> {
        let (user_name, id) = (user_name.clone(), access_key_id.to_owned());
        self.writer
            .write(move |c| {
                if !user_exists(c, &user_name)? {
                    return Ok(ChangeAccessKeyOutcome::UserNotFound);
                }
                let n = c
                    .execute(
                        "UPDATE access_keys SET status = ?1 WHERE access_key_id = ?2 AND principal = ?3",
                        params![status.as_str(), id, user_principal(&user_name)],
                    )
                    .map_err(db("update access key"))?;
                Ok(changed(n))
            })
            .await
    }

    async fn delete_user_access_key(
        &self,
        user_name: &UserName,
        access_key_id: &str,
    ) -> Result<ChangeAccessKeyOutcome, StoreError> {
        let (user_name, id) = (user_name.clone(), access_key_id.to_owned());
        self.writer
            .write(move |c| {
                if !user_exists(c, &user_name)? {
                    return Ok(ChangeAccessKeyOutcome::UserNotFound);
                }
                let n = c
                    .execute(
                        "DELETE FROM access_keys WHERE access_key_id = ?1 AND principal = ?2",
                        params![id, user_principal(&user_name)],
                    )
                    .map_err(db("delete access key"))?;
                Ok(changed(n))
            })
            .await
    }
}

fn changed(rows: usize) -> ChangeAccessKeyOutcome {
    if rows == 0 {
        ChangeAccessKeyOutcome::KeyNotFound
    } else {
        ChangeAccessKeyOutcome::Changed
    }
}
