//! First start and every later start: initialise an empty store (account, default instance,
//! service key, root access key) in one transaction, or check that the store and the root key
//! belong together. A mismatch is a startup error, never a silent re-initialisation.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use openkms_crypto::{KeyMaterial, RootKey, SecretBytes};
use openkms_store::{
    AccessKeyRecord, Bootstrap, KeyRecord, KeyVersionRecord, Meta, Store, StoreError,
};

use crate::keyring::Keyring;
use crate::replay::ReplayGuard;
use crate::{access_key_aad, ids, key_material_aad, Clock, Service, REPLAY_CAPACITY};

/// What the operator configured for this start.
pub struct StartOptions {
    pub region: String,
    /// Used at initialisation; on later starts it must match the stored one.
    pub account_id: Option<String>,
    /// A root access key to use (tests, CI); generated at initialisation when absent.
    pub root_access_key: Option<(String, SecretBytes)>,
    pub clock: Arc<dyn Clock>,
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
    #[error("the root key does not belong to this data: it is not the key the store was initialised with")]
    WrongRootKey,
    #[error(
        "--account-id {given} does not match the account {stored} this store was initialised with"
    )]
    AccountMismatch { stored: String, given: String },
    #[error("the account id must be 16 digits")]
    InvalidAccountId,
    #[error("access key {id} already exists with a different secret")]
    RootAccessKeyConflict { id: String },
    #[error("the store could not be read or written")]
    Store(#[from] StoreError),
    #[error("a cryptographic operation failed during start-up")]
    Crypto,
}

impl Service {
    /// Opens the service on a store, initialising the store on first start.
    pub async fn start(
        store: Arc<dyn Store>,
        root: RootKey,
        opts: StartOptions,
    ) -> Result<Started, BootstrapError> {
        let now = opts.clock.now();
        let mut generated_root_key = None;
        let mut initialized = false;
        let meta = match store.meta().await? {
            Some(meta) => {
                if meta.root_fingerprint != root.fingerprint() {
                    return Err(BootstrapError::WrongRootKey);
                }
                if let Some(given) = &opts.account_id {
                    if *given != meta.account_id {
                        return Err(BootstrapError::AccountMismatch {
                            stored: meta.account_id,
                            given: given.clone(),
                        });
                    }
                }
                if let Some((id, secret)) = &opts.root_access_key {
                    ensure_root_access_key(store.as_ref(), &root, id, secret, now).await?;
                }
                meta
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
                let boot =
                    bootstrap_records(&root, &opts.region, account_id, &ak_id, &ak_secret, now)?;
                let meta = boot.meta.clone();
                store.initialize(boot).await?;
                initialized = true;
                meta
            }
        };
        Ok(Started {
            service: Service {
                store,
                root,
                meta,
                region: opts.region,
                clock: opts.clock,
                keyring: Keyring::default(),
                access_keys: RwLock::new(HashMap::new()),
                replay: ReplayGuard::new(REPLAY_CAPACITY),
                identity_policies: RwLock::new(HashMap::new()),
                policy_generation: std::sync::atomic::AtomicU64::new(0),
                secret_policies: RwLock::new(HashMap::new()),
            },
            generated_root_key,
            initialized,
        })
    }
}

fn bootstrap_records(
    root: &RootKey,
    region: &str,
    account_id: String,
    ak_id: &str,
    ak_secret: &SecretBytes,
    now: i64,
) -> Result<Bootstrap, BootstrapError> {
    let crypto = |_| BootstrapError::Crypto;
    let instance = ids::instance_id(region).map_err(crypto)?;
    let key_id = ids::key_id(region).map_err(crypto)?;
    let version_id = ids::uuid();
    let material = KeyMaterial::generate().map_err(|_| BootstrapError::Crypto)?;
    let wrapped = root
        .wrap(&material, &key_material_aad(&key_id, &version_id))
        .map_err(|_| BootstrapError::Crypto)?;
    Ok(Bootstrap {
        meta: Meta {
            account_id,
            root_fingerprint: root.fingerprint().to_owned(),
            default_instance: instance.clone(),
            service_key_id: key_id.clone(),
            created_at: now,
        },
        service_key: KeyRecord {
            key_id: key_id.clone(),
            instance_id: instance,
            key_spec: "Aliyun_AES_256".into(),
            key_usage: "ENCRYPT/DECRYPT".into(),
            key_state: "Enabled".into(),
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
            created_at: now,
        },
        access_keys: vec![access_key_record(root, ak_id, ak_secret, now)?],
    })
}

fn access_key_record(
    root: &RootKey,
    id: &str,
    secret: &SecretBytes,
    now: i64,
) -> Result<AccessKeyRecord, BootstrapError> {
    Ok(AccessKeyRecord {
        access_key_id: id.to_owned(),
        sealed_secret: root
            .seal(secret.expose_secret(), &access_key_aad(id))
            .map_err(|_| BootstrapError::Crypto)?,
        principal: "root".into(),
        status: "Active".into(),
        created_at: now,
    })
}

async fn ensure_root_access_key(
    store: &dyn Store,
    root: &RootKey,
    id: &str,
    secret: &SecretBytes,
    now: i64,
) -> Result<(), BootstrapError> {
    match store.access_key(id).await? {
        None => {
            store
                .insert_access_key(access_key_record(root, id, secret, now)?)
                .await?;
            Ok(())
        }
        Some(rec) => {
            let stored = root
                .open(&rec.sealed_secret, &access_key_aad(id))
                .map_err(|_| BootstrapError::Crypto)?;
            if openkms_crypto::constant_time_eq(stored.expose_secret(), secret.expose_secret()) {
                Ok(())
            } else {
                Err(BootstrapError::RootAccessKeyConflict { id: id.to_owned() })
            }
        }
    }
}
