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

mod rows;
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

use crate::records::*;
use crate::{KeyPlanFn, PlanFn, Store, StoreError};
use nonces::NonceBatcher;

/// The `nonces` row (under the empty access key id, which no key has) whose `expires_at` holds
/// the moment the shared window's memory began.
const FENCE_MARKER: &str = "openkms:replay-fence";
use rows::Lock;
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

/// A page bound as PostgreSQL's BIGINT.
pub(crate) fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn pg(op: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| classify(op, e)
}

/// Sorts a driver error: the database unreachable (503, the client retries), or a failure.
pub(super) fn classify(op: &'static str, e: sqlx::Error) -> StoreError {
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
mod access_keys;
mod iam;
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

// The write transactions' bodies, one per operation. Each runs inside `in_tx!`, possibly more
// than once.

async fn initialize(c: &mut PgConnection, boot: &Bootstrap) -> Result<(), StoreError> {
    let m = &boot.meta;
    // Several nodes may start on an empty database at once: the first insert wins, the others
    // wait for its commit here and are told to join instead.
    let n = sqlx::query("INSERT INTO meta (id, account_id, root_fingerprint, default_instance, service_key_id, created_at) VALUES (1, $1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING")
        .bind(&m.account_id)
        .bind(&m.root_fingerprint)
        .bind(&m.default_instance)
        .bind(&m.service_key_id)
        .bind(m.created_at)
        .execute(&mut *c)
        .await
        .map_err(pg("write meta"))?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::AlreadyInitialized);
    }
    sqlx::query("INSERT INTO instances (instance_id, created_at) VALUES ($1, $2)")
        .bind(&m.default_instance)
        .bind(m.created_at)
        .execute(&mut *c)
        .await
        .map_err(pg("write instance"))?;
    rows::insert_root(c, &boot.root).await?;
    rows::insert_key(c, &boot.service_key).await?;
    rows::insert_key_version(c, &boot.service_key_version).await?;
    for ak in &boot.access_keys {
        rows::insert_access_key(c, ak).await?;
    }
    Ok(())
}

async fn activate_root(c: &mut PgConnection, root: &RootRecord) -> Result<(), StoreError> {
    sqlx::query("UPDATE roots SET state = 'retiring' WHERE state = 'active' AND root_id <> $1")
        .bind(&root.root_id)
        .execute(&mut *c)
        .await
        .map_err(pg("demote active root"))?;
    sqlx::query("INSERT INTO roots (root_id, kind, locator, state, created_at) VALUES ($1, $2, $3, 'active', $4) ON CONFLICT (root_id) DO UPDATE SET state = 'active', locator = COALESCE(excluded.locator, roots.locator)")
        .bind(&root.root_id)
        .bind(&root.kind)
        .bind(&root.locator)
        .bind(root.created_at)
        .execute(&mut *c)
        .await
        .map_err(pg("activate root"))?;
    Ok(())
}

async fn retire_roots(c: &mut PgConnection) -> Result<bool, StoreError> {
    // Lock the retiring roots first: a write under one of them holds its row FOR SHARE (the
    // live-root trigger) until it commits, so the check below, a new statement, sees that row.
    sqlx::query("SELECT root_id FROM roots WHERE state = 'retiring' FOR UPDATE")
        .execute(&mut *c)
        .await
        .map_err(pg("lock retiring roots"))?;
    sqlx::query("UPDATE roots SET state = 'retired' WHERE state = 'retiring' AND NOT EXISTS (SELECT 1 FROM key_versions WHERE root_id IS DISTINCT FROM (SELECT root_id FROM roots WHERE state = 'active')) AND NOT EXISTS (SELECT 1 FROM access_keys WHERE root_id IS DISTINCT FROM (SELECT root_id FROM roots WHERE state = 'active'))")
        .execute(&mut *c)
        .await
        .map_err(pg("retire roots"))?;
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM roots WHERE state = 'retiring'")
        .fetch_one(&mut *c)
        .await
        .map_err(pg("count retiring roots"))?;
    Ok(left == 0)
}

async fn create_key(
    c: &mut PgConnection,
    key: &KeyRecord,
    version: &KeyVersionRecord,
    tags: &[TagRecord],
) -> Result<(), StoreError> {
    rows::insert_key(c, key).await?;
    rows::insert_key_version(c, version).await?;
    for t in tags {
        sqlx::query("INSERT INTO key_tags (key_id, tag_key, tag_value) VALUES ($1, $2, $3)")
            .bind(&key.key_id)
            .bind(&t.key)
            .bind(&t.value)
            .execute(&mut *c)
            .await
            .map_err(pg("write key tag"))?;
    }
    Ok(())
}

async fn update_key(
    c: &mut PgConnection,
    key_id: &str,
    plan: &KeyPlanFn,
) -> Result<KeyUpdateOutcome, StoreError> {
    // The key row lock orders this against CreateSecret / PutSecretValue, which hold it FOR
    // SHARE: the count below includes every secret whose write committed first.
    let Some(key) = rows::key_by_id(c, key_id, Lock::Update).await? else {
        return Ok(KeyUpdateOutcome::NotFound);
    };
    let protected: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM secrets WHERE encryption_key_id = $1")
            .bind(key_id)
            .fetch_one(&mut *c)
            .await
            .map_err(pg("count secrets of key"))?;
    let state = KeyPlanState {
        key,
        protected_secrets: u64::try_from(protected).unwrap_or_default(),
    };
    let update = match plan(&state) {
        Ok(u) => u,
        Err(r) => return Ok(KeyUpdateOutcome::Rejected(r)),
    };
    let mut next = state.key;
    update.apply_to(&mut next);
    rows::write_key(c, &next).await?;
    Ok(KeyUpdateOutcome::Applied(Box::new(next)))
}

async fn add_key_version(
    c: &mut PgConnection,
    version: &KeyVersionRecord,
    plan: &KeyPlanFn,
) -> Result<KeyUpdateOutcome, StoreError> {
    let Some(key) = rows::key_by_id(c, &version.key_id, Lock::Update).await? else {
        return Ok(KeyUpdateOutcome::NotFound);
    };
    let state = KeyPlanState {
        key,
        protected_secrets: 0,
    };
    let update = match plan(&state) {
        Ok(u) => u,
        Err(r) => return Ok(KeyUpdateOutcome::Rejected(r)),
    };
    rows::insert_key_version(c, version).await?;
    let mut next = state.key;
    update.apply_to(&mut next);
    next.primary_version_id = version.version_id.clone();
    next.last_rotation_at = version.created_at;
    rows::write_key(c, &next).await?;
    Ok(KeyUpdateOutcome::Applied(Box::new(next)))
}

async fn destroy_expired_keys(c: &mut PgConnection, now: i64) -> Result<Vec<String>, StoreError> {
    // A key that still seals anything is kept whatever its date: destroying its material
    // would lose those values for good. The key rows are locked, so a CancelKeyDeletion or a
    // secret write naming the key (FOR SHARE) is ordered against this.
    let ids: Vec<String> = sqlx::query_scalar("SELECT key_id FROM keys k WHERE key_state = 'PendingDeletion' AND delete_at IS NOT NULL AND delete_at <= $1 AND creator <> 'Service' AND NOT EXISTS (SELECT 1 FROM secrets s WHERE s.encryption_key_id = k.key_id) AND NOT EXISTS (SELECT 1 FROM secret_versions v WHERE v.key_id = k.key_id) ORDER BY key_id FOR UPDATE")
        .bind(now)
        .fetch_all(&mut *c)
        .await
        .map_err(pg("find keys to destroy"))?;
    for sql in [
        "DELETE FROM aliases WHERE key_id = ANY($1)",
        "DELETE FROM key_versions WHERE key_id = ANY($1)",
        "DELETE FROM keys WHERE key_id = ANY($1)",
    ] {
        sqlx::query(sql)
            .bind(&ids)
            .execute(&mut *c)
            .await
            .map_err(pg("destroy key"))?;
    }
    Ok(ids)
}

async fn change_tags(
    c: &mut PgConnection,
    kind: ResourceKind,
    changes: &[TagChange],
    max_tags: usize,
) -> Result<TagOutcome, StoreError> {
    for ch in changes {
        // An Err rolls the whole transaction back, so a rejection after some resources were
        // changed undoes them all.
        let Some(owner) = tags::owner(c, kind, &ch.resource_id).await? else {
            return Err(StoreError::Rejected(TagOutcome::NotFound(
                ch.resource_id.clone(),
            )));
        };
        if matches!(owner, tags::Owner::PendingSecret) {
            return Err(StoreError::Rejected(TagOutcome::PendingDeletion(
                ch.resource_id.clone(),
            )));
        }
        tags::apply(c, &owner, ch).await?;
        if tags::count(c, &owner).await? > max_tags {
            return Err(StoreError::Rejected(TagOutcome::TooMany(
                ch.resource_id.clone(),
            )));
        }
    }
    Ok(TagOutcome::Applied)
}

async fn create_secret(
    c: &mut PgConnection,
    new: &NewSecret,
    service_key: Option<&str>,
) -> Result<CreateOutcome, StoreError> {
    if let Some(existing) = rows::secret_by_name(c, &new.secret.name, Lock::None).await? {
        return Ok(CreateOutcome::NameTaken {
            pending_deletion: existing.planned_delete_at.is_some(),
        });
    }
    if let Err(r) = rows::sealing_key_check(c, &new.first_version.key_id, service_key).await? {
        return Ok(CreateOutcome::SealingKeyRefused(r));
    }
    if let Some(k) = &new.secret.encryption_key_id {
        if *k != new.first_version.key_id {
            rows::share_key(c, k).await?;
        }
    }
    let Some(id) = rows::insert_secret(c, &new.secret).await? else {
        // Created by a write that committed after the check above.
        let existing = rows::secret_by_name(c, &new.secret.name, Lock::None).await?;
        return Ok(CreateOutcome::NameTaken {
            pending_deletion: existing.is_some_and(|s| s.planned_delete_at.is_some()),
        });
    };
    for t in &new.tags {
        sqlx::query("INSERT INTO secret_tags (secret_id, tag_key, tag_value) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(&t.key)
            .bind(&t.value)
            .execute(&mut *c)
            .await
            .map_err(pg("write tag"))?;
    }
    rows::insert_version(c, id, &new.first_version).await?;
    Ok(CreateOutcome::Created)
}

/// One turn's writes of one secret (see [`write_queue`]).
struct SecretWrites {
    pool: PgPool,
    name: String,
    service_key: Option<String>,
}

impl SecretWrites {
    /// Applies the plans in one transaction and answers each.
    async fn apply(self, batch: Vec<Queued>) {
        let service_key = self.service_key.as_deref();
        let result = in_tx!(self, "update secret", |c| apply_plans(
            c,
            &self.name,
            &batch,
            service_key
        ));
        match result {
            Ok(outcomes) => {
                for (q, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = q.reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                let each = fan_out(e);
                for q in batch {
                    let _ = q.reply.send(Err(each()));
                }
            }
        }
    }
}

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

/// Applies one turn's plans to one secret (see [`write_queue`]) with one read of the secret
/// and one write of each thing that changed: the plans run one after another on the state in
/// memory, each seeing what the previous ones did, and only the end state is written (a
/// version inserted and dropped again within the turn never reaches the table). Writing the
/// hot row once per turn, not once per plan, matters in PostgreSQL: every UPDATE of a row
/// leaves a version behind that later reads of it walk until vacuum.
async fn apply_plans(
    c: &mut PgConnection,
    name: &str,
    batch: &[Queued],
    service_key: Option<&str>,
) -> Result<Vec<UpdateOutcome>, StoreError> {
    // The row lock makes concurrent writers of one secret, on any node, take turns: each turn
    // sees the stage labels and versions the previous one committed.
    let Some(secret) = rows::secret_by_name(c, name, Lock::Update).await? else {
        return Ok(batch.iter().map(|_| UpdateOutcome::NotFound).collect());
    };
    let stored = rows::version_metas(c, secret.id).await?;
    let mut state = SecretState {
        secret,
        versions: stored.clone(),
    };
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut inserted: Vec<VersionRecord> = Vec::new();
    let mut dropped: Vec<String> = Vec::new();
    let mut sealing: Vec<(String, Result<(), SealingKeyRefusal>)> = Vec::new();
    let (mut changed, mut purged) = (false, false);
    for q in batch {
        if purged {
            outcomes.push(UpdateOutcome::NotFound);
            continue;
        }
        let mut update = match (q.plan)(&state) {
            Ok(u) => u,
            Err(r) => {
                outcomes.push(UpdateOutcome::Rejected(r));
                continue;
            }
        };
        if update.purge {
            purged = true;
            outcomes.push(UpdateOutcome::Applied(None));
            continue;
        }
        if let Some(v) = update.insert_version.take() {
            // Checked here, not before the write: a key disabled or scheduled for deletion by
            // a write that committed first refuses the version. Once checked, the key row is
            // held FOR SHARE until commit, so one check per key serves the whole turn.
            let verdict = match sealing.iter().find(|(k, _)| *k == v.key_id) {
                Some((_, verdict)) => verdict.clone(),
                None => {
                    let verdict = rows::sealing_key_check(c, &v.key_id, service_key).await?;
                    sealing.push((v.key_id.clone(), verdict.clone()));
                    verdict
                }
            };
            if let Err(r) = verdict {
                outcomes.push(UpdateOutcome::SealingKeyRefused(r));
                continue;
            }
            state.versions.push(VersionMeta {
                version_id: v.version_id.clone(),
                created_at: v.created_at,
            });
            inserted.push(v);
        }
        for gone in &update.delete_versions {
            state.versions.retain(|m| m.version_id != *gone);
            if let Some(i) = inserted.iter().position(|v| v.version_id == *gone) {
                inserted.remove(i);
            } else if stored.iter().any(|m| m.version_id == *gone) && !dropped.contains(gone) {
                dropped.push(gone.clone());
            }
        }
        update.apply_to(&mut state.secret);
        changed = true;
        outcomes.push(UpdateOutcome::Applied(Some(Box::new(state.secret.clone()))));
    }
    let id = state.secret.id;
    if purged {
        sqlx::query("DELETE FROM secrets WHERE id = $1")
            .bind(id)
            .execute(&mut *c)
            .await
            .map_err(pg("purge secret"))?;
        return Ok(outcomes);
    }
    if !changed {
        return Ok(outcomes);
    }
    // Drops first: a later plan of the turn may reuse a dropped version's id.
    if !dropped.is_empty() {
        sqlx::query("DELETE FROM secret_versions WHERE secret_id = $1 AND version_id = ANY($2)")
            .bind(id)
            .bind(&dropped)
            .execute(&mut *c)
            .await
            .map_err(pg("drop version"))?;
    }
    for v in &inserted {
        rows::insert_version(c, id, v).await?;
    }
    rows::update_secret_row(c, &state.secret).await?;
    Ok(outcomes)
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
