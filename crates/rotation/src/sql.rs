//! What the SQL engines share once connected: how a failed login reads, and the probe that
//! checks a credential.

use sqlx::{Connection, Executor};

use crate::{Target, TargetError};

/// A failed sqlx login: the server's own message when it answered and refused.
pub(crate) fn login_error(t: &Target, e: sqlx::Error) -> TargetError {
    let refusal = e.as_database_error().map(|d| d.message().to_owned());
    t.login_failed(e, refusal)
}

/// Runs `SELECT 1` on a fresh login and closes it. Through `Executor`, as every statement here
/// (see the MySQL module for why).
pub(crate) async fn select_one<C>(t: &Target, mut conn: C) -> Result<(), TargetError>
where
    C: Connection,
    for<'c> &'c mut C: Executor<'c, Database = C::Database>,
{
    conn.execute(sqlx::raw_sql("SELECT 1"))
        .await
        .map_err(|e| t.refused("SELECT 1", e))?;
    let _ = conn.close().await;
    Ok(())
}
