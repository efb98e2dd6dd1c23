use super::*;
use openkms_domain::secret::Rejection;

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

/// Sets a key's state behind the store's back, as a write that committed earlier would.
fn set_key_state(dir: &tempfile::TempDir, key_id: &str, state: &str) {
    let c = Connection::open(dir.path().join("t.db")).unwrap();
    c.execute(
        "UPDATE keys SET key_state = ?2 WHERE key_id = ?1",
        params![key_id, state],
    )
    .unwrap();
}

fn version(id: &str) -> VersionRecord {
    VersionRecord {
        version_id: id.into(),
        data_type: "text".into(),
        key_id: "k".into(),
        key_version_id: "kv".into(),
        wrapped_key: vec![1, 2],
        ciphertext: vec![3, 4],
        created_at: 10,
    }
}

fn new_secret(name: &str) -> NewSecret {
    NewSecret {
        secret: SecretRecord {
            id: 0,
            name: name.into(),
            secret_type: "Generic".into(),
            description: String::new(),
            encryption_key_id: None,
            dkms_instance_id: None,
            extended_config: None,
            rotation: RotationRecord::default(),
            policy: "{}".into(),
            stages: StageMap::initial("v1"),
            created_at: 10,
            updated_at: 10,
            planned_delete_at: None,
        },
        tags: vec![TagRecord {
            key: "a".into(),
            value: "b".into(),
        }],
        first_version: version("v1"),
    }
}

use openkms_domain::stages::StageMap;

#[tokio::test]
async fn create_then_read_back_secret_version_and_tags() {
    let (_d, s) = store();
    assert_eq!(
        s.create_secret(new_secret("db")).await.unwrap(),
        CreateOutcome::Created
    );
    let rec = s.secret("db").await.unwrap().unwrap();
    assert_eq!(rec.stages.version_of("ACSCurrent"), Some("v1"));
    assert_eq!(
        *s.version(rec.id, "v1").await.unwrap().unwrap(),
        version("v1")
    );
    assert_eq!(s.secret_tags(rec.id).await.unwrap().len(), 1);
    assert!(s.version(rec.id, "v2").await.unwrap().is_none());
}

#[tokio::test]
async fn second_create_of_a_name_reports_it_taken() {
    let (_d, s) = store();
    s.create_secret(new_secret("db")).await.unwrap();
    assert_eq!(
        s.create_secret(new_secret("db")).await.unwrap(),
        CreateOutcome::NameTaken {
            pending_deletion: false
        }
    );
}

#[tokio::test]
async fn rejected_plan_writes_nothing() {
    let (_d, s) = store();
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

#[tokio::test]
async fn update_inserts_version_moves_stages_and_purge_removes_all() {
    let (_d, s) = store();
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
    assert!(s.version(rec.id, "v1").await.unwrap().is_none());
}

#[tokio::test]
async fn purge_expired_removes_only_due_secrets() {
    let (_d, s) = store();
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

#[tokio::test]
async fn concurrent_writers_share_commits_and_all_land() {
    let (_d, s) = store();
    let s = std::sync::Arc::new(s);
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

#[tokio::test]
async fn update_persists_extended_config_rotation_policy_and_restore() {
    let (_d, s) = store();
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

#[tokio::test]
async fn tag_changes_are_all_or_nothing_across_resources() {
    let (_d, s) = store();
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

#[tokio::test]
async fn cached_reads_see_every_acknowledged_write() {
    let (_d, s) = store();
    s.create_secret(new_secret("db")).await.unwrap();
    // Warm the cache, then write through the store.
    let before = s.secret("db").await.unwrap().unwrap();
    assert_eq!(
        s.version(before.id, "v1")
            .await
            .unwrap()
            .unwrap()
            .version_id,
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
        s.version(after.id, "v1").await.unwrap().is_none(),
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

#[tokio::test]
async fn unfiltered_list_total_follows_creates_and_purges() {
    let (_d, s) = store();
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
        key_spec: "Aliyun_AES_256".into(),
        key_usage: "ENCRYPT/DECRYPT".into(),
        key_state: "Enabled".into(),
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

/// A store initialised with the service key `svc`.
async fn store_with_service_key() -> (tempfile::TempDir, SqliteStore) {
    let (d, s) = store();
    s.initialize(Bootstrap {
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
            status: "Active".into(),
            created_at: 1,
        }],
        root: RootRecord {
            root_id: "fp".into(),
            kind: "file".into(),
            locator: None,
            state: "active".into(),
            created_at: 1,
        },
    })
    .await
    .unwrap();
    (d, s)
}

#[tokio::test]
async fn keys_are_created_listed_in_order_and_the_service_key_is_not_listed() {
    let (_d, s) = store_with_service_key().await;
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

#[tokio::test]
async fn key_plan_sees_protected_secrets_and_a_rejection_writes_nothing() {
    let (_d, s) = store_with_service_key().await;
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
                    key_state: Some("PendingDeletion".into()),
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
        (k.key_state.as_str(), k.delete_at, k.description.as_str()),
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

#[tokio::test]
async fn aliases_are_unique_movable_and_listed_by_name() {
    let (_d, s) = store_with_service_key().await;
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
    assert_eq!(
        s.update_alias("alias/b", "k2").await.unwrap(),
        AliasOutcome::Applied
    );
    assert_eq!(
        s.update_alias("alias/zz", "k2").await.unwrap(),
        AliasOutcome::NotFound
    );
    let (n, of_k2) = s.aliases(Some("k2"), 0, 1).await.unwrap();
    assert_eq!((n, of_k2), (2, vec![rec("alias/a", "k2")]));
    assert_eq!(s.aliases(Some("k1"), 0, 10).await.unwrap().0, 0);
    assert_eq!(
        s.delete_alias("alias/a").await.unwrap(),
        AliasOutcome::Applied
    );
    assert_eq!(
        s.delete_alias("alias/a").await.unwrap(),
        AliasOutcome::NotFound
    );
    assert_eq!(s.alias("alias/a").await.unwrap(), None);
}

#[tokio::test]
async fn a_version_is_refused_when_its_key_stopped_being_usable_before_the_write() {
    use openkms_domain::key::KeyRejection;
    let (d, s) = store();
    s.create_secret(new_secret("a")).await.unwrap();
    // The service checked the key before sealing; the key changed before the write ran.
    set_key_state(&d, "k", "Disabled");
    assert_eq!(
        s.create_secret(new_secret("b")).await.unwrap(),
        CreateOutcome::SealingKeyRefused(SealingKeyRefusal::State(KeyRejection::Disabled))
    );
    assert!(s.secret("b").await.unwrap().is_none());
    set_key_state(&d, "k", "PendingDeletion");
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

/// ScheduleKeyDeletion and CreateSecret issued together, both before either commits: the
/// writer runs them one after the other in the same commit group, and the second sees the
/// first. Either order leaves no secret under a key pending deletion.
#[tokio::test]
async fn racing_key_deletion_and_secret_create_never_both_succeed() {
    for deletion_first in [true, false] {
        let (_d, s) = store();
        let schedule = s.update_key(
            "k",
            Box::new(|st: &KeyPlanState| {
                if st.protected_secrets > 0 {
                    return Err(openkms_domain::key::KeyRejection::ProtectsSecrets {
                        secrets: st.protected_secrets,
                    });
                }
                Ok(KeyUpdate {
                    key_state: Some("PendingDeletion".into()),
                    delete_at: Some(Some(99)),
                    ..KeyUpdate::default()
                })
            }),
        );
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

fn second_version(key_id: &str, at: i64) -> KeyVersionRecord {
    KeyVersionRecord {
        key_id: key_id.into(),
        version_id: format!("{key_id}-v2"),
        wrapped_material: vec![8; 60],
        root_id: "fp".into(),
        created_at: at,
    }
}

#[tokio::test]
async fn a_new_key_version_becomes_primary_and_a_rejected_one_writes_nothing() {
    use openkms_domain::key::KeyRejection;
    let (_d, s) = store_with_service_key().await;
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

#[tokio::test]
async fn keys_due_for_rotation_are_enabled_user_keys_one_interval_after_their_last_rotation() {
    let (_d, s) = store_with_service_key().await;
    let mut due = key_record("due", "u");
    due.rotation_interval_secs = Some(100);
    let mut off = key_record("off", "u");
    off.key_state = "Disabled".into();
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

#[tokio::test]
async fn destroying_expired_keys_removes_versions_aliases_and_tags_but_keeps_keys_in_use() {
    let (_d, s) = store_with_service_key().await;
    let pending = |id: &str, at: i64| {
        let mut k = key_record(id, "u");
        k.key_state = "PendingDeletion".into();
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
    let c = Connection::open(_d.path().join("t.db")).unwrap();
    c.execute_batch("UPDATE keys SET key_state = 'Enabled' WHERE key_id = 'used';")
        .unwrap();
    let mut secret = new_secret("db");
    secret.secret.encryption_key_id = Some("used".into());
    secret.first_version.key_id = "used".into();
    s.create_secret(secret).await.unwrap();
    c.execute_batch("UPDATE keys SET key_state = 'PendingDeletion' WHERE key_id = 'used';")
        .unwrap();

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
        state: "active".into(),
        created_at: 5,
    }
}

#[tokio::test]
async fn rekey_moves_rows_one_by_one_and_retires_the_old_root_only_when_none_is_left() {
    let (_d, s) = store_with_service_key().await;
    assert_eq!(s.roots().await.unwrap()[0].state, "active");
    assert!(s.rows_to_rewrap().await.unwrap().is_empty());
    assert!(s.retire_roots().await.unwrap());

    s.activate_root(root_record("new")).await.unwrap();
    let roots = s.roots().await.unwrap();
    assert_eq!(
        roots
            .iter()
            .map(|r| (r.root_id.as_str(), r.state.as_str()))
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
    assert_eq!(s.roots().await.unwrap()[1].state, "retired");
}

#[tokio::test]
async fn no_row_can_be_written_under_a_retired_or_unknown_root() {
    let (_d, s) = store_with_service_key().await;
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

#[tokio::test]
async fn reactivating_a_known_root_keeps_its_locator_and_demotes_the_other() {
    let (_d, s) = store_with_service_key().await;
    s.set_root_locator("fp", "/keys/fp").await.unwrap();
    s.activate_root(root_record("new")).await.unwrap();
    let mut back = root_record("fp");
    back.locator = None;
    s.activate_root(back).await.unwrap();
    let roots = s.roots().await.unwrap();
    assert_eq!(roots[0].root_id, "fp");
    assert_eq!(roots[0].locator.as_deref(), Some("/keys/fp"));
    assert_eq!(roots[1].state, "retiring");
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
            roots[0].state.as_str()
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
