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
use crate::metrics_names::TLS_HANDSHAKE_FAILURES;
use crate::tls::TlsConfig;

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

/// What a listener speaks: plain HTTP, or HTTP inside TLS with the config current at accept.
#[derive(Debug, Clone)]
pub(crate) enum Transport {
    Plain,
    Tls(Arc<TlsConfig>),
}

/// Accepts connections until `shutdown` is cancelled, serving each with `handle` (given the
/// request and the peer's address) and `reject`; then drains (see [`http1::serve`]) and
/// returns once every connection is closed or `grace` ran out.
pub(crate) async fn accept_loop<H, Fut>(
    listener: TcpListener,
    config: ListenerConfig,
    transport: Transport,
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
        let transport = transport.clone();
        tracker.spawn(async move {
            let _permit = permit;
            let ip = peer.ip();
            let serve = async move {
                let handle = move |req| handle(req, ip);
                match transport {
                    Transport::Plain => {
                        http1::serve(stream, config.limits, drain, handle, reject).await;
                    }
                    Transport::Tls(tls) => {
                        if let Some(stream) = handshake(stream, &tls, config.limits).await {
                            http1::serve(stream, config.limits, drain, handle, reject).await;
                        }
                    }
                }
            };
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

/// The server side of a TLS handshake, bounded by the head deadline (it runs before any
/// request, so before authentication). `None` when it failed: the client refused our
/// certificate, offered no common version or cipher, sent no client certificate where one is
/// required, or stalled.
async fn handshake(
    stream: TcpStream,
    tls: &TlsConfig,
    limits: http1::Limits,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
    match tokio::time::timeout(limits.head_timeout, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(e)) => {
            metrics::counter!(TLS_HANDSHAKE_FAILURES, "reason" => "refused").increment(1);
            tracing::debug!(error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            metrics::counter!(TLS_HANDSHAKE_FAILURES, "reason" => "timeout").increment(1);
            None
        }
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

    pub(super) fn config(max_connections: usize) -> ListenerConfig {
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

    pub(super) fn ok(_req: http1::Request, _ip: IpAddr) -> std::future::Ready<http1::Response> {
        std::future::ready(http1::Response {
            status: 200,
            headers: vec![],
            body: b"ok".to_vec(),
        })
    }

    pub(super) fn reject(status: u16, _reason: &'static str) -> http1::Response {
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
            Transport::Plain,
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
            Transport::Plain,
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

#[cfg(test)]
mod tls_tests {
    use super::tests::{config, ok, reject};
    use super::*;
    use crate::tls::tests::{test_pki, write_pair};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn client(ca: &str, identity: Option<(&str, &str)>) -> tokio_rustls::TlsConnector {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    CertificateDer::pem_slice_iter(cert.as_bytes())
                        .map(Result::unwrap)
                        .collect(),
                    PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
                )
                .unwrap(),
        };
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }

    /// A TLS accept loop on a free loopback port: its address, its stop and its task.
    async fn serve_tls(
        tls: Arc<TlsConfig>,
        handle: fn(http1::Request, IpAddr) -> std::future::Ready<http1::Response>,
    ) -> (
        std::net::SocketAddr,
        CancellationToken,
        tokio::task::JoinHandle<()>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(accept_loop(
            listener,
            config(10),
            Transport::Tls(tls),
            shutdown.clone(),
            handle,
            reject,
        ));
        (addr, shutdown, server)
    }

    async fn get(
        addr: std::net::SocketAddr,
        connector: &tokio_rustls::TlsConnector,
    ) -> std::io::Result<String> {
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, tcp).await?;
        tls.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
            .await?;
        let mut out = Vec::new();
        tls.read_to_end(&mut out).await?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    #[tokio::test]
    async fn https_requests_are_served_with_the_configured_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let pki = test_pki();
        let tls = Arc::new(TlsConfig::load(write_pair(dir.path(), &pki)).unwrap());
        let (addr, shutdown, server) = serve_tls(tls, ok).await;
        let reply = get(addr, &client(&pki.ca, None)).await.unwrap();
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        // A client that trusts another CA refuses the server.
        assert!(get(addr, &client(&test_pki().ca, None)).await.is_err());
        // Plain HTTP on the TLS port gets no HTTP answer.
        let mut plain = TcpStream::connect(addr).await.unwrap();
        plain
            .write_all(b"GET / HTTP/1.1\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        let _ = plain.read_to_end(&mut out).await;
        assert!(!String::from_utf8_lossy(&out).contains("200"));
        shutdown.cancel();
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_large_reply_reaches_a_slow_reader_whole_and_the_connection_stays_usable() {
        const BODY: usize = 4 << 20;
        fn large(_req: http1::Request, _ip: IpAddr) -> std::future::Ready<http1::Response> {
            std::future::ready(http1::Response {
                status: 200,
                headers: vec![],
                body: vec![b'x'; BODY],
            })
        }
        let dir = tempfile::tempdir().unwrap();
        let pki = test_pki();
        let tls = Arc::new(TlsConfig::load(write_pair(dir.path(), &pki)).unwrap());
        let (addr, shutdown, server) = serve_tls(tls, large).await;
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = client(&pki.ca, None).connect(name, tcp).await.unwrap();
        for _ in 0..2 {
            tls.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n")
                .await
                .unwrap();
            // The server fills the socket and must not leave the tail in its TLS buffer.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                head.push(tls.read_u8().await.unwrap());
            }
            let mut body = vec![0u8; BODY];
            tokio::time::timeout(Duration::from_secs(20), tls.read_exact(&mut body))
                .await
                .expect("the whole body arrives")
                .unwrap();
        }
        shutdown.cancel();
        drop(tls);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn mutual_tls_refuses_a_client_without_a_certificate_in_the_handshake() {
        let dir = tempfile::tempdir().unwrap();
        let pki = test_pki();
        let mut files = write_pair(dir.path(), &pki);
        let ca = dir.path().join("clients.pem");
        std::fs::write(&ca, &pki.ca).unwrap();
        files.client_ca = Some(ca);
        let tls = Arc::new(TlsConfig::load(files).unwrap());
        let (addr, shutdown, server) = serve_tls(tls, ok).await;
        let anonymous = get(addr, &client(&pki.ca, None)).await;
        assert!(anonymous.is_err(), "{anonymous:?}");
        let stranger = test_pki();
        let foreign = get(
            addr,
            &client(&pki.ca, Some((&stranger.client_cert, &stranger.client_key))),
        )
        .await;
        assert!(foreign.is_err(), "{foreign:?}");
        let reply = get(
            addr,
            &client(&pki.ca, Some((&pki.client_cert, &pki.client_key))),
        )
        .await
        .unwrap();
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        shutdown.cancel();
        server.await.unwrap();
    }
}
