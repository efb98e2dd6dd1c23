//! Key versions, the automatic rotation job and the key deletion job, driven by an injected
//! clock: rotation on time and not before, old versions still open what they sealed, and
//! destroyed keys are gone, also after a restart.
#![allow(clippy::unwrap_used, clippy::panic)]

use openkms_service::keys::{CreateKeyInput, Paging};
use openkms_service::secrets::{
    CreateSecretInput, GetSecretValueInput, PutSecretValueInput, VersionInput,
};
use openkms_service::{Error, Service};

mod common;

use common::{caller, start, FakeClock, DAY};

const T0: i64 = 1_800_000_000;

async fn key(svc: &Service, rotation: Option<&str>) -> String {
    svc.create_key(
        &caller(),
        CreateKeyInput {
            enable_automatic_rotation: rotation.map(|_| true),
            rotation_interval: rotation,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .key_id
}

async fn encrypt(svc: &Service, key_id: &str) -> (String, String) {
    let e = svc
        .encrypt(&caller(), key_id, "aGVsbG8=", None, false)
        .await
        .unwrap();
    (e.key_version_id, e.ciphertext_blob)
}

async fn decrypts(svc: &Service, blob: &str) -> Result<String, Error> {
    svc.decrypt(&caller(), blob, None, false)
        .await
        .map(|d| String::from_utf8(d.plaintext_base64.expose_secret().to_vec()).unwrap())
}

async fn secret_value(svc: &Service, name: &str, version: &str) -> String {
    let v = svc
        .get_secret_value(
            &caller(),
            GetSecretValueInput {
                secret_name: name,
                version_id: Some(version),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    String::from_utf8(v.data.expose_secret().to_vec()).unwrap()
}

async fn version_count(svc: &Service, key_id: &str) -> u64 {
    svc.list_key_versions(key_id, Paging::parse(None, None).unwrap())
        .await
        .unwrap()
        .total
}

#[tokio::test]
async fn a_new_version_seals_new_data_and_old_versions_still_open() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::at(T0);
    let svc = start(dir.path(), clock.clone()).await;
    let key_id = key(&svc, None).await;
    let first = svc.describe_key(&key_id).await.unwrap().primary_version_id;
    let (v1, blob1) = encrypt(&svc, &key_id).await;
    assert_eq!(v1, first);
    svc.create_secret(
        &caller(),
        CreateSecretInput {
            secret_name: "s",
            version: VersionInput {
                version_id: "old",
                secret_data: "sealed under v1",
                ..Default::default()
            },
            encryption_key_id: Some(&key_id),
            ..Default::default()
        },
    )
    .await
    .unwrap();

    clock.set(T0 + DAY);
    let created = svc.create_key_version(&caller(), &key_id).await.unwrap();
    assert_ne!(created.key_version_id, first);
    assert_eq!(created.created_at, T0 + DAY);
    let described = svc.describe_key(&key_id).await.unwrap();
    assert_eq!(described.primary_version_id, created.key_version_id);
    assert_eq!(described.last_rotation_at, T0 + DAY);

    let (v2, blob2) = encrypt(&svc, &key_id).await;
    assert_eq!(v2, created.key_version_id);
    assert_eq!(decrypts(&svc, &blob1).await.unwrap(), "aGVsbG8=");
    assert_eq!(decrypts(&svc, &blob2).await.unwrap(), "aGVsbG8=");
    svc.put_secret_value(
        &caller(),
        PutSecretValueInput {
            secret_name: "s",
            version: VersionInput {
                version_id: "new",
                secret_data: "sealed under v2",
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(secret_value(&svc, "s", "old").await, "sealed under v1");
    assert_eq!(secret_value(&svc, "s", "new").await, "sealed under v2");

    let page = svc
        .list_key_versions(&key_id, Paging::parse(Some(1), Some(1)).unwrap())
        .await
        .unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.versions[0].key_version_id, first);
    let page2 = svc
        .list_key_versions(&key_id, Paging::parse(Some(2), Some(1)).unwrap())
        .await
        .unwrap();
    assert_eq!(page2.versions[0].key_version_id, created.key_version_id);
    let d = svc
        .describe_key_version(&key_id, &created.key_version_id)
        .await
        .unwrap();
    assert_eq!(
        (d.created_at, d.key_id.as_str()),
        (T0 + DAY, key_id.as_str())
    );
    assert!(matches!(
        svc.describe_key_version(&key_id, "no-such-version").await,
        Err(Error::KeyVersionNotFound)
    ));
}

#[tokio::test]
async fn create_key_version_needs_an_enabled_user_key() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::at(T0);
    let svc = start(dir.path(), clock).await;
    let key_id = key(&svc, None).await;
    svc.disable_key(&caller(), &key_id).await.unwrap();
    assert!(matches!(
        svc.create_key_version(&caller(), &key_id).await,
        Err(Error::KeyDisabled)
    ));
    assert!(matches!(
        svc.create_key_version(&caller(), "no-such-key").await,
        Err(Error::KeyNotFound)
    ));
    assert_eq!(version_count(&svc, &key_id).await, 1);
}

#[tokio::test]
async fn rotation_job_rotates_due_keys_once_per_interval() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::at(T0);
    let svc = start(dir.path(), clock.clone()).await;
    let weekly = key(&svc, Some("7d")).await;
    let never = key(&svc, None).await;
    let disabled = key(&svc, Some("7d")).await;
    svc.disable_key(&caller(), &disabled).await.unwrap();

    assert_eq!(svc.rotate_due_keys(T0 + 7 * DAY - 1).await.unwrap(), 0);
    assert_eq!(svc.rotate_due_keys(T0 + 7 * DAY).await.unwrap(), 1);
    let k = svc.describe_key(&weekly).await.unwrap();
    assert_eq!(k.last_rotation_at, T0 + 7 * DAY);
    assert_eq!(version_count(&svc, &weekly).await, 2);
    // Rotated: not due again until one more interval has passed.
    assert_eq!(svc.rotate_due_keys(T0 + 10 * DAY).await.unwrap(), 0);
    assert_eq!(svc.rotate_due_keys(T0 + 14 * DAY).await.unwrap(), 1);
    assert_eq!(version_count(&svc, &weekly).await, 3);
    assert_eq!(version_count(&svc, &never).await, 1);
    assert_eq!(version_count(&svc, &disabled).await, 1);

    // Turning rotation off stops it; turning it on again with another interval counts from
    // the last rotation.
    svc.update_key_rotation_policy(&caller(), &weekly, false, None)
        .await
        .unwrap();
    assert_eq!(svc.rotate_due_keys(T0 + 100 * DAY).await.unwrap(), 0);
    svc.update_key_rotation_policy(&caller(), &weekly, true, Some("30d"))
        .await
        .unwrap();
    let k = svc.describe_key(&weekly).await.unwrap();
    assert_eq!(
        k.automatic_rotation.map(|r| r.interval_secs),
        Some(30 * DAY)
    );
    assert_eq!(svc.rotate_due_keys(T0 + 44 * DAY - 1).await.unwrap(), 0);
    assert_eq!(svc.rotate_due_keys(T0 + 44 * DAY).await.unwrap(), 1);
    assert!(matches!(
        svc.update_key_rotation_policy(&caller(), &weekly, true, None)
            .await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        svc.update_key_rotation_policy(&caller(), &weekly, true, Some("6d"))
            .await,
        Err(Error::Invalid(_))
    ));
}

#[tokio::test]
async fn deletion_job_destroys_keys_past_their_date_also_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::at(T0);
    let (gone, kept, blob_gone, blob_kept) = {
        let svc = start(dir.path(), clock.clone()).await;
        let gone = key(&svc, None).await;
        let kept = key(&svc, None).await;
        svc.create_alias(&caller(), "alias/gone", &gone)
            .await
            .unwrap();
        svc.create_key_version(&caller(), &gone).await.unwrap();
        let (_, blob_gone) = encrypt(&svc, &gone).await;
        let (_, blob_kept) = encrypt(&svc, &kept).await;
        svc.schedule_key_deletion(&caller(), &gone, 7)
            .await
            .unwrap();
        svc.schedule_key_deletion(&caller(), &kept, 30)
            .await
            .unwrap();
        assert_eq!(svc.destroy_due_keys(T0 + 7 * DAY - 1).await.unwrap(), 0);
        assert!(svc.describe_key(&gone).await.is_ok());
        (gone, kept, blob_gone, blob_kept)
    };
    clock.set(T0 + 8 * DAY);
    let svc = start(dir.path(), clock.clone()).await;
    assert_eq!(svc.destroy_due_keys(svc.now()).await.unwrap(), 1);
    assert!(matches!(
        svc.describe_key(&gone).await,
        Err(Error::KeyNotFound)
    ));
    assert!(matches!(
        svc.describe_key("alias/gone").await,
        Err(Error::KeyNotFound)
    ));
    assert!(matches!(
        decrypts(&svc, &blob_gone).await,
        Err(Error::InvalidCiphertext)
    ));
    assert!(matches!(
        svc.list_key_versions(&gone, Paging::parse(None, None).unwrap())
            .await,
        Err(Error::KeyNotFound)
    ));
    // The other key's window has not ended; after cancelling it works again.
    svc.cancel_key_deletion(&caller(), &kept).await.unwrap();
    assert_eq!(decrypts(&svc, &blob_kept).await.unwrap(), "aGVsbG8=");
    assert_eq!(svc.destroy_due_keys(T0 + 400 * DAY).await.unwrap(), 0);
}

#[tokio::test]
async fn deletion_job_destroys_a_key_whose_blobs_were_opened_in_the_same_process() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::at(T0);
    let svc = start(dir.path(), clock.clone()).await;
    let gone = key(&svc, None).await;
    let (_, blob) = encrypt(&svc, &gone).await;
    assert!(decrypts(&svc, &blob).await.is_ok());
    svc.schedule_key_deletion(&caller(), &gone, 7)
        .await
        .unwrap();
    assert_eq!(svc.destroy_due_keys(T0 + 7 * DAY).await.unwrap(), 1);
    assert!(matches!(
        decrypts(&svc, &blob).await,
        Err(Error::InvalidCiphertext)
    ));
    assert!(matches!(
        svc.create_alias(&caller(), "alias/x", &gone).await,
        Err(Error::KeyNotFound)
    ));
}
