//! Writes of one secret on this node are queued here and applied in turns, several per
//! transaction. Every write of a secret locks its row; left to PostgreSQL, each waiter would
//! hold a pooled connection and a backend, each commit would wake every waiter to race for the
//! row again, and each write would pay its own commit (a WAL flush) while holding the lock. So
//! a writer queues its plan, waits for this node's turn on the secret, and then applies every
//! plan queued by then, in arrival order, in one transaction: each plan still sees what the
//! previous one wrote, and one commit makes them all durable before any is acknowledged.
//!
//! Turns are striped: a secret name hashes to one of [`STRIPES`] mutexes, so memory stays
//! fixed; two secrets that share a stripe merely take turns too.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use parking_lot::Mutex as SyncMutex;
use tokio::sync::{oneshot, Mutex, MutexGuard};

use crate::UpdateOutcome;
use crate::{PlanFn, StoreError};

const STRIPES: usize = 1024;
/// Most plans applied in one transaction.
pub(super) const MAX_PER_TX: usize = 64;

/// One write waiting for its turn.
pub(super) struct Queued {
    pub plan: PlanFn,
    pub reply: oneshot::Sender<Result<UpdateOutcome, StoreError>>,
}

pub(super) struct WriteQueue {
    hasher: RandomState,
    stripes: Box<[Mutex<()>]>,
    queued: SyncMutex<HashMap<String, Vec<Queued>>>,
}

impl Default for WriteQueue {
    fn default() -> Self {
        Self {
            hasher: RandomState::new(),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            queued: SyncMutex::default(),
        }
    }
}

impl WriteQueue {
    /// Queues a write of `name`; its outcome arrives on the receiver once a turn applied it.
    pub(super) fn enqueue(
        &self,
        name: &str,
        plan: PlanFn,
    ) -> oneshot::Receiver<Result<UpdateOutcome, StoreError>> {
        let (reply, answer) = oneshot::channel();
        self.queued
            .lock()
            .entry(name.to_owned())
            .or_default()
            .push(Queued { plan, reply });
        answer
    }

    /// Removes the writes of `name` whose caller has gone, so a cancelled request leaves
    /// nothing queued behind it. Callers hold the guard while their write is queued.
    pub(super) fn pruning<'q>(&'q self, name: &'q str) -> Prune<'q> {
        Prune { queue: self, name }
    }

    /// Waits for this node's turn on `name`; the turn ends when the guard drops.
    pub(super) async fn turn(&self, name: &str) -> Option<MutexGuard<'_, ()>> {
        // usize fits the remainder of a division by STRIPES.
        let i = (self.hasher.hash_one(name) % STRIPES as u64) as usize;
        Some(self.stripes.get(i)?.lock().await)
    }

    /// Takes up to [`MAX_PER_TX`] queued writes of `name`, oldest first, skipping those whose
    /// caller has gone (a cancelled request must not be applied later). Call during a turn.
    pub(super) fn take(&self, name: &str) -> Vec<Queued> {
        let mut queued = self.queued.lock();
        let Some(waiting) = queued.get_mut(name) else {
            return Vec::new();
        };
        waiting.retain(|q| !q.reply.is_closed());
        let batch: Vec<Queued> = waiting.drain(..waiting.len().min(MAX_PER_TX)).collect();
        if waiting.is_empty() {
            queued.remove(name);
        }
        batch
    }
}

/// See [`WriteQueue::pruning`].
pub(super) struct Prune<'q> {
    queue: &'q WriteQueue,
    name: &'q str,
}

impl Drop for Prune<'_> {
    fn drop(&mut self) {
        let mut queued = self.queue.queued.lock();
        if let Some(waiting) = queued.get_mut(self.name) {
            waiting.retain(|q| !q.reply.is_closed());
            if waiting.is_empty() {
                queued.remove(self.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn plan() -> PlanFn {
        Box::new(|_| Err(openkms_domain::secret::Rejection::SecretNotFound))
    }

    #[tokio::test]
    async fn one_name_takes_turns_and_other_names_mostly_do_not_wait() {
        let q = WriteQueue::default();
        let held = q.turn("a").await;
        assert!(tokio::time::timeout(Duration::from_millis(20), q.turn("a"))
            .await
            .is_err());
        let mut free = 0;
        for n in 0..20 {
            let name = format!("other-{n}");
            if tokio::time::timeout(Duration::from_millis(1), q.turn(&name))
                .await
                .is_ok()
            {
                free += 1;
            }
        }
        assert!(free > 0);
        drop(held);
        let _again = q.turn("a").await;
    }

    #[tokio::test]
    async fn a_turn_takes_the_queued_writes_of_its_name_in_order_without_the_abandoned() {
        let q = WriteQueue::default();
        let first = q.enqueue("a", plan());
        let abandoned = q.enqueue("a", plan());
        let _other = q.enqueue("b", plan());
        let third = q.enqueue("a", plan());
        drop(abandoned);
        let batch = q.take("a");
        assert_eq!(batch.len(), 2);
        for (queued, answer) in batch.into_iter().zip([first, third]) {
            queued.reply.send(Ok(UpdateOutcome::NotFound)).ok();
            assert!(matches!(answer.await, Ok(Ok(UpdateOutcome::NotFound))));
        }
        assert!(q.take("a").is_empty());
        assert_eq!(q.take("b").len(), 1);
    }

    #[test]
    fn a_write_whose_caller_went_away_is_not_left_queued() {
        let q = WriteQueue::default();
        let kept = q.enqueue("a", plan());
        {
            let _prune = q.pruning("a");
            let _gone = q.enqueue("a", plan());
        }
        assert_eq!(q.queued.lock().get("a").map(Vec::len), Some(1));
        drop(kept);
        drop(q.pruning("a"));
        assert!(q.queued.lock().is_empty());
    }

    #[test]
    fn a_turn_takes_at_most_a_bounded_batch() {
        let q = WriteQueue::default();
        let _answers: Vec<_> = (0..MAX_PER_TX + 3)
            .map(|_| q.enqueue("a", plan()))
            .collect();
        assert_eq!(q.take("a").len(), MAX_PER_TX);
        assert_eq!(q.take("a").len(), 3);
    }
}
