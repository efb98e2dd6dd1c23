//! PostgreSQL: `ALTER ROLE ... PASSWORD`; a missing clone is created as a login role that is
//! a member of its template, so it inherits the template's privileges.

use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{Connection, Executor};

use crate::{check_generated_password, Credential, Target, TargetError, TlsMode};

async fn connect(t: &Target, c: Credential<'_>) -> Result<PgConnection, TargetError> {
    let mut opts = PgConnectOptions::new()
        .host(&t.host)
        .port(t.port)
        .username(c.account)
        .database(t.database.as_deref().unwrap_or("postgres"))
        .ssl_mode(match t.tls {
            TlsMode::Disabled => PgSslMode::Disable,
            TlsMode::Preferred => PgSslMode::Prefer,
            TlsMode::Required => PgSslMode::Require,
            TlsMode::VerifyIdentity => PgSslMode::VerifyFull,
        });
    if let Some(ca) = &t.ca_pem {
        opts = opts.ssl_root_cert_from_pem(ca.as_bytes().to_vec());
    }
    if !c.password.is_empty() {
        opts = opts.password(c.password);
    }
    PgConnection::connect_with(&opts).await.map_err(|e| {
        if let Some(tls) = t.tls_failure(&e) {
            return tls;
        }
        match e {
            sqlx::Error::Database(d) => t.refused("the login", d.message()),
            other => t.unreachable(other),
        }
    })
}

pub async fn verify(t: &Target, c: Credential<'_>) -> Result<(), TargetError> {
    t.timed(async {
        let mut conn = connect(t, c).await?;
        conn.execute(sqlx::raw_sql("SELECT 1"))
            .await
            .map_err(|e| t.refused("SELECT 1", e))?;
        let _ = conn.close().await;
        Ok(())
    })
    .await
}

pub async fn set_password(
    t: &Target,
    admin: Credential<'_>,
    target: Credential<'_>,
    template: Option<&str>,
) -> Result<(), TargetError> {
    check_generated_password(target.password)?;
    // Statements go through `Executor` methods (see the MySQL module for why).
    t.timed(async {
        let mut conn = connect(t, admin).await?;
        let exists_sql = "SELECT 1 FROM pg_roles WHERE rolname = $1";
        let exists: Option<i32> = sqlx::query_scalar(exists_sql)
            .bind(target.account.to_owned())
            .fetch_optional(&mut conn)
            .await
            .map_err(|e| t.refused("reading pg_roles", e))?;
        let (step, sql) = if exists.is_some() {
            (
                "ALTER ROLE",
                format!(
                    "ALTER ROLE \"{}\" WITH PASSWORD '{}'",
                    target.account, target.password
                ),
            )
        } else {
            let Some(template) = template else {
                return Err(t.no_such_account(target.account));
            };
            let found: Option<i32> = sqlx::query_scalar(exists_sql)
                .bind(template.to_owned())
                .fetch_optional(&mut conn)
                .await
                .map_err(|e| t.refused("reading pg_roles", e))?;
            if found.is_none() {
                return Err(t.no_such_account(template));
            }
            (
                "CREATE ROLE",
                format!(
                    "CREATE ROLE \"{}\" LOGIN INHERIT PASSWORD '{}' IN ROLE \"{template}\"",
                    target.account, target.password
                ),
            )
        };
        conn.execute(sqlx::raw_sql(&sql))
            .await
            .map_err(|e| t.refused(step, e))?;
        let _ = conn.close().await;
        Ok(())
    })
    .await
}
