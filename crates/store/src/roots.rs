//! The installation: its metadata, first rows, and the roots of trust that wrap key material
//! and access key secrets (`rekey` moves rows between them).

use async_trait::async_trait;

use crate::columns::Columns;
use crate::{AccessKeyRecord, KeyRecord, KeyVersionRecord, StoreError};

/// The installation: its metadata, first rows, and the roots of trust.
#[async_trait]
pub trait RootStore: Send + Sync {
    /// The installation's metadata, `None` before initialisation.
    async fn meta(&self) -> Result<Option<Meta>, StoreError>;

    /// Writes the first rows of a fresh installation in one transaction;
    /// [`StoreError::AlreadyInitialized`] (nothing written) when there is one already.
    async fn initialize(&self, boot: Bootstrap) -> Result<(), StoreError>;

    /// The roots of trust, the active one first.
    async fn roots(&self) -> Result<Vec<RootRecord>, StoreError>;

    /// Makes `root` the active root (inserting it, or reactivating a known one) and turns the
    /// previous active root into a retiring one, in one transaction.
    async fn activate_root(&self, root: RootRecord) -> Result<(), StoreError>;

    /// Records where another process finds a root.
    async fn set_root_locator(&self, root_id: &str, locator: &str) -> Result<(), StoreError>;

    /// Every key version and access key not wrapped by the active root.
    async fn rows_to_rewrap(&self) -> Result<Vec<WrappedRow>, StoreError>;

    /// Replaces one row's wrap if it still holds `row.wrapped`; `false` if it changed or is
    /// gone. One transaction per row.
    async fn rewrap(
        &self,
        row: WrappedRow,
        wrapped: Vec<u8>,
        root_id: String,
    ) -> Result<bool, StoreError>;

    /// Retires every retiring root if no row still uses one; `true` when none is left
    /// retiring. One transaction.
    async fn retire_roots(&self) -> Result<bool, StoreError>;
}

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
    pub state: RootState,
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

/// Where a root of trust stands in a rekey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootState {
    /// Wraps everything written now.
    Active,
    /// Replaced, but rows wrapped by it may remain.
    Retiring,
    /// Wraps nothing any more; writes under it are refused.
    Retired,
}

impl RootState {
    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(Self::Active),
            "retiring" => Some(Self::Retiring),
            "retired" => Some(Self::Retired),
            _ => None,
        }
    }

    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Retiring => "retiring",
            Self::Retired => "retired",
        }
    }
}

impl Meta {
    pub(crate) fn from_row<R: Columns>(r: &R) -> Result<Self, R::Error> {
        Ok(Self {
            account_id: r.text("account_id")?,
            root_fingerprint: r.text("root_fingerprint")?,
            default_instance: r.text("default_instance")?,
            service_key_id: r.text("service_key_id")?,
            created_at: r.int("created_at")?,
        })
    }
}

impl RootRecord {
    pub(crate) fn from_row<R: Columns>(r: &R) -> Result<Self, R::Error> {
        Ok(Self {
            root_id: r.text("root_id")?,
            kind: r.text("kind")?,
            locator: r.opt_text("locator")?,
            state: r.parsed("state", "root state", RootState::parse)?,
            created_at: r.int("created_at")?,
        })
    }
}

impl WrappedRow {
    /// A key version row (`key_id`, `version_id`, `root_id`, `wrapped_material`).
    pub(crate) fn key_version<R: Columns>(r: &R) -> Result<Self, R::Error> {
        Ok(Self {
            target: WrappedTarget::KeyVersion {
                key_id: r.text("key_id")?,
                version_id: r.text("version_id")?,
            },
            root_id: r.text("root_id")?,
            wrapped: r.bytes("wrapped_material")?,
        })
    }

    /// An access key row (`access_key_id`, `root_id`, `sealed_secret`).
    pub(crate) fn access_key<R: Columns>(r: &R) -> Result<Self, R::Error> {
        Ok(Self {
            target: WrappedTarget::AccessKey {
                access_key_id: r.text("access_key_id")?,
            },
            root_id: r.text("root_id")?,
            wrapped: r.bytes("sealed_secret")?,
        })
    }
}
