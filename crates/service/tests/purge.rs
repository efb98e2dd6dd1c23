//! The purge of secrets whose recovery window ended: on time, and also after a restart.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::atomic::Ordering;

use openkms_service::secrets::{CreateSecretInput, DeleteMode, GetSecretValueInput, VersionInput};
use openkms_service::{Error, Service};

mod common;

use common::{caller, start, FakeClock, DAY};

async fn create(svc: &Service, name: &str) {
    svc.create_secret(
        &caller(),
        CreateSecretInput {
            secret_name: name,
            version: VersionInput {
                version_id: "v1",
                secret_data: "value",
                ..Default::default()
            },
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
    let clock = FakeClock::at(1_800_000_000);
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
    clock.set(deleted.planned_delete_at);
    assert_eq!(svc.purge_expired_secrets().await.unwrap(), 1);
    assert!(!exists(&svc, "a").await);
    // The name is free again.
    create(&svc, "a").await;
}

#[tokio::test]
async fn purge_after_a_restart_removes_secrets_that_expired_while_down() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::at(1_800_000_000);
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
    clock.set(1_800_000_000 + 8 * DAY);
    let svc = start(dir.path(), clock.clone()).await;
    assert_eq!(svc.purge_expired_secrets().await.unwrap(), 1);
    assert!(!exists(&svc, "gone").await);
    assert!(exists(&svc, "kept").await);
}
