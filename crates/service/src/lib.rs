//! openkms-service: one function per action. It validates through `domain`, decides, seals and
//! opens through `crypto`, and owns every transaction boundary through `store`. It knows
//! nothing of HTTP.

pub mod authz;
mod authz_identity;
mod bootstrap;
pub mod caller;
pub mod clock;
pub mod error;
pub mod iam;
mod ids;
pub mod instances;
mod keyring;
pub mod keys;
mod regions;
pub mod rekey;
pub mod replay;
pub mod root_keys;
pub mod roots;
pub mod rotation;
pub mod secrets;
pub mod sts;
pub mod tags;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use openkms_crypto::{Kek, KeyMaterial, SecretBytes};
use openkms_store::{KeyRecord, Meta, Store};
use parking_lot::RwLock;

pub use bootstrap::{BootstrapError, StartOptions, StartRoot, Started};
pub use caller::Caller;
pub use clock::{Clock, SystemClock};
pub use error::Error;
use keyring::Keyring;
pub use keyring::DEFAULT_CAPACITY as DEFAULT_KEYRING_CAPACITY;
use replay::{ReplayGuard, Staleness};
use roots::Roots;

/// Nonces held for the replay window unless configured otherwise (about 100 bytes each):
/// bounds memory under sustained load.
pub const DEFAULT_REPLAY_CAPACITY: usize = 20_000_000;

/// Access keys by id, with a generation bumped by every invalidation.
#[derive(Default)]
pub(crate) struct AccessKeyCache {
    pub(crate) entries: HashMap<String, Arc<AccessKeyEntry>>,
    pub(crate) generation: u64,
}

/// An access key as the authenticator needs it.
pub struct AccessKeyEntry {
    pub secret: SecretBytes,
    pub principal: String,
    pub active: bool,
    /// The role session of temporary credentials.
    pub session: Option<Arc<caller::RoleSession>>,
}

/// The service: shared by every request, the scheduler and the CLI.
pub struct Service {
    store: Arc<dyn Store>,
    roots: Roots,
    meta: Meta,
    region: String,
    clock: Arc<dyn Clock>,
    keyring: Keyring,
    access_keys: RwLock<AccessKeyCache>,
    replay: ReplayGuard,
    /// This process's name in scheduler leases, so a lease is only ever released by its holder.
    node_id: String,
    /// Compiled identity policies per RAM user (`authz`).
    identity_policies: RwLock<HashMap<String, authz::IdentityPolicies>>,
    /// Bumped by every identity-policy change, so a racing load does not cache stale policies.
    policy_generation: AtomicU64,
    /// Compiled secret policies by their text.
    secret_policies: RwLock<HashMap<String, Arc<openkms_domain::Policy>>>,
    /// The RoleId of each role name STS sessions named (`sts`).
    role_ids: RwLock<sts::RoleIdCache>,
}

impl Service {
    /// The account id (16 digits).
    pub fn account_id(&self) -> &str {
        &self.meta.account_id
    }

    /// The region this server answers for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The current time from the injected clock.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Whether this node can serve requests: the store answers a read (the roots table) and
    /// the active root of trust is loaded. For `/readyz`; a failure is logged at debug.
    pub async fn ready(&self) -> bool {
        match self.roots.active(self.store.as_ref()).await {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(error = %e, "not ready");
                false
            }
        }
    }

    /// Looks up an access key for signature checking; cached after the first read.
    pub async fn access_key(&self, id: &str) -> Result<Option<Arc<AccessKeyEntry>>, Error> {
        let generation = {
            let cache = self.access_keys.read();
            match cache.entries.get(id) {
                Some(e) => return Ok(Some(e.clone())),
                None => cache.generation,
            }
        };
        let Some(rec) = self.store.access_key(id).await? else {
            return Ok(None);
        };
        let secret = self
            .roots
            .open(
                self.store.as_ref(),
                &rec.sealed_secret,
                &access_key_aad(&rec.access_key_id),
            )
            .await
            .map_err(|e| Error::root("open access key secret", e))?;
        let entry = Arc::new(AccessKeyEntry {
            secret,
            principal: rec.principal,
            active: rec.status == openkms_domain::AccessKeyStatus::Active,
            session: None,
        });
        let mut cache = self.access_keys.write();
        // A key deactivated or deleted while this lookup ran bumped the generation: the row
        // read before that change must not go back into the cache.
        if cache.generation == generation {
            cache.entries.insert(id.to_owned(), entry.clone());
        }
        Ok(Some(entry))
    }

    /// Accepts a signed request's timestamp and nonce once.
    pub fn check_fresh(
        &self,
        access_key_id: &str,
        nonce: &str,
        timestamp: i64,
    ) -> Result<(), Staleness> {
        self.replay
            .check(access_key_id, nonce, timestamp, self.clock.now())
    }

    /// Records a fresh request's nonce in the store, for the nodes that share it; `false` when
    /// another node (or this one) recorded it already. Call after [`Service::check_fresh`].
    pub async fn record_shared_nonce(
        &self,
        access_key_id: &str,
        nonce: &str,
        timestamp: i64,
    ) -> Result<bool, Error> {
        Ok(self
            .store
            .record_nonce(access_key_id, nonce, timestamp + replay::WINDOW_SECS)
            .await?)
    }

    /// Re-reads the shared window's fence (a database crash may have emptied the shared nonce
    /// table since the last look): requests signed before it are refused from now on.
    pub async fn refresh_replay_fence(&self) -> Result<(), Error> {
        if let Some(fence) = self.store.replay_fence(self.clock.now()).await? {
            self.replay.raise_fence(fence);
        }
        Ok(())
    }

    /// Forgets shared nonces whose request timestamp left the window; returns how many.
    pub async fn purge_shared_nonces(&self) -> Result<u64, Error> {
        Ok(self.store.purge_nonces(self.clock.now()).await?)
    }

    /// Removes secrets whose recovery window has ended; returns how many.
    pub async fn purge_expired_secrets(&self) -> Result<usize, Error> {
        Ok(self.store.purge_expired(self.clock.now()).await?.len())
    }

    /// The unwrapped primary version of a key, for sealing.
    async fn primary_kek(&self, key: &KeyRecord) -> Result<Arc<Kek>, Error> {
        self.kek(&key.key_id, &key.primary_version_id).await
    }

    /// An unwrapped key version, from the keyring or unwrapped by the root of trust that wrapped it.
    async fn kek(&self, key_id: &str, version_id: &str) -> Result<Arc<Kek>, Error> {
        if let Some(k) = self.keyring.get(key_id, version_id) {
            return Ok(k);
        }
        let rec = self
            .store
            .key_version(key_id, version_id)
            .await?
            .ok_or(Error::internal("find key version of a sealed value"))?;
        let material = self
            .roots
            .unwrap(
                self.store.as_ref(),
                &rec.wrapped_material,
                &key_material_aad(key_id, version_id),
            )
            .await
            .map_err(|e| Error::root("unwrap key material", e))?;
        // The key spec picks the cipher; read only on a keyring miss.
        let sm4 = match self.store.key(key_id).await? {
            Some(k) => k.key_spec == openkms_domain::key::KeySpec::Sm4,
            None => false,
        };
        let kek = if sm4 {
            Kek::new_sm4(&material)
        } else {
            Kek::new(&material)
        };
        let kek = Arc::new(kek.map_err(|_| Error::internal("expand key"))?);
        self.keyring.insert(key_id, version_id, kek.clone());
        Ok(kek)
    }

    /// Fresh key material for `key_id`/`version_id`, wrapped by the active root.
    async fn wrap_new_material(
        &self,
        key_id: &str,
        version_id: &str,
    ) -> Result<(Vec<u8>, String), Error> {
        let material =
            KeyMaterial::generate().map_err(|_| Error::internal("generate key material"))?;
        self.roots
            .wrap(
                self.store.as_ref(),
                &material,
                &key_material_aad(key_id, version_id),
            )
            .await
            .map_err(|e| Error::root("wrap key material", e))
    }
}

/// AAD binding wrapped key material to its key and version.
fn key_material_aad(key_id: &str, version_id: &str) -> Vec<u8> {
    format!("openkms:key-material:v1\0{key_id}\0{version_id}").into_bytes()
}

/// AAD binding a sealed access key secret to its id.
fn access_key_aad(access_key_id: &str) -> Vec<u8> {
    format!("openkms:access-key:v1\0{access_key_id}").into_bytes()
}
