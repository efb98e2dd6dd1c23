//! PostgreSQL: `ALTER ROLE ... PASSWORD`; a missing clone is created as a login role that is
//! a member of its template, so it inherits the template's privileges.

use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{Connection, Executor};

use crate::{check_generated_password, Credential, Target, TargetError};

async fn connect(t: &Target, c: Credential<'_>) -> Result<PgConnection, TargetError> {
    // Plain TCP: TLS to targets is not built in (see docs/rotation.md).
    let mut opts = PgConnectOptions::new()
        .host(&t.host)
        .port(t.port)
        .username(c.account)
        .database(t.database.as_deref().unwrap_or("postgres"))
        .ssl_mode(PgSslMode::Disable);
    if !c.password.is_empty() {
        opts = opts.password(c.password);
    }
    PgConnection::connect_with(&opts)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) => t.refused("the login", d.message()),
            other => t.unreachable(other),
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
