//! First start and every later start: initialise an empty store (account, default instance,
//! service key, root access key, the root of trust as the active root) in one transaction,
//! or check that the configured root of trust is one the store knows and has not retired.
//! A mismatch is a startup error, never a silent re-initialisation.

use std::collections::HashMap;
use std::sync::Arc;

use openkms_crypto::{KeyMaterial, RootFinder, RootOfTrust, SecretBytes};
use openkms_domain::key::{KeySpec, KeyState, KeyUsage};
use openkms_store::{
    AccessKeyRecord, Bootstrap, KeyRecord, KeyVersionRecord, Meta, RootRecord, RootState, Store,
    StoreError,
};
use parking_lot::RwLock;

use crate::keyring::Keyring;
use crate::replay::ReplayGuard;
use crate::roots::{RootError, Roots};
use crate::{access_key_aad, ids, key_material_aad, Clock, Service};

/// What the operator configured for this start.
pub struct StartOptions {
    pub region: String,
    /// Used at initialisation; on later starts it must match the stored one.
    pub account_id: Option<String>,
    /// A root access key to use (tests, CI); generated at initialisation when absent.
    pub root_access_key: Option<(String, SecretBytes)>,
    pub clock: Arc<dyn Clock>,
    /// Most unwrapped key versions cached ([`crate::DEFAULT_KEYRING_CAPACITY`] is a default).
    pub keyring_capacity: usize,
    /// Where accepted nonces are journaled so the replay window survives a restart (the
    /// embedded store's `<data-dir>/nonces`); `None` where the store shares the window itself.
    pub nonce_journal: Option<std::path::PathBuf>,
    /// Most nonces held for the replay window ([`crate::DEFAULT_REPLAY_CAPACITY`]).
    pub replay_capacity: usize,
}

/// The root of trust this start was configured with.
pub struct StartRoot {
    pub root: Arc<dyn RootOfTrust>,
    /// Where another process finds it: the root key file's path, or the PKCS#11 key label.
    pub locator: String,
    /// Finds other recorded roots (an old one after `rekey`, a new one during it).
    pub finder: RootFinder,
}

/// A started service, and the root access key if this start generated it (shown once).
pub struct Started {
    pub service: Service,
    pub generated_root_key: Option<(String, SecretBytes)>,
    pub initialized: bool,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("the root of trust does not belong to this data: the store does not know root {id}")]
    WrongRootKey { id: String },
    #[error("root {id} was retired by `openkms rekey`; start with the active root ({active_kind}: {active_locator})")]
    RetiredRoot {
        id: String,
        active_kind: String,
        active_locator: String,
    },
    #[error("root of trust: {0}")]
    Root(#[from] RootError),
    #[error(
        "--account-id {given} does not match the account {stored} this store was initialised with"
    )]
    AccountMismatch { stored: String, given: String },
    #[error("the account id must be 16 digits")]
    InvalidAccountId,
    #[error("access key {id} already exists with a different secret")]
    RootAccessKeyConflict { id: String },
    #[error(
        "OPENKMS_ROOT_ACCESS_KEY_ID {id} is not a root access key of this store: the variables \
         only choose the key made at the first start. Unset them, or name an existing root key; \
         add root keys with `openkms root-key create`"
    )]
    RootAccessKeyUnknown { id: String },
    #[error("OPENKMS_ROOT_ACCESS_KEY_ID/SECRET: {0}")]
    InvalidRootAccessKey(#[from] crate::root_keys::RootKeyRule),
    #[error(transparent)]
    NonceJournal(#[from] crate::replay::JournalError),
    #[error("the store could not be read or written")]
    Store(#[from] StoreError),
    #[error("a cryptographic operation failed during start-up")]
    Crypto,
}

impl Service {
    /// Opens the service on a store, initialising the store on first start.
    pub async fn start(
        store: Arc<dyn Store>,
        root: StartRoot,
        opts: StartOptions,
    ) -> Result<Started, BootstrapError> {
        let now = opts.clock.now();
        let mut generated_root_key = None;
        let mut initialized = false;
        let StartRoot {
            root,
            locator,
            finder,
        } = root;
        if let Some((id, secret)) = &opts.root_access_key {
            crate::root_keys::validate(id, secret.expose_secret())?;
        }
        let (meta, roots) = match store.meta().await? {
            Some(meta) => {
                check_known_root(store.as_ref(), root.as_ref(), &locator).await?;
                let roots = Roots::new(root, &meta.root_fingerprint, finder);
                if let Some(given) = &opts.account_id {
                    if *given != meta.account_id {
                        return Err(BootstrapError::AccountMismatch {
                            stored: meta.account_id,
                            given: given.clone(),
                        });
                    }
                }
                if let Some((id, secret)) = &opts.root_access_key {
                    check_root_access_key(store.as_ref(), &roots, id, secret).await?;
                }
                (meta, roots)
            }
            None => {
                let account_id = match opts.account_id.clone() {
                    Some(a) if a.len() == 16 && a.bytes().all(|b| b.is_ascii_digit()) => a,
                    Some(_) => return Err(BootstrapError::InvalidAccountId),
                    None => ids::account_id().map_err(|_| BootstrapError::Crypto)?,
                };
                let (ak_id, ak_secret) = match opts.root_access_key {
                    Some(pair) => pair,
                    None => {
                        let id = ids::access_key_id().map_err(|_| BootstrapError::Crypto)?;
                        let secret = SecretBytes::new(
                            ids::access_key_secret()
                                .map_err(|_| BootstrapError::Crypto)?
                                .into_bytes(),
                        );
                        generated_root_key =
                            Some((id.clone(), SecretBytes::from_slice(secret.expose_secret())));
                        (id, secret)
                    }
                };
                let root_record = RootRecord {
                    root_id: root.id().to_owned(),
                    kind: root.kind().as_str().to_owned(),
                    locator: Some(locator),
                    state: RootState::Active,
                    created_at: now,
                };
                let roots = Roots::new(root, &root_record.root_id, finder);
                let boot = bootstrap_records(
                    &roots,
                    root_record,
                    &opts.region,
                    account_id,
                    &ak_id,
                    &ak_secret,
                    now,
                )?;
                let meta = boot.meta.clone();
                store.initialize(boot).await?;
                initialized = true;
                (meta, roots)
            }
        };
        // A store that already served requests, whose memory of the window is gone (no
        // journal, a copy made by `migrate`, a database crash), fences requests signed before
        // now. A store initialised by this start never accepted any: nothing to fence.
        let fence_at = if initialized { i64::MIN } else { now };
        let replay = match &opts.nonce_journal {
            Some(dir) => ReplayGuard::with_journal(
                opts.replay_capacity,
                crate::replay::NonceJournal::open(dir, now)?,
                fence_at,
            ),
            None => ReplayGuard::new(opts.replay_capacity),
        };
        if let Some(fence) = store.replay_fence(fence_at).await? {
            replay.raise_fence(fence);
        }
        Ok(Started {
            service: Service {
                store,
                roots,
                meta,
                region: opts.region,
                clock: opts.clock,
                keyring: Keyring::with_capacity(opts.keyring_capacity),
                access_keys: RwLock::new(crate::AccessKeyCache::default()),
                replay,
                node_id: crate::ids::uuid(),
                identity_policies: RwLock::new(HashMap::new()),
                policy_generation: std::sync::atomic::AtomicU64::new(0),
                secret_policies: RwLock::new(HashMap::new()),
                role_ids: RwLock::new(crate::sts::RoleIdCache::default()),
            },
            generated_root_key,
            initialized,
        })
    }
}

fn bootstrap_records(
    roots: &Roots,
    root: RootRecord,
    region: &str,
    account_id: String,
    ak_id: &str,
    ak_secret: &SecretBytes,
    now: i64,
) -> Result<Bootstrap, BootstrapError> {
    let crypto = |_| BootstrapError::Crypto;
    let root_id = root.root_id.as_str();
    let instance = ids::instance_id(region).map_err(crypto)?;
    let key_id = ids::key_id(region).map_err(crypto)?;
    let version_id = ids::uuid();
    let material = KeyMaterial::generate().map_err(|_| BootstrapError::Crypto)?;
    let wrapped = roots
        .seal_under(
            root_id,
            material.expose_secret(),
            &key_material_aad(&key_id, &version_id),
        )
        .map_err(|_| BootstrapError::Crypto)?;
    Ok(Bootstrap {
        meta: Meta {
            account_id,
            root_fingerprint: root_id.to_owned(),
            default_instance: instance.clone(),
            service_key_id: key_id.clone(),
            created_at: now,
        },
        service_key: KeyRecord {
            key_id: key_id.clone(),
            instance_id: instance,
            key_spec: KeySpec::Aes256,
            key_usage: KeyUsage::EncryptDecrypt,
            key_state: KeyState::Enabled,
            creator: "Service".into(),
            description: "service-managed default key for secrets".into(),
            primary_version_id: version_id.clone(),
            created_at: now,
            delete_at: None,
            rotation_interval_secs: None,
            last_rotation_at: now,
        },
        service_key_version: KeyVersionRecord {
            key_id,
            version_id,
            wrapped_material: wrapped,
            root_id: root_id.to_owned(),
            created_at: now,
        },
        access_keys: vec![access_key_record(
            roots.seal_under(root_id, ak_secret.expose_secret(), &access_key_aad(ak_id)),
            root_id,
            ak_id,
            now,
        )?],
        root: root.clone(),
    })
}

fn access_key_record(
    sealed: Result<Vec<u8>, RootError>,
    root_id: &str,
    id: &str,
    now: i64,
) -> Result<AccessKeyRecord, BootstrapError> {
    Ok(AccessKeyRecord {
        access_key_id: id.to_owned(),
        sealed_secret: sealed.map_err(|_| BootstrapError::Crypto)?,
        root_id: root_id.to_owned(),
        principal: "root".into(),
        status: openkms_domain::AccessKeyStatus::Active,
        created_at: now,
    })
}

/// On a later start the configured root key must be one the store has, with that secret.
async fn check_root_access_key(
    store: &dyn Store,
    roots: &Roots,
    id: &str,
    secret: &SecretBytes,
) -> Result<(), BootstrapError> {
    match store.access_key(id).await? {
        Some(rec) if rec.principal == "root" => {
            let stored = roots
                .open(store, &rec.sealed_secret, &access_key_aad(id))
                .await?;
            if openkms_crypto::constant_time_eq(stored.expose_secret(), secret.expose_secret()) {
                Ok(())
            } else {
                Err(BootstrapError::RootAccessKeyConflict { id: id.to_owned() })
            }
        }
        // A user's key of that id is not a root key either.
        _ => Err(BootstrapError::RootAccessKeyUnknown { id: id.to_owned() }),
    }
}

/// The configured root must be one the store records and has not retired. Its location is
/// recorded if the store does not have it yet (stores initialised before roots had one), so
/// `rekey` and other processes can find it.
async fn check_known_root(
    store: &dyn Store,
    root: &dyn RootOfTrust,
    locator: &str,
) -> Result<(), BootstrapError> {
    let roots = store.roots().await?;
    let Some(rec) = roots.iter().find(|r| r.root_id == root.id()) else {
        return Err(BootstrapError::WrongRootKey {
            id: root.id().to_owned(),
        });
    };
    if rec.state == RootState::Retired {
        let active = roots.iter().find(|r| r.state == RootState::Active);
        return Err(BootstrapError::RetiredRoot {
            id: rec.root_id.clone(),
            active_kind: active.map(|a| a.kind.clone()).unwrap_or_default(),
            active_locator: active.and_then(|a| a.locator.clone()).unwrap_or_default(),
        });
    }
    if rec.locator.is_none() {
        store.set_root_locator(root.id(), locator).await?;
    }
    if rec.state != RootState::Active {
        tracing::warn!(
            root = root.id(),
            "the configured root of trust is being retired by `openkms rekey`; new keys are wrapped by the active root; update the configuration to the active root"
        );
    }
    Ok(())
}
