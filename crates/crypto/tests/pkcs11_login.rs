//! Login failures, in a process of their own: PKCS#11 login state belongs to the whole
//! application, so once any test logged in, a wrong PIN would find the user logged in already.
#![allow(clippy::unwrap_used, clippy::panic)]

use cryptoki::types::AuthPin;
use openkms_crypto::pkcs11::{Pkcs11Error, Pkcs11Token};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run scripts/test, or eval \"$(scripts/softhsm-env)\" first")
    })
}

#[test]
fn a_wrong_pin_or_token_is_a_clear_error() {
    let module = var("OPENKMS_TEST_PKCS11_MODULE");
    let err = Pkcs11Token::open(
        module.as_ref(),
        &var("OPENKMS_TEST_PKCS11_TOKEN"),
        AuthPin::from("wrong"),
    )
    .err()
    .unwrap();
    assert!(matches!(err, Pkcs11Error::Login(_)), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("wrong"));
    assert!(matches!(
        Pkcs11Token::open(module.as_ref(), "no-such-token", AuthPin::from("x")),
        Err(Pkcs11Error::TokenNotFound { .. })
    ));
}
