//! Freshness of signed requests: the timestamp window and single-use nonces.
//!
//! A nonce is remembered until its request's timestamp leaves the window, after which a replay
//! fails on the timestamp instead; so memory is bounded by the request rate over the window.
//! Sharded maps keep contention low; each shard expires entries from a queue in arrival order.
//!
//! - **Per access key, not per service.** Each access key may hold at most a quarter of the
//!   window's capacity: a key that floods the window is throttled (`Rejected.Throttling`) while
//!   every other key keeps working.
//! - **Across restarts.** On the embedded store every accepted nonce is appended to a journal
//!   (`journal.rs`) before the action runs, and the journal is read back at start, so a request
//!   captured before a restart (or a crash) is still refused for its whole window.
//! - **The fence.** Where the window's memory cannot be shown complete (a journal that is not
//!   there, a store made by `migrate`, a shared nonce table emptied by a database crash),
//!   requests signed before the moment this memory begins are refused as expired: they may have
//!   been accepted by the lost memory.

pub mod journal;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};

use parking_lot::{Mutex, MutexGuard};
use ring::digest;

pub use journal::{JournalError, NonceJournal};

/// Requests whose timestamp is further than this from the server's clock are refused.
pub const WINDOW_SECS: i64 = 15 * 60;
const SHARDS: usize = 64;
/// One access key may hold at most this share (1/N) of the whole window.
const PER_KEY_SHARE: usize = 4;

/// Why a request is not fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staleness {
    /// The timestamp is outside the window (or before the fence).
    Expired,
    /// The nonce was used within the window.
    Replayed,
    /// This access key holds too many nonces, or the window is full; retry later.
    Overloaded,
    /// The nonce could not be made durable: refused rather than served unprotected.
    Unrecorded,
}

/// One remembered request: a 128-bit fingerprint of (access key, nonce), the access key's
/// 64-bit tag (for its quota) and when it may be forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub fingerprint: u128,
    pub key_tag: u64,
    pub expires_at: i64,
}

impl Seen {
    /// The entry for a request. Stable across processes (SHA-256 and FNV-1a, no random
    /// state), so a journal written by one process is read by the next.
    pub fn of(access_key_id: &str, nonce: &str, timestamp: i64) -> Self {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(&(access_key_id.len() as u64).to_le_bytes());
        ctx.update(access_key_id.as_bytes());
        ctx.update(nonce.as_bytes());
        let d = ctx.finish();
        let mut fp = [0u8; 16];
        fp.copy_from_slice(d.as_ref().get(..16).unwrap_or(&[0; 16]));
        Self {
            fingerprint: u128::from_le_bytes(fp),
            key_tag: fnv1a(access_key_id.as_bytes()),
            expires_at: timestamp.saturating_add(WINDOW_SECS),
        }
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Remembers nonces for the window.
pub struct ReplayGuard {
    shards: Vec<Mutex<Shard>>,
    /// Nonces held per access key tag, sharded by tag; locked after a nonce shard, never before.
    per_key: Vec<Mutex<HashMap<u64, usize>>>,
    max_per_shard: usize,
    max_per_key: usize,
    /// Requests signed before this (Unix seconds) are refused; `i64::MIN` when none.
    fence: AtomicI64,
    journal: Option<NonceJournal>,
}

#[derive(Default)]
struct Shard {
    seen: HashSet<u128>,
    expiry: VecDeque<(i64, u128, u64)>,
}

impl ReplayGuard {
    /// A guard holding at most `capacity` nonces at once, in memory only.
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_key: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            max_per_shard: capacity.div_ceil(SHARDS).max(1),
            max_per_key: (capacity / PER_KEY_SHARE).max(1),
            fence: AtomicI64::new(i64::MIN),
            journal: None,
        }
    }

    /// A guard that journals every accepted nonce and starts with what `journal` remembers.
    /// A journal that had to be created fences requests signed before `fence_at` (the start,
    /// or `i64::MIN` for a store that never served).
    pub fn with_journal(capacity: usize, journal: NonceJournal, fence_at: i64) -> Self {
        let mut g = Self::new(capacity);
        if journal.created() {
            g.raise_fence(fence_at);
        }
        for s in journal.live_entries() {
            g.remember(s);
        }
        g.journal = Some(journal);
        g
    }

    /// Refuses requests signed before `at` from now on (never lowers an earlier fence).
    pub fn raise_fence(&self, at: i64) {
        self.fence.fetch_max(at, Ordering::SeqCst);
    }

    /// The current fence.
    pub fn fence(&self) -> i64 {
        self.fence.load(Ordering::SeqCst)
    }

    /// Accepts a request once: checks the timestamp window and fence, then records the nonce
    /// (in the journal too, before returning).
    pub fn check(
        &self,
        access_key_id: &str,
        nonce: &str,
        timestamp: i64,
        now: i64,
    ) -> Result<(), Staleness> {
        if (timestamp - now).abs() > WINDOW_SECS || timestamp < self.fence() {
            return Err(Staleness::Expired);
        }
        let seen = Seen::of(access_key_id, nonce, timestamp);
        let mut shard = self.shard(seen.fingerprint)?;
        self.expire(&mut shard, now);
        if shard.seen.contains(&seen.fingerprint) {
            return Err(Staleness::Replayed);
        }
        if shard.seen.len() >= self.max_per_shard {
            return Err(Staleness::Overloaded);
        }
        {
            let mut counts = self.key_counts(seen.key_tag)?;
            let held = counts.entry(seen.key_tag).or_insert(0);
            if *held >= self.max_per_key {
                return Err(Staleness::Overloaded);
            }
            *held += 1;
        }
        // Journaled under the shard's lock: a concurrent replay of the same nonce waits here
        // and then finds it remembered.
        if let Some(j) = &self.journal {
            if j.append(&seen, now).is_err() {
                self.uncount(seen.key_tag);
                return Err(Staleness::Unrecorded);
            }
        }
        shard.seen.insert(seen.fingerprint);
        shard
            .expiry
            .push_back((seen.expires_at, seen.fingerprint, seen.key_tag));
        Ok(())
    }

    /// Loads an entry remembered by an earlier process (no caps: it was accepted then).
    fn remember(&mut self, s: Seen) {
        let idx = (s.fingerprint as usize) % SHARDS;
        let kidx = (s.key_tag as usize) % SHARDS;
        if let (Some(shard), Some(keys)) = (self.shards.get_mut(idx), self.per_key.get_mut(kidx)) {
            let (shard, keys) = (shard.get_mut(), keys.get_mut());
            if shard.seen.insert(s.fingerprint) {
                shard
                    .expiry
                    .push_back((s.expires_at, s.fingerprint, s.key_tag));
                *keys.entry(s.key_tag).or_insert(0) += 1;
            }
        }
    }

    fn shard(&self, fp: u128) -> Result<MutexGuard<'_, Shard>, Staleness> {
        Ok(self
            .shards
            .get((fp as usize) % SHARDS)
            .ok_or(Staleness::Overloaded)?
            .lock())
    }

    fn key_counts(&self, tag: u64) -> Result<MutexGuard<'_, HashMap<u64, usize>>, Staleness> {
        Ok(self
            .per_key
            .get((tag as usize) % SHARDS)
            .ok_or(Staleness::Overloaded)?
            .lock())
    }

    fn uncount(&self, tag: u64) {
        if let Ok(mut counts) = self.key_counts(tag) {
            if let Some(n) = counts.get_mut(&tag) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    counts.remove(&tag);
                }
            }
        }
    }

    /// Forgets entries whose timestamp left the window. Entries arrive roughly in expiry
    /// order; one out of order is forgotten a little late, never early.
    fn expire(&self, shard: &mut Shard, now: i64) {
        while let Some(&(exp, fp, tag)) = shard.expiry.front() {
            if exp >= now {
                break;
            }
            shard.expiry.pop_front();
            shard.seen.remove(&fp);
            self.uncount(tag);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_reused_signature_nonce() {
        let g = ReplayGuard::new(1000);
        assert_eq!(g.check("ak", "n1", 100, 100), Ok(()));
        assert_eq!(g.check("ak", "n1", 100, 101), Err(Staleness::Replayed));
        assert_eq!(g.check("other", "n1", 100, 101), Ok(()));
    }

    #[test]
    fn rejects_timestamps_outside_fifteen_minutes() {
        let g = ReplayGuard::new(1000);
        assert_eq!(
            g.check("ak", "a", 1000 - 901, 1000),
            Err(Staleness::Expired)
        );
        assert_eq!(
            g.check("ak", "b", 1000 + 901, 1000),
            Err(Staleness::Expired)
        );
        assert_eq!(g.check("ak", "c", 1000 - 900, 1000), Ok(()));
    }

    #[test]
    fn forgets_nonces_once_their_timestamp_left_the_window() {
        let g = ReplayGuard::new(1000);
        g.check("ak", "n", 0, 0).unwrap();
        // Still remembered while the timestamp is valid...
        assert_eq!(g.check("ak", "n", 0, 900), Err(Staleness::Replayed));
        // ...and refused on the timestamp afterwards, so forgetting it is safe.
        assert_eq!(g.check("ak", "n", 0, 902), Err(Staleness::Expired));
    }

    #[test]
    fn bounded_capacity_refuses_instead_of_growing() {
        let g = ReplayGuard::new(64);
        let mut overloaded = 0;
        for i in 0..1000 {
            if g.check("ak", &i.to_string(), 0, 0) == Err(Staleness::Overloaded) {
                overloaded += 1;
            }
        }
        assert!(overloaded > 0);
    }

    #[test]
    fn a_key_that_floods_the_window_is_throttled_and_others_are_not() {
        let g = ReplayGuard::new(4000);
        let mut flood_refused = 0;
        for i in 0..3000 {
            if g.check("flood", &format!("n{i}"), 0, 0) == Err(Staleness::Overloaded) {
                flood_refused += 1;
            }
        }
        // A quarter of the window (1000) and no more.
        assert_eq!(flood_refused, 2000);
        for i in 0..500 {
            assert_eq!(g.check("quiet", &format!("n{i}"), 0, 0), Ok(()));
        }
        // Once the flood's timestamps leave the window, its quota is back.
        assert_eq!(g.check("flood", "later", 1000, 1000), Ok(()));
    }

    #[test]
    fn requests_signed_before_the_fence_are_expired() {
        let g = ReplayGuard::new(100);
        g.raise_fence(500);
        g.raise_fence(400);
        assert_eq!(g.fence(), 500, "a fence never moves back");
        assert_eq!(g.check("ak", "a", 499, 600), Err(Staleness::Expired));
        assert_eq!(g.check("ak", "b", 500, 600), Ok(()));
    }

    #[test]
    fn fingerprints_are_stable_and_separate_key_from_nonce() {
        assert_eq!(Seen::of("ak", "n", 0), Seen::of("ak", "n", 0));
        assert_ne!(
            Seen::of("ak", "n", 0).fingerprint,
            Seen::of("akn", "", 0).fingerprint
        );
    }
}
