//! The PKCS#11 root against a real token (SoftHSM2 in CI). `scripts/test` creates the token
//! and sets the variables; without them these tests fail and name what is missing, because
//! an HSM mode that CI never ran is not a supported mode.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use cryptoki::types::AuthPin;
use openkms_crypto::pkcs11::{Pkcs11Error, Pkcs11Token};
use openkms_crypto::{KeyMaterial, RootKind, RootOfTrust, RootSet};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run scripts/test, or eval \"$(scripts/softhsm-env)\" first")
    })
}

/// One test at a time: each creates token objects, and SoftHSM2's file-backed object store
/// once answered a concurrent C_GenerateKey with CKR_GENERAL_ERROR on a loaded CI machine. The
/// server creates its root once, at first start, never concurrently.
static SERIAL: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

fn serial() -> parking_lot::MutexGuard<'static, ()> {
    SERIAL.lock()
}

fn token() -> Arc<Pkcs11Token> {
    Pkcs11Token::open(
        var("OPENKMS_TEST_PKCS11_MODULE").as_ref(),
        &var("OPENKMS_TEST_PKCS11_TOKEN"),
        AuthPin::from(var("OPENKMS_TEST_PKCS11_PIN")),
    )
    .unwrap()
}

fn unique(label: &str) -> String {
    format!("{label}-{}", std::process::id())
        + &format!("-{:?}", std::time::Instant::now()).replace([' ', '.', ':'], "")
}

#[test]
fn a_generated_root_wraps_inside_the_token_and_is_found_again_by_label() {
    let _serial = serial();
    let t = token();
    let label = unique("root");
    let (root, created) = t.find_or_generate_root(&label).unwrap();
    assert!(created);
    assert_eq!(root.kind(), RootKind::Pkcs11);
    assert!(root.id().starts_with("pkcs11-"));
    let m = KeyMaterial::generate().unwrap();
    let sealed = root.seal(m.expose_secret(), b"aad").unwrap();
    assert!(!sealed.windows(8).any(|w| w == &m.expose_secret()[..8]));

    let again = token().find_root(&label).unwrap();
    assert_eq!(again.id(), root.id());
    assert_eq!(
        again.open(&sealed, b"aad").unwrap().expose_secret(),
        m.expose_secret()
    );
    assert!(again.open(&sealed, b"other").is_err());
    let mut tampered = sealed.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert!(again.open(&tampered, b"aad").is_err());
    let (_, created) = t.find_or_generate_root(&label).unwrap();
    assert!(!created);
    assert!(matches!(
        t.generate_root(&label),
        Err(Pkcs11Error::LabelTaken { .. })
    ));
}

#[test]
fn the_root_key_never_leaves_the_token() {
    let _serial = serial();
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::object::{Attribute, AttributeType};
    use cryptoki::session::UserType;
    let label = unique("sensitive");
    // Through the library first: it initialises the module once for the process.
    token().generate_root(&label).unwrap();
    let ctx = Pkcs11::new(var("OPENKMS_TEST_PKCS11_MODULE")).unwrap();
    let _ = ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let slot = ctx
        .get_slots_with_initialized_token()
        .unwrap()
        .into_iter()
        .find(|s| {
            ctx.get_token_info(*s).unwrap().label().trim_end() == var("OPENKMS_TEST_PKCS11_TOKEN")
        })
        .unwrap();
    let s = ctx.open_ro_session(slot).unwrap();
    let _ = s.login(
        UserType::User,
        Some(&AuthPin::from(var("OPENKMS_TEST_PKCS11_PIN"))),
    );
    let h = s
        .find_objects(&[Attribute::Label(label.into_bytes())])
        .unwrap()[0];
    let attrs = s
        .get_attributes(
            h,
            &[
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::Token,
                AttributeType::Value,
            ],
        )
        .unwrap();
    assert!(attrs.contains(&Attribute::Sensitive(true)));
    assert!(attrs.contains(&Attribute::Extractable(false)));
    assert!(attrs.contains(&Attribute::Token(true)));
    assert!(!attrs.iter().any(|a| matches!(a, Attribute::Value(_))));
}

#[test]
fn wraps_of_a_file_root_and_an_hsm_root_live_side_by_side() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let file: Arc<dyn RootOfTrust> =
        Arc::new(openkms_crypto::RootKey::create(&dir.path().join("root.key")).unwrap());
    let hsm: Arc<dyn RootOfTrust> = Arc::new(token().generate_root(&unique("mixed")).unwrap());
    let set = RootSet::new(file.clone(), file.id());
    set.insert(hsm.clone());
    let m = KeyMaterial::generate().unwrap();
    for id in [file.id(), hsm.id()] {
        let w = set.wrap(id, &m, b"k").unwrap();
        assert_eq!(openkms_crypto::wrapped_by(&w, ""), Some(id));
        assert_eq!(
            set.unwrap(&w, b"k").unwrap().expose_secret(),
            m.expose_secret()
        );
    }
}
