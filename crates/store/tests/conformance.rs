//! Store conformance: one suite, run on SQLite (a temporary file) and on PostgreSQL (a fresh
//! schema per test, dropped afterwards). The PostgreSQL server comes from
//! `OPENKMS_TEST_POSTGRES_URL`; without it the PostgreSQL half fails and says so, it is never
//! skipped.

// Test code: a failed unwrap or index is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openkms_domain::db_instance::{Engine, TlsMode};
use openkms_domain::key::{KeySpec, KeyState, KeyUsage};
use openkms_domain::secret::Rejection;
use openkms_domain::stages::StageMap;
use openkms_domain::{AccessKeyStatus, PolicyName, PolicyType, RoleName, UserName};
use openkms_store::postgres::PgStore;
use openkms_store::sqlite::SqliteStore;
use openkms_store::*;
use sqlx::postgres::PgConnectOptions;

/// The variable naming the PostgreSQL server the suite runs against.
const PG_URL_VAR: &str = "OPENKMS_TEST_POSTGRES_URL";

/// A fresh store holding the key `k` (Enabled, created by the service so key listings do not
/// show it) that [`version`] names as its sealing key: versions are written only under an
/// existing, enabled key. Rows are arranged behind the store's back through `raw`.
struct Fixture {
    store: Arc<dyn Store>,
    raw: Raw,
}

enum Raw {
    Sqlite {
        _dir: tempfile::TempDir,
        path: std::path::PathBuf,
    },
    Postgres {
        pool: sqlx::PgPool,
        url: String,
        schema: String,
    },
}

const SETUP: [&str; 2] = [
    "INSERT INTO instances (instance_id, created_at) VALUES ('kst-0', 1)",
    "INSERT INTO keys (key_id, instance_id, key_spec, key_usage, key_state, creator, primary_version_id, created_at) VALUES ('k', 'kst-0', 'Aliyun_AES_256', 'ENCRYPT/DECRYPT', 'Enabled', 'Service', 'kv', 1)",
];

impl Fixture {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = SqliteStore::open(&path).unwrap();
        let f = Self {
            store: Arc::new(store),
            raw: Raw::Sqlite { _dir: dir, path },
        };
        f.setup().await;
        f
    }

    async fn postgres() -> Self {
        let url = std::env::var(PG_URL_VAR).unwrap_or_else(|_| {
            panic!(
                "{PG_URL_VAR} is not set: the PostgreSQL conformance tests need a server \
                 (on this machine: {PG_URL_VAR}=postgres://postgres@127.0.0.1:5432/test)"
            )
        });
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let schema = format!(
            "okt_{}_{}_{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let admin = sqlx::PgPool::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {PG_URL_VAR}: {e}"));
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let options = PgConnectOptions::from_str(&url)
            .unwrap()
            .options([("search_path", schema.as_str())]);
        let store = PgStore::connect_with(options).await.unwrap();
        let f = Self {
            raw: Raw::Postgres {
                pool: store.pool().clone(),
                url,
                schema,
            },
            store: Arc::new(store),
        };
        f.setup().await;
        f
    }

    async fn setup(&self) {
        for sql in SETUP {
            self.exec(sql).await;
        }
    }

    /// Runs one statement behind the store's back (its SQL is valid on both backends).
    async fn exec(&self, sql: &str) {
        match &self.raw {
            Raw::Sqlite { path, .. } => {
                rusqlite::Connection::open(path)
                    .unwrap()
                    .execute_batch(sql)
                    .unwrap();
            }
            Raw::Postgres { pool, .. } => {
                sqlx::query(sql).execute(pool).await.unwrap();
            }
        }
    }

    /// Sets a key's state behind the store's back, as a write that committed earlier would.
    async fn set_key_state(&self, key_id: &str, state: &str) {
        self.exec(&format!(
            "UPDATE keys SET key_state = '{state}' WHERE key_id = '{key_id}'"
        ))
        .await;
    }

    /// The store with the root `fp` active, as identity rows need (access keys name a root).
    async fn with_root(&self) -> Arc<dyn Store> {
        self.store
            .activate_root(RootRecord {
                root_id: "fp".into(),
                kind: "file".into(),
                locator: None,
                state: RootState::Active,
                created_at: 0,
            })
            .await
            .unwrap();
        self.store.clone()
    }

    /// Initialises the store with the service key `svc`.
    async fn initialize(&self) {
        self.store.initialize(bootstrap()).await.unwrap();
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let Raw::Postgres { url, schema, .. } = &self.raw else {
            return;
        };
        // Drop cannot await; a thread with its own runtime removes the schema, so every run
        // leaves the database as it found it (a failed test included).
        let (url, schema) = (url.clone(), schema.clone());
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(c) = sqlx::PgPool::connect(&url).await {
                    // Bounded: a lock still held by the test's pool must not hang the run.
                    let drop =
                        format!("SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {schema} CASCADE");
                    let _ = sqlx::raw_sql(&drop).execute(&c).await;
                    c.close().await;
                }
            });
        });
        let _ = done.join();
    }
}

fn bootstrap() -> Bootstrap {
    Bootstrap {
        meta: Meta {
            account_id: "1234567890123456".into(),
            root_fingerprint: "fp".into(),
            default_instance: "kst-1".into(),
            service_key_id: "svc".into(),
            created_at: 1,
        },
        service_key: key_record("svc", "Service"),
        service_key_version: key_version_record("svc"),
        access_keys: vec![AccessKeyRecord {
            access_key_id: "ak".into(),
            sealed_secret: vec![7; 40],
            root_id: "fp".into(),
            principal: "root".into(),
            status: AccessKeyStatus::Active,
            created_at: 1,
        }],
        root: RootRecord {
            root_id: "fp".into(),
            kind: "file".into(),
            locator: None,
            state: RootState::Active,
            created_at: 1,
        },
    }
}

/// Mounts each suite function as one test per backend: `sqlite::<name>`, `postgres::<name>`.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Fixture::sqlite().await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Fixture::postgres().await).await
                }
            )*
        }
    };
}

conformance!(
    create_then_read_back_secret_version_and_tags,
    text_no_domain_value_has_is_a_corrupt_row_never_a_default,
    second_create_of_a_name_reports_it_taken,
    rejected_plan_writes_nothing,
    a_panicking_plan_fails_alone_and_the_store_goes_on_writing,
    update_inserts_version_moves_stages_and_purge_removes_all,
    purge_expired_removes_only_due_secrets,
    concurrent_writers_all_land,
    concurrent_puts_on_one_secret_lose_no_version_and_keep_one_current,
    update_persists_extended_config_rotation_policy_and_restore,
    tag_changes_are_all_or_nothing_across_resources,
    cached_reads_see_every_acknowledged_write,
    unfiltered_list_total_follows_creates_and_purges,
    filtered_lists_match_names_descriptions_and_tags,
    keys_are_created_listed_in_order_and_the_service_key_is_not_listed,
    key_plan_sees_protected_secrets_and_a_rejection_writes_nothing,
    aliases_are_unique_movable_and_listed_by_name,
    a_version_is_refused_when_its_key_stopped_being_usable_before_the_write,
    racing_key_deletion_and_secret_create_never_both_succeed,
    a_new_key_version_becomes_primary_and_a_rejected_one_writes_nothing,
    keys_due_for_rotation_are_enabled_user_keys_one_interval_after_their_last_rotation,
    destroying_expired_keys_removes_versions_aliases_and_tags_but_keeps_keys_in_use,
    rekey_moves_rows_one_by_one_and_retires_the_old_root_only_when_none_is_left,
    no_row_can_be_written_under_a_retired_or_unknown_root,
    reactivating_a_known_root_keeps_its_locator_and_demotes_the_other,
    a_second_initialisation_is_refused_and_writes_nothing,
    rotation_leases_go_to_one_owner_until_they_expire,
    db_instances_register_once_and_are_forgotten,
    rename_carries_access_keys_and_attachments,
    access_keys_are_limited_per_user,
    policy_versions_number_up_and_attached_policies_stay,
    racing_access_key_creations_respect_the_limit,
    roles_hold_policies_and_are_deleted_only_without_them,
    root_keys_change_one_at_a_time_and_the_last_active_one_stays,
);

#[path = "common/records.rs"]
mod records;
use records::{new_secret, schedule_deletion, version};

async fn create_then_read_back_secret_version_and_tags(f: Fixture) {
    let s = f.store.clone();
    assert_eq!(
        s.create_secret(new_secret("db")).await.unwrap(),
        CreateOutcome::Created
    );
    let rec = s.secret("db").await.unwrap().unwrap();
    assert_eq!(rec.stages.version_of("ACSCurrent"), Some("v1"));
    assert_eq!(
        *s.version(&rec, "v1").await.unwrap().unwrap(),
        version("v1")
    );
    assert_eq!(s.secret_tags(rec.id).await.unwrap().len(), 1);
    assert!(s.version(&rec, "v2").await.unwrap().is_none());
}

async fn second_create_of_a_name_reports_it_taken(f: Fixture) {
    let s = f.store.clone();
    s.create_secret(new_secret("db")).await.unwrap();
    assert_eq!(
        s.create_secret(new_secret("db")).await.unwrap(),
        CreateOutcome::NameTaken {
            pending_deletion: false
        }
    );
}

async fn rejected_plan_writes_nothing(f: Fixture) {
    let s = f.store.clone();
    s.create_secret(new_secret("db")).await.unwrap();
    let out = s
        .update_secret("db", Box::new(|_| Err(Rejection::GenericOnly)))
        .await
        .unwrap();
    assert!(matches!(
        out,
        UpdateOutcome::Rejected(Rejection::GenericOnly)
    ));
    let rec = s.secret("db").await.unwrap().unwrap();
    assert_eq!(s.versions(rec.id).await.unwrap().len(), 1);
}

/// A bug in a plan fails that write only: a write issued beside it lands, and later writes
/// (of the same secret too) go on landing; the store never answers "unavailable" for good.
async fn a_panicking_plan_fails_alone_and_the_store_goes_on_writing(f: Fixture) {
    let s = f.store.clone();
    s.create_secret(new_secret("db")).await.unwrap();
    #[allow(clippy::panic)]
    let boom = s.update_secret("db", Box::new(|_| panic!("a bug in a plan")));
    let beside = s.create_secret(new_secret("beside"));
    let (boom, beside) = tokio::join!(boom, beside);
    assert!(boom.is_err(), "{boom:?}");
    assert_eq!(beside.unwrap(), CreateOutcome::Created);
    assert_eq!(
        s.create_secret(new_secret("after")).await.unwrap(),
        CreateOutcome::Created
    );
    let out = s
        .update_secret("db", Box::new(|_| Err(Rejection::GenericOnly)))
        .await
        .unwrap();
    assert!(matches!(
        out,
        UpdateOutcome::Rejected(Rejection::GenericOnly)
    ));
    let rec = s.secret("db").await.unwrap().unwrap();
    assert_eq!(s.versions(rec.id).await.unwrap().len(), 1);
}

async fn update_inserts_version_moves_stages_and_purge_removes_all(f: Fixture) {
    let s = f.store.clone();
    s.create_secret(new_secret("db")).await.unwrap();
    let out = s
        .update_secret(
            "db",
            Box::new(|st| {
                Ok(SecretUpdate {
                    insert_version: Some(version("v2")),
                    stages: Some(
                        st.secret
                            .stages
                            .put_version("v2", &["ACSCurrent".into()])
                            .unwrap(),
                    ),
                    updated_at: 20,
                    ..Default::default()
                })
            }),
        )
        .await
        .unwrap();
    let UpdateOutcome::Applied(Some(rec)) = out else {
        panic!()
    };
    assert_eq!(rec.stages.version_of("ACSPrevious"), Some("v1"));
    let versions = s.versions(rec.id).await.unwrap();
    assert_eq!(
        versions
            .iter()
            .map(|v| v.version_id.as_str())
            .collect::<Vec<_>>(),
        ["v1", "v2"]
    );
    s.update_secret(
        "db",
        Box::new(|_| {
            Ok(SecretUpdate {
                purge: true,
                ..Default::default()
            })
        }),
    )
    .await
    .unwrap();
    assert!(s.secret("db").await.unwrap().is_none());
    assert!(s.version(&rec, "v1").await.unwrap().is_none());
}

async fn purge_expired_removes_only_due_secrets(f: Fixture) {
    let s = f.store.clone();
    for n in ["a", "b"] {
        s.create_secret(new_secret(n)).await.unwrap();
    }
    for (n, at) in [("a", 100), ("b", 200)] {
        s.update_secret(
            n,
            Box::new(move |_| {
                Ok(SecretUpdate {
                    planned_delete_at: Some(Some(at)),
                    ..Default::default()
                })
            }),
        )
        .await
        .unwrap();
    }
    assert_eq!(s.purge_expired(150).await.unwrap(), vec!["a".to_string()]);
    assert!(s.secret("b").await.unwrap().is_some());
}

async fn concurrent_writers_all_land(f: Fixture) {
    let s = f.store.clone();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.create_secret(new_secret(&format!("s{i}"))).await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), CreateOutcome::Created);
    }
    for i in 0..50 {
        assert!(s.secret(&format!("s{i}")).await.unwrap().is_some());
    }
}

async fn update_persists_extended_config_rotation_policy_and_restore(f: Fixture) {
    let s = f.store.clone();
    s.create_secret(new_secret("db")).await.unwrap();
    s.update_secret(
        "db",
        Box::new(|_| {
            Ok(SecretUpdate {
                planned_delete_at: Some(Some(500)),
                ..Default::default()
            })
        }),
    )
    .await
    .unwrap();
    let rotation = RotationRecord {
        enabled: true,
        interval_secs: Some(21_600),
        next_at: Some(21_630),
        last_at: Some(5),
        progress: Default::default(),
    };
    let planned = rotation.clone();
    s.update_secret(
        "db",
        Box::new(move |_| {
            Ok(SecretUpdate {
                extended_config: Some(r#"{"CustomData":{"k":"v"}}"#.into()),
                rotation: Some(planned.clone()),
                policy: Some(r#"{"Version":"1"}"#.into()),
                planned_delete_at: Some(None),
                updated_at: 30,
                ..Default::default()
            })
        }),
    )
    .await
    .unwrap();
    let rec = s.secret("db").await.unwrap().unwrap();
    assert_eq!(
        rec.extended_config.as_deref(),
        Some(r#"{"CustomData":{"k":"v"}}"#)
    );
    assert_eq!(rec.rotation, rotation);
    assert_eq!(rec.policy, r#"{"Version":"1"}"#);
    assert_eq!(rec.planned_delete_at, None);
    assert_eq!(rec.updated_at, 30);
    assert_eq!(s.versions(rec.id).await.unwrap().len(), 1);
}

async fn tag_changes_are_all_or_nothing_across_resources(f: Fixture) {
    let s = f.store.clone();
    s.create_secret(new_secret("a")).await.unwrap();
    let change = |id: &str| TagChange {
        resource_id: id.into(),
        set: vec![TagRecord {
            key: "k".into(),
            value: "v".into(),
        }],
        ..Default::default()
    };
    let out = s
        .change_tags(
            ResourceKind::Secret,
            vec![change("a"), change("missing")],
            20,
        )
        .await
        .unwrap();
    assert_eq!(out, TagOutcome::NotFound("missing".into()));
    let rec = s.secret("a").await.unwrap().unwrap();
    // Only the tag from creation; "k" was rolled back.
    assert_eq!(s.secret_tags(rec.id).await.unwrap().len(), 1);
    let out = s
        .change_tags(ResourceKind::Secret, vec![change("a")], 1)
        .await
        .unwrap();
    assert_eq!(out, TagOutcome::TooMany("a".into()));
    assert_eq!(
        s.change_tags(ResourceKind::Secret, vec![change("a")], 20)
            .await
            .unwrap(),
        TagOutcome::Applied
    );
    let rows = s
        .tag_rows(ResourceKind::Secret, &[], &[("k".into(), None)], 0, 10)
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![TagRow {
            resource_id: "a".into(),
            key: "k".into(),
            value: "v".into()
        }]
    );
}

async fn cached_reads_see_every_acknowledged_write(f: Fixture) {
    let s = f.store.clone();
    s.create_secret(new_secret("db")).await.unwrap();
    // Warm the cache, then write through the store.
    let before = s.secret("db").await.unwrap().unwrap();
    assert_eq!(
        s.version(&before, "v1").await.unwrap().unwrap().version_id,
        "v1"
    );
    s.update_secret(
        "db",
        Box::new(|_| {
            Ok(SecretUpdate {
                insert_version: Some(version("v2")),
                delete_versions: vec!["v1".into()],
                stages: Some(StageMap::initial("v2")),
                description: Some("changed".into()),
                updated_at: 30,
                ..Default::default()
            })
        }),
    )
    .await
    .unwrap();
    let after = s.secret("db").await.unwrap().unwrap();
    assert_eq!(after.description, "changed");
    assert!(
        s.version(&after, "v1").await.unwrap().is_none(),
        "a dropped version is not served from cache"
    );
    // Purge, then recreate under the same name: the old incarnation is never served.
    s.update_secret(
        "db",
        Box::new(|_| {
            Ok(SecretUpdate {
                purge: true,
                ..Default::default()
            })
        }),
    )
    .await
    .unwrap();
    assert!(s.secret("db").await.unwrap().is_none());
    s.create_secret(new_secret("db")).await.unwrap();
    let again = s.secret("db").await.unwrap().unwrap();
    assert_ne!(again.id, before.id);
    assert_eq!(again.description, "");
}

async fn unfiltered_list_total_follows_creates_and_purges(f: Fixture) {
    let s = f.store.clone();
    for n in ["a", "b", "c"] {
        s.create_secret(new_secret(n)).await.unwrap();
    }
    let all = openkms_domain::filters::SecretFilter::default();
    assert_eq!(s.list_secrets(&all, 0, 2).await.unwrap().0, 3);
    s.update_secret(
        "b",
        Box::new(|_| {
            Ok(SecretUpdate {
                purge: true,
                ..Default::default()
            })
        }),
    )
    .await
    .unwrap();
    let (total, page) = s.list_secrets(&all, 0, 10).await.unwrap();
    assert_eq!(total, 2);
    assert_eq!(
        page.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["a", "c"]
    );
}

fn key_record(id: &str, creator: &str) -> KeyRecord {
    KeyRecord {
        key_id: id.into(),
        instance_id: "kst-1".into(),
        key_spec: KeySpec::Aes256,
        key_usage: KeyUsage::EncryptDecrypt,
        key_state: KeyState::Enabled,
        creator: creator.into(),
        description: String::new(),
        primary_version_id: format!("{id}-v1"),
        created_at: 10,
        delete_at: None,
        rotation_interval_secs: None,
        last_rotation_at: 10,
    }
}

fn key_version_record(id: &str) -> KeyVersionRecord {
    KeyVersionRecord {
        key_id: id.into(),
        version_id: format!("{id}-v1"),
        wrapped_material: vec![9; 60],
        root_id: "fp".into(),
        created_at: 10,
    }
}

async fn keys_are_created_listed_in_order_and_the_service_key_is_not_listed(f: Fixture) {
    f.initialize().await;
    let s = f.store.clone();
    let mut k = key_record("k1", "1234567890123456");
    k.rotation_interval_secs = Some(86_400 * 30);
    let tags = vec![TagRecord {
        key: "t".into(),
        value: "v".into(),
    }];
    s.create_key(k.clone(), key_version_record("k1"), tags.clone())
        .await
        .unwrap();
    s.create_key(key_record("k0", "u"), key_version_record("k0"), vec![])
        .await
        .unwrap();
    assert_eq!(s.key("k1").await.unwrap(), Some(k));
    assert_eq!(s.key_tags("k1").await.unwrap(), tags);
    assert!(s.key_version("k1", "k1-v1").await.unwrap().is_some());
    let (total, page) = s.list_user_keys(0, 10).await.unwrap();
    assert_eq!(total, 2);
    let ids: Vec<_> = page.iter().map(|k| k.key_id.as_str()).collect();
    assert_eq!(ids, ["k1", "k0"]);
    let (_, second) = s.list_user_keys(1, 1).await.unwrap();
    assert_eq!(second[0].key_id, "k0");
}

async fn key_plan_sees_protected_secrets_and_a_rejection_writes_nothing(f: Fixture) {
    f.initialize().await;
    let s = f.store.clone();
    s.create_key(key_record("k1", "u"), key_version_record("k1"), vec![])
        .await
        .unwrap();
    let mut secret = new_secret("db");
    secret.secret.encryption_key_id = Some("k1".into());
    s.create_secret(secret).await.unwrap();
    let out = s
        .update_key(
            "k1",
            Box::new(|st: &KeyPlanState| {
                Err(openkms_domain::key::KeyRejection::ProtectsSecrets {
                    secrets: st.protected_secrets,
                })
            }),
        )
        .await
        .unwrap();
    assert_eq!(
        out,
        KeyUpdateOutcome::Rejected(openkms_domain::key::KeyRejection::ProtectsSecrets {
            secrets: 1
        })
    );
    let applied = s
        .update_key(
            "k1",
            Box::new(|_| {
                Ok(KeyUpdate {
                    key_state: Some(KeyState::PendingDeletion),
                    delete_at: Some(Some(99)),
                    description: Some("d".into()),
                    ..KeyUpdate::default()
                })
            }),
        )
        .await
        .unwrap();
    let KeyUpdateOutcome::Applied(k) = applied else {
        panic!("not applied: {applied:?}")
    };
    assert_eq!(
        (k.key_state.name(), k.delete_at, k.description.as_str()),
        ("PendingDeletion", Some(99), "d")
    );
    assert_eq!(s.key("k1").await.unwrap().unwrap(), *k);
    assert_eq!(
        s.update_key("nope", Box::new(|_| Ok(KeyUpdate::default())))
            .await
            .unwrap(),
        KeyUpdateOutcome::NotFound
    );
}

async fn aliases_are_unique_movable_and_listed_by_name(f: Fixture) {
    f.initialize().await;
    let s = f.store.clone();
    for id in ["k1", "k2"] {
        s.create_key(key_record(id, "u"), key_version_record(id), vec![])
            .await
            .unwrap();
    }
    let rec = |name: &str, key: &str| AliasRecord {
        alias_name: name.into(),
        key_id: key.into(),
        created_at: 5,
    };
    assert_eq!(
        s.create_alias(rec("alias/b", "k1")).await.unwrap(),
        AliasOutcome::Applied
    );
    assert_eq!(
        s.create_alias(rec("alias/b", "k2")).await.unwrap(),
        AliasOutcome::Taken
    );
    s.create_alias(rec("alias/a", "k2")).await.unwrap();
    assert_eq!(
        s.alias("alias/b").await.unwrap(),
        Some(rec("alias/b", "k1"))
    );
    let (total, all) = s.aliases(None, 0, 10).await.unwrap();
    assert_eq!(total, 2);
    assert_eq!(all, [rec("alias/a", "k2"), rec("alias/b", "k1")]);
    // Conditional on the key it names now: a stale `from` changes nothing.
    assert_eq!(
        s.update_alias("alias/b", "k2", Some("k2")).await.unwrap(),
        AliasOutcome::NotFound
    );
    assert_eq!(
        s.alias("alias/b").await.unwrap(),
        Some(rec("alias/b", "k1"))
    );
    assert_eq!(
        s.update_alias("alias/b", "k2", Some("k1")).await.unwrap(),
        AliasOutcome::Applied
    );
    assert_eq!(
        s.update_alias("alias/zz", "k2", None).await.unwrap(),
        AliasOutcome::NotFound
    );
    let (n, of_k2) = s.aliases(Some("k2"), 0, 1).await.unwrap();
    assert_eq!((n, of_k2), (2, vec![rec("alias/a", "k2")]));
    assert_eq!(s.aliases(Some("k1"), 0, 10).await.unwrap().0, 0);
    assert_eq!(
        s.delete_alias("alias/a", Some("k1")).await.unwrap(),
        AliasOutcome::NotFound
    );
    assert_eq!(
        s.delete_alias("alias/a", Some("k2")).await.unwrap(),
        AliasOutcome::Applied
    );
    assert_eq!(
        s.delete_alias("alias/a", None).await.unwrap(),
        AliasOutcome::NotFound
    );
    assert_eq!(s.alias("alias/a").await.unwrap(), None);
}

async fn a_version_is_refused_when_its_key_stopped_being_usable_before_the_write(f: Fixture) {
    use openkms_domain::key::KeyRejection;
    let s = f.store.clone();
    s.create_secret(new_secret("a")).await.unwrap();
    // The service checked the key before sealing; the key changed before the write ran.
    f.set_key_state("k", "Disabled").await;
    assert_eq!(
        s.create_secret(new_secret("b")).await.unwrap(),
        CreateOutcome::SealingKeyRefused(SealingKeyRefusal::State(KeyRejection::Disabled))
    );
    assert!(s.secret("b").await.unwrap().is_none());
    f.set_key_state("k", "PendingDeletion").await;
    let out = s
        .update_secret(
            "a",
            Box::new(|st: &SecretState| {
                Ok(SecretUpdate {
                    insert_version: Some(version("v2")),
                    stages: Some(st.secret.stages.put_version("v2", &["ACSCurrent".into()])?),
                    description: Some("changed".into()),
                    updated_at: 20,
                    ..Default::default()
                })
            }),
        )
        .await
        .unwrap();
    assert!(matches!(
        out,
        UpdateOutcome::SealingKeyRefused(SealingKeyRefusal::State(KeyRejection::PendingDeletion))
    ));
    let a = s.secret("a").await.unwrap().unwrap();
    assert_eq!(a.description, "");
    assert_eq!(s.versions(a.id).await.unwrap().len(), 1);
    // A plan that inserts no version does not depend on the key.
    let out = s
        .update_secret(
            "a",
            Box::new(|_| {
                Ok(SecretUpdate {
                    description: Some("d".into()),
                    updated_at: 30,
                    ..Default::default()
                })
            }),
        )
        .await
        .unwrap();
    assert!(matches!(out, UpdateOutcome::Applied(Some(_))));
    let mut gone = new_secret("c");
    gone.first_version.key_id = "no-such-key".into();
    assert_eq!(
        s.create_secret(gone).await.unwrap(),
        CreateOutcome::SealingKeyRefused(SealingKeyRefusal::Gone)
    );
}

/// ScheduleKeyDeletion and CreateSecret issued together, both before either commits: one
/// of them sees the other, whichever runs first, so no secret is left under a key pending
/// deletion. (Which one wins is up to the backend's scheduling.)
async fn racing_key_deletion_and_secret_create_never_both_succeed(f: Fixture) {
    let s = f.store.clone();
    let schedule = s.update_key("k", schedule_deletion());
    let mut secret = new_secret("x");
    secret.secret.encryption_key_id = Some("k".into());
    let create = s.create_secret(secret);
    let (deleted, created) = tokio::join!(schedule, create);
    let deleted = matches!(deleted.unwrap(), KeyUpdateOutcome::Applied(_));
    let created = created.unwrap() == CreateOutcome::Created;
    assert!(deleted != created, "deleted {deleted}, created {created}");
    assert_eq!(s.secret("x").await.unwrap().is_some(), created);
}

fn second_version(key_id: &str, at: i64) -> KeyVersionRecord {
    KeyVersionRecord {
        key_id: key_id.into(),
        version_id: format!("{key_id}-v2"),
        wrapped_material: vec![8; 60],
        root_id: "fp".into(),
        created_at: at,
    }
}

async fn a_new_key_version_becomes_primary_and_a_rejected_one_writes_nothing(f: Fixture) {
    use openkms_domain::key::KeyRejection;
    f.initialize().await;
    let s = f.store.clone();
    s.create_key(key_record("k1", "u"), key_version_record("k1"), vec![])
        .await
        .unwrap();
    let refused = s
        .add_key_version(
            second_version("k1", 50),
            Box::new(|_| Err(KeyRejection::Disabled)),
        )
        .await
        .unwrap();
    assert_eq!(refused, KeyUpdateOutcome::Rejected(KeyRejection::Disabled));
    assert_eq!(s.key_versions("k1", 0, 10).await.unwrap().0, 1);
    let KeyUpdateOutcome::Applied(k) = s
        .add_key_version(
            second_version("k1", 50),
            Box::new(|_| Ok(KeyUpdate::default())),
        )
        .await
        .unwrap()
    else {
        panic!("not applied")
    };
    assert_eq!(
        (k.primary_version_id.as_str(), k.last_rotation_at),
        ("k1-v2", 50)
    );
    assert_eq!(s.key("k1").await.unwrap().unwrap(), *k);
    let (total, page) = s.key_versions("k1", 1, 10).await.unwrap();
    assert_eq!((total, page[0].version_id.as_str()), (2, "k1-v2"));
    assert_eq!(
        s.add_key_version(
            second_version("nope", 1),
            Box::new(|_| Ok(KeyUpdate::default()))
        )
        .await
        .unwrap(),
        KeyUpdateOutcome::NotFound
    );
}

async fn keys_due_for_rotation_are_enabled_user_keys_one_interval_after_their_last_rotation(
    f: Fixture,
) {
    f.initialize().await;
    let s = f.store.clone();
    let mut due = key_record("due", "u");
    due.rotation_interval_secs = Some(100);
    let mut off = key_record("off", "u");
    off.key_state = KeyState::Disabled;
    off.rotation_interval_secs = Some(100);
    s.create_key(due, key_version_record("due"), vec![])
        .await
        .unwrap();
    s.create_key(off, key_version_record("off"), vec![])
        .await
        .unwrap();
    s.create_key(key_record("none", "u"), key_version_record("none"), vec![])
        .await
        .unwrap();
    assert!(s.keys_due_for_rotation(109).await.unwrap().is_empty());
    assert_eq!(s.keys_due_for_rotation(110).await.unwrap(), ["due"]);
    s.add_key_version(
        second_version("due", 110),
        Box::new(|_| Ok(KeyUpdate::default())),
    )
    .await
    .unwrap();
    assert!(s.keys_due_for_rotation(209).await.unwrap().is_empty());
    assert_eq!(s.keys_due_for_rotation(210).await.unwrap(), ["due"]);
}

async fn destroying_expired_keys_removes_versions_aliases_and_tags_but_keeps_keys_in_use(
    f: Fixture,
) {
    f.initialize().await;
    let s = f.store.clone();
    let pending = |id: &str, at: i64| {
        let mut k = key_record(id, "u");
        k.key_state = KeyState::PendingDeletion;
        k.delete_at = Some(at);
        k
    };
    let tag = vec![TagRecord {
        key: "t".into(),
        value: "v".into(),
    }];
    s.create_key(pending("old", 100), key_version_record("old"), tag)
        .await
        .unwrap();
    s.create_key(pending("later", 500), key_version_record("later"), vec![])
        .await
        .unwrap();
    s.create_key(pending("used", 100), key_version_record("used"), vec![])
        .await
        .unwrap();
    s.create_alias(AliasRecord {
        alias_name: "alias/old".into(),
        key_id: "old".into(),
        created_at: 1,
    })
    .await
    .unwrap();
    // A secret naming a key keeps it (the API never lets this happen; the job must not lose data).
    f.set_key_state("used", "Enabled").await;
    let mut secret = new_secret("db");
    secret.secret.encryption_key_id = Some("used".into());
    secret.first_version.key_id = "used".into();
    s.create_secret(secret).await.unwrap();
    f.set_key_state("used", "PendingDeletion").await;

    assert!(s.destroy_expired_keys(99).await.unwrap().is_empty());
    assert_eq!(s.destroy_expired_keys(100).await.unwrap(), ["old"]);
    assert!(s.key("old").await.unwrap().is_none());
    assert!(s.key_version("old", "old-v1").await.unwrap().is_none());
    assert!(s.alias("alias/old").await.unwrap().is_none());
    assert!(s.key_tags("old").await.unwrap().is_empty());
    assert!(s.key("used").await.unwrap().is_some());
    assert!(s.key("later").await.unwrap().is_some());
    assert!(s.key("svc").await.unwrap().is_some());
}

fn root_record(id: &str) -> RootRecord {
    RootRecord {
        root_id: id.into(),
        kind: "file".into(),
        locator: Some(format!("/keys/{id}")),
        state: RootState::Active,
        created_at: 5,
    }
}

async fn rekey_moves_rows_one_by_one_and_retires_the_old_root_only_when_none_is_left(f: Fixture) {
    f.initialize().await;
    let s = f.store.clone();
    assert_eq!(s.roots().await.unwrap()[0].state, RootState::Active);
    assert!(s.rows_to_rewrap().await.unwrap().is_empty());
    assert!(s.retire_roots().await.unwrap());

    s.activate_root(root_record("new")).await.unwrap();
    let roots = s.roots().await.unwrap();
    assert_eq!(
        roots
            .iter()
            .map(|r| (r.root_id.as_str(), r.state.name()))
            .collect::<Vec<_>>(),
        [("new", "active"), ("fp", "retiring")]
    );
    let rows = s.rows_to_rewrap().await.unwrap();
    assert_eq!(rows.len(), 2, "the service key version and the access key");
    // Nothing is retired while a row still uses the old root.
    assert!(!s.retire_roots().await.unwrap());

    // A row that changed since it was read is not overwritten.
    let mut stale = rows[0].clone();
    stale.wrapped = vec![1, 2, 3];
    assert!(!s.rewrap(stale, vec![5; 50], "new".into()).await.unwrap());
    for row in rows {
        assert!(s.rewrap(row, vec![5; 50], "new".into()).await.unwrap());
    }
    assert!(s.rows_to_rewrap().await.unwrap().is_empty());
    let v = s.key_version("svc", "svc-v1").await.unwrap().unwrap();
    assert_eq!((v.root_id.as_str(), v.wrapped_material.len()), ("new", 50));
    assert_eq!(s.access_key("ak").await.unwrap().unwrap().root_id, "new");
    assert!(s.retire_roots().await.unwrap());
    assert_eq!(s.roots().await.unwrap()[1].state, RootState::Retired);
}

async fn no_row_can_be_written_under_a_retired_or_unknown_root(f: Fixture) {
    f.initialize().await;
    let s = f.store.clone();
    let mut v = second_version("svc", 20);
    v.root_id = "nobody".into();
    assert!(s
        .add_key_version(v, Box::new(|_| Ok(KeyUpdate::default())))
        .await
        .is_err());
    s.activate_root(root_record("new")).await.unwrap();
    for row in s.rows_to_rewrap().await.unwrap() {
        s.rewrap(row, vec![5; 50], "new".into()).await.unwrap();
    }
    assert!(s.retire_roots().await.unwrap());
    // A server that still wraps with the old root (it read the active root before rekey
    // retired it) fails instead of leaving a row the old root's owner may have discarded.
    assert!(s
        .add_key_version(
            second_version("svc", 20),
            Box::new(|_| Ok(KeyUpdate::default()))
        )
        .await
        .is_err());
    let mut v = second_version("svc", 20);
    v.root_id = "new".into();
    assert!(s
        .add_key_version(v, Box::new(|_| Ok(KeyUpdate::default())))
        .await
        .is_ok());
}

async fn reactivating_a_known_root_keeps_its_locator_and_demotes_the_other(f: Fixture) {
    f.initialize().await;
    let s = f.store.clone();
    s.set_root_locator("fp", "/keys/fp").await.unwrap();
    s.activate_root(root_record("new")).await.unwrap();
    let mut back = root_record("fp");
    back.locator = None;
    s.activate_root(back).await.unwrap();
    let roots = s.roots().await.unwrap();
    assert_eq!(roots[0].root_id, "fp");
    assert_eq!(roots[0].locator.as_deref(), Some("/keys/fp"));
    assert_eq!(roots[1].state, RootState::Retiring);
}

/// A PutSecretValue-like write, on a task of its own: version `id` of `name` becomes
/// ACSCurrent.
fn put_current(
    s: Arc<dyn Store>,
    name: &'static str,
    id: String,
) -> tokio::task::JoinHandle<Result<UpdateOutcome, StoreError>> {
    tokio::spawn(async move {
        s.update_secret(
            name,
            Box::new(move |st: &SecretState| {
                Ok(SecretUpdate {
                    insert_version: Some(version(&id)),
                    stages: Some(st.secret.stages.put_version(&id, &["ACSCurrent".into()])?),
                    updated_at: 20,
                    ..Default::default()
                })
            }),
        )
        .await
    })
}

async fn all_applied(tasks: Vec<tokio::task::JoinHandle<Result<UpdateOutcome, StoreError>>>) {
    for t in tasks {
        assert!(matches!(
            t.await.unwrap().unwrap(),
            UpdateOutcome::Applied(Some(_))
        ));
    }
}

/// A stored state, type or data type the domain does not know is refused as corrupt, on
/// every read of the row, never read as some default.
async fn text_no_domain_value_has_is_a_corrupt_row_never_a_default(f: Fixture) {
    let s = f.store.clone();
    s.create_secret(new_secret("db")).await.unwrap();
    // Arranged before each first read: SQLite caches what it read.
    f.exec("UPDATE secrets SET secret_type = 'Vault'").await;
    let err = s.secret("db").await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Corrupt {
                what: "secret type"
            }
        ),
        "{err:?}"
    );
    f.exec("UPDATE secrets SET secret_type = 'Generic'").await;
    f.exec("UPDATE secret_versions SET data_type = 'hex'").await;
    let rec = s.secret("db").await.unwrap().unwrap();
    let err = s.version(&rec, "v1").await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Corrupt {
                what: "secret data type"
            }
        ),
        "{err:?}"
    );
    f.exec("UPDATE keys SET key_state = 'Frozen' WHERE key_id = 'k'")
        .await;
    let err = s.key("k").await.unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt { what: "key state" }),
        "{err:?}"
    );
    let instance = DbInstanceRecord {
        instance_id: "rm-1".into(),
        engine: Engine::Redis,
        address: "127.0.0.1:6379".into(),
        admin_secret: "db".into(),
        created_at: 1,
        tls_mode: TlsMode::Disabled,
        tls_ca: None,
    };
    assert!(s.add_db_instance(instance).await.unwrap());
    f.exec("UPDATE db_instances SET engine = 'oracle'").await;
    let err = s.db_instance("rm-1").await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Corrupt {
                what: "db instance engine"
            }
        ),
        "{err:?}"
    );
}

/// Twenty PutSecretValue-like writers on one secret at once: each plan sees the previous
/// one's commit, so every version lands and exactly one holds ACSCurrent.
async fn concurrent_puts_on_one_secret_lose_no_version_and_keep_one_current(f: Fixture) {
    let s = f.store.clone();
    s.create_secret(new_secret("hot")).await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|i| put_current(s.clone(), "hot", format!("p{i}")))
        .collect();
    all_applied(tasks).await;
    let rec = s.secret("hot").await.unwrap().unwrap();
    assert_eq!(s.versions(rec.id).await.unwrap().len(), 21);
    let current = rec.stages.version_of("ACSCurrent").unwrap().to_owned();
    let previous = rec.stages.version_of("ACSPrevious").unwrap().to_owned();
    assert_ne!(current, previous);
    assert!(s.version(&rec, &current).await.unwrap().is_some());
}

/// A write of `name` in a task; its plan runs `plan` on the state it sees.
fn spawn_write(
    s: &Arc<dyn Store>,
    name: &'static str,
    plan: impl Fn(&SecretState) -> Plan + Send + Sync + 'static,
) -> tokio::task::JoinHandle<UpdateOutcome> {
    let s = s.clone();
    tokio::spawn(async move { s.update_secret(name, Box::new(plan)).await.unwrap() })
}

fn has(st: &SecretState, id: &str) -> bool {
    st.versions.iter().any(|v| v.version_id == id)
}

// Several runtime threads: the slow plan blocks one while the others queue their writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_writes_queued_behind_a_slow_one_each_see_what_the_previous_wrote() {
    writes_queued_behind_a_slow_one_each_see_what_the_previous_wrote(Fixture::sqlite().await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_writes_queued_behind_a_slow_one_each_see_what_the_previous_wrote() {
    writes_queued_behind_a_slow_one_each_see_what_the_previous_wrote(Fixture::postgres().await)
        .await
}

async fn writes_queued_behind_a_slow_one_each_see_what_the_previous_wrote(f: Fixture) {
    let s = f.store.clone();
    s.create_secret(new_secret("queue")).await.unwrap();
    let pause = Duration::from_millis(30);
    // The first plan holds the writer; the others queue behind it (on PostgreSQL they are then
    // applied together, in one transaction) and must still see each other's effects. The test
    // thread is not a runtime worker: it blocks between spawns so the writes queue in order.
    let slow = spawn_write(&s, "queue", |_| {
        std::thread::sleep(Duration::from_millis(300));
        Ok(SecretUpdate {
            insert_version: Some(version("v2")),
            updated_at: 20,
            ..Default::default()
        })
    });
    std::thread::sleep(pause);
    let drop_v1 = spawn_write(&s, "queue", |st| {
        if !has(st, "v2") || !has(st, "v1") {
            return Err(Rejection::VersionNotFound {
                version_id: "v2".into(),
            });
        }
        Ok(SecretUpdate {
            delete_versions: vec!["v1".into()],
            updated_at: 21,
            ..Default::default()
        })
    });
    std::thread::sleep(pause);
    let reuse_v1 = spawn_write(&s, "queue", |st| {
        if has(st, "v1") {
            return Err(Rejection::VersionExists {
                version_id: "v1".into(),
            });
        }
        Ok(SecretUpdate {
            insert_version: Some(VersionRecord {
                ciphertext: vec![9, 9],
                ..version("v1")
            }),
            description: Some("v1 again".into()),
            updated_at: 22,
            ..Default::default()
        })
    });
    std::thread::sleep(pause);
    let again = spawn_write(&s, "queue", |st| {
        if has(st, "v1") {
            return Err(Rejection::VersionExists {
                version_id: "v1".into(),
            });
        }
        Ok(SecretUpdate::default())
    });
    std::thread::sleep(pause);
    let v3_then_gone = spawn_write(&s, "queue", |_| {
        Ok(SecretUpdate {
            insert_version: Some(version("v3")),
            updated_at: 23,
            ..Default::default()
        })
    });
    std::thread::sleep(pause);
    let drop_v3 = spawn_write(&s, "queue", |st| {
        Ok(SecretUpdate {
            delete_versions: if has(st, "v3") {
                vec!["v3".into()]
            } else {
                Vec::new()
            },
            updated_at: 24,
            ..Default::default()
        })
    });
    for applied in [slow, drop_v1, reuse_v1, v3_then_gone] {
        assert!(matches!(
            applied.await.unwrap(),
            UpdateOutcome::Applied(Some(_))
        ));
    }
    assert!(matches!(
        again.await.unwrap(),
        UpdateOutcome::Rejected(Rejection::VersionExists { .. })
    ));
    let UpdateOutcome::Applied(Some(last)) = drop_v3.await.unwrap() else {
        panic!("the last write was not applied");
    };
    assert_eq!(last.description, "v1 again");
    assert_eq!(last.updated_at, 24);
    let rec = s.secret("queue").await.unwrap().unwrap();
    assert_eq!(rec.description, "v1 again");
    let ids: Vec<String> = s
        .versions(rec.id)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.version_id)
        .collect();
    assert_eq!(ids, ["v2", "v1"]);
    assert_eq!(
        s.version(&rec, "v1").await.unwrap().unwrap().ciphertext,
        [9, 9]
    );
}

async fn filtered_lists_match_names_descriptions_and_tags(f: Fixture) {
    let s = f.store.clone();
    for n in ["app-db", "app-cache", "other"] {
        let mut new = new_secret(n);
        new.secret.description = format!("for {n}");
        if n == "other" {
            new.tags = vec![TagRecord {
                key: "team".into(),
                value: "x".into(),
            }];
        }
        s.create_secret(new).await.unwrap();
    }
    let by_name = openkms_domain::filters::SecretFilter {
        name_contains: vec!["app-".into()],
        ..Default::default()
    };
    let (total, page) = s.list_secrets(&by_name, 1, 10).await.unwrap();
    assert_eq!(total, 2);
    assert_eq!(
        page.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["app-cache"]
    );
    let by_tag = openkms_domain::filters::SecretFilter {
        tag_keys: vec!["team".into()],
        description_contains: vec!["oth".into(), "nothing".into()],
        ..Default::default()
    };
    let (total, page) = s.list_secrets(&by_tag, 0, 10).await.unwrap();
    assert_eq!((total, page[0].name.as_str()), (1, "other"));
    // Substring matches are case-sensitive and take `%` and `_` literally.
    for needle in ["APP", "%", "_"] {
        let f = openkms_domain::filters::SecretFilter {
            name_contains: vec![needle.into()],
            ..Default::default()
        };
        assert_eq!(s.list_secrets(&f, 0, 10).await.unwrap().0, 0, "{needle}");
    }
    let ids: Vec<i64> = page.iter().map(|r| r.id).collect();
    let tags = s.tags_of(&ids).await.unwrap();
    assert_eq!(tags.len(), 1);
    assert_eq!(tags[0].1.key, "team");
    let rows = s
        .tag_rows(
            ResourceKind::Secret,
            &["other".into(), "app-db".into()],
            &[],
            0,
            10,
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0].resource_id, "app-db");
}

async fn a_second_initialisation_is_refused_and_writes_nothing(f: Fixture) {
    assert!(f.store.meta().await.unwrap().is_none());
    f.initialize().await;
    let mut again = bootstrap();
    again.meta.account_id = "9999999999999999".into();
    again.service_key.key_id = "svc2".into();
    assert!(matches!(
        f.store.initialize(again).await,
        Err(StoreError::AlreadyInitialized)
    ));
    let meta = f.store.meta().await.unwrap().unwrap();
    assert_eq!(meta.account_id, "1234567890123456");
    assert!(f.store.key("svc2").await.unwrap().is_none());
}

async fn rotation_leases_go_to_one_owner_until_they_expire(f: Fixture) {
    let s = f.store.clone();
    for n in ["r1", "r2", "r3"] {
        s.create_secret(new_secret(n)).await.unwrap();
    }
    for (n, next) in [("r1", 100), ("r2", 200), ("r3", 900)] {
        s.update_secret(
            n,
            Box::new(move |_| {
                Ok(SecretUpdate {
                    rotation: Some(RotationRecord {
                        enabled: true,
                        interval_secs: Some(3600),
                        next_at: Some(next),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
            }),
        )
        .await
        .unwrap();
    }
    // Two nodes claim at once: each due secret goes to exactly one.
    let (a, b) = tokio::join!(
        s.claim_due_rotations(300, "a", 400, 10),
        s.claim_due_rotations(300, "b", 400, 10)
    );
    let mut all = [a.unwrap(), b.unwrap()].concat();
    all.sort();
    assert_eq!(all, ["r1", "r2"]);
    assert!(s
        .claim_due_rotations(350, "c", 450, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(!s.claim_rotation("r1", 350, "c", 450).await.unwrap());
    // The owner may renew; after release or expiry another owner takes it.
    let r1_owner = if s.claim_rotation("r1", 350, "a", 500).await.unwrap() {
        "a"
    } else {
        "b"
    };
    s.release_rotation("r1", r1_owner).await.unwrap();
    assert!(s.claim_rotation("r1", 350, "c", 450).await.unwrap());
    assert_eq!(
        s.claim_due_rotations(400, "d", 500, 1).await.unwrap(),
        ["r2"],
        "r2's lease expired at 400; r1 is held by c"
    );
    assert!(!s.claim_rotation("missing", 0, "a", 1).await.unwrap());
}

async fn db_instances_register_once_and_are_forgotten(f: Fixture) {
    let s = f.store.clone();
    let rec = |id: &str| DbInstanceRecord {
        instance_id: id.into(),
        engine: Engine::Mysql,
        address: "127.0.0.1:3306".into(),
        admin_secret: "admin".into(),
        created_at: 3,
        tls_mode: TlsMode::Disabled,
        tls_ca: None,
    };
    // TLS settings and the CA's PEM text come back as written.
    let tls = DbInstanceRecord {
        address: "db.internal:3306".into(),
        tls_mode: TlsMode::VerifyIdentity,
        tls_ca: Some("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into()),
        ..rec("c")
    };
    assert!(s.add_db_instance(rec("b")).await.unwrap());
    assert!(s.add_db_instance(rec("a")).await.unwrap());
    assert!(s.add_db_instance(tls.clone()).await.unwrap());
    assert!(!s.add_db_instance(rec("a")).await.unwrap());
    assert_eq!(s.db_instance("a").await.unwrap(), Some(rec("a")));
    assert_eq!(s.db_instance("c").await.unwrap(), Some(tls.clone()));
    assert_eq!(s.db_instances().await.unwrap(), [rec("a"), rec("b"), tls]);
    assert!(s.remove_db_instance("a").await.unwrap());
    assert!(!s.remove_db_instance("a").await.unwrap());
    assert_eq!(s.db_instance("a").await.unwrap(), None);
}

// ---- RAM identities

fn user(name: &str) -> UserName {
    UserName::parse(name).unwrap()
}

fn policy_name(name: &str) -> PolicyName {
    PolicyName::parse(name).unwrap()
}

fn alice() -> UserRecord {
    UserRecord {
        user_name: user("alice"),
        user_id: "200000000000000001".into(),
        display_name: "Alice".into(),
        email: String::new(),
        mobile_phone: String::new(),
        comments: String::new(),
        created_at: 1,
        updated_at: 1,
    }
}

fn user_key(id: &str, user: &str) -> AccessKeyRecord {
    AccessKeyRecord {
        access_key_id: id.into(),
        sealed_secret: vec![1, 2, 3],
        root_id: "fp".into(),
        principal: format!("user/{user}"),
        status: AccessKeyStatus::Active,
        created_at: 2,
    }
}

async fn rename_carries_access_keys_and_attachments(f: Fixture) {
    let s = f.with_root().await;
    assert_eq!(
        s.create_user(alice()).await.unwrap(),
        CreateUserOutcome::Created
    );
    assert_eq!(
        s.create_user(alice()).await.unwrap(),
        CreateUserOutcome::Exists
    );
    s.create_user_access_key(&user("alice"), user_key("LTAI1", "alice"), 2)
        .await
        .unwrap();
    let alice_holder = Holder::User(user("alice"));
    s.attach_policy(
        &alice_holder,
        PolicyType::System,
        &policy_name("AliyunKMSFullAccess"),
        3,
    )
    .await
    .unwrap();
    let update = UserUpdate {
        new_user_name: Some(user("alicia")),
        display_name: None,
        email: None,
        mobile_phone: None,
        comments: None,
        updated_at: 4,
    };
    let UpdateUserOutcome::Updated(u) = s.update_user(&user("alice"), update).await.unwrap() else {
        panic!("rename failed");
    };
    assert_eq!(u.user_name, user("alicia"));
    assert_eq!(
        s.access_key("LTAI1").await.unwrap().unwrap().principal,
        "user/alicia"
    );
    let att = s
        .holder_attachments(&Holder::User(user("alicia")))
        .await
        .unwrap()
        .expect("the renamed user");
    assert_eq!(att.len(), 1);
    assert_eq!(att[0].policy_type, PolicyType::System);
    assert_eq!(
        s.holder_attachments(&alice_holder).await.unwrap(),
        None,
        "the old name is gone"
    );
    assert_eq!(
        s.delete_user(&user("alicia")).await.unwrap(),
        DeleteUserOutcome::HasAccessKeys
    );
}

async fn access_keys_are_limited_per_user(f: Fixture) {
    let s = f.with_root().await;
    s.create_user(alice()).await.unwrap();
    for id in ["A1", "A2"] {
        assert_eq!(
            s.create_user_access_key(&user("alice"), user_key(id, "alice"), 2)
                .await
                .unwrap(),
            CreateAccessKeyOutcome::Created
        );
    }
    assert_eq!(
        s.create_user_access_key(&user("alice"), user_key("A3", "alice"), 2)
            .await
            .unwrap(),
        CreateAccessKeyOutcome::LimitReached { limit: 2 }
    );
    assert_eq!(
        s.delete_user_access_key(&user("alice"), "A3")
            .await
            .unwrap(),
        ChangeAccessKeyOutcome::KeyNotFound
    );
    assert_eq!(
        s.set_access_key_status(&user("bob"), "A1", AccessKeyStatus::Inactive)
            .await
            .unwrap(),
        ChangeAccessKeyOutcome::UserNotFound
    );
    assert_eq!(
        s.set_access_key_status(&user("alice"), "A1", AccessKeyStatus::Inactive)
            .await
            .unwrap(),
        ChangeAccessKeyOutcome::Changed
    );
    assert_eq!(
        s.user_access_keys(&user("bob")).await.unwrap(),
        None,
        "no such user"
    );
}

async fn policy_versions_number_up_and_attached_policies_stay(f: Fixture) {
    let s = f.with_root().await;
    let app = policy_name("app");
    let p = PolicyRecord {
        policy_name: app.clone(),
        description: String::new(),
        default_version: "v1".into(),
        created_at: 1,
        updated_at: 1,
        attachment_count: 0,
    };
    s.create_policy(p.clone(), "{}".into()).await.unwrap();
    assert_eq!(
        s.create_policy(p, "{}".into()).await.unwrap(),
        CreatePolicyOutcome::Exists
    );
    let CreatePolicyVersionOutcome::Created(v) = s
        .create_policy_version(&app, "{\"v\":2}".into(), true, 2, 5)
        .await
        .unwrap()
    else {
        panic!("no version");
    };
    assert_eq!(v.version_id, "v2");
    let (rec, default) = s.policy(&app).await.unwrap().unwrap();
    assert_eq!(
        (rec.default_version.as_str(), default.document.as_str()),
        ("v2", "{\"v\":2}")
    );
    assert_eq!(
        s.set_default_policy_version(&app, "v9", 3).await.unwrap(),
        SetDefaultVersionOutcome::VersionNotFound
    );
    let (default, versions) = s.policy_versions(&app).await.unwrap().unwrap();
    assert_eq!(default, "v2");
    assert_eq!(versions.len(), 2);
    s.create_user(alice()).await.unwrap();
    let alice_holder = Holder::User(user("alice"));
    s.attach_policy(&alice_holder, PolicyType::Custom, &app, 3)
        .await
        .unwrap();
    assert_eq!(
        s.delete_policy(&app).await.unwrap(),
        DeletePolicyOutcome::Attached
    );
    assert_eq!(
        s.attach_policy(&alice_holder, PolicyType::Custom, &app, 3)
            .await
            .unwrap(),
        AttachOutcome::AlreadyAttached
    );
    assert_eq!(
        s.detach_policy(&alice_holder, PolicyType::Custom, &app)
            .await
            .unwrap(),
        DetachOutcome::Detached
    );
    assert_eq!(
        s.detach_policy(&alice_holder, PolicyType::Custom, &app)
            .await
            .unwrap(),
        DetachOutcome::NotAttached
    );
    assert_eq!(
        s.delete_policy(&app).await.unwrap(),
        DeletePolicyOutcome::Deleted
    );
    assert_eq!(s.policy(&app).await.unwrap(), None);
}

/// Two nodes create an access key for the same user at once, one slot left: one gets it.
async fn racing_access_key_creations_respect_the_limit(f: Fixture) {
    let s = f.with_root().await;
    s.create_user(alice()).await.unwrap();
    let alice_name = user("alice");
    s.create_user_access_key(&alice_name, user_key("A1", "alice"), 2)
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        s.create_user_access_key(&alice_name, user_key("A2", "alice"), 2),
        s.create_user_access_key(&alice_name, user_key("A3", "alice"), 2)
    );
    let mut outcomes = [a.unwrap(), b.unwrap()];
    outcomes.sort_by_key(|o| matches!(o, CreateAccessKeyOutcome::Created));
    assert_eq!(
        outcomes,
        [
            CreateAccessKeyOutcome::LimitReached { limit: 2 },
            CreateAccessKeyOutcome::Created
        ]
    );
    let keys = s.user_access_keys(&alice_name).await.unwrap().unwrap();
    assert_eq!(keys.len(), 2);
}

async fn roles_hold_policies_and_are_deleted_only_without_them(f: Fixture) {
    let s = f.with_root().await;
    let app = RoleName::parse("app").unwrap();
    let holder = Holder::Role(app.clone());
    let role = RoleRecord {
        role_name: app.clone(),
        role_id: "300000000000000001".into(),
        description: String::new(),
        trust_policy: "{}".into(),
        max_session_duration: 3600,
        created_at: 1,
        updated_at: 1,
    };
    assert_eq!(
        s.create_role(role.clone()).await.unwrap(),
        CreateRoleOutcome::Created
    );
    assert_eq!(
        s.create_role(role.clone()).await.unwrap(),
        CreateRoleOutcome::Exists
    );
    assert_eq!(
        s.attach_policy(&holder, PolicyType::Custom, &policy_name("missing"), 2)
            .await
            .unwrap(),
        AttachOutcome::PolicyNotFound
    );
    let full = policy_name("AliyunKMSFullAccess");
    s.attach_policy(&holder, PolicyType::System, &full, 2)
        .await
        .unwrap();
    assert_eq!(s.attachments_of("role/app").await.unwrap().len(), 1);
    assert_eq!(
        s.delete_role(&app).await.unwrap(),
        DeleteRoleOutcome::HasPolicies
    );
    s.detach_policy(&holder, PolicyType::System, &full)
        .await
        .unwrap();
    assert_eq!(
        s.delete_role(&app).await.unwrap(),
        DeleteRoleOutcome::Deleted
    );
    assert_eq!(s.role(&app).await.unwrap(), None);
    assert_eq!(
        s.attach_policy(&holder, PolicyType::System, &full, 2)
            .await
            .unwrap(),
        AttachOutcome::HolderNotFound
    );
    let (roles, more) = s.list_roles(None, 10).await.unwrap();
    assert!(roles.is_empty() && !more);
}

// ---- PostgreSQL only: what several nodes on one database share

impl Fixture {
    /// A second store on the same database and schema: another node.
    async fn second_node(&self) -> PgStore {
        let Raw::Postgres { url, schema, .. } = &self.raw else {
            panic!("a second node needs the PostgreSQL fixture");
        };
        let options = PgConnectOptions::from_str(url)
            .unwrap()
            .options([("search_path", schema.as_str())]);
        PgStore::connect_with(options).await.unwrap()
    }
}

#[tokio::test]
async fn postgres_nonces_are_single_use_across_nodes_until_purged() {
    let f = Fixture::postgres().await;
    let other = f.second_node().await;
    assert!(f.store.record_nonce("ak", "n1", 100).await.unwrap());
    assert!(!other.record_nonce("ak", "n1", 100).await.unwrap());
    assert!(other.record_nonce("ak2", "n1", 100).await.unwrap());
    assert!(other.record_nonce("ak", "n2", 200).await.unwrap());
    assert_eq!(f.store.purge_nonces(100).await.unwrap(), 2);
    assert!(f.store.record_nonce("ak", "n1", 300).await.unwrap());
    assert!(!f.store.record_nonce("ak", "n2", 300).await.unwrap());
}

#[tokio::test]
async fn sqlite_keeps_no_nonces_its_one_process_holds_the_window() {
    let f = Fixture::sqlite().await;
    assert!(f.store.record_nonce("ak", "n1", 100).await.unwrap());
    assert!(f.store.record_nonce("ak", "n1", 100).await.unwrap());
    assert_eq!(f.store.purge_nonces(100).await.unwrap(), 0);
}

/// Two nodes write one secret at once: every version lands, one ACSCurrent.
#[tokio::test]
async fn postgres_two_nodes_writing_one_secret_lose_nothing() {
    let f = Fixture::postgres().await;
    let other: Arc<dyn Store> = Arc::new(f.second_node().await);
    f.store.create_secret(new_secret("hot")).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let node = if i % 2 == 0 { &f.store } else { &other };
            put_current(node.clone(), "hot", format!("n{i}"))
        })
        .collect();
    all_applied(tasks).await;
    let rec = other.secret("hot").await.unwrap().unwrap();
    assert_eq!(other.versions(rec.id).await.unwrap().len(), 9);
    assert!(rec.stages.version_of("ACSCurrent").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_nonce_raced_from_two_nodes_is_new_exactly_once() {
    let f = Fixture::postgres().await;
    let other = Arc::new(f.second_node().await);
    let mut racers = Vec::new();
    // Several copies of each nonce, on both nodes at once: some land in one batch together.
    for i in 0..64 {
        let node: Arc<dyn Store> = if i % 2 == 0 {
            f.store.clone()
        } else {
            other.clone()
        };
        racers.push(tokio::spawn(async move {
            let nonce = format!("n{}", i % 8);
            (
                nonce.clone(),
                node.record_nonce("ak", &nonce, 100).await.unwrap(),
            )
        }));
    }
    let mut firsts = std::collections::HashMap::new();
    for r in racers {
        let (nonce, fresh) = r.await.unwrap();
        *firsts.entry(nonce).or_insert(0) += u32::from(fresh);
    }
    assert_eq!(firsts.len(), 8);
    assert!(firsts.values().all(|n| *n == 1), "{firsts:?}");
}

#[tokio::test]
async fn postgres_a_version_id_reused_on_one_node_is_read_afresh_on_the_other() {
    let f = Fixture::postgres().await;
    let other = f.second_node().await;
    f.store.create_secret(new_secret("reused")).await.unwrap();
    let seen = other.secret("reused").await.unwrap().unwrap();
    assert_eq!(
        other
            .version(&seen, "v1")
            .await
            .unwrap()
            .unwrap()
            .ciphertext,
        [3, 4]
    );
    // Node one drops v1, then writes a new v1: node two has the old one cached.
    for update in [
        SecretUpdate {
            insert_version: Some(version("v2")),
            delete_versions: vec!["v1".into()],
            updated_at: 20,
            ..Default::default()
        },
        SecretUpdate {
            insert_version: Some(VersionRecord {
                ciphertext: vec![7],
                ..version("v1")
            }),
            updated_at: 21,
            ..Default::default()
        },
    ] {
        f.store
            .update_secret("reused", Box::new(move |_| Ok(update.clone())))
            .await
            .unwrap();
    }
    let now = other.secret("reused").await.unwrap().unwrap();
    assert_ne!(now.revision, seen.revision);
    assert_eq!(
        other.version(&now, "v1").await.unwrap().unwrap().ciphertext,
        [7]
    );
}

async fn root_keys_change_one_at_a_time_and_the_last_active_one_stays(f: Fixture) {
    f.initialize().await;
    let s = f.store.clone();
    let mut second = user_key("AK2", "x");
    second.principal = "root".into();
    second.created_at = 5;
    s.insert_access_key(second).await.unwrap();
    s.create_user(alice()).await.unwrap();
    s.create_user_access_key(&user("alice"), user_key("U1", "alice"), 2)
        .await
        .unwrap();
    let ids = |keys: Vec<AccessKeyRecord>| {
        keys.into_iter()
            .map(|k| (k.access_key_id, k.status))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(s.root_access_keys().await.unwrap()),
        [
            ("ak".into(), AccessKeyStatus::Active),
            ("AK2".into(), AccessKeyStatus::Active)
        ],
        "root keys only, oldest first"
    );
    // A user's key is not a root key, whatever the id.
    assert_eq!(
        s.change_root_access_key("U1", None).await.unwrap(),
        RootKeyChange::NotFound
    );
    assert_eq!(
        s.change_root_access_key("ak", Some(AccessKeyStatus::Inactive))
            .await
            .unwrap(),
        RootKeyChange::Done
    );
    // AK2 is now the only active one: neither disabled nor deleted.
    for change in [Some(AccessKeyStatus::Inactive), None] {
        assert_eq!(
            s.change_root_access_key("AK2", change).await.unwrap(),
            RootKeyChange::LastActive
        );
    }
    // An inactive key may go; re-enabling is always allowed.
    assert_eq!(
        s.change_root_access_key("ak", Some(AccessKeyStatus::Active))
            .await
            .unwrap(),
        RootKeyChange::Done
    );
    assert_eq!(
        s.change_root_access_key("AK2", None).await.unwrap(),
        RootKeyChange::Done
    );
    assert_eq!(
        ids(s.root_access_keys().await.unwrap()),
        [("ak".into(), AccessKeyStatus::Active)]
    );
    assert!(s.access_key("U1").await.unwrap().is_some());
}
