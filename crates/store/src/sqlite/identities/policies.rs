//! [`PolicyStore`] on SQLite.

use async_trait::async_trait;
use openkms_domain::{PolicyName, PolicyType};
use rusqlite::params;

use super::{
    attachments, count, db, holder_exists, list_after, policy, version, SqliteStore,
    POLICY_COLUMNS, VERSION_COLUMNS,
};
use crate::identities::*;
use crate::StoreError;

#[async_trait]
impl PolicyStore for SqliteStore {
    async fn create_policy(
        &self,
        p: PolicyRecord,
        document: String,
    ) -> Result<CreatePolicyOutcome, StoreError> {
        self.writer
            .write(move |c| {
                if policy(c, &p.policy_name)?.is_some() {
                    return Ok(CreatePolicyOutcome::Exists);
                }
                c.execute(
                    "INSERT INTO ram_policies (policy_name, description, default_version, next_version, created_at, updated_at) VALUES (?1, ?2, ?3, 2, ?4, ?5)",
                    params![p.policy_name.as_str(), p.description, FIRST_POLICY_VERSION, p.created_at, p.updated_at],
                )
                .map_err(db("write policy"))?;
                c.execute(
                    "INSERT INTO ram_policy_versions (policy_name, version_id, document, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![p.policy_name.as_str(), FIRST_POLICY_VERSION, document, p.created_at],
                )
                .map_err(db("write policy version"))?;
                Ok(CreatePolicyOutcome::Created)
            })
            .await
    }

    async fn policy(
        &self,
        name: &PolicyName,
    ) -> Result<Option<(PolicyRecord, PolicyVersionRecord)>, StoreError> {
        self.read(|c| {
            let Some(p) = policy(c, name)? else {
                return Ok(None);
            };
            let v = version(c, name, &p.default_version)?.ok_or(StoreError::Corrupt {
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
            &format!("SELECT {POLICY_COLUMNS} FROM ram_policies p WHERE p.policy_name > ?1 ORDER BY p.policy_name LIMIT ?2"),
            marker,
            limit,
            |r| PolicyRecord::from_row(r),
            "list policies",
        )
    }

    async fn delete_policy(&self, name: &PolicyName) -> Result<DeletePolicyOutcome, StoreError> {
        let name = name.clone();
        self.writer
            .write(move |c| {
                let Some(p) = policy(c, &name)? else {
                    return Ok(DeletePolicyOutcome::NotFound);
                };
                if p.attachment_count > 0 {
                    return Ok(DeletePolicyOutcome::Attached);
                }
                c.execute(
                    "DELETE FROM ram_policy_versions WHERE policy_name = ?1",
                    [name.as_str()],
                )
                .map_err(db("delete policy versions"))?;
                c.execute(
                    "DELETE FROM ram_policies WHERE policy_name = ?1",
                    [name.as_str()],
                )
                .map_err(db("delete policy"))?;
                Ok(DeletePolicyOutcome::Deleted)
            })
            .await
    }

    async fn create_policy_version(
        &self,
        name: &PolicyName,
        document: String,
        set_default: bool,
        now: i64,
        max_versions: u32,
    ) -> Result<CreatePolicyVersionOutcome, StoreError> {
        let name = name.clone();
        self.writer
            .write(move |c| {
                if policy(c, &name)?.is_none() {
                    return Ok(CreatePolicyVersionOutcome::PolicyNotFound);
                }
                let held = count(
                    c,
                    "SELECT COUNT(*) AS n FROM ram_policy_versions WHERE policy_name = ?1",
                    name.as_str(),
                )?;
                if limit_reached(held, max_versions) {
                    return Ok(CreatePolicyVersionOutcome::LimitReached {
                        limit: max_versions,
                    });
                }
                let next: i64 = c
                    .query_row(
                        "SELECT next_version FROM ram_policies WHERE policy_name = ?1",
                        [name.as_str()],
                        |r| r.get("next_version"),
                    )
                    .map_err(db("read policy"))?;
                let version_id = policy_version_id(next);
                c.execute(
                    "INSERT INTO ram_policy_versions (policy_name, version_id, document, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![name.as_str(), version_id, document, now],
                )
                .map_err(db("write policy version"))?;
                c.execute(
                    "UPDATE ram_policies SET next_version = next_version + 1, updated_at = ?2, default_version = CASE WHEN ?3 THEN ?4 ELSE default_version END WHERE policy_name = ?1",
                    params![name.as_str(), now, set_default, version_id],
                )
                .map_err(db("update policy"))?;
                Ok(CreatePolicyVersionOutcome::Created(PolicyVersionRecord {
                    version_id,
                    document,
                    created_at: now,
                }))
            })
            .await
    }

    async fn set_default_policy_version(
        &self,
        name: &PolicyName,
        version_id: &str,
        now: i64,
    ) -> Result<SetDefaultVersionOutcome, StoreError> {
        let (name, version_id) = (name.clone(), version_id.to_owned());
        self.writer
            .write(move |c| {
                if policy(c, &name)?.is_none() {
                    return Ok(SetDefaultVersionOutcome::PolicyNotFound);
                }
                if version(c, &name, &version_id)?.is_none() {
                    return Ok(SetDefaultVersionOutcome::VersionNotFound);
                }
                c.execute(
                    "UPDATE ram_policies SET default_version = ?2, updated_at = ?3 WHERE policy_name = ?1",
                    params![name.as_str(), version_id, now],
                )
                .map_err(db("update policy"))?;
                Ok(SetDefaultVersionOutcome::Set)
            })
            .await
    }

    async fn policy_versions(
        &self,
        name: &PolicyName,
    ) -> Result<Option<(String, Vec<PolicyVersionRecord>)>, StoreError> {
        self.read(|c| {
            let Some(p) = policy(c, name)? else {
                return Ok(None);
            };
            let versions = c
                .prepare_cached(&format!(
                    "SELECT {VERSION_COLUMNS} FROM ram_policy_versions WHERE policy_name = ?1 ORDER BY created_at, CAST(SUBSTR(version_id, 2) AS INTEGER)"
                ))
                .and_then(|mut s| {
                    s.query_map([name.as_str()], |r| PolicyVersionRecord::from_row(r))?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
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
        let (holder, policy_name) = (holder.clone(), policy_name.clone());
        self.writer
            .write(move |c| {
                if !holder_exists(c, &holder)? {
                    return Ok(AttachOutcome::HolderNotFound);
                }
                if policy_type == PolicyType::Custom && policy(c, &policy_name)?.is_none() {
                    return Ok(AttachOutcome::PolicyNotFound);
                }
                let n = c
                    .execute(
                        "INSERT OR IGNORE INTO ram_attachments (principal, policy_type, policy_name, attached_at) VALUES (?1, ?2, ?3, ?4)",
                        params![holder.principal(), policy_type.as_str(), policy_name.as_str(), now],
                    )
                    .map_err(db("attach policy"))?;
                Ok(if n == 0 {
                    AttachOutcome::AlreadyAttached
                } else {
                    AttachOutcome::Attached
                })
            })
            .await
    }

    async fn detach_policy(
        &self,
        holder: &Holder,
        policy_type: PolicyType,
        policy_name: &PolicyName,
    ) -> Result<DetachOutcome, StoreError> {
        let (holder, policy_name) = (holder.clone(), policy_name.clone());
        self.writer
            .write(move |c| {
                if !holder_exists(c, &holder)? {
                    return Ok(DetachOutcome::HolderNotFound);
                }
                let n = c
                    .execute(
                        "DELETE FROM ram_attachments WHERE principal = ?1 AND policy_type = ?2 AND policy_name = ?3",
                        params![holder.principal(), policy_type.as_str(), policy_name.as_str()],
                    )
                    .map_err(db("detach policy"))?;
                Ok(if n == 0 {
                    DetachOutcome::NotAttached
                } else {
                    DetachOutcome::Detached
                })
            })
            .await
    }

    async fn holder_attachments(
        &self,
        holder: &Holder,
    ) -> Result<Option<Vec<AttachmentRecord>>, StoreError> {
        self.read(|c| {
            if !holder_exists(c, holder)? {
                return Ok(None);
            }
            attachments(c, &holder.principal()).map(Some)
        })
    }

    async fn attachments_of(&self, principal: &str) -> Result<Vec<AttachmentRecord>, StoreError> {
        self.read(|c| attachments(c, principal))
    }
}
