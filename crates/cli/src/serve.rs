//! `openkms serve`: open the data directory and the store (SQLite, or PostgreSQL shared with
//! other nodes), load or create the root of trust (a key file or
//! a key in the HSM), start the service, then listen. The listener is bound only once
//! everything is ready to answer.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openkms_crypto::SecretBytes;
use openkms_server::AppState;
use openkms_service::BootstrapError;
use openkms_service::{Service, StartOptions, SystemClock};
use openkms_store::StoreError;
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, ServeArgs, ServeConfig, StoreLocation};
use crate::{listeners, root};

/// How often the background loop runs: expired secrets purged, due keys rotated, keys past
/// their DeleteDate destroyed.
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
    #[error("could not write {path}: {source}")]
    WriteKeyFile {
        path: String,
        source: std::io::Error,
    },
}

/// Runs the server until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> Result<(), ServeError> {
    let cfg = args.resolve()?;
    let fd_limit = listeners::raise_fd_limit();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = cfg.worker_threads {
        builder.worker_threads(n);
    }
    let rt = builder.enable_all().build().map_err(ServeError::Runtime)?;
    rt.block_on(serve(cfg, fd_limit))
}

async fn serve(cfg: ServeConfig, fd_limit: Option<u64>) -> Result<(), ServeError> {
    // Checked before anything is written: a refused key leaves a fresh data dir untouched.
    let root_access_key = root_access_key_from_env()?;
    create_private_dir(&cfg.data_dir)?;
    // Held until the process exits: no second server, and no `migrate --from`, on this directory.
    let lock = crate::dir_lock::DirLock::acquire(&cfg.data_dir)?;
    tracing::debug!(lock = %lock.path().display(), "data directory locked");
    let store = crate::store::open(&cfg).await?;
    let token = root::open_token(cfg.hsm.as_ref())?;
    let start = |initialised| {
        let store = store.clone();
        let root = root::configured_root(&cfg, token.clone(), initialised);
        let cfg = &cfg;
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
        announce_root_key(&cfg, id, secret)?;
    }
    let service = Arc::new(started.service);
    let metrics = match cfg.metrics_listen {
        Some(addr) => {
            let handle = listeners::install_metrics().map_err(ServeError::Metrics)?;
            let listener = listeners::bind_metrics(addr)
                .await
                .map_err(|e| ServeError::Metrics(e.to_string()))?;
            Some((listener, handle))
        }
        None => None,
    };
    // Every store: another node, or `openkms root-key` beside this server, may change access
    // keys and policies behind this process's caches.
    spawn_cache_refresh(service.clone());
    spawn_purge(service.clone());
    spawn_rotations(service.clone());
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: cfg.listen.to_string(),
            source,
        })?;
    tracing::info!(
        listen = %cfg.listen,
        account_id = service.account_id(),
        region = service.region(),
        "openkms is ready"
    );
    let shutdown = CancellationToken::new();
    let state = Arc::new(AppState {
        service,
        limits: listeners::server_limits(&cfg.connections, fd_limit),
        draining: shutdown.clone(),
    });
    let metrics_stop = CancellationToken::new();
    if let Some((listener, handle)) = metrics {
        let serving =
            listeners::serve_metrics(listener, handle, state.clone(), metrics_stop.clone());
        tokio::spawn(serving);
    }
    let signalled = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        signalled.cancel();
    });
    openkms_server::run(listener, state, shutdown, Duration::from_secs(30)).await;
    metrics_stop.cancel();
    tracing::info!("openkms stopped");
    Ok(())
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
        "\nopenkms initialised a new root access key (also saved in {path}):\n\n  AccessKeyId:     {id}\n  AccessKeySecret: {secret}\n\nPython SDK:\n\n  from alibabacloud_kms20160120.client import Client\n  from alibabacloud_tea_openapi.models import Config\n  client = Client(Config(access_key_id=\"{id}\", access_key_secret=\"{secret}\",\n                         endpoint=\"{listen}\", protocol=\"http\", region_id=\"{region}\"))\n",
        path = path.display(),
        listen = cfg.listen,
        region = cfg.region,
    );
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

fn spawn_purge(service: Arc<Service>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PURGE_EVERY);
        loop {
            tick.tick().await;
            match service.purge_expired_secrets().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "purged secrets whose recovery window ended"),
                Err(e) => tracing::error!(error = %e, "purging expired secrets failed"),
            }
            match service.purge_shared_nonces().await {
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "purging expired nonces failed"),
            }
            let now = service.now();
            match service.rotate_due_keys(now).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rotated = n, "rotated keys due for automatic rotation"),
                Err(e) => tracing::error!(error = %e, "rotating keys failed"),
            }
            match service.destroy_due_keys(now).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(destroyed = n, "destroyed keys whose deletion date passed"),
                Err(e) => tracing::error!(error = %e, "destroying keys failed"),
            }
        }
    });
}

/// Drops the caches other nodes cannot invalidate (see [`SHARED_CACHE_REFRESH`]).
fn spawn_cache_refresh(service: Arc<Service>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SHARED_CACHE_REFRESH);
        loop {
            tick.tick().await;
            service.forget_shared_caches();
            if let Err(e) = service.refresh_replay_fence().await {
                tracing::warn!(error = %e, "could not read the shared replay fence");
            }
        }
    });
}

/// Runs due secret rotations (and resumes unfinished ones) more often than the purge loop:
/// a failed rotation's first retry comes 30 s later.
fn spawn_rotations(service: Arc<Service>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(ROTATE_EVERY);
        loop {
            tick.tick().await;
            match service.run_due_rotations().await {
                Ok(pass) if pass == Default::default() => {}
                Ok(pass) => tracing::info!(
                    rotated = pass.rotated,
                    failed = pass.failed,
                    "ran due secret rotations"
                ),
                Err(e) => tracing::error!(error = %e, "claiming due secret rotations failed"),
            }
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
