//! `openkms serve`: open the data directory and the store (SQLite, or PostgreSQL shared with
//! other nodes), load or create the root of trust (a key file or
//! a key in the HSM), start the service, supervise the background jobs, then serve until a
//! signal, and stop gracefully. Every setting is checked and both listeners are bound before
//! the first file is written; the API socket listens only once the service is ready.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openkms_crypto::SecretBytes;
use openkms_server::{AppState, RateLimiter, TlsConfig};
use openkms_service::BootstrapError;
use openkms_service::{Service, StartOptions, SystemClock};
use openkms_store::StoreError;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{ConfigError, ServeArgs, ServeConfig, StoreLocation};
use crate::{listeners, root, supervise};

/// How often expired secrets are purged, due keys rotated, keys past their DeleteDate
/// destroyed and (PostgreSQL) expired nonces purged.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// How often due secret rotations are claimed.
const ROTATE_EVERY: Duration = Duration::from_secs(10);

/// How often this node drops its access-key and identity-policy caches: the bound within which
/// another node's change (or `openkms root-key` run beside this server) takes effect here. Short, as a reload
/// costs one store read and one unwrap per access key in use.
const SHARED_CACHE_REFRESH: Duration = Duration::from_secs(5);

/// Why `serve` stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Root(#[from] root::RootSetupError),
    #[error(transparent)]
    Lock(#[from] crate::dir_lock::DirLockError),
    #[error("store: {0}")]
    Store(#[from] openkms_store::StoreError),
    #[error("start-up: {0}")]
    Start(#[from] openkms_service::BootstrapError),
    #[error("OPENKMS_ROOT_ACCESS_KEY_ID and OPENKMS_ROOT_ACCESS_KEY_SECRET must be set together, as non-empty printable text")]
    RootAccessKeyEnv,
    #[error("could not listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("could not start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("could not start the metrics listener: {0}")]
    Metrics(String),
    #[error("TLS: {0}")]
    Tls(#[from] openkms_server::TlsError),
    #[error("could not write {path}: {source}")]
    WriteKeyFile {
        path: String,
        source: std::io::Error,
    },
}

/// Runs the server until SIGINT or SIGTERM, then stops gracefully (see [`serve`]).
pub fn run(args: ServeArgs) -> Result<(), ServeError> {
    let cfg = args.resolve()?;
    // Before the runtime's threads exist and before any key is loaded.
    let memory = crate::harden::apply(cfg.mlock);
    tracing::debug!(?memory, "process hardened");
    let fd_limit = listeners::raise_fd_limit();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = cfg.worker_threads {
        builder.worker_threads(n);
    }
    let rt = builder.enable_all().build().map_err(ServeError::Runtime)?;
    rt.block_on(serve(cfg, fd_limit))
}

/// Start-up checks every setting and binds the listeners before it writes anything, so a
/// start that fails leaves a fresh data directory as it found it. A stop (SIGTERM or SIGINT)
/// stops accepting, answers the requests already received within `--shutdown-grace`, lets
/// the background jobs finish their pass, commits the writes in flight, and returns `Ok`; a
/// second signal exits at once with status 128 + the signal number.
async fn serve(cfg: ServeConfig, fd_limit: Option<u64>) -> Result<(), ServeError> {
    // Checked before anything is written: a refused key leaves a fresh data dir untouched.
    let root_access_key = root_access_key_from_env()?;
    // Bound now, so a taken port fails the start before any write; listening (accepting
    // connections) only once the service is ready.
    let socket = bind(cfg.listen).map_err(|source| ServeError::Listen {
        addr: cfg.listen.to_string(),
        source,
    })?;
    let metrics = match cfg.metrics_listen {
        Some(addr) => {
            let listener = listeners::bind_metrics(addr)
                .await
                .map_err(|e| ServeError::Metrics(e.to_string()))?;
            let handle = listeners::install_metrics().map_err(ServeError::Metrics)?;
            Some((listener, handle))
        }
        None => None,
    };
    // Loaded before anything is written: a bad certificate or key refuses the start.
    let tls = match &cfg.tls {
        Some(files) => Some(Arc::new(TlsConfig::load(files.clone())?)),
        None => None,
    };
    let token = root::open_token(cfg.hsm.as_ref())?;
    root::check_root_key_file(&cfg)?;
    let claim = crate::fresh_dir::Claim::take(&cfg.data_dir, &cfg.root_key_file)?;
    let store = match crate::store::open(&cfg).await {
        Ok(store) => store,
        Err(e) => {
            claim.roll_back(sqlite(&cfg));
            return Err(e.into());
        }
    };
    let service = match start_service(&cfg, &store, token, root_access_key).await {
        Ok(service) => service,
        Err(e) => {
            store.close().await;
            drop(store);
            claim.roll_back(sqlite(&cfg));
            return Err(e);
        }
    };
    claim.keep();
    let listener = socket
        .listen(LISTEN_BACKLOG)
        .map_err(|source| ServeError::Listen {
            addr: cfg.listen.to_string(),
            source,
        })?;
    let shutdown = CancellationToken::new();
    watch_signals(shutdown.clone());
    let jobs = TaskTracker::new();
    spawn_jobs(&jobs, &shutdown, &service);
    if let Some(tls) = &tls {
        tokio::spawn(tls.clone().watch(TLS_FILES_POLL, shutdown.child_token()));
    }
    tracing::info!(
        listen = %cfg.listen,
        scheme = if tls.is_some() { "https" } else { "http" },
        mutual_tls = tls.as_ref().is_some_and(|t| t.requires_client_certificates()),
        account_id = service.account_id(),
        region = service.region(),
        "openkms is ready"
    );
    let state = Arc::new(AppState {
        service,
        limits: listeners::server_limits(&cfg.connections, fd_limit),
        rate_limit: cfg.rate_limit.map(RateLimiter::new),
        draining: shutdown.clone(),
    });
    let metrics_stop = CancellationToken::new();
    if let Some((listener, handle)) = metrics {
        let serving =
            listeners::serve_metrics(listener, handle, state.clone(), metrics_stop.clone());
        tokio::spawn(serving);
    }
    let grace = cfg.shutdown_grace;
    let finish_jobs = async {
        shutdown.cancelled().await;
        jobs.close();
        if tokio::time::timeout(grace, jobs.wait()).await.is_err() {
            tracing::warn!("a background job was still in its pass when the shutdown grace ended");
        }
    };
    tokio::join!(
        openkms_server::run(listener, state, tls, shutdown.clone(), grace),
        finish_jobs
    );
    metrics_stop.cancel();
    // Writes acknowledged were committed before their answer; this commits the ones still
    // queued (their callers may be gone) and closes the database cleanly.
    store.close().await;
    tracing::info!("openkms stopped");
    Ok(())
}

/// How often the TLS certificate and key files are checked for a change (SIGHUP reloads at once).
const TLS_FILES_POLL: Duration = Duration::from_secs(2);

/// Pending connections the kernel queues before the server accepts them.
const LISTEN_BACKLOG: u32 = 1024;

/// A socket bound to `addr` (address reuse as `TcpListener::bind` sets it), not yet listening.
fn bind(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpSocket> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    Ok(socket)
}

fn sqlite(cfg: &ServeConfig) -> bool {
    matches!(cfg.store, StoreLocation::Sqlite(_))
}

/// Starts (and on first start initialises) the service, and shows a generated root key.
async fn start_service(
    cfg: &ServeConfig,
    store: &Arc<dyn openkms_store::Store>,
    token: Option<Arc<openkms_crypto::pkcs11::Pkcs11Token>>,
    root_access_key: Option<(String, SecretBytes)>,
) -> Result<Arc<Service>, ServeError> {
    let start = |initialised| {
        let store = store.clone();
        let root = root::configured_root(cfg, token.clone(), initialised);
        let root_access_key = root_access_key
            .as_ref()
            .map(|(id, s)| (id.clone(), SecretBytes::from_slice(s.expose_secret())));
        async move {
            let started = Service::start(
                store,
                root?,
                StartOptions {
                    region: cfg.region.clone(),
                    account_id: cfg.account_id.clone(),
                    root_access_key,
                    clock: Arc::new(SystemClock),
                    keyring_capacity: cfg.keyring_capacity,
                    replay_capacity: cfg.replay_capacity,
                    // A shared store keeps the window in its own table.
                    nonce_journal: match cfg.store {
                        StoreLocation::Sqlite(_) => Some(cfg.data_dir.join("nonces")),
                        StoreLocation::Postgres(_) => None,
                    },
                },
            )
            .await?;
            Ok::<_, ServeError>(started)
        }
    };
    let initialised = store.meta().await?.is_some();
    let started = match start(initialised).await {
        // Another node sharing the store initialised it between our look and our write: join
        // its installation, as any later start would.
        Err(ServeError::Start(BootstrapError::Store(StoreError::AlreadyInitialized))) => {
            tracing::info!("another node initialised the store first; joining it");
            start(true).await?
        }
        other => other?,
    };
    if let Some((id, secret)) = &started.generated_root_key {
        announce_root_key(cfg, id, secret)?;
    }
    Ok(Arc::new(started.service))
}

/// The background jobs, each supervised (see [`crate::supervise`]).
fn spawn_jobs(jobs: &TaskTracker, shutdown: &CancellationToken, service: &Arc<Service>) {
    let job = |name, every, pass: fn(Arc<Service>) -> JobPass| {
        let service = service.clone();
        supervise::spawn(jobs, shutdown, name, every, move || pass(service.clone()));
    };
    // Every store: another node, or `openkms root-key` beside this server, may change access
    // keys and policies behind this process's caches.
    job("cache_refresh", SHARED_CACHE_REFRESH, |service| {
        Box::pin(async move {
            service.forget_shared_caches();
            service.refresh_replay_fence().await?;
            Ok(())
        })
    });
    job("secret_purge", PURGE_EVERY, |service| {
        Box::pin(async move {
            let n = service.purge_expired_secrets().await?;
            if n > 0 {
                tracing::info!(purged = n, "purged secrets whose recovery window ended");
            }
            Ok(())
        })
    });
    job("nonce_purge", PURGE_EVERY, |service| {
        Box::pin(async move {
            service.purge_shared_nonces().await?;
            Ok(())
        })
    });
    job("key_rotation", PURGE_EVERY, |service| {
        Box::pin(async move {
            let n = service.rotate_due_keys(service.now()).await?;
            if n > 0 {
                tracing::info!(rotated = n, "rotated keys due for automatic rotation");
            }
            Ok(())
        })
    });
    job("key_deletion", PURGE_EVERY, |service| {
        Box::pin(async move {
            let n = service.destroy_due_keys(service.now()).await?;
            if n > 0 {
                tracing::info!(destroyed = n, "destroyed keys whose deletion date passed");
            }
            Ok(())
        })
    });
    // More often than the purge: a failed rotation's first retry comes 30 s later.
    job("secret_rotation", ROTATE_EVERY, |service| {
        Box::pin(async move {
            let pass = service.run_due_rotations().await?;
            if pass != Default::default() {
                tracing::info!(
                    rotated = pass.rotated,
                    failed = pass.failed,
                    "ran due secret rotations"
                );
            }
            if pass.failed > 0 {
                metrics::counter!(supervise::JOB_ITEMS_FAILED, "job" => "secret_rotation")
                    .increment(pass.failed as u64);
            }
            Ok(())
        })
    });
}

type JobPass = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(), supervise::PassError>> + Send + 'static>,
>;

/// Cancels `shutdown` on the first SIGTERM or SIGINT; a second one ends the process at once
/// with status 128 + its number (143 for SIGTERM, 130 for SIGINT), skipping the drain.
fn watch_signals(shutdown: CancellationToken) {
    tokio::spawn(async move {
        let first = next_signal().await;
        tracing::info!(
            signal = first,
            "stopping: no new connections; answering the requests already received"
        );
        shutdown.cancel();
        let second = next_signal().await;
        tracing::warn!(signal = second, "second signal: exiting at once");
        std::process::exit(128 + second);
    });
}

/// Waits for SIGTERM or SIGINT and returns its number.
async fn next_signal() -> i32 {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (term, int) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        );
        if let (Ok(mut term), Ok(mut int)) = (term, int) {
            return tokio::select! {
                _ = term.recv() => 15,
                _ = int.recv() => 2,
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    2
}

pub(crate) fn create_private_dir(dir: &Path) -> Result<(), ServeError> {
    let err = |source| ServeError::DataDir {
        path: dir.display().to_string(),
        source,
    };
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(err)
}

fn root_access_key_from_env() -> Result<Option<(String, SecretBytes)>, ServeError> {
    let id = std::env::var("OPENKMS_ROOT_ACCESS_KEY_ID").ok();
    let secret = std::env::var("OPENKMS_ROOT_ACCESS_KEY_SECRET").ok();
    let printable = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_graphic());
    match (id, secret) {
        (None, None) => Ok(None),
        (Some(id), Some(secret)) if printable(&id) && printable(&secret) => {
            let secret = SecretBytes::new(secret.into_bytes());
            openkms_service::root_keys::validate(&id, secret.expose_secret())
                .map_err(BootstrapError::from)?;
            Ok(Some((id, secret)))
        }
        _ => Err(ServeError::RootAccessKeyEnv),
    }
}

/// Shows a generated root access key once and keeps a 0600 copy in the data directory.
fn announce_root_key(cfg: &ServeConfig, id: &str, secret: &SecretBytes) -> Result<(), ServeError> {
    let secret = String::from_utf8_lossy(secret.expose_secret());
    let path = cfg.data_dir.join("root-access-key.json");
    let body = zeroize::Zeroizing::new(format!(
        "{{\"AccessKeyId\": \"{id}\", \"AccessKeySecret\": \"{secret}\"}}\n"
    ));
    write_private(&path, body.as_bytes()).map_err(|source| ServeError::WriteKeyFile {
        path: path.display().to_string(),
        source,
    })?;
    // Printed once to the operator's terminal on purpose; never logged through tracing.
    println!(
        "\nopenkms initialised a new root access key (also saved in {path}):\n\n  AccessKeyId:     {id}\n  AccessKeySecret: {secret}\n",
        path = path.display(),
    );
    let client = |protocol: &str| {
        format!(
            "  from alibabacloud_kms20160120.client import Client\n  from alibabacloud_tea_openapi.models import Config\n  client = Client(Config(access_key_id=\"{id}\", access_key_secret=\"{secret}\",\n                         endpoint=\"{listen}\", protocol=\"{protocol}\", region_id=\"{region}\"))\n",
            listen = cfg.listen,
            region = cfg.region,
        )
    };
    if cfg.tls.is_some() {
        println!(
            "Python SDK (HTTPS; a private CA's certificate goes in SSL_CERT_FILE, or ALIBABA_CLOUD_CA_BUNDLE for the classic SDK):\n\n{}",
            client("https")
        );
    } else {
        println!(
            "Python SDK (plain HTTP, this machine only):\n\n{}\nHTTPS, which every official client uses by default: make a development CA and certificate,\n\n  openkms tls init --out tls\n  openkms serve --tls-cert tls/server.pem --tls-key tls/server-key.pem\n\nthen trust tls/ca.pem (SSL_CERT_FILE for the Python Tea SDK, ALIBABA_CLOUD_CA_BUNDLE for the classic one, NODE_EXTRA_CA_CERTS for Node) and connect with:\n\n{}",
            client("http"),
            client("https")
        );
    }
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
