//! `rekey` moves every wrapped row to a new root while a server keeps serving from the same
//! database (a second store on the same file stands for the `openkms rekey` process), and a
//! rekey stopped half way leaves every key openable under either root.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use openkms_crypto::RootFinder;
use openkms_service::keys::CreateKeyInput;
use openkms_service::rekey::{rekey, RekeyPlan, RekeyReport};
use openkms_service::secrets::{CreateSecretInput, GetSecretValueInput, VersionInput};
use openkms_service::{BootstrapError, Service};
use openkms_store::prelude::*;
use openkms_store::sqlite::SqliteStore;

mod common;

use common::{caller, load_or_create, start_with_root, FakeClock};

const T0: i64 = 1_800_000_000;

/// What was written before the rekey: blobs to decrypt and secrets to read, per key.
struct Data {
    blobs: Vec<String>,
    secrets: Vec<(String, String)>,
}

async fn populate(svc: &Service, keys: usize) -> Data {
    let mut data = Data {
        blobs: Vec::new(),
        secrets: Vec::new(),
    };
    for k in 0..keys {
        let key_id = svc
            .create_key(&caller(), CreateKeyInput::default())
            .await
            .unwrap()
            .key_id;
        for _ in 0..2 {
            let e = svc
                .encrypt(&caller(), &key_id, "aGVsbG8=", None, false)
                .await
                .unwrap();
            data.blobs.push(e.ciphertext_blob);
            svc.create_key_version(&caller(), &key_id).await.unwrap();
        }
        let name = format!("secret-{k}");
        let value = format!("value of {k}");
        svc.create_secret(
            &caller(),
            CreateSecretInput {
                secret_name: &name,
                version: VersionInput {
                    version_id: "v1",
                    secret_data: &value,
                    ..Default::default()
                },
                encryption_key_id: Some(&key_id),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        data.secrets.push((name, value));
    }
    // One secret under the service key too.
    svc.create_secret(
        &caller(),
        CreateSecretInput {
            secret_name: "service-sealed",
            version: VersionInput {
                version_id: "v1",
                secret_data: "under the service key",
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await
    .unwrap();
    data.secrets
        .push(("service-sealed".into(), "under the service key".into()));
    data
}

/// Reads everything once; returns how many reads failed.
async fn read_all(svc: &Service, data: &Data) -> usize {
    let mut failed = 0;
    for blob in &data.blobs {
        match svc.decrypt(&caller(), blob, None, false).await {
            Ok(d) if d.plaintext_base64.expose_secret() == b"aGVsbG8=" => {}
            _ => failed += 1,
        }
    }
    for (name, value) in &data.secrets {
        let got = svc
            .get_secret_value(
                &caller(),
                GetSecretValueInput {
                    secret_name: name,
                    ..Default::default()
                },
            )
            .await;
        match got {
            Ok(v) if v.data.expose_secret() == value.as_bytes() => {}
            _ => failed += 1,
        }
    }
    match svc.access_key("ak").await {
        Ok(Some(e)) if e.secret.expose_secret() == common::ROOT_SECRET => {}
        _ => failed += 1,
    }
    failed
}

fn plan(dir: &Path, from: &str, to: &str, stop_after: Option<usize>) -> RekeyPlan {
    RekeyPlan {
        current: load_or_create(&dir.join(from)),
        current_locator: dir.join(from).display().to_string(),
        new: load_or_create(&dir.join(to)),
        new_locator: dir.join(to).display().to_string(),
        finder: RootFinder::new(None),
        stop_after,
    }
}

/// The `openkms rekey` process: its own store on the same database file.
async fn run_rekey(dir: &Path, plan: RekeyPlan) -> RekeyReport {
    let store = SqliteStore::open(&dir.join("openkms.db")).unwrap();
    rekey(&store, plan, T0).await.unwrap()
}

async fn root_ids(dir: &Path) -> Vec<(String, String)> {
    let store = SqliteStore::open(&dir.join("openkms.db")).unwrap();
    store
        .roots()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.root_id, r.state.name().to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rekey_under_concurrent_reads_and_writes_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let clock = FakeClock::at(T0);
    // A keyring of one entry: nearly every read unwraps again, so reads really go to the
    // roots while rows move between them.
    let svc = Arc::new(
        start_with_root(d, &d.join("old.key"), clock.clone(), 1)
            .await
            .unwrap(),
    );
    let data = Arc::new(populate(&svc, 6).await);
    assert_eq!(read_all(&svc, &data).await, 0);

    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for _ in 0..3 {
        let (svc, data, stop, reads) = (svc.clone(), data.clone(), stop.clone(), reads.clone());
        readers.push(tokio::spawn(async move {
            let mut failed = 0;
            while !stop.load(Ordering::Relaxed) {
                failed += read_all(&svc, &data).await;
                reads.fetch_add(1, Ordering::Relaxed);
            }
            failed
        }));
    }
    // New keys keep being created (wrapped under whichever root is active) during the rekey.
    let writer = {
        let (svc, stop) = (svc.clone(), stop.clone());
        tokio::spawn(async move {
            let mut created = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let key = svc
                    .create_key(&caller(), CreateKeyInput::default())
                    .await
                    .unwrap()
                    .key_id;
                let e = svc
                    .encrypt(&caller(), &key, "aGVsbG8=", None, false)
                    .await
                    .unwrap();
                created.push(e.ciphertext_blob);
                tokio::task::yield_now().await;
            }
            created
        })
    };
    let before = reads.load(Ordering::Relaxed);
    let report = run_rekey(d, plan(d, "old.key", "new.key", None)).await;
    // Let the readers run on past the end of the rekey too.
    while reads.load(Ordering::Relaxed) < before + 6 {
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert_eq!(r.await.unwrap(), 0, "a read failed during rekey");
    }
    let mut blobs = data.blobs.clone();
    blobs.extend(writer.await.unwrap());
    assert!(report.finished);
    // 6 keys x 3 versions, the service key's version, the access key.
    assert!(report.key_versions >= 19, "{report:?}");
    assert_eq!(report.access_keys, 1);

    let roots = root_ids(d).await;
    assert_eq!(roots[0].1, "active");
    assert_eq!(roots[1].1, "retired");
    let store = SqliteStore::open(&d.join("openkms.db")).unwrap();
    assert!(store.rows_to_rewrap().await.unwrap().is_empty());
    drop(store);

    // The old root can go: a restart with only the new one reads everything.
    drop(svc);
    std::fs::rename(d.join("old.key"), d.join("old.key.away")).unwrap();
    let svc = start_with_root(d, &d.join("new.key"), clock.clone(), 1)
        .await
        .unwrap();
    let all = Data {
        blobs,
        secrets: data.secrets.clone(),
    };
    assert_eq!(read_all(&svc, &all).await, 0);
    drop(svc);
    std::fs::rename(d.join("old.key.away"), d.join("old.key")).unwrap();
    // And the retired root is refused with a pointer to the active one.
    let err = start_with_root(d, &d.join("old.key"), clock, 1)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, BootstrapError::RetiredRoot { .. }), "{err}");
    assert!(err.to_string().contains("new.key"));
}

#[tokio::test]
async fn a_rekey_stopped_half_way_leaves_every_key_openable_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let clock = FakeClock::at(T0);
    let svc = start_with_root(d, &d.join("old.key"), clock.clone(), 1)
        .await
        .unwrap();
    let data = populate(&svc, 3).await;
    drop(svc);

    // The process dies after three rows.
    let report = run_rekey(d, plan(d, "old.key", "new.key", Some(3))).await;
    assert!(!report.finished);
    assert_eq!(report.key_versions + report.access_keys, 3);
    let store = SqliteStore::open(&d.join("openkms.db")).unwrap();
    let left = store.rows_to_rewrap().await.unwrap().len();
    assert!(left > 0);
    drop(store);

    // A server restarted with either root opens every row: the other root is found through
    // the location the store records.
    for key in ["old.key", "new.key"] {
        let svc = start_with_root(d, &d.join(key), clock.clone(), 1)
            .await
            .unwrap();
        assert_eq!(read_all(&svc, &data).await, 0, "with {key}");
    }

    // Running rekey again finishes the job.
    let report = run_rekey(d, plan(d, "old.key", "new.key", None)).await;
    assert!(report.finished);
    assert_eq!(report.key_versions + report.access_keys, left);
    let svc = start_with_root(d, &d.join("new.key"), clock, 1)
        .await
        .unwrap();
    assert_eq!(read_all(&svc, &data).await, 0);
}

#[tokio::test]
async fn rekey_to_the_active_root_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let svc = start_with_root(d, &d.join("old.key"), FakeClock::at(T0), 4)
        .await
        .unwrap();
    drop(svc);
    let store = SqliteStore::open(&d.join("openkms.db")).unwrap();
    let err = rekey(&store, plan(d, "old.key", "old.key", None), T0)
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("active root already"), "{err}");
}
