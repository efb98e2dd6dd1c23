//! The parameter map (`openkms_wire::Params`) from a query string and a form body (input split
//! at the first `\n`), and its typed readers. Never panics; an accepted map has distinct names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openkms_fuzz::split2;
use openkms_wire::Params;

fuzz_target!(|data: &[u8]| {
    let (query, body) = split2(data);
    let mut pairs = Vec::new();
    Params::decode_form(query, &mut pairs);
    Params::decode_form(body, &mut pairs);
    let n = pairs.len();
    let Ok(p) = Params::from_pairs(pairs) else {
        return;
    };
    assert_eq!(p.pairs().len(), n);
    let mut names: Vec<&str> = p.pairs().iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    assert!(
        names.windows(2).all(|w| w[0] != w[1]),
        "duplicate name accepted"
    );
    let first = p
        .pairs()
        .first()
        .map(|(k, _)| k.clone())
        .unwrap_or_default();
    for name in [
        first.as_str(),
        "SecretName",
        "Tags",
        "EncryptionContext",
        "VersionStages",
    ] {
        let _ = p.get(name);
        let _ = p.optional(name);
        let _ = p.present(name);
        let _ = p.list(name);
        let _ = p.with_prefix(name).count();
    }
    let _ = p.required("SecretName");
    let _ = p.bool("DryRun");
    let _ = p.u64("PageSize");
    let _ = p.resource("SecretName");
    let _ = p.optional_resource("KeyId");
    let _ = p.json_text("Tags");
    let _ = p.refuse_flattened("Filters");
    let _ = p.string_map("EncryptionContext");
    let _ = p.indexed_list("SecretNames");
    let _ = format!("{p:?}");
});
