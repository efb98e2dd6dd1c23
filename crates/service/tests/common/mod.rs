//! What the service's integration tests share: a settable clock and a service started on a
//! SQLite store in a directory (reopening the same directory is a restart).
#![allow(clippy::unwrap_used, dead_code)]

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use openkms_crypto::{RootFinder, RootKey, RootOfTrust, SecretBytes};
use openkms_service::{Caller, Clock, Service, StartOptions, StartRoot, DEFAULT_KEYRING_CAPACITY};
use openkms_store::sqlite::SqliteStore;

pub const DAY: i64 = 86_400;
/// The root access key secret the tests start with (30 characters at least, as validated).
#[allow(dead_code)]
pub const ROOT_SECRET: &[u8] = b"sk-0123456789abcdefghijklmnopqrst";

/// A clock the test sets.
pub struct FakeClock(pub AtomicI64);

impl FakeClock {
    pub fn at(t: i64) -> Arc<Self> {
        Arc::new(Self(AtomicI64::new(t)))
    }

    pub fn set(&self, t: i64) {
        self.0.store(t, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Starts (or restarts) a service on `dir` with the root key file `dir/root.key`.
pub async fn start(dir: &Path, clock: Arc<FakeClock>) -> Service {
    start_with_root(dir, &dir.join("root.key"), clock, DEFAULT_KEYRING_CAPACITY)
        .await
        .unwrap()
}

/// Starts a service on `dir` with the root key file `key_path` (created if missing) and a
/// keyring of `capacity` key versions.
pub async fn start_with_root(
    dir: &Path,
    key_path: &Path,
    clock: Arc<FakeClock>,
    capacity: usize,
) -> Result<Service, openkms_service::BootstrapError> {
    let store = Arc::new(SqliteStore::open(&dir.join("openkms.db")).unwrap());
    Service::start(
        store,
        file_root(key_path),
        StartOptions {
            region: "cn-hangzhou".into(),
            account_id: Some("1234567890123456".into()),
            root_access_key: Some(("ak".into(), SecretBytes::from_slice(ROOT_SECRET))),
            clock,
            keyring_capacity: capacity,
            nonce_journal: None,
            replay_capacity: openkms_service::DEFAULT_REPLAY_CAPACITY,
        },
    )
    .await
    .map(|s| s.service)
}

/// The root key file at `path` (created if missing), as a start-up root.
pub fn file_root(path: &Path) -> StartRoot {
    StartRoot {
        root: load_or_create(path),
        locator: path.display().to_string(),
        finder: RootFinder::new(None),
    }
}

/// The root key file at `path`, created if missing.
pub fn load_or_create(path: &Path) -> Arc<dyn RootOfTrust> {
    Arc::new(if path.exists() {
        RootKey::load(path).unwrap()
    } else {
        RootKey::create(path).unwrap()
    })
}

/// The root caller.
pub fn caller() -> Caller {
    Caller {
        access_key_id: "ak".into(),
        principal: "root".into(),
        source_ip: None,
        session: None,
    }
}
