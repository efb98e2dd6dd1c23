//! The root of trust in a PKCS#11 token (an HSM; SoftHSM2 in tests), through `cryptoki`.
//!
//! The root is an AES-256 key generated inside the token (`CKA_TOKEN`, `CKA_SENSITIVE`, not
//! `CKA_EXTRACTABLE`, private), found again by its label. Sealing and opening are
//! `CKM_AES_GCM` C_Encrypt / C_Decrypt inside the token, so the root key never reaches this
//! process; only the unwrapped KMS key material comes back, straight into a zeroizing type.
//! The sealed format matches the file root's: `0x01 || iv(12) || ciphertext || tag(16)`.
//!
//! Calls block (PKCS#11 is synchronous). They happen only on a keyring miss, on wrap
//! (CreateKey, CreateKeyVersion, rotation) and in `rekey`, never per Encrypt or GetSecretValue
//! with a warm keyring. Sessions come from a small pool: a session may serve one thread at a
//! time, and opening one per call would cost a round trip to the token.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as P11Error, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use parking_lot::Mutex;
use ring::rand::{SecureRandom, SystemRandom};

use crate::root_of_trust::{RootKind, RootOfTrust};
use crate::secret_bytes::SecretBytes;
use crate::CryptoError;

const FORMAT_V1: u8 = 1;
const IV_LEN: usize = 12;
const TAG_BITS: u64 = 128;
/// Sessions kept open for reuse; more are opened under bursts and closed after.
const POOL_KEEP: usize = 8;
/// Prefix of a PKCS#11 root's id; the rest is the hex CKA_ID chosen at generation.
const ID_PREFIX: &str = "pkcs11-";

/// Why the token or a key in it could not be used. Never carries the PIN.
#[derive(Debug, thiserror::Error)]
pub enum Pkcs11Error {
    #[error("PKCS#11 module {path} could not be loaded")]
    Load {
        path: PathBuf,
        #[source]
        source: P11Error,
    },
    #[error("no PKCS#11 token labelled {label:?}")]
    TokenNotFound { label: String },
    #[error("login to the PKCS#11 token failed (check the PIN)")]
    Login(#[source] P11Error),
    #[error("no key labelled {label:?} in the PKCS#11 token")]
    KeyNotFound { label: String },
    #[error("more than one key labelled {label:?} in the PKCS#11 token")]
    DuplicateLabel { label: String },
    #[error("key labelled {label:?} already exists in the PKCS#11 token")]
    LabelTaken { label: String },
    #[error("key labelled {label:?} has no usable CKA_ID")]
    NoId { label: String },
    #[error("PKCS#11 call failed during {op}")]
    Call {
        op: &'static str,
        #[source]
        source: P11Error,
    },
    #[error("the system random source failed")]
    Random,
}

/// A logged-in PKCS#11 token and a pool of its sessions.
pub struct Pkcs11Token {
    ctx: Pkcs11,
    slot: Slot,
    pin: AuthPin,
    sessions: Mutex<Vec<Session>>,
}

impl Pkcs11Token {
    /// Loads `module`, finds the token labelled `token_label` and logs in as the user.
    pub fn open(module: &Path, token_label: &str, pin: AuthPin) -> Result<Arc<Self>, Pkcs11Error> {
        let ctx = shared_context(module)?;
        let call = |op| move |source| Pkcs11Error::Call { op, source };
        let mut slot = None;
        for s in ctx
            .get_slots_with_initialized_token()
            .map_err(call("list slots"))?
        {
            let info = ctx.get_token_info(s).map_err(call("read token info"))?;
            if info.label().trim_end() == token_label {
                slot = Some(s);
                break;
            }
        }
        let slot = slot.ok_or_else(|| Pkcs11Error::TokenNotFound {
            label: token_label.to_owned(),
        })?;
        let token = Arc::new(Self {
            ctx,
            slot,
            pin,
            sessions: Mutex::new(Vec::new()),
        });
        // Log in now so a wrong PIN fails at start-up, not on the first cache miss.
        let s = token.session()?;
        token.give_back(s);
        Ok(token)
    }

    /// The root key labelled `label`.
    pub fn find_root(self: &Arc<Self>, label: &str) -> Result<Pkcs11Root, Pkcs11Error> {
        let session = self.session()?;
        let out = self.find_in(&session, label);
        self.give_back(session);
        out?.ok_or_else(|| Pkcs11Error::KeyNotFound {
            label: label.to_owned(),
        })
    }

    /// Generates a new root key labelled `label` inside the token; refuses a taken label.
    pub fn generate_root(self: &Arc<Self>, label: &str) -> Result<Pkcs11Root, Pkcs11Error> {
        let session = self.session()?;
        let out = self.generate_in(&session, label);
        self.give_back(session);
        out
    }

    /// The root key labelled `label`, generated first if the token has none; `true` if new.
    pub fn find_or_generate_root(
        self: &Arc<Self>,
        label: &str,
    ) -> Result<(Pkcs11Root, bool), Pkcs11Error> {
        let session = self.session()?;
        let out = match self.find_in(&session, label) {
            Ok(Some(root)) => Ok((root, false)),
            Ok(None) => self.generate_in(&session, label).map(|r| (r, true)),
            Err(e) => Err(e),
        };
        self.give_back(session);
        out
    }

    fn find_in(
        self: &Arc<Self>,
        session: &Session,
        label: &str,
    ) -> Result<Option<Pkcs11Root>, Pkcs11Error> {
        let call = |op| move |source| Pkcs11Error::Call { op, source };
        let found = session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(call("find key"))?;
        let handle = match found.as_slice() {
            [] => return Ok(None),
            [h] => *h,
            _ => {
                return Err(Pkcs11Error::DuplicateLabel {
                    label: label.to_owned(),
                })
            }
        };
        let attrs = session
            .get_attributes(handle, &[AttributeType::Id])
            .map_err(call("read key id"))?;
        let id = attrs.iter().find_map(|a| match a {
            Attribute::Id(id) if !id.is_empty() => Some(hex::encode(id)),
            _ => None,
        });
        let id = id.ok_or_else(|| Pkcs11Error::NoId {
            label: label.to_owned(),
        })?;
        Ok(Some(Pkcs11Root {
            token: self.clone(),
            handle,
            id: format!("{ID_PREFIX}{id}"),
            label: label.to_owned(),
        }))
    }

    fn generate_in(
        self: &Arc<Self>,
        session: &Session,
        label: &str,
    ) -> Result<Pkcs11Root, Pkcs11Error> {
        if self.find_in(session, label)?.is_some() {
            return Err(Pkcs11Error::LabelTaken {
                label: label.to_owned(),
            });
        }
        // A random CKA_ID names this key in every wrap it makes: labels can be reused after
        // a key is destroyed, ids cannot collide in practice.
        let mut cka_id = [0u8; 16];
        SystemRandom::new()
            .fill(&mut cka_id)
            .map_err(|_| Pkcs11Error::Random)?;
        let handle = session
            .generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::ValueLen(32u64.into()),
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    Attribute::Label(label.as_bytes().to_vec()),
                    Attribute::Id(cka_id.to_vec()),
                ],
            )
            .map_err(|source| Pkcs11Error::Call {
                op: "generate key",
                source,
            })?;
        Ok(Pkcs11Root {
            token: self.clone(),
            handle,
            id: format!("{ID_PREFIX}{}", hex::encode(cka_id)),
            label: label.to_owned(),
        })
    }

    /// A logged-in read-write session from the pool, or a new one.
    fn session(&self) -> Result<Session, Pkcs11Error> {
        if let Some(s) = self.sessions.lock().pop() {
            return Ok(s);
        }
        let session = self
            .ctx
            .open_rw_session(self.slot)
            .map_err(|source| Pkcs11Error::Call {
                op: "open session",
                source,
            })?;
        // Login state belongs to the application, not the session: later sessions find the
        // user logged in already.
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) | Err(P11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(e) => Err(Pkcs11Error::Login(e)),
        }
    }

    fn give_back(&self, session: Session) {
        let mut pool = self.sessions.lock();
        if pool.len() < POOL_KEEP {
            pool.push(session);
        }
    }
}

/// An AES-256 root key held in a PKCS#11 token.
pub struct Pkcs11Root {
    token: Arc<Pkcs11Token>,
    handle: ObjectHandle,
    id: String,
    label: String,
}

impl Pkcs11Root {
    /// The key's label in the token (how `serve` and `rekey` find it).
    pub fn label(&self) -> &str {
        &self.label
    }

    fn with_session<T>(
        &self,
        f: impl FnOnce(&Session) -> Result<T, CryptoError>,
    ) -> Result<T, CryptoError> {
        let session = self.token.session().map_err(|_| CryptoError::Unavailable)?;
        let out = f(&session);
        // A session that failed is still valid in PKCS#11 (the operation ended with the
        // error), so it goes back to the pool.
        self.token.give_back(session);
        out
    }
}

impl RootOfTrust for Pkcs11Root {
    fn id(&self) -> &str {
        &self.id
    }

    fn kind(&self) -> RootKind {
        RootKind::Pkcs11
    }

    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut iv = [0u8; IV_LEN];
        SystemRandom::new()
            .fill(&mut iv)
            .map_err(|_| CryptoError::Random)?;
        let body = self.with_session(|s| {
            let params =
                GcmParams::new(&mut iv, aad, TAG_BITS.into()).map_err(|_| CryptoError::Random)?;
            s.encrypt(&Mechanism::AesGcm(params), self.handle, plaintext)
                .map_err(|_| CryptoError::Random)
        })?;
        // Read the IV after the call: a token may choose its own and write it back.
        let mut out = Vec::with_capacity(1 + IV_LEN + body.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&iv);
        out.extend_from_slice(&body);
        Ok(out)
    }

    fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<SecretBytes, CryptoError> {
        let (&format, rest) = sealed.split_first().ok_or(CryptoError::Open)?;
        if format != FORMAT_V1 || rest.len() < IV_LEN + 16 {
            return Err(CryptoError::Open);
        }
        let (iv, body) = rest.split_at(IV_LEN);
        let mut iv = <[u8; IV_LEN]>::try_from(iv).map_err(|_| CryptoError::Open)?;
        self.with_session(|s| {
            let params =
                GcmParams::new(&mut iv, aad, TAG_BITS.into()).map_err(|_| CryptoError::Open)?;
            // The plaintext Vec moves into the zeroizing type without a copy.
            s.decrypt(&Mechanism::AesGcm(params), self.handle, body)
                .map(SecretBytes::new)
                .map_err(|_| CryptoError::Open)
        })
    }
}

/// The one initialised context per module in this process. PKCS#11 allows one C_Initialize
/// per application, and modules such as SoftHSM2 are not safe against concurrent
/// initialisation, so every token of a module shares a context made once under a lock.
fn shared_context(module: &Path) -> Result<Pkcs11, Pkcs11Error> {
    static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let load = |source| Pkcs11Error::Load {
        path: module.to_owned(),
        source,
    };
    let mut contexts = CONTEXTS.get_or_init(Default::default).lock();
    if let Some(ctx) = contexts.get(module) {
        return Ok(ctx.clone());
    }
    let ctx = Pkcs11::new(module).map_err(load)?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        // Someone else in this process (another library) initialised it already.
        Ok(()) | Err(P11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(source) => return Err(load(source)),
    }
    contexts.insert(module.to_owned(), ctx.clone());
    Ok(ctx)
}
