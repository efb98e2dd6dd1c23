//! The closed loop: N connections, one request in flight on each, each request signed with a
//! fresh nonce and the current time, until the window ends. Latencies go into one HDR
//! histogram per connection, merged at the end.
//!
//! Timeline: connections open and send during the warm-up; requests *sent* from
//! `measure_from` until `until` are counted; the window closes when the last of them has been
//! answered, and CPU is sampled at both ends of it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use http::StatusCode;
use tokio::time::Instant;

use crate::connection::{ConnError, Connection};
use crate::cpu::{self, Process};
use crate::workload::{self, Credentials, Operation, Target};

/// Highest latency the histograms hold (60 s, in microseconds); longer ones saturate.
const MAX_LATENCY_US: u64 = 60_000_000;

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub operation: Operation,
    pub credentials: Credentials,
    pub target: Target,
    /// Secrets the connections share out (connection i uses [`spread_name`] of i).
    pub secrets: usize,
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub server_pid: Option<u32>,
}

/// Counts of one connection, or of all of them once merged.
#[derive(Debug)]
pub struct Tally {
    /// Latency of successful requests, in microseconds.
    pub latency_us: Histogram<u64>,
    /// Failed requests by cause: an HTTP status, `"200 without <marker>"`, or a transport error.
    pub failures: BTreeMap<String, u64>,
    /// Connections re-opened after the server closed them (not counted as failures).
    pub reconnects: u64,
}

impl Tally {
    fn new() -> Result<Self, hdrhistogram::CreationError> {
        Ok(Self {
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)?,
            failures: BTreeMap::new(),
            reconnects: 0,
        })
    }

    fn fail(&mut self, cause: String) {
        *self.failures.entry(cause).or_insert(0) += 1;
    }

    fn merge(&mut self, other: Self) -> Result<(), hdrhistogram::AdditionError> {
        self.latency_us.add(&other.latency_us)?;
        for (cause, n) in other.failures {
            *self.failures.entry(cause).or_insert(0) += n;
        }
        self.reconnects += other.reconnects;
        Ok(())
    }

    pub fn successes(&self) -> u64 {
        self.latency_us.len()
    }

    pub fn errors(&self) -> u64 {
        self.failures.values().sum()
    }
}

/// The result of a run.
#[derive(Debug)]
pub struct Outcome {
    pub tally: Tally,
    /// From the start of the measured window to the last counted answer.
    pub window: Duration,
    pub server_cpu: Option<Duration>,
    pub own_cpu: Option<Duration>,
}

/// Why a run could not produce an outcome.
#[derive(Debug)]
pub enum RunError {
    Histogram(String),
    Worker(tokio::task::JoinError),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Histogram(e) => write!(f, "latency histogram: {e}"),
            Self::Worker(e) => write!(f, "a connection task failed: {e}"),
        }
    }
}

impl std::error::Error for RunError {}

/// Runs the plan on the current runtime.
pub async fn run(plan: Plan) -> Result<Outcome, RunError> {
    let start = Instant::now();
    let measure_from = start + plan.warmup;
    let shared = Arc::new(Shared {
        measure_from,
        until: measure_from + plan.duration,
        first_failure_shown: AtomicBool::new(false),
        plan,
    });
    let mut workers = Vec::with_capacity(shared.plan.connections);
    for i in 0..shared.plan.connections {
        workers.push(tokio::spawn(connection_loop(Arc::clone(&shared), i)));
    }

    tokio::time::sleep_until(measure_from).await;
    let server = shared.plan.server_pid.map(Process::Pid);
    let server_before = server.and_then(cpu::cpu_time);
    let own_before = cpu::cpu_time(Process::Own);
    let window_start = Instant::now();

    let mut total = Tally::new().map_err(|e| RunError::Histogram(e.to_string()))?;
    for w in workers {
        let tally = w
            .await
            .map_err(RunError::Worker)?
            .map_err(|e| RunError::Histogram(e.to_string()))?;
        total
            .merge(tally)
            .map_err(|e| RunError::Histogram(e.to_string()))?;
    }
    let window = window_start.elapsed();
    let server_cpu = match (server_before, server.and_then(cpu::cpu_time)) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let own_cpu = match (own_before, cpu::cpu_time(Process::Own)) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    Ok(Outcome {
        tally: total,
        window,
        server_cpu,
        own_cpu,
    })
}

/// Sends one request outside any load loop (CreateSecret before a run): the status and body.
pub async fn one_shot(
    op: Operation,
    creds: &Credentials,
    target: &Target,
) -> Result<(StatusCode, Vec<u8>), ConnError> {
    let mut conn = Connection::open(&creds.dialer).await?;
    let version_id = fresh_version_id();
    let req = workload::sign(
        op,
        creds,
        target,
        Some(&version_id),
        &workload::fresh_nonce(),
        &workload::now_date(),
    );
    let mut body = Vec::new();
    let status = conn.exchange(&req, &mut body).await?;
    Ok((status, body))
}

struct Shared {
    plan: Plan,
    measure_from: Instant,
    until: Instant,
    first_failure_shown: AtomicBool,
}

impl Shared {
    /// Prints the first failure of the run, once, so a misconfiguration is visible at once.
    fn show_first_failure(&self, what: &str, body: &[u8]) {
        if !self.first_failure_shown.swap(true, Ordering::Relaxed) {
            if body.is_empty() {
                eprintln!("openkms-loadgen: first failure: {what}");
            } else {
                eprintln!(
                    "openkms-loadgen: first failure: {what}: {}",
                    String::from_utf8_lossy(body)
                );
            }
        }
    }
}

/// One connection's closed loop: sign, send, wait for the answer, check it, repeat.
async fn connection_loop(
    shared: Arc<Shared>,
    index: usize,
) -> Result<Tally, hdrhistogram::CreationError> {
    let plan = &shared.plan;
    let own_target = workload::Target {
        secret_name: spread_name(&plan.target.secret_name, plan.secrets, index),
        ..plan.target.clone()
    };
    let marker = plan.operation.success_marker();
    let mut tally = Tally::new()?;
    let mut body = Vec::with_capacity(4096);
    let mut conn: Option<Connection> = None;
    let per_request = plan.credentials.dialer.connection_per_request;
    loop {
        let began = Instant::now();
        if began >= shared.until {
            break;
        }
        let counted = began >= shared.measure_from;
        let version_id = match plan.operation {
            Operation::GetSecretValue
            | Operation::Encrypt
            | Operation::Decrypt
            | Operation::CreateKey => None,
            Operation::PutSecretValue | Operation::CreateSecret => Some(fresh_version_id()),
        };
        // Creating: each request names a new secret under the target's name.
        let fresh_target;
        let target = match (plan.operation, &version_id) {
            (Operation::CreateSecret, Some(v)) => {
                fresh_target = workload::Target {
                    secret_name: format!("{}/{v}", plan.target.secret_name),
                    ..plan.target.clone()
                };
                &fresh_target
            }
            _ => &own_target,
        };
        let req = workload::sign(
            plan.operation,
            &plan.credentials,
            target,
            version_id.as_deref(),
            &workload::fresh_nonce(),
            &workload::now_date(),
        );
        // Latency covers the network and the server, not the client's signing; with a
        // connection per request, also the connect and the handshake it measures.
        let mut sent = Instant::now();
        if conn.is_none() {
            match Connection::open(&plan.credentials.dialer).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    if counted {
                        tally.fail("connect".to_owned());
                    }
                    shared.show_first_failure(&e.to_string(), b"");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
            if !per_request {
                sent = Instant::now();
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let result = c.exchange(&req, &mut body).await;
        let latency = sent.elapsed();
        if per_request {
            conn = None;
        }
        match result {
            Ok(status) if status == StatusCode::OK && workload::contains(&body, marker) => {
                if counted {
                    let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
                    tally.latency_us.saturating_record(us.max(1));
                }
            }
            Ok(status) => {
                let cause = if status == StatusCode::OK {
                    format!("200 without {}", String::from_utf8_lossy(marker))
                } else {
                    status.as_str().to_owned()
                };
                if counted {
                    tally.fail(cause);
                }
                shared.show_first_failure(&format!("HTTP {status}"), &body);
            }
            // A kept-alive connection the server ended; a fresh one closing unanswered fails.
            Err(ConnError::Closed) if !per_request => {
                tally.reconnects += 1;
                conn = None;
            }
            Err(e) => {
                if counted {
                    tally.fail("transport".to_owned());
                }
                shared.show_first_failure(&e.to_string(), b"");
                conn = None;
            }
        }
    }
    Ok(tally)
}

/// The secret of connection `index` when the load is spread over `secrets` of them: the name
/// itself for one, `<name>-<n>` otherwise.
pub fn spread_name(name: &str, secrets: usize, index: usize) -> String {
    if secrets <= 1 {
        name.to_owned()
    } else {
        format!("{name}-{}", index % secrets)
    }
}

fn fresh_version_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
