//! The shared store for several nodes: PostgreSQL (or a compatible database) through a `sqlx`
//! connection pool; sqlx prepares each statement once per connection and caches it.
//!
//! Every write is one transaction at READ COMMITTED that first locks the rows its decision
//! depends on (`SELECT ... FOR UPDATE` on the secret or key a plan sees, `FOR SHARE` on the
//! key that seals a new version, the owner row of a tag change), so concurrent writers from any
//! node queue on the row instead of failing. Deadlocks (40P01) and serialization failures
//! (40001, which a PostgreSQL-compatible distributed database may raise at any level) roll the
//! transaction back and run it again, plan function included; they never leave the store.
//! Lost connections become [`StoreError::Disconnected`] (the API answers 503).
//!
//! Every read sees what every node committed: the only cache, of sealed secret versions
//! (`version_cache`), serves a version only to a reader that saw the same revision of its
//! secret row, which every read fetches first.

pub mod tls;
mod version_cache;
mod write_queue;

use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use openkms_domain::filters::SecretFilter;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::Row;

use crate::columns::corrupt_in_postgres;
use crate::*;
use nonces::NonceBatcher;
use version_cache::VersionCache;
use write_queue::{Queued, WriteQueue};

/// The migrations, applied in order; `openkms_schema` records how many ran.
pub const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_init.sql"),
    include_str!("../../migrations/postgres/0002_ram.sql"),
    include_str!("../../migrations/postgres/0003_nonces.sql"),
    include_str!("../../migrations/postgres/0004_db_instance_tls.sql"),
];

/// Connections per node; PostgreSQL's default limit is 100, shared by every node.
const POOL_SIZE: u32 = 16;
/// How long a request waits for a pooled connection (or a new one) before answering 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// A pooled connection idle this long is pinged before use. One busier than that is used at
/// once; if the server restarted meanwhile, that request answers 503.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);
/// Runs of one write after serialization failures or deadlocks before giving up with 503.
const MAX_ATTEMPTS: u32 = 30;
/// Any constant: the advisory lock key that serialises migrations across nodes.
const MIGRATION_LOCK: i64 = 0x6f70_656e_6b6d_7301;

/// PostgreSQL-backed [`Store`].
pub struct PgStore {
    pool: PgPool,
    nonces: NonceBatcher,
    versions: VersionCache,
    writes: WriteQueue,
    /// The service-managed default key, once `meta` has been read: no action changes its state,
    /// so sealing under it needs neither a state check nor a lock on its row (which every
    /// write would otherwise share, at a real cost in PostgreSQL).
    service_key: OnceLock<String>,
}

impl PgStore {
    /// Connects to `url` and brings the schema up to date. TLS follows libpq's URL parameters
    /// (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`; [`tls`]).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        // Parsed first: a malformed URL must be refused without quoting any part of it.
        let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::Config {
            reason: tls::bad_sslmode(url)
                .unwrap_or_else(|| format!("invalid PostgreSQL URL: {}", redacted(&e))),
        })?;
        let files = tls::check_url(url)?;
        Self::open(options, Some(files)).await
    }

    /// Connects with `options` (tests set a schema through `search_path`) and migrates.
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        Self::open(options, None).await
    }

    async fn open(
        options: PgConnectOptions,
        files: Option<tls::UrlFiles>,
    ) -> Result<Self, StoreError> {
        let sslmode = tls::mode_name(options.get_ssl_mode());
        let host = options.get_host().to_owned();
        let socket = options.get_socket().is_some();
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // A ping before every use would double the round trips of every query; a ping
            // before using a connection that sat idle finds those a PostgreSQL restart broke,
            // and the pool replaces them instead of failing a request.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    Ok(meta.idle_for < IDLE_BEFORE_PING
                        || sqlx::Connection::ping(conn).await.is_ok())
                })
            })
            .connect_with(options)
            .await
            // A TLS failure is the configuration's (or an attacker's): said as such, not as
            // an unreachable database to wait for.
            .map_err(|e| match tls::failure(&e) {
                Some(reason) => StoreError::Tls { sslmode, reason },
                None => classify("connect", e),
            })?;
        tls::log_connection(&pool, sslmode, &host, socket, files.as_ref()).await;
        migrate(&pool).await?;
        Ok(Self {
            nonces: NonceBatcher::start(pool.clone()),
            pool,
            versions: VersionCache::default(),
            writes: WriteQueue::default(),
            service_key: OnceLock::new(),
        })
    }

    /// The pool, for tests that arrange rows behind the store's back.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Applies the migrations this binary knows and the database has not run yet, in one
/// transaction holding an advisory lock, so nodes starting together migrate once.
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    let fail = |step: &'static str| {
        move |e: sqlx::Error| match classify("migrate", e) {
            StoreError::Postgres { source, .. } => StoreError::Migration {
                reason: format!("{step}: {source}"),
            },
            other => other,
        }
    };
    let mut tx = pool.begin().await.map_err(fail("begin"))?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(fail("lock"))?;
    // Checked first rather than `IF NOT EXISTS`, which logs a notice on every start.
    let known: bool = sqlx::query_scalar("SELECT to_regclass('openkms_schema') IS NOT NULL")
        .fetch_one(&mut *tx)
        .await
        .map_err(fail("find schema table"))?;
    if !known {
        sqlx::query("CREATE TABLE openkms_schema (version INTEGER NOT NULL)")
            .execute(&mut *tx)
            .await
            .map_err(fail("schema table"))?;
    }
    let current: Option<i32> = sqlx::query_scalar("SELECT MAX(version) FROM openkms_schema")
        .fetch_one(&mut *tx)
        .await
        .map_err(fail("read schema version"))?;
    let current = usize::try_from(current.unwrap_or(0)).unwrap_or(0);
    if current > MIGRATIONS.len() {
        return Err(StoreError::Migration {
            reason: format!(
                "the database has schema version {current}, newer than this binary knows ({})",
                MIGRATIONS.len()
            ),
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let version = i32::try_from(i + 1).unwrap_or(i32::MAX);
        // A simple query (no parameters) may hold several statements.
        sqlx::raw_sql(sql)
            .execute(&mut *tx)
            .await
            .map_err(fail("apply migration"))?;
        sqlx::query("INSERT INTO openkms_schema (version) VALUES ($1)")
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(fail("record schema version"))?;
    }
    tx.commit().await.map_err(fail("commit"))?;
    Ok(())
}

/// A URL parse error without the URL (it may hold a password).
fn redacted(e: &sqlx::Error) -> &'static str {
    match e {
        sqlx::Error::Configuration(_) => "the URL could not be parsed",
        _ => "the URL was refused",
    }
}

pub(crate) fn pg(op: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| classify(op, e)
}

/// Sorts a driver error: the database unreachable (503, the client retries), or a failure.
pub(super) fn classify(op: &'static str, e: sqlx::Error) -> StoreError {
    if let Some(corrupt) = corrupt_in_postgres(&e) {
        return corrupt;
    }
    let unreachable = match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // Class 08 connection exception; 57P01-57P03 shutdown / not accepting connections;
        // 53300 too many connections; 25006 a read-only standby (failover in progress).
        sqlx::Error::Database(d) => d.code().is_some_and(|c| {
            c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03" | "53300" | "25006")
        }),
        _ => false,
    };
    if unreachable {
        StoreError::Disconnected { op, source: e }
    } else {
        StoreError::Postgres { op, source: e }
    }
}

/// Whether a row read inside a write is locked against concurrent writers.
#[derive(Clone, Copy)]
enum Lock {
    None,
    Update,
}

/// Whether running the transaction again may succeed: a serialization failure or deadlock.
fn retryable(e: &StoreError) -> bool {
    match e {
        StoreError::Postgres {
            source: sqlx::Error::Database(d),
            ..
        } => d.code().is_some_and(|c| matches!(&*c, "40001" | "40P01")),
        _ => false,
    }
}

/// Runs `$body` — a future using `$c: &mut PgConnection` — in one transaction, committed when
/// it returns `Ok`, rolled back otherwise, and run again (from a fresh transaction, plan
/// function included) after a serialization failure or deadlock.
macro_rules! in_tx {
    ($self:expr, $op:literal, |$c:ident| $body:expr) => {{
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let result = async {
                let mut tx = $self.pool.begin().await.map_err(pg($op))?;
                let out = {
                    let $c: &mut PgConnection = &mut tx;
                    $body.await
                };
                match out {
                    Ok(v) => tx.commit().await.map(|()| v).map_err(pg($op)),
                    Err(e) => {
                        // The error wins over a failed rollback; the connection is closed
                        // by the pool if the rollback could not run.
                        let _ = tx.rollback().await;
                        Err(e)
                    }
                }
            }
            .await;
            match result {
                Err(e) if retryable(&e) && attempt < MAX_ATTEMPTS => {
                    tracing::debug!(op = $op, attempt, "transaction conflict, retrying");
                    backoff(attempt).await;
                }
                Err(e) if retryable(&e) => {
                    tracing::warn!(op = $op, attempt, error = %e, "transaction kept conflicting");
                    break Err(StoreError::Unavailable);
                }
                other => break other,
            }
        }
    }};
}

/// Runs `$body` — a future using `$c: &mut PgConnection` — in one read-only REPEATABLE READ
/// transaction, so a count and its page come from one snapshot. The transaction is always
/// ended before the connection goes back to the pool.
macro_rules! read_tx {
    ($self:expr, $op:literal, |$c:ident| $body:expr) => {{
        async {
            let mut tx = $self.pool.begin().await.map_err(pg($op))?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await
                .map_err(pg($op))?;
            let out = {
                let $c: &mut PgConnection = &mut tx;
                $body.await
            };
            match out {
                Ok(v) => tx.commit().await.map(|()| v).map_err(pg($op)),
                Err(e) => {
                    let _ = tx.rollback().await;
                    Err(e)
                }
            }
        }
        .await
    }};
}

// After the macros, which they use.

mod identities;
mod instances;
mod keys;
mod nonces;
mod roots;
mod rotation;
mod secrets;
mod tags;

/// A short, growing, jittered pause before a retried transaction, so two conflicting writers
/// do not collide again in lockstep.
async fn backoff(attempt: u32) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let cap_us = 500u64 << attempt.min(6);
    let us = u64::from(nanos) % cap_us;
    tokio::time::sleep(Duration::from_micros(us)).await;
}

#[async_trait]
impl Store for PgStore {}

/// One failure for many waiters: each gets 503 when the database was unreachable, otherwise
/// the shared cause.
pub(super) fn fan_out(e: StoreError) -> impl Fn() -> StoreError {
    let unreachable = matches!(e, StoreError::Disconnected { .. } | StoreError::Unavailable);
    let shared = Arc::new(e);
    move || {
        if unreachable {
            StoreError::Unavailable
        } else {
            StoreError::Batch {
                source: shared.clone(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_connections_are_unavailable_and_conflicts_are_retried() {
        assert!(matches!(
            classify("t", sqlx::Error::PoolTimedOut),
            StoreError::Disconnected { .. }
        ));
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(matches!(classify("t", io), StoreError::Disconnected { .. }));
        let other = classify("t", sqlx::Error::RowNotFound);
        assert!(matches!(other, StoreError::Postgres { .. }));
        assert!(!retryable(&other));
    }

    #[tokio::test]
    async fn an_unreachable_server_is_reported_as_unavailable_not_as_a_failure() {
        // Nothing listens on port 1: the connection is refused at once.
        let err = PgStore::connect("postgres://openkms@127.0.0.1:1/none")
            .await
            .err()
            .unwrap();
        assert!(matches!(err, StoreError::Disconnected { .. }), "{err:?}");
    }

    #[test]
    fn page_bounds_saturate() {
        assert_eq!(clamp(u64::MAX), i64::MAX);
        assert_eq!(clamp(7), 7);
    }
}
