//! The single writer thread with group commit: jobs that arrive while a commit is in flight
//! share the next one, so concurrent writers pay one fsync between them instead of one each.
//! Each job runs in its own savepoint, so a failing job rolls back alone.

use std::sync::mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::StoreError;

/// Most jobs folded into one commit.
const MAX_BATCH: usize = 128;

type Respond = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> (bool, Respond) + Send>;

/// Handle to the writer thread.
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer on its own connection.
    pub fn start(conn: Connection) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("openkms-sqlite-writer".into())
            .spawn(move || run(conn, rx))
            .map_err(|e| tracing::error!(error = %e, "could not start the SQLite writer"))
            .ok();
        Self { tx }
    }

    /// Runs `f` inside a transaction; resolves after the commit is durable.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (done_tx, done_rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            let keep = result.is_ok();
            let respond: Respond = Box::new(move |commit| {
                let out = match (result, commit) {
                    (Ok(v), Ok(())) => Ok(v),
                    (Err(e), _) | (Ok(_), Err(e)) => Err(e),
                };
                let _ = done_tx.send(out);
            });
            (keep, respond)
        });
        self.tx.send(job).map_err(|_| StoreError::WriterGone)?;
        done_rx.await.map_err(|_| StoreError::WriterGone)?
    }
}

fn run(conn: Connection, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut responders = Vec::with_capacity(batch.len());
        let begin = exec_cached(&conn, "BEGIN IMMEDIATE");
        if let Err(e) = begin {
            let e = db("begin", e);
            tracing::error!(error = %e, "SQLite writer could not begin a transaction");
            // Dropping the jobs unanswered makes each caller see `WriterGone`.
            drop(batch);
            continue;
        }
        for job in batch {
            if let Err(e) = exec_cached(&conn, "SAVEPOINT job") {
                tracing::error!(error = %db("savepoint", e), "SQLite savepoint failed");
            }
            let (keep, respond) = job(&conn);
            let end = if keep {
                exec_cached(&conn, "RELEASE job")
            } else {
                exec_cached(&conn, "ROLLBACK TO job")
                    .and_then(|()| exec_cached(&conn, "RELEASE job"))
            };
            if let Err(e) = end {
                tracing::error!(error = %db("savepoint end", e), "SQLite savepoint failed");
            }
            responders.push(respond);
        }
        let commit = exec_cached(&conn, "COMMIT").map_err(|e| db("commit", e));
        if commit.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for respond in responders {
            let r = match &commit {
                Ok(()) => Ok(()),
                Err(_) => Err(StoreError::Unavailable),
            };
            respond(r);
        }
    }
}

/// Runs a statement through the prepared-statement cache (these run once per write).
fn exec_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn db(op: &'static str, source: rusqlite::Error) -> StoreError {
    StoreError::Database { op, source }
}
