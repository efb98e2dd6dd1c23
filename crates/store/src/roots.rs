//! The installation: its metadata, first rows, and the roots of trust that wrap key material
//! and access key secrets (`rekey` moves rows between them).

use async_trait::async_trait;

use crate::records::*;
use crate::StoreError;

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
