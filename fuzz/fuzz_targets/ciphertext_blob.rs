//! `CiphertextBlob::decode` (Decrypt's CiphertextBlob, after base64): never panics, and a blob
//! that decodes encodes back to the same bytes (the format has one encoding).
#![no_main]

use libfuzzer_sys::fuzz_target;
use openkms_crypto::{encrypt_aad, CiphertextBlob};

fuzz_target!(|data: &[u8]| {
    if let Ok(blob) = CiphertextBlob::decode(data) {
        let again = blob.encode().expect("a decoded blob encodes");
        assert_eq!(again, data, "decode/encode round trip");
        assert_eq!(CiphertextBlob::decode(&again).as_ref(), Ok(&blob));
        let _ = encrypt_aad(&blob.key_id, &blob.key_version_id, b"{}");
    }
});
