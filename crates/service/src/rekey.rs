//! `openkms rekey`: move every wrapped KMS key version and sealed access key secret to a new
//! root of trust while the server keeps serving. Secret values are not touched: they are
//! sealed under data keys wrapped by KMS key versions, whose material does not change.
//!
//! It runs in its own process on the same SQLite database (WAL lets both open it):
//! 1. record the new root as active (the old one becomes retiring) — from now on the server
//!    wraps new keys under the new root, and finds it through its recorded locator when it
//!    first meets a row wrapped by it;
//! 2. rewrap rows one at a time, each in its own transaction, compare-and-set on the old
//!    bytes, so a row is always wrapped by a root that is still recorded and reachable;
//! 3. retire the old roots in one transaction that first checks no row uses them (a server
//!    may have wrapped a key under the old root just before step 1; then step 2 runs again).
//!
//! A crash anywhere leaves every row openable: before step 3 the old root is still recorded
//! and loadable; running `rekey` again with the same arguments resumes.

use std::sync::Arc;

use openkms_crypto::{RootFinder, RootOfTrust};
use openkms_store::{RootRecord, RootState, Store, WrappedTarget};

use crate::roots::{RootError, Roots};
use crate::{access_key_aad, key_material_aad};

/// Passes over the rows before giving up on retiring the old root (each pass only finds rows
/// that a server wrapped under the old root during the previous one).
const MAX_PASSES: usize = 5;

/// What to rekey from and to.
pub struct RekeyPlan {
    /// The root the store uses now (any recorded, unretired root works).
    pub current: Arc<dyn RootOfTrust>,
    /// Where `current` is found, recorded if the store does not know yet.
    pub current_locator: String,
    /// The root to move to.
    pub new: Arc<dyn RootOfTrust>,
    /// Where the server finds `new`: a file path it can read, or a key label in its token.
    pub new_locator: String,
    /// Finds other recorded roots (left retiring by an interrupted rekey).
    pub finder: RootFinder,
    /// Stops after this many rewrapped rows, as a crash would (tests of crash safety).
    pub stop_after: Option<usize>,
}

/// What a rekey did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RekeyReport {
    /// Key versions rewrapped.
    pub key_versions: usize,
    /// Access key secrets resealed.
    pub access_keys: usize,
    /// Rows that changed or vanished under us (a destroyed key) and were left alone.
    pub skipped: usize,
    /// True when every old root was retired; false if stopped early.
    pub finished: bool,
}

/// Why rekey stopped.
#[derive(Debug, thiserror::Error)]
pub enum RekeyError {
    #[error("the data directory is not initialised")]
    NotInitialised,
    #[error("the current root of trust {id} is not one this store knows (or it is retired)")]
    UnknownCurrent { id: String },
    #[error("the new root of trust is the active root already ({id})")]
    SameRoot { id: String },
    #[error("root of trust: {0}")]
    Root(#[from] RootError),
    #[error("store: {0}")]
    Store(#[from] openkms_store::StoreError),
    #[error("rows kept appearing under old roots after {MAX_PASSES} passes; run rekey again")]
    NotSettled,
}

/// Moves every wrapped row to `plan.new` and retires the other roots.
pub async fn rekey(
    store: &dyn Store,
    plan: RekeyPlan,
    now: i64,
) -> Result<RekeyReport, RekeyError> {
    let meta = store.meta().await?.ok_or(RekeyError::NotInitialised)?;
    let recorded = store.roots().await?;
    let current = recorded
        .iter()
        .find(|r| r.root_id == plan.current.id() && r.state != RootState::Retired)
        .ok_or_else(|| RekeyError::UnknownCurrent {
            id: plan.current.id().to_owned(),
        })?;
    if current.locator.is_none() {
        store
            .set_root_locator(plan.current.id(), &plan.current_locator)
            .await?;
    }
    let new_id = plan.new.id().to_owned();
    let already_active = recorded
        .iter()
        .any(|r| r.root_id == new_id && r.state == RootState::Active);
    if already_active && recorded.iter().all(|r| r.state != RootState::Retiring) {
        return Err(RekeyError::SameRoot { id: new_id });
    }
    // Step 1. Re-running after a crash finds the new root active already: a no-op.
    store
        .activate_root(RootRecord {
            root_id: new_id.clone(),
            kind: plan.new.kind().as_str().to_owned(),
            locator: Some(plan.new_locator.clone()),
            state: RootState::Active,
            created_at: now,
        })
        .await?;
    tracing::info!(
        from = plan.current.id(),
        to = new_id.as_str(),
        "rekey: new root active"
    );
    let roots = Roots::new(plan.current.clone(), &meta.root_fingerprint, plan.finder);
    roots.insert(plan.new.clone());

    let mut report = RekeyReport::default();
    for _ in 0..MAX_PASSES {
        // Step 2.
        for row in store.rows_to_rewrap().await? {
            if plan
                .stop_after
                .is_some_and(|n| report.key_versions + report.access_keys >= n)
            {
                return Ok(report);
            }
            let aad = match &row.target {
                WrappedTarget::KeyVersion { key_id, version_id } => {
                    key_material_aad(key_id, version_id)
                }
                WrappedTarget::AccessKey { access_key_id } => access_key_aad(access_key_id),
            };
            let plain = roots.open(store, &row.wrapped, &aad).await?;
            let wrapped = roots.seal_under(&new_id, plain.expose_secret(), &aad)?;
            drop(plain);
            let is_key = matches!(row.target, WrappedTarget::KeyVersion { .. });
            if store.rewrap(row, wrapped, new_id.clone()).await? {
                if is_key {
                    report.key_versions += 1;
                } else {
                    report.access_keys += 1;
                }
            } else {
                report.skipped += 1;
            }
        }
        // Step 3.
        if store.retire_roots().await? {
            report.finished = true;
            tracing::info!(
                key_versions = report.key_versions,
                access_keys = report.access_keys,
                "rekey: old roots retired"
            );
            return Ok(report);
        }
    }
    Err(RekeyError::NotSettled)
}
