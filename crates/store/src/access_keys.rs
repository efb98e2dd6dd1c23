//! Access keys as the authenticator and the root-key commands see them.

use async_trait::async_trait;

use crate::StoreError;
use crate::*;

/// Access keys as the authenticator and the root-key commands see them.
#[async_trait]
pub trait AccessKeyStore: Send + Sync {
    /// An access key by id.
    async fn access_key(&self, id: &str) -> Result<Option<AccessKeyRecord>, StoreError>;

    /// Adds an access key.
    async fn insert_access_key(&self, rec: AccessKeyRecord) -> Result<(), StoreError>;

    /// The account's root access keys (principal `root`), oldest first.
    async fn root_access_keys(&self) -> Result<Vec<AccessKeyRecord>, StoreError>;

    /// Sets root access key `id` to `status` (`Active`/`Inactive`), or deletes it when `None`.
    /// One transaction, refused when it would leave the account without an active root key.
    async fn change_root_access_key(
        &self,
        id: &str,
        status: Option<&str>,
    ) -> Result<RootKeyChange, StoreError>;
}
