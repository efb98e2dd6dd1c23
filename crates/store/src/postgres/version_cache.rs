//! Sealed secret versions read from PostgreSQL, kept for a few seconds. A version row never
//! changes once written (and a secret id is never reused), so a cached row is the row; what
//! can change is whether it still exists: a write on another node may drop a deprecated
//! version, and only an explicit VersionId can still ask for it. Entries therefore live
//! [`TTL`], the same bound the nodes give other cached state; writes through this node
//! forget what they drop at once. The secret row itself (stage labels) is never cached, so a
//! write on any node is seen by the next read on every node.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::records::VersionRecord;

/// How long a cached version may be served without reading the database.
pub(super) const TTL: Duration = Duration::from_secs(5);
/// Most secrets whose versions are kept; beyond, start afresh (a bound, not an LRU: simple
/// and cheap).
const CAPACITY: usize = 50_000;

type Versions = HashMap<String, (Instant, Arc<VersionRecord>)>;

#[derive(Default)]
pub(super) struct VersionCache {
    by_secret: RwLock<HashMap<i64, Versions>>,
}

impl VersionCache {
    pub(super) fn get(&self, secret_id: i64, version_id: &str) -> Option<Arc<VersionRecord>> {
        let by_secret = self.by_secret.read().ok()?;
        let (at, rec) = by_secret.get(&secret_id)?.get(version_id)?;
        (at.elapsed() < TTL).then(|| rec.clone())
    }

    pub(super) fn put(&self, secret_id: i64, rec: Arc<VersionRecord>) {
        if let Ok(mut by_secret) = self.by_secret.write() {
            if by_secret.len() >= CAPACITY && !by_secret.contains_key(&secret_id) {
                by_secret.clear();
            }
            by_secret
                .entry(secret_id)
                .or_default()
                .insert(rec.version_id.clone(), (Instant::now(), rec));
        }
    }

    /// Forgets every version of a secret (a write on this node dropped some, or the secret).
    pub(super) fn forget_secret(&self, secret_id: i64) {
        if let Ok(mut by_secret) = self.by_secret.write() {
            by_secret.remove(&secret_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(id: &str) -> Arc<VersionRecord> {
        Arc::new(VersionRecord {
            version_id: id.into(),
            data_type: "text".into(),
            key_id: "k".into(),
            key_version_id: "kv".into(),
            wrapped_key: vec![1],
            ciphertext: vec![2],
            created_at: 0,
        })
    }

    #[test]
    fn a_cached_version_is_served_until_its_secret_is_forgotten() {
        let cache = VersionCache::default();
        cache.put(7, version("v1"));
        cache.put(8, version("v1"));
        assert_eq!(cache.get(7, "v1").unwrap().version_id, "v1");
        assert!(cache.get(7, "v2").is_none());
        cache.forget_secret(7);
        assert!(cache.get(7, "v1").is_none());
        assert!(cache.get(8, "v1").is_some());
    }
}
