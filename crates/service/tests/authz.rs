//! What authorization resolved is what the action acts on: an alias moved, or a secret
//! re-created, between the check and the action is refused rather than used unchecked.
#![allow(clippy::unwrap_used, clippy::panic)]

use openkms_service::authz::{KeyUse, Target};
use openkms_service::iam::NewUser;
use openkms_service::keys::CreateKeyInput;
use openkms_service::secrets::{CreateSecretInput, DeleteMode, GetSecretValueInput, VersionInput};
use openkms_service::{Caller, Error, Service};

mod common;

use common::{caller, start, FakeClock};

async fn key(svc: &Service) -> String {
    svc.create_key(&caller(), CreateKeyInput::default())
        .await
        .unwrap()
        .key_id
}

async fn alias_key(svc: &Service, alias: &str) -> Option<String> {
    let page = svc
        .list_aliases(
            None,
            openkms_service::keys::Paging::parse(None, None).unwrap(),
        )
        .await
        .unwrap();
    page.aliases
        .into_iter()
        .find(|a| a.alias_name == alias)
        .map(|a| a.key_id)
}

#[tokio::test]
async fn an_alias_moved_after_the_check_is_not_changed() {
    let dir = tempfile::tempdir().unwrap();
    let svc = start(dir.path(), FakeClock::at(1_800_000_000)).await;
    let (checked, racing, wanted) = (key(&svc).await, key(&svc).await, key(&svc).await);
    svc.create_alias(&caller(), "alias/prod", &checked)
        .await
        .unwrap();
    // Another request moves the alias after this one was authorized on `checked`.
    svc.update_alias(&caller(), "alias/prod", &racing, None)
        .await
        .unwrap();
    assert!(matches!(
        svc.update_alias(&caller(), "alias/prod", &wanted, Some(&checked))
            .await,
        Err(Error::AliasMoved)
    ));
    assert!(matches!(
        svc.delete_alias(&caller(), "alias/prod", Some(&checked))
            .await,
        Err(Error::AliasMoved)
    ));
    assert_eq!(alias_key(&svc, "alias/prod").await, Some(racing.clone()));
    svc.update_alias(&caller(), "alias/prod", &wanted, Some(&racing))
        .await
        .unwrap();
    assert_eq!(alias_key(&svc, "alias/prod").await, Some(wanted.clone()));
    svc.delete_alias(&caller(), "alias/prod", Some(&wanted))
        .await
        .unwrap();
    assert!(matches!(
        svc.delete_alias(&caller(), "alias/prod", Some(&wanted))
            .await,
        Err(Error::AliasNotFound)
    ));
}

#[tokio::test]
async fn a_secret_recreated_after_the_check_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let svc = start(dir.path(), FakeClock::at(1_800_000_000)).await;
    svc.create_user(
        &caller(),
        NewUser {
            user_name: "reader",
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let allow_all =
        r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;
    svc.create_policy(&caller(), "all", allow_all, None)
        .await
        .unwrap();
    svc.attach_policy_to_user(&caller(), "reader", "Custom", "all")
        .await
        .unwrap();
    let reader = Caller {
        principal: "user/reader".into(),
        ..caller()
    };
    let first = key(&svc).await;
    let create = |data| CreateSecretInput {
        secret_name: "app/db",
        version: VersionInput {
            version_id: "v1",
            secret_data: data,
            ..Default::default()
        },
        encryption_key_id: Some(first.as_str()),
        ..Default::default()
    };
    svc.create_secret(&caller(), create("old")).await.unwrap();
    let target = Target::Secret {
        name: "app/db",
        key_use: KeyUse::Decrypt,
    };
    let authorized = svc
        .authorize(&reader, "GetSecretValue", target)
        .await
        .unwrap();
    assert!(authorized.secret_id.is_some());
    svc.delete_secret(&caller(), "app/db", DeleteMode::Force)
        .await
        .unwrap();
    svc.create_secret(&caller(), create("new")).await.unwrap();
    let read = svc
        .get_secret_value(
            &reader,
            GetSecretValueInput {
                secret_name: "app/db",
                authorized_secret: authorized.secret_id,
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(read, Err(Error::SecretNotFound)));
    // Authorized afresh, the new secret reads.
    let again = svc
        .authorize(&reader, "GetSecretValue", target)
        .await
        .unwrap();
    let value = svc
        .get_secret_value(
            &reader,
            GetSecretValueInput {
                secret_name: "app/db",
                authorized_secret: again.secret_id,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(value.data.expose_secret(), b"new");
}
