//! SQLite-only behaviour: the writer's FIFO order and migrations from old schemas. What every
//! backend must do is in the conformance suite (`crates/store/tests/conformance.rs`).

use super::*;

/// A fresh store holding the key `k` (Enabled, created by the service so key listings do not
/// show it) that [`version`] names as its sealing key: versions are written only under an
/// existing, enabled key.
fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let s = SqliteStore::open(&path).unwrap();
    let c = Connection::open(&path).unwrap();
    c.execute_batch(
        "INSERT INTO instances (instance_id, created_at) VALUES ('kst-0', 1);
         INSERT INTO keys (key_id, instance_id, key_spec, key_usage, key_state, creator, primary_version_id, created_at)
         VALUES ('k', 'kst-0', 'Aliyun_AES_256', 'ENCRYPT/DECRYPT', 'Enabled', 'Service', 'kv', 1);",
    )
    .unwrap();
    (dir, s)
}

#[path = "../../tests/common/records.rs"]
mod records;
use records::{new_secret, schedule_deletion};

/// ScheduleKeyDeletion and CreateSecret issued together, both before either commits: the
/// writer runs them one after the other in the order issued, and the second sees the first. Either order leaves no secret under a key pending deletion.
#[tokio::test]
async fn racing_key_deletion_and_secret_create_never_both_succeed() {
    for deletion_first in [true, false] {
        let (_d, s) = store();
        let schedule = s.update_key("k", schedule_deletion());
        let mut secret = new_secret("x");
        secret.secret.encryption_key_id = Some("k".into());
        let create = s.create_secret(secret);
        let (deleted, created) = if deletion_first {
            tokio::join!(schedule, create)
        } else {
            let (c, d) = tokio::join!(create, schedule);
            (d, c)
        };
        let deleted = matches!(deleted.unwrap(), KeyUpdateOutcome::Applied(_));
        let created = created.unwrap() == CreateOutcome::Created;
        assert!(deleted != created, "deleted {deleted}, created {created}");
        assert_eq!(deleted, deletion_first);
    }
}

#[tokio::test]
async fn an_installation_from_before_roots_gets_its_one_root_recorded_on_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("openkms.db");
    {
        // The schema as it was before migration 0006, with a key version and an access key.
        let c = Connection::open(&path).unwrap();
        for (i, sql) in MIGRATIONS.iter().take(5).enumerate() {
            c.execute_batch(&format!("{sql}\nPRAGMA user_version = {};", i + 1))
                .unwrap();
        }
        c.execute_batch(
            "INSERT INTO meta VALUES (1, '1234567890123456', 'oldfp', 'kst-1', 'svc', 1);
             INSERT INTO instances VALUES ('kst-1', 1);
             INSERT INTO keys (key_id, instance_id, key_spec, key_usage, key_state, creator, primary_version_id, created_at)
                 VALUES ('svc', 'kst-1', 'Aliyun_AES_256', 'ENCRYPT/DECRYPT', 'Enabled', 'Service', 'v1', 1);
             INSERT INTO key_versions VALUES ('svc', 'v1', x'0102', 1);
             INSERT INTO access_keys VALUES ('ak', x'0304', 'root', 'Active', 1);",
        )
        .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    let roots = s.roots().await.unwrap();
    assert_eq!(roots.len(), 1);
    assert_eq!(
        (
            roots[0].root_id.as_str(),
            roots[0].kind.as_str(),
            roots[0].state.name()
        ),
        ("oldfp", "file", "active")
    );
    assert_eq!(roots[0].locator, None);
    assert_eq!(
        s.key_version("svc", "v1").await.unwrap().unwrap().root_id,
        "oldfp"
    );
    assert_eq!(s.access_key("ak").await.unwrap().unwrap().root_id, "oldfp");
    assert!(s.rows_to_rewrap().await.unwrap().is_empty());
}

#[tokio::test]
async fn instances_registered_before_tls_settings_keep_plain_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("openkms.db");
    {
        // The schema before migration 0010, with one registered instance.
        let c = Connection::open(&path).unwrap();
        for (i, sql) in MIGRATIONS.iter().take(9).enumerate() {
            c.execute_batch(&format!("{sql}\nPRAGMA user_version = {};", i + 1))
                .unwrap();
        }
        c.execute_batch(
            "INSERT INTO db_instances VALUES ('rm-old', 'mysql', '10.0.0.5:3306', 'admin/old', 7);",
        )
        .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    let old = s.db_instance("rm-old").await.unwrap().unwrap();
    assert_eq!(
        (old.tls_mode, old.tls_ca.as_deref()),
        (openkms_domain::db_instance::TlsMode::Disabled, None)
    );
}

/// A plan that panics inside the writer is rolled back alone: the writes in its group commit,
/// and the store goes on writing (it used to answer every later write `WriterGone`).
#[tokio::test]
async fn a_panicking_plan_does_not_stop_the_writer() {
    let (_d, s) = store();
    assert_eq!(
        s.create_secret(new_secret("a")).await.unwrap(),
        CreateOutcome::Created
    );
    #[allow(clippy::panic)]
    let boom = s.update_secret("a", Box::new(|_: &SecretState| panic!("a bug in a plan")));
    let beside = s.create_secret(new_secret("b"));
    let (boom, beside) = tokio::join!(boom, beside);
    assert!(matches!(boom, Err(StoreError::WriterGone)), "{boom:?}");
    assert_eq!(beside.unwrap(), CreateOutcome::Created);
    assert_eq!(
        s.create_secret(new_secret("c")).await.unwrap(),
        CreateOutcome::Created
    );
    for name in ["a", "b", "c"] {
        assert!(s.secret(name).await.unwrap().is_some(), "{name}");
    }
}

/// `close` answers the writes queued before it (committed) and refuses later ones.
#[tokio::test]
async fn close_commits_what_was_queued_and_refuses_later_writes() {
    let (d, s) = store();
    let queued = s.create_secret(new_secret("a"));
    let close = s.close();
    let (queued, ()) = tokio::join!(queued, close);
    assert_eq!(queued.unwrap(), CreateOutcome::Created);
    assert!(matches!(
        s.create_secret(new_secret("b")).await,
        Err(StoreError::WriterGone)
    ));
    drop(s);
    let reopened = SqliteStore::open(&d.path().join("t.db")).unwrap();
    assert!(reopened.secret("a").await.unwrap().is_some());
}
