//! Rows as plain values. Byte fields are sealed; nothing here is plaintext secret material.

use openkms_domain::stages::StageMap;

use crate::identities::AccessKeyRecord;

/// Installation metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub account_id: String,
    pub root_fingerprint: String,
    pub default_instance: String,
    pub service_key_id: String,
    pub created_at: i64,
}

/// Everything a fresh installation starts with.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub meta: Meta,
    pub service_key: KeyRecord,
    pub service_key_version: KeyVersionRecord,
    pub access_keys: Vec<AccessKeyRecord>,
    /// The root of trust everything above is wrapped by; recorded as the active root.
    pub root: RootRecord,
}

/// A root of trust the store knows; the key itself is never here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootRecord {
    pub root_id: String,
    /// `file` or `pkcs11`.
    pub kind: String,
    /// Where another process finds it: a file path or a PKCS#11 key label.
    pub locator: Option<String>,
    /// `active`, `retiring` or `retired`.
    pub state: String,
    pub created_at: i64,
}

/// A row holding something wrapped by a root of trust, as `rekey` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedRow {
    pub target: WrappedTarget,
    pub root_id: String,
    pub wrapped: Vec<u8>,
}

/// Which row a [`WrappedRow`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WrappedTarget {
    KeyVersion { key_id: String, version_id: String },
    AccessKey { access_key_id: String },
}

/// A KMS key's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub key_id: String,
    pub instance_id: String,
    pub key_spec: String,
    pub key_usage: String,
    pub key_state: String,
    pub creator: String,
    pub description: String,
    pub primary_version_id: String,
    pub created_at: i64,
    pub delete_at: Option<i64>,
    /// Automatic rotation interval; `None` when automatic rotation is disabled.
    pub rotation_interval_secs: Option<i64>,
    /// When the primary version was created: the key's creation, or its last rotation. Read
    /// from the primary version's row; ignored on insert.
    pub last_rotation_at: i64,
}

/// A change to one key. `None` fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct KeyUpdate {
    pub key_state: Option<String>,
    /// `Some(None)` clears the deletion date.
    pub delete_at: Option<Option<i64>>,
    pub description: Option<String>,
    /// `Some(None)` turns automatic rotation off.
    pub rotation_interval_secs: Option<Option<i64>>,
}

impl KeyUpdate {
    /// Applies the fields that are set to `key`.
    pub fn apply_to(self, key: &mut KeyRecord) {
        if let Some(s) = self.key_state {
            key.key_state = s;
        }
        if let Some(d) = self.delete_at {
            key.delete_at = d;
        }
        if let Some(d) = self.description {
            key.description = d;
        }
        if let Some(r) = self.rotation_interval_secs {
            key.rotation_interval_secs = r;
        }
    }
}

/// What a key plan sees: the key, and how many secrets it protects (their EncryptionKeyId).
#[derive(Debug, Clone)]
pub struct KeyPlanState {
    pub key: KeyRecord,
    pub protected_secrets: u64,
}

/// Result of a key update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyUpdateOutcome {
    /// Applied; the key as it is now.
    Applied(Box<KeyRecord>),
    /// The plan refused; nothing was written.
    Rejected(openkms_domain::key::KeyRejection),
    /// No key with that id.
    NotFound,
}

/// An alias of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasRecord {
    /// The full name, `alias/` included.
    pub alias_name: String,
    pub key_id: String,
    pub created_at: i64,
}

/// Result of creating or re-pointing an alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasOutcome {
    Applied,
    /// CreateAlias: the name is taken.
    Taken,
    /// UpdateAlias / DeleteAlias: no alias of that name.
    NotFound,
}

/// A KMS key version; the material is wrapped by the root key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVersionRecord {
    pub key_id: String,
    pub version_id: String,
    pub wrapped_material: Vec<u8>,
    /// The root of trust that wrapped `wrapped_material`.
    pub root_id: String,
    pub created_at: i64,
}

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

/// A database instance registered for managed rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbInstanceRecord {
    pub instance_id: String,
    /// `mysql`, `postgresql` or `redis`.
    pub engine: String,
    /// `host:port` (PostgreSQL: `host:port/db`; Redis: also `rediss://host:port`).
    pub address: String,
    /// Name of the Generic secret holding `{"AccountName":..,"AccountPassword":..}`.
    pub admin_secret: String,
    pub created_at: i64,
    /// `disabled`, `preferred`, `required` or `verify-identity`; rows registered before TLS
    /// settings existed read `disabled`.
    pub tls_mode: String,
    /// PEM certificates trusted to sign the target's certificate (not a secret).
    pub tls_ca: Option<String>,
}

/// A secret's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRecord {
    pub id: i64,
    pub name: String,
    pub secret_type: String,
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
            secret_type: "Generic".into(),
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

/// A tag on a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRecord {
    pub key: String,
    pub value: String,
}

/// A sealed secret version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRecord {
    pub version_id: String,
    pub data_type: String,
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

/// Which kind of resource a tag belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    Secret,
    Key,
}

/// Tag changes for one resource, identified by secret name or key id.
#[derive(Debug, Clone, Default)]
pub struct TagChange {
    pub resource_id: String,
    /// Tags to add or overwrite.
    pub set: Vec<TagRecord>,
    /// Tag keys to remove.
    pub remove: Vec<String>,
    /// Remove every tag first.
    pub remove_all: bool,
}

/// Result of a tag change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagOutcome {
    Applied,
    /// No resource with this id; nothing was changed.
    NotFound(String),
    /// This resource would carry too many tags; nothing was changed.
    TooMany(String),
    /// This secret is pending deletion; nothing was changed.
    PendingDeletion(String),
}

/// One (resource, tag) row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRow {
    pub resource_id: String,
    pub key: String,
    pub value: String,
}

/// A KMS instance with its resource counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRecord {
    pub instance_id: String,
    pub created_at: i64,
    pub key_count: u64,
    pub secret_count: u64,
}
