//! How the client commands (`client.rs`, `db_instance.rs`) reach the server: the endpoint flags,
//! and one blocking request/reply exchange over plain TCP or rustls. HTTPS trusts the system's
//! roots plus `--ca-file`, and verifies the endpoint's host (DNS name or IP address).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use openkms_wire::endpoint::Endpoint;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::client::ClientError;

const TIMEOUT: Duration = Duration::from_secs(30);

/// Where the server is, and which CAs vouch for it.
#[derive(Args, Debug, Clone)]
pub struct EndpointArgs {
    /// The server: `https://HOST[:PORT]` (port 443 by default), `http://HOST[:PORT]`, or
    /// `HOST:PORT` (plain HTTP).
    #[arg(
        long,
        global = true,
        env = "OPENKMS_ENDPOINT",
        default_value = "127.0.0.1:8080"
    )]
    pub endpoint: String,
    /// A PEM file of CA certificates trusted for an https:// endpoint besides the system's
    /// (e.g. the ca.pem of `openkms tls init`).
    #[arg(long, global = true, env = "OPENKMS_CA_FILE", value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
    /// A PEM certificate (chain) to present to a server that requires client certificates
    /// (`serve --tls-client-ca`); with --client-key.
    #[arg(long, global = true, env = "OPENKMS_CLIENT_CERT", value_name = "PATH")]
    pub client_cert: Option<PathBuf>,
    /// The PEM private key of --client-cert.
    #[arg(long, global = true, env = "OPENKMS_CLIENT_KEY", value_name = "PATH")]
    pub client_key: Option<PathBuf>,
}

/// The one TLS provider the workspace builds: aws-lc-rs, whose hybrid post-quantum key
/// exchange (X25519MLKEM768) rustls prefers.
pub(crate) fn tls_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A resolved endpoint with, for HTTPS, its client configuration.
pub(crate) struct Transport {
    endpoint: Endpoint,
    tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
}

impl Transport {
    pub(crate) fn new(args: &EndpointArgs) -> Result<Self, ClientError> {
        let endpoint = Endpoint::parse(&args.endpoint)?;
        let tls = if endpoint.tls {
            let name = ServerName::try_from(endpoint.host.clone())
                .map_err(|_| ClientError::BadHost(endpoint.host.clone()))?;
            Some((client_config(&endpoint, args)?, name))
        } else {
            None
        };
        Ok(Self { endpoint, tls })
    }

    /// The Host header, which the signature covers.
    pub(crate) fn authority(&self) -> String {
        self.endpoint.authority()
    }

    /// Sends one request (which closes the connection) and reads the reply.
    pub(crate) fn exchange(&self, request: &[u8]) -> Result<Vec<u8>, ClientError> {
        let fail = |source: io::Error| self.io_error(source);
        let tcp =
            TcpStream::connect((self.endpoint.host.as_str(), self.endpoint.port)).map_err(fail)?;
        tcp.set_read_timeout(Some(TIMEOUT)).map_err(fail)?;
        tcp.set_write_timeout(Some(TIMEOUT)).map_err(fail)?;
        match &self.tls {
            None => send(tcp, request).map_err(fail),
            Some((config, name)) => {
                let conn = ClientConnection::new(Arc::clone(config), name.clone())
                    .map_err(|source| self.tls_error(source))?;
                send(StreamOwned::new(conn, tcp), request).map_err(fail)
            }
        }
    }

    fn io_error(&self, source: io::Error) -> ClientError {
        let tls = source
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        match tls {
            Some(e) => self.tls_error(e.clone()),
            None => ClientError::Connect {
                endpoint: self.endpoint.to_string(),
                source,
            },
        }
    }

    fn tls_error(&self, source: rustls::Error) -> ClientError {
        let endpoint = self.endpoint.to_string();
        match source {
            rustls::Error::InvalidCertificate(reason) => ClientError::TlsVerify {
                endpoint,
                reason: reason.to_string(),
            },
            // TLS 1.3 servers say so; TLS 1.2 ones answer with a handshake failure.
            rustls::Error::AlertReceived(
                rustls::AlertDescription::CertificateRequired
                | rustls::AlertDescription::BadCertificate,
            ) => ClientError::ClientCertRequired { endpoint },
            source => ClientError::Tls { endpoint, source },
        }
    }
}

/// System roots (when they load) plus the CA file's certificates.
fn client_config(
    endpoint: &Endpoint,
    args: &EndpointArgs,
) -> Result<Arc<ClientConfig>, ClientError> {
    let mut roots = RootCertStore::empty();
    // A machine without a system store (a slim container) can still trust --ca-file.
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::debug!(error = %e, "system CA certificates: not all loaded");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(added, ignored, "system CA certificates");
    if let Some(path) = args.ca_file.as_deref() {
        for cert in read_ca_file(path)? {
            roots.add(cert).map_err(|e| ClientError::CaFile {
                path: path.to_owned(),
                reason: format!("a certificate is not usable as a trust anchor: {e}"),
            })?;
        }
    }
    let tls = |source| ClientError::Tls {
        endpoint: endpoint.to_string(),
        source,
    };
    let builder = ClientConfig::builder_with_provider(tls_provider())
        .with_safe_default_protocol_versions()
        .map_err(tls)?
        .with_root_certificates(roots);
    let config = match (args.client_cert.as_deref(), args.client_key.as_deref()) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let bad = |path: &Path, reason: String| ClientError::ClientCert {
                path: path.to_owned(),
                reason,
            };
            let chain = read_ca_file(cert).map_err(|e| bad(cert, e.to_string()))?;
            let pem =
                zeroize::Zeroizing::new(std::fs::read(key).map_err(|e| bad(key, e.to_string()))?);
            let key_der = PrivateKeyDer::from_pem_slice(&pem)
                .map_err(|e| bad(key, format!("not a PEM private key: {e}")))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| bad(key, e.to_string()))?
        }
        _ => return Err(ClientError::ClientCertIncomplete),
    };
    Ok(Arc::new(config))
}

/// Every certificate of a PEM bundle; at least one.
pub(crate) fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let bad = |reason: String| ClientError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(bad("holds no PEM certificate".to_owned()));
    }
    Ok(certs)
}

/// Writes the request and reads one reply: up to its Content-Length, else to the end of the
/// stream. Stopping at the length does not depend on how the server closes (a TLS server that
/// closes without close_notify makes rustls report an unexpected end, which a reply cut short
/// must remain).
fn send(mut stream: impl Read + Write, request: &[u8]) -> io::Result<Vec<u8>> {
    stream.write_all(request)?;
    stream.flush()?;
    let mut reply = Vec::with_capacity(8 * 1024);
    let mut chunk = [0u8; 8 * 1024];
    loop {
        if let Some(total) = complete_length(&reply) {
            if reply.len() >= total {
                reply.truncate(total);
                return Ok(reply);
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(reply),
            Ok(n) => reply.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The length of the whole reply once its head is in and names a Content-Length.
fn complete_length(reply: &[u8]) -> Option<usize> {
    let split = reply.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(reply.get(..split)?).ok()?;
    content_length(head)?.checked_add(split.checked_add(4)?)
}

/// The Content-Length a response head names.
pub(crate) fn content_length(head: &str) -> Option<usize> {
    head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_content_length_without_waiting_for_the_close() {
        struct Endless(io::Cursor<Vec<u8>>);
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                match self.0.read(buf)? {
                    0 => Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                    n => Ok(n),
                }
            }
        }
        impl Write for Endless {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}".to_vec();
        let got = send(Endless(io::Cursor::new(reply.clone())), b"GET").unwrap();
        assert_eq!(got, reply);
        // Cut short: the missing bytes are an error, not a shorter body.
        let cut = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}".to_vec();
        assert!(send(Endless(io::Cursor::new(cut)), b"GET").is_err());
    }

    #[test]
    fn ca_file_errors_name_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("missing.pem");
        let err = read_ca_file(&missing).unwrap_err().to_string();
        assert!(err.contains("missing.pem"), "{err}");
        let empty = tmp.path().join("empty.pem");
        std::fs::write(&empty, "not pem\n").unwrap();
        let err = read_ca_file(&empty).unwrap_err().to_string();
        assert!(err.contains("no PEM certificate"), "{err}");
    }

    #[test]
    fn ca_file_may_hold_several_certificates() {
        let tmp = tempfile::tempdir().unwrap();
        let spec = crate::tls_init::Spec {
            dns: Vec::new(),
            ip: Vec::new(),
            days: 1,
            client: None,
        };
        let bundle = crate::tls_init::generate(&spec).unwrap();
        let path = tmp.path().join("bundle.pem");
        std::fs::write(&path, &bundle.server_chain_pem).unwrap();
        assert_eq!(read_ca_file(&path).unwrap().len(), 2);
    }
}
