//! [`PolicyStore`] on PostgreSQL.

use async_trait::async_trait;
use openkms_domain::{PolicyName, PolicyType};
use sqlx::postgres::{PgConnection, PgRow};

use super::super::{backoff, pg, retryable, MAX_ATTEMPTS};
use super::{
    attachments, count, db, holder_exists, list_after, policy, version, Lock, PgStore,
    POLICY_COLUMNS, VERSION_COLUMNS,
};
use crate::identities::*;
use crate::StoreError;

#[async_trait]
impl PolicyStore for PgStore {
    async fn create_policy(
        &self,
        p: PolicyRecord,
        document: String,
    ) -> Result<CreatePolicyOutcome, StoreError> {
        in_tx!(self, "create policy", |c| create_policy(c, &p, &document))
    }

    async fn policy(
        &self,
        name: &PolicyName,
    ) -> Result<Option<(PolicyRecord, PolicyVersionRecord)>, StoreError> {
        read_tx!(self, "read policy", |c| async {
            let Some(p) = policy(c, name, Lock::None).await? else {
                return Ok(None);
            };
            let v = version(c, name, &p.default_version)
                .await?
                .ok_or(StoreError::Corrupt {
                    what: "policy without its default version",
                })?;
            Ok(Some((p, v)))
        })
    }

    async fn list_policies(
        &self,
        marker: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<PolicyRecord>, bool), StoreError> {
        list_after(
            self,
            &format!("SELECT {POLICY_COLUMNS} FROM ram_policies p WHERE p.policy_name > $1 ORDER BY p.policy_name LIMIT $2"),
            marker,
            limit,
            PolicyRecord::from_row,
            "list policies",
        )
        .await
    }

    async fn delete_policy(&self, name: &PolicyName) -> Result<DeletePolicyOutcome, StoreError> {
        in_tx!(self, "delete policy", |c| delete_policy(c, name))
    }

    async fn create_policy_version(
        &self,
        name: &PolicyName,
        document: String,
        set_default: bool,
        now: i64,
        max_versions: u32,
    ) -> Result<CreatePolicyVersionOutcome, StoreError> {
        in_tx!(self, "create policy version", |c| create_policy_version(
            c,
            name,
            &document,
            set_default,
            now,
            max_versions
        ))
    }

    async fn set_default_policy_version(
        &self,
        name: &PolicyName,
        version_id: &str,
        now: i64,
    ) -> Result<SetDefaultVersionOutcome, StoreError> {
        in_tx!(self, "set default policy version", |c| {
            set_default_policy_version(c, name, version_id, now)
        })
    }

    async fn policy_versions(
        &self,
        name: &PolicyName,
    ) -> Result<Option<(String, Vec<PolicyVersionRecord>)>, StoreError> {
        read_tx!(self, "read policy versions", |c| async {
            let Some(p) = policy(c, name, Lock::None).await? else {
                return Ok(None);
            };
            let versions = sqlx::query(&format!("SELECT {VERSION_COLUMNS} FROM ram_policy_versions WHERE policy_name = $1 ORDER BY created_at, CAST(substr(version_id, 2) AS BIGINT)"))
                .bind(name.as_str())
                .try_map(|r: PgRow| PolicyVersionRecord::from_row(&r))
                .fetch_all(&mut *c)
                .await
                .map_err(db("read policy versions"))?;
            Ok(Some((p.default_version, versions)))
        })
    }

    async fn attach_policy(
        &self,
        holder: &Holder,
        policy_type: PolicyType,
        policy_name: &PolicyName,
        now: i64,
    ) -> Result<AttachOutcome, StoreError> {
        in_tx!(self, "attach policy", |c| attach_policy(
            c,
            holder,
            policy_type,
            policy_name,
            now
        ))
    }

    async fn detach_policy(
        &self,
        holder: &Holder,
        policy_type: PolicyType,
        policy_name: &PolicyName,
    ) -> Result<DetachOutcome, StoreError> {
        in_tx!(self, "detach policy", |c| detach_policy(
            c,
            holder,
            policy_type,
            policy_name
        ))
    }

    async fn holder_attachments(
        &self,
        holder: &Holder,
    ) -> Result<Option<Vec<AttachmentRecord>>, StoreError> {
        let mut c = self.pool.acquire().await.map_err(pg("list attachments"))?;
        if !holder_exists(&mut c, holder, Lock::None).await? {
            return Ok(None);
        }
        attachments(&mut c, &holder.principal()).await.map(Some)
    }

    async fn attachments_of(&self, principal: &str) -> Result<Vec<AttachmentRecord>, StoreError> {
        let mut c = self.pool.acquire().await.map_err(pg("list attachments"))?;
        attachments(&mut c, principal).await
    }
}

// Transaction bodies, run by `in_tx!` (possibly more than once).

async fn create_policy(
    c: &mut PgConnection,
    p: &PolicyRecord,
    document: &str,
) -> Result<CreatePolicyOutcome, StoreError> {
    let n = sqlx::query("INSERT INTO ram_policies (policy_name, description, default_version, next_version, created_at, updated_at) VALUES ($1, $2, $3, 2, $4, $5) ON CONFLICT (policy_name) DO NOTHING")
        .bind(p.policy_name.as_str())
        .bind(&p.description)
        .bind(FIRST_POLICY_VERSION)
        .bind(p.created_at)
        .bind(p.updated_at)
        .execute(&mut *c)
        .await
        .map_err(db("write policy"))?
        .rows_affected();
    if n == 0 {
        return Ok(CreatePolicyOutcome::Exists);
    }
    sqlx::query("INSERT INTO ram_policy_versions (policy_name, version_id, document, created_at) VALUES ($1, $2, $3, $4)")
        .bind(p.policy_name.as_str())
        .bind(FIRST_POLICY_VERSION)
        .bind(document)
        .bind(p.created_at)
        .execute(c)
        .await
        .map_err(db("write policy version"))?;
    Ok(CreatePolicyOutcome::Created)
}

async fn delete_policy(
    c: &mut PgConnection,
    name: &PolicyName,
) -> Result<DeletePolicyOutcome, StoreError> {
    let Some(p) = policy(c, name, Lock::Update).await? else {
        return Ok(DeletePolicyOutcome::NotFound);
    };
    if p.attachment_count > 0 {
        return Ok(DeletePolicyOutcome::Attached);
    }
    // The versions go with the policy (ON DELETE CASCADE).
    sqlx::query("DELETE FROM ram_policies WHERE policy_name = $1")
        .bind(name.as_str())
        .execute(c)
        .await
        .map_err(db("delete policy"))?;
    Ok(DeletePolicyOutcome::Deleted)
}

async fn create_policy_version(
    c: &mut PgConnection,
    name: &PolicyName,
    document: &str,
    set_default: bool,
    now: i64,
    max_versions: u32,
) -> Result<CreatePolicyVersionOutcome, StoreError> {
    if policy(c, name, Lock::Update).await?.is_none() {
        return Ok(CreatePolicyVersionOutcome::PolicyNotFound);
    }
    let held = count(
        c,
        "SELECT COUNT(*) AS n FROM ram_policy_versions WHERE policy_name = $1",
        name.as_str(),
    )
    .await?;
    if limit_reached(held, max_versions) {
        return Ok(CreatePolicyVersionOutcome::LimitReached {
            limit: max_versions,
        });
    }
    let next: i64 =
        sqlx::query_scalar("SELECT next_version FROM ram_policies WHERE policy_name = $1")
            .bind(name.as_str())
            .fetch_one(&mut *c)
            .await
            .map_err(db("read policy"))?;
    let version_id = policy_version_id(next);
    sqlx::query("INSERT INTO ram_policy_versions (policy_name, version_id, document, created_at) VALUES ($1, $2, $3, $4)")
        .bind(name.as_str())
        .bind(&version_id)
        .bind(document)
        .bind(now)
        .execute(&mut *c)
        .await
        .map_err(db("write policy version"))?;
    sqlx::query("UPDATE ram_policies SET next_version = next_version + 1, updated_at = $2, default_version = CASE WHEN $3 THEN $4 ELSE default_version END WHERE policy_name = $1")
        .bind(name.as_str())
        .bind(now)
        .bind(set_default)
        .bind(&version_id)
        .execute(c)
        .await
        .map_err(db("update policy"))?;
    Ok(CreatePolicyVersionOutcome::Created(PolicyVersionRecord {
        version_id,
        document: document.to_owned(),
        created_at: now,
    }))
}

async fn set_default_policy_version(
    c: &mut PgConnection,
    name: &PolicyName,
    version_id: &str,
    now: i64,
) -> Result<SetDefaultVersionOutcome, StoreError> {
    if policy(c, name, Lock::Update).await?.is_none() {
        return Ok(SetDefaultVersionOutcome::PolicyNotFound);
    }
    if version(c, name, version_id).await?.is_none() {
        return Ok(SetDefaultVersionOutcome::VersionNotFound);
    }
    sqlx::query(
        "UPDATE ram_policies SET default_version = $2, updated_at = $3 WHERE policy_name = $1",
    )
    .bind(name.as_str())
    .bind(version_id)
    .bind(now)
    .execute(c)
    .await
    .map_err(db("update policy"))?;
    Ok(SetDefaultVersionOutcome::Set)
}

/// Attaches a policy. The holder's row is locked FOR SHARE, so a DeleteUser / DeleteRole
/// (FOR UPDATE, then counting attachments) waits; a customer policy is locked FOR SHARE, so a
/// DeletePolicy (FOR UPDATE, then counting attachments) is ordered against this attachment.
async fn attach_policy(
    c: &mut PgConnection,
    holder: &Holder,
    policy_type: PolicyType,
    policy_name: &PolicyName,
    now: i64,
) -> Result<AttachOutcome, StoreError> {
    if !holder_exists(c, holder, Lock::Share).await? {
        return Ok(AttachOutcome::HolderNotFound);
    }
    if policy_type == PolicyType::Custom && policy(c, policy_name, Lock::Share).await?.is_none() {
        return Ok(AttachOutcome::PolicyNotFound);
    }
    let n = sqlx::query("INSERT INTO ram_attachments (principal, policy_type, policy_name, attached_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
        .bind(holder.principal())
        .bind(policy_type.as_str())
        .bind(policy_name.as_str())
        .bind(now)
        .execute(c)
        .await
        .map_err(db("attach policy"))?
        .rows_affected();
    Ok(if n == 0 {
        AttachOutcome::AlreadyAttached
    } else {
        AttachOutcome::Attached
    })
}

async fn detach_policy(
    c: &mut PgConnection,
    holder: &Holder,
    policy_type: PolicyType,
    policy_name: &PolicyName,
) -> Result<DetachOutcome, StoreError> {
    if !holder_exists(c, holder, Lock::Share).await? {
        return Ok(DetachOutcome::HolderNotFound);
    }
    let n = sqlx::query(
        "DELETE FROM ram_attachments WHERE principal = $1 AND policy_type = $2 AND policy_name = $3",
    )
    .bind(holder.principal())
    .bind(policy_type.as_str())
    .bind(policy_name.as_str())
    .execute(c)
    .await
    .map_err(db("detach policy"))?
    .rows_affected();
    Ok(if n == 0 {
        DetachOutcome::NotAttached
    } else {
        DetachOutcome::Detached
    })
}
