//! [`UserStore`] on SQLite.

use async_trait::async_trait;
use openkms_domain::UserName;
use rusqlite::params;

use super::{count, db, list_after, user, user_exists, SqliteStore, USER_COLUMNS};
use crate::identities::*;
use crate::StoreError;

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, u: UserRecord) -> Result<CreateUserOutcome, StoreError> {
        self.writer
            .write(move |c| {
                if user_exists(c, &u.user_name)? {
                    return Ok(CreateUserOutcome::Exists);
                }
                c.execute(
                    &format!("INSERT INTO ram_users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                    params![u.user_name.as_str(), u.user_id, u.display_name, u.email, u.mobile_phone, u.comments, u.created_at, u.updated_at],
                )
                .map_err(db("write user"))?;
                Ok(CreateUserOutcome::Created)
            })
            .await
    }

    async fn user(&self, name: &UserName) -> Result<Option<UserRecord>, StoreError> {
        self.read(|c| user(c, name))
    }

    async fn update_user(
        &self,
        name: &UserName,
        update: UserUpdate,
    ) -> Result<UpdateUserOutcome, StoreError> {
        let name = name.clone();
        self.writer
            .write(move |c| {
                let Some(u) = user(c, &name)? else {
                    return Ok(UpdateUserOutcome::NotFound);
                };
                if let Some(new) = update.rename_from(&name) {
                    if user_exists(c, new)? {
                        return Ok(UpdateUserOutcome::NameTaken);
                    }
                    // The name is the key of the user's keys and attachments: move them along.
                    let (to, from) = (user_principal(new), user_principal(&name));
                    c.execute(
                        "UPDATE access_keys SET principal = ?1 WHERE principal = ?2",
                        params![to, from],
                    )
                    .map_err(db("rename user's access keys"))?;
                    c.execute(
                        "UPDATE ram_attachments SET principal = ?1 WHERE principal = ?2",
                        params![to, from],
                    )
                    .map_err(db("rename user's attachments"))?;
                }
                let u = update.apply(u);
                c.execute(
                    "UPDATE ram_users SET user_name = ?1, display_name = ?2, email = ?3, mobile_phone = ?4, comments = ?5, updated_at = ?6 WHERE user_name = ?7",
                    params![u.user_name.as_str(), u.display_name, u.email, u.mobile_phone, u.comments, u.updated_at, name.as_str()],
                )
                .map_err(db("update user"))?;
                Ok(UpdateUserOutcome::Updated(u))
            })
            .await
    }

    async fn delete_user(&self, name: &UserName) -> Result<DeleteUserOutcome, StoreError> {
        let name = name.clone();
        self.writer
            .write(move |c| {
                if !user_exists(c, &name)? {
                    return Ok(DeleteUserOutcome::NotFound);
                }
                let p = user_principal(&name);
                if count(
                    c,
                    "SELECT COUNT(*) AS n FROM access_keys WHERE principal = ?1",
                    &p,
                )? > 0
                {
                    return Ok(DeleteUserOutcome::HasAccessKeys);
                }
                if count(
                    c,
                    "SELECT COUNT(*) AS n FROM ram_attachments WHERE principal = ?1",
                    &p,
                )? > 0
                {
                    return Ok(DeleteUserOutcome::HasPolicies);
                }
                c.execute(
                    "DELETE FROM ram_users WHERE user_name = ?1",
                    [name.as_str()],
                )
                .map_err(db("delete user"))?;
                Ok(DeleteUserOutcome::Deleted)
            })
            .await
    }

    async fn list_users(
        &self,
        marker: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<UserRecord>, bool), StoreError> {
        list_after(
            self,
            &format!("SELECT {USER_COLUMNS} FROM ram_users WHERE user_name > ?1 ORDER BY user_name LIMIT ?2"),
            marker,
            limit,
            |r| UserRecord::from_row(r),
            "list users",
        )
    }
}
