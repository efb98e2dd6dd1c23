//! `ExtendedConfig::parse_for` (CreateSecret/UpdateSecret ExtendedConfig): first byte picks the
//! secret type, the rest is the parameter text. Never panics; an accepted config re-parses from
//! its stored JSON text to the same config, and CustomData merges never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openkms_domain::{ExtendedConfig, SecretType};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let ty = SecretType::ALL[usize::from(which) % SecretType::ALL.len()];
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let _ = ExtendedConfig::from_param(ty, None);
    if let Ok(Some(mut config)) = ExtendedConfig::from_param(ty, Some(text)) {
        let stored = config.to_json_string();
        let again = ExtendedConfig::parse_for(ty, &stored)
            .expect("stored ExtendedConfig re-parses")
            .expect("stored ExtendedConfig of a managed type");
        assert_eq!(again, config, "ExtendedConfig round trip");
        let _ = config.sub_type();
        let _ = config.custom_data();
        let before = config.clone();
        let pairs = text
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()));
        if config.merge_custom_data(pairs).is_err() {
            assert_eq!(
                config, before,
                "a refused merge leaves the config unchanged"
            );
        }
    }
});
