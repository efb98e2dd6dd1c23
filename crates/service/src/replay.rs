//! Freshness of signed requests: the timestamp window and single-use nonces.
//!
//! A nonce is remembered until its request's timestamp leaves the window, after which a replay
//! fails on the timestamp instead; so memory is bounded by the request rate over the window.
//! Sharded maps keep contention low; each shard expires entries from a queue in arrival order.

use std::collections::{HashSet, VecDeque};
use std::hash::BuildHasher;
use std::sync::Mutex;

/// Requests whose timestamp is further than this from the server's clock are refused.
pub const WINDOW_SECS: i64 = 15 * 60;
const SHARDS: usize = 64;

/// Why a request is not fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staleness {
    /// The timestamp is outside the window.
    Expired,
    /// The nonce was used within the window.
    Replayed,
    /// Too many nonces are held; the caller should retry later.
    Overloaded,
}

/// Remembers nonces for the window.
pub struct ReplayGuard {
    shards: Vec<Mutex<Shard>>,
    hasher: std::collections::hash_map::RandomState,
    max_per_shard: usize,
}

#[derive(Default)]
struct Shard {
    seen: HashSet<u128>,
    expiry: VecDeque<(i64, u128)>,
}

impl ReplayGuard {
    /// A guard holding at most `capacity` nonces at once.
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
            max_per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    /// Accepts a request once: checks the timestamp window, then records the nonce.
    pub fn check(
        &self,
        access_key_id: &str,
        nonce: &str,
        timestamp: i64,
        now: i64,
    ) -> Result<(), Staleness> {
        if (timestamp - now).abs() > WINDOW_SECS {
            return Err(Staleness::Expired);
        }
        // Two independent 64-bit hashes make a 128-bit fingerprint: collisions between honest
        // nonces are negligible, and a collision only refuses the colliding caller's request.
        let fp = {
            let a = self.hasher.hash_one((access_key_id, nonce));
            let b = self.hasher.hash_one((nonce, access_key_id, 0x9e37_79b9u32));
            (u128::from(a) << 64) | u128::from(b)
        };
        let idx = (fp as usize) % SHARDS;
        let Some(shard) = self.shards.get(idx) else {
            return Err(Staleness::Overloaded);
        };
        let mut shard = shard.lock().map_err(|_| Staleness::Overloaded)?;
        while let Some(&(exp, old)) = shard.expiry.front() {
            if exp >= now {
                break;
            }
            shard.expiry.pop_front();
            shard.seen.remove(&old);
        }
        if shard.seen.contains(&fp) {
            return Err(Staleness::Replayed);
        }
        if shard.seen.len() >= self.max_per_shard {
            return Err(Staleness::Overloaded);
        }
        shard.seen.insert(fp);
        shard.expiry.push_back((timestamp + WINDOW_SECS, fp));
        Ok(())
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
}
