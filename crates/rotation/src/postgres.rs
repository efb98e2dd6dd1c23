//! PostgreSQL: `ALTER ROLE ... PASSWORD`; a missing clone is created as a login role that is
//! a member of its template, so it inherits the template's privileges.

use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{Connection, Executor};

use crate::{sql, Credential, Target, TargetError, TlsMode};

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
    PgConnection::connect_with(&opts)
        .await
        .map_err(|e| sql::login_error(t, e))
}

pub async fn verify(t: &Target, c: Credential<'_>) -> Result<(), TargetError> {
    sql::select_one(t, connect(t, c).await?).await
}

pub async fn set_password(
    t: &Target,
    admin: Credential<'_>,
    target: Credential<'_>,
    template: Option<&str>,
) -> Result<(), TargetError> {
    // Statements go through `Executor` methods (see the MySQL module for why).
    let mut conn = connect(t, admin).await?;
    let (step, sql) = if role_exists(t, &mut conn, target.account).await? {
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
        if !role_exists(t, &mut conn, template).await? {
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
}

async fn role_exists(t: &Target, conn: &mut PgConnection, role: &str) -> Result<bool, TargetError> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_roles WHERE rolname = $1")
        .bind(role.to_owned())
        .fetch_optional(conn)
        .await
        .map_err(|e| t.refused("reading pg_roles", e))?;
    Ok(found.is_some())
}
