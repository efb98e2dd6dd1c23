//! Supervision of `serve`'s background jobs. Each job runs one pass at a time, every `every`,
//! on a [`TaskTracker`] so shutdown can wait for it. A pass runs in its own task, so a panic
//! is caught (as a `JoinError`) like an error: both are logged, counted in
//! `openkms_jobs_total{job,outcome}`, and retried with exponential backoff. Cancellation is
//! looked at only between passes: a pass is never cut in the middle of a transaction.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Metric: passes of each background job by outcome (`ok`, `error`, `panic`).
pub const JOBS_TOTAL: &str = "openkms_jobs_total";
/// Metric: items a pass could not handle (e.g. one secret's rotation), by job.
pub const JOB_ITEMS_FAILED: &str = "openkms_job_items_failed_total";

/// First retry after a failed pass; doubled after each consecutive failure.
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
/// Longest wait between retries of a job that keeps failing.
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Why a pass failed, as logged (never secret: service errors carry no values).
pub type PassError = Box<dyn std::error::Error + Send + Sync>;

/// Runs `pass` now and then every `every` until `shutdown` is cancelled.
pub fn spawn<F, Fut>(
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
    job: &'static str,
    every: Duration,
    pass: F,
) where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), PassError>> + Send + 'static,
{
    let shutdown = shutdown.clone();
    tracker.spawn(async move {
        let mut failures: u32 = 0;
        loop {
            // Not raced against `shutdown`: a pass that started finishes (within the grace).
            let outcome = tokio::spawn(pass()).await;
            let failed = match outcome {
                Ok(Ok(())) => {
                    metrics::counter!(JOBS_TOTAL, "job" => job, "outcome" => "ok").increment(1);
                    None
                }
                Ok(Err(e)) => {
                    metrics::counter!(JOBS_TOTAL, "job" => job, "outcome" => "error").increment(1);
                    Some(e.to_string())
                }
                Err(e) => {
                    metrics::counter!(JOBS_TOTAL, "job" => job, "outcome" => "panic").increment(1);
                    Some(if e.is_panic() {
                        "the pass panicked".to_owned()
                    } else {
                        "the pass was cancelled".to_owned()
                    })
                }
            };
            let wait = match failed {
                None => {
                    failures = 0;
                    every
                }
                Some(error) => {
                    failures = failures.saturating_add(1);
                    let wait = backoff(failures);
                    tracing::error!(
                        job,
                        error,
                        consecutive_failures = failures,
                        retry_in_secs = wait.as_secs(),
                        "background job failed"
                    );
                    wait
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.cancelled() => return,
            }
        }
    });
}

/// The wait before the next pass after `failures` consecutive failures (at least 1).
fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    BACKOFF_FIRST
        .saturating_mul(1 << doublings)
        .min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(30), BACKOFF_MAX);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    /// A pass that panics is retried (after the backoff), and the job stops on cancellation.
    #[tokio::test(start_paused = true)]
    async fn a_panicking_pass_is_retried_and_cancellation_ends_the_job() {
        let tracker = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let passes = Arc::new(AtomicU32::new(0));
        let counted = passes.clone();
        spawn(
            &tracker,
            &shutdown,
            "test",
            Duration::from_secs(60),
            move || {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    #[allow(clippy::panic)]
                    if n < 2 {
                        panic!("pass {n} fails");
                    }
                    Ok(())
                }
            },
        );
        // Passes at 0 s (panics), 1 s (panics), 3 s (succeeds); the next would be at 63 s.
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(passes.load(Ordering::SeqCst), 3);
        tracker.close();
        shutdown.cancel();
        tracker.wait().await;
        assert_eq!(passes.load(Ordering::SeqCst), 3);
    }
}
