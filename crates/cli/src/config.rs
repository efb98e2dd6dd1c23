//! Configuration of `serve`: defaults, then an optional TOML file, then `OPENKMS_*` variables,
//! then flags (clap merges the last two), validated once into [`ServeConfig`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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
    /// Region this server answers for (used in ARNs) [default: cn-hangzhou].
    #[arg(long, env = "OPENKMS_REGION")]
    pub region: Option<String>,
    /// 16-digit account id to initialise with (generated when absent).
    #[arg(long, env = "OPENKMS_ACCOUNT_ID")]
    pub account_id: Option<String>,
    /// Root key file [default: <data-dir>/root.key].
    #[arg(long, env = "OPENKMS_ROOT_KEY_FILE")]
    pub root_key_file: Option<PathBuf>,
    /// Address of the Prometheus metrics listener (off when absent).
    #[arg(long, env = "OPENKMS_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Runtime worker threads [default: one per core].
    #[arg(long, env = "OPENKMS_WORKER_THREADS")]
    pub worker_threads: Option<usize>,
    /// TOML file with any of the settings above (snake_case keys).
    #[arg(long, env = "OPENKMS_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    region: Option<String>,
    account_id: Option<String>,
    root_key_file: Option<PathBuf>,
    metrics_listen: Option<SocketAddr>,
    worker_threads: Option<usize>,
}

/// The validated configuration.
#[derive(Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub region: String,
    pub account_id: Option<String>,
    pub root_key_file: PathBuf,
    pub metrics_listen: Option<SocketAddr>,
    pub worker_threads: Option<usize>,
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
    #[error("--region must be lower-case letters, digits and '-', like cn-hangzhou")]
    Region,
    #[error("--worker-threads must be at least 1")]
    WorkerThreads,
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
        Ok(ServeConfig {
            listen: self
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            data_dir,
            region,
            account_id: self.account_id.or(file.account_id),
            root_key_file,
            metrics_listen: self.metrics_listen.or(file.metrics_listen),
            worker_threads: match self.worker_threads.or(file.worker_threads) {
                Some(0) => return Err(ConfigError::WorkerThreads),
                n => n,
            },
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
