//! What `serve` needs for its listeners: the file descriptor limit raised to its hard maximum,
//! the connection cap derived from it, the server's limits from the configuration, and the
//! metrics listener (our own, serving `/metrics`, `/healthz` and `/readyz`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use openkms_server::{AppState, ServerLimits};
use tokio_util::sync::CancellationToken;

use crate::config::ConnectionSettings;

/// Descriptors kept out of the default connection cap: the store (SQLite file, WAL and shared
/// memory per pooled connection, or PostgreSQL sockets), the nonce journal, the log, the HSM
/// module, the listeners. Half the limit when the limit is small.
const FD_RESERVE: u64 = 128;

/// How often the metrics recorder drains its histograms when nobody scrapes.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// Raises the soft file descriptor limit to the hard one and returns the limit in force
/// (`None` when unlimited or unknown).
pub fn raise_fd_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        let limit = getrlimit(Resource::Nofile);
        if limit.current.is_some() && limit.current != limit.maximum {
            let raised = Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => {
                    tracing::debug!(limit = ?limit.maximum, "raised the file descriptor limit");
                    return limit.maximum;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not raise the file descriptor limit")
                }
            }
        }
        limit.current
    }
    #[cfg(not(unix))]
    None
}

/// The connection cap when none is configured: the descriptor limit less a reserve.
pub fn default_max_connections(fd_limit: Option<u64>) -> usize {
    match fd_limit {
        Some(limit) => {
            let reserve = FD_RESERVE.min(limit / 2);
            usize::try_from(limit.saturating_sub(reserve))
                .unwrap_or(usize::MAX)
                .max(1)
        }
        None => openkms_server::DEFAULT_MAX_CONNECTIONS,
    }
}

/// The API listener's limits from the configuration and the descriptor limit in force.
pub fn server_limits(settings: &ConnectionSettings, fd_limit: Option<u64>) -> ServerLimits {
    let max_connections = settings
        .max_connections
        .unwrap_or_else(|| default_max_connections(fd_limit));
    tracing::info!(max_connections, fd_limit, "connection cap");
    ServerLimits {
        head_timeout: settings.head_timeout,
        body_timeout: settings.body_timeout,
        write_timeout: settings.write_timeout,
        idle_timeout: settings.keep_alive_timeout,
        max_connections,
        ..ServerLimits::default()
    }
}

/// Installs the Prometheus recorder; metrics recorded before this are lost.
pub fn install_metrics() -> Result<PrometheusHandle, String> {
    PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| e.to_string())
}

/// Serves the metrics listener until `stop` is cancelled, and keeps the recorder's histograms
/// drained meanwhile.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    handle: PrometheusHandle,
    state: Arc<AppState>,
    stop: CancellationToken,
) {
    let upkeep = handle.clone();
    let upkeep_stop = stop.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(METRICS_UPKEEP);
        loop {
            tokio::select! {
                () = upkeep_stop.cancelled() => return,
                _ = tick.tick() => upkeep.run_upkeep(),
            }
        }
    });
    openkms_server::run_metrics(listener, move || handle.render(), state, stop).await;
}

/// Binds the metrics listener's address.
pub async fn bind_metrics(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_leaves_a_reserve_below_the_descriptor_limit() {
        assert_eq!(default_max_connections(Some(1024)), 896);
        assert_eq!(default_max_connections(Some(256)), 128);
        assert_eq!(default_max_connections(Some(100)), 50);
        assert_eq!(default_max_connections(Some(1)), 1);
        assert_eq!(
            default_max_connections(None),
            openkms_server::DEFAULT_MAX_CONNECTIONS
        );
    }
}
