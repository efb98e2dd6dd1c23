//! Rotation targets: the systems whose account passwords a managed secret rotates. Each
//! engine knows three things: set an account's password (creating the account as a copy of
//! another's privileges when asked, for the DoubleUsers clone), and check that a credential
//! logs in. Every operation is bounded by a timeout, so a target that is down fails fast
//! and the scheduler retries later.
//!
//! Passwords cross this crate as `&str` because the drivers take them so; callers generate
//! them from an alphabet that needs no quoting (letters and digits), and account names are
//! checked by [`check_account_name`] before they reach any statement.

mod mysql;
mod postgres;
mod redis_acl;

use std::time::Duration;

/// What the target operations return.
pub type BoxFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), TargetError>> + Send + 'a>>;

/// How long one connection or statement may take before the target counts as unreachable.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The kinds of system a registered instance can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// MySQL or MariaDB.
    Mysql,
    Postgresql,
    Redis,
}

impl Engine {
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "mysql" | "mariadb" => Some(Self::Mysql),
            "postgresql" | "postgres" => Some(Self::Postgresql),
            "redis" => Some(Self::Redis),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Mysql => "mysql",
            Self::Postgresql => "postgresql",
            Self::Redis => "redis",
        }
    }
}

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
    #[error("{0}")]
    Invalid(String),
}

/// A registered instance to rotate passwords on.
#[derive(Debug, Clone)]
pub struct Target {
    engine: Engine,
    host: String,
    port: u16,
    /// PostgreSQL database to connect to (`host:port/db`); `postgres` when not given.
    database: Option<String>,
    address: String,
}

impl Target {
    /// A target at `address`: `host:port`, or `host:port/database` for PostgreSQL.
    pub fn new(engine: Engine, address: &str) -> Result<Self, TargetError> {
        let (hostport, database) = match address.split_once('/') {
            Some((hp, db)) if !db.is_empty() => (hp, Some(db.to_owned())),
            _ => (address, None),
        };
        let invalid = || {
            TargetError::Invalid(format!(
                "address {address:?} must be HOST:PORT (PostgreSQL: HOST:PORT or HOST:PORT/DATABASE)"
            ))
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
            match self.engine {
                Engine::Mysql => mysql::set_password(self, admin, target, template).await,
                Engine::Postgresql => postgres::set_password(self, admin, target, template).await,
                Engine::Redis => redis_acl::set_password(self, admin, target, template).await,
            }
        })
    }

    /// Logs in with `credential` and runs a trivial command.
    pub fn verify<'a>(&'a self, credential: Credential<'a>) -> BoxFuture<'a> {
        Box::pin(async move {
            match self.engine {
                Engine::Mysql => mysql::verify(self, credential).await,
                Engine::Postgresql => postgres::verify(self, credential).await,
                Engine::Redis => redis_acl::verify(self, credential).await,
            }
        })
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
        tokio::time::timeout(TIMEOUT, f)
            .await
            .map_err(|_| self.unreachable(format!("no answer within {}s", TIMEOUT.as_secs())))?
    }
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

    #[test]
    fn addresses_parse_with_an_optional_postgres_database() {
        let t = Target::new(Engine::Postgresql, "127.0.0.1:5432/test").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 5432));
        assert_eq!(t.database.as_deref(), Some("test"));
        let t = Target::new(Engine::Mysql, "[::1]:3306").unwrap();
        assert_eq!(t.host, "::1");
        for bad in ["localhost", "h:port", ":1", "h:70000"] {
            assert!(Target::new(Engine::Mysql, bad).is_err(), "{bad}");
        }
        assert!(Target::new(Engine::Redis, "h:6379/db").is_err());
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
