//! Managed rotation against the machine's MariaDB (OPENKMS_TEST_MYSQL, set by scripts/test):
//! a crash after each step is repaired by the next scheduler pass, automatic rotation runs
//! when due, a target that is down is retried with backoff, and two nodes sharing a store
//! run one due rotation once.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use openkms_rotation::{Credential, Engine, Target, TlsMode};
use openkms_service::rotation::{DbInstanceInput, RotationPass, RotationStep, TlsInput};
use openkms_service::secrets::{CreateSecretInput, GetSecretValueInput, VersionInput};
use openkms_service::{Error, Service};
use sqlx::{Connection, Executor};

mod common;

use common::{caller, start, FakeClock};

const T0: i64 = 1_800_000_000;
const HOUR: i64 = 3_600;

fn mysql_address() -> String {
    std::env::var("OPENKMS_TEST_MYSQL").expect(
        "OPENKMS_TEST_MYSQL is not set: run scripts/test, or eval \"$(scripts/rotation-targets-env)\"",
    )
}

/// A fresh MariaDB account with a known password.
async fn create_account(password: &str) -> String {
    let name = format!("okt_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let url = format!("mysql://root@{}", mysql_address());
    let mut conn = sqlx::MySqlConnection::connect(&url).await.unwrap();
    conn.execute(sqlx::raw_sql(&format!(
        "CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'"
    )))
    .await
    .unwrap();
    conn.execute(sqlx::raw_sql(&format!(
        "GRANT SELECT ON test.* TO '{name}'@'%'"
    )))
    .await
    .unwrap();
    name
}

async fn logs_in(account: &str, password: &str) -> bool {
    let target = Target::new(Engine::Mysql, &mysql_address(), TlsMode::Disabled, None).unwrap();
    target
        .verify(Credential { account, password })
        .await
        .is_ok()
}

/// Registers the machine's MariaDB (or `address`) under a new id with a root admin secret.
async fn register(svc: &Service, address: &str) -> String {
    let id = format!("rm-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let admin = format!("admin/{id}");
    svc.create_secret(
        &caller(),
        CreateSecretInput {
            secret_name: &admin,
            version: VersionInput {
                version_id: "v1",
                secret_data: r#"{"AccountName":"root","AccountPassword":""}"#,
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await
    .unwrap();
    svc.add_db_instance(
        &caller(),
        DbInstanceInput {
            instance_id: &id,
            engine: "mysql",
            address,
            admin_secret: &admin,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    id
}

async fn create_rds(
    svc: &Service,
    instance: &str,
    sub_type: &str,
    account: &str,
    password: &str,
    interval: Option<&str>,
) -> String {
    let name = format!("rds/{}", uuid::Uuid::new_v4().simple());
    let data =
        format!(r#"{{"Accounts":[{{"AccountName":"{account}","AccountPassword":"{password}"}}]}}"#);
    let config = format!(r#"{{"SecretSubType":"{sub_type}","DBInstanceId":"{instance}"}}"#);
    svc.create_secret(
        &caller(),
        CreateSecretInput {
            secret_name: &name,
            version: VersionInput {
                version_id: "v1",
                secret_data: &data,
                ..Default::default()
            },
            secret_type: Some("Rds"),
            extended_config: Some(&config),
            enable_automatic_rotation: interval.map(|_| true),
            rotation_interval: interval,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    name
}

/// (version id, account, password) of the version carrying `stage`.
async fn credential(svc: &Service, name: &str, stage: &str) -> Option<(String, String, String)> {
    let got = svc
        .get_secret_value(
            &caller(),
            GetSecretValueInput {
                secret_name: name,
                version_stage: Some(stage),
                ..Default::default()
            },
        )
        .await;
    let value = match got {
        Ok(v) => v,
        Err(Error::StageNotFound { .. }) => return None,
        Err(e) => panic!("reading {stage}: {e:?}"),
    };
    let json: serde_json::Value = serde_json::from_slice(value.data.expose_secret()).unwrap();
    let json = json.get("Accounts").map_or(json.clone(), |a| a[0].clone());
    Some((
        value.version_id().to_owned(),
        json["AccountName"].as_str().unwrap().to_owned(),
        json["AccountPassword"].as_str().unwrap().to_owned(),
    ))
}

async fn current_logs_in(svc: &Service, name: &str) -> bool {
    let (_, account, password) = credential(svc, name, "ACSCurrent").await.unwrap();
    logs_in(&account, &password).await
}

#[tokio::test]
async fn a_crash_after_any_step_is_finished_by_the_next_scheduler_pass() {
    let dir = tempfile::tempdir().unwrap();
    let svc = start(dir.path(), FakeClock::at(T0)).await;
    let instance = register(&svc, &mysql_address()).await;
    for (stop, sub_type) in [
        (RotationStep::Pending, "SingleUser"),
        (RotationStep::Applied, "SingleUser"),
        (RotationStep::Verified, "SingleUser"),
        (RotationStep::Pending, "DoubleUsers"),
        (RotationStep::Applied, "DoubleUsers"),
        (RotationStep::Verified, "DoubleUsers"),
    ] {
        let account = create_account("Start1234").await;
        let name = create_rds(&svc, &instance, sub_type, &account, "Start1234", None).await;
        svc.rotate_secret_until(&name, "r1", stop).await.unwrap();
        // The "crash": ACSCurrent is still the first version, the new one waits as ACSPending.
        let (current, ..) = credential(&svc, &name, "ACSCurrent").await.unwrap();
        assert_eq!(current, "v1", "{stop:?} {sub_type}");
        let (pending, ..) = credential(&svc, &name, "ACSPending").await.unwrap();
        assert_eq!(pending, "r1");
        if sub_type == "DoubleUsers" {
            assert!(
                current_logs_in(&svc, &name).await,
                "{stop:?}: ACSCurrent must log in"
            );
        }

        let pass = svc.run_due_rotations().await.unwrap();
        assert_eq!(
            pass,
            RotationPass {
                rotated: 1,
                failed: 0
            },
            "{stop:?} {sub_type}"
        );
        let (current, ..) = credential(&svc, &name, "ACSCurrent").await.unwrap();
        assert_eq!(current, "r1", "{stop:?} {sub_type}");
        assert!(credential(&svc, &name, "ACSPending").await.is_none());
        assert!(current_logs_in(&svc, &name).await, "{stop:?} {sub_type}");
        let (prev, prev_account, prev_password) =
            credential(&svc, &name, "ACSPrevious").await.unwrap();
        assert_eq!(prev, "v1");
        assert_eq!(
            logs_in(&prev_account, &prev_password).await,
            sub_type == "DoubleUsers",
            "{stop:?}: the previous credential works only with two users"
        );
        // Nothing is left to resume.
        assert_eq!(
            svc.run_due_rotations().await.unwrap(),
            RotationPass::default()
        );
    }
}

#[tokio::test]
async fn automatic_rotation_runs_when_due_and_moves_the_dates() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::at(T0);
    let svc = start(dir.path(), clock.clone()).await;
    let instance = register(&svc, &mysql_address()).await;
    let account = create_account("Start1234").await;
    let name = create_rds(
        &svc,
        &instance,
        "SingleUser",
        &account,
        "Start1234",
        Some("6h"),
    )
    .await;

    assert_eq!(
        svc.run_due_rotations().await.unwrap(),
        RotationPass::default()
    );
    clock.set(T0 + 6 * HOUR - 1);
    assert_eq!(
        svc.run_due_rotations().await.unwrap(),
        RotationPass::default()
    );
    clock.set(T0 + 6 * HOUR);
    assert_eq!(svc.run_due_rotations().await.unwrap().rotated, 1);
    let (version, account_now, password) = credential(&svc, &name, "ACSCurrent").await.unwrap();
    assert_ne!(version, "v1");
    assert_eq!(account_now, account);
    assert!(logs_in(&account, &password).await);
    assert!(!logs_in(&account, "Start1234").await);

    let secret = svc
        .describe_secret(&caller(), &name, false)
        .await
        .unwrap()
        .secret;
    assert_eq!(secret.rotation.last_at, Some(T0 + 6 * HOUR));
    assert_eq!(secret.rotation.next_at, Some(T0 + 12 * HOUR));
    assert_eq!(
        svc.run_due_rotations().await.unwrap(),
        RotationPass::default()
    );
}

#[tokio::test]
async fn a_target_that_is_down_is_retried_with_backoff_and_then_rotates() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::at(T0);
    let svc = start(dir.path(), clock.clone()).await;
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap().to_string();
    drop(closed);
    let instance = register(&svc, &dead).await;
    let account = create_account("Start1234").await;
    let name = create_rds(
        &svc,
        &instance,
        "SingleUser",
        &account,
        "Start1234",
        Some("6h"),
    )
    .await;

    clock.set(T0 + 6 * HOUR);
    assert_eq!(svc.run_due_rotations().await.unwrap().failed, 1);
    let secret = svc
        .describe_secret(&caller(), &name, false)
        .await
        .unwrap()
        .secret;
    assert_eq!(secret.rotation.status, "Invalid");
    assert!(secret
        .rotation
        .last_error
        .as_deref()
        .unwrap()
        .contains("unreachable"));
    // The working credential is untouched.
    let (version, ..) = credential(&svc, &name, "ACSCurrent").await.unwrap();
    assert_eq!(version, "v1");
    assert!(logs_in(&account, "Start1234").await);
    // Backoff: not retried at once.
    assert_eq!(
        svc.run_due_rotations().await.unwrap(),
        RotationPass::default()
    );

    // The target comes back (re-registered at its real address) and the retry succeeds.
    svc.remove_db_instance(&caller(), &instance).await.unwrap();
    svc.add_db_instance(
        &caller(),
        DbInstanceInput {
            instance_id: &instance,
            engine: "mysql",
            address: &mysql_address(),
            admin_secret: &format!("admin/{instance}"),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    clock.set(T0 + 6 * HOUR + 31);
    assert_eq!(svc.run_due_rotations().await.unwrap().rotated, 1);
    let secret = svc
        .describe_secret(&caller(), &name, false)
        .await
        .unwrap()
        .secret;
    assert_eq!(secret.rotation.status, "Enabled");
    assert!(current_logs_in(&svc, &name).await);
    assert!(!logs_in(&account, "Start1234").await);
}

#[tokio::test]
async fn two_nodes_on_one_store_run_a_due_rotation_once() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::at(T0);
    let a = Arc::new(start(dir.path(), clock.clone()).await);
    let b = Arc::new(start(dir.path(), clock.clone()).await);
    let instance = register(&a, &mysql_address()).await;
    let mut names = Vec::new();
    for _ in 0..4 {
        let account = create_account("Start1234").await;
        names.push(
            create_rds(
                &a,
                &instance,
                "DoubleUsers",
                &account,
                "Start1234",
                Some("6h"),
            )
            .await,
        );
    }
    clock.set(T0 + 6 * HOUR);
    let (pa, pb) = tokio::join!(a.run_due_rotations(), b.run_due_rotations());
    let (pa, pb) = (pa.unwrap(), pb.unwrap());
    assert_eq!(pa.rotated + pb.rotated, 4, "{pa:?} {pb:?}");
    assert_eq!(pa.failed + pb.failed, 0);
    for name in &names {
        let listing = a
            .list_secret_versions(&caller(), name, true, None, None)
            .await
            .unwrap();
        assert_eq!(listing.total_count, 2, "{name}: one rotation, not two");
        assert!(current_logs_in(&a, name).await);
    }
}

#[tokio::test]
async fn ram_credentials_rotation_keeps_the_previous_key_and_deletes_the_one_before() {
    use openkms_service::iam::NewUser;

    let dir = tempfile::tempdir().unwrap();
    let svc = start(dir.path(), FakeClock::at(T0)).await;
    svc.create_user(
        &caller(),
        NewUser {
            user_name: "app",
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let first = svc.create_access_key(&caller(), "app").await.unwrap();
    let data = format!(
        r#"{{"AccessKeys":[{{"AccessKeyId":"{}","AccessKeySecret":"{}"}}]}}"#,
        first.key.access_key_id,
        first.secret.as_str()
    );
    svc.create_secret(
        &caller(),
        CreateSecretInput {
            secret_name: "$Auto",
            version: VersionInput {
                version_id: "v1",
                secret_data: &data,
                ..Default::default()
            },
            secret_type: Some("RAMCredentials"),
            extended_config: Some(r#"{"SecretSubType":"RamUserAccessKey","UserName":"app"}"#),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let name = "acs/ram/user/app";
    let key_at = |stage: &'static str| {
        let svc = &svc;
        async move {
            let v = svc
                .get_secret_value(
                    &caller(),
                    GetSecretValueInput {
                        secret_name: name,
                        version_stage: Some(stage),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            let json: serde_json::Value = serde_json::from_slice(v.data.expose_secret()).unwrap();
            assert!(json["GenerateTimestamp"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z')));
            json["AccessKeyId"].as_str().unwrap().to_owned()
        }
    };
    let active = |id: String| {
        let svc = &svc;
        async move { svc.access_key(&id).await.unwrap().is_some_and(|e| e.active) }
    };

    svc.rotate_secret(&caller(), name, "r1").await.unwrap();
    let k1 = key_at("ACSCurrent").await;
    assert_ne!(k1, first.key.access_key_id);
    assert!(active(k1.clone()).await);
    assert!(
        active(first.key.access_key_id.clone()).await,
        "the previous key still works"
    );

    // A crash after the new key was stored: the scheduler finishes the rotation.
    svc.rotate_secret_until(name, "r2", RotationStep::Pending)
        .await
        .unwrap();
    assert_eq!(svc.run_due_rotations().await.unwrap().rotated, 1);
    let k2 = key_at("ACSCurrent").await;
    assert_eq!(key_at("ACSPrevious").await, k1);
    assert!(active(k2.clone()).await && active(k1.clone()).await);
    assert!(
        svc.access_key(&first.key.access_key_id)
            .await
            .unwrap()
            .is_none(),
        "the key before the previous is deleted"
    );
    let keys: Vec<String> = svc
        .list_access_keys(&caller(), "app")
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.access_key_id)
        .collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
}

#[tokio::test]
async fn a_due_secret_that_cannot_rotate_backs_off_instead_of_retrying_every_pass() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::at(T0);
    let svc = start(dir.path(), clock.clone()).await;
    svc.create_secret(
        &caller(),
        CreateSecretInput {
            secret_name: "acs/ecs/host1",
            version: VersionInput {
                version_id: "v1",
                secret_data: r#"{"UserName":"root","Password":"pw"}"#,
                ..Default::default()
            },
            secret_type: Some("ECS"),
            extended_config: Some(
                r#"{"SecretSubType":"Password","RegionId":"cn-hangzhou","InstanceId":"i-1"}"#,
            ),
            enable_automatic_rotation: Some(true),
            rotation_interval: Some("6h"),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    clock.set(T0 + 6 * HOUR);
    assert_eq!(svc.run_due_rotations().await.unwrap().failed, 1);
    assert_eq!(
        svc.run_due_rotations().await.unwrap(),
        RotationPass::default()
    );
    let secret = svc
        .describe_secret(&caller(), "acs/ecs/host1", false)
        .await
        .unwrap()
        .secret;
    assert_eq!(secret.rotation.status, "Invalid");
}

/// The service, not the CLI, decides the TLS mode of a registration that names none, so every
/// caller gets the same: verify-identity, or disabled on a loopback host.
#[tokio::test]
async fn a_registration_without_a_tls_mode_gets_the_secure_default() {
    let dir = tempfile::tempdir().unwrap();
    let svc = start(dir.path(), FakeClock::at(T0)).await;
    let admin = format!("admin/{}", uuid::Uuid::new_v4().simple());
    svc.create_secret(
        &caller(),
        CreateSecretInput {
            secret_name: &admin,
            version: VersionInput {
                version_id: "v1",
                secret_data: r#"{"AccountName":"root","AccountPassword":""}"#,
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let add = |id: &'static str, address: &'static str, tls_mode: Option<&'static str>| {
        let svc = &svc;
        let admin = admin.clone();
        async move {
            svc.add_db_instance(
                &caller(),
                DbInstanceInput {
                    instance_id: id,
                    engine: "mysql",
                    address,
                    admin_secret: &admin,
                    tls: TlsInput {
                        mode: tls_mode,
                        ca: None,
                    },
                },
            )
            .await
        }
    };
    let remote = add("rm-remote", "db.internal:3306", None).await.unwrap();
    assert_eq!(
        (remote.tls_mode.as_str(), remote.tls_ca_configured),
        ("verify-identity", false)
    );
    let local = add("rm-local", "127.0.0.1:3306", None).await.unwrap();
    assert_eq!(local.tls_mode, "disabled");
    let asked = add("rm-asked", "db.internal:3306", Some("disabled"))
        .await
        .unwrap();
    assert_eq!(asked.tls_mode, "disabled");
    let err = add("rm-bad", "db.internal:3306", Some("verify-full"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    assert!(err.to_string().contains("TlsMode"), "{err}");
    let stored = svc.list_db_instances(&caller()).await.unwrap();
    assert_eq!(stored.len(), 3);
}
