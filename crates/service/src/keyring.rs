//! Cache of unwrapped KMS key versions. Unwrapping goes to the root of trust (a file, or an
//! HSM round trip), so the hot path must not do it per request.
//!
//! Bounded, with CLOCK (second-chance) eviction: a hit only sets the entry's reference bit
//! under the read lock, so concurrent Encrypt/Decrypt/GetSecretValue never serialise on the
//! cache; an insert into a full cache sweeps the hand, clearing bits, and evicts the first
//! entry not used since the last sweep. An evicted `Arc<Kek>` is dropped; when the last
//! in-flight request lets go of it, the key schedule is zeroized (`Kek` wraps a zeroizing
//! AES-GCM key). Nested maps allow lookups by `&str` without allocating.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use openkms_crypto::Kek;
use parking_lot::RwLock;

/// Most key versions kept unwrapped at once by default.
pub const DEFAULT_CAPACITY: usize = 4096;

/// Unwrapped key versions by key id, then version id.
pub struct Keyring {
    inner: RwLock<Inner>,
    capacity: usize,
}

struct Inner {
    /// key id → version id → slot.
    index: HashMap<String, HashMap<String, usize>>,
    slots: Vec<Slot>,
    hand: usize,
}

struct Slot {
    key_id: String,
    version_id: String,
    kek: Arc<Kek>,
    referenced: AtomicBool,
}

impl Default for Keyring {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl Keyring {
    /// A keyring holding at most `capacity` (at least 1) key versions.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            inner: RwLock::new(Inner {
                index: HashMap::new(),
                slots: Vec::new(),
                hand: 0,
            }),
            capacity: capacity.max(1),
        }
    }

    /// A cached key version.
    pub fn get(&self, key_id: &str, version_id: &str) -> Option<Arc<Kek>> {
        let inner = self.inner.read();
        let &i = inner.index.get(key_id)?.get(version_id)?;
        let slot = inner.slots.get(i)?;
        slot.referenced.store(true, Ordering::Relaxed);
        Some(slot.kek.clone())
    }

    /// Caches a key version, evicting the least recently useful one when full.
    pub fn insert(&self, key_id: &str, version_id: &str, kek: Arc<Kek>) {
        let mut inner = self.inner.write();
        let inner = &mut *inner;
        if let Some(&i) = inner.index.get(key_id).and_then(|v| v.get(version_id)) {
            if let Some(slot) = inner.slots.get_mut(i) {
                slot.kek = kek;
                slot.referenced.store(true, Ordering::Relaxed);
            }
            return;
        }
        let slot = Slot {
            key_id: key_id.to_owned(),
            version_id: version_id.to_owned(),
            kek,
            referenced: AtomicBool::new(false),
        };
        let i = if inner.slots.len() < self.capacity {
            inner.slots.push(slot);
            inner.slots.len() - 1
        } else {
            let victim = inner.sweep();
            if let Some(old) = inner.slots.get_mut(victim) {
                let old = std::mem::replace(old, slot);
                inner.unindex(&old.key_id, &old.version_id);
            }
            victim
        };
        inner
            .index
            .entry(key_id.to_owned())
            .or_default()
            .insert(version_id.to_owned(), i);
    }

    /// Forgets every version of a destroyed key.
    pub fn remove_key(&self, key_id: &str) {
        let mut inner = self.inner.write();
        let Some(versions) = inner.index.remove(key_id) else {
            return;
        };
        // Remove from the highest slot down so swap_remove only moves slots not yet visited.
        let mut doomed: Vec<usize> = versions.into_values().collect();
        doomed.sort_unstable_by(|a, b| b.cmp(a));
        for i in doomed {
            inner.remove_slot(i);
        }
        inner.hand = 0;
    }

    /// Number of cached key versions.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.read().slots.len()
    }
}

impl Inner {
    /// Advances the hand to the first slot not referenced since the last pass, clearing
    /// reference bits on the way; ends within two passes.
    fn sweep(&mut self) -> usize {
        let n = self.slots.len();
        for _ in 0..2 * n {
            let i = self.hand % n;
            self.hand = (i + 1) % n;
            match self.slots.get(i) {
                Some(s) if s.referenced.swap(false, Ordering::Relaxed) => continue,
                _ => return i,
            }
        }
        self.hand
    }

    fn unindex(&mut self, key_id: &str, version_id: &str) {
        if let Some(v) = self.index.get_mut(key_id) {
            v.remove(version_id);
            if v.is_empty() {
                self.index.remove(key_id);
            }
        }
    }

    /// Removes slot `i`, moving the last slot into its place and fixing its index entry.
    fn remove_slot(&mut self, i: usize) {
        if i >= self.slots.len() {
            return;
        }
        self.slots.swap_remove(i);
        if let Some(moved) = self.slots.get(i) {
            if let Some(e) = self
                .index
                .get_mut(&moved.key_id)
                .and_then(|v| v.get_mut(&moved.version_id))
            {
                *e = i;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openkms_crypto::KeyMaterial;

    fn kek() -> Arc<Kek> {
        Arc::new(Kek::new(&KeyMaterial::generate().unwrap()).unwrap())
    }

    #[test]
    fn holds_at_most_its_capacity_and_keeps_recently_used_entries() {
        let ring = Keyring::with_capacity(3);
        for v in ["a", "b", "c"] {
            ring.insert("k", v, kek());
        }
        // "a" and "c" are used again; "b" is the one not used since the sweep started.
        assert!(ring.get("k", "a").is_some());
        assert!(ring.get("k", "c").is_some());
        ring.insert("k", "d", kek());
        assert_eq!(ring.len(), 3);
        assert!(ring.get("k", "b").is_none());
        for v in ["a", "c", "d"] {
            assert!(ring.get("k", v).is_some(), "{v}");
        }
        for i in 0..100 {
            ring.insert("other", &i.to_string(), kek());
            assert_eq!(ring.len(), 3);
        }
    }

    #[test]
    fn an_evicted_key_is_dropped_once_no_request_holds_it() {
        let ring = Keyring::with_capacity(1);
        let first = kek();
        ring.insert("k", "1", first.clone());
        let weak = Arc::downgrade(&first);
        drop(first);
        let held = ring.get("k", "1").unwrap();
        ring.insert("k", "2", kek());
        assert!(ring.get("k", "1").is_none());
        assert!(
            weak.upgrade().is_some(),
            "an in-flight request still uses it"
        );
        drop(held);
        assert!(weak.upgrade().is_none(), "dropped, and so zeroized");
    }

    #[test]
    fn removing_a_key_forgets_all_its_versions_and_keeps_the_rest_findable() {
        let ring = Keyring::with_capacity(10);
        for (k, v) in [("a", "1"), ("b", "1"), ("a", "2"), ("c", "1"), ("a", "3")] {
            ring.insert(k, v, kek());
        }
        ring.remove_key("a");
        assert_eq!(ring.len(), 2);
        assert!(ring.get("a", "1").is_none());
        assert!(ring.get("b", "1").is_some());
        assert!(ring.get("c", "1").is_some());
        ring.insert("d", "1", kek());
        assert!(ring.get("d", "1").is_some());
        assert!(ring.get("b", "1").is_some());
    }

    #[test]
    fn reinserting_a_version_replaces_it_in_place() {
        let ring = Keyring::with_capacity(2);
        ring.insert("k", "1", kek());
        let newer = kek();
        ring.insert("k", "1", newer.clone());
        assert_eq!(ring.len(), 1);
        assert!(Arc::ptr_eq(&ring.get("k", "1").unwrap(), &newer));
    }
}
