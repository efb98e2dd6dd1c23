//! The roots of trust this process uses, kept in step with the store's `roots` table.
//!
//! Wraps go to the store's active root, read from the table at each wrap (wraps are rare:
//! CreateKey, CreateKeyVersion, rotation, a new access key), so a server keeps serving while
//! `openkms rekey` in another process activates a new root. Unwraps read the root id from the
//! blob; a root not loaded yet is found through its recorded kind and locator, then kept.

use std::sync::Arc;

use openkms_crypto::{
    FindError, KeyMaterial, RootFinder, RootKind, RootOfTrust, RootSet, SecretBytes, UnwrapError,
};
use openkms_store::{RootRecord, RootState, Store, StoreError};

/// Why a root-of-trust operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("root {id} is not recorded in the store")]
    Unknown { id: String },
    #[error("root {id} is recorded as {kind:?}, which this binary does not know")]
    UnknownKind { id: String, kind: String },
    #[error("root {id} could not be loaded")]
    Find {
        id: String,
        #[source]
        source: FindError,
    },
    #[error(
        "the root found for {id} has another id ({found}): the locator points at a different key"
    )]
    Mismatch { id: String, found: String },
    #[error("the store has no active root")]
    NoActiveRoot,
    #[error("a wrapped row did not open under its root")]
    Open,
    #[error("the root of trust could not seal")]
    Seal,
}

/// Loaded roots plus the means to load more.
pub struct Roots {
    set: RootSet,
    finder: RootFinder,
}

impl Roots {
    /// Roots holding `root`; headerless (pre-root-id) blobs belong to `legacy_id`.
    pub fn new(root: Arc<dyn RootOfTrust>, legacy_id: &str, finder: RootFinder) -> Self {
        Self {
            set: RootSet::new(root, legacy_id),
            finder,
        }
    }

    /// Adds a root this process already holds.
    pub fn insert(&self, root: Arc<dyn RootOfTrust>) {
        self.set.insert(root);
    }

    /// The active root's id, loading the root if needed.
    pub async fn active(&self, store: &dyn Store) -> Result<String, RootError> {
        let roots = store.roots().await?;
        let active = roots
            .into_iter()
            .find(|r| r.state == RootState::Active)
            .ok_or(RootError::NoActiveRoot)?;
        self.ensure_record(&active)?;
        Ok(active.root_id)
    }

    /// Wraps key material under the active root; returns the wrap and the root's id.
    pub async fn wrap(
        &self,
        store: &dyn Store,
        material: &KeyMaterial,
        aad: &[u8],
    ) -> Result<(Vec<u8>, String), RootError> {
        let id = self.active(store).await?;
        let wrapped = self
            .set
            .wrap(&id, material, aad)
            .map_err(|_| RootError::Seal)?;
        Ok((wrapped, id))
    }

    /// Seals a small secret under the active root; returns the sealed bytes and the root's id.
    pub async fn seal(
        &self,
        store: &dyn Store,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<(Vec<u8>, String), RootError> {
        let id = self.active(store).await?;
        self.seal_under(&id, plaintext, aad).map(|w| (w, id))
    }

    /// Seals under a given, loaded root (rekey's target).
    pub fn seal_under(&self, id: &str, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, RootError> {
        self.set
            .seal(id, plaintext, aad)
            .map_err(|_| RootError::Seal)
    }

    /// Unwraps key material made by any recorded root.
    pub async fn unwrap(
        &self,
        store: &dyn Store,
        wrapped: &[u8],
        aad: &[u8],
    ) -> Result<KeyMaterial, RootError> {
        let plain = self.open(store, wrapped, aad).await?;
        KeyMaterial::from_slice(plain.expose_secret()).ok_or(RootError::Open)
    }

    /// Opens a sealed secret made by any recorded root.
    pub async fn open(
        &self,
        store: &dyn Store,
        sealed: &[u8],
        aad: &[u8],
    ) -> Result<SecretBytes, RootError> {
        match self.set.open(sealed, aad) {
            Ok(p) => Ok(p),
            Err(UnwrapError::UnknownRoot(id)) => {
                self.ensure(store, &id).await?;
                self.set.open(sealed, aad).map_err(|_| RootError::Open)
            }
            Err(UnwrapError::Open) => Err(RootError::Open),
        }
    }

    /// Loads root `id` from its record unless it is loaded already.
    pub async fn ensure(&self, store: &dyn Store, id: &str) -> Result<(), RootError> {
        if self.set.get(id).is_some() {
            return Ok(());
        }
        let rec = store
            .roots()
            .await?
            .into_iter()
            .find(|r| r.root_id == id)
            .ok_or_else(|| RootError::Unknown { id: id.to_owned() })?;
        self.ensure_record(&rec)
    }

    fn ensure_record(&self, rec: &RootRecord) -> Result<(), RootError> {
        if self.set.get(&rec.root_id).is_some() {
            return Ok(());
        }
        let kind = RootKind::parse(&rec.kind).ok_or_else(|| RootError::UnknownKind {
            id: rec.root_id.clone(),
            kind: rec.kind.clone(),
        })?;
        let root = self
            .finder
            .find(kind, rec.locator.as_deref())
            .map_err(|source| RootError::Find {
                id: rec.root_id.clone(),
                source,
            })?;
        if root.id() != rec.root_id {
            return Err(RootError::Mismatch {
                id: rec.root_id.clone(),
                found: root.id().to_owned(),
            });
        }
        tracing::info!(
            root = rec.root_id.as_str(),
            kind = rec.kind.as_str(),
            "loaded a root of trust"
        );
        self.set.insert(root);
        Ok(())
    }
}
