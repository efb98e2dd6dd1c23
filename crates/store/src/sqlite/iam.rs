//! SQLite implementation of [`IamStore`]: checks first, then writes, all inside the writer's
//! transaction, so a rejection writes nothing and concurrent writes cannot interleave.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{access_keys, clamp, db, SqliteStore};
use crate::iam::*;
use crate::{AccessKeyRecord, StoreError};

const USER_COLUMNS: &str =
    "user_name, user_id, display_name, email, mobile_phone, comments, created_at, updated_at";
const POLICY_COLUMNS: &str = "p.policy_name, p.description, p.default_version, p.created_at, p.updated_at, (SELECT COUNT(*) FROM ram_attachments a WHERE a.policy_type = 'Custom' AND a.policy_name = p.policy_name)";

fn principal(user_name: &str) -> String {
    format!("user/{user_name}")
}

fn user_row(r: &Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        user_name: r.get(0)?,
        user_id: r.get(1)?,
        display_name: r.get(2)?,
        email: r.get(3)?,
        mobile_phone: r.get(4)?,
        comments: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

fn policy_row(r: &Row<'_>) -> rusqlite::Result<PolicyRecord> {
    Ok(PolicyRecord {
        policy_name: r.get(0)?,
        description: r.get(1)?,
        default_version: r.get(2)?,
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
        attachment_count: u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
    })
}

fn version_row(r: &Row<'_>) -> rusqlite::Result<PolicyVersionRecord> {
    Ok(PolicyVersionRecord {
        version_id: r.get(0)?,
        document: r.get(1)?,
        created_at: r.get(2)?,
    })
}

fn user(c: &Connection, name: &str) -> Result<Option<UserRecord>, StoreError> {
    c.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM ram_users WHERE user_name = ?1"
    ))
    .and_then(|mut s| s.query_row([name], user_row).optional())
    .map_err(db("read user"))
}

fn user_exists(c: &Connection, name: &str) -> Result<bool, StoreError> {
    Ok(user(c, name)?.is_some())
}

fn count(c: &Connection, sql: &str, args: impl rusqlite::Params) -> Result<i64, StoreError> {
    c.query_row(sql, args, |r| r.get(0))
        .map_err(db("count rows"))
}

fn policy(c: &Connection, name: &str) -> Result<Option<PolicyRecord>, StoreError> {
    c.prepare_cached(&format!(
        "SELECT {POLICY_COLUMNS} FROM ram_policies p WHERE p.policy_name = ?1"
    ))
    .and_then(|mut s| s.query_row([name], policy_row).optional())
    .map_err(db("read policy"))
}

fn version(
    c: &Connection,
    name: &str,
    version_id: &str,
) -> Result<Option<PolicyVersionRecord>, StoreError> {
    c.prepare_cached(
        "SELECT version_id, document, created_at FROM ram_policy_versions WHERE policy_name = ?1 AND version_id = ?2",
    )
    .and_then(|mut s| s.query_row([name, version_id], version_row).optional())
    .map_err(db("read policy version"))
}

fn versions(c: &Connection, name: &str) -> Result<Vec<PolicyVersionRecord>, StoreError> {
    c.prepare_cached(
        "SELECT version_id, document, created_at FROM ram_policy_versions WHERE policy_name = ?1 ORDER BY created_at, CAST(SUBSTR(version_id, 2) AS INTEGER)",
    )
    .and_then(|mut s| {
        s.query_map([name], version_row)?
            .collect::<rusqlite::Result<Vec<_>>>()
    })
    .map_err(db("read policy versions"))
}

const ROLE_COLUMNS: &str =
    "role_name, role_id, description, trust_policy, max_session_duration, created_at, updated_at";

fn role_row(r: &Row<'_>) -> rusqlite::Result<RoleRecord> {
    Ok(RoleRecord {
        role_name: r.get(0)?,
        role_id: r.get(1)?,
        description: r.get(2)?,
        trust_policy: r.get(3)?,
        max_session_duration: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

fn role(c: &Connection, name: &str) -> Result<Option<RoleRecord>, StoreError> {
    c.prepare_cached(&format!(
        "SELECT {ROLE_COLUMNS} FROM ram_roles WHERE role_name = ?1"
    ))
    .and_then(|mut s| s.query_row([name], role_row).optional())
    .map_err(db("read role"))
}

fn attachments(c: &Connection, principal: &str) -> Result<Vec<AttachmentRecord>, StoreError> {
    c.prepare_cached("SELECT policy_type, policy_name, attached_at FROM ram_attachments WHERE principal = ?1 ORDER BY attached_at, policy_name")
        .and_then(|mut s| {
            s.query_map([principal], |r| {
                Ok(AttachmentRecord {
                    policy_type: r.get(0)?,
                    policy_name: r.get(1)?,
                    attached_at: r.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(db("list attachments"))
}

/// Attaches inside a transaction whose caller checked that the principal exists.
fn attach(
    c: &Connection,
    principal: &str,
    policy_type: &str,
    policy_name: &str,
    now: i64,
) -> Result<IamOutcome<()>, StoreError> {
    if policy_type == "Custom" && policy(c, policy_name)?.is_none() {
        return Ok(IamOutcome::PolicyNotFound);
    }
    let n = c
        .execute(
            "INSERT OR IGNORE INTO ram_attachments (principal, policy_type, policy_name, attached_at) VALUES (?1, ?2, ?3, ?4)",
            params![principal, policy_type, policy_name, now],
        )
        .map_err(db("attach policy"))?;
    Ok(if n == 0 {
        IamOutcome::AlreadyAttached
    } else {
        IamOutcome::Done(())
    })
}

fn detach(
    c: &Connection,
    principal: &str,
    policy_type: &str,
    policy_name: &str,
) -> Result<IamOutcome<()>, StoreError> {
    let n = c
        .execute(
            "DELETE FROM ram_attachments WHERE principal = ?1 AND policy_type = ?2 AND policy_name = ?3",
            params![principal, policy_type, policy_name],
        )
        .map_err(db("detach policy"))?;
    Ok(if n == 0 {
        IamOutcome::NotAttached
    } else {
        IamOutcome::Done(())
    })
}

/// The rows of `select` (a query on `?1` marker and `?2` limit) after `marker`, as one page.
fn list_after<T>(
    store: &SqliteStore,
    select: &str,
    marker: Option<&str>,
    limit: u64,
    row: fn(&Row<'_>) -> rusqlite::Result<T>,
    op: &'static str,
) -> Result<(Vec<T>, bool), StoreError> {
    let items = store.read(|c| {
        c.prepare_cached(select)
            .and_then(|mut s| {
                s.query_map(
                    params![marker.unwrap_or(""), clamp(limit.saturating_add(1))],
                    row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(db(op))
    })?;
    Ok(split_page(items, limit))
}

#[async_trait]
impl IamStore for SqliteStore {
    async fn create_user(&self, u: UserRecord) -> Result<IamOutcome<()>, StoreError> {
        self.writer
            .write(move |c| {
                if user_exists(c, &u.user_name)? {
                    return Ok(IamOutcome::UserExists);
                }
                c.execute(
                    &format!("INSERT INTO ram_users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                    params![u.user_name, u.user_id, u.display_name, u.email, u.mobile_phone, u.comments, u.created_at, u.updated_at],
                )
                .map_err(db("write user"))?;
                Ok(IamOutcome::Done(()))
            })
            .await
    }

    async fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        self.read(|c| user(c, name))
    }

    async fn update_user(
        &self,
        name: &str,
        update: UserUpdate,
    ) -> Result<IamOutcome<UserRecord>, StoreError> {
        let name = name.to_owned();
        self.writer
            .write(move |c| {
                let Some(mut u) = user(c, &name)? else {
                    return Ok(IamOutcome::UserNotFound);
                };
                if let Some(new) = update.new_user_name.as_ref().filter(|n| **n != name) {
                    if user_exists(c, new)? {
                        return Ok(IamOutcome::UserExists);
                    }
                    // The name is the key of the user's keys and attachments: move them along.
                    c.execute(
                        "UPDATE access_keys SET principal = ?1 WHERE principal = ?2",
                        params![principal(new), principal(&name)],
                    )
                    .map_err(db("rename user's access keys"))?;
                    c.execute(
                        "UPDATE ram_attachments SET principal = ?1 WHERE principal = ?2",
                        params![principal(new), principal(&name)],
                    )
                    .map_err(db("rename user's attachments"))?;
                    u.user_name = new.clone();
                }
                let set = |field: &mut String, value: &Option<String>| {
                    if let Some(v) = value {
                        field.clone_from(v);
                    }
                };
                set(&mut u.display_name, &update.display_name);
                set(&mut u.email, &update.email);
                set(&mut u.mobile_phone, &update.mobile_phone);
                set(&mut u.comments, &update.comments);
                u.updated_at = update.updated_at;
                c.execute(
                    "UPDATE ram_users SET user_name = ?1, display_name = ?2, email = ?3, mobile_phone = ?4, comments = ?5, updated_at = ?6 WHERE user_name = ?7",
                    params![u.user_name, u.display_name, u.email, u.mobile_phone, u.comments, u.updated_at, name],
                )
                .map_err(db("update user"))?;
                Ok(IamOutcome::Done(u))
            })
            .await
    }

    async fn delete_user(&self, name: &str) -> Result<IamOutcome<()>, StoreError> {
        let name = name.to_owned();
        self.writer
            .write(move |c| {
                if !user_exists(c, &name)? {
                    return Ok(IamOutcome::UserNotFound);
                }
                let p = principal(&name);
                if count(
                    c,
                    "SELECT COUNT(*) FROM access_keys WHERE principal = ?1",
                    [&p],
                )? > 0
                {
                    return Ok(IamOutcome::UserHasAccessKeys);
                }
                if count(
                    c,
                    "SELECT COUNT(*) FROM ram_attachments WHERE principal = ?1",
                    [&p],
                )? > 0
                {
                    return Ok(IamOutcome::UserHasPolicies);
                }
                c.execute("DELETE FROM ram_users WHERE user_name = ?1", [&name])
                    .map_err(db("delete user"))?;
                Ok(IamOutcome::Done(()))
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
            user_row,
            "list users",
        )
    }

    async fn create_user_access_key(
        &self,
        user_name: &str,
        key: AccessKeyRecord,
        max_keys: u32,
    ) -> Result<IamOutcome<()>, StoreError> {
        let user_name = user_name.to_owned();
        self.writer
            .write(move |c| {
                if !user_exists(c, &user_name)? {
                    return Ok(IamOutcome::UserNotFound);
                }
                let held = count(
                    c,
                    "SELECT COUNT(*) FROM access_keys WHERE principal = ?1",
                    [principal(&user_name)],
                )?;
                if held >= i64::from(max_keys) {
                    return Ok(IamOutcome::LimitExceeded { limit: max_keys });
                }
                access_keys::insert_access_key(c, &key)?;
                Ok(IamOutcome::Done(()))
            })
            .await
    }

    async fn user_access_keys(
        &self,
        user_name: &str,
    ) -> Result<IamOutcome<Vec<AccessKeyRecord>>, StoreError> {
        self.read(|c| {
            if !user_exists(c, user_name)? {
                return Ok(IamOutcome::UserNotFound);
            }
            c.prepare_cached("SELECT access_key_id, sealed_secret, principal, status, created_at, root_id FROM access_keys WHERE principal = ?1 ORDER BY created_at, access_key_id")
                .and_then(|mut s| {
                    s.query_map([principal(user_name)], access_keys::access_key)?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map(IamOutcome::Done)
                .map_err(db("list access keys"))
        })
    }

    async fn set_access_key_status(
        &self,
        user_name: &str,
        access_key_id: &str,
        status: &str,
    ) -> Result<IamOutcome<()>, StoreError> {
        let (user_name, id, status) = (
            user_name.to_owned(),
            access_key_id.to_owned(),
            status.to_owned(),
        );
        self.writer
            .write(move |c| {
                if !user_exists(c, &user_name)? {
                    return Ok(IamOutcome::UserNotFound);
                }
                let n = c
                    .execute(
                        "UPDATE access_keys SET status = ?1 WHERE access_key_id = ?2 AND principal = ?3",
                        params![status, id, principal(&user_name)],
                    )
                    .map_err(db("update access key"))?;
                Ok(if n == 0 {
                    IamOutcome::AccessKeyNotFound
                } else {
                    IamOutcome::Done(())
                })
            })
            .await
    }

    async fn delete_user_access_key(
        &self,
        user_name: &str,
        access_key_id: &str,
    ) -> Result<IamOutcome<()>, StoreError> {
        let (user_name, id) = (user_name.to_owned(), access_key_id.to_owned());
        self.writer
            .write(move |c| {
                if !user_exists(c, &user_name)? {
                    return Ok(IamOutcome::UserNotFound);
                }
                let n = c
                    .execute(
                        "DELETE FROM access_keys WHERE access_key_id = ?1 AND principal = ?2",
                        params![id, principal(&user_name)],
                    )
                    .map_err(db("delete access key"))?;
                Ok(if n == 0 {
                    IamOutcome::AccessKeyNotFound
                } else {
                    IamOutcome::Done(())
                })
            })
            .await
    }

    async fn create_policy(
        &self,
        p: PolicyRecord,
        document: String,
    ) -> Result<IamOutcome<()>, StoreError> {
        self.writer
            .write(move |c| {
                if policy(c, &p.policy_name)?.is_some() {
                    return Ok(IamOutcome::PolicyExists);
                }
                c.execute(
                    "INSERT INTO ram_policies (policy_name, description, default_version, next_version, created_at, updated_at) VALUES (?1, ?2, 'v1', 2, ?3, ?4)",
                    params![p.policy_name, p.description, p.created_at, p.updated_at],
                )
                .map_err(db("write policy"))?;
                c.execute(
                    "INSERT INTO ram_policy_versions (policy_name, version_id, document, created_at) VALUES (?1, 'v1', ?2, ?3)",
                    params![p.policy_name, document, p.created_at],
                )
                .map_err(db("write policy version"))?;
                Ok(IamOutcome::Done(()))
            })
            .await
    }

    async fn policy(
        &self,
        name: &str,
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
            policy_row,
            "list policies",
        )
    }

    async fn delete_policy(&self, name: &str) -> Result<IamOutcome<()>, StoreError> {
        let name = name.to_owned();
        self.writer
            .write(move |c| {
                let Some(p) = policy(c, &name)? else {
                    return Ok(IamOutcome::PolicyNotFound);
                };
                if p.attachment_count > 0 {
                    return Ok(IamOutcome::PolicyAttached);
                }
                c.execute(
                    "DELETE FROM ram_policy_versions WHERE policy_name = ?1",
                    [&name],
                )
                .map_err(db("delete policy versions"))?;
                c.execute("DELETE FROM ram_policies WHERE policy_name = ?1", [&name])
                    .map_err(db("delete policy"))?;
                Ok(IamOutcome::Done(()))
            })
            .await
    }

    async fn create_policy_version(
        &self,
        name: &str,
        document: String,
        set_default: bool,
        now: i64,
        max_versions: u32,
    ) -> Result<IamOutcome<PolicyVersionRecord>, StoreError> {
        let name = name.to_owned();
        self.writer
            .write(move |c| {
                if policy(c, &name)?.is_none() {
                    return Ok(IamOutcome::PolicyNotFound);
                }
                let held = count(
                    c,
                    "SELECT COUNT(*) FROM ram_policy_versions WHERE policy_name = ?1",
                    [&name],
                )?;
                if held >= i64::from(max_versions) {
                    return Ok(IamOutcome::LimitExceeded {
                        limit: max_versions,
                    });
                }
                let next: i64 = c
                    .query_row(
                        "SELECT next_version FROM ram_policies WHERE policy_name = ?1",
                        [&name],
                        |r| r.get(0),
                    )
                    .map_err(db("read policy"))?;
                let version_id = format!("v{next}");
                c.execute(
                    "INSERT INTO ram_policy_versions (policy_name, version_id, document, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![name, version_id, document, now],
                )
                .map_err(db("write policy version"))?;
                c.execute(
                    "UPDATE ram_policies SET next_version = next_version + 1, updated_at = ?2, default_version = CASE WHEN ?3 THEN ?4 ELSE default_version END WHERE policy_name = ?1",
                    params![name, now, set_default, version_id],
                )
                .map_err(db("update policy"))?;
                Ok(IamOutcome::Done(PolicyVersionRecord {
                    version_id,
                    document,
                    created_at: now,
                }))
            })
            .await
    }

    async fn set_default_policy_version(
        &self,
        name: &str,
        version_id: &str,
        now: i64,
    ) -> Result<IamOutcome<()>, StoreError> {
        let (name, version_id) = (name.to_owned(), version_id.to_owned());
        self.writer
            .write(move |c| {
                if policy(c, &name)?.is_none() {
                    return Ok(IamOutcome::PolicyNotFound);
                }
                if version(c, &name, &version_id)?.is_none() {
                    return Ok(IamOutcome::VersionNotFound);
                }
                c.execute(
                    "UPDATE ram_policies SET default_version = ?2, updated_at = ?3 WHERE policy_name = ?1",
                    params![name, version_id, now],
                )
                .map_err(db("update policy"))?;
                Ok(IamOutcome::Done(()))
            })
            .await
    }

    async fn policy_versions(
        &self,
        name: &str,
    ) -> Result<IamOutcome<(String, Vec<PolicyVersionRecord>)>, StoreError> {
        self.read(|c| {
            let Some(p) = policy(c, name)? else {
                return Ok(IamOutcome::PolicyNotFound);
            };
            Ok(IamOutcome::Done((p.default_version, versions(c, name)?)))
        })
    }

    async fn attach_policy_to_user(
        &self,
        user_name: &str,
        policy_type: &str,
        policy_name: &str,
        now: i64,
    ) -> Result<IamOutcome<()>, StoreError> {
        let (user_name, policy_type, policy_name) = (
            user_name.to_owned(),
            policy_type.to_owned(),
            policy_name.to_owned(),
        );
        self.writer
            .write(move |c| {
                if !user_exists(c, &user_name)? {
                    return Ok(IamOutcome::UserNotFound);
                }
                attach(c, &principal(&user_name), &policy_type, &policy_name, now)
            })
            .await
    }

    async fn detach_policy_from_user(
        &self,
        user_name: &str,
        policy_type: &str,
        policy_name: &str,
    ) -> Result<IamOutcome<()>, StoreError> {
        let (user_name, policy_type, policy_name) = (
            user_name.to_owned(),
            policy_type.to_owned(),
            policy_name.to_owned(),
        );
        self.writer
            .write(move |c| {
                if !user_exists(c, &user_name)? {
                    return Ok(IamOutcome::UserNotFound);
                }
                detach(c, &principal(&user_name), &policy_type, &policy_name)
            })
            .await
    }

    async fn user_attachments(
        &self,
        user_name: &str,
    ) -> Result<IamOutcome<Vec<AttachmentRecord>>, StoreError> {
        self.read(|c| {
            if !user_exists(c, user_name)? {
                return Ok(IamOutcome::UserNotFound);
            }
            attachments(c, &principal(user_name)).map(IamOutcome::Done)
        })
    }

    async fn attachments_of(&self, principal: &str) -> Result<Vec<AttachmentRecord>, StoreError> {
        self.read(|c| attachments(c, principal))
    }

    async fn create_role(&self, r: RoleRecord) -> Result<IamOutcome<()>, StoreError> {
        self.writer
            .write(move |c| {
                if role(c, &r.role_name)?.is_some() {
                    return Ok(IamOutcome::RoleExists);
                }
                c.execute(
                    &format!("INSERT INTO ram_roles ({ROLE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
                    params![r.role_name, r.role_id, r.description, r.trust_policy, r.max_session_duration, r.created_at, r.updated_at],
                )
                .map_err(db("write role"))?;
                Ok(IamOutcome::Done(()))
            })
            .await
    }

    async fn role(&self, name: &str) -> Result<Option<RoleRecord>, StoreError> {
        self.read(|c| role(c, name))
    }

    async fn delete_role(&self, name: &str) -> Result<IamOutcome<()>, StoreError> {
        let name = name.to_owned();
        self.writer
            .write(move |c| {
                if role(c, &name)?.is_none() {
                    return Ok(IamOutcome::RoleNotFound);
                }
                if !attachments(c, &format!("role/{name}"))?.is_empty() {
                    return Ok(IamOutcome::RoleHasPolicies);
                }
                c.execute("DELETE FROM ram_roles WHERE role_name = ?1", [&name])
                    .map_err(db("delete role"))?;
                Ok(IamOutcome::Done(()))
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
            role_row,
            "list roles",
        )
    }

    async fn attach_policy_to_role(
        &self,
        role_name: &str,
        policy_type: &str,
        policy_name: &str,
        now: i64,
    ) -> Result<IamOutcome<()>, StoreError> {
        let (role_name, policy_type, policy_name) = (
            role_name.to_owned(),
            policy_type.to_owned(),
            policy_name.to_owned(),
        );
        self.writer
            .write(move |c| {
                if role(c, &role_name)?.is_none() {
                    return Ok(IamOutcome::RoleNotFound);
                }
                attach(
                    c,
                    &format!("role/{role_name}"),
                    &policy_type,
                    &policy_name,
                    now,
                )
            })
            .await
    }

    async fn detach_policy_from_role(
        &self,
        role_name: &str,
        policy_type: &str,
        policy_name: &str,
    ) -> Result<IamOutcome<()>, StoreError> {
        let (role_name, policy_type, policy_name) = (
            role_name.to_owned(),
            policy_type.to_owned(),
            policy_name.to_owned(),
        );
        self.writer
            .write(move |c| {
                if role(c, &role_name)?.is_none() {
                    return Ok(IamOutcome::RoleNotFound);
                }
                detach(c, &format!("role/{role_name}"), &policy_type, &policy_name)
            })
            .await
    }
}
