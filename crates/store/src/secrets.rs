//! Secrets with their versions and stage labels. Writes that depend on current state take a
//! plan function that sees the state inside the transaction.

use std::sync::Arc;

use async_trait::async_trait;
use openkms_domain::filters::SecretFilter;
use openkms_domain::key::{check_usable, KeyState};

use openkms_domain::stages::StageMap;
use openkms_domain::{SecretDataType, SecretType};

use crate::columns::Columns;
use crate::dialect::{where_all, Args, Dialect};
use crate::{StoreError, TagRecord};

/// What an update plan decided: a change to apply, or a business rejection (nothing written).
pub type Plan = Result<SecretUpdate, openkms_domain::secret::Rejection>;

/// A plan function: sees the current state, returns the change. Called again if a backend
/// retries the transaction, so it must be pure.
pub type PlanFn = Box<dyn Fn(&SecretState) -> Plan + Send + Sync>;

/// Secrets with their versions and stage labels.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// A secret's metadata by name.
    async fn secret(&self, name: &str) -> Result<Option<Arc<SecretRecord>>, StoreError>;

    /// One sealed version of `secret` (as just read from this store).
    async fn version(
        &self,
        secret: &SecretRecord,
        version_id: &str,
    ) -> Result<Option<Arc<VersionRecord>>, StoreError>;

    /// All versions' metadata, oldest first.
    async fn versions(&self, secret_id: i64) -> Result<Vec<VersionMeta>, StoreError>;

    /// One page of secrets matching `filter`, in creation order, and the total match count.
    async fn list_secrets(
        &self,
        filter: &SecretFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<SecretRecord>), StoreError>;

    /// Creates a secret with its first version, unless the name is taken.
    async fn create_secret(&self, new: NewSecret) -> Result<CreateOutcome, StoreError>;

    /// Changes a secret as `plan` decides, in one transaction.
    async fn update_secret(&self, name: &str, plan: PlanFn) -> Result<UpdateOutcome, StoreError>;

    /// Removes secrets whose recovery window ended at or before `now`; returns their names.
    async fn purge_expired(&self, now: i64) -> Result<Vec<String>, StoreError>;
}

/// The columns [`SecretRecord::from_row`] reads, but `revision`, which each backend adds.
macro_rules! secret_columns {
    () => {
        "id, name, secret_type, description, encryption_key_id, dkms_instance_id, extended_config, rotation_enabled, rotation_interval, next_rotation_at, last_rotation_at, policy, stages, created_at, updated_at, planned_delete_at, rotation_state"
    };
}
pub(crate) use secret_columns;

/// The columns [`VersionRecord::from_row`] reads.
macro_rules! version_columns {
    () => {
        "version_id, data_type, key_id, key_version_id, wrapped_key, ciphertext, created_at"
    };
}
pub(crate) use version_columns;

/// Rotation settings of a secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationRecord {
    pub enabled: bool,
    pub interval_secs: Option<i64>,
    pub next_at: Option<i64>,
    pub last_at: Option<i64>,
    pub progress: RotationProgress,
}

impl RotationRecord {
    /// When the scheduler should next take the secret: at once for an unfinished rotation
    /// (after its backoff), at NextRotationDate when automatic rotation is on, else never.
    pub fn due_at(&self) -> Option<i64> {
        let retry = self.progress.retry_at;
        if self.progress.pending_version.is_some() {
            return Some(retry.unwrap_or(0));
        }
        if !self.enabled {
            return None;
        }
        match (self.next_at, retry) {
            (Some(next), Some(r)) => Some(next.max(r)),
            (next, r) => next.or(r),
        }
    }
}

/// Where a managed rotation stands. Kept as JSON in the secret's row.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RotationProgress {
    /// The ACSPending version of a rotation begun and not yet promoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_version: Option<String>,
    /// Failed attempts since the last success.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failures: u32,
    /// No attempt before this time (backoff after a failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<i64>,
    /// Why the last attempt failed (no secret material: target and step only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A secret's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRecord {
    pub id: i64,
    pub name: String,
    pub secret_type: SecretType,
    pub description: String,
    pub encryption_key_id: Option<String>,
    pub dkms_instance_id: Option<String>,
    pub extended_config: Option<String>,
    pub rotation: RotationRecord,
    pub policy: String,
    pub stages: StageMap,
    pub created_at: i64,
    pub updated_at: i64,
    pub planned_delete_at: Option<i64>,
    /// Changes whenever the stored row does (on PostgreSQL its `xmin`, the transaction that
    /// last wrote it), so a node can tell a cached version still belongs to what this secret
    /// is now; 0 where the store needs none (SQLite invalidates its cache on every write).
    /// A record returned by a write carries the revision it was read at.
    pub revision: i64,
}

impl SecretRecord {
    /// A Generic secret before it is stored (the store assigns `id`): `first_version` carries
    /// ACSCurrent, no key is named, the policy is empty, no rotation.
    pub fn generic(name: &str, first_version: &str, now: i64) -> Self {
        Self {
            id: 0,
            name: name.into(),
            secret_type: SecretType::Generic,
            description: String::new(),
            encryption_key_id: None,
            dkms_instance_id: None,
            extended_config: None,
            rotation: RotationRecord::default(),
            policy: "{}".into(),
            stages: StageMap::initial(first_version),
            created_at: now,
            updated_at: now,
            planned_delete_at: None,
            revision: 0,
        }
    }
}

/// A sealed secret version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRecord {
    pub version_id: String,
    pub data_type: SecretDataType,
    pub key_id: String,
    pub key_version_id: String,
    pub wrapped_key: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub created_at: i64,
}

/// A version's metadata, without its sealed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionMeta {
    pub version_id: String,
    pub created_at: i64,
}

/// A secret to create; `id` and `stages` of `secret` are ignored / set from `first_version`.
#[derive(Debug, Clone)]
pub struct NewSecret {
    pub secret: SecretRecord,
    pub tags: Vec<TagRecord>,
    pub first_version: VersionRecord,
}

/// Result of a create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    Created,
    /// The name is taken; `pending_deletion` tells whether by a secret in its recovery window.
    NameTaken {
        pending_deletion: bool,
    },
    /// The key that sealed the first version may not seal any more (checked inside the
    /// transaction); nothing was written.
    SealingKeyRefused(SealingKeyRefusal),
}

/// Why the key that sealed a new secret version refuses it, as found inside the write's
/// transaction: a racing DisableKey or ScheduleKeyDeletion committed first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealingKeyRefusal {
    /// The key no longer exists.
    Gone,
    /// The key's state forbids use (Disabled or PendingDeletion).
    State(openkms_domain::key::KeyRejection),
}

/// The state a plan sees.
#[derive(Debug, Clone)]
pub struct SecretState {
    pub secret: SecretRecord,
    /// Oldest first.
    pub versions: Vec<VersionMeta>,
}

/// A change to one secret. `None` fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct SecretUpdate {
    pub insert_version: Option<VersionRecord>,
    pub delete_versions: Vec<String>,
    pub stages: Option<StageMap>,
    pub description: Option<String>,
    /// New ExtendedConfig text (UpdateSecret's CustomData merge).
    pub extended_config: Option<String>,
    /// New rotation settings (UpdateSecretRotationPolicy).
    pub rotation: Option<RotationRecord>,
    /// New secret policy text (SetSecretPolicy).
    pub policy: Option<String>,
    /// `Some(None)` clears the deletion plan (restore).
    pub planned_delete_at: Option<Option<i64>>,
    /// Remove the secret and all its versions now.
    pub purge: bool,
    pub updated_at: i64,
}

impl SecretUpdate {
    /// Moves the secret's fields this update names into `secret` and stamps its update time;
    /// versions (insert, delete) and purge are the backend's to write.
    pub fn apply_to(&mut self, secret: &mut SecretRecord) {
        if let Some(stages) = self.stages.take() {
            secret.stages = stages;
        }
        if let Some(d) = self.description.take() {
            secret.description = d;
        }
        if let Some(x) = self.extended_config.take() {
            secret.extended_config = Some(x);
        }
        if let Some(r) = self.rotation.take() {
            secret.rotation = r;
        }
        if let Some(p) = self.policy.take() {
            secret.policy = p;
        }
        if let Some(p) = self.planned_delete_at.take() {
            secret.planned_delete_at = p;
        }
        secret.updated_at = self.updated_at;
    }
}

/// Result of an update.
#[derive(Debug, Clone)]
pub enum UpdateOutcome {
    /// Applied; the secret as it is now (absent after a purge).
    Applied(Option<Box<SecretRecord>>),
    /// The plan refused; nothing was written.
    Rejected(openkms_domain::secret::Rejection),
    /// The key that sealed the version to insert may not seal any more (checked inside the
    /// transaction); nothing was written.
    SealingKeyRefused(SealingKeyRefusal),
    /// No secret of that name.
    NotFound,
}

impl SecretRecord {
    pub(crate) fn from_row<R: Columns>(r: &R) -> Result<Self, R::Error> {
        let stages = serde_json::from_str(&r.text("stages")?)
            .map_err(|_| r.corrupt("secret stage labels"))?;
        Ok(Self {
            id: r.int("id")?,
            name: r.text("name")?,
            secret_type: r.parsed("secret_type", "secret type", |t| SecretType::parse(t).ok())?,
            description: r.text("description")?,
            encryption_key_id: r.opt_text("encryption_key_id")?,
            dkms_instance_id: r.opt_text("dkms_instance_id")?,
            extended_config: r.opt_text("extended_config")?,
            rotation: RotationRecord {
                enabled: r.flag("rotation_enabled")?,
                interval_secs: r.opt_int("rotation_interval")?,
                next_at: r.opt_int("next_rotation_at")?,
                last_at: r.opt_int("last_rotation_at")?,
                // Unreadable progress counts as none: it only steers retries.
                progress: serde_json::from_str(&r.text("rotation_state")?).unwrap_or_default(),
            },
            policy: r.text("policy")?,
            stages,
            created_at: r.int("created_at")?,
            updated_at: r.int("updated_at")?,
            planned_delete_at: r.opt_int("planned_delete_at")?,
            revision: r.int("revision")?,
        })
    }

    /// The stage labels as stored (JSON text).
    pub(crate) fn stages_json(&self) -> Result<String, StoreError> {
        serde_json::to_string(&self.stages).map_err(|_| StoreError::Corrupt {
            what: "secret stage labels",
        })
    }

    /// The rotation progress as stored (JSON text).
    pub(crate) fn progress_json(&self) -> Result<String, StoreError> {
        serde_json::to_string(&self.rotation.progress).map_err(|_| StoreError::Corrupt {
            what: "secret rotation state",
        })
    }

    /// When the scheduler should look at the secret; never while it waits for deletion.
    pub(crate) fn rotation_due(&self) -> Option<i64> {
        if self.planned_delete_at.is_some() {
            return None;
        }
        self.rotation.due_at()
    }
}

impl VersionRecord {
    pub(crate) fn from_row<R: Columns>(r: &R) -> Result<Self, R::Error> {
        Ok(Self {
            version_id: r.text("version_id")?,
            data_type: r.parsed("data_type", "secret data type", |t| {
                SecretDataType::parse(t).ok()
            })?,
            key_id: r.text("key_id")?,
            key_version_id: r.text("key_version_id")?,
            wrapped_key: r.bytes("wrapped_key")?,
            ciphertext: r.bytes("ciphertext")?,
            created_at: r.int("created_at")?,
        })
    }
}

impl VersionMeta {
    pub(crate) fn from_row<R: Columns>(r: &R) -> Result<Self, R::Error> {
        Ok(Self {
            version_id: r.text("version_id")?,
            created_at: r.int("created_at")?,
        })
    }
}

/// What the state of the key sealing a new version (`None`: no such key) says about sealing:
/// the same rule on both backends, which read the state inside the write.
pub(crate) fn sealing_verdict(
    state: Option<String>,
) -> Result<Result<(), SealingKeyRefusal>, StoreError> {
    let Some(state) = state else {
        return Ok(Err(SealingKeyRefusal::Gone));
    };
    let state = KeyState::parse(&state).ok_or(StoreError::Corrupt { what: "key state" })?;
    Ok(check_usable(state).map_err(SealingKeyRefusal::State))
}

/// The WHERE clause (aliasing `secrets` as `s`) and parameters of a ListSecrets filter.
pub(crate) fn filter_sql(f: &SecretFilter, d: Dialect) -> (String, Vec<String>) {
    let mut args = Args::new(d);
    let mut clauses: Vec<String> = Vec::new();
    let mut any_of = |values: &[String], cond: &dyn Fn(&str) -> String| {
        if values.is_empty() {
            return;
        }
        let parts: Vec<String> = values.iter().map(|v| cond(&args.push(v))).collect();
        clauses.push(format!("({})", parts.join(" OR ")));
    };
    let position = d.position();
    any_of(&f.name_contains, &|p| {
        format!("{position}(s.name, {p}) > 0")
    });
    any_of(&f.description_contains, &|p| {
        format!("{position}(s.description, {p}) > 0")
    });
    any_of(&f.instance_ids, &|p| format!("s.dkms_instance_id = {p}"));
    any_of(&f.secret_types, &|p| format!("s.secret_type = {p}"));
    any_of(&f.tag_keys, &|p| {
        format!("EXISTS (SELECT 1 FROM secret_tags t WHERE t.secret_id = s.id AND t.tag_key = {p})")
    });
    any_of(&f.tag_values, &|p| {
        format!(
            "EXISTS (SELECT 1 FROM secret_tags t WHERE t.secret_id = s.id AND t.tag_value = {p})"
        )
    });
    (where_all(&clauses), args.values)
}
