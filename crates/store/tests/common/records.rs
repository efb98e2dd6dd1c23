//! Records the store tests write, shared by the conformance suite and the SQLite-only unit
//! tests (each includes this file as a module; the parent imports the store's types).

use super::*;

/// A text version sealed under the fixture key `k`.
pub fn version(id: &str) -> VersionRecord {
    VersionRecord {
        version_id: id.into(),
        data_type: openkms_domain::SecretDataType::Text,
        key_id: "k".into(),
        key_version_id: "kv".into(),
        wrapped_key: vec![1, 2],
        ciphertext: vec![3, 4],
        created_at: 10,
    }
}

/// A Generic secret whose first version is `v1`, tagged `a=b`.
pub fn new_secret(name: &str) -> NewSecret {
    NewSecret {
        secret: SecretRecord::generic(name, "v1", 10),
        tags: vec![TagRecord {
            key: "a".into(),
            value: "b".into(),
        }],
        first_version: version("v1"),
    }
}

/// ScheduleKeyDeletion's plan: refused while the key protects a secret.
pub fn schedule_deletion() -> KeyPlanFn {
    Box::new(|st: &KeyPlanState| {
        if st.protected_secrets > 0 {
            return Err(openkms_domain::key::KeyRejection::ProtectsSecrets {
                secrets: st.protected_secrets,
            });
        }
        Ok(KeyUpdate {
            key_state: Some(openkms_domain::key::KeyState::PendingDeletion),
            delete_at: Some(Some(99)),
            ..KeyUpdate::default()
        })
    })
}
