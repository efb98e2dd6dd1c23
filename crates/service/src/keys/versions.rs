//! Key versions: CreateKeyVersion, ListKeyVersions, DescribeKeyVersion, and the automatic
//! rotation job. A new version becomes the primary one: new data is sealed under it, while
//! every older version stays, so whatever they sealed still opens (blobs name their version,
//! secret versions record theirs).

use openkms_domain::key;
use openkms_store::{KeyPlanState, KeyRecord, KeyUpdate, KeyUpdateOutcome, KeyVersionRecord};

use super::Paging;
use crate::{ids, Caller, Error, Service};

/// One key version as reported.
#[derive(Debug, Clone)]
pub struct KeyVersionView {
    pub key_id: String,
    pub key_version_id: String,
    pub created_at: i64,
}

/// One page of ListKeyVersions.
#[derive(Debug)]
pub struct KeyVersionPage {
    pub page_number: u64,
    pub page_size: u64,
    pub total: u64,
    pub versions: Vec<KeyVersionView>,
}

impl Service {
    /// CreateKeyVersion: a new primary version of an Enabled user key. Counts as a rotation:
    /// LastRotationDate becomes now and NextRotationDate one interval later.
    pub async fn create_key_version(
        &self,
        _c: &Caller,
        key_id: &str,
    ) -> Result<KeyVersionView, Error> {
        let key = self.resolve_user_key(key_id).await?;
        key::check_usable(key.key_state)?;
        let now = self.now();
        let version = self.new_version(&key.key_id, now).await?;
        let applied = self
            .add_version(
                version,
                Box::new(|s: &KeyPlanState| {
                    // Checked again inside the transaction: a racing DisableKey or
                    // ScheduleKeyDeletion that committed first wins.
                    key::check_usable(s.key.key_state)?;
                    Ok(KeyUpdate::default())
                }),
            )
            .await?;
        Ok(KeyVersionView {
            key_id: applied.key_id,
            key_version_id: applied.primary_version_id,
            created_at: applied.last_rotation_at,
        })
    }

    /// ListKeyVersions: oldest first. Reading versions is allowed in every state and for the
    /// service key.
    pub async fn list_key_versions(
        &self,
        key_id: &str,
        paging: Paging,
    ) -> Result<KeyVersionPage, Error> {
        let key = self.resolve_key(key_id).await?;
        let (total, rows) = self
            .store
            .key_versions(&key.key_id, paging.offset(), paging.size)
            .await?;
        Ok(KeyVersionPage {
            page_number: paging.number,
            page_size: paging.size,
            total,
            versions: rows.into_iter().map(view).collect(),
        })
    }

    /// DescribeKeyVersion.
    pub async fn describe_key_version(
        &self,
        key_id: &str,
        version_id: &str,
    ) -> Result<KeyVersionView, Error> {
        let key = self.resolve_key(key_id).await?;
        self.store
            .key_version(&key.key_id, version_id)
            .await?
            .map(view)
            .ok_or(Error::KeyVersionNotFound)
    }

    /// The rotation job: a new primary version for every Enabled user key whose
    /// NextRotationDate is at or before `now`, one transaction per key (the rule is checked
    /// again inside it, so a key rotated, disabled or changed meanwhile is skipped). One key's
    /// failure does not stop the others; returns how many keys were rotated.
    pub async fn rotate_due_keys(&self, now: i64) -> Result<usize, Error> {
        let mut rotated = 0;
        for key_id in self.store.keys_due_for_rotation(now).await? {
            let version = match self.new_version(&key_id, now).await {
                Ok(v) => v,
                Err(e) => {
                    tracing::error!(key = key_id.as_str(), error = %e, "key rotation failed");
                    continue;
                }
            };
            let plan = Box::new(move |s: &KeyPlanState| {
                key::check_rotation_due(
                    s.key.key_state,
                    s.key.last_rotation_at,
                    s.key.rotation_interval_secs,
                    now,
                )?;
                Ok(KeyUpdate::default())
            });
            match self.store.add_key_version(version, plan).await {
                Ok(KeyUpdateOutcome::Applied(k)) => {
                    rotated += 1;
                    tracing::info!(
                        key = key_id.as_str(),
                        version = k.primary_version_id.as_str(),
                        "key rotated"
                    );
                }
                Ok(KeyUpdateOutcome::Rejected(_) | KeyUpdateOutcome::NotFound) => {}
                Err(e) => {
                    tracing::error!(key = key_id.as_str(), error = %e, "key rotation failed")
                }
            }
        }
        Ok(rotated)
    }

    /// Fresh material for a new version of `key_id`, wrapped by the active root.
    async fn new_version(&self, key_id: &str, now: i64) -> Result<KeyVersionRecord, Error> {
        let version_id = ids::uuid();
        let (wrapped, root_id) = self.wrap_new_material(key_id, &version_id).await?;
        Ok(KeyVersionRecord {
            key_id: key_id.to_owned(),
            version_id,
            wrapped_material: wrapped,
            root_id,
            created_at: now,
        })
    }

    async fn add_version(
        &self,
        version: KeyVersionRecord,
        plan: openkms_store::KeyPlanFn,
    ) -> Result<KeyRecord, Error> {
        match self.store.add_key_version(version, plan).await? {
            KeyUpdateOutcome::Applied(k) => {
                tracing::info!(
                    key = k.key_id.as_str(),
                    version = k.primary_version_id.as_str(),
                    "key version created"
                );
                Ok(*k)
            }
            KeyUpdateOutcome::Rejected(r) => Err(r.into()),
            KeyUpdateOutcome::NotFound => Err(Error::KeyNotFound),
        }
    }
}

fn view(v: KeyVersionRecord) -> KeyVersionView {
    KeyVersionView {
        key_id: v.key_id,
        key_version_id: v.version_id,
        created_at: v.created_at,
    }
}
