//! Managed rotation acts with openkms's authority, so pointing a managed secret at a credential,
//! rotating it, or turning its automatic rotation on needs the caller's rights over that
//! credential, from its identity policies: a secret administrator cannot use openkms as a
//! confused deputy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use openkms_service::iam::NewUser;
use openkms_service::secrets::{CreateSecretInput, RotationPolicyInput, VersionInput};
use openkms_service::{Caller, Error, Service};

const ACCOUNT: &str = "1234567890123456";

async fn user(service: &Service, name: &str, policies: &[(&str, &str)]) -> Caller {
    let root = common::caller();
    service
        .create_user(
            &root,
            NewUser {
                user_name: name,
                ..NewUser::default()
            },
        )
        .await
        .unwrap();
    for (i, (kind, policy)) in policies.iter().enumerate() {
        let policy_name = if *kind == "System" {
            (*policy).to_owned()
        } else {
            let n = format!("{name}-{i}");
            service
                .create_policy(&root, &n, policy, None)
                .await
                .unwrap();
            n
        };
        service
            .attach_policy_to_user(&root, name, kind, &policy_name)
            .await
            .unwrap();
    }
    Caller {
        access_key_id: format!("LTAI{name}"),
        principal: format!("user/{name}"),
        source_ip: None,
        session: None,
    }
}

async fn ram_secret(service: &Service, caller: &Caller, target: &str) -> Result<(), Error> {
    let config = format!(r#"{{"SecretSubType":"RamUserAccessKey","UserName":"{target}"}}"#);
    service
        .create_secret(
            caller,
            CreateSecretInput {
                secret_name: &format!("acs/ram/user/{target}"),
                version: VersionInput {
                    version_id: "v1",
                    secret_data: r#"{"AccessKeys":[{"AccessKeyId":"LTAIx","AccessKeySecret":"y"}]}"#,
                    ..Default::default()
                },
                secret_type: Some("RAMCredentials"),
                extended_config: Some(&config),
                ..Default::default()
            },
        )
        .await
        .map(|_| ())
}

fn refused(result: Result<(), Error>, action: &str, resource: &str) {
    match result {
        Err(Error::NoPermission {
            action: a,
            resource: r,
        }) => assert_eq!((a.as_str(), r.as_str()), (action, resource)),
        Err(other) => panic!("expected NoPermission, got {other:?}"),
        Ok(()) => panic!("expected NoPermission, got success"),
    }
}

#[tokio::test]
async fn a_ram_credentials_secret_needs_the_four_access_key_actions_on_its_user() {
    let dir = tempfile::tempdir().unwrap();
    let service = common::start(dir.path(), common::FakeClock::at(1_700_000_000)).await;
    let root = common::caller();
    for name in ["victim", "mine"] {
        service
            .create_user(
                &root,
                NewUser {
                    user_name: name,
                    ..NewUser::default()
                },
            )
            .await
            .unwrap();
    }
    let admin = user(
        &service,
        "admin",
        &[("System", "AliyunKMSSecretAdminAccess")],
    )
    .await;
    refused(
        ram_secret(&service, &admin, "victim").await,
        "ram:CreateAccessKey",
        &format!("acs:ram::{ACCOUNT}:user/victim"),
    );
    let three = format!(
        r#"{{"Version":"1","Statement":[{{"Effect":"Allow","Action":["ram:CreateAccessKey","ram:DeleteAccessKey","ram:UpdateAccessKey"],"Resource":"acs:ram::{ACCOUNT}:user/mine"}}]}}"#
    );
    let partial = user(
        &service,
        "partial",
        &[("System", "AliyunKMSSecretAdminAccess"), ("Custom", &three)],
    )
    .await;
    refused(
        ram_secret(&service, &partial, "mine").await,
        "ram:ListAccessKeys",
        &format!("acs:ram::{ACCOUNT}:user/mine"),
    );
    let four = three.replace(
        r#""ram:UpdateAccessKey"]"#,
        r#""ram:UpdateAccessKey","ram:ListAccessKeys"]"#,
    );
    let granted = user(
        &service,
        "granted",
        &[("System", "AliyunKMSSecretAdminAccess"), ("Custom", &four)],
    )
    .await;
    ram_secret(&service, &granted, "mine").await.unwrap();
    refused(
        ram_secret(&service, &granted, "victim").await,
        "ram:CreateAccessKey",
        &format!("acs:ram::{ACCOUNT}:user/victim"),
    );
    // Rotating it, or turning its rotation on, needs the same rights: the admin has none.
    ram_secret(&service, &root, "victim").await.unwrap();
    refused(
        service
            .rotate_secret(&admin, "acs/ram/user/victim", "r1")
            .await
            .map(|_| ()),
        "ram:CreateAccessKey",
        &format!("acs:ram::{ACCOUNT}:user/victim"),
    );
    refused(
        service
            .update_secret_rotation_policy(
                &admin,
                RotationPolicyInput {
                    secret_name: "acs/ram/user/victim",
                    enable_automatic_rotation: true,
                    rotation_interval: Some("7d"),
                },
            )
            .await
            .map(|_| ()),
        "ram:CreateAccessKey",
        &format!("acs:ram::{ACCOUNT}:user/victim"),
    );
    assert!(service
        .list_access_keys(&root, "victim")
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_database_secret_needs_manage_database_credential_on_its_instance() {
    let dir = tempfile::tempdir().unwrap();
    let service = common::start(dir.path(), common::FakeClock::at(1_700_000_000)).await;
    let grant = format!(
        r#"{{"Version":"1","Statement":[{{"Effect":"Allow","Action":"kms:ManageDatabaseCredential","Resource":"acs:kms:cn-hangzhou:{ACCOUNT}:dbinstance/rm-a"}}]}}"#
    );
    let admin = user(
        &service,
        "dba",
        &[("System", "AliyunKMSSecretAdminAccess"), ("Custom", &grant)],
    )
    .await;
    let create = |instance: &'static str| {
        let service = &service;
        let admin = &admin;
        async move {
            let config = format!(r#"{{"SecretSubType":"SingleUser","DBInstanceId":"{instance}"}}"#);
            service
                .create_secret(
                    admin,
                    CreateSecretInput {
                        secret_name: &format!("db/{instance}"),
                        version: VersionInput {
                            version_id: "v1",
                            secret_data: r#"{"AccountName":"app","AccountPassword":"p"}"#,
                            ..Default::default()
                        },
                        secret_type: Some("Rds"),
                        extended_config: Some(&config),
                        ..Default::default()
                    },
                )
                .await
                .map(|_| ())
        }
    };
    create("rm-a").await.unwrap();
    refused(
        create("rm-b").await,
        "kms:ManageDatabaseCredential",
        &format!("acs:kms:cn-hangzhou:{ACCOUNT}:dbinstance/rm-b"),
    );
}
