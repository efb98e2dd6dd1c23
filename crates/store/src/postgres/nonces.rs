//! The shared nonce window, written in batches. Every signed request records its nonce before
//! it is served, reads included; one INSERT per request would make the nonce table the busiest
//! thing in the database. Requests that arrive while a batch is in flight queue up and go in
//! the next one, so under load a node makes one round trip for many requests and an idle node
//! still answers at once.

use super::*;

use std::collections::HashSet;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::{classify, fan_out};
use crate::StoreError;

/// The `nonces` row (under the empty access key id, which no key has) whose `expires_at` holds
/// the moment the shared window's memory began.
const FENCE_MARKER: &str = "openkms:replay-fence";

/// Most nonces in one INSERT.
const MAX_BATCH: usize = 512;

struct Pending {
    access_key_id: String,
    nonce: String,
    expires_at: i64,
    reply: oneshot::Sender<Result<bool, StoreError>>,
}

/// The handle requests use; the task behind it ends when the store is dropped.
pub(super) struct NonceBatcher {
    queue: mpsc::UnboundedSender<Pending>,
}

impl NonceBatcher {
    pub(super) fn start(pool: PgPool) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, rx));
        Self { queue }
    }

    /// Whether this (access key, nonce) was seen for the first time by any node.
    pub(super) async fn record(
        &self,
        access_key_id: &str,
        nonce: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending {
                access_key_id: access_key_id.to_owned(),
                nonce: nonce.to_owned(),
                expires_at,
                reply,
            })
            .map_err(|_| StoreError::Unavailable)?;
        answer.await.map_err(|_| StoreError::Unavailable)?
    }
}

async fn run(pool: PgPool, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        if !insert(&pool, &mut batch).await {
            // What queued meanwhile has waited on an unreachable database already (up to the
            // pool's acquire timeout): answer it now rather than after another whole attempt,
            // so no request waits longer than one timeout for its 503.
            while let Ok(p) = rx.try_recv() {
                let _ = p.reply.send(Err(StoreError::Unavailable));
            }
        }
    }
}

/// One INSERT for the whole batch; answers every waiter and empties `batch`. False when the
/// database was unreachable.
async fn insert(pool: &PgPool, batch: &mut Vec<Pending>) -> bool {
    // A pair twice in one batch: the first is decided by the database, the rest are replays.
    let mut seen = HashSet::with_capacity(batch.len());
    let firsts: Vec<bool> = batch
        .iter()
        .map(|p| seen.insert((p.access_key_id.as_str(), p.nonce.as_str())))
        .collect();
    let (mut keys, mut nonces, mut expiries) = (Vec::new(), Vec::new(), Vec::new());
    for (p, _) in batch.iter().zip(&firsts).filter(|(_, first)| **first) {
        keys.push(p.access_key_id.as_str());
        nonces.push(p.nonce.as_str());
        expiries.push(p.expires_at);
    }
    let inserted: Result<Vec<(String, String)>, _> = sqlx::query_as(
        "INSERT INTO nonces (access_key_id, nonce, expires_at) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[]) \
         ON CONFLICT DO NOTHING RETURNING access_key_id, nonce",
    )
    .bind(&keys)
    .bind(&nonces)
    .bind(&expiries)
    .fetch_all(pool)
    .await;
    match inserted {
        Ok(rows) => {
            let new: HashSet<(&str, &str)> =
                rows.iter().map(|(k, n)| (k.as_str(), n.as_str())).collect();
            let answers: Vec<bool> = batch
                .iter()
                .zip(&firsts)
                .map(|(p, first)| {
                    *first && new.contains(&(p.access_key_id.as_str(), p.nonce.as_str()))
                })
                .collect();
            for (p, fresh) in batch.drain(..).zip(answers) {
                let _ = p.reply.send(Ok(fresh));
            }
            true
        }
        Err(e) => {
            let e = classify("record nonces", e);
            let unreachable = matches!(e, StoreError::Disconnected { .. });
            if !unreachable {
                tracing::error!(error = %e, source = ?std::error::Error::source(&e), "recording nonces failed");
            }
            let each = fan_out(e);
            for p in batch.drain(..) {
                let _ = p.reply.send(Err(each()));
            }
            !unreachable
        }
    }
}

#[async_trait]
impl crate::NonceStore for PgStore {
    async fn record_nonce(
        &self,
        access_key_id: &str,
        nonce: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        // The primary key makes the first insert of a (key, nonce) pair win on every node.
        self.nonces.record(access_key_id, nonce, expires_at).await
    }

    async fn replay_fence(&self, now: i64) -> Result<Option<i64>, StoreError> {
        // The marker row lives in the UNLOGGED table itself: whatever empties the table (a
        // crash, a failover, a copy that never had it) removes the marker with it.
        sqlx::query(
            "INSERT INTO nonces (access_key_id, nonce, expires_at) VALUES ('', $1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(FENCE_MARKER)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(pg("record replay fence"))?;
        let fence: i64 = sqlx::query_scalar(
            "SELECT expires_at FROM nonces WHERE access_key_id = '' AND nonce = $1",
        )
        .bind(FENCE_MARKER)
        .fetch_one(&self.pool)
        .await
        .map_err(pg("read replay fence"))?;
        Ok(Some(fence))
    }

    async fn purge_nonces(&self, now: i64) -> Result<u64, StoreError> {
        sqlx::query("DELETE FROM nonces WHERE expires_at <= $1 AND access_key_id <> ''")
            .bind(now)
            .execute(&self.pool)
            .await
            .map(|r| r.rows_affected())
            .map_err(pg("purge nonces"))
    }
}
