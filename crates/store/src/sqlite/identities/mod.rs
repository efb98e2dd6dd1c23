//! SQLite side of the identity aggregate ([`crate::identities`]): checks first, then writes,
//! all inside the writer's transaction, so a rejection writes nothing and concurrent writes
//! cannot interleave. One file per trait, in the same order as `postgres/identities/`; this
//! file holds the reads and row mappers they share.

mod access_keys;
mod policies;
mod roles;
mod users;

pub(super) use access_keys::insert_access_key;

use openkms_domain::{PolicyName, RoleName, UserName};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{clamp, db, SqliteStore};
use crate::identities::*;
use crate::StoreError;

const USER_COLUMNS: &str =
    "user_name, user_id, display_name, email, mobile_phone, comments, created_at, updated_at";
const ROLE_COLUMNS: &str =
    "role_name, role_id, description, trust_policy, max_session_duration, created_at, updated_at";
const POLICY_COLUMNS: &str = "p.policy_name AS policy_name, p.description AS description, p.default_version AS default_version, p.created_at AS created_at, p.updated_at AS updated_at, (SELECT COUNT(*) FROM ram_attachments a WHERE a.policy_type = 'Custom' AND a.policy_name = p.policy_name) AS attachment_count";
const VERSION_COLUMNS: &str = "version_id, document, created_at";

fn user(c: &Connection, name: &UserName) -> Result<Option<UserRecord>, StoreError> {
    c.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM ram_users WHERE user_name = ?1"
    ))
    .and_then(|mut s| {
        s.query_row([name.as_str()], |r| UserRecord::from_row(r))
            .optional()
    })
    .map_err(db("read user"))
}

fn user_exists(c: &Connection, name: &UserName) -> Result<bool, StoreError> {
    Ok(user(c, name)?.is_some())
}

fn role(c: &Connection, name: &RoleName) -> Result<Option<RoleRecord>, StoreError> {
    c.prepare_cached(&format!(
        "SELECT {ROLE_COLUMNS} FROM ram_roles WHERE role_name = ?1"
    ))
    .and_then(|mut s| {
        s.query_row([name.as_str()], |r| RoleRecord::from_row(r))
            .optional()
    })
    .map_err(db("read role"))
}

/// Whether the user or role exists.
fn holder_exists(c: &Connection, holder: &Holder) -> Result<bool, StoreError> {
    Ok(match holder {
        Holder::User(n) => user_exists(c, n)?,
        Holder::Role(n) => role(c, n)?.is_some(),
    })
}

fn policy(c: &Connection, name: &PolicyName) -> Result<Option<PolicyRecord>, StoreError> {
    c.prepare_cached(&format!(
        "SELECT {POLICY_COLUMNS} FROM ram_policies p WHERE p.policy_name = ?1"
    ))
    .and_then(|mut s| {
        s.query_row([name.as_str()], |r| PolicyRecord::from_row(r))
            .optional()
    })
    .map_err(db("read policy"))
}

fn version(
    c: &Connection,
    name: &PolicyName,
    version_id: &str,
) -> Result<Option<PolicyVersionRecord>, StoreError> {
    c.prepare_cached(&format!(
        "SELECT {VERSION_COLUMNS} FROM ram_policy_versions WHERE policy_name = ?1 AND version_id = ?2"
    ))
    .and_then(|mut s| {
        s.query_row([name.as_str(), version_id], |r| PolicyVersionRecord::from_row(r))
            .optional()
    })
    .map_err(db("read policy version"))
}

/// The count `sql` selects as `n`.
fn count(c: &Connection, sql: &str, arg: &str) -> Result<i64, StoreError> {
    c.query_row(sql, [arg], |r| r.get("n"))
        .map_err(db("count rows"))
}

fn attachments(c: &Connection, principal: &str) -> Result<Vec<AttachmentRecord>, StoreError> {
    c.prepare_cached("SELECT policy_type, policy_name, attached_at FROM ram_attachments WHERE principal = ?1 ORDER BY attached_at, policy_name")
        .and_then(|mut s| {
            s.query_map([principal], |r| AttachmentRecord::from_row(r))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(db("list attachments"))
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
