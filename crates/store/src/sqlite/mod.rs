//! The embedded default store: one SQLite file in WAL mode with `synchronous=FULL`, so an
//! acknowledged write is on disk. Reads run inline on pooled connections (a local page-cache
//! read takes microseconds, less than a hop to another thread); writes go to one writer
//! thread that commits in groups.

mod cache;
mod identities;
mod instances;
mod keys;
mod roots;
mod rotation;
mod secrets;
mod tags;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use async_trait::async_trait;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use crate::columns::corrupt_in_sqlite;
use crate::*;
use openkms_domain::filters::SecretFilter;
use writer::Writer;

const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_init.sql"),
    include_str!("../../migrations/sqlite/0002_key_tags.sql"),
    include_str!("../../migrations/sqlite/0003_secret_count.sql"),
    include_str!("../../migrations/sqlite/0004_keys.sql"),
    include_str!("../../migrations/sqlite/0005_key_lifecycle.sql"),
    include_str!("../../migrations/sqlite/0006_roots.sql"),
    include_str!("../../migrations/sqlite/0007_rotation.sql"),
    include_str!("../../migrations/sqlite/0008_ram.sql"),
    include_str!("../../migrations/sqlite/0009_ram_roles.sql"),
    include_str!("../../migrations/sqlite/0010_db_instance_tls.sql"),
];

/// Reader connections kept for reuse; more are opened under bursts and closed after.
const POOL_KEEP: usize = 16;

/// SQLite-backed [`Store`].
pub struct SqliteStore {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    writer: Writer,
    cache: cache::ReadCache,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        create_private(path)?;
        let conn = connect(path, true)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db("enable WAL"))?;
        // Checkpoint every ~40 MiB of WAL instead of ~4 MiB: the writer pays for checkpoints
        // inline, so fewer, larger ones keep write latency flatter.
        conn.pragma_update(None, "wal_autocheckpoint", 10_000)
            .map_err(db("set checkpoint interval"))?;
        migrate(&conn)?;
        Ok(Self {
            path: path.to_owned(),
            readers: Mutex::new(Vec::new()),
            writer: Writer::start(conn)?,
            cache: cache::ReadCache::default(),
        })
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self.readers.lock().pop();
        let conn = match pooled {
            Some(c) => c,
            None => connect(&self.path, false)?,
        };
        let out = f(&conn);
        let mut pool = self.readers.lock();
        if pool.len() < POOL_KEEP {
            pool.push(conn);
        }
        out
    }
}

/// Creates the database file owner-only before SQLite does (its WAL and shared-memory files
/// take the same permissions); an existing file is left as it is.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Create(e)),
    }
}

fn connect(path: &Path, create: bool) -> Result<Connection, StoreError> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags).map_err(db("open"))?;
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
    )
    .map_err(db("configure connection"))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let current: usize = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(db("read schema version"))?;
    if current > MIGRATIONS.len() {
        return Err(StoreError::Migration {
            reason: format!(
                "the database has schema version {current}, newer than this binary knows ({})",
                MIGRATIONS.len()
            ),
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let version = i + 1;
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {sql}\nPRAGMA user_version = {version}; COMMIT;"
        ))
        .map_err(|e| StoreError::Migration {
            reason: format!("step {version}: {e}"),
        })?;
    }
    Ok(())
}

fn db(op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |source| corrupt_in_sqlite(&source).unwrap_or(StoreError::Database { op, source })
}

/// One process owns a SQLite store, so its in-memory replay window sees every request: the
/// trait's defaults (record nothing, no fence) are right.
impl crate::NonceStore for SqliteStore {}

#[async_trait]
impl Store for SqliteStore {
    async fn close(&self) {
        self.writer.stop().await;
    }
}

#[cfg(test)]
mod tests;
