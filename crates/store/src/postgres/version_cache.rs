//! Sealed secret versions read from PostgreSQL. A version row never changes once written and a
//! secret id is never reused, but a version id can be: a write may drop a version and a later
//! one insert another under the same id. So cached versions are filed under the revision of
//! the secret row they were read with (its `xmin`, which every write of the secret changes:
//! each turn of writes updates the row) and served only to a reader that read the secret at
//! that same revision. A write on any node thus retires every cached version of the secret on
//! every node, at the next read of the secret row, which every read makes first; the row
//! itself (stage labels) is never cached.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::{SecretRecord, VersionRecord};

/// Most secrets whose versions are kept; beyond, start afresh (a bound, not an LRU: simple
/// and cheap).
const CAPACITY: usize = 50_000;

/// One secret's cached versions, valid at one revision of its row.
struct AtRevision {
    revision: i64,
    versions: HashMap<String, Arc<VersionRecord>>,
}

#[derive(Default)]
pub(super) struct VersionCache {
    by_secret: RwLock<HashMap<i64, AtRevision>>,
}

impl VersionCache {
    pub(super) fn get(
        &self,
        secret: &SecretRecord,
        version_id: &str,
    ) -> Option<Arc<VersionRecord>> {
        let by_secret = self.by_secret.read();
        let cached = by_secret.get(&secret.id)?;
        if cached.revision != secret.revision {
            return None;
        }
        cached.versions.get(version_id).cloned()
    }

    /// Files `rec`, read after `secret`, under the revision `secret` was read at.
    pub(super) fn put(&self, secret: &SecretRecord, rec: Arc<VersionRecord>) {
        let mut by_secret = self.by_secret.write();
        if by_secret.len() >= CAPACITY && !by_secret.contains_key(&secret.id) {
            by_secret.clear();
        }
        let cached = by_secret.entry(secret.id).or_insert_with(|| AtRevision {
            revision: secret.revision,
            versions: HashMap::new(),
        });
        if cached.revision != secret.revision {
            cached.revision = secret.revision;
            cached.versions.clear();
        }
        cached.versions.insert(rec.version_id.clone(), rec);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(id: i64, revision: i64) -> SecretRecord {
        SecretRecord {
            id,
            revision,
            ..SecretRecord::generic(&format!("s{id}"), "v1", 0)
        }
    }

    fn version(id: &str, ciphertext: u8) -> Arc<VersionRecord> {
        Arc::new(VersionRecord {
            version_id: id.into(),
            data_type: openkms_domain::SecretDataType::Text,
            key_id: "k".into(),
            key_version_id: "kv".into(),
            wrapped_key: vec![1],
            ciphertext: vec![ciphertext],
            created_at: 0,
        })
    }

    #[test]
    fn a_version_is_served_only_at_the_revision_it_was_read_with() {
        let cache = VersionCache::default();
        cache.put(&secret(7, 100), version("v1", 1));
        assert_eq!(cache.get(&secret(7, 100), "v1").unwrap().ciphertext, [1]);
        assert!(cache.get(&secret(7, 100), "v2").is_none());
        // Another node rewrote the secret (dropped v1, wrote a new v1): the old one is not
        // served, and the new one replaces it.
        assert!(cache.get(&secret(7, 101), "v1").is_none());
        cache.put(&secret(7, 101), version("v1", 2));
        assert_eq!(cache.get(&secret(7, 101), "v1").unwrap().ciphertext, [2]);
        assert!(cache.get(&secret(7, 100), "v1").is_none());
    }
}
