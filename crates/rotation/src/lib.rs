//! Rotation targets: the systems whose account passwords a managed secret rotates. Each
//! engine knows three things: set an account's password (creating the account as a copy of
//! another's privileges when asked, for the DoubleUsers clone), and check that a credential
//! logs in. Every operation is bounded by a timeout, so a target that is down fails fast
//! and the scheduler retries later.
//!
//! Passwords cross this crate as `&str` because the drivers take them so; callers generate
//! them from an alphabet that needs no quoting (letters and digits), and account names are
//! checked by [`check_account_name`] before they reach any statement.
//!
//! Every connection (the admin's and each verification login) uses the instance's TLS
//! settings ([`TlsMode`], an optional CA); a TLS failure is [`TargetError::Tls`], never a
//! reason to try again in plain text.

mod mysql;
mod postgres;
mod redis_acl;
mod sql;
pub mod tls;

pub use openkms_domain::db_instance::{Engine, TlsMode};

use std::time::Duration;

/// What the target operations return.
pub type BoxFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), TargetError>> + Send + 'a>>;

/// How long one connection or statement may take before the target counts as unreachable.
const TIMEOUT: Duration = Duration::from_secs(5);

/// An account and its password.
#[derive(Clone, Copy)]
pub struct Credential<'a> {
    pub account: &'a str,
    pub password: &'a str,
}

impl std::fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("account", &self.account)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// Why a target operation failed. Messages name the target and the step, never a password.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{engine} at {address} is unreachable: {reason}")]
    Unreachable {
        engine: &'static str,
        address: String,
        reason: String,
    },
    #[error("{engine} at {address} refused {step}: {reason}")]
    Refused {
        engine: &'static str,
        address: String,
        step: &'static str,
        reason: String,
    },
    #[error("account {account:?} does not exist on {engine} at {address}")]
    NoSuchAccount {
        engine: &'static str,
        address: String,
        account: String,
    },
    /// TLS was asked for and failed: the certificate did not verify, the handshake failed, or
    /// the server does not speak TLS.
    #[error("{engine} at {address} (TLS mode {mode}): {reason}")]
    Tls {
        engine: &'static str,
        address: String,
        mode: &'static str,
        reason: String,
    },
    #[error("{0}")]
    Invalid(String),
}

/// Why a new registration was refused, by the setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("{0}")]
    Address(String),
    #[error("{0}")]
    TlsMode(String),
    #[error("{0}")]
    TlsCa(String),
}

/// A registered instance to rotate passwords on.
#[derive(Clone)]
pub struct Target {
    engine: Engine,
    host: String,
    port: u16,
    /// PostgreSQL database to connect to (`host:port/db`); `postgres` when not given.
    database: Option<String>,
    address: String,
    tls: TlsMode,
    /// PEM certificates trusted to sign the server's certificate (with `VerifyIdentity`).
    ca_pem: Option<String>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("engine", &self.engine)
            .field("address", &self.address)
            .field("tls", &self.tls)
            .field("ca", &self.ca_pem.is_some())
            .finish()
    }
}

impl Target {
    /// A registered target: `address` is `host:port` (PostgreSQL: `host:port/database`;
    /// Redis: also `rediss://host:port`), with the TLS settings it was registered with.
    pub fn new(
        engine: Engine,
        address: &str,
        tls: TlsMode,
        ca_pem: Option<&str>,
    ) -> Result<Self, TargetError> {
        let mut target = Self::at(engine, address)?;
        let tls_scheme = address.starts_with("rediss://");
        check_tls(engine, tls_scheme, tls, ca_pem.is_some()).map_err(TargetError::Invalid)?;
        if let Some(pem) = ca_pem {
            tls::check_ca_pem(pem)
                .map_err(|e| TargetError::Invalid(format!("the TLS CA certificate {e}")))?;
        }
        target.tls = tls;
        target.ca_pem = ca_pem.map(str::to_owned);
        Ok(target)
    }

    /// A new registration: checks the address and TLS settings; `tls` `None` takes the
    /// secure default ([`tls::default_mode`]). The mode to record is [`Target::tls_mode`].
    pub fn register(
        engine: Engine,
        address: &str,
        tls: Option<TlsMode>,
        ca_pem: Option<&str>,
    ) -> Result<Self, RegisterError> {
        let mut target =
            Self::at(engine, address).map_err(|e| RegisterError::Address(e.to_string()))?;
        let tls_scheme = address.starts_with("rediss://");
        let mode =
            tls.unwrap_or_else(|| tls::default_mode(&target.host, tls_scheme, ca_pem.is_some()));
        check_tls(engine, tls_scheme, mode, ca_pem.is_some()).map_err(RegisterError::TlsMode)?;
        if let Some(pem) = ca_pem {
            tls::check_ca_pem(pem).map_err(RegisterError::TlsCa)?;
        }
        target.tls = mode;
        target.ca_pem = ca_pem.map(str::to_owned);
        Ok(target)
    }

    /// The TLS mode connections use.
    pub fn tls_mode(&self) -> TlsMode {
        self.tls
    }

    /// Address parsing alone; TLS stays disabled until the callers above set it.
    fn at(engine: Engine, address: &str) -> Result<Self, TargetError> {
        let invalid = || {
            TargetError::Invalid(format!(
                "address {address:?} must be HOST:PORT (PostgreSQL: HOST:PORT or HOST:PORT/DATABASE; \
                 Redis: also redis://HOST:PORT or rediss://HOST:PORT)"
            ))
        };
        let bare = match engine {
            Engine::Redis => address
                .strip_prefix("rediss://")
                .or_else(|| address.strip_prefix("redis://"))
                .unwrap_or(address),
            _ => address,
        };
        let (hostport, database) = match bare.split_once('/') {
            Some((hp, db)) if !db.is_empty() => (hp, Some(db.to_owned())),
            _ => (bare, None),
        };
        let (host, port) = hostport.rsplit_once(':').ok_or_else(invalid)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port: u16 = port.parse().map_err(|_| invalid())?;
        if host.is_empty() || (database.is_some() && engine != Engine::Postgresql) {
            return Err(invalid());
        }
        Ok(Self {
            engine,
            host: host.to_owned(),
            port,
            database,
            address: address.to_owned(),
            tls: TlsMode::Disabled,
            ca_pem: None,
        })
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Sets `target`'s password, connected as `admin`. When the account does not exist and
    /// `template` names one that does, creates it with the template's privileges (the
    /// DoubleUsers clone); otherwise a missing account is [`TargetError::NoSuchAccount`].
    ///
    /// Boxed: callers hold one `Send` future instead of each driver's nested future types.
    pub fn set_password<'a>(
        &'a self,
        admin: Credential<'a>,
        target: Credential<'a>,
        template: Option<&'a str>,
    ) -> BoxFuture<'a> {
        Box::pin(async move {
            check_account_name(target.account)?;
            if let Some(t) = template {
                check_account_name(t)?;
            }
            check_generated_password(target.password)?;
            self.timed(async {
                match self.engine {
                    Engine::Mysql => mysql::set_password(self, admin, target, template).await,
                    Engine::Postgresql => {
                        postgres::set_password(self, admin, target, template).await
                    }
                    Engine::Redis => redis_acl::set_password(self, admin, target, template).await,
                }
            })
            .await
        })
    }

    /// Logs in with `credential` and runs a trivial command.
    pub fn verify<'a>(&'a self, credential: Credential<'a>) -> BoxFuture<'a> {
        Box::pin(self.timed(async move {
            match self.engine {
                Engine::Mysql => mysql::verify(self, credential).await,
                Engine::Postgresql => postgres::verify(self, credential).await,
                Engine::Redis => redis_acl::verify(self, credential).await,
            }
        }))
    }

    fn unreachable(&self, reason: impl std::fmt::Display) -> TargetError {
        TargetError::Unreachable {
            engine: self.engine.name(),
            address: self.address.clone(),
            reason: reason.to_string(),
        }
    }

    fn refused(&self, step: &'static str, reason: impl std::fmt::Display) -> TargetError {
        TargetError::Refused {
            engine: self.engine.name(),
            address: self.address.clone(),
            step,
            reason: reason.to_string(),
        }
    }

    /// The driver error as a [`TargetError::Tls`] when TLS failed; `None` otherwise.
    fn tls_failure(&self, e: &(dyn std::error::Error + 'static)) -> Option<TargetError> {
        if self.tls == TlsMode::Disabled {
            return None;
        }
        tls::failure(e).map(|reason| TargetError::Tls {
            engine: self.engine.name(),
            address: self.address.clone(),
            mode: self.tls.name(),
            reason,
        })
    }

    /// A failed login: TLS when TLS failed, else `refusal` (the server's answer) when there is
    /// one, else the target did not answer.
    fn login_failed(
        &self,
        e: impl std::error::Error + 'static,
        refusal: Option<String>,
    ) -> TargetError {
        if let Some(tls) = self.tls_failure(&e) {
            return tls;
        }
        match refusal {
            Some(reason) => self.refused("the login", reason),
            None => self.unreachable(e),
        }
    }

    fn no_such_account(&self, account: &str) -> TargetError {
        TargetError::NoSuchAccount {
            engine: self.engine.name(),
            address: self.address.clone(),
            account: account.to_owned(),
        }
    }

    /// Runs `f` under the target timeout.
    async fn timed<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, TargetError>>,
    ) -> Result<T, TargetError> {
        tokio::time::timeout(TIMEOUT, f).await.map_err(|_| {
            // A plain Redis port reads a TLS ClientHello as an unfinished command and waits.
            let hint = match self.tls {
                TlsMode::Disabled => String::new(),
                mode => format!(
                    " (TLS mode {}: a port that does not speak TLS may never answer the \
                     handshake)",
                    mode.name()
                ),
            };
            self.unreachable(format!("no answer within {}s{hint}", TIMEOUT.as_secs()))
        })?
    }
}

/// Settings that contradict each other or the engine.
fn check_tls(engine: Engine, tls_scheme: bool, mode: TlsMode, ca: bool) -> Result<(), String> {
    if engine == Engine::Redis && mode == TlsMode::Preferred {
        return Err(
            "Redis has no negotiated TLS (a TLS port is a port of its own): use disabled, \
             required or verify-identity"
                .into(),
        );
    }
    if tls_scheme && mode == TlsMode::Disabled {
        return Err("a rediss:// address asks for TLS: TLS mode disabled contradicts it".into());
    }
    if ca && mode != TlsMode::VerifyIdentity {
        return Err(format!(
            "a TLS CA certificate serves only to verify the server: it needs TLS mode \
             verify-identity, not {}",
            mode.name()
        ));
    }
    Ok(())
}

/// Account names go into SQL and ACL statements as identifiers, so only a plain alphabet
/// is accepted: letters, digits, `_`, `-` and `.`, 1–64 characters, not starting with `-`.
pub fn check_account_name(name: &str) -> Result<(), TargetError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(TargetError::Invalid(format!(
            "account name {name:?} must be 1-64 letters, digits, '_', '-' or '.'"
        )))
    }
}

/// Passwords go into statements as literals; rotation generates them from letters and
/// digits, and an admin password is only ever passed to a driver, never into a statement.
fn check_generated_password(password: &str) -> Result<(), TargetError> {
    if !password.is_empty() && password.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(TargetError::Invalid(
            "a rotated password must be letters and digits".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(engine: Engine, address: &str) -> Result<Target, TargetError> {
        Target::new(engine, address, TlsMode::Disabled, None)
    }

    #[test]
    fn addresses_parse_with_an_optional_postgres_database() {
        let t = plain(Engine::Postgresql, "127.0.0.1:5432/test").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 5432));
        assert_eq!(t.database.as_deref(), Some("test"));
        let t = plain(Engine::Mysql, "[::1]:3306").unwrap();
        assert_eq!(t.host, "::1");
        for bad in ["localhost", "h:port", ":1", "h:70000", "rediss://h:1"] {
            assert!(plain(Engine::Mysql, bad).is_err(), "{bad}");
        }
        assert!(plain(Engine::Redis, "h:6379/db").is_err());
        let t = plain(Engine::Redis, "redis://cache.internal:6379").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("cache.internal", 6379));
    }

    fn registered(engine: Engine, address: &str, mode: Option<&str>) -> Result<TlsMode, String> {
        Target::register(engine, address, mode.and_then(TlsMode::parse), None)
            .map(|t| t.tls_mode())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_registration_without_a_mode_verifies_unless_on_loopback() {
        use TlsMode::*;
        for (engine, address, want) in [
            (Engine::Mysql, "10.0.0.5:3306", VerifyIdentity),
            (Engine::Postgresql, "db.internal:5432/app", VerifyIdentity),
            (Engine::Redis, "cache.internal:6379", VerifyIdentity),
            (Engine::Mysql, "127.0.0.1:3306", Disabled),
            (Engine::Postgresql, "localhost:5432/app", Disabled),
            (Engine::Redis, "[::1]:6379", Disabled),
            (Engine::Redis, "rediss://127.0.0.1:6380", VerifyIdentity),
        ] {
            assert_eq!(registered(engine, address, None), Ok(want), "{address}");
        }
        // Plaintext to another host is allowed when asked for.
        assert_eq!(
            registered(Engine::Mysql, "10.0.0.5:3306", Some("disabled")),
            Ok(Disabled)
        );
        assert_eq!(
            registered(Engine::Redis, "rediss://10.0.0.7:6380", Some("required")),
            Ok(Required)
        );
    }

    #[test]
    fn contradictory_tls_settings_are_refused_by_setting() {
        let err = Target::register(
            Engine::Redis,
            "10.0.0.7:6379",
            Some(TlsMode::Preferred),
            None,
        )
        .unwrap_err();
        assert!(matches!(err, RegisterError::TlsMode(_)), "{err}");
        let err = Target::register(
            Engine::Redis,
            "rediss://10.0.0.7:6380",
            Some(TlsMode::Disabled),
            None,
        )
        .unwrap_err();
        assert!(matches!(err, RegisterError::TlsMode(_)), "{err}");
        let ca = tls::tests_support::ca_pem();
        let err = Target::register(
            Engine::Mysql,
            "10.0.0.5:3306",
            Some(TlsMode::Required),
            Some(&ca),
        )
        .unwrap_err();
        assert!(err.to_string().contains("verify-identity"), "{err}");
        // A CA alone asks for verification, on loopback too.
        let t = Target::register(Engine::Mysql, "127.0.0.1:3306", None, Some(&ca)).unwrap();
        assert_eq!(t.tls_mode(), TlsMode::VerifyIdentity);
        let err = Target::register(Engine::Mysql, "10.0.0.5:3306", None, Some("nope")).unwrap_err();
        assert!(matches!(err, RegisterError::TlsCa(_)), "{err}");
        let err = Target::register(Engine::Mysql, "10.0.0.5", None, None).unwrap_err();
        assert!(matches!(err, RegisterError::Address(_)), "{err}");
        assert!(!format!("{t:?}").contains("BEGIN"));
    }

    #[test]
    fn account_names_that_could_escape_a_statement_are_refused() {
        for ok in ["app", "app_clone", "svc.reader", "a-1"] {
            assert!(check_account_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a'b",
            "a\"b",
            "a b",
            "a`b",
            "-x",
            "a;drop",
            &"x".repeat(65),
        ] {
            assert!(check_account_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_plain_generated_passwords_reach_a_statement() {
        assert!(check_generated_password("Abc123").is_ok());
        for bad in ["", "a'b", "a\\b", "a b"] {
            assert!(check_generated_password(bad).is_err());
        }
    }

    #[test]
    fn credentials_do_not_print_their_password() {
        let c = Credential {
            account: "app",
            password: "hunter2",
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
