//! Moving an installation from the embedded store to PostgreSQL (`openkms migrate --from DIR
//! --to postgres://...`): every row of every table is copied as it is — sealed bytes stay
//! sealed, so the copy needs no root of trust — into an empty database, in one transaction
//! that also verifies the copy: per table, the row count and a SHA-256 over the rows read back
//! from PostgreSQL must equal those read from SQLite, or nothing is committed.
//!
//! The SQLite side is read in one read transaction (a consistent snapshot even if a server is
//! still running on it; its later writes are not in the copy, so stop it first).

use std::path::Path;

use ring::digest::{Context, SHA256};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use sqlx::postgres::{PgRow, Postgres};
use sqlx::{QueryBuilder, Row, Transaction};

use crate::postgres::{pg, PgStore};
use crate::sqlite::SqliteStore;
use crate::StoreError;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Text,
    Int,
    Bool,
    Bytes,
}

/// One column: its PostgreSQL name, the SQLite expression that yields it, its kind.
type Column = (&'static str, &'static str, Kind);

struct Table {
    name: &'static str,
    columns: &'static [Column],
    /// The primary key: both sides are read in this order, so the digests can be compared.
    order_by: &'static [&'static str],
    /// A column PostgreSQL generates (`GENERATED ALWAYS AS IDENTITY`): the copy keeps the
    /// SQLite values and moves the sequence past them, so no identity is ever reused.
    identity: Option<&'static str>,
}

use Kind::{Bool, Bytes, Int, Text};

/// `table!(name [column Kind, pg_name = sqlite_expr Kind, ..] by [key ..] identity column)`.
macro_rules! table {
    ($name:ident [$($col:ident $(= $src:ident)? $kind:ident),*] by [$($key:ident)*] $(identity $id:ident)?) => {
        Table {
            name: stringify!($name),
            columns: &[$((stringify!($col), table!(@src $col $($src)?), $kind)),*],
            order_by: &[$(stringify!($key)),*],
            identity: table!(@id $($id)?),
        }
    };
    (@src $col:ident) => { stringify!($col) };
    (@src $col:ident $src:ident) => { stringify!($src) };
    (@id) => { None };
    (@id $id:ident) => { Some(stringify!($id)) };
}

/// Every table of the schema, parents before children (foreign keys, and the roots-of-trust
/// triggers, check each row as it is inserted). SQLite's `counters` (a row count PostgreSQL
/// computes) and PostgreSQL's `nonces` (a 15-minute replay window) are not data to copy.
const TABLES: &[Table] = &[
    table!(meta [id Int, account_id Text, root_fingerprint Text, default_instance Text, service_key_id Text, created_at Int] by [id]),
    table!(instances [instance_id Text, created_at Int] by [instance_id]),
    table!(roots [root_id Text, kind Text, locator Text, state Text, created_at Int] by [root_id]),
    // ListKeys pages in creation order: SQLite's rowid is PostgreSQL's seq.
    table!(keys [seq = rowid Int, key_id Text, instance_id Text, key_spec Text, key_usage Text, key_state Text, creator Text, description Text, primary_version_id Text, created_at Int, delete_at Int, rotation_interval_secs Int] by [key_id] identity seq),
    table!(key_versions [seq = rowid Int, key_id Text, version_id Text, wrapped_material Bytes, created_at Int, root_id Text] by [key_id version_id] identity seq),
    table!(access_keys [access_key_id Text, sealed_secret Bytes, principal Text, status Text, created_at Int, root_id Text] by [access_key_id]),
    table!(secrets [id Int, name Text, secret_type Text, description Text, encryption_key_id Text, dkms_instance_id Text, extended_config Text, rotation_enabled Bool, rotation_interval Int, next_rotation_at Int, last_rotation_at Int, policy Text, stages Text, created_at Int, updated_at Int, planned_delete_at Int, rotation_state Text, rotation_due_at Int, rotation_lease_owner Text, rotation_lease_until Int] by [id] identity id),
    table!(secret_versions [secret_id Int, version_id Text, seq Int, data_type Text, key_id Text, key_version_id Text, wrapped_key Bytes, ciphertext Bytes, created_at Int] by [secret_id version_id]),
    table!(secret_tags [secret_id Int, tag_key Text, tag_value Text] by [secret_id tag_key]),
    table!(key_tags [key_id Text, tag_key Text, tag_value Text] by [key_id tag_key]),
    table!(aliases [alias_name Text, key_id Text, created_at Int] by [alias_name]),
    table!(db_instances [instance_id Text, engine Text, address Text, admin_secret Text, created_at Int, tls_mode Text, tls_ca Text] by [instance_id]),
    table!(ram_users [user_name Text, user_id Text, display_name Text, email Text, mobile_phone Text, comments Text, created_at Int, updated_at Int] by [user_name]),
    table!(ram_policies [policy_name Text, description Text, default_version Text, next_version Int, created_at Int, updated_at Int] by [policy_name]),
    table!(ram_policy_versions [policy_name Text, version_id Text, document Text, created_at Int] by [policy_name version_id]),
    table!(ram_attachments [principal Text, policy_type Text, policy_name Text, attached_at Int] by [principal policy_type policy_name]),
    table!(ram_roles [role_name Text, role_id Text, description Text, trust_policy Text, max_session_duration Int, created_at Int, updated_at Int] by [role_name]),
];

/// SQLite tables that are deliberately not copied.
const NOT_COPIED_SQLITE: &[&str] = &["counters", "sqlite_sequence"];
/// PostgreSQL tables the copy leaves as the migrations made them.
const NOT_COPIED_POSTGRES: &[&str] = &["nonces", "openkms_schema"];

/// Rows fetched or inserted per round trip.
const BATCH_ROWS: usize = 500;

/// What was copied: each table with its row count, in copy order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CopyReport {
    pub tables: Vec<(&'static str, u64)>,
}

impl CopyReport {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// Copies the SQLite store at `sqlite_path` into the empty PostgreSQL database at `pg_url`
/// (migrating both schemas first) and verifies the copy before committing it.
pub async fn sqlite_to_postgres(
    sqlite_path: &Path,
    pg_url: &str,
) -> Result<CopyReport, StoreError> {
    if !sqlite_path.is_file() {
        return Err(StoreError::Config {
            reason: format!("no embedded store at {}", sqlite_path.display()),
        });
    }
    // Bring the source to this binary's schema, as `serve` would, then read it on its own.
    drop(SqliteStore::open(sqlite_path)?);
    let source = Connection::open_with_flags(
        sqlite_path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite("open the source"))?;
    let target = PgStore::connect(pg_url).await?;
    copy(&source, &target).await
}

async fn copy(source: &Connection, target: &PgStore) -> Result<CopyReport, StoreError> {
    // One snapshot of the source for the whole copy.
    source
        .execute_batch("BEGIN DEFERRED")
        .map_err(sqlite("begin"))?;
    check_sqlite_schema(source)?;
    let mut tx = target.pool().begin().await.map_err(pg("begin the copy"))?;
    // A node starting meanwhile would initialise the database; it waits on this lock instead,
    // then finds the copied installation and joins it.
    sqlx::query("LOCK TABLE meta IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .map_err(pg("lock the target"))?;
    check_postgres_schema(&mut tx).await?;
    for table in TABLES {
        let holds_rows: bool =
            sqlx::query_scalar(&format!("SELECT EXISTS (SELECT 1 FROM {})", table.name))
                .fetch_one(&mut *tx)
                .await
                .map_err(pg("check the target is empty"))?;
        if holds_rows {
            return Err(StoreError::Config {
                reason: format!(
                    "the target database is not empty (table {} holds rows); migrate copies \
                     into an empty database only",
                    table.name
                ),
            });
        }
    }
    let mut report = CopyReport::default();
    for table in TABLES {
        let (rows, source_digest) = copy_table(source, &mut tx, table).await?;
        if let Some(column) = table.identity {
            advance_identity(source, &mut tx, table, column).await?;
        }
        let (copied, target_digest) = digest_postgres(&mut tx, table).await?;
        if (copied, target_digest) != (rows, source_digest) {
            return Err(StoreError::Config {
                reason: format!(
                    "verification failed on table {}: {rows} rows read from SQLite, {copied} \
                     read back from PostgreSQL{}; nothing was committed",
                    table.name,
                    if copied == rows {
                        " with different contents"
                    } else {
                        ""
                    }
                ),
            });
        }
        report.tables.push((table.name, rows));
    }
    tx.commit().await.map_err(pg("commit the copy"))?;
    source.execute_batch("COMMIT").map_err(sqlite("end"))?;
    Ok(report)
}

/// A value as both sides hold it.
#[derive(Debug, PartialEq)]
enum Value {
    Null,
    Text(String),
    Int(i64),
    Bool(bool),
    Bytes(Vec<u8>),
}

impl Value {
    /// Feeds the digest an unambiguous encoding (a tag, then a length where it varies).
    fn digest_into(&self, ctx: &mut Context) {
        match self {
            Value::Null => ctx.update(&[0]),
            Value::Text(s) => {
                ctx.update(&[1]);
                ctx.update(&(s.len() as u64).to_le_bytes());
                ctx.update(s.as_bytes());
            }
            Value::Int(i) => {
                ctx.update(&[2]);
                ctx.update(&i.to_le_bytes());
            }
            Value::Bool(b) => ctx.update(&[3, u8::from(*b)]),
            Value::Bytes(b) => {
                ctx.update(&[4]);
                ctx.update(&(b.len() as u64).to_le_bytes());
                ctx.update(b);
            }
        }
    }

    fn from_sqlite(v: ValueRef<'_>, kind: Kind) -> Result<Self, StoreError> {
        let corrupt = StoreError::Corrupt {
            what: "a source value does not have its column's type",
        };
        Ok(match (v, kind) {
            (ValueRef::Null, _) => Value::Null,
            (ValueRef::Text(t), Text) => {
                Value::Text(String::from_utf8(t.to_vec()).map_err(|_| corrupt)?)
            }
            (ValueRef::Integer(i), Int) => Value::Int(i),
            (ValueRef::Integer(i @ (0 | 1)), Bool) => Value::Bool(i == 1),
            (ValueRef::Blob(b), Bytes) => Value::Bytes(b.to_vec()),
            _ => return Err(corrupt),
        })
    }

    fn from_postgres(row: &PgRow, i: usize, kind: Kind) -> Result<Self, sqlx::Error> {
        Ok(match kind {
            Text => row.try_get::<Option<String>, _>(i)?.map(Value::Text),
            Int => row.try_get::<Option<i64>, _>(i)?.map(Value::Int),
            Bool => row.try_get::<Option<bool>, _>(i)?.map(Value::Bool),
            Bytes => row.try_get::<Option<Vec<u8>>, _>(i)?.map(Value::Bytes),
        }
        .unwrap_or(Value::Null))
    }
}

fn sqlite(op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |source| StoreError::Database { op, source }
}

/// Copies one table in batches; returns the row count and digest of what SQLite held.
async fn copy_table(
    source: &Connection,
    tx: &mut Transaction<'_, Postgres>,
    table: &Table,
) -> Result<(u64, [u8; 32]), StoreError> {
    let exprs: Vec<&str> = table.columns.iter().map(|c| c.1).collect();
    let mut stmt = source
        .prepare(&format!(
            "SELECT {} FROM {} ORDER BY {}",
            exprs.join(", "),
            table.name,
            table.order_by.join(", ")
        ))
        .map_err(sqlite("read the source"))?;
    let mut rows = stmt.query([]).map_err(sqlite("read the source"))?;
    let per_batch = BATCH_ROWS.min(60_000 / table.columns.len());
    let mut ctx = Context::new(&SHA256);
    let mut count = 0u64;
    let mut batch: Vec<Vec<Value>> = Vec::with_capacity(per_batch);
    loop {
        let row = rows.next().map_err(sqlite("read the source"))?;
        if let Some(row) = row {
            let mut values = Vec::with_capacity(table.columns.len());
            for (i, column) in table.columns.iter().enumerate() {
                let v = row.get_ref(i).map_err(sqlite("read the source"))?;
                let v = Value::from_sqlite(v, column.2)?;
                v.digest_into(&mut ctx);
                values.push(v);
            }
            batch.push(values);
            count += 1;
        }
        if batch.len() == per_batch || (row.is_none() && !batch.is_empty()) {
            insert_batch(tx, table, &batch).await?;
            batch.clear();
        }
        if row.is_none() {
            break;
        }
    }
    Ok((count, finish(ctx)))
}

async fn insert_batch(
    tx: &mut Transaction<'_, Postgres>,
    table: &Table,
    batch: &[Vec<Value>],
) -> Result<(), StoreError> {
    let names: Vec<&str> = table.columns.iter().map(|c| c.0).collect();
    let mut q = QueryBuilder::<Postgres>::new(format!(
        "INSERT INTO {} ({}) {}",
        table.name,
        names.join(", "),
        if table.identity.is_some() {
            "OVERRIDING SYSTEM VALUE "
        } else {
            ""
        }
    ));
    q.push_values(batch, |mut b, row| {
        for (v, column) in row.iter().zip(table.columns) {
            match (v, column.2) {
                (Value::Text(s), _) => b.push_bind(s.as_str()),
                (Value::Int(i), _) => b.push_bind(*i),
                (Value::Bool(x), _) => b.push_bind(*x),
                (Value::Bytes(x), _) => b.push_bind(x.as_slice()),
                (Value::Null, Text) => b.push_bind(None::<&str>),
                (Value::Null, Int) => b.push_bind(None::<i64>),
                (Value::Null, Bool) => b.push_bind(None::<bool>),
                (Value::Null, Bytes) => b.push_bind(None::<&[u8]>),
            };
        }
    });
    q.build()
        .execute(&mut **tx)
        .await
        .map_err(pg("write the copy"))?;
    Ok(())
}

/// Moves the identity sequence past every copied value and, for `secrets`, past every id
/// SQLite ever handed out (AUTOINCREMENT never reuses a purged secret's id; neither may we).
async fn advance_identity(
    source: &Connection,
    tx: &mut Transaction<'_, Postgres>,
    table: &Table,
    column: &str,
) -> Result<(), StoreError> {
    let handed_out: i64 = source
        .query_row(
            "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?1), 0)",
            [table.name],
            |r| r.get(0),
        )
        .map_err(sqlite("read the source's sequence"))?;
    let copied: i64 = sqlx::query_scalar(&format!(
        "SELECT COALESCE(MAX({column}), 0) FROM {}",
        table.name
    ))
    .fetch_one(&mut **tx)
    .await
    .map_err(pg("read the copied identities"))?;
    let last = handed_out.max(copied);
    if last > 0 {
        sqlx::query("SELECT setval(pg_get_serial_sequence($1, $2), $3)")
            .bind(table.name)
            .bind(column)
            .bind(last)
            .execute(&mut **tx)
            .await
            .map_err(pg("advance the identity sequence"))?;
    }
    Ok(())
}

/// Reads the table back through a cursor, in the same order as the SQLite side.
async fn digest_postgres(
    tx: &mut Transaction<'_, Postgres>,
    table: &Table,
) -> Result<(u64, [u8; 32]), StoreError> {
    // Integers read as BIGINT whatever their width (meta.id is an INTEGER).
    let names: Vec<String> = table
        .columns
        .iter()
        .map(|c| match c.2 {
            Int => format!("{}::bigint", c.0),
            _ => c.0.to_owned(),
        })
        .collect();
    // Bytewise order on text, as SQLite's BINARY collation, whatever the column's collation.
    let order: Vec<String> = table
        .order_by
        .iter()
        .map(|col| match table.columns.iter().find(|c| c.0 == *col) {
            Some((_, _, Text)) => format!("{col} COLLATE \"C\""),
            _ => (*col).to_owned(),
        })
        .collect();
    sqlx::query(&format!(
        "DECLARE copy_check_{t} NO SCROLL CURSOR FOR SELECT {} FROM {t} ORDER BY {}",
        names.join(", "),
        order.join(", "),
        t = table.name,
    ))
    .execute(&mut **tx)
    .await
    .map_err(pg("read the copy back"))?;
    let mut ctx = Context::new(&SHA256);
    let mut count = 0u64;
    loop {
        // A cursor per table: sqlx caches a statement's row description by its text.
        let rows = sqlx::query(&format!(
            "FETCH {BATCH_ROWS} FROM copy_check_{}",
            table.name
        ))
        .fetch_all(&mut **tx)
        .await
        .map_err(pg("read the copy back"))?;
        for row in &rows {
            for (i, column) in table.columns.iter().enumerate() {
                Value::from_postgres(row, i, column.2)
                    .map_err(pg("read the copy back"))?
                    .digest_into(&mut ctx);
            }
            count += 1;
        }
        if rows.len() < BATCH_ROWS {
            break;
        }
    }
    sqlx::query(&format!("CLOSE copy_check_{}", table.name))
        .execute(&mut **tx)
        .await
        .map_err(pg("read the copy back"))?;
    Ok((count, finish(ctx)))
}

fn finish(ctx: Context) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Refuses a source whose tables or columns this copy does not know: a column added by a
/// later migration must be added to [`TABLES`] too, never dropped silently.
fn check_sqlite_schema(source: &Connection) -> Result<(), StoreError> {
    let mut stmt = source
        .prepare(
            "SELECT m.name AS table_name, p.name AS column_name \
             FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' ORDER BY m.name, p.cid",
        )
        .map_err(sqlite("read the source schema"))?;
    let found = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>("table_name")?,
                r.get::<_, String>("column_name")?,
            ))
        })
        .map_err(sqlite("read the source schema"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sqlite("read the source schema"))?;
    compare_schema("SQLite", found, NOT_COPIED_SQLITE, |c| c.1)
}

async fn check_postgres_schema(tx: &mut Transaction<'_, Postgres>) -> Result<(), StoreError> {
    let found: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
    )
    .fetch_all(&mut **tx)
    .await
    .map_err(pg("read the target schema"))?;
    compare_schema("PostgreSQL", found, NOT_COPIED_POSTGRES, |c| c.0)
}

/// `found`: (table, column) pairs of one side; `source_name` picks the side's column name
/// (`rowid` is SQLite's implicit column, never listed).
fn compare_schema(
    side: &str,
    found: Vec<(String, String)>,
    not_copied: &[&str],
    source_name: fn(&Column) -> &'static str,
) -> Result<(), StoreError> {
    let mut expected: Vec<(String, String)> = TABLES
        .iter()
        .flat_map(|t| {
            t.columns
                .iter()
                .map(source_name)
                .filter(|c| *c != "rowid")
                .map(|c| (t.name.to_owned(), c.to_owned()))
        })
        .collect();
    let mut found: Vec<(String, String)> = found
        .into_iter()
        .filter(|(t, _)| !not_copied.contains(&t.as_str()))
        .collect();
    expected.sort();
    found.sort();
    if expected == found {
        return Ok(());
    }
    let unknown: Vec<String> = found
        .iter()
        .filter(|c| !expected.contains(c))
        .chain(expected.iter().filter(|c| !found.contains(c)))
        .map(|(t, c)| format!("{t}.{c}"))
        .collect();
    Err(StoreError::Migration {
        reason: format!(
            "the {side} schema does not match what this binary copies (columns: {})",
            unknown.join(", ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ordering_column_is_a_copied_column() {
        for t in TABLES {
            for col in t.order_by {
                assert!(t.columns.iter().any(|c| c.0 == *col), "{}.{col}", t.name);
            }
            if let Some(id) = t.identity {
                assert!(t.columns.iter().any(|c| c.0 == id), "{}.{id}", t.name);
            }
        }
    }

    #[test]
    fn the_sqlite_schema_this_binary_migrates_to_is_the_one_it_copies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("openkms.db");
        drop(SqliteStore::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        check_sqlite_schema(&conn).unwrap();
    }

    #[test]
    fn a_column_the_copy_does_not_know_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("openkms.db");
        drop(SqliteStore::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("ALTER TABLE secrets ADD COLUMN owner TEXT")
            .unwrap();
        let err = check_sqlite_schema(&conn).unwrap_err().to_string();
        assert!(err.contains("secrets.owner"), "{err}");
    }

    #[test]
    fn the_digest_encoding_keeps_values_apart() {
        let digest = |vals: &[Value]| {
            let mut ctx = Context::new(&SHA256);
            vals.iter().for_each(|v| v.digest_into(&mut ctx));
            finish(ctx)
        };
        let ab_c = digest(&[Value::Text("ab".into()), Value::Text("c".into())]);
        let a_bc = digest(&[Value::Text("a".into()), Value::Text("bc".into())]);
        assert_ne!(ab_c, a_bc);
        assert_ne!(
            digest(&[Value::Null]),
            digest(&[Value::Text(String::new())])
        );
        assert_ne!(digest(&[Value::Int(1)]), digest(&[Value::Bool(true)]));
    }
}
