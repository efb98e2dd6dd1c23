//! What the service's integration tests share: a settable clock and a service started on a
//! SQLite store in a directory (reopening the same directory is a restart).
#![allow(clippy::unwrap_used, dead_code)]

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use openkms_crypto::{RootKey, SecretBytes};
use openkms_service::{Caller, Clock, Service, StartOptions};
use openkms_store::sqlite::SqliteStore;

pub const DAY: i64 = 86_400;

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

/// Starts (or restarts) a service on `dir`.
pub async fn start(dir: &Path, clock: Arc<FakeClock>) -> Service {
    let key_path = dir.join("root.key");
    let root = if key_path.exists() {
        RootKey::load(&key_path).unwrap()
    } else {
        RootKey::create(&key_path).unwrap()
    };
    let store = Arc::new(SqliteStore::open(&dir.join("openkms.db")).unwrap());
    Service::start(
        store,
        root,
        StartOptions {
            region: "cn-hangzhou".into(),
            account_id: Some("1234567890123456".into()),
            root_access_key: Some(("ak".into(), SecretBytes::from_slice(b"sk"))),
            clock,
        },
    )
    .await
    .unwrap()
    .service
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
