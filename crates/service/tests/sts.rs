//! STS sessions on the service's clock: a token works until its expiry and not after, only
//! with its own access key id, and a session acts with its role's policies narrowed by the
//! session policy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use openkms_service::authz::{KeyUse, Target};
use openkms_service::iam::NewRole;
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
        .assume_role(&common::caller(), &arn, "s1", Some(900), None)
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
        .assume_role(&common::caller(), &arn, "sa", None, None)
        .await
        .unwrap();
    let b = service
        .assume_role(&common::caller(), &arn, "sb", None, None)
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
        .assume_role(&common::caller(), &arn, "wide", None, None)
        .await
        .unwrap();
    let narrow_policy = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"acs:kms:*:*:secret/app/*"}]}"#;
    let narrow = service
        .assume_role(&common::caller(), &arn, "narrow", None, Some(narrow_policy))
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
