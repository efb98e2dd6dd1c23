//! The API listener's TLS: the certificate chain and key (and, for mutual TLS, the client CA)
//! read from PEM files, turned into a rustls `ServerConfig`, and swapped for a new one without
//! a restart (on SIGHUP and when the files change) while open connections keep the config they
//! started with. A new set that does not load is refused and the previous one keeps serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::{Mutex, RwLock};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

use crate::metrics_names::{TLS_CERT_NOT_AFTER, TLS_RELOADS};

/// Where the listener's certificate, key and (optional) client CA live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM: the server certificate first, then its intermediates.
    pub cert: PathBuf,
    /// PEM: PKCS#8, PKCS#1 (RSA) or SEC1 (EC) private key.
    pub key: PathBuf,
    /// PEM bundle: when set, clients must present a certificate issued by one of these.
    pub client_ca: Option<PathBuf>,
}

/// Why a certificate set could not be loaded. Messages name the file and what to fix; never
/// any key bytes.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: String },
    #[error("{path} is not a readable PEM certificate file: {reason}")]
    BadCertificate { path: String, reason: String },
    #[error("{path} holds no PEM private key (PKCS#8, RSA or EC): {reason}")]
    BadKey { path: String, reason: String },
    #[error("the private key in {key} does not belong to the certificate in {cert}")]
    KeyMismatch { cert: String, key: String },
    #[error("the certificate or key is not usable: {0}")]
    Unusable(String),
    #[error("the client CA bundle {path} is not usable: {reason}")]
    BadClientCa { path: String, reason: String },
}

/// Fingerprint of a file for change detection: size, modification time and inode, so that an
/// atomic rename of a new file is seen even if its size and time equal the old one's.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp(Option<(u64, SystemTime, u64)>);

impl Stamp {
    fn of(path: &Path) -> Self {
        Self(std::fs::metadata(path).ok().map(|m| {
            #[cfg(unix)]
            let ino = std::os::unix::fs::MetadataExt::ino(&m);
            #[cfg(not(unix))]
            let ino = 0;
            (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH), ino)
        }))
    }
}

/// The listener's current TLS configuration, replaceable while serving.
pub struct TlsConfig {
    files: TlsFiles,
    current: RwLock<Arc<ServerConfig>>,
    /// The files' stamps at the last load attempt (successful or not), so that a refused set
    /// is not retried, and logged, on every poll.
    seen: Mutex<Vec<Stamp>>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Loads the files once; an error here refuses the start.
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let seen = stamps(&files);
        let (config, not_after) = build(&files)?;
        publish_expiry(not_after);
        Ok(Self {
            files,
            current: RwLock::new(Arc::new(config)),
            seen: Mutex::new(seen),
        })
    }

    /// The config a new connection is served with.
    pub(crate) fn current(&self) -> Arc<ServerConfig> {
        self.current.read().clone()
    }

    /// Whether clients must present a certificate.
    pub fn requires_client_certificates(&self) -> bool {
        self.files.client_ca.is_some()
    }

    /// Loads the files again; on success new connections get the new config, on failure the
    /// old one stays. Either way the outcome is logged and counted.
    pub fn reload(&self, why: &'static str) -> bool {
        let seen = stamps(&self.files);
        let outcome = build(&self.files);
        *self.seen.lock() = seen;
        match outcome {
            Ok((config, not_after)) => {
                publish_expiry(not_after);
                *self.current.write() = Arc::new(config);
                metrics::counter!(TLS_RELOADS, "outcome" => "loaded").increment(1);
                tracing::info!(
                    trigger = why,
                    cert = %self.files.cert.display(),
                    "TLS certificate reloaded; new connections use it"
                );
                true
            }
            Err(e) => {
                metrics::counter!(TLS_RELOADS, "outcome" => "refused").increment(1);
                tracing::error!(
                    trigger = why,
                    error = %e,
                    "refused the new TLS certificate and key; still serving the previous ones"
                );
                false
            }
        }
    }

    /// Reloads if any of the files changed since the last attempt.
    fn reload_if_changed(&self) {
        let now = stamps(&self.files);
        // The guard must be gone before `reload` takes the lock again.
        let changed = *self.seen.lock() != now;
        if changed {
            self.reload("file change");
        }
    }

    /// Reloads on SIGHUP and when the files change (checked every `poll`), until `stop`.
    pub async fn watch(self: Arc<Self>, poll: Duration, stop: CancellationToken) {
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut tick = tokio::time::interval(poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            #[cfg(unix)]
            let hangup = async {
                match hup.as_mut() {
                    Some(h) => {
                        h.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let hangup = std::future::pending::<()>();
            tokio::select! {
                () = stop.cancelled() => return,
                () = hangup => {
                    self.reload("SIGHUP");
                }
                _ = tick.tick() => self.reload_if_changed(),
            }
        }
    }
}

fn stamps(files: &TlsFiles) -> Vec<Stamp> {
    let mut v = vec![Stamp::of(&files.cert), Stamp::of(&files.key)];
    if let Some(ca) = &files.client_ca {
        v.push(Stamp::of(ca));
    }
    v
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>, TlsError> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|source| TlsError::Read {
            path: path.display().to_string(),
            source,
        })
}

/// Reads a PEM bundle of certificates: at least one, every block well-formed.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadCertificate {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.display().to_string(),
        });
    }
    Ok(certs)
}

/// The config, and the leaf certificate's notAfter (seconds since the epoch) when readable.
fn build(files: &TlsFiles) -> Result<(ServerConfig, Option<i64>), TlsError> {
    let chain = read_certificates(&files.cert)?;
    let key_pem = read(&files.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::BadKey {
        path: files.key.display().to_string(),
        reason: e.to_string(),
    })?;
    let provider = provider();
    let signing_key =
        provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| TlsError::BadKey {
                path: files.key.display().to_string(),
                reason: e.to_string(),
            })?;
    let certified = rustls::sign::CertifiedKey::new(chain, signing_key);
    // Checked whenever the provider can tell (aws-lc-rs can for RSA, ECDSA and Ed25519 keys): a mismatched
    // pair would otherwise load and then fail every handshake.
    if let Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) =
        certified.keys_match()
    {
        return Err(TlsError::KeyMismatch {
            cert: files.cert.display().to_string(),
            key: files.key.display().to_string(),
        });
    }
    let not_after = certified
        .cert
        .first()
        .and_then(|leaf| check_validity(&files.cert, leaf));
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Unusable(e.to_string()))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for ca in read_certificates(path).map_err(|e| TlsError::BadClientCa {
                path: path.display().to_string(),
                reason: e.to_string(),
            })? {
                roots.add(ca).map_err(|e| TlsError::BadClientCa {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::BadClientCa {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config =
        builder.with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    // The server speaks HTTP/1.1 only; a client offering h2 as well settles on it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Stateless resumption: a returning client skips the full handshake, and no session state
    // grows on the server. The ticket key rotates on its own (every 6 hours).
    if let Ok(ticketer) = rustls::crypto::aws_lc_rs::Ticketer::new() {
        config.ticketer = ticketer;
    }
    Ok((config, not_after))
}

/// Publishes the serving certificate's expiry, for alerts.
fn publish_expiry(not_after: Option<i64>) {
    if let Some(t) = not_after {
        metrics::gauge!(TLS_CERT_NOT_AFTER).set(t as f64);
    }
}

/// Warns about a certificate outside its validity period (clients will refuse it, but the
/// operator may be replacing it); returns its notAfter.
fn check_validity(path: &Path, leaf: &CertificateDer<'_>) -> Option<i64> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf.as_ref()) else {
        tracing::warn!(cert = %path.display(), "could not read the certificate's validity period");
        return None;
    };
    let validity = cert.validity();
    let not_after = validity.not_after.timestamp();
    let not_before = validity.not_before.timestamp();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    if now > not_after {
        tracing::warn!(
            cert = %path.display(),
            not_after = %validity.not_after,
            "the TLS certificate has expired: clients will refuse it; replace the files (they are reloaded without a restart)"
        );
    } else if now < not_before {
        tracing::warn!(
            cert = %path.display(),
            not_before = %validity.not_before,
            "the TLS certificate is not valid yet: clients will refuse it until then"
        );
    } else if not_after - now < 14 * 24 * 3600 {
        tracing::warn!(
            cert = %path.display(),
            not_after = %validity.not_after,
            "the TLS certificate expires within 14 days"
        );
    }
    Some(not_after)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

    /// A CA and a server certificate for `localhost`/127.0.0.1 signed by it, as PEM; and a
    /// client certificate from the same CA.
    pub(crate) struct TestPki {
        pub ca: String,
        pub server_chain: String,
        pub server_key: String,
        pub client_cert: String,
        pub client_key: String,
    }

    pub(crate) fn test_pki() -> TestPki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&server_key, &issuer)
            .unwrap();
        let client_key = KeyPair::generate().unwrap();
        let client = CertificateParams::new(vec!["client".to_owned()])
            .unwrap()
            .signed_by(&client_key, &issuer)
            .unwrap();
        TestPki {
            ca: ca.pem(),
            server_chain: format!("{}{}", server.pem(), ca.pem()),
            server_key: server_key.serialize_pem(),
            client_cert: client.pem(),
            client_key: client_key.serialize_pem(),
        }
    }

    pub(crate) fn write_pair(dir: &Path, pki: &TestPki) -> TlsFiles {
        let files = TlsFiles {
            cert: dir.join("server.pem"),
            key: dir.join("server-key.pem"),
            client_ca: None,
        };
        std::fs::write(&files.cert, &pki.server_chain).unwrap();
        std::fs::write(&files.key, &pki.server_key).unwrap();
        files
    }

    #[test]
    fn a_matching_pair_loads_and_a_mismatched_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_pair(dir.path(), &test_pki());
        TlsConfig::load(files.clone()).unwrap();
        // The key of another certificate.
        std::fs::write(&files.key, test_pki().server_key).unwrap();
        let err = TlsConfig::load(files).unwrap_err();
        assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
        assert!(err.to_string().contains("does not belong"));
    }

    #[test]
    fn unreadable_or_empty_files_are_refused_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_pair(dir.path(), &test_pki());
        let missing = TlsFiles {
            key: dir.path().join("nope.pem"),
            ..files.clone()
        };
        let err = TlsConfig::load(missing).unwrap_err();
        assert!(matches!(err, TlsError::Read { .. }) && err.to_string().contains("nope.pem"));
        let a_dir = TlsFiles {
            key: dir.path().to_owned(),
            ..files.clone()
        };
        assert!(matches!(TlsConfig::load(a_dir), Err(TlsError::Read { .. })));
        std::fs::write(&files.key, "not a key").unwrap();
        assert!(matches!(
            TlsConfig::load(files.clone()),
            Err(TlsError::BadKey { .. })
        ));
        std::fs::write(&files.cert, "").unwrap();
        assert!(matches!(
            TlsConfig::load(files),
            Err(TlsError::NoCertificate { .. })
        ));
    }

    #[test]
    fn a_refused_reload_keeps_the_previous_config_and_a_good_one_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_pair(dir.path(), &test_pki());
        let tls = TlsConfig::load(files.clone()).unwrap();
        let first = tls.current();
        std::fs::write(&files.key, test_pki().server_key).unwrap();
        assert!(!tls.reload("test"));
        assert!(Arc::ptr_eq(&first, &tls.current()));
        write_pair(dir.path(), &test_pki());
        assert!(tls.reload("test"));
        assert!(!Arc::ptr_eq(&first, &tls.current()));
    }

    #[test]
    fn a_changed_file_is_reloaded_once() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_pair(dir.path(), &test_pki());
        let tls = TlsConfig::load(files.clone()).unwrap();
        let first = tls.current();
        tls.reload_if_changed();
        assert!(Arc::ptr_eq(&first, &tls.current()), "nothing changed");
        // A new pair written to new files and renamed into place, as tools that swap
        // certificates do (the inode changes even when size and time might not).
        let staged = tempfile::tempdir_in(dir.path()).unwrap();
        let next = write_pair(staged.path(), &test_pki());
        std::fs::rename(&next.cert, &files.cert).unwrap();
        std::fs::rename(&next.key, &files.key).unwrap();
        tls.reload_if_changed();
        let second = tls.current();
        assert!(!Arc::ptr_eq(&first, &second));
        tls.reload_if_changed();
        assert!(Arc::ptr_eq(&second, &tls.current()));
    }
}
