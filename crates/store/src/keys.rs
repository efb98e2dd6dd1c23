//! KMS keys, their versions and their aliases.

use async_trait::async_trait;

use openkms_domain::key::{KeySpec, KeyState, KeyUsage};

use crate::columns::Columns;
use crate::{StoreError, TagRecord};

/// A key plan function: sees the key inside the transaction, returns the change.
pub type KeyPlanFn = Box<
    dyn Fn(&KeyPlanState) -> Result<KeyUpdate, openkms_domain::key::KeyRejection> + Send + Sync,
>;

/// KMS keys, their versions and their aliases.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// A KMS key by id.
    async fn key(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError>;

    /// A KMS key version (wrapped material).
    async fn key_version(
        &self,
        key_id: &str,
        version_id: &str,
    ) -> Result<Option<KeyVersionRecord>, StoreError>;

    /// Creates a key with its first version and its tags, in one transaction.
    async fn create_key(
        &self,
        key: KeyRecord,
        version: KeyVersionRecord,
        tags: Vec<TagRecord>,
    ) -> Result<(), StoreError>;

    /// One page of keys not created by the service, in creation order, and their total count.
    async fn list_user_keys(
        &self,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<KeyRecord>), StoreError>;

    /// Changes a key as `plan` decides, in one transaction.
    async fn update_key(
        &self,
        key_id: &str,
        plan: KeyPlanFn,
    ) -> Result<KeyUpdateOutcome, StoreError>;

    /// Adds `version` to its key and makes it the primary version, with the change `plan`
    /// decides on the key as stored, in one transaction; a rejection writes nothing.
    async fn add_key_version(
        &self,
        version: KeyVersionRecord,
        plan: KeyPlanFn,
    ) -> Result<KeyUpdateOutcome, StoreError>;

    /// One page of a key's versions, oldest first, and their total count.
    async fn key_versions(
        &self,
        key_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<KeyVersionRecord>), StoreError>;

    /// Ids of Enabled user keys with automatic rotation whose next rotation (primary version's
    /// creation + interval) is at or before `now`.
    async fn keys_due_for_rotation(&self, now: i64) -> Result<Vec<String>, StoreError>;

    /// Removes keys pending deletion whose DeleteDate is at or before `now` and that seal no
    /// secret, with their versions, aliases and tags, in one transaction; returns their ids.
    async fn destroy_expired_keys(&self, now: i64) -> Result<Vec<String>, StoreError>;

    /// An alias by its full name.
    async fn alias(&self, alias_name: &str) -> Result<Option<AliasRecord>, StoreError>;

    /// Creates an alias unless the name is taken.
    async fn create_alias(&self, rec: AliasRecord) -> Result<AliasOutcome, StoreError>;

    /// Points an existing alias at another key; with `from`, only if it names that key now
    /// (`NotFound` otherwise), in one statement.
    async fn update_alias(
        &self,
        alias_name: &str,
        key_id: &str,
        from: Option<&str>,
    ) -> Result<AliasOutcome, StoreError>;

    /// Removes an alias; with `from`, only if it names that key now (`NotFound` otherwise).
    async fn delete_alias(
        &self,
        alias_name: &str,
        from: Option<&str>,
    ) -> Result<AliasOutcome, StoreError>;

    /// One page of aliases (of one key when `key_id` is given), by name, and the total count.
    async fn aliases(
        &self,
        key_id: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<AliasRecord>), StoreError>;
}

/// The columns [`KeyRecord::from_row`] reads; `last_rotation_at` is the primary version's
/// creation (the key's own for a key read before its first version exists).
macro_rules! key_columns {
    () => {
        "key_id, instance_id, key_spec, key_usage, key_state, creator, description, primary_version_id, created_at, delete_at, rotation_interval_secs, COALESCE((SELECT v.created_at FROM key_versions v WHERE v.key_id = keys.key_id AND v.version_id = keys.primary_version_id), created_at) AS last_rotation_at"
    };
}
pub(crate) use key_columns;

/// The columns [`KeyVersionRecord::from_row`] reads.
macro_rules! key_version_columns {
    () => {
        "key_id, version_id, wrapped_material, created_at, root_id"
    };
}
pub(crate) use key_version_columns;

/// A KMS key's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub key_id: String,
    pub instance_id: String,
    pub key_spec: KeySpec,
    pub key_usage: KeyUsage,
    pub key_state: KeyState,
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
    pub key_state: Option<KeyState>,
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

/// A KMS key version; the material is wrapped by a root of trust (a key file or an HSM key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVersionRecord {
    pub key_id: String,
    pub version_id: String,
    pub wrapped_material: Vec<u8>,
    /// The root of trust that wrapped `wrapped_material`.
    pub root_id: String,
    pub created_at: i64,
}

impl KeyPlanState {
    /// The key as `plan` leaves it, or the plan's rejection.
    pub(crate) fn decide(
        self,
        plan: &KeyPlanFn,
    ) -> Result<KeyRecord, openkms_domain::key::KeyRejection> {
        let update = plan(&self)?;
        let mut next = self.key;
        update.apply_to(&mut next);
        Ok(next)
    }

    /// As [`KeyPlanState::decide`], with `version` the key's new primary version.
    pub(crate) fn decide_new_version(
        self,
        version: &KeyVersionRecord,
        plan: &KeyPlanFn,
    ) -> Result<KeyRecord, openkms_domain::key::KeyRejection> {
        let mut next = self.decide(plan)?;
        next.primary_version_id = version.version_id.clone();
        next.last_rotation_at = version.created_at;
        Ok(next)
    }
}

impl KeyRecord {
    pub(crate) fn from_row<R: Columns>(r: &R) -> Result<Self, R::Error> {
        Ok(Self {
            key_id: r.text("key_id")?,
            instance_id: r.text("instance_id")?,
            key_spec: r.parsed("key_spec", "key spec", KeySpec::parse)?,
            key_usage: r.parsed("key_usage", "key usage", KeyUsage::parse)?,
            key_state: r.parsed("key_state", "key state", KeyState::parse)?,
            creator: r.text("creator")?,
            description: r.text("description")?,
            primary_version_id: r.text("primary_version_id")?,
            created_at: r.int("created_at")?,
            delete_at: r.opt_int("delete_at")?,
            rotation_interval_secs: r.opt_int("rotation_interval_secs")?,
            last_rotation_at: r.int("last_rotation_at")?,
        })
    }
}

impl KeyVersionRecord {
    pub(crate) fn from_row<R: Columns>(r: &R) -> Result<Self, R::Error> {
        Ok(Self {
            key_id: r.text("key_id")?,
            version_id: r.text("version_id")?,
            wrapped_material: r.bytes("wrapped_material")?,
            created_at: r.int("created_at")?,
            root_id: r.text("root_id")?,
        })
    }
}

impl AliasRecord {
    pub(crate) fn from_row<R: Columns>(r: &R) -> Result<Self, R::Error> {
        Ok(Self {
            alias_name: r.text("alias_name")?,
            key_id: r.text("key_id")?,
            created_at: r.int("created_at")?,
        })
    }
}
