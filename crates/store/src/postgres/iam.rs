//! PostgreSQL implementation of [`IamStore`]: each write is one transaction that first locks
//! the row its checks are about (the user, role or policy), so a check and the write it
//! allows cannot be separated by another node's write: a DeleteUser and a CreateAccessKey for
//! the same user, or two CreateAccessKey racing for the last free slot, take turns.

use async_trait::async_trait;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::Row;

use super::{access_keys, backoff, clamp, pg, retryable, PgStore, MAX_ATTEMPTS};
use crate::iam::*;
use crate::{AccessKeyRecord, StoreError};

const USER_COLUMNS: &str =
    "user_name, user_id, display_name, email, mobile_phone, comments, created_at, updated_at";
const POLICY_COLUMNS: &str = "p.policy_name, p.description, p.default_version, p.created_at, p.updated_at, (SELECT COUNT(*) FROM ram_attachments a WHERE a.policy_type = 'Custom' AND a.policy_name = p.policy_name)";
const ROLE_COLUMNS: &str =
    "role_name, role_id, description, trust_policy, max_session_duration, created_at, updated_at";

/// How a row read inside a write is locked.
#[derive(Clone, Copy)]
enum Lock {
    /// Read only (outside a write).
    None,
    /// Others may read-lock it too; a writer that deletes or counts waits.
    Share,
    /// This write changes what hangs off the row (its keys, versions, attachments).
    Update,
}

impl Lock {
    fn suffix(self) -> &'static str {
        match self {
            Lock::None => "",
            Lock::Share => " FOR SHARE",
            Lock::Update => " FOR UPDATE",
        }
    }
}

fn principal(user_name: &str) -> String {
    format!("user/{user_name}")
}

fn user_row(r: &PgRow) -> sqlx::Result<UserRecord> {
    Ok(UserRecord {
        user_name: r.try_get(0)?,
        user_id: r.try_get(1)?,
        display_name: r.try_get(2)?,
        email: r.try_get(3)?,
        mobile_phone: r.try_get(4)?,
        comments: r.try_get(5)?,
        created_at: r.try_get(6)?,
        updated_at: r.try_get(7)?,
    })
}

fn policy_row(r: &PgRow) -> sqlx::Result<PolicyRecord> {
    Ok(PolicyRecord {
        policy_name: r.try_get(0)?,
        description: r.try_get(1)?,
        default_version: r.try_get(2)?,
        created_at: r.try_get(3)?,
        updated_at: r.try_get(4)?,
        attachment_count: u64::try_from(r.try_get::<i64, _>(5)?).unwrap_or(0),
    })
}

fn version_row(r: &PgRow) -> sqlx::Result<PolicyVersionRecord> {
    Ok(PolicyVersionRecord {
        version_id: r.try_get(0)?,
        document: r.try_get(1)?,
        created_at: r.try_get(2)?,
    })
}

fn role_row(r: &PgRow) -> sqlx::Result<RoleRecord> {
    Ok(RoleRecord {
        role_name: r.try_get(0)?,
        role_id: r.try_get(1)?,
        description: r.try_get(2)?,
        trust_policy: r.try_get(3)?,
        max_session_duration: r.try_get(4)?,
        created_at: r.try_get(5)?,
        updated_at: r.try_get(6)?,
    })
}

async fn user(
    c: &mut PgConnection,
    name: &str,
    lock: Lock,
) -> Result<Option<UserRecord>, StoreError> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM ram_users WHERE user_name = $1{}",
        lock.suffix()
    );
    sqlx::query(&sql)
        .bind(name)
        .try_map(|r: PgRow| user_row(&r))
        .fetch_optional(c)
        .await
        .map_err(pg("read user"))
}

async fn user_exists(c: &mut PgConnection, name: &str, lock: Lock) -> Result<bool, StoreError> {
    Ok(user(c, name, lock).await?.is_some())
}

async fn role(
    c: &mut PgConnection,
    name: &str,
    lock: Lock,
) -> Result<Option<RoleRecord>, StoreError> {
    let sql = format!(
        "SELECT {ROLE_COLUMNS} FROM ram_roles WHERE role_name = $1{}",
        lock.suffix()
    );
    sqlx::query(&sql)
        .bind(name)
        .try_map(|r: PgRow| role_row(&r))
        .fetch_optional(c)
        .await
        .map_err(pg("read role"))
}

async fn policy(
    c: &mut PgConnection,
    name: &str,
    lock: Lock,
) -> Result<Option<PolicyRecord>, StoreError> {
    // The lock clause applies to ram_policies only (the count is a subquery).
    let sql = format!(
        "SELECT {POLICY_COLUMNS} FROM ram_policies p WHERE p.policy_name = $1{}",
        lock.suffix()
    );
    sqlx::query(&sql)
        .bind(name)
        .try_map(|r: PgRow| policy_row(&r))
        .fetch_optional(c)
        .await
        .map_err(pg("read policy"))
}

async fn version(
    c: &mut PgConnection,
    name: &str,
    version_id: &str,
) -> Result<Option<PolicyVersionRecord>, StoreError> {
    sqlx::query("SELECT version_id, document, created_at FROM ram_policy_versions WHERE policy_name = $1 AND version_id = $2")
        .bind(name)
        .bind(version_id)
        .try_map(|r: PgRow| version_row(&r))
        .fetch_optional(c)
        .await
        .map_err(pg("read policy version"))
}

async fn count(c: &mut PgConnection, sql: &str, arg: &str) -> Result<i64, StoreError> {
    sqlx::query_scalar(sql)
        .bind(arg)
        .fetch_one(c)
        .await
        .map_err(pg("count rows"))
}

async fn attachments(
    c: &mut PgConnection,
    principal: &str,
) -> Result<Vec<AttachmentRecord>, StoreError> {
    sqlx::query("SELECT policy_type, policy_name, attached_at FROM ram_attachments WHERE principal = $1 ORDER BY attached_at, policy_name")
        .bind(principal)
        .try_map(|r: PgRow| {
            Ok(AttachmentRecord {
                policy_type: r.try_get(0)?,
                policy_name: r.try_get(1)?,
                attached_at: r.try_get(2)?,
            })
        })
        .fetch_all(c)
        .await
        .map_err(pg("list attachments"))
}

/// Attaches inside a transaction whose caller locked the principal's row. A customer policy
/// is locked FOR SHARE, so a DeletePolicy (FOR UPDATE, then counting attachments) is ordered
/// against this attachment.
async fn attach(
    c: &mut PgConnection,
    principal: &str,
    policy_type: &str,
    policy_name: &str,
    now: i64,
) -> Result<IamOutcome<()>, StoreError> {
    if policy_type == "Custom" && policy(c, policy_name, Lock::Share).await?.is_none() {
        return Ok(IamOutcome::PolicyNotFound);
    }
    let n = sqlx::query("INSERT INTO ram_attachments (principal, policy_type, policy_name, attached_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
        .bind(principal)
        .bind(policy_type)
        .bind(policy_name)
        .bind(now)
        .execute(c)
        .await
        .map_err(pg("attach policy"))?
        .rows_affected();
    Ok(if n == 0 {
        IamOutcome::AlreadyAttached
    } else {
        IamOutcome::Done(())
    })
}

async fn detach(
    c: &mut PgConnection,
    principal: &str,
    policy_type: &str,
    policy_name: &str,
) -> Result<IamOutcome<()>, StoreError> {
    let n = sqlx::query(
        "DELETE FROM ram_attachments WHERE principal = $1 AND policy_type = $2 AND policy_name = $3",
    )
    .bind(principal)
    .bind(policy_type)
    .bind(policy_name)
    .execute(c)
    .await
    .map_err(pg("detach policy"))?
    .rows_affected();
    Ok(if n == 0 {
        IamOutcome::NotAttached
    } else {
        IamOutcome::Done(())
    })
}

/// The rows of `select` (a query on `$1` marker and `$2` limit) after `marker`, as one page.
async fn list_after<T: Send + Unpin>(
    store: &PgStore,
    select: &str,
    marker: Option<&str>,
    limit: u64,
    row: fn(&PgRow) -> sqlx::Result<T>,
    op: &'static str,
) -> Result<(Vec<T>, bool), StoreError> {
    let items = sqlx::query(select)
        .bind(marker.unwrap_or(""))
        .bind(clamp(limit.saturating_add(1)))
        .try_map(|r: PgRow| row(&r))
        .fetch_all(&store.pool)
        .await
        .map_err(pg(op))?;
    Ok(split_page(items, limit))
}

fn done_if(n: u64, missing: IamOutcome<()>) -> IamOutcome<()> {
    if n == 0 {
        missing
    } else {
        IamOutcome::Done(())
    }
}

// Transaction bodies, run by `in_tx!` (possibly more than once).

async fn create_user(c: &mut PgConnection, u: &UserRecord) -> Result<IamOutcome<()>, StoreError> {
    let n = sqlx::query(&format!("INSERT INTO ram_users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (user_name) DO NOTHING"))
        .bind(&u.user_name)
        .bind(&u.user_id)
        .bind(&u.display_name)
        .bind(&u.email)
        .bind(&u.mobile_phone)
        .bind(&u.comments)
        .bind(u.created_at)
        .bind(u.updated_at)
        .execute(c)
        .await
        .map_err(pg("write user"))?
        .rows_affected();
    Ok(done_if(n, IamOutcome::UserExists))
}

async fn update_user(
    c: &mut PgConnection,
    name: &str,
    update: &UserUpdate,
) -> Result<IamOutcome<UserRecord>, StoreError> {
    let Some(mut u) = user(c, name, Lock::Update).await? else {
        return Ok(IamOutcome::UserNotFound);
    };
    if let Some(new) = update.new_user_name.as_ref().filter(|n| **n != name) {
        if user_exists(c, new, Lock::None).await? {
            return Ok(IamOutcome::UserExists);
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
                .bind(principal(new))
                .bind(principal(name))
                .execute(&mut *c)
                .await
                .map_err(pg(op))?;
        }
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
    sqlx::query("UPDATE ram_users SET user_name = $1, display_name = $2, email = $3, mobile_phone = $4, comments = $5, updated_at = $6 WHERE user_name = $7")
        .bind(&u.user_name)
        .bind(&u.display_name)
        .bind(&u.email)
        .bind(&u.mobile_phone)
        .bind(&u.comments)
        .bind(u.updated_at)
        .bind(name)
        .execute(c)
        .await
        .map_err(pg("update user"))?;
    Ok(IamOutcome::Done(u))
}

async fn delete_user(c: &mut PgConnection, name: &str) -> Result<IamOutcome<()>, StoreError> {
    if !user_exists(c, name, Lock::Update).await? {
        return Ok(IamOutcome::UserNotFound);
    }
    let p = principal(name);
    if count(
        c,
        "SELECT COUNT(*) FROM access_keys WHERE principal = $1",
        &p,
    )
    .await?
        > 0
    {
        return Ok(IamOutcome::UserHasAccessKeys);
    }
    if count(
        c,
        "SELECT COUNT(*) FROM ram_attachments WHERE principal = $1",
        &p,
    )
    .await?
        > 0
    {
        return Ok(IamOutcome::UserHasPolicies);
    }
    sqlx::query("DELETE FROM ram_users WHERE user_name = $1")
        .bind(name)
        .execute(c)
        .await
        .map_err(pg("delete user"))?;
    Ok(IamOutcome::Done(()))
}

async fn create_user_access_key(
    c: &mut PgConnection,
    user_name: &str,
    key: &AccessKeyRecord,
    max_keys: u32,
) -> Result<IamOutcome<()>, StoreError> {
    if !user_exists(c, user_name, Lock::Update).await? {
        return Ok(IamOutcome::UserNotFound);
    }
    let held = count(
        c,
        "SELECT COUNT(*) FROM access_keys WHERE principal = $1",
        &principal(user_name),
    )
    .await?;
    if held >= i64::from(max_keys) {
        return Ok(IamOutcome::LimitExceeded { limit: max_keys });
    }
    access_keys::insert_access_key(c, key).await?;
    Ok(IamOutcome::Done(()))
}

async fn change_user_access_key(
    c: &mut PgConnection,
    user_name: &str,
    access_key_id: &str,
    status: Option<&str>,
) -> Result<IamOutcome<()>, StoreError> {
    if !user_exists(c, user_name, Lock::Share).await? {
        return Ok(IamOutcome::UserNotFound);
    }
    let q = match status {
        Some(status) => sqlx::query(
            "UPDATE access_keys SET status = $3 WHERE access_key_id = $1 AND principal = $2",
        )
        .bind(access_key_id)
        .bind(principal(user_name))
        .bind(status),
        None => sqlx::query("DELETE FROM access_keys WHERE access_key_id = $1 AND principal = $2")
            .bind(access_key_id)
            .bind(principal(user_name)),
    };
    let n = q
        .execute(c)
        .await
        .map_err(pg("change access key"))?
        .rows_affected();
    Ok(done_if(n, IamOutcome::AccessKeyNotFound))
}

async fn create_policy(
    c: &mut PgConnection,
    p: &PolicyRecord,
    document: &str,
) -> Result<IamOutcome<()>, StoreError> {
    let n = sqlx::query("INSERT INTO ram_policies (policy_name, description, default_version, next_version, created_at, updated_at) VALUES ($1, $2, 'v1', 2, $3, $4) ON CONFLICT (policy_name) DO NOTHING")
        .bind(&p.policy_name)
        .bind(&p.description)
        .bind(p.created_at)
        .bind(p.updated_at)
        .execute(&mut *c)
        .await
        .map_err(pg("write policy"))?
        .rows_affected();
    if n == 0 {
        return Ok(IamOutcome::PolicyExists);
    }
    sqlx::query("INSERT INTO ram_policy_versions (policy_name, version_id, document, created_at) VALUES ($1, 'v1', $2, $3)")
        .bind(&p.policy_name)
        .bind(document)
        .bind(p.created_at)
        .execute(c)
        .await
        .map_err(pg("write policy version"))?;
    Ok(IamOutcome::Done(()))
}

async fn delete_policy(c: &mut PgConnection, name: &str) -> Result<IamOutcome<()>, StoreError> {
    let Some(p) = policy(c, name, Lock::Update).await? else {
        return Ok(IamOutcome::PolicyNotFound);
    };
    if p.attachment_count > 0 {
        return Ok(IamOutcome::PolicyAttached);
    }
    // The versions go with the policy (ON DELETE CASCADE).
    sqlx::query("DELETE FROM ram_policies WHERE policy_name = $1")
        .bind(name)
        .execute(c)
        .await
        .map_err(pg("delete policy"))?;
    Ok(IamOutcome::Done(()))
}

async fn create_policy_version(
    c: &mut PgConnection,
    name: &str,
    document: &str,
    set_default: bool,
    now: i64,
    max_versions: u32,
) -> Result<IamOutcome<PolicyVersionRecord>, StoreError> {
    if policy(c, name, Lock::Update).await?.is_none() {
        return Ok(IamOutcome::PolicyNotFound);
    }
    let held = count(
        c,
        "SELECT COUNT(*) FROM ram_policy_versions WHERE policy_name = $1",
        name,
    )
    .await?;
    if held >= i64::from(max_versions) {
        return Ok(IamOutcome::LimitExceeded {
            limit: max_versions,
        });
    }
    let next: i64 =
        sqlx::query_scalar("SELECT next_version FROM ram_policies WHERE policy_name = $1")
            .bind(name)
            .fetch_one(&mut *c)
            .await
            .map_err(pg("read policy"))?;
    let version_id = format!("v{next}");
    sqlx::query("INSERT INTO ram_policy_versions (policy_name, version_id, document, created_at) VALUES ($1, $2, $3, $4)")
        .bind(name)
        .bind(&version_id)
        .bind(document)
        .bind(now)
        .execute(&mut *c)
        .await
        .map_err(pg("write policy version"))?;
    sqlx::query("UPDATE ram_policies SET next_version = next_version + 1, updated_at = $2, default_version = CASE WHEN $3 THEN $4 ELSE default_version END WHERE policy_name = $1")
        .bind(name)
        .bind(now)
        .bind(set_default)
        .bind(&version_id)
        .execute(c)
        .await
        .map_err(pg("update policy"))?;
    Ok(IamOutcome::Done(PolicyVersionRecord {
        version_id,
        document: document.to_owned(),
        created_at: now,
    }))
}

async fn set_default_policy_version(
    c: &mut PgConnection,
    name: &str,
    version_id: &str,
    now: i64,
) -> Result<IamOutcome<()>, StoreError> {
    if policy(c, name, Lock::Update).await?.is_none() {
        return Ok(IamOutcome::PolicyNotFound);
    }
    if version(c, name, version_id).await?.is_none() {
        return Ok(IamOutcome::VersionNotFound);
    }
    sqlx::query(
        "UPDATE ram_policies SET default_version = $2, updated_at = $3 WHERE policy_name = $1",
    )
    .bind(name)
    .bind(version_id)
    .bind(now)
    .execute(c)
    .await
    .map_err(pg("update policy"))?;
    Ok(IamOutcome::Done(()))
}

/// Which principal an attachment change is for.
enum Holder<'a> {
    User(&'a str),
    Role(&'a str),
}

async fn change_attachment(
    c: &mut PgConnection,
    holder: Holder<'_>,
    policy_type: &str,
    policy_name: &str,
    attach_at: Option<i64>,
) -> Result<IamOutcome<()>, StoreError> {
    // FOR SHARE: a DeleteUser / DeleteRole (FOR UPDATE, then counting attachments) waits.
    let principal = match holder {
        Holder::User(name) => {
            if !user_exists(c, name, Lock::Share).await? {
                return Ok(IamOutcome::UserNotFound);
            }
            principal(name)
        }
        Holder::Role(name) => {
            if role(c, name, Lock::Share).await?.is_none() {
                return Ok(IamOutcome::RoleNotFound);
            }
            format!("role/{name}")
        }
    };
    match attach_at {
        Some(now) => attach(c, &principal, policy_type, policy_name, now).await,
        None => detach(c, &principal, policy_type, policy_name).await,
    }
}

async fn create_role(c: &mut PgConnection, r: &RoleRecord) -> Result<IamOutcome<()>, StoreError> {
    let n = sqlx::query(&format!("INSERT INTO ram_roles ({ROLE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (role_name) DO NOTHING"))
        .bind(&r.role_name)
        .bind(&r.role_id)
        .bind(&r.description)
        .bind(&r.trust_policy)
        .bind(r.max_session_duration)
        .bind(r.created_at)
        .bind(r.updated_at)
        .execute(c)
        .await
        .map_err(pg("write role"))?
        .rows_affected();
    Ok(done_if(n, IamOutcome::RoleExists))
}

async fn delete_role(c: &mut PgConnection, name: &str) -> Result<IamOutcome<()>, StoreError> {
    if role(c, name, Lock::Update).await?.is_none() {
        return Ok(IamOutcome::RoleNotFound);
    }
    if !attachments(c, &format!("role/{name}")).await?.is_empty() {
        return Ok(IamOutcome::RoleHasPolicies);
    }
    sqlx::query("DELETE FROM ram_roles WHERE role_name = $1")
        .bind(name)
        .execute(c)
        .await
        .map_err(pg("delete role"))?;
    Ok(IamOutcome::Done(()))
}

#[async_trait]
impl IamStore for PgStore {
    async fn create_user(&self, u: UserRecord) -> Result<IamOutcome<()>, StoreError> {
        in_tx!(self, "create user", |c| create_user(c, &u))
    }

    async fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        let mut c = self.pool.acquire().await.map_err(pg("read user"))?;
        user(&mut c, name, Lock::None).await
    }

    async fn update_user(
        &self,
        name: &str,
        update: UserUpdate,
    ) -> Result<IamOutcome<UserRecord>, StoreError> {
        in_tx!(self, "update user", |c| update_user(c, name, &update))
    }

    async fn delete_user(&self, name: &str) -> Result<IamOutcome<()>, StoreError> {
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
            user_row,
            "list users",
        )
        .await
    }

    async fn create_user_access_key(
        &self,
        user_name: &str,
        key: AccessKeyRecord,
        max_keys: u32,
    ) -> Result<IamOutcome<()>, StoreError> {
        in_tx!(self, "create access key", |c| create_user_access_key(
            c, user_name, &key, max_keys
        ))
    }

    async fn user_access_keys(
        &self,
        user_name: &str,
    ) -> Result<IamOutcome<Vec<AccessKeyRecord>>, StoreError> {
        let mut c = self.pool.acquire().await.map_err(pg("list access keys"))?;
        if !user_exists(&mut c, user_name, Lock::None).await? {
            return Ok(IamOutcome::UserNotFound);
        }
        sqlx::query("SELECT access_key_id, sealed_secret, principal, status, created_at, root_id FROM access_keys WHERE principal = $1 ORDER BY created_at, access_key_id")
            .bind(principal(user_name))
            .try_map(|r: PgRow| access_keys::access_key(&r))
            .fetch_all(&mut *c)
            .await
            .map(IamOutcome::Done)
            .map_err(pg("list access keys"))
    }

    async fn set_access_key_status(
        &self,
        user_name: &str,
        access_key_id: &str,
        status: &str,
    ) -> Result<IamOutcome<()>, StoreError> {
        in_tx!(self, "update access key", |c| change_user_access_key(
            c,
            user_name,
            access_key_id,
            Some(status)
        ))
    }

    async fn delete_user_access_key(
        &self,
        user_name: &str,
        access_key_id: &str,
    ) -> Result<IamOutcome<()>, StoreError> {
        in_tx!(self, "delete access key", |c| change_user_access_key(
            c,
            user_name,
            access_key_id,
            None
        ))
    }

    async fn create_policy(
        &self,
        p: PolicyRecord,
        document: String,
    ) -> Result<IamOutcome<()>, StoreError> {
        in_tx!(self, "create policy", |c| create_policy(c, &p, &document))
    }

    async fn policy(
        &self,
        name: &str,
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
            policy_row,
            "list policies",
        )
        .await
    }

    async fn delete_policy(&self, name: &str) -> Result<IamOutcome<()>, StoreError> {
        in_tx!(self, "delete policy", |c| delete_policy(c, name))
    }

    async fn create_policy_version(
        &self,
        name: &str,
        document: String,
        set_default: bool,
        now: i64,
        max_versions: u32,
    ) -> Result<IamOutcome<PolicyVersionRecord>, StoreError> {
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
        name: &str,
        version_id: &str,
        now: i64,
    ) -> Result<IamOutcome<()>, StoreError> {
        in_tx!(self, "set default policy version", |c| {
            set_default_policy_version(c, name, version_id, now)
        })
    }

    async fn policy_versions(
        &self,
        name: &str,
    ) -> Result<IamOutcome<(String, Vec<PolicyVersionRecord>)>, StoreError> {
        read_tx!(self, "read policy versions", |c| async {
            let Some(p) = policy(c, name, Lock::None).await? else {
                return Ok(IamOutcome::PolicyNotFound);
            };
            let versions = sqlx::query("SELECT version_id, document, created_at FROM ram_policy_versions WHERE policy_name = $1 ORDER BY created_at, CAST(substr(version_id, 2) AS BIGINT)")
                .bind(name)
                .try_map(|r: PgRow| version_row(&r))
                .fetch_all(&mut *c)
                .await
                .map_err(pg("read policy versions"))?;
            Ok(IamOutcome::Done((p.default_version, versions)))
        })
    }

    async fn attach_policy_to_user(
        &self,
        user_name: &str,
        policy_type: &str,
        policy_name: &str,
        now: i64,
    ) -> Result<IamOutcome<()>, StoreError> {
        in_tx!(self, "attach policy", |c| change_attachment(
            c,
            Holder::User(user_name),
            policy_type,
            policy_name,
            Some(now)
        ))
    }

    async fn detach_policy_from_user(
        &self,
        user_name: &str,
        policy_type: &str,
        policy_name: &str,
    ) -> Result<IamOutcome<()>, StoreError> {
        in_tx!(self, "detach policy", |c| change_attachment(
            c,
            Holder::User(user_name),
            policy_type,
            policy_name,
            None
        ))
    }

    async fn user_attachments(
        &self,
        user_name: &str,
    ) -> Result<IamOutcome<Vec<AttachmentRecord>>, StoreError> {
        let mut c = self.pool.acquire().await.map_err(pg("list attachments"))?;
        if !user_exists(&mut c, user_name, Lock::None).await? {
            return Ok(IamOutcome::UserNotFound);
        }
        attachments(&mut c, &principal(user_name))
            .await
            .map(IamOutcome::Done)
    }

    async fn attachments_of(&self, principal: &str) -> Result<Vec<AttachmentRecord>, StoreError> {
        let mut c = self.pool.acquire().await.map_err(pg("list attachments"))?;
        attachments(&mut c, principal).await
    }

    async fn create_role(&self, r: RoleRecord) -> Result<IamOutcome<()>, StoreError> {
        in_tx!(self, "create role", |c| create_role(c, &r))
    }

    async fn role(&self, name: &str) -> Result<Option<RoleRecord>, StoreError> {
        let mut c = self.pool.acquire().await.map_err(pg("read role"))?;
        role(&mut c, name, Lock::None).await
    }

    async fn delete_role(&self, name: &str) -> Result<IamOutcome<()>, StoreError> {
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
            role_row,
            "list roles",
        )
        .await
    }

    async fn attach_policy_to_role(
        &self,
        role_name: &str,
        policy_type: &str,
        policy_name: &str,
        now: i64,
    ) -> Result<IamOutcome<()>, StoreError> {
        in_tx!(self, "attach policy", |c| change_attachment(
            c,
            Holder::Role(role_name),
            policy_type,
            policy_name,
            Some(now)
        ))
    }

    async fn detach_policy_from_role(
        &self,
        role_name: &str,
        policy_type: &str,
        policy_name: &str,
    ) -> Result<IamOutcome<()>, StoreError> {
        in_tx!(self, "detach policy", |c| change_attachment(
            c,
            Holder::Role(role_name),
            policy_type,
            policy_name,
            None
        ))
    }
}
