//! The purge of secrets whose recovery window ended: on time, and also after a restart.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use openkms_crypto::{RootKey, SecretBytes};
use openkms_service::secrets::{CreateSecretInput, DeleteMode, GetSecretValueInput};
use openkms_service::{Caller, Clock, Error, Service, StartOptions};
use openkms_store::sqlite::SqliteStore;

struct FakeClock(AtomicI64);

impl Clock for FakeClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

const DAY: i64 = 86_400;

async fn start(dir: &Path, clock: Arc<FakeClock>) -> Service {
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

fn caller() -> Caller {
    Caller {
        access_key_id: "ak".into(),
        principal: "root".into(),
    }
}

async fn create(svc: &Service, name: &str) {
    svc.create_secret(
        &caller(),
        CreateSecretInput {
            secret_name: name,
            version_id: "v1",
            secret_data: "value",
            ..Default::default()
        },
    )
    .await
    .unwrap();
}

async fn exists(svc: &Service, name: &str) -> bool {
    match svc
        .get_secret_value(
            &caller(),
            GetSecretValueInput {
                secret_name: name,
                ..Default::default()
            },
        )
        .await
    {
        Ok(_) | Err(Error::PendingDeletion) => true,
        Err(Error::SecretNotFound) => false,
        Err(e) => panic!("unexpected {e:?}"),
    }
}

#[tokio::test]
async fn purge_removes_a_secret_when_its_window_ends_and_not_before() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock(AtomicI64::new(1_800_000_000)));
    let svc = start(dir.path(), clock.clone()).await;
    create(&svc, "a").await;
    let deleted = svc
        .delete_secret(
            &caller(),
            "a",
            DeleteMode::Scheduled {
                recovery_window_days: Some(7),
            },
        )
        .await
        .unwrap();
    assert_eq!(deleted.planned_delete_at, 1_800_000_000 + 7 * DAY);
    clock
        .0
        .store(deleted.planned_delete_at - 1, Ordering::SeqCst);
    assert_eq!(svc.purge_expired_secrets().await.unwrap(), 0);
    assert!(exists(&svc, "a").await);
    clock.0.store(deleted.planned_delete_at, Ordering::SeqCst);
    assert_eq!(svc.purge_expired_secrets().await.unwrap(), 1);
    assert!(!exists(&svc, "a").await);
    // The name is free again.
    create(&svc, "a").await;
}

#[tokio::test]
async fn purge_after_a_restart_removes_secrets_that_expired_while_down() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock(AtomicI64::new(1_800_000_000)));
    {
        let svc = start(dir.path(), clock.clone()).await;
        create(&svc, "gone").await;
        create(&svc, "kept").await;
        svc.delete_secret(
            &caller(),
            "gone",
            DeleteMode::Scheduled {
                recovery_window_days: Some(7),
            },
        )
        .await
        .unwrap();
        svc.delete_secret(
            &caller(),
            "kept",
            DeleteMode::Scheduled {
                recovery_window_days: Some(30),
            },
        )
        .await
        .unwrap();
    }
    clock.0.store(1_800_000_000 + 8 * DAY, Ordering::SeqCst);
    let svc = start(dir.path(), clock.clone()).await;
    assert_eq!(svc.purge_expired_secrets().await.unwrap(), 1);
    assert!(!exists(&svc, "gone").await);
    assert!(exists(&svc, "kept").await);
}
