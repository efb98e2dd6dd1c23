//! The registry of database instances that managed rotation can reach. Alibaba's API has no
//! such action (RDS has its own control plane); openkms serves it as its own actions, for the
//! account's root key only, so `openkms db-instance` can manage it on a running server.

use openkms_domain::{SecretName, ValidationError};
use openkms_rotation::{Engine, RegisterError, Target, TlsMode};
use openkms_store::DbInstanceRecord;

use crate::{Caller, Error, Service};

/// Instance ids: what RDS, PolarDB and Redis ids look like (letters, digits, `-`, `_`).
fn check_instance_id(id: &str) -> Result<(), Error> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(
            ValidationError::invalid("DBInstanceId", "must be 1-64 letters, digits, '-' or '_'")
                .into(),
        )
    }
}

/// OpenkmsAddDbInstance parameters as received.
#[derive(Debug, Default, Clone, Copy)]
pub struct DbInstanceInput<'a> {
    pub instance_id: &'a str,
    pub engine: &'a str,
    pub address: &'a str,
    pub admin_secret: &'a str,
    pub tls: TlsInput<'a>,
}

/// How openkms reaches a database instance over TLS, as received.
#[derive(Debug, Default, Clone, Copy)]
pub struct TlsInput<'a> {
    /// `None`: the secure default (`openkms_rotation::tls::default_mode`).
    pub mode: Option<&'a str>,
    /// PEM certificates trusted to sign the instance's certificate.
    pub ca: Option<&'a str>,
}

/// A registered database instance, as the registry actions report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbInstanceView {
    pub instance_id: String,
    /// `mysql`, `postgresql` or `redis`.
    pub engine: String,
    pub address: String,
    /// The secret holding the admin credential.
    pub admin_secret: String,
    pub created_at: i64,
    pub tls_mode: String,
    /// Whether the instance has its own CA certificates (the PEM itself is not repeated).
    pub tls_ca_configured: bool,
}

impl From<DbInstanceRecord> for DbInstanceView {
    fn from(r: DbInstanceRecord) -> Self {
        Self {
            instance_id: r.instance_id,
            engine: r.engine.name().to_owned(),
            address: r.address,
            admin_secret: r.admin_secret,
            created_at: r.created_at,
            tls_mode: r.tls_mode.name().to_owned(),
            tls_ca_configured: r.tls_ca.is_some(),
        }
    }
}

fn root_only(caller: &Caller, what: &'static str) -> Result<(), Error> {
    if caller.principal == "root" {
        Ok(())
    } else {
        Err(Error::RootOnly { what })
    }
}

impl Service {
    /// Registers a database instance for rotation. The admin secret must exist (its value is
    /// read at each rotation, so it can itself be rotated with PutSecretValue). Without a TLS
    /// mode the instance gets the secure default, decided by the rotation crate for every
    /// caller alike: verify-identity, or disabled on a loopback host.
    pub async fn add_db_instance(
        &self,
        caller: &Caller,
        input: DbInstanceInput<'_>,
    ) -> Result<DbInstanceView, Error> {
        let DbInstanceInput {
            instance_id,
            engine,
            address,
            admin_secret,
            tls:
                TlsInput {
                    mode: tls_mode,
                    ca: tls_ca,
                },
        } = input;
        root_only(caller, "register database instances")?;
        check_instance_id(instance_id)?;
        let engine = Engine::parse(engine).ok_or_else(|| {
            ValidationError::invalid("Engine", "must be mysql, postgresql or redis")
        })?;
        let mode = tls_mode
            .map(|m| {
                TlsMode::parse(m).ok_or_else(|| {
                    ValidationError::invalid("TlsMode", format!("must be {}", TlsMode::NAMES))
                })
            })
            .transpose()?;
        // An empty parameter is no CA, as a client that always sends the field would mean.
        let tls_ca = tls_ca.filter(|pem| !pem.trim().is_empty());
        let target = Target::register(engine, address, mode, tls_ca).map_err(|e| match e {
            RegisterError::Address(m) => ValidationError::invalid("Address", m),
            RegisterError::TlsMode(m) => ValidationError::invalid("TlsMode", m),
            RegisterError::TlsCa(m) => ValidationError::invalid("TlsCaCertificate", m),
        })?;
        let admin = SecretName::parse(admin_secret)?;
        self.store
            .secret(admin.as_str())
            .await?
            .ok_or(Error::SecretNotFound)?;
        let rec = DbInstanceRecord {
            instance_id: instance_id.to_owned(),
            engine,
            address: address.to_owned(),
            admin_secret: admin.as_str().to_owned(),
            created_at: self.now(),
            tls_mode: target.tls_mode(),
            tls_ca: tls_ca.map(str::to_owned),
        };
        if !self.store.add_db_instance(rec.clone()).await? {
            return Err(Error::DbInstanceExists {
                instance_id: instance_id.to_owned(),
            });
        }
        Ok(rec.into())
    }

    /// Every registered database instance.
    pub async fn list_db_instances(&self, caller: &Caller) -> Result<Vec<DbInstanceView>, Error> {
        root_only(caller, "list database instances")?;
        let rows = self.store.db_instances().await?;
        Ok(rows.into_iter().map(DbInstanceView::from).collect())
    }

    /// Forgets a database instance; its secrets keep their values, and their rotations answer
    /// that the instance is not registered.
    pub async fn remove_db_instance(
        &self,
        caller: &Caller,
        instance_id: &str,
    ) -> Result<(), Error> {
        root_only(caller, "remove database instances")?;
        check_instance_id(instance_id)?;
        if self.store.remove_db_instance(instance_id).await? {
            Ok(())
        } else {
            Err(Error::DbInstanceNotRegistered {
                instance_id: instance_id.to_owned(),
            })
        }
    }
}
