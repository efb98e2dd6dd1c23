//! The embedded default store: one SQLite file in WAL mode with `synchronous=FULL`, so an
//! acknowledged write is on disk. Reads run inline on pooled connections (a local page-cache
//! read takes microseconds, less than a hop to another thread); writes go to one writer
//! thread that commits in groups.

mod cache;
mod identities;
mod rows;
mod tags;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use crate::records::*;
use crate::{KeyPlanFn, PlanFn, Store, StoreError};
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
        let pooled = self.readers.lock().ok().and_then(|mut p| p.pop());
        let conn = match pooled {
            Some(c) => c,
            None => connect(&self.path, false)?,
        };
        let out = f(&conn);
        if let Ok(mut pool) = self.readers.lock() {
            if pool.len() < POOL_KEEP {
                pool.push(conn);
            }
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

/// A page bound as SQLite's signed integer.
fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn db(op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |source| StoreError::Database { op, source }
}

#[async_trait]
impl Store for SqliteStore {
    async fn close(&self) {
        self.writer.stop().await;
    }

    async fn meta(&self) -> Result<Option<Meta>, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT account_id, root_fingerprint, default_instance, service_key_id, created_at FROM meta WHERE id = 1")
                .and_then(|mut s| s.query_row([], rows::meta).optional())
                .map_err(db("read meta"))
        })
    }

    async fn initialize(&self, boot: Bootstrap) -> Result<(), StoreError> {
        self.writer
            .write(move |c| {
                let m = &boot.meta;
                let exists = c
                    .prepare_cached("SELECT 1 FROM meta WHERE id = 1")
                    .and_then(|mut s| s.exists([]))
                    .map_err(db("read meta"))?;
                if exists {
                    return Err(StoreError::AlreadyInitialized);
                }
                c.execute(
                    "INSERT INTO meta (id, account_id, root_fingerprint, default_instance, service_key_id, created_at) VALUES (1, ?1, ?2, ?3, ?4, ?5)",
                    params![m.account_id, m.root_fingerprint, m.default_instance, m.service_key_id, m.created_at],
                )
                .map_err(db("write meta"))?;
                c.execute(
                    "INSERT INTO instances (instance_id, created_at) VALUES (?1, ?2)",
                    params![m.default_instance, m.created_at],
                )
                .map_err(db("write instance"))?;
                rows::insert_root(c, &boot.root)?;
                rows::insert_key(c, &boot.service_key)?;
                rows::insert_key_version(c, &boot.service_key_version)?;
                for ak in &boot.access_keys {
                    rows::insert_access_key(c, ak)?;
                }
                Ok(())
            })
            .await
    }

    async fn roots(&self) -> Result<Vec<RootRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT root_id, kind, locator, state, created_at FROM roots ORDER BY state = 'active' DESC, created_at DESC, root_id")
                .and_then(|mut s| s.query_map([], rows::root)?.collect())
                .map_err(db("read roots"))
        })
    }

    async fn activate_root(&self, root: RootRecord) -> Result<(), StoreError> {
        self.writer
            .write(move |c| {
                c.execute(
                    "UPDATE roots SET state = 'retiring' WHERE state = 'active' AND root_id <> ?1",
                    [&root.root_id],
                )
                .map_err(db("demote active root"))?;
                c.execute(
                    "INSERT INTO roots (root_id, kind, locator, state, created_at) VALUES (?1, ?2, ?3, 'active', ?4) ON CONFLICT (root_id) DO UPDATE SET state = 'active', locator = COALESCE(excluded.locator, roots.locator)",
                    params![root.root_id, root.kind, root.locator, root.created_at],
                )
                .map_err(db("activate root"))?;
                Ok(())
            })
            .await
    }

    async fn set_root_locator(&self, root_id: &str, locator: &str) -> Result<(), StoreError> {
        let (id, loc) = (root_id.to_owned(), locator.to_owned());
        self.writer
            .write(move |c| {
                c.execute(
                    "UPDATE roots SET locator = ?2 WHERE root_id = ?1",
                    [id, loc],
                )
                .map_err(db("write root locator"))?;
                Ok(())
            })
            .await
    }

    async fn rows_to_rewrap(&self) -> Result<Vec<WrappedRow>, StoreError> {
        self.read(|c| {
            let active = "(SELECT root_id FROM roots WHERE state = 'active')";
            let mut out: Vec<WrappedRow> = c
                .prepare_cached(&format!("SELECT key_id, version_id, root_id, wrapped_material FROM key_versions WHERE root_id IS NOT {active} ORDER BY key_id, version_id"))
                .and_then(|mut s| {
                    s.query_map([], |r| {
                        Ok(WrappedRow {
                            target: WrappedTarget::KeyVersion {
                                key_id: r.get(0)?,
                                version_id: r.get(1)?,
                            },
                            root_id: r.get(2)?,
                            wrapped: r.get(3)?,
                        })
                    })?
                    .collect()
                })
                .map_err(db("list key versions to rewrap"))?;
            let access: Vec<WrappedRow> = c
                .prepare_cached(&format!("SELECT access_key_id, root_id, sealed_secret FROM access_keys WHERE root_id IS NOT {active} ORDER BY access_key_id"))
                .and_then(|mut s| {
                    s.query_map([], |r| {
                        Ok(WrappedRow {
                            target: WrappedTarget::AccessKey {
                                access_key_id: r.get(0)?,
                            },
                            root_id: r.get(1)?,
                            wrapped: r.get(2)?,
                        })
                    })?
                    .collect()
                })
                .map_err(db("list access keys to rewrap"))?;
            out.extend(access);
            Ok(out)
        })
    }

    async fn rewrap(
        &self,
        row: WrappedRow,
        wrapped: Vec<u8>,
        root_id: String,
    ) -> Result<bool, StoreError> {
        self.writer
            .write(move |c| {
                // Compare-and-set on the old bytes: a row changed or deleted meanwhile (key
                // destroyed) is left alone and reported, never overwritten.
                let n = match &row.target {
                    WrappedTarget::KeyVersion { key_id, version_id } => c
                        .prepare_cached("UPDATE key_versions SET wrapped_material = ?1, root_id = ?2 WHERE key_id = ?3 AND version_id = ?4 AND wrapped_material = ?5")
                        .and_then(|mut s| s.execute(params![wrapped, root_id, key_id, version_id, row.wrapped]))
                        .map_err(db("rewrap key version"))?,
                    WrappedTarget::AccessKey { access_key_id } => c
                        .prepare_cached("UPDATE access_keys SET sealed_secret = ?1, root_id = ?2 WHERE access_key_id = ?3 AND sealed_secret = ?4")
                        .and_then(|mut s| s.execute(params![wrapped, root_id, access_key_id, row.wrapped]))
                        .map_err(db("rewrap access key"))?,
                };
                Ok(n == 1)
            })
            .await
    }

    async fn retire_roots(&self) -> Result<bool, StoreError> {
        self.writer
            .write(move |c| {
                // One transaction: the check and the retirement see the same rows, and the
                // triggers refuse any later write under a retired root.
                c.execute(
                        "UPDATE roots SET state = 'retired' WHERE state = 'retiring' AND NOT EXISTS (SELECT 1 FROM key_versions WHERE root_id IS NOT (SELECT root_id FROM roots WHERE state = 'active')) AND NOT EXISTS (SELECT 1 FROM access_keys WHERE root_id IS NOT (SELECT root_id FROM roots WHERE state = 'active'))",
                        [],
                    )
                    .map_err(db("retire roots"))?;
                let left: i64 = c
                    .query_row("SELECT COUNT(*) FROM roots WHERE state = 'retiring'", [], |r| r.get(0))
                    .map_err(db("count retiring roots"))?;
                Ok(left == 0)
            })
            .await
    }

    async fn access_key(&self, id: &str) -> Result<Option<AccessKeyRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT access_key_id, sealed_secret, principal, status, created_at, root_id FROM access_keys WHERE access_key_id = ?1")
                .and_then(|mut s| s.query_row([id], rows::access_key).optional())
                .map_err(db("read access key"))
        })
    }

    async fn insert_access_key(&self, rec: AccessKeyRecord) -> Result<(), StoreError> {
        self.writer
            .write(move |c| rows::insert_access_key(c, &rec))
            .await
    }

    async fn root_access_keys(&self) -> Result<Vec<AccessKeyRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT access_key_id, sealed_secret, principal, status, created_at, root_id FROM access_keys WHERE principal = 'root' ORDER BY created_at, access_key_id")
                .and_then(|mut s| {
                    s.query_map([], rows::access_key)?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(db("list root access keys"))
        })
    }

    async fn change_root_access_key(
        &self,
        id: &str,
        status: Option<&str>,
    ) -> Result<RootKeyChange, StoreError> {
        let (id, status) = (id.to_owned(), status.map(str::to_owned));
        self.writer
            .write(move |c| {
                let current: Option<String> = c
                    .query_row(
                        "SELECT status FROM access_keys WHERE access_key_id = ?1 AND principal = 'root'",
                        [&id],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(db("read root access key"))?;
                let Some(current) = current else {
                    return Ok(RootKeyChange::NotFound);
                };
                let others: u64 = c
                    .query_row(
                        "SELECT COUNT(*) FROM access_keys WHERE principal = 'root' AND status = 'Active' AND access_key_id <> ?1",
                        [&id],
                        |r| r.get(0),
                    )
                    .map_err(db("count root access keys"))?;
                if !root_key_change_allowed(&current, status.as_deref(), others) {
                    return Ok(RootKeyChange::LastActive);
                }
                match &status {
                    Some(s) => c.execute(
                        "UPDATE access_keys SET status = ?1 WHERE access_key_id = ?2 AND principal = 'root'",
                        params![s, id],
                    ),
                    None => c.execute(
                        "DELETE FROM access_keys WHERE access_key_id = ?1 AND principal = 'root'",
                        [&id],
                    ),
                }
                .map_err(db("change root access key"))?;
                Ok(RootKeyChange::Done)
            })
            .await
    }

    async fn key(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.read(|c| rows::key_by_id(c, key_id))
    }

    async fn create_key(
        &self,
        key: KeyRecord,
        version: KeyVersionRecord,
        tags: Vec<TagRecord>,
    ) -> Result<(), StoreError> {
        self.writer
            .write(move |c| {
                rows::insert_key(c, &key)?;
                rows::insert_key_version(c, &version)?;
                for t in &tags {
                    c.prepare_cached(
                        "INSERT INTO key_tags (key_id, tag_key, tag_value) VALUES (?1, ?2, ?3)",
                    )
                    .and_then(|mut s| s.execute(params![key.key_id, t.key, t.value]))
                    .map_err(db("write key tag"))?;
                }
                Ok(())
            })
            .await
    }

    async fn list_user_keys(
        &self,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<KeyRecord>), StoreError> {
        self.read(|c| {
            let total: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM keys WHERE creator <> 'Service'")
                .and_then(|mut s| s.query_row([], |r| r.get(0)))
                .map_err(db("count keys"))?;
            let keys = c
                .prepare_cached(concat!(
                    "SELECT ",
                    rows::key_columns!(),
                    " FROM keys WHERE creator <> 'Service' ORDER BY rowid LIMIT ?1 OFFSET ?2"
                ))
                .and_then(|mut s| {
                    s.query_map(params![clamp(limit), clamp(offset)], rows::key)?
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(db("list keys"))?;
            Ok((u64::try_from(total).unwrap_or_default(), keys))
        })
    }

    async fn update_key(
        &self,
        key_id: &str,
        plan: KeyPlanFn,
    ) -> Result<KeyUpdateOutcome, StoreError> {
        let key_id = key_id.to_owned();
        self.writer
            .write(move |c| {
                let Some(key) = rows::key_by_id(c, &key_id)? else {
                    return Ok(KeyUpdateOutcome::NotFound);
                };
                let protected: i64 = c
                    .prepare_cached("SELECT COUNT(*) FROM secrets WHERE encryption_key_id = ?1")
                    .and_then(|mut s| s.query_row([&key_id], |r| r.get(0)))
                    .map_err(db("count secrets of key"))?;
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
                rows::write_key(c, &next)?;
                Ok(KeyUpdateOutcome::Applied(Box::new(next)))
            })
            .await
    }

    async fn add_key_version(
        &self,
        version: KeyVersionRecord,
        plan: KeyPlanFn,
    ) -> Result<KeyUpdateOutcome, StoreError> {
        self.writer
            .write(move |c| {
                let Some(key) = rows::key_by_id(c, &version.key_id)? else {
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
                rows::insert_key_version(c, &version)?;
                let mut next = state.key;
                update.apply_to(&mut next);
                next.primary_version_id = version.version_id.clone();
                next.last_rotation_at = version.created_at;
                rows::write_key(c, &next)?;
                Ok(KeyUpdateOutcome::Applied(Box::new(next)))
            })
            .await
    }

    async fn key_versions(
        &self,
        key_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<KeyVersionRecord>), StoreError> {
        self.read(|c| {
            let total: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM key_versions WHERE key_id = ?1")
                .and_then(|mut s| s.query_row([key_id], |r| r.get(0)))
                .map_err(db("count key versions"))?;
            let rows = c
                .prepare_cached("SELECT key_id, version_id, wrapped_material, created_at, root_id FROM key_versions WHERE key_id = ?1 ORDER BY created_at, rowid LIMIT ?2 OFFSET ?3")
                .and_then(|mut s| {
                    s.query_map(params![key_id, clamp(limit), clamp(offset)], rows::key_version)?
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(db("list key versions"))?;
            Ok((u64::try_from(total).unwrap_or_default(), rows))
        })
    }

    async fn keys_due_for_rotation(&self, now: i64) -> Result<Vec<String>, StoreError> {
        self.read(|c| {
            c.prepare_cached(concat!(
                "SELECT key_id FROM (SELECT ",
                rows::key_columns!(),
                " AS last_rotation_at FROM keys WHERE creator <> 'Service' AND key_state = 'Enabled' AND rotation_interval_secs IS NOT NULL) WHERE last_rotation_at + rotation_interval_secs <= ?1 ORDER BY created_at, key_id"
            ))
            .and_then(|mut s| {
                s.query_map([now], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(db("find keys due for rotation"))
        })
    }

    async fn destroy_expired_keys(&self, now: i64) -> Result<Vec<String>, StoreError> {
        self.writer
            .write(move |c| {
                // A key that still seals anything is kept whatever its date: destroying its
                // material would lose those values for good.
                let ids = c
                    .prepare_cached("SELECT key_id FROM keys k WHERE key_state = 'PendingDeletion' AND delete_at IS NOT NULL AND delete_at <= ?1 AND creator <> 'Service' AND NOT EXISTS (SELECT 1 FROM secrets s WHERE s.encryption_key_id = k.key_id) AND NOT EXISTS (SELECT 1 FROM secret_versions v WHERE v.key_id = k.key_id)")
                    .and_then(|mut s| {
                        s.query_map([now], |r| r.get::<_, String>(0))?
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .map_err(db("find keys to destroy"))?;
                for id in &ids {
                    for sql in [
                        "DELETE FROM aliases WHERE key_id = ?1",
                        "DELETE FROM key_versions WHERE key_id = ?1",
                        "DELETE FROM keys WHERE key_id = ?1",
                    ] {
                        c.prepare_cached(sql)
                            .and_then(|mut s| s.execute([id]))
                            .map_err(db("destroy key"))?;
                    }
                }
                Ok(ids)
            })
            .await
    }

    async fn alias(&self, alias_name: &str) -> Result<Option<AliasRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT alias_name, key_id, created_at FROM aliases WHERE alias_name = ?1",
            )
            .and_then(|mut s| s.query_row([alias_name], rows::alias).optional())
            .map_err(db("read alias"))
        })
    }

    async fn create_alias(&self, rec: AliasRecord) -> Result<AliasOutcome, StoreError> {
        self.writer
            .write(move |c| {
                let n = c
                    .prepare_cached("INSERT INTO aliases (alias_name, key_id, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (alias_name) DO NOTHING")
                    .and_then(|mut s| s.execute(params![rec.alias_name, rec.key_id, rec.created_at]))
                    .map_err(db("write alias"))?;
                Ok(if n == 0 {
                    AliasOutcome::Taken
                } else {
                    AliasOutcome::Applied
                })
            })
            .await
    }

    async fn update_alias(
        &self,
        alias_name: &str,
        key_id: &str,
        from: Option<&str>,
    ) -> Result<AliasOutcome, StoreError> {
        let (alias_name, key_id) = (alias_name.to_owned(), key_id.to_owned());
        let from = from.map(str::to_owned);
        self.writer
            .write(move |c| {
                let n = c
                    .prepare_cached(
                        "UPDATE aliases SET key_id = ?2 \
                         WHERE alias_name = ?1 AND (?3 IS NULL OR key_id = ?3)",
                    )
                    .and_then(|mut s| s.execute(params![alias_name, key_id, from]))
                    .map_err(db("update alias"))?;
                Ok(if n == 0 {
                    AliasOutcome::NotFound
                } else {
                    AliasOutcome::Applied
                })
            })
            .await
    }

    async fn delete_alias(
        &self,
        alias_name: &str,
        from: Option<&str>,
    ) -> Result<AliasOutcome, StoreError> {
        let alias_name = alias_name.to_owned();
        let from = from.map(str::to_owned);
        self.writer
            .write(move |c| {
                let n = c
                    .prepare_cached(
                        "DELETE FROM aliases WHERE alias_name = ?1 AND (?2 IS NULL OR key_id = ?2)",
                    )
                    .and_then(|mut s| s.execute(params![alias_name, from]))
                    .map_err(db("delete alias"))?;
                Ok(if n == 0 {
                    AliasOutcome::NotFound
                } else {
                    AliasOutcome::Applied
                })
            })
            .await
    }

    async fn aliases(
        &self,
        key_id: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<AliasRecord>), StoreError> {
        self.read(|c| {
            // `?1 IS NULL` selects every alias; otherwise those of one key.
            let total: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM aliases WHERE ?1 IS NULL OR key_id = ?1")
                .and_then(|mut s| s.query_row([key_id], |r| r.get(0)))
                .map_err(db("count aliases"))?;
            let rows = c
                .prepare_cached("SELECT alias_name, key_id, created_at FROM aliases WHERE ?1 IS NULL OR key_id = ?1 ORDER BY alias_name LIMIT ?2 OFFSET ?3")
                .and_then(|mut s| {
                    s.query_map(params![key_id, clamp(limit), clamp(offset)], rows::alias)?
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(db("list aliases"))?;
            Ok((u64::try_from(total).unwrap_or_default(), rows))
        })
    }

    async fn key_version(
        &self,
        key_id: &str,
        version_id: &str,
    ) -> Result<Option<KeyVersionRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT key_id, version_id, wrapped_material, created_at, root_id FROM key_versions WHERE key_id = ?1 AND version_id = ?2")
                .and_then(|mut s| s.query_row([key_id, version_id], rows::key_version).optional())
                .map_err(db("read key version"))
        })
    }

    async fn instances(
        &self,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<InstanceRecord>), StoreError> {
        self.read(|c| {
            let total: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM instances")
                .and_then(|mut s| s.query_row([], |r| r.get(0)))
                .map_err(db("count instances"))?;
            let ids: Vec<String> = c
                .prepare_cached("SELECT instance_id FROM instances ORDER BY created_at, instance_id LIMIT ?1 OFFSET ?2")
                .and_then(|mut s| {
                    s.query_map(params![limit.min(i64::MAX as u64) as i64, offset.min(i64::MAX as u64) as i64], |r| r.get(0))?
                        .collect()
                })
                .map_err(db("list instances"))?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(rec) = rows::instance(c, &id)? {
                    out.push(rec);
                }
            }
            Ok((u64::try_from(total).unwrap_or_default(), out))
        })
    }

    async fn instance(&self, instance_id: &str) -> Result<Option<InstanceRecord>, StoreError> {
        self.read(|c| rows::instance(c, instance_id))
    }

    async fn instance_exists(&self, instance_id: &str) -> Result<bool, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT 1 FROM instances WHERE instance_id = ?1")
                .and_then(|mut s| s.exists([instance_id]))
                .map_err(db("read instance"))
        })
    }

    async fn secret(&self, name: &str) -> Result<Option<Arc<SecretRecord>>, StoreError> {
        let generation = match self.cache.secret(name) {
            Ok(hit) => return Ok(Some(hit)),
            Err(generation) => generation,
        };
        let Some(rec) = self.read(|c| rows::secret_by_name(c, name))? else {
            return Ok(None);
        };
        let rec = Arc::new(rec);
        self.cache.put_secret(generation, rec.clone());
        Ok(Some(rec))
    }

    async fn secret_tags(&self, secret_id: i64) -> Result<Vec<TagRecord>, StoreError> {
        self.read(|c| rows::tags(c, secret_id))
    }

    async fn version(
        &self,
        secret: &SecretRecord,
        version_id: &str,
    ) -> Result<Option<Arc<VersionRecord>>, StoreError> {
        let secret_id = secret.id;
        let generation = match self.cache.version(secret_id, version_id) {
            Ok(hit) => return Ok(Some(hit)),
            Err(generation) => generation,
        };
        let found = self.read(|c| {
            c.prepare_cached("SELECT version_id, data_type, key_id, key_version_id, wrapped_key, ciphertext, created_at FROM secret_versions WHERE secret_id = ?1 AND version_id = ?2")
                .and_then(|mut s| s.query_row(params![secret_id, version_id], rows::version).optional())
                .map_err(db("read secret version"))
        })?;
        let Some(rec) = found else {
            return Ok(None);
        };
        let rec = Arc::new(rec);
        self.cache.put_version(generation, secret_id, rec.clone());
        Ok(Some(rec))
    }

    async fn versions(&self, secret_id: i64) -> Result<Vec<VersionMeta>, StoreError> {
        self.read(|c| rows::version_metas(c, secret_id))
    }

    async fn list_secrets(
        &self,
        filter: &SecretFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<SecretRecord>), StoreError> {
        self.read(|c| rows::list_secrets(c, filter, offset, limit))
    }

    async fn tags_of(&self, secret_ids: &[i64]) -> Result<Vec<(i64, TagRecord)>, StoreError> {
        self.read(|c| {
            let mut out = Vec::new();
            for id in secret_ids {
                out.extend(rows::tags(c, *id)?.into_iter().map(|t| (*id, t)));
            }
            Ok(out)
        })
    }

    async fn change_tags(
        &self,
        kind: ResourceKind,
        changes: Vec<TagChange>,
        max_tags: usize,
    ) -> Result<TagOutcome, StoreError> {
        self.writer
            .write(move |c| {
                for ch in &changes {
                    // The writer rolls a job's savepoint back when it returns Err, so a
                    // rejection after some resources were changed undoes them all.
                    let Some(owner) = tags::owner(c, kind, &ch.resource_id)? else {
                        return Err(StoreError::Rejected(TagOutcome::NotFound(
                            ch.resource_id.clone(),
                        )));
                    };
                    if matches!(owner, tags::Owner::PendingSecret) {
                        return Err(StoreError::Rejected(TagOutcome::PendingDeletion(
                            ch.resource_id.clone(),
                        )));
                    }
                    tags::apply(c, kind, &owner, ch)?;
                    if tags::count(c, kind, &owner)? > max_tags {
                        return Err(StoreError::Rejected(TagOutcome::TooMany(
                            ch.resource_id.clone(),
                        )));
                    }
                }
                Ok(TagOutcome::Applied)
            })
            .await
            .or_else(|e| match e {
                StoreError::Rejected(outcome) => Ok(outcome),
                other => Err(other),
            })
    }

    async fn tag_rows(
        &self,
        kind: ResourceKind,
        resource_ids: &[String],
        tag_filter: &[(String, Option<String>)],
        offset: u64,
        limit: u64,
    ) -> Result<Vec<TagRow>, StoreError> {
        self.read(|c| tags::rows(c, kind, resource_ids, tag_filter, offset, limit))
    }

    async fn key_tags(&self, key_id: &str) -> Result<Vec<TagRecord>, StoreError> {
        self.read(|c| {
            let rows = tags::rows(c, ResourceKind::Key, &[key_id.to_owned()], &[], 0, 1000)?;
            Ok(rows
                .into_iter()
                .map(|r| TagRecord {
                    key: r.key,
                    value: r.value,
                })
                .collect())
        })
    }

    async fn create_secret(&self, new: NewSecret) -> Result<CreateOutcome, StoreError> {
        let name = new.secret.name.clone();
        let out = self
            .writer
            .write(move |c| {
                if let Some(existing) = rows::secret_by_name(c, &new.secret.name)? {
                    return Ok(CreateOutcome::NameTaken {
                        pending_deletion: existing.planned_delete_at.is_some(),
                    });
                }
                if let Err(r) = rows::sealing_key_check(c, &new.first_version.key_id)? {
                    return Ok(CreateOutcome::SealingKeyRefused(r));
                }
                let id = rows::insert_secret(c, &new.secret)?;
                for t in &new.tags {
                    c.prepare_cached("INSERT INTO secret_tags (secret_id, tag_key, tag_value) VALUES (?1, ?2, ?3)")
                        .and_then(|mut s| s.execute(params![id, t.key, t.value]))
                        .map_err(db("write tag"))?;
                }
                rows::insert_version(c, id, &new.first_version)?;
                Ok(CreateOutcome::Created)
            })
            .await;
        self.cache.invalidate(&name, None);
        out
    }

    async fn update_secret(&self, name: &str, plan: PlanFn) -> Result<UpdateOutcome, StoreError> {
        let owned = name.to_owned();
        let result = self
            .writer
            .write(move |c| {
                let name = owned;
                let Some(secret) = rows::secret_by_name(c, &name)? else {
                    return Ok((UpdateOutcome::NotFound, None));
                };
                let versions = rows::version_metas(c, secret.id)?;
                let id = secret.id;
                let state = SecretState { secret, versions };
                let mut update = match plan(&state) {
                    Ok(u) => u,
                    Err(r) => return Ok((UpdateOutcome::Rejected(r), Some(id))),
                };
                if update.purge {
                    c.prepare_cached("DELETE FROM secrets WHERE id = ?1")
                        .and_then(|mut s| s.execute([id]))
                        .map_err(db("purge secret"))?;
                    return Ok((UpdateOutcome::Applied(None), Some(id)));
                }
                if let Some(v) = &update.insert_version {
                    // Checked here, not before the write: a key disabled or scheduled for
                    // deletion by a write that committed first refuses the version.
                    if let Err(r) = rows::sealing_key_check(c, &v.key_id)? {
                        return Ok((UpdateOutcome::SealingKeyRefused(r), Some(id)));
                    }
                    rows::insert_version(c, id, v)?;
                }
                for v in &update.delete_versions {
                    c.prepare_cached(
                        "DELETE FROM secret_versions WHERE secret_id = ?1 AND version_id = ?2",
                    )
                    .and_then(|mut s| s.execute(params![id, v]))
                    .map_err(db("drop version"))?;
                }
                let mut next = state.secret;
                update.apply_to(&mut next);
                rows::update_secret_row(c, &next)?;
                Ok((UpdateOutcome::Applied(Some(Box::new(next))), Some(id)))
            })
            .await;
        // Invalidate even when the write failed: its outcome is unknown to the cache.
        let id = result.as_ref().ok().and_then(|(_, id)| *id);
        self.cache.invalidate(name, id);
        result.map(|(outcome, _)| outcome)
    }

    async fn purge_expired(&self, now: i64) -> Result<Vec<String>, StoreError> {
        let out = self
            .writer
            .write(move |c| {
                let mut stmt = c
                    .prepare_cached("DELETE FROM secrets WHERE planned_delete_at IS NOT NULL AND planned_delete_at <= ?1 RETURNING name")
                    .map_err(db("purge expired"))?;
                let names = stmt
                    .query_map([now], |r| r.get::<_, String>(0))
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(db("purge expired"))?;
                Ok(names)
            })
            .await;
        if !matches!(&out, Ok(names) if names.is_empty()) {
            self.cache.clear();
        }
        out
    }

    async fn db_instance(&self, instance_id: &str) -> Result<Option<DbInstanceRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT instance_id, engine, address, admin_secret, created_at, tls_mode, tls_ca FROM db_instances WHERE instance_id = ?1")
                .and_then(|mut s| s.query_row([instance_id], rows::db_instance).optional())
                .map_err(db("read db instance"))
        })
    }

    async fn db_instances(&self) -> Result<Vec<DbInstanceRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT instance_id, engine, address, admin_secret, created_at, tls_mode, tls_ca FROM db_instances ORDER BY instance_id")
                .and_then(|mut s| s.query_map([], rows::db_instance)?.collect())
                .map_err(db("list db instances"))
        })
    }

    async fn add_db_instance(&self, rec: DbInstanceRecord) -> Result<bool, StoreError> {
        self.writer
            .write(move |c| {
                c.prepare_cached("INSERT INTO db_instances (instance_id, engine, address, admin_secret, created_at, tls_mode, tls_ca) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (instance_id) DO NOTHING")
                    .and_then(|mut s| s.execute(params![rec.instance_id, rec.engine, rec.address, rec.admin_secret, rec.created_at, rec.tls_mode, rec.tls_ca]))
                    .map(|n| n == 1)
                    .map_err(db("register db instance"))
            })
            .await
    }

    async fn remove_db_instance(&self, instance_id: &str) -> Result<bool, StoreError> {
        let id = instance_id.to_owned();
        self.writer
            .write(move |c| {
                c.prepare_cached("DELETE FROM db_instances WHERE instance_id = ?1")
                    .and_then(|mut s| s.execute([id]))
                    .map(|n| n == 1)
                    .map_err(db("remove db instance"))
            })
            .await
    }

    async fn claim_due_rotations(
        &self,
        now: i64,
        owner: &str,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let owner = owner.to_owned();
        self.writer
            .write(move |c| {
                c.prepare_cached(
                    "UPDATE secrets SET rotation_lease_owner = ?1, rotation_lease_until = ?2 WHERE id IN (SELECT id FROM secrets WHERE rotation_due_at IS NOT NULL AND rotation_due_at <= ?3 AND (rotation_lease_until IS NULL OR rotation_lease_until <= ?3) ORDER BY rotation_due_at LIMIT ?4) RETURNING name",
                )
                .and_then(|mut s| {
                    s.query_map(params![owner, lease_until, now, limit], |r| r.get(0))?
                        .collect()
                })
                .map_err(db("claim due rotations"))
            })
            .await
    }

    async fn claim_rotation(
        &self,
        name: &str,
        now: i64,
        owner: &str,
        lease_until: i64,
    ) -> Result<bool, StoreError> {
        let (name, owner) = (name.to_owned(), owner.to_owned());
        self.writer
            .write(move |c| {
                c.prepare_cached(
                    "UPDATE secrets SET rotation_lease_owner = ?1, rotation_lease_until = ?2 WHERE name = ?3 AND (rotation_lease_until IS NULL OR rotation_lease_until <= ?4 OR rotation_lease_owner = ?1)",
                )
                .and_then(|mut s| s.execute(params![owner, lease_until, name, now]))
                .map(|n| n == 1)
                .map_err(db("claim rotation"))
            })
            .await
    }

    async fn release_rotation(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        let (name, owner) = (name.to_owned(), owner.to_owned());
        self.writer
            .write(move |c| {
                c.prepare_cached(
                    "UPDATE secrets SET rotation_lease_owner = NULL, rotation_lease_until = NULL WHERE name = ?1 AND rotation_lease_owner = ?2",
                )
                .and_then(|mut s| s.execute(params![name, owner]))
                .map(|_| ())
                .map_err(db("release rotation"))
            })
            .await
    }
}

#[cfg(test)]
mod tests;
