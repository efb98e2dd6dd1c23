//! Read cache of secret rows and sealed versions, so the hot read (GetSecretValue) does not
//! open two SQLite read transactions per request. It holds only what the database holds
//! (metadata and sealed bytes), never plaintext.
//!
//! Every write in this store invalidates what it touched before the write is acknowledged, so
//! a caller reads its own writes. A global generation, bumped by each invalidation, stops a
//! reader that loaded a row before a write from caching it after the invalidation.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::{SecretRecord, VersionRecord};

/// Most secrets (and, separately, most secrets' version sets) cached; beyond, start afresh.
const CAPACITY: usize = 100_000;

#[derive(Default)]
pub struct ReadCache {
    state: RwLock<State>,
}

#[derive(Default)]
struct State {
    generation: u64,
    secrets: HashMap<String, Arc<SecretRecord>>,
    versions: HashMap<i64, HashMap<String, Arc<VersionRecord>>>,
}

impl ReadCache {
    /// A cached secret, or the generation to pass to [`ReadCache::put_secret`] after a load.
    pub fn secret(&self, name: &str) -> Result<Arc<SecretRecord>, u64> {
        let s = self.state.read();
        s.secrets.get(name).cloned().ok_or(s.generation)
    }

    /// A cached version, or the generation to pass to [`ReadCache::put_version`].
    pub fn version(&self, secret_id: i64, version_id: &str) -> Result<Arc<VersionRecord>, u64> {
        let s = self.state.read();
        s.versions
            .get(&secret_id)
            .and_then(|m| m.get(version_id))
            .cloned()
            .ok_or(s.generation)
    }

    /// Caches a secret loaded while the cache was at `generation`.
    pub fn put_secret(&self, generation: u64, rec: Arc<SecretRecord>) {
        let mut s = self.state.write();
        if s.generation != generation {
            return;
        }
        if s.secrets.len() >= CAPACITY {
            s.secrets.clear();
        }
        s.secrets.insert(rec.name.clone(), rec);
    }

    /// Caches a version loaded while the cache was at `generation`.
    pub fn put_version(&self, generation: u64, secret_id: i64, rec: Arc<VersionRecord>) {
        let mut s = self.state.write();
        if s.generation != generation {
            return;
        }
        if s.versions.len() >= CAPACITY {
            s.versions.clear();
        }
        s.versions
            .entry(secret_id)
            .or_default()
            .insert(rec.version_id.clone(), rec);
    }

    /// Forgets a secret and its versions (`secret_id` when the writer knows it).
    pub fn invalidate(&self, name: &str, secret_id: Option<i64>) {
        let mut s = self.state.write();
        s.generation = s.generation.wrapping_add(1);
        if let Some(rec) = s.secrets.remove(name) {
            s.versions.remove(&rec.id);
        }
        if let Some(id) = secret_id {
            s.versions.remove(&id);
        }
    }

    /// Forgets everything (after writes that touch many secrets).
    pub fn clear(&self) {
        let mut s = self.state.write();
        s.generation = s.generation.wrapping_add(1);
        s.secrets.clear();
        s.versions.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RotationRecord;
    use openkms_domain::stages::StageMap;

    fn rec(name: &str, description: &str) -> Arc<SecretRecord> {
        Arc::new(SecretRecord {
            id: 1,
            name: name.into(),
            secret_type: openkms_domain::SecretType::Generic,
            description: description.into(),
            encryption_key_id: None,
            dkms_instance_id: None,
            extended_config: None,
            rotation: RotationRecord::default(),
            policy: String::new(),
            stages: StageMap::default(),
            created_at: 0,
            updated_at: 0,
            planned_delete_at: None,
            revision: 0,
        })
    }

    #[test]
    fn a_row_loaded_before_an_invalidation_is_not_cached_after_it() {
        let c = ReadCache::default();
        let generation = c.secret("a").unwrap_err();
        // A writer commits and invalidates while the reader still holds the old row.
        c.invalidate("a", None);
        c.put_secret(generation, rec("a", "old"));
        assert!(c.secret("a").is_err());
        // A load after the invalidation is cached.
        let generation = c.secret("a").unwrap_err();
        c.put_secret(generation, rec("a", "new"));
        assert_eq!(c.secret("a").unwrap().description, "new");
    }
}
