//! STS sessions on the service's clock: a token works until its expiry and not after, only
//! with its own access key id, and a session acts with its role's policies narrowed by the
//! session policy. Sessions are bound to their role's RoleId, AssumeRole honours
//! `sts:ExternalId`, and the root key cannot assume roles.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use openkms_service::authz::{KeyUse, Target};
use openkms_service::iam::{NewRole, NewUser};
use openkms_service::{Caller, Error};

const TRUST: &str = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"RAM":"acs:ram::1234567890123456:root"}}]}"#;

async fn role_with_policy(service: &openkms_service::Service, name: &str) {
    let root = common::caller();
    service
        .create_role(
            &root,
            NewRole {
                role_name: name,
                trust_policy: TRUST,
                ..NewRole::default()
            },
        )
        .await
        .unwrap();
    service
        .attach_policy_to_role(&root, name, "System", "AliyunKMSSecretUserAccess")
        .await
        .unwrap();
}

const ASSUME_ANY: &str =
    r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}"#;

/// A RAM user allowed `sts:AssumeRole` on every role (the root key may not assume roles).
async fn assumer(service: &openkms_service::Service) -> Caller {
    let root = common::caller();
    if service.get_user(&root, "assumer").await.is_err() {
        service
            .create_user(
                &root,
                NewUser {
                    user_name: "assumer",
                    ..NewUser::default()
                },
            )
            .await
            .unwrap();
        service
            .create_policy(&root, "assume-any", ASSUME_ANY, None)
            .await
            .unwrap();
        service
            .attach_policy_to_user(&root, "assumer", "Custom", "assume-any")
            .await
            .unwrap();
    }
    Caller {
        access_key_id: "LTAIassumer".into(),
        principal: "user/assumer".into(),
        source_ip: None,
        session: None,
    }
}

async fn session_caller(
    service: &openkms_service::Service,
    id: &str,
    token: &str,
) -> Result<Caller, Error> {
    let entry = service.sts_access_key(id, Some(token)).await?;
    Ok(Caller {
        access_key_id: id.to_owned(),
        principal: entry.principal.clone(),
        source_ip: None,
        session: entry.session.clone(),
    })
}

#[tokio::test]
async fn a_session_expires_on_the_service_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = common::FakeClock::at(1_700_000_000);
    let service = common::start(dir.path(), clock.clone()).await;
    role_with_policy(&service, "reader").await;
    let arn = service.role_arn("reader");
    let s = service
        .assume_role(&assumer(&service).await, &arn, "s1", Some(900), None, None)
        .await
        .unwrap();
    assert!(s.access_key_id.starts_with("STS."));
    assert_eq!(s.expires_at, 1_700_000_900);
    assert!(
        session_caller(&service, &s.access_key_id, &s.security_token)
            .await
            .is_ok()
    );
    clock.set(1_700_000_899);
    assert!(
        session_caller(&service, &s.access_key_id, &s.security_token)
            .await
            .is_ok()
    );
    clock.set(1_700_000_900);
    assert!(matches!(
        session_caller(&service, &s.access_key_id, &s.security_token).await,
        Err(Error::SecurityTokenExpired)
    ));
}

#[tokio::test]
async fn a_token_works_only_with_its_own_access_key_id() {
    let dir = tempfile::tempdir().unwrap();
    let service = common::start(dir.path(), common::FakeClock::at(1_700_000_000)).await;
    role_with_policy(&service, "reader").await;
    let arn = service.role_arn("reader");
    let a = service
        .assume_role(&assumer(&service).await, &arn, "sa", None, None, None)
        .await
        .unwrap();
    let b = service
        .assume_role(&assumer(&service).await, &arn, "sb", None, None, None)
        .await
        .unwrap();
    assert!(matches!(
        session_caller(&service, &a.access_key_id, &b.security_token).await,
        Err(Error::SecurityTokenMismatch)
    ));
    assert!(matches!(
        service
            .sts_access_key(&a.access_key_id, Some("CAISnot-base64!"))
            .await,
        Err(Error::SecurityTokenMalformed)
    ));
    assert!(matches!(
        service.sts_access_key(&a.access_key_id, None).await,
        Err(Error::SecurityTokenMalformed)
    ));
}

#[tokio::test]
async fn a_session_policy_only_narrows_the_role() {
    let dir = tempfile::tempdir().unwrap();
    let service = common::start(dir.path(), common::FakeClock::at(1_700_000_000)).await;
    role_with_policy(&service, "reader").await;
    let arn = service.role_arn("reader");
    let wide = service
        .assume_role(&assumer(&service).await, &arn, "wide", None, None, None)
        .await
        .unwrap();
    let narrow_policy = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"acs:kms:*:*:secret/app/*"}]}"#;
    let narrow = service
        .assume_role(
            &assumer(&service).await,
            &arn,
            "narrow",
            None,
            Some(narrow_policy),
            None,
        )
        .await
        .unwrap();
    let read = |name: &'static str| Target::Secret {
        name,
        key_use: KeyUse::Decrypt,
    };
    let wide = session_caller(&service, &wide.access_key_id, &wide.security_token)
        .await
        .unwrap();
    let narrow = session_caller(&service, &narrow.access_key_id, &narrow.security_token)
        .await
        .unwrap();
    service
        .authorize(&wide, "GetSecretValue", read("app/db"))
        .await
        .unwrap();
    service
        .authorize(&wide, "GetSecretValue", read("db/main"))
        .await
        .unwrap();
    service
        .authorize(&narrow, "GetSecretValue", read("app/db"))
        .await
        .unwrap();
    assert!(matches!(
        service
            .authorize(&narrow, "GetSecretValue", read("db/main"))
            .await,
        Err(Error::NoPermission { .. })
    ));
    // The session policy grants kms:* but the role only reads: it cannot widen.
    assert!(matches!(
        service
            .authorize(
                &narrow,
                "DeleteSecret",
                Target::Secret {
                    name: "app/db",
                    key_use: KeyUse::None
                }
            )
            .await,
        Err(Error::NoPermission { .. })
    ));
}

#[tokio::test]
async fn the_root_key_cannot_assume_a_role() {
    let dir = tempfile::tempdir().unwrap();
    let service = common::start(dir.path(), common::FakeClock::at(1_700_000_000)).await;
    role_with_policy(&service, "reader").await;
    let arn = service.role_arn("reader");
    assert!(matches!(
        service
            .assume_role(&common::caller(), &arn, "s1", None, None, None)
            .await,
        Err(Error::RootCannotAssumeRole)
    ));
}

#[tokio::test]
async fn a_session_ends_with_its_role_and_never_reaches_a_re_created_one() {
    let dir = tempfile::tempdir().unwrap();
    let service = common::start(dir.path(), common::FakeClock::at(1_700_000_000)).await;
    role_with_policy(&service, "reader").await;
    let arn = service.role_arn("reader");
    let user = assumer(&service).await;
    let s = service
        .assume_role(&user, &arn, "s1", None, None, None)
        .await
        .unwrap();
    // Warm the cache: the session works.
    session_caller(&service, &s.access_key_id, &s.security_token)
        .await
        .unwrap();
    let root = common::caller();
    service
        .detach_policy_from_role(&root, "reader", "System", "AliyunKMSSecretUserAccess")
        .await
        .unwrap();
    service.delete_role(&root, "reader").await.unwrap();
    assert!(matches!(
        session_caller(&service, &s.access_key_id, &s.security_token).await,
        Err(Error::SecurityTokenRoleGone)
    ));
    role_with_policy(&service, "reader").await;
    assert!(matches!(
        session_caller(&service, &s.access_key_id, &s.security_token).await,
        Err(Error::SecurityTokenRoleGone)
    ));
    // A new session of the new role works.
    let fresh = service
        .assume_role(&user, &arn, "s2", None, None, None)
        .await
        .unwrap();
    session_caller(&service, &fresh.access_key_id, &fresh.security_token)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_trust_policy_condition_on_the_external_id_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let service = common::start(dir.path(), common::FakeClock::at(1_700_000_000)).await;
    let root = common::caller();
    let trust = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"RAM":"acs:ram::1234567890123456:root"},"Condition":{"StringEquals":{"sts:ExternalId":"abcd1234"}}}]}"#;
    service
        .create_role(
            &root,
            NewRole {
                role_name: "vendor",
                trust_policy: trust,
                ..NewRole::default()
            },
        )
        .await
        .unwrap();
    let arn = service.role_arn("vendor");
    let user = assumer(&service).await;
    service
        .assume_role(&user, &arn, "s1", None, None, Some("abcd1234"))
        .await
        .unwrap();
    for wrong in [None, Some("abcd1235")] {
        assert!(matches!(
            service
                .assume_role(&user, &arn, "s1", None, None, wrong)
                .await,
            Err(Error::AssumeRoleDenied)
        ));
    }
    assert!(matches!(
        service
            .assume_role(&user, &arn, "s1", None, None, Some("bad id!"))
            .await,
        Err(Error::Invalid(_))
    ));
}
