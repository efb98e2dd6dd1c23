//! PostgreSQL side of the identity aggregate ([`crate::identities`]): each write is one
//! transaction that first locks the row its checks are about (the user, role or policy), so a
//! check and the write it allows cannot be separated by another node's write: a DeleteUser and
//! a CreateAccessKey for the same user, or two CreateAccessKey racing for the last free slot,
//! take turns. One file per trait, in the same order as `sqlite/identities/`; this file holds
//! the reads and row mappers they share.

mod access_keys;
mod policies;
mod roles;
mod users;

pub(super) use access_keys::insert_access_key;

use openkms_domain::{PolicyName, RoleName, UserName};
use sqlx::postgres::{PgConnection, PgRow};

// The backend's error mapping also turns a corrupt column into `StoreError::Corrupt`.
use super::{clamp, pg as db, PgStore};
use crate::identities::*;
use crate::StoreError;

const USER_COLUMNS: &str =
    "user_name, user_id, display_name, email, mobile_phone, comments, created_at, updated_at";
const ROLE_COLUMNS: &str =
    "role_name, role_id, description, trust_policy, max_session_duration, created_at, updated_at";
const POLICY_COLUMNS: &str = "p.policy_name AS policy_name, p.description AS description, p.default_version AS default_version, p.created_at AS created_at, p.updated_at AS updated_at, (SELECT COUNT(*) FROM ram_attachments a WHERE a.policy_type = 'Custom' AND a.policy_name = p.policy_name) AS attachment_count";
const VERSION_COLUMNS: &str = "version_id, document, created_at";

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

async fn user(
    c: &mut PgConnection,
    name: &UserName,
    lock: Lock,
) -> Result<Option<UserRecord>, StoreError> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM ram_users WHERE user_name = $1{}",
        lock.suffix()
    );
    sqlx::query(&sql)
        .bind(name.as_str())
        .try_map(|r: PgRow| UserRecord::from_row(&r))
        .fetch_optional(c)
        .await
        .map_err(db("read user"))
}

async fn user_exists(
    c: &mut PgConnection,
    name: &UserName,
    lock: Lock,
) -> Result<bool, StoreError> {
    Ok(user(c, name, lock).await?.is_some())
}

async fn role(
    c: &mut PgConnection,
    name: &RoleName,
    lock: Lock,
) -> Result<Option<RoleRecord>, StoreError> {
    let sql = format!(
        "SELECT {ROLE_COLUMNS} FROM ram_roles WHERE role_name = $1{}",
        lock.suffix()
    );
    sqlx::query(&sql)
        .bind(name.as_str())
        .try_map(|r: PgRow| RoleRecord::from_row(&r))
        .fetch_optional(c)
        .await
        .map_err(db("read role"))
}

/// Whether the user or role exists, its row locked as `lock` says.
async fn holder_exists(
    c: &mut PgConnection,
    holder: &Holder,
    lock: Lock,
) -> Result<bool, StoreError> {
    Ok(match holder {
        Holder::User(n) => user_exists(c, n, lock).await?,
        Holder::Role(n) => role(c, n, lock).await?.is_some(),
    })
}

async fn policy(
    c: &mut PgConnection,
    name: &PolicyName,
    lock: Lock,
) -> Result<Option<PolicyRecord>, StoreError> {
    // The lock clause applies to ram_policies only (the count is a subquery).
    let sql = format!(
        "SELECT {POLICY_COLUMNS} FROM ram_policies p WHERE p.policy_name = $1{}",
        lock.suffix()
    );
    sqlx::query(&sql)
        .bind(name.as_str())
        .try_map(|r: PgRow| PolicyRecord::from_row(&r))
        .fetch_optional(c)
        .await
        .map_err(db("read policy"))
}

async fn version(
    c: &mut PgConnection,
    name: &PolicyName,
    version_id: &str,
) -> Result<Option<PolicyVersionRecord>, StoreError> {
    sqlx::query(&format!(
        "SELECT {VERSION_COLUMNS} FROM ram_policy_versions WHERE policy_name = $1 AND version_id = $2"
    ))
    .bind(name.as_str())
    .bind(version_id)
    .try_map(|r: PgRow| PolicyVersionRecord::from_row(&r))
    .fetch_optional(c)
    .await
    .map_err(db("read policy version"))
}

async fn count(c: &mut PgConnection, sql: &str, arg: &str) -> Result<i64, StoreError> {
    sqlx::query_scalar(sql)
        .bind(arg)
        .fetch_one(c)
        .await
        .map_err(db("count rows"))
}

async fn attachments(
    c: &mut PgConnection,
    principal: &str,
) -> Result<Vec<AttachmentRecord>, StoreError> {
    sqlx::query("SELECT policy_type, policy_name, attached_at FROM ram_attachments WHERE principal = $1 ORDER BY attached_at, policy_name")
        .bind(principal)
        .try_map(|r: PgRow| AttachmentRecord::from_row(&r))
        .fetch_all(c)
        .await
        .map_err(db("list attachments"))
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
        .map_err(db(op))?;
    Ok(split_page(items, limit))
}
