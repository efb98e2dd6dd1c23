//! [`RoleStore`] on SQLite.

use async_trait::async_trait;
use openkms_domain::RoleName;
use rusqlite::params;

use super::{attachments, db, list_after, role, SqliteStore, ROLE_COLUMNS};
use crate::identities::*;
use crate::StoreError;

#[async_trait]
impl RoleStore for SqliteStore {
    async fn create_role(&self, r: RoleRecord) -> Result<CreateRoleOutcome, StoreError> {
        self.writer
            .write(move |c| {
                if role(c, &r.role_name)?.is_some() {
                    return Ok(CreateRoleOutcome::Exists);
                }
                c.execute(
                    &format!("INSERT INTO ram_roles ({ROLE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
                    params![r.role_name.as_str(), r.role_id, r.description, r.trust_policy, r.max_session_duration, r.created_at, r.updated_at],
                )
                .map_err(db("write role"))?;
                Ok(CreateRoleOutcome::Created)
            })
            .await
    }

    async fn role(&self, name: &RoleName) -> Result<Option<RoleRecord>, StoreError> {
        self.read(|c| role(c, name))
    }

    async fn delete_role(&self, name: &RoleName) -> Result<DeleteRoleOutcome, StoreError> {
        let name = name.clone();
        self.writer
            .write(move |c| {
                if role(c, &name)?.is_none() {
                    return Ok(DeleteRoleOutcome::NotFound);
                }
                if !attachments(c, &Holder::Role(name.clone()).principal())?.is_empty() {
                    return Ok(DeleteRoleOutcome::HasPolicies);
                }
                c.execute(
                    "DELETE FROM ram_roles WHERE role_name = ?1",
                    [name.as_str()],
                )
                .map_err(db("delete role"))?;
                Ok(DeleteRoleOutcome::Deleted)
            })
            .await
    }

    async fn list_roles(
        &self,
        marker: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<RoleRecord>, bool), StoreError> {
        list_after(
            self,
            &format!("SELECT {ROLE_COLUMNS} FROM ram_roles WHERE role_name > ?1 ORDER BY role_name LIMIT ?2"),
            marker,
            limit,
            |r| RoleRecord::from_row(r),
            "list roles",
        )
    }
}
