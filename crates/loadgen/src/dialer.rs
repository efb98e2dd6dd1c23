//! Opening connections to the endpoint: TCP with `TCP_NODELAY`, then for `https://` a rustls
//! handshake (system roots plus `--ca-file`, the endpoint's host as the verified name). The
//! address is resolved once, so a run that opens a connection per request measures connects
//! and handshakes, not the resolver.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use openkms_wire::endpoint::Endpoint;
use rustls::client::Resumption;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::connection::ConnError;

/// How to open a connection to the server under test.
#[derive(Clone)]
pub struct Dialer {
    addrs: Arc<[SocketAddr]>,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    /// Each request on its own connection, which the server closes after answering.
    pub connection_per_request: bool,
}

impl fmt::Debug for Dialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dialer")
            .field("addrs", &self.addrs)
            .field("tls", &self.tls.as_ref().map(|(_, name)| name))
            .field("connection_per_request", &self.connection_per_request)
            .finish()
    }
}

impl Dialer {
    /// Resolves the endpoint and, for HTTPS, prepares the client configuration. With
    /// `connection_per_request`, TLS session resumption is off so every connection pays a
    /// full handshake.
    pub async fn new(
        endpoint: &Endpoint,
        ca_file: Option<&Path>,
        connection_per_request: bool,
    ) -> Result<Self, String> {
        let addrs: Vec<SocketAddr> =
            tokio::net::lookup_host((endpoint.host.as_str(), endpoint.port))
                .await
                .map_err(|e| format!("cannot resolve {}: {e}", endpoint.host))?
                .collect();
        if addrs.is_empty() {
            return Err(format!("{} has no address", endpoint.host));
        }
        let tls = if endpoint.tls {
            let name = ServerName::try_from(endpoint.host.clone())
                .map_err(|_| format!("{:?} is not a DNS name or IP address", endpoint.host))?;
            let mut config = client_config(ca_file)?;
            if connection_per_request {
                config.resumption = Resumption::disabled();
            }
            Some((TlsConnector::from(Arc::new(config)), name))
        } else {
            None
        };
        Ok(Self {
            addrs: addrs.into(),
            tls,
            connection_per_request,
        })
    }

    /// A plain-HTTP dialer of one address (tests).
    #[cfg(test)]
    pub fn plain(addr: SocketAddr) -> Self {
        Self {
            addrs: Arc::new([addr]),
            tls: None,
            connection_per_request: false,
        }
    }

    pub async fn open(&self) -> Result<Stream, ConnError> {
        let tcp = TcpStream::connect(&*self.addrs)
            .await
            .map_err(ConnError::Connect)?;
        tcp.set_nodelay(true).map_err(ConnError::Connect)?;
        match &self.tls {
            None => Ok(Stream::Plain(tcp)),
            Some((connector, name)) => connector
                .connect(name.clone(), tcp)
                .await
                .map(|s| Stream::Tls(Box::new(s)))
                .map_err(ConnError::Tls),
        }
    }
}

/// The one TLS provider the workspace builds: aws-lc-rs, whose hybrid post-quantum key
/// exchange (X25519MLKEM768) rustls prefers.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// System roots (when they load) plus the CA file's certificates.
fn client_config(ca_file: Option<&Path>) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    // A machine without a system store can still trust --ca-file.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        let bad = |why: String| format!("cannot use the CA file {}: {why}", path.display());
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| bad(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(e.to_string()))?;
        if certs.is_empty() {
            return Err(bad("it holds no PEM certificate".to_owned()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
        }
    }
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A plain or TLS connection. The TLS state is boxed: it is large, and allocated once per
/// connection, never per request.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::Connection;
    use crate::workload::Outgoing;
    use rustls::HandshakeKind;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A CA file and a TLS acceptor whose certificate (for localhost) it signed.
    fn tls_setup(dir: &Path) -> (std::path::PathBuf, tokio_rustls::TlsAcceptor) {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca = CertificateParams::default();
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls_pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
            )
            .unwrap();
        (ca_file, tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }

    /// Answers one request per accepted connection; reports each handshake's kind.
    async fn serve(
        listener: TcpListener,
        acceptor: tokio_rustls::TlsAcceptor,
        connections: usize,
    ) -> Vec<Option<HandshakeKind>> {
        let mut kinds = Vec::new();
        for _ in 0..connections {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            kinds.push(tls.get_ref().1.handshake_kind());
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let mut chunk = [0u8; 1024];
                let n = tls.read(&mut chunk).await.unwrap();
                assert_ne!(n, 0);
                got.extend_from_slice(&chunk[..n]);
            }
            tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                .await
                .unwrap();
            tls.shutdown().await.unwrap();
        }
        kinds
    }

    fn request() -> Outgoing {
        Outgoing {
            query: String::new(),
            headers: http::HeaderMap::new(),
            body: bytes::Bytes::new(),
        }
    }

    async fn two_requests(per_request: bool) -> Vec<Option<HandshakeKind>> {
        let tmp = tempfile::tempdir().unwrap();
        let (ca_file, acceptor) = tls_setup(tmp.path());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(serve(listener, acceptor, 2));
        let endpoint = Endpoint::parse(&format!("https://localhost:{port}")).unwrap();
        let mut dialer = Dialer::new(&endpoint, Some(&ca_file), per_request)
            .await
            .unwrap();
        // localhost may resolve to ::1 too; the test server listens on IPv4 only.
        dialer.addrs = Arc::new([([127, 0, 0, 1], port).into()]);
        let mut body = Vec::new();
        for _ in 0..2 {
            let mut conn = Connection::open(&dialer).await.unwrap();
            let status = conn.exchange(&request(), &mut body).await.unwrap();
            assert_eq!((status.as_u16(), body.as_slice()), (200, &b"{}"[..]));
        }
        server.await.unwrap()
    }

    #[tokio::test]
    async fn connections_per_request_shake_hands_in_full_every_time() {
        let kinds = two_requests(true).await;
        assert_eq!(
            kinds,
            [Some(HandshakeKind::Full), Some(HandshakeKind::Full)]
        );
    }

    #[tokio::test]
    async fn kept_alive_runs_may_resume_a_session_on_reconnect() {
        let kinds = two_requests(false).await;
        assert_eq!(
            kinds,
            [Some(HandshakeKind::Full), Some(HandshakeKind::Resumed)]
        );
    }

    #[tokio::test]
    async fn an_unknown_ca_fails_the_handshake() {
        let tmp = tempfile::tempdir().unwrap();
        let (_, acceptor) = tls_setup(tmp.path());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let _ = acceptor.accept(tcp).await;
        });
        let endpoint = Endpoint::parse(&format!("https://127.0.0.1:{port}")).unwrap();
        let dialer = Dialer::new(&endpoint, None, false).await.unwrap();
        let err = Connection::open(&dialer).await.err().unwrap();
        assert!(matches!(err, ConnError::Tls(_)), "{err}");
        assert!(err.to_string().contains("--ca-file"), "{err}");
    }
}
