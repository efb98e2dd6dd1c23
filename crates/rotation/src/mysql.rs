//! MySQL and MariaDB: `ALTER USER` for every host entry of the account; a missing clone is
//! created per host of its template and given the template's grants.

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlRow, MySqlSslMode};
use sqlx::{Connection, Executor, Row};

use crate::{sql, Credential, Target, TargetError, TlsMode};

async fn connect(t: &Target, c: Credential<'_>) -> Result<MySqlConnection, TargetError> {
    let mut opts = MySqlConnectOptions::new()
        .host(&t.host)
        .port(t.port)
        .username(c.account)
        .ssl_mode(match t.tls {
            TlsMode::Disabled => MySqlSslMode::Disabled,
            TlsMode::Preferred => MySqlSslMode::Preferred,
            TlsMode::Required => MySqlSslMode::Required,
            TlsMode::VerifyIdentity => MySqlSslMode::VerifyIdentity,
        });
    if let Some(ca) = &t.ca_pem {
        opts = opts.ssl_ca_from_pem(ca.as_bytes().to_vec());
    }
    // An empty admin password means an account without one, which must not be sent at all.
    if !c.password.is_empty() {
        opts = opts.password(c.password);
    }
    MySqlConnection::connect_with(&opts)
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
    // Statements go through `Executor` methods: `RawSql`'s own async methods make the
    // future's `Send` bound higher-ranked, which the server's spawned tasks cannot meet.
    let mut conn = connect(t, admin).await?;
    let mut hosts = hosts_of(t, &mut conn, target.account).await?;
    if hosts.is_empty() {
        let Some(template) = template else {
            return Err(t.no_such_account(target.account));
        };
        hosts = hosts_of(t, &mut conn, template).await?;
        if hosts.is_empty() {
            return Err(t.no_such_account(template));
        }
        for host in &hosts {
            let create = format!(
                "CREATE USER {} IDENTIFIED BY '{}'",
                user_at(target.account, host),
                target.password
            );
            conn.execute(sqlx::raw_sql(&create))
                .await
                .map_err(|e| t.refused("CREATE USER", e))?;
            let show = format!("SHOW GRANTS FOR {}", user_at(template, host));
            let rows = conn
                .fetch_all(sqlx::raw_sql(&show))
                .await
                .map_err(|e| t.refused("SHOW GRANTS", e))?;
            for grant in texts(t, &rows)? {
                if let Some(sql) = clone_grant(&grant, template, target.account, host) {
                    conn.execute(sqlx::raw_sql(&sql))
                        .await
                        .map_err(|e| t.refused("GRANT", e))?;
                }
            }
        }
    }
    for host in &hosts {
        let sql = format!(
            "ALTER USER {} IDENTIFIED BY '{}'",
            user_at(target.account, host),
            target.password
        );
        conn.execute(sqlx::raw_sql(&sql))
            .await
            .map_err(|e| t.refused("ALTER USER", e))?;
    }
    let _ = conn.close().await;
    Ok(())
}

/// The hosts `account` has an entry for: none when there is no such account.
async fn hosts_of(
    t: &Target,
    conn: &mut MySqlConnection,
    account: &str,
) -> Result<Vec<String>, TargetError> {
    let rows = sqlx::query("SELECT CAST(Host AS CHAR) FROM mysql.user WHERE User = ?")
        .bind(account.to_owned())
        .fetch_all(conn)
        .await
        .map_err(|e| t.refused("reading mysql.user", e))?;
    texts(t, &rows)
}

/// The template's GRANT statement re-addressed to the clone, without the template's
/// password clause (MariaDB prints `IDENTIFIED BY PASSWORD '<hash>'` on the USAGE line).
fn clone_grant(grant: &str, template: &str, clone: &str, host: &str) -> Option<String> {
    if !grant.starts_with("GRANT ") {
        return None;
    }
    let mut out = grant.to_owned();
    for (from, to) in [
        (
            format!("`{template}`@`{host}`"),
            format!("`{clone}`@`{host}`"),
        ),
        (
            format!("'{template}'@'{host}'"),
            format!("'{clone}'@'{host}'"),
        ),
    ] {
        out = out.replace(&from, &to);
    }
    if let Some(at) = out.find(" IDENTIFIED BY PASSWORD") {
        out.truncate(at);
    }
    Some(out)
}

fn user_at(account: &str, host: &str) -> String {
    // The host comes from mysql.user; quote it as a string literal.
    let host = host.replace('\\', "\\\\").replace('\'', "''");
    format!("'{account}'@'{host}'")
}

/// The first column of each row as text (MariaDB reports some as binary strings).
fn texts(t: &Target, rows: &[MySqlRow]) -> Result<Vec<String>, TargetError> {
    rows.iter()
        .map(|row| {
            row.try_get::<String, _>(0)
                .or_else(|_| {
                    row.try_get::<Vec<u8>, _>(0)
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                })
                .map_err(|e| t.refused("reading a row", e))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_grant_is_readdressed_to_the_clone_without_its_password() {
        assert_eq!(
            clone_grant(
                "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*ABCDEF'",
                "app",
                "app_clone",
                "%"
            )
            .as_deref(),
            Some("GRANT USAGE ON *.* TO `app_clone`@`%`")
        );
        assert_eq!(
            clone_grant(
                "GRANT SELECT, INSERT ON `test`.* TO 'app'@'10.%'",
                "app",
                "app_clone",
                "10.%"
            )
            .as_deref(),
            Some("GRANT SELECT, INSERT ON `test`.* TO 'app_clone'@'10.%'")
        );
        assert_eq!(clone_grant("REVOKE x", "a", "b", "%"), None);
    }

    #[test]
    fn hosts_are_quoted_as_literals() {
        assert_eq!(user_at("app", "%"), "'app'@'%'");
        assert_eq!(user_at("app", "a'b\\"), "'app'@'a''b\\\\'");
    }
}
