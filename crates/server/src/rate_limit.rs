//! An optional request rate limit per access key: a token bucket of `burst` tokens refilled at
//! `per_second`, checked after the signature, so only the key's holder can spend its tokens.
//! The map is sharded by the key id's hash, so requests of different keys rarely share a lock
//! and none is held across an `.await`. An idle key's bucket refills to full, which is the same
//! as having none: such entries are dropped when a shard grows, so the map holds about the keys
//! active within the last `burst / per_second` seconds.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::time::Instant;

use parking_lot::Mutex;

/// Shards of the bucket map (a power of two).
const SHARDS: usize = 64;

/// Buckets a shard holds before it drops the full ones.
const SWEEP_AT: usize = 1024;

/// The limit: `per_second` requests per second on average, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: f64,
}

/// Token buckets by access key id.
pub struct RateLimiter {
    limit: RateLimit,
    hasher: RandomState,
    shards: Vec<Mutex<Shard>>,
}

#[derive(Default)]
struct Shard {
    buckets: HashMap<String, Bucket>,
    /// Size after the last sweep: the next sweep waits until the shard doubles past it.
    swept_len: usize,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// A limiter enforcing `limit` on every access key.
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }

    /// Takes one token from `access_key_id`'s bucket; `false` when it is empty.
    pub fn allow(&self, access_key_id: &str) -> bool {
        self.allow_at(access_key_id, Instant::now())
    }

    fn allow_at(&self, access_key_id: &str, now: Instant) -> bool {
        let index = (self.hasher.hash_one(access_key_id) as usize) & (SHARDS - 1);
        let Some(shard) = self.shards.get(index) else {
            return true;
        };
        let mut shard = shard.lock();
        let limit = self.limit;
        if let Some(bucket) = shard.buckets.get_mut(access_key_id) {
            return bucket.take(limit, now);
        }
        if shard.buckets.len() >= SWEEP_AT.max(shard.swept_len * 2) {
            shard
                .buckets
                .retain(|_, b| b.refilled(limit, now) < limit.burst);
            shard.swept_len = shard.buckets.len();
        }
        let mut bucket = Bucket {
            tokens: limit.burst,
            at: now,
        };
        let allowed = bucket.take(limit, now);
        shard.buckets.insert(access_key_id.to_owned(), bucket);
        allowed
    }

    #[cfg(test)]
    fn contains(&self, key: &str) -> bool {
        let index = (self.hasher.hash_one(key) as usize) & (SHARDS - 1);
        self.shards[index].lock().buckets.contains_key(key)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().buckets.len()).sum()
    }
}

impl Bucket {
    fn refilled(&self, limit: RateLimit, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        (self.tokens + elapsed * limit.per_second).min(limit.burst)
    }

    fn take(&mut self, limit: RateLimit, now: Instant) -> bool {
        self.tokens = self.refilled(limit, now);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limiter(per_second: f64, burst: f64) -> RateLimiter {
        RateLimiter::new(RateLimit { per_second, burst })
    }

    #[test]
    fn a_burst_beyond_the_bucket_is_refused_and_refills_with_time() {
        let l = limiter(5.0, 5.0);
        let t = Instant::now();
        for _ in 0..5 {
            assert!(l.allow_at("a", t));
        }
        assert!(!l.allow_at("a", t));
        // Another key has its own bucket.
        assert!(l.allow_at("b", t));
        // 200 ms at 5/s is one token.
        assert!(l.allow_at("a", t + Duration::from_millis(200)));
        assert!(!l.allow_at("a", t + Duration::from_millis(200)));
        // Never more than the burst, however long the key was idle.
        let later = t + Duration::from_secs(3600);
        for _ in 0..5 {
            assert!(l.allow_at("a", later));
        }
        assert!(!l.allow_at("a", later));
    }

    #[test]
    fn idle_keys_are_forgotten_when_a_shard_grows() {
        let l = limiter(1000.0, 1.0);
        let t = Instant::now();
        for i in 0..(SHARDS * SWEEP_AT * 2) {
            assert!(l.allow_at(&format!("k{i}"), t));
        }
        let before = l.len();
        // One second later every bucket is full again: the next keys sweep them away once
        // their shard has doubled since its last sweep.
        let later = t + Duration::from_secs(1);
        let new_keys = SHARDS * SWEEP_AT * 3;
        for i in 0..new_keys {
            assert!(l.allow_at(&format!("n{i}"), later));
        }
        let old_left = (0..before).filter(|i| l.contains(&format!("k{i}"))).count();
        assert_eq!(old_left, 0);
        assert!(l.len() <= new_keys);
    }
}
