//! [`UserAccessKeyStore`] on SQLite.

use async_trait::async_trait;
use openkms_domain::{AccessKeyStatus, UserName};
use rusqlite::params;

use super::super::rows;
use super::{count, db, user_exists, SqliteStore};
use crate::identities::*;
use crate::{AccessKeyRecord, StoreError};

#[async_trait]
impl UserAccessKeyStore for SqliteStore {
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
                    "SELECT COUNT(*) FROM access_keys WHERE principal = ?1",
                    &user_principal(&user_name),
                )?;
                if limit_reached(held, max_keys) {
                    return Ok(CreateAccessKeyOutcome::LimitReached { limit: max_keys });
                }
                rows::insert_access_key(c, &key)?;
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
            c.prepare_cached("SELECT access_key_id, sealed_secret, principal, status, created_at, root_id FROM access_keys WHERE principal = ?1 ORDER BY created_at, access_key_id")
                .and_then(|mut s| {
                    s.query_map([user_principal(user_name)], rows::access_key)?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map(Some)
                .map_err(db("list access keys"))
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
