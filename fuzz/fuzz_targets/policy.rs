//! RAM policy documents: identity (PolicyDocument, STS session Policy), secret (`Policy` of
//! CreateSecret/SetSecretPolicy) and trust (AssumeRolePolicyDocument). Never panics; an accepted
//! document re-parses from its compact JSON to the same document, and compiles.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openkms_domain::policy::{parse_document, DocumentKind, Policy};

const MAX: usize = 6144;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for kind in [
        DocumentKind::Identity,
        DocumentKind::Secret,
        DocumentKind::Trust,
    ] {
        if let Ok(doc) = parse_document(text, kind, "Policy", MAX) {
            let json = doc.to_json_string();
            let again = parse_document(&json, kind, "Policy", usize::MAX)
                .expect("a checked document re-parses from its own JSON");
            assert_eq!(again, doc, "policy document round trip ({kind:?})");
            Policy::compile(&doc).expect("a checked document compiles");
        }
    }
    let _ = Policy::parse_identity(text, "PolicyDocument", MAX);
    let _ = Policy::parse_secret(text);
    let _ = Policy::parse_trust(text, 2048);
});
