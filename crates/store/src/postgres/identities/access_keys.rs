//! [`UserAccessKeyStore`] on PostgreSQL.

use async_trait::async_trait;
use openkms_domain::{AccessKeyStatus, UserName};
use sqlx::postgres::{PgConnection, PgRow};

use super::super::{backoff, pg, retryable, rows, MAX_ATTEMPTS};
use super::{count, db, user_exists, Lock, PgStore};
use crate::identities::*;
use crate::{AccessKeyRecord, StoreError};

#[async_trait]
impl UserAccessKeyStore for PgStore {
    async fn create_user_access_key(
        &self,
        user_name: &UserName,
        key: AccessKeyRecord,
        max_keys: u32,
    ) -> Result<CreateAccessKeyOutcome, StoreError> {
        in_tx!(self, "create access key", |c| create_user_access_key(
            c, user_name, &key, max_keys
        ))
    }

    async fn user_access_keys(
        &self,
        user_name: &UserName,
    ) -> Result<Option<Vec<AccessKeyRecord>>, StoreError> {
        let mut c = self.pool.acquire().await.map_err(pg("list access keys"))?;
        if !user_exists(&mut c, user_name, Lock::None).await? {
            return Ok(None);
        }
        sqlx::query("SELECT access_key_id, sealed_secret, principal, status, created_at, root_id FROM access_keys WHERE principal = $1 ORDER BY created_at, access_key_id")
            .bind(user_principal(user_name))
            .try_map(|r: PgRow| rows::access_key(&r))
            .fetch_all(&mut *c)
            .await
            .map(Some)
            .map_err(db("list access keys"))
    }

    async fn set_access_key_status(
        &self,
        user_name: &UserName,
        access_key_id: &str,
        status: AccessKeyStatus,
    ) -> Result<ChangeAccessKeyOutcome, StoreError> {
        in_tx!(self, "update access key", |c| change_user_access_key(
            c,
            user_name,
            access_key_id,
            Some(status)
        ))
    }

    async fn delete_user_access_key(
        &self,
        user_name: &UserName,
        access_key_id: &str,
    ) -> Result<ChangeAccessKeyOutcome, StoreError> {
        in_tx!(self, "delete access key", |c| change_user_access_key(
            c,
            user_name,
            access_key_id,
            None
        ))
    }
}

// Transaction bodies, run by `in_tx!` (possibly more than once).

async fn create_user_access_key(
    c: &mut PgConnection,
    user_name: &UserName,
    key: &AccessKeyRecord,
    max_keys: u32,
) -> Result<CreateAccessKeyOutcome, StoreError> {
    if !user_exists(c, user_name, Lock::Update).await? {
        return Ok(CreateAccessKeyOutcome::UserNotFound);
    }
    let held = count(
        c,
        "SELECT COUNT(*) FROM access_keys WHERE principal = $1",
        &user_principal(user_name),
    )
    .await?;
    if limit_reached(held, max_keys) {
        return Ok(CreateAccessKeyOutcome::LimitReached { limit: max_keys });
    }
    rows::insert_access_key(c, key).await?;
    Ok(CreateAccessKeyOutcome::Created)
}

/// Sets the status of a user's key, or deletes it when `status` is `None`.
async fn change_user_access_key(
    c: &mut PgConnection,
    user_name: &UserName,
    access_key_id: &str,
    status: Option<AccessKeyStatus>,
) -> Result<ChangeAccessKeyOutcome, StoreError> {
    if !user_exists(c, user_name, Lock::Share).await? {
        return Ok(ChangeAccessKeyOutcome::UserNotFound);
    }
    let q = match status {
        Some(status) => sqlx::query(
            "UPDATE access_keys SET status = $3 WHERE access_key_id = $1 AND principal = $2",
        )
        .bind(access_key_id)
        .bind(user_principal(user_name))
        .bind(status.as_str()),
        None => sqlx::query("DELETE FROM access_keys WHERE access_key_id = $1 AND principal = $2")
            .bind(access_key_id)
            .bind(user_principal(user_name)),
    };
    let n = q
        .execute(c)
        .await
        .map_err(db("change access key"))?
        .rows_affected();
    Ok(if n == 0 {
        ChangeAccessKeyOutcome::KeyNotFound
    } else {
        ChangeAccessKeyOutcome::Changed
    })
}
