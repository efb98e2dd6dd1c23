//! [`RoleStore`] on PostgreSQL.

use async_trait::async_trait;
use openkms_domain::RoleName;
use sqlx::postgres::PgConnection;

use super::super::{backoff, pg, retryable, MAX_ATTEMPTS};
use super::{attachments, db, list_after, role, Lock, PgStore, ROLE_COLUMNS};
use crate::identities::*;
use crate::StoreError;

#[async_trait]
impl RoleStore for PgStore {
    async fn create_role(&self, r: RoleRecord) -> Result<CreateRoleOutcome, StoreError> {
        in_tx!(self, "create role", |c| create_role(c, &r))
    }

    async fn role(&self, name: &RoleName) -> Result<Option<RoleRecord>, StoreError> {
        let mut c = self.pool.acquire().await.map_err(pg("read role"))?;
        role(&mut c, name, Lock::None).await
    }

    async fn delete_role(&self, name: &RoleName) -> Result<DeleteRoleOutcome, StoreError> {
        in_tx!(self, "delete role", |c| delete_role(c, name))
    }

    async fn list_roles(
        &self,
        marker: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<RoleRecord>, bool), StoreError> {
        list_after(
            self,
            &format!("SELECT {ROLE_COLUMNS} FROM ram_roles WHERE role_name > $1 ORDER BY role_name LIMIT $2"),
            marker,
            limit,
            RoleRecord::from_row,
            "list roles",
        )
        .await
    }
}

// Transaction bodies, run by `in_tx!` (possibly more than once).

async fn create_role(
    c: &mut PgConnection,
    r: &RoleRecord,
) -> Result<CreateRoleOutcome, StoreError> {
    let n = sqlx::query(&format!("INSERT INTO ram_roles ({ROLE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (role_name) DO NOTHING"))
        .bind(r.role_name.as_str())
        .bind(&r.role_id)
        .bind(&r.description)
        .bind(&r.trust_policy)
        .bind(r.max_session_duration)
        .bind(r.created_at)
        .bind(r.updated_at)
        .execute(c)
        .await
        .map_err(db("write role"))?
        .rows_affected();
    Ok(if n == 0 {
        CreateRoleOutcome::Exists
    } else {
        CreateRoleOutcome::Created
    })
}

async fn delete_role(
    c: &mut PgConnection,
    name: &RoleName,
) -> Result<DeleteRoleOutcome, StoreError> {
    if role(c, name, Lock::Update).await?.is_none() {
        return Ok(DeleteRoleOutcome::NotFound);
    }
    if !attachments(c, &Holder::Role(name.clone()).principal())
        .await?
        .is_empty()
    {
        return Ok(DeleteRoleOutcome::HasPolicies);
    }
    sqlx::query("DELETE FROM ram_roles WHERE role_name = $1")
        .bind(name.as_str())
        .execute(c)
        .await
        .map_err(db("delete role"))?;
    Ok(DeleteRoleOutcome::Deleted)
}
