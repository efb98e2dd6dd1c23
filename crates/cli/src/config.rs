//! Configuration of `serve`: defaults, then an optional TOML file, then `OPENKMS_*` variables,
//! then flags (clap merges the last two), validated once into [`ServeConfig`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use openkms_server::{RateLimit, TlsFiles};
use serde::Deserialize;

/// Flags of `openkms serve`; each has an `OPENKMS_*` variable.
#[derive(clap::Args, Debug, Default)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "OPENKMS_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory of the embedded store and local files [default: ./openkms-data].
    #[arg(long, env = "OPENKMS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Shared store for several nodes, `postgres://user@host:port/db` (credentials are best
    /// left to PGPASSFILE or a URL in the environment); the SQLite file in --data-dir when absent.
    #[arg(long, env = "OPENKMS_STORE_URL")]
    pub store: Option<String>,
    /// Region this server answers for (used in ARNs) [default: cn-hangzhou].
    #[arg(long, env = "OPENKMS_REGION")]
    pub region: Option<String>,
    /// 16-digit account id to initialise with (generated when absent).
    #[arg(long, env = "OPENKMS_ACCOUNT_ID")]
    pub account_id: Option<String>,
    /// Root key file [default: <data-dir>/root.key].
    #[arg(long, env = "OPENKMS_ROOT_KEY_FILE")]
    pub root_key_file: Option<PathBuf>,
    /// Root of trust: `file` (the root key file) or `pkcs11` (an AES key in an HSM) [default: file].
    #[arg(long, env = "OPENKMS_ROOT_OF_TRUST", value_parser = ["file", "pkcs11"])]
    pub root_of_trust: Option<String>,
    /// PKCS#11 module (shared library) of the HSM, e.g. /usr/lib/softhsm/libsofthsm2.so.
    #[arg(long, env = "OPENKMS_HSM_MODULE")]
    pub hsm_module: Option<PathBuf>,
    /// Label of the HSM token to use.
    #[arg(long, env = "OPENKMS_HSM_TOKEN_LABEL")]
    pub hsm_token_label: Option<String>,
    /// Label of the root key inside the token; generated there on first start [default: openkms-root].
    #[arg(long, env = "OPENKMS_HSM_KEY_LABEL")]
    pub hsm_key_label: Option<String>,
    /// Name of the environment variable holding the token's user PIN [default: OPENKMS_HSM_PIN].
    #[arg(long, env = "OPENKMS_HSM_PIN_ENV")]
    pub hsm_pin_env: Option<String>,
    /// File holding the token's user PIN (owner-only); wins over --hsm-pin-env.
    #[arg(long, env = "OPENKMS_HSM_PIN_FILE")]
    pub hsm_pin_file: Option<PathBuf>,
    /// Most unwrapped KMS key versions kept in memory [default: 4096].
    #[arg(long, env = "OPENKMS_KEYRING_CAPACITY")]
    pub keyring_capacity: Option<usize>,
    /// Most request nonces held for the 15-minute replay window; one access key may hold a
    /// quarter of them [default: 20000000].
    #[arg(long, env = "OPENKMS_REPLAY_CAPACITY")]
    pub replay_capacity: Option<usize>,
    /// Address of the Prometheus metrics listener (off when absent).
    #[arg(long, env = "OPENKMS_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Runtime worker threads [default: one per core].
    #[arg(long, env = "OPENKMS_WORKER_THREADS")]
    pub worker_threads: Option<usize>,
    /// Seconds a stop (SIGTERM, SIGINT) waits for requests already received before the
    /// process exits [default: 30].
    #[arg(long, env = "OPENKMS_SHUTDOWN_GRACE")]
    pub shutdown_grace: Option<u64>,
    /// Requests per second allowed to each access key (a token bucket; off when absent).
    /// Beyond it a request is answered Rejected.Throttling (429).
    #[arg(long, env = "OPENKMS_RATE_LIMIT_PER_KEY")]
    pub rate_limit_per_key: Option<u32>,
    /// Requests one access key may send at once under --rate-limit-per-key [default: the
    /// per-second rate].
    #[arg(long, env = "OPENKMS_RATE_LIMIT_BURST")]
    pub rate_limit_burst: Option<u32>,
    /// Do not lock the process's memory (mlockall), which keeps key material out of swap.
    #[arg(long, env = "OPENKMS_DISABLE_MLOCK", value_parser = clap::builder::BoolishValueParser::new())]
    pub disable_mlock: bool,
    /// Seconds a client has to send a whole request head, from its connection (first request)
    /// or the request's first byte; a slow head is answered 408 and closed [default: 30].
    #[arg(long, env = "OPENKMS_HEAD_TIMEOUT")]
    pub head_timeout: Option<u64>,
    /// Seconds a client has to send a request body, from the end of its head [default: 60].
    #[arg(long, env = "OPENKMS_BODY_TIMEOUT")]
    pub body_timeout: Option<u64>,
    /// Seconds to write one response before the connection is dropped [default: 30].
    #[arg(long, env = "OPENKMS_WRITE_TIMEOUT")]
    pub write_timeout: Option<u64>,
    /// Seconds a keep-alive connection may stay idle between requests [default: 75].
    #[arg(long, env = "OPENKMS_KEEP_ALIVE_TIMEOUT")]
    pub keep_alive_timeout: Option<u64>,
    /// Connections served at once; more are answered 503 and closed [default: the file
    /// descriptor limit, raised to its hard maximum at start, less a reserve for the store and
    /// the log].
    #[arg(long, env = "OPENKMS_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Serve HTTPS with this certificate (PEM: the server's certificate, then its
    /// intermediates). Reloaded on SIGHUP and when the file changes.
    #[arg(long, env = "OPENKMS_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, RSA or EC).
    #[arg(long, env = "OPENKMS_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates issued by these CAs (PEM bundle): mutual TLS.
    #[arg(long, env = "OPENKMS_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address: requests, signatures and secret values
    /// cross the network unencrypted. Without it, such a listen needs --tls-cert.
    #[arg(long, env = "OPENKMS_INSECURE_HTTP", value_parser = clap::builder::BoolishValueParser::new())]
    pub insecure_http: bool,
    /// TOML file with any of the settings above (snake_case keys).
    #[arg(long, env = "OPENKMS_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    store: Option<String>,
    region: Option<String>,
    account_id: Option<String>,
    root_key_file: Option<PathBuf>,
    root_of_trust: Option<String>,
    hsm_module: Option<PathBuf>,
    hsm_token_label: Option<String>,
    hsm_key_label: Option<String>,
    hsm_pin_env: Option<String>,
    hsm_pin_file: Option<PathBuf>,
    keyring_capacity: Option<usize>,
    replay_capacity: Option<usize>,
    metrics_listen: Option<SocketAddr>,
    worker_threads: Option<usize>,
    shutdown_grace: Option<u64>,
    rate_limit_per_key: Option<u32>,
    rate_limit_burst: Option<u32>,
    disable_mlock: Option<bool>,
    head_timeout: Option<u64>,
    body_timeout: Option<u64>,
    write_timeout: Option<u64>,
    keep_alive_timeout: Option<u64>,
    max_connections: Option<usize>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_client_ca: Option<PathBuf>,
    insecure_http: Option<bool>,
}

/// The validated configuration.
#[derive(Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// Local files: the SQLite store (unless `store` says otherwise), the default root key
    /// file, the generated root access key.
    pub data_dir: PathBuf,
    pub store: StoreLocation,
    pub region: String,
    pub account_id: Option<String>,
    pub root_key_file: PathBuf,
    pub root_of_trust: RootOfTrustKind,
    /// The HSM token, when configured: the root of trust with `pkcs11`, and with `file` a
    /// place `rekey` can move the root to.
    pub hsm: Option<HsmConfig>,
    pub keyring_capacity: usize,
    pub replay_capacity: usize,
    pub metrics_listen: Option<SocketAddr>,
    pub worker_threads: Option<usize>,
    /// How long a stop waits for requests already received.
    pub shutdown_grace: Duration,
    /// Requests per access key, when limited.
    pub rate_limit: Option<RateLimit>,
    /// Whether to lock the process's memory.
    pub mlock: bool,
    pub connections: ConnectionSettings,
    /// The API listener's certificate files; plain HTTP when absent.
    pub tls: Option<TlsFiles>,
}

/// Deadlines and the connection cap of the listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionSettings {
    pub head_timeout: Duration,
    pub body_timeout: Duration,
    pub write_timeout: Duration,
    pub keep_alive_timeout: Duration,
    /// `None`: derived from the file descriptor limit at start.
    pub max_connections: Option<usize>,
}

/// Default of `--shutdown-grace`.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// The embedded SQLite file `<data-dir>/openkms.db` (one node).
    Sqlite(PathBuf),
    /// A PostgreSQL database shared by every node started with the same URL.
    Postgres(StoreUrl),
}

/// A PostgreSQL URL; `Debug` hides it, as it may carry a password.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl(pub String);

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreUrl([redacted])")
    }
}

/// Which root of trust wraps the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootOfTrustKind {
    File,
    Pkcs11,
}

/// How to reach the HSM. The PIN itself is read only when the token is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HsmConfig {
    pub module: PathBuf,
    pub token_label: String,
    pub key_label: String,
    pub pin: PinSource,
}

/// Where the token PIN comes from: never a flag value, which `ps` would show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinSource {
    Env(String),
    File(PathBuf),
}

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path} could not be read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("--store must be a postgres:// or postgresql:// URL")]
    Store,
    #[error("--region must be lower-case letters, digits and '-', like cn-hangzhou")]
    Region,
    #[error("--account-id must be 16 digits")]
    AccountId,
    #[error("--shutdown-grace must be at most 3600 seconds")]
    ShutdownGrace,
    #[error("--rate-limit-per-key and --rate-limit-burst must be at least 1")]
    RateLimit,
    #[error("--worker-threads must be at least 1")]
    WorkerThreads,
    #[error("--{0} must be at least 1 second")]
    Timeout(&'static str),
    #[error("--max-connections must be at least 1")]
    MaxConnections,
    #[error("--keyring-capacity must be at least 1")]
    KeyringCapacity,
    #[error("--replay-capacity must be at least 64")]
    ReplayCapacity,
    #[error("root_of_trust must be file or pkcs11")]
    RootOfTrust,
    #[error("--root-of-trust pkcs11 needs --hsm-module and --hsm-token-label")]
    HsmIncomplete,
    #[error("--tls-cert and --tls-key must be given together")]
    TlsIncomplete,
    #[error("--tls-client-ca needs --tls-cert and --tls-key: client certificates are asked for during a TLS handshake")]
    ClientCaWithoutTls,
    #[error("--insecure-http contradicts --tls-cert: give one or the other")]
    InsecureWithTls,
    #[error("refusing to serve plain HTTP on {0}, which is not a loopback address: requests, signatures and secret values would cross the network unencrypted. Give a certificate with --tls-cert and --tls-key (`openkms tls init --out DIR` makes a development one), or pass --insecure-http if this network is already protected")]
    PlainHttpOnNetwork(SocketAddr),
}

impl ServeArgs {
    /// Merges the layers and validates.
    pub fn resolve(self) -> Result<ServeConfig, ConfigError> {
        let file = match &self.config {
            Some(p) => read_file(p)?,
            None => FileConfig::default(),
        };
        let data_dir = self
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("openkms-data"));
        let store = match self.store.or(file.store) {
            None => StoreLocation::Sqlite(data_dir.join("openkms.db")),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                StoreLocation::Postgres(StoreUrl(url))
            }
            Some(_) => return Err(ConfigError::Store),
        };
        let region = self
            .region
            .or(file.region)
            .unwrap_or_else(|| "cn-hangzhou".to_owned());
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(ConfigError::Region);
        }
        let root_key_file = self
            .root_key_file
            .or(file.root_key_file)
            .unwrap_or_else(|| data_dir.join("root.key"));
        let root_of_trust = match self.root_of_trust.or(file.root_of_trust).as_deref() {
            None | Some("file") => RootOfTrustKind::File,
            Some("pkcs11") => RootOfTrustKind::Pkcs11,
            Some(_) => return Err(ConfigError::RootOfTrust),
        };
        let hsm = match (
            self.hsm_module.or(file.hsm_module),
            self.hsm_token_label.or(file.hsm_token_label),
        ) {
            (Some(module), Some(token_label)) => Some(HsmConfig {
                module,
                token_label,
                key_label: self
                    .hsm_key_label
                    .or(file.hsm_key_label)
                    .unwrap_or_else(|| "openkms-root".to_owned()),
                pin: match (
                    self.hsm_pin_file.or(file.hsm_pin_file),
                    self.hsm_pin_env.or(file.hsm_pin_env),
                ) {
                    (Some(path), _) => PinSource::File(path),
                    (None, Some(var)) => PinSource::Env(var),
                    (None, None) => PinSource::Env("OPENKMS_HSM_PIN".to_owned()),
                },
            }),
            (None, None) => None,
            _ => return Err(ConfigError::HsmIncomplete),
        };
        if root_of_trust == RootOfTrustKind::Pkcs11 && hsm.is_none() {
            return Err(ConfigError::HsmIncomplete);
        }
        let keyring_capacity = match self.keyring_capacity.or(file.keyring_capacity) {
            Some(0) => return Err(ConfigError::KeyringCapacity),
            Some(n) => n,
            None => openkms_service::DEFAULT_KEYRING_CAPACITY,
        };
        let replay_capacity = match self.replay_capacity.or(file.replay_capacity) {
            Some(n) if n < 64 => return Err(ConfigError::ReplayCapacity),
            Some(n) => n,
            None => openkms_service::DEFAULT_REPLAY_CAPACITY,
        };
        let account_id = self.account_id.or(file.account_id);
        // The service checks it again; checked here so a bad one is refused before anything
        // is written.
        if let Some(a) = &account_id {
            if a.len() != 16 || !a.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ConfigError::AccountId);
            }
        }
        let shutdown_grace = match self.shutdown_grace.or(file.shutdown_grace) {
            Some(s) if s > 3600 => return Err(ConfigError::ShutdownGrace),
            Some(s) => Duration::from_secs(s),
            None => DEFAULT_SHUTDOWN_GRACE,
        };
        let rate_limit = match (
            self.rate_limit_per_key.or(file.rate_limit_per_key),
            self.rate_limit_burst.or(file.rate_limit_burst),
        ) {
            (None, _) => None,
            (Some(0), _) | (_, Some(0)) => return Err(ConfigError::RateLimit),
            (Some(rate), burst) => Some(RateLimit {
                per_second: f64::from(rate),
                burst: f64::from(burst.unwrap_or(rate)),
            }),
        };
        let seconds = |flag: &'static str, value: Option<u64>, default: Duration| match value {
            Some(0) => Err(ConfigError::Timeout(flag)),
            Some(n) => Ok(Duration::from_secs(n)),
            None => Ok(default),
        };
        let connections = ConnectionSettings {
            head_timeout: seconds(
                "head-timeout",
                self.head_timeout.or(file.head_timeout),
                openkms_server::DEFAULT_HEAD_TIMEOUT,
            )?,
            body_timeout: seconds(
                "body-timeout",
                self.body_timeout.or(file.body_timeout),
                openkms_server::DEFAULT_BODY_TIMEOUT,
            )?,
            write_timeout: seconds(
                "write-timeout",
                self.write_timeout.or(file.write_timeout),
                openkms_server::DEFAULT_WRITE_TIMEOUT,
            )?,
            keep_alive_timeout: seconds(
                "keep-alive-timeout",
                self.keep_alive_timeout.or(file.keep_alive_timeout),
                openkms_server::DEFAULT_IDLE_TIMEOUT,
            )?,
            max_connections: match self.max_connections.or(file.max_connections) {
                Some(0) => return Err(ConfigError::MaxConnections),
                n => n,
            },
        };
        let listen = self
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let tls = match (
            self.tls_cert.or(file.tls_cert),
            self.tls_key.or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert,
                key,
                client_ca: self.tls_client_ca.or(file.tls_client_ca),
            }),
            (None, None) if self.tls_client_ca.is_some() || file.tls_client_ca.is_some() => {
                return Err(ConfigError::ClientCaWithoutTls)
            }
            (None, None) => None,
            _ => return Err(ConfigError::TlsIncomplete),
        };
        let insecure_http = self.insecure_http || file.insecure_http.unwrap_or(false);
        match (&tls, insecure_http) {
            (Some(_), true) => return Err(ConfigError::InsecureWithTls),
            (None, false) if !listen.ip().is_loopback() => {
                return Err(ConfigError::PlainHttpOnNetwork(listen))
            }
            _ => {}
        }
        Ok(ServeConfig {
            connections,
            listen,
            tls,
            data_dir,
            store,
            region,
            account_id,
            root_key_file,
            root_of_trust,
            hsm,
            keyring_capacity,
            replay_capacity,
            metrics_listen: self.metrics_listen.or(file.metrics_listen),
            worker_threads: match self.worker_threads.or(file.worker_threads) {
                Some(0) => return Err(ConfigError::WorkerThreads),
                n => n,
            },
            shutdown_grace,
            rate_limit,
            mlock: !(self.disable_mlock || file.disable_mlock.unwrap_or(false)),
        })
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.message().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_refused_off_loopback_unless_asked_for_or_tls_is_given() {
        let on = |listen: &str| ServeArgs {
            listen: Some(listen.parse().unwrap()),
            ..Default::default()
        };
        let err = on("0.0.0.0:8080").resolve().unwrap_err();
        assert!(matches!(err, ConfigError::PlainHttpOnNetwork(_)));
        let message = err.to_string();
        assert!(message.contains("--tls-cert") && message.contains("--insecure-http"));
        assert!(on("127.0.0.1:8080").resolve().unwrap().tls.is_none());
        assert!(on("[::1]:8080").resolve().is_ok());
        let insecure = ServeArgs {
            insecure_http: true,
            ..on("0.0.0.0:8080")
        };
        assert!(insecure.resolve().unwrap().tls.is_none());
        let tls = ServeArgs {
            tls_cert: Some("c.pem".into()),
            tls_key: Some("k.pem".into()),
            ..on("0.0.0.0:8443")
        };
        let files = tls.resolve().unwrap().tls.unwrap();
        assert_eq!(files.cert, PathBuf::from("c.pem"));
        assert_eq!(files.client_ca, None);
    }

    #[test]
    fn tls_settings_must_be_whole_and_consistent() {
        let half = ServeArgs {
            tls_cert: Some("c.pem".into()),
            ..Default::default()
        };
        assert!(matches!(half.resolve(), Err(ConfigError::TlsIncomplete)));
        let ca_alone = ServeArgs {
            tls_client_ca: Some("ca.pem".into()),
            ..Default::default()
        };
        assert!(matches!(
            ca_alone.resolve(),
            Err(ConfigError::ClientCaWithoutTls)
        ));
        let both = ServeArgs {
            tls_cert: Some("c.pem".into()),
            tls_key: Some("k.pem".into()),
            insecure_http: true,
            ..Default::default()
        };
        assert!(matches!(both.resolve(), Err(ConfigError::InsecureWithTls)));
    }

    #[test]
    fn tls_files_come_from_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "listen = \"0.0.0.0:8443\"\ntls_cert = \"/etc/openkms/server.pem\"\ntls_key = \"/etc/openkms/server-key.pem\"\ntls_client_ca = \"/etc/openkms/clients.pem\"\n",
        )
        .unwrap();
        let cfg = ServeArgs {
            config: Some(f),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(
            cfg.tls.unwrap(),
            TlsFiles {
                cert: "/etc/openkms/server.pem".into(),
                key: "/etc/openkms/server-key.pem".into(),
                client_ca: Some("/etc/openkms/clients.pem".into()),
            }
        );
    }

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "region = \"cn-shanghai\"\nlisten = \"127.0.0.1:9000\"\n",
        )
        .unwrap();
        let cfg = ServeArgs {
            listen: Some("127.0.0.1:9100".parse().unwrap()),
            config: Some(f),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(cfg.listen.port(), 9100);
        assert_eq!(cfg.region, "cn-shanghai");
        assert_eq!(cfg.root_key_file, PathBuf::from("openkms-data/root.key"));
    }

    #[test]
    fn hsm_settings_come_from_the_file_and_the_pin_never_from_a_flag() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "root_of_trust = \"pkcs11\"\nhsm_module = \"/lib/p11.so\"\nhsm_token_label = \"T\"\nhsm_pin_env = \"MY_PIN\"\nkeyring_capacity = 10\n",
        )
        .unwrap();
        let cfg = ServeArgs {
            config: Some(f),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(cfg.root_of_trust, RootOfTrustKind::Pkcs11);
        assert_eq!(cfg.keyring_capacity, 10);
        assert_eq!(
            cfg.hsm.unwrap(),
            HsmConfig {
                module: "/lib/p11.so".into(),
                token_label: "T".into(),
                key_label: "openkms-root".into(),
                pin: PinSource::Env("MY_PIN".into()),
            }
        );
        let err = ServeArgs {
            root_of_trust: Some("pkcs11".into()),
            hsm_module: Some("/lib/p11.so".into()),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert!(matches!(err, ConfigError::HsmIncomplete));
        let cfg = ServeArgs::default().resolve().unwrap();
        assert_eq!(cfg.root_of_trust, RootOfTrustKind::File);
        assert!(cfg.hsm.is_none());
    }

    #[test]
    fn store_url_selects_postgres_and_sqlite_stays_the_default() {
        let cfg = ServeArgs::default().resolve().unwrap();
        assert_eq!(
            cfg.store,
            StoreLocation::Sqlite(PathBuf::from("openkms-data/openkms.db"))
        );
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "store = \"postgres://u:pw@db:5432/kms\"\n").unwrap();
        let cfg = ServeArgs {
            config: Some(f),
            root_key_file: Some("/etc/openkms/root.key".into()),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(
            cfg.store,
            StoreLocation::Postgres(StoreUrl("postgres://u:pw@db:5432/kms".into()))
        );
        assert!(!format!("{cfg:?}").contains("pw"), "the URL is not printed");
        assert_eq!(cfg.root_key_file, PathBuf::from("/etc/openkms/root.key"));
        let err = ServeArgs {
            store: Some("mysql://db/kms".into()),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert!(matches!(err, ConfigError::Store));
    }

    #[test]
    fn connection_settings_have_defaults_and_refuse_zero() {
        let cfg = ServeArgs::default().resolve().unwrap();
        assert_eq!(cfg.connections.head_timeout, Duration::from_secs(30));
        assert_eq!(cfg.connections.body_timeout, Duration::from_secs(60));
        assert_eq!(cfg.connections.write_timeout, Duration::from_secs(30));
        assert_eq!(cfg.connections.keep_alive_timeout, Duration::from_secs(75));
        assert_eq!(cfg.connections.max_connections, None);
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "head_timeout = 3\nmax_connections = 500\n").unwrap();
        let cfg = ServeArgs {
            config: Some(f),
            keep_alive_timeout: Some(5),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(cfg.connections.head_timeout, Duration::from_secs(3));
        assert_eq!(cfg.connections.keep_alive_timeout, Duration::from_secs(5));
        assert_eq!(cfg.connections.max_connections, Some(500));
        let err = ServeArgs {
            head_timeout: Some(0),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert!(matches!(err, ConfigError::Timeout("head-timeout")));
        let err = ServeArgs {
            max_connections: Some(0),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert!(matches!(err, ConfigError::MaxConnections));
    }

    #[test]
    fn process_settings_have_defaults_and_are_checked_before_use() {
        let cfg = ServeArgs::default().resolve().unwrap();
        assert_eq!(cfg.shutdown_grace, DEFAULT_SHUTDOWN_GRACE);
        assert_eq!(cfg.rate_limit, None);
        assert!(cfg.mlock);
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "shutdown_grace = 5\nrate_limit_per_key = 7\ndisable_mlock = true\n",
        )
        .unwrap();
        let cfg = ServeArgs {
            config: Some(f),
            rate_limit_burst: Some(20),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(cfg.shutdown_grace, Duration::from_secs(5));
        assert_eq!(
            cfg.rate_limit,
            Some(RateLimit {
                per_second: 7.0,
                burst: 20.0
            })
        );
        assert!(!cfg.mlock);
        for bad in ["abc", "123", "12345678901234567", "123456789012345x"] {
            let err = ServeArgs {
                account_id: Some(bad.into()),
                ..Default::default()
            }
            .resolve()
            .unwrap_err();
            assert!(matches!(err, ConfigError::AccountId), "{bad}");
        }
        let err = ServeArgs {
            rate_limit_per_key: Some(0),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert!(matches!(err, ConfigError::RateLimit));
    }

    #[test]
    fn unknown_keys_in_the_file_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "regoin = \"x\"\n").unwrap();
        let err = ServeArgs {
            config: Some(f),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }));
    }
}
