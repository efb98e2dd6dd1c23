//! The single writer thread with group commit: jobs that arrive while a commit is in flight
//! share the next one, so concurrent writers pay one fsync between them instead of one each.
//! Each job runs in its own savepoint, so a failing job rolls back alone.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::StoreError;

/// Most jobs folded into one commit.
const MAX_BATCH: usize = 128;

type Respond = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> (bool, Respond) + Send>;

enum Msg {
    Job(Job),
    /// Commit what is queued before it, then stop; answered once the connection is closed.
    Stop(oneshot::Sender<()>),
}

/// Handle to the writer thread.
pub struct Writer {
    tx: mpsc::Sender<Msg>,
}

impl Writer {
    /// Starts the writer on its own connection; a store without one cannot open.
    pub fn start(conn: Connection) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel::<Msg>();
        std::thread::Builder::new()
            .name("openkms-sqlite-writer".into())
            .spawn(move || supervise(conn, rx))
            .map_err(StoreError::Create)?;
        Ok(Self { tx })
    }

    /// Runs `f` inside a transaction; resolves after the commit is durable. A job that panics
    /// is rolled back alone and answered [`StoreError::WriterGone`]; the writer goes on.
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
        self.tx
            .send(Msg::Job(job))
            .map_err(|_| StoreError::WriterGone)?;
        done_rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Commits every write queued so far, closes the connection and ends the thread. Later
    /// writes answer [`StoreError::WriterGone`].
    pub async fn stop(&self) {
        let (ack_tx, ack_rx) = oneshot::channel();
        if self.tx.send(Msg::Stop(ack_tx)).is_ok() {
            // An error means the thread is gone already: nothing left to wait for.
            let _ = ack_rx.await;
        }
    }
}

/// Runs the writer loop, and runs it again on the same connection if it panics outside a job
/// (every job has its own guard): the batch in flight was not committed and its callers were
/// answered `WriterGone`, so nothing acknowledged is lost, and later writes are served.
fn supervise(conn: Connection, rx: mpsc::Receiver<Msg>) {
    loop {
        match std::panic::catch_unwind(AssertUnwindSafe(|| run(&conn, &rx))) {
            Ok(ack) => {
                drop(conn);
                if let Some(ack) = ack {
                    let _ = ack.send(());
                }
                return;
            }
            Err(_) => {
                metrics::counter!(WRITER_RESTARTS).increment(1);
                tracing::error!(
                    "the SQLite writer panicked; its open batch was rolled back and it restarts"
                );
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
            }
        }
    }
}

/// Metric: restarts of the SQLite writer loop after a panic outside a job.
pub const WRITER_RESTARTS: &str = "openkms_sqlite_writer_restarts_total";
/// Metric: write jobs that panicked (each rolled back alone).
pub const WRITE_PANICS: &str = "openkms_sqlite_write_panics_total";

/// Serves jobs until the channel closes (`None`) or a stop arrives (its acknowledgement).
fn run(conn: &Connection, rx: &mpsc::Receiver<Msg>) -> Option<oneshot::Sender<()>> {
    let mut stop = None;
    while stop.is_none() {
        let first = match rx.recv() {
            Ok(Msg::Job(job)) => job,
            Ok(Msg::Stop(ack)) => return Some(ack),
            Err(_) => return None,
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Msg::Job(job)) => batch.push(job),
                Ok(Msg::Stop(ack)) => {
                    stop = Some(ack);
                    break;
                }
                Err(_) => break,
            }
        }
        let mut responders = Vec::with_capacity(batch.len());
        let begin = exec_cached(conn, "BEGIN IMMEDIATE");
        if let Err(e) = begin {
            let e = db("begin", e);
            tracing::error!(error = %e, "SQLite writer could not begin a transaction");
            // Dropping the jobs unanswered makes each caller see `WriterGone`.
            drop(batch);
            continue;
        }
        for job in batch {
            if let Err(e) = exec_cached(conn, "SAVEPOINT job") {
                tracing::error!(error = %db("savepoint", e), "SQLite savepoint failed");
            }
            // A panicking plan drops its answer (the caller sees `WriterGone`) and is rolled
            // back like a failed one; it must not take the writer, and every later write, with it.
            let (keep, respond) = match std::panic::catch_unwind(AssertUnwindSafe(|| job(conn))) {
                Ok((keep, respond)) => (keep, Some(respond)),
                Err(_) => {
                    metrics::counter!(WRITE_PANICS).increment(1);
                    tracing::error!(
                        "a write panicked inside the SQLite writer; it was rolled back"
                    );
                    (false, None)
                }
            };
            let end = if keep {
                exec_cached(conn, "RELEASE job")
            } else {
                exec_cached(conn, "ROLLBACK TO job").and_then(|()| exec_cached(conn, "RELEASE job"))
            };
            if let Err(e) = end {
                tracing::error!(error = %db("savepoint end", e), "SQLite savepoint failed");
            }
            responders.extend(respond);
        }
        let commit = exec_cached(conn, "COMMIT").map_err(|e| db("commit", e));
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
    stop
}

/// Runs a statement through the prepared-statement cache (these run once per write).
fn exec_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn db(op: &'static str, source: rusqlite::Error) -> StoreError {
    StoreError::Database { op, source }
}
