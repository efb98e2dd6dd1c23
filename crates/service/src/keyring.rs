//! Cache of unwrapped KMS key versions. Unwrapping goes to the root of trust (a file today, an
//! HSM later), so the hot path must not do it per request. Entries are `Arc<Kek>`; the key
//! schedule is dropped with the last reference. Nested maps allow lookups by `&str` without
//! allocating.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use openkms_crypto::Kek;

/// Most keys kept unwrapped at once.
const CAPACITY: usize = 4096;

/// Unwrapped key versions by key id, then version id.
#[derive(Default)]
pub struct Keyring {
    entries: RwLock<HashMap<String, HashMap<String, Arc<Kek>>>>,
}

impl Keyring {
    /// A cached key version.
    pub fn get(&self, key_id: &str, version_id: &str) -> Option<Arc<Kek>> {
        let map = self.entries.read().ok()?;
        map.get(key_id)?.get(version_id).cloned()
    }

    /// Caches a key version, starting afresh when full (keys are few; this is a safety bound).
    pub fn insert(&self, key_id: &str, version_id: &str, kek: Arc<Kek>) {
        if let Ok(mut map) = self.entries.write() {
            if map.len() >= CAPACITY {
                map.clear();
            }
            map.entry(key_id.to_owned())
                .or_default()
                .insert(version_id.to_owned(), kek);
        }
    }

    /// Forgets every version of a destroyed key.
    pub fn remove_key(&self, key_id: &str) {
        if let Ok(mut map) = self.entries.write() {
            map.remove(key_id);
        }
    }
}
