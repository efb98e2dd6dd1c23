//! TLS to the PostgreSQL store. sqlx reads libpq's URL parameters itself (`sslmode=disable|
//! allow|prefer|require|verify-ca|verify-full`, `sslrootcert`, `sslcert`, `sslkey`, and the
//! `PGSSLMODE`, `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY` variables), with rustls on aws-lc-rs; this
//! module refuses what it would silently ignore, says at start how the store is reached, and
//! tells a TLS failure apart from an unreachable database.

use sqlx::postgres::{PgPool, PgSslMode};

use crate::StoreError;

/// The URL parameters sqlx acts on. Any other (a libpq parameter sqlx ignores, such as
/// `sslcrl` or `sslpassword`, or a typo such as `sslmod`) is refused: ignored, it would leave
/// the connection without the TLS or the check its author asked for.
const KNOWN: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "options",
];

const MODES: &[&str] = &[
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

/// Which TLS files the URL (or the libpq variables) names, for the start-up log line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UrlFiles {
    pub root_cert: bool,
    pub client_cert: bool,
}

fn query(url: &str) -> &str {
    url.split_once('?')
        .map(|(_, q)| q.split_once('#').map_or(q, |(q, _)| q))
        .unwrap_or("")
}

fn sslmode_message() -> String {
    format!(
        "the store URL's sslmode must be one of {}",
        MODES.join(", ")
    )
}

/// The message for an `sslmode` value sqlx refused, which it reports only as an unparsable
/// URL. Without the value: a URL may hold a password.
pub fn bad_sslmode(url: &str) -> Option<String> {
    form_urlencoded::parse(query(url).as_bytes())
        .any(|(k, v)| matches!(k.as_ref(), "sslmode" | "ssl-mode") && !MODES.contains(&v.as_ref()))
        .then(sslmode_message)
}

/// Checks the URL's query parameters and that the TLS files it names can be read. Messages
/// name a parameter or a file, never a value (a URL may hold a password).
pub fn check_url(url: &str) -> Result<UrlFiles, StoreError> {
    let config = |reason: String| StoreError::Config { reason };
    let mut files = UrlFiles {
        root_cert: std::env::var_os("PGSSLROOTCERT").is_some(),
        client_cert: std::env::var_os("PGSSLCERT").is_some(),
    };
    for (key, value) in form_urlencoded::parse(query(url).as_bytes()) {
        let known =
            KNOWN.contains(&key.as_ref()) || (key.starts_with("options[") && key.ends_with(']'));
        if !known {
            // Named only when it looks like a parameter name, never a stray part of a password.
            let plausible = !key.is_empty()
                && key.len() <= 40
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
            let named = if plausible {
                format!("the parameter {key:?}")
            } else {
                "a parameter".to_owned()
            };
            return Err(config(format!(
                "the store URL has {named}, which openkms's PostgreSQL driver does not support \
                 (known: {}, options[...])",
                KNOWN.join(", ")
            )));
        }
        match key.as_ref() {
            "sslmode" | "ssl-mode" if !MODES.contains(&value.as_ref()) => {
                return Err(config(sslmode_message()));
            }
            "sslrootcert" | "ssl-root-cert" | "ssl-ca" => {
                readable(&key, &value)?;
                files.root_cert = true;
            }
            "sslcert" | "ssl-cert" => {
                readable(&key, &value)?;
                files.client_cert = true;
            }
            "sslkey" | "ssl-key" => readable(&key, &value)?,
            _ => {}
        }
    }
    Ok(files)
}

/// sqlx reads the file only when it connects, and reports a missing one as an I/O error, which
/// would read as an unreachable database.
fn readable(key: &str, path: &str) -> Result<(), StoreError> {
    std::fs::File::open(path)
        .map(drop)
        .map_err(|e| StoreError::Config {
            reason: format!("the store URL's {key} file {path} cannot be read: {e}"),
        })
}

pub fn mode_name(mode: PgSslMode) -> &'static str {
    match mode {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

/// Why TLS failed, when `e` (or an error it wraps) is a TLS failure.
pub fn failure(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause = Some(e);
    while let Some(err) = cause {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return Some(match t {
                rustls::Error::InvalidCertificate(_) => format!(
                    "TLS verification of the server's certificate failed ({t}); check sslrootcert \
                     and that the URL's host is a name the certificate is for"
                ),
                other => format!("the TLS handshake failed ({other})"),
            });
        }
        if let Some(sqlx::Error::Tls(inner)) = err.downcast_ref::<sqlx::Error>() {
            return Some(failure(inner.as_ref()).unwrap_or_else(|| inner.to_string()));
        }
        // `io::Error::source` skips the error it wraps; rustls's errors reach sqlx in one.
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if let Some(reason) = failure(inner) {
                return Some(reason);
            }
        }
        cause = err.source();
    }
    None
}

/// One line at start: how the store is reached (never the URL, which may hold a password),
/// and whether the connection is encrypted (`prefer` and `allow` may end in plain TCP). A
/// mode that does not verify the server, to a host other than this one, is a warning.
pub async fn log_connection(
    pool: &PgPool,
    sslmode: &'static str,
    host: &str,
    socket: bool,
    files: Option<&UrlFiles>,
) {
    // pg_stat_ssl exists from PostgreSQL 9.5; a compatible database may lack it.
    let negotiated: Option<(bool, Option<String>)> =
        sqlx::query_as("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_optional(pool)
            .await
            .ok()
            .flatten();
    let encrypted = match &negotiated {
        Some((true, version)) => version.clone().unwrap_or_else(|| "yes".into()),
        Some((false, _)) => "no".into(),
        None => "unknown".into(),
    };
    let roots = match files {
        Some(f) if f.root_cert => "sslrootcert and the system's",
        Some(_) => "the system's",
        None => "as configured",
    };
    let client_certificate = files.is_some_and(|f| f.client_cert);
    let target = if socket { "a Unix socket" } else { host };
    tracing::info!(
        host = target,
        sslmode,
        encrypted = encrypted.as_str(),
        trusted_roots = roots,
        client_certificate,
        "connected to the PostgreSQL store"
    );
    let verifies = matches!(sslmode, "verify-ca" | "verify-full");
    if !verifies && !socket && !is_loopback(host) {
        tracing::warn!(
            host,
            sslmode,
            "the PostgreSQL store's certificate is not verified: anyone on the path can read or \
             change what openkms stores; use sslmode=verify-full (docs/postgres.md)"
        );
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_parameters_and_modes_are_refused_without_their_values() {
        let ok = check_url(
            "postgres://u:pw@db:5432/kms?sslmode=verify-full&options[search_path]=s&application_name=x",
        )
        .unwrap();
        assert_eq!(ok.client_cert, std::env::var_os("PGSSLCERT").is_some());
        for (url, named) in [
            ("postgres://db/kms?sslmod=verify-full", "sslmod"),
            ("postgres://db/kms?sslcrl=/etc/crl.pem", "sslcrl"),
            (
                "postgres://db/kms?sslmode=verify-full&sslpassword=hunter2",
                "sslpassword",
            ),
        ] {
            let err = check_url(url).unwrap_err().to_string();
            assert!(err.contains(named), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
        let err = check_url("postgres://db/kms?sslmode=hunter2")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("verify-full") && !err.contains("hunter2"),
            "{err}"
        );
    }

    #[test]
    fn tls_files_must_be_readable_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "x").unwrap();
        let files = check_url(&format!(
            "postgres://db/kms?sslmode=verify-full&sslrootcert={}",
            ca.display()
        ))
        .unwrap();
        assert!(files.root_cert);
        let missing = dir.path().join("missing.pem");
        let err = check_url(&format!(
            "postgres://db/kms?sslmode=verify-full&sslrootcert={}",
            missing.display()
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("sslrootcert") && err.contains("missing.pem"),
            "{err}"
        );
    }

    #[test]
    fn tls_failures_are_told_apart_from_an_unreachable_database() {
        let bad_cert = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let reason = failure(&sqlx::Error::Io(bad_cert)).unwrap();
        assert!(reason.contains("TLS verification"), "{reason}");
        let plain = sqlx::Error::Tls("server does not support TLS".into());
        assert_eq!(
            failure(&plain).as_deref(),
            Some("server does not support TLS")
        );
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(failure(&sqlx::Error::Io(refused)), None);
    }
}
