//! [`AccessKeyStore`] on PostgreSQL: every statement on `access_keys` but the root of trust's
//! rewrap (`roots.rs`) and a user's rename (`users.rs`, which moves the keys along).

use async_trait::async_trait;
use openkms_domain::{AccessKeyStatus, UserName};
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::Row;

use super::super::{backoff, pg, retryable, MAX_ATTEMPTS};
use super::{count, db, user_exists, Lock, PgStore};
use crate::identities::*;
use crate::StoreError;

const ACCESS_KEY_COLUMNS: &str =
    "access_key_id, sealed_secret, principal, status, created_at, root_id";

/// Inserts an access key inside the caller's transaction (also the bootstrap's).
pub(in crate::postgres) async fn insert_access_key(
    c: &mut PgConnection,
    a: &AccessKeyRecord,
) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO access_keys ({ACCESS_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
    ))
    .bind(&a.access_key_id)
    .bind(&a.sealed_secret)
    .bind(&a.principal)
    .bind(a.status.as_str())
    .bind(a.created_at)
    .bind(&a.root_id)
    .execute(c)
    .await
    .map_err(db("write access key"))?;
    Ok(())
}

async fn keys_of(
    c: &mut PgConnection,
    principal: &str,
    op: &'static str,
) -> Result<Vec<AccessKeyRecord>, StoreError> {
    sqlx::query(&format!(
        "SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE principal = $1 ORDER BY created_at, access_key_id"
    ))
    .bind(principal)
    .try_map(|r: PgRow| AccessKeyRecord::from_row(&r))
    .fetch_all(c)
    .await
    .map_err(db(op))
}

#[async_trait]
impl AccessKeyStore for PgStore {
    async fn access_key(&self, id: &str) -> Result<Option<AccessKeyRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE access_key_id = $1"
        ))
        .bind(id)
        .try_map(|r: PgRow| AccessKeyRecord::from_row(&r))
        .fetch_optional(&self.pool)
        .await
        .map_err(db("read access key"))
    }

    async fn insert_access_key(&self, rec: AccessKeyRecord) -> Result<(), StoreError> {
        in_tx!(self, "insert access key", |c| insert_access_key(c, &rec))
    }

    async fn root_access_keys(&self) -> Result<Vec<AccessKeyRecord>, StoreError> {
        let mut c = self
            .pool
            .acquire()
            .await
            .map_err(pg("list root access keys"))?;
        keys_of(&mut c, ROOT_PRINCIPAL, "list root access keys").await
    }

    async fn change_root_access_key(
        &self,
        id: &str,
        status: Option<AccessKeyStatus>,
    ) -> Result<RootKeyChange, StoreError> {
        in_tx!(self, "change root access key", |c| change_root_access_key(
            c, id, status
        ))
    }

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
        keys_of(&mut c, &user_principal(user_name), "list access keys")
            .await
            .map(Some)
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

async fn change_root_access_key(
    c: &mut PgConnection,
    id: &str,
    status: Option<AccessKeyStatus>,
) -> Result<RootKeyChange, StoreError> {
    // Every root row locked: two nodes disabling the last two keys at once are ordered.
    let keys = sqlx::query(
        "SELECT access_key_id, status FROM access_keys WHERE principal = $1 ORDER BY access_key_id FOR UPDATE",
    )
    .bind(ROOT_PRINCIPAL)
    .try_map(|r: PgRow| {
        Ok((
            r.try_get::<String, _>("access_key_id")?,
            access_key_status(&r)?,
        ))
    })
    .fetch_all(&mut *c)
    .await
    .map_err(db("lock root access keys"))?;
    let Some(&(_, current)) = keys.iter().find(|(k, _)| k == id) else {
        return Ok(RootKeyChange::NotFound);
    };
    let others = keys
        .iter()
        .filter(|(k, s)| k != id && *s == AccessKeyStatus::Active)
        .count() as u64;
    if !root_key_change_allowed(current, status, others) {
        return Ok(RootKeyChange::LastActive);
    }
    match status {
        Some(s) => sqlx::query(
            "UPDATE access_keys SET status = $1 WHERE access_key_id = $2 AND principal = $3",
        )
        .bind(s.as_str())
        .bind(id)
        .bind(ROOT_PRINCIPAL),
        None => sqlx::query("DELETE FROM access_keys WHERE access_key_id = $1 AND principal = $2")
            .bind(id)
            .bind(ROOT_PRINCIPAL),
    }
    .execute(&mut *c)
    .await
    .map_err(db("change root access key"))?;
    Ok(RootKeyChange::Done)
}

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
        "SELECT COUNT(*) AS n FROM access_keys WHERE principal = $1",
        &user_principal(user_name),
    )
    .await?;
    if limit_reached(held, max_keys) {
        return Ok(CreateAccessKeyOutcome::LimitReached { limit: max_keys });
    }
    insert_access_key(c, key).await?;
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
