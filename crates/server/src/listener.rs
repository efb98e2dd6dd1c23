//! The accept loop shared by the API and metrics listeners: a connection cap, back-off when the
//! process runs out of file descriptors, rate-limited warnings, and a graceful drain.
//!
//! It never spins and never floods the log: an accept that fails for lack of descriptors
//! (EMFILE, ENFILE) or memory waits [`ACCEPT_BACKOFF`] before the next one, and each kind of
//! warning is written at most once per [`LOG_EVERY`], with the count of what it stood for.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::http1;

/// How long the loop waits after an accept failed for lack of resources.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// At most one warning of a kind per this period.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// The whole answer to a connection past the cap: written without waiting, then closed.
const OVER_CAPACITY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// How one listener serves its connections.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ListenerConfig {
    pub limits: http1::Limits,
    pub max_connections: usize,
    /// After `shutdown`, how long connections may take to finish before they are dropped.
    pub grace: Duration,
}

/// Accepts connections until `shutdown` is cancelled, serving each with `handle` (given the
/// request and the peer's address) and `reject`; then drains (see [`http1::serve`]) and
/// returns once every connection is closed or `grace` ran out.
pub(crate) async fn accept_loop<H, Fut>(
    listener: TcpListener,
    config: ListenerConfig,
    shutdown: CancellationToken,
    handle: H,
    reject: fn(u16, &'static str) -> http1::Response,
) where
    H: Fn(http1::Request, IpAddr) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = http1::Response> + Send,
{
    let tracker = TaskTracker::new();
    // Cancelled when the grace period runs out: connections still open are dropped.
    let hard_stop = CancellationToken::new();
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let mut accept_failures = Throttle::new(LOG_EVERY);
    let mut refused = Throttle::new(LOG_EVERY);
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(s) => s,
            Err(e) if is_per_connection(&e) => continue,
            Err(e) => {
                if let Some(count) = accept_failures.hit() {
                    tracing::warn!(error = %e, count, "accepting connections failed; backing off");
                }
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            if let Some(count) = refused.hit() {
                tracing::warn!(
                    max_connections = config.max_connections,
                    count,
                    "connection cap reached; refusing connections"
                );
            }
            refuse(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let handle = handle.clone();
        let drain = shutdown.clone();
        let hard_stop = hard_stop.clone();
        tracker.spawn(async move {
            let _permit = permit;
            let ip = peer.ip();
            let serve = http1::serve(
                stream,
                config.limits,
                drain,
                move |req| handle(req, ip),
                reject,
            );
            tokio::select! {
                () = serve => {}
                () = hard_stop.cancelled() => {}
            }
        });
    }
    drop(listener);
    tracker.close();
    if tokio::time::timeout(config.grace, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            connections = tracker.len(),
            "the shutdown grace period ran out; dropping the connections still open"
        );
        hard_stop.cancel();
        tracker.wait().await;
    }
}

/// Errors of one connection that was already gone when accepted: the next accept may work.
fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted, WouldBlock};
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    )
}

/// Answers a connection past the cap with a 503 if the socket takes it at once, and closes.
fn refuse(stream: TcpStream) {
    let _ = stream.try_write(OVER_CAPACITY);
}

/// Lets one event of a kind through per period and counts the others.
struct Throttle {
    every: Duration,
    last: Option<Instant>,
    count: u64,
}

impl Throttle {
    fn new(every: Duration) -> Self {
        Self {
            every,
            last: None,
            count: 0,
        }
    }

    /// Records an event; returns how many events this one stands for (itself and those held
    /// back since the last one let through) when it may be logged.
    fn hit(&mut self) -> Option<u64> {
        self.count = self.count.saturating_add(1);
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < self.every)
        {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn config(max_connections: usize) -> ListenerConfig {
        ListenerConfig {
            limits: http1::Limits {
                max_head: 10_000,
                max_body: 10_000,
                head_timeout: Duration::from_secs(30),
                body_timeout: Duration::from_secs(30),
                write_timeout: Duration::from_secs(30),
                idle_timeout: Duration::from_secs(30),
            },
            max_connections,
            grace: Duration::from_secs(5),
        }
    }

    fn ok(_req: http1::Request, _ip: IpAddr) -> std::future::Ready<http1::Response> {
        std::future::ready(http1::Response {
            status: 200,
            headers: vec![],
            body: b"ok".to_vec(),
        })
    }

    fn reject(status: u16, _reason: &'static str) -> http1::Response {
        http1::Response {
            status,
            headers: vec![],
            body: vec![],
        }
    }

    #[test]
    fn throttle_lets_one_event_through_per_period_with_the_count() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let mut t = Throttle::new(Duration::from_secs(10));
            assert_eq!(t.hit(), Some(1));
            for _ in 0..999 {
                assert_eq!(t.hit(), None);
            }
            tokio::time::advance(Duration::from_secs(11)).await;
            assert_eq!(t.hit(), Some(1000));
        });
    }

    #[tokio::test]
    async fn connections_past_the_cap_are_refused_and_served_again_when_one_closes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(accept_loop(
            listener,
            config(2),
            shutdown.clone(),
            ok,
            reject,
        ));
        let a = TcpStream::connect(addr).await.unwrap();
        let b = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        let mut out = Vec::new();
        c.read_to_end(&mut out).await.unwrap();
        assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 503"));
        drop(a);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut d = TcpStream::connect(addr).await.unwrap();
        d.write_all(b"GET / HTTP/1.1\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        d.read_to_end(&mut out).await.unwrap();
        assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200"));
        drop(b);
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn shutdown_stops_accepting_and_returns_once_connections_are_done() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(accept_loop(
            listener,
            config(10),
            shutdown.clone(),
            ok,
            reject,
        ));
        let mut idle = TcpStream::connect(addr).await.unwrap();
        idle.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut head = [0u8; 12];
        idle.read_exact(&mut head).await.unwrap();
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .unwrap()
            .unwrap();
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "no longer listening"
        );
    }
}
