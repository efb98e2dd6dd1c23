//! [`UserStore`] on PostgreSQL.

use async_trait::async_trait;
use openkms_domain::UserName;
use sqlx::postgres::PgConnection;

use super::super::{backoff, pg, retryable, MAX_ATTEMPTS};
use super::{count, db, list_after, user, user_exists, Lock, PgStore, USER_COLUMNS};
use crate::identities::*;
use crate::StoreError;

#[async_trait]
impl UserStore for PgStore {
    async fn create_user(&self, u: UserRecord) -> Result<CreateUserOutcome, StoreError> {
        in_tx!(self, "create user", |c| create_user(c, &u))
    }

    async fn user(&self, name: &UserName) -> Result<Option<UserRecord>, StoreError> {
        let mut c = self.pool.acquire().await.map_err(pg("read user"))?;
        user(&mut c, name, Lock::None).await
    }

    async fn update_user(
        &self,
        name: &UserName,
        update: UserUpdate,
    ) -> Result<UpdateUserOutcome, StoreError> {
        in_tx!(self, "update user", |c| update_user(c, name, &update))
    }

    async fn delete_user(&self, name: &UserName) -> Result<DeleteUserOutcome, StoreError> {
        in_tx!(self, "delete user", |c| delete_user(c, name))
    }

    async fn list_users(
        &self,
        marker: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<UserRecord>, bool), StoreError> {
        list_after(
            self,
            &format!("SELECT {USER_COLUMNS} FROM ram_users WHERE user_name > $1 ORDER BY user_name LIMIT $2"),
            marker,
            limit,
            UserRecord::from_row,
            "list users",
        )
        .await
    }
}

// Transaction bodies, run by `in_tx!` (possibly more than once).

async fn create_user(
    c: &mut PgConnection,
    u: &UserRecord,
) -> Result<CreateUserOutcome, StoreError> {
    let n = sqlx::query(&format!("INSERT INTO ram_users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (user_name) DO NOTHING"))
        .bind(u.user_name.as_str())
        .bind(&u.user_id)
        .bind(&u.display_name)
        .bind(&u.email)
        .bind(&u.mobile_phone)
        .bind(&u.comments)
        .bind(u.created_at)
        .bind(u.updated_at)
        .execute(c)
        .await
        .map_err(db("write user"))?
        .rows_affected();
    Ok(if n == 0 {
        CreateUserOutcome::Exists
    } else {
        CreateUserOutcome::Created
    })
}

async fn update_user(
    c: &mut PgConnection,
    name: &UserName,
    update: &UserUpdate,
) -> Result<UpdateUserOutcome, StoreError> {
    let Some(u) = user(c, name, Lock::Update).await? else {
        return Ok(UpdateUserOutcome::NotFound);
    };
    if let Some(new) = update.rename_from(name) {
        if user_exists(c, new, Lock::None).await? {
            return Ok(UpdateUserOutcome::NameTaken);
        }
        // The name is the key of the user's keys and attachments: move them along.
        for (sql, op) in [
            (
                "UPDATE access_keys SET principal = $1 WHERE principal = $2",
                "rename user's access keys",
            ),
            (
                "UPDATE ram_attachments SET principal = $1 WHERE principal = $2",
                "rename user's attachments",
            ),
        ] {
            sqlx::query(sql)
                .bind(user_principal(new))
                .bind(user_principal(name))
                .execute(&mut *c)
                .await
                .map_err(db(op))?;
        }
    }
    let u = update.apply(u);
    sqlx::query("UPDATE ram_users SET user_name = $1, display_name = $2, email = $3, mobile_phone = $4, comments = $5, updated_at = $6 WHERE user_name = $7")
        .bind(u.user_name.as_str())
        .bind(&u.display_name)
        .bind(&u.email)
        .bind(&u.mobile_phone)
        .bind(&u.comments)
        .bind(u.updated_at)
        .bind(name.as_str())
        .execute(c)
        .await
        .map_err(db("update user"))?;
    Ok(UpdateUserOutcome::Updated(u))
}

async fn delete_user(
    c: &mut PgConnection,
    name: &UserName,
) -> Result<DeleteUserOutcome, StoreError> {
    if !user_exists(c, name, Lock::Update).await? {
        return Ok(DeleteUserOutcome::NotFound);
    }
    let p = user_principal(name);
    if count(
        c,
        "SELECT COUNT(*) AS n FROM access_keys WHERE principal = $1",
        &p,
    )
    .await?
        > 0
    {
        return Ok(DeleteUserOutcome::HasAccessKeys);
    }
    if count(
        c,
        "SELECT COUNT(*) AS n FROM ram_attachments WHERE principal = $1",
        &p,
    )
    .await?
        > 0
    {
        return Ok(DeleteUserOutcome::HasPolicies);
    }
    sqlx::query("DELETE FROM ram_users WHERE user_name = $1")
        .bind(name.as_str())
        .execute(c)
        .await
        .map_err(db("delete user"))?;
    Ok(DeleteUserOutcome::Deleted)
}
