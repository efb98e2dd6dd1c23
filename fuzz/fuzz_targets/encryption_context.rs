//! EncryptionContext of Encrypt/Decrypt/GenerateDataKey*: the wire reader
//! (`Params::string_map`, JSON text or the flattened `EncryptionContext.k=v` form) and the domain
//! parser (`domain::key::EncryptionContext::parse`). Input: a form-encoded parameter string, or
//! raw JSON text after a leading `{`. Never panics; the canonical form is a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openkms_domain::key::EncryptionContext;
use openkms_wire::actions::keys::{DecryptRequest, EncryptRequest, GenerateDataKeyRequest};
use openkms_wire::Params;

fn check(text: Option<&str>) {
    if let Ok(ctx) = EncryptionContext::parse(text) {
        let canonical = ctx.canonical();
        let canonical = std::str::from_utf8(&canonical).expect("canonical JSON is UTF-8");
        let again = EncryptionContext::parse(Some(canonical)).expect("canonical form re-parses");
        assert_eq!(again, ctx, "EncryptionContext canonical round trip");
        assert_eq!(again.canonical(), canonical.as_bytes());
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check(Some(text));
    }
    let mut pairs = Vec::new();
    Params::decode_form(data, &mut pairs);
    let Ok(params) = Params::from_pairs(pairs) else {
        return;
    };
    if let Ok(map) = params.string_map("EncryptionContext") {
        check(map.as_deref());
    }
    if let Ok(r) = EncryptRequest::read(&params) {
        check(r.encryption_context.as_deref());
    }
    if let Ok(r) = DecryptRequest::read(&params) {
        check(r.encryption_context.as_deref());
    }
    if let Ok(r) = GenerateDataKeyRequest::read(&params) {
        check(r.encryption_context.as_deref());
    }
});
