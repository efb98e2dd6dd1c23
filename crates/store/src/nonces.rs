//! The shared replay window of stores that several nodes use.

use async_trait::async_trait;

use crate::StoreError;

/// The shared replay window of stores that several nodes use.
#[async_trait]
pub trait NonceStore: Send + Sync {
    /// Records a signed request's nonce until `expires_at`; `false` when it is recorded
    /// already (a replay seen by any node). A store that one process owns (SQLite) records
    /// nothing and answers `true`: that process's in-memory window sees every request.
    async fn record_nonce(
        &self,
        _access_key_id: &str,
        _nonce: &str,
        _expires_at: i64,
    ) -> Result<bool, StoreError> {
        Ok(true)
    }

    /// Where a store shares the nonce window (PostgreSQL), the moment its memory of that
    /// window begins: requests signed earlier may have been accepted by a memory since lost
    /// (a store made by `migrate`, a table emptied by a database crash). Recorded at `now` if
    /// the store holds none. `None` for stores that keep no shared window.
    async fn replay_fence(&self, _now: i64) -> Result<Option<i64>, StoreError> {
        Ok(None)
    }

    /// Forgets nonces that expired at or before `now`; returns how many.
    async fn purge_nonces(&self, _now: i64) -> Result<u64, StoreError> {
        Ok(0)
    }
}
