//! Redis ACL users: `ACL SETUSER <user> resetpass >password` keeps the user's other rules; a
//! missing clone gets the template's rules (from `ACL LIST`) without its passwords.

use redis::aio::MultiplexedConnection;
use redis::{
    ConnectionAddr, ConnectionInfo, ProtocolVersion, RedisConnectionInfo, TlsCertificates,
};

use crate::{Credential, Target, TargetError, TlsMode};

async fn connect(t: &Target, c: Credential<'_>) -> Result<MultiplexedConnection, TargetError> {
    let addr = match t.tls {
        TlsMode::Disabled => ConnectionAddr::Tcp(t.host.clone(), t.port),
        // Refused at registration: Redis serves TLS on a port of its own, with nothing to
        // negotiate; treated as `required` should a row hold it anyway.
        TlsMode::Preferred | TlsMode::Required => ConnectionAddr::TcpTls {
            host: t.host.clone(),
            port: t.port,
            insecure: true,
            tls_params: None,
        },
        TlsMode::VerifyIdentity => ConnectionAddr::TcpTls {
            host: t.host.clone(),
            port: t.port,
            insecure: false,
            tls_params: None,
        },
    };
    let info = ConnectionInfo {
        addr,
        redis: RedisConnectionInfo {
            db: 0,
            username: Some(c.account.to_owned()),
            // An empty admin password means the default user without a password.
            password: (!c.password.is_empty()).then(|| c.password.to_owned()),
            protocol: ProtocolVersion::RESP2,
        },
    };
    let client = match (&t.ca_pem, t.tls) {
        // With a CA, the driver trusts that CA alone (not the system's roots).
        (Some(ca), TlsMode::VerifyIdentity) => redis::Client::build_with_tls(
            info,
            TlsCertificates {
                client_tls: None,
                root_cert: Some(ca.as_bytes().to_vec()),
            },
        ),
        _ => redis::Client::open(info),
    }
    .map_err(|e| TargetError::Invalid(format!("redis client for {}: {e}", t.address)))?;
    client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| {
            let refusal =
                (e.kind() == redis::ErrorKind::AuthenticationFailed).then(|| e.to_string());
            t.login_failed(e, refusal)
        })
}

pub async fn verify(t: &Target, c: Credential<'_>) -> Result<(), TargetError> {
    if c.password.is_empty() {
        return Err(t.refused(
            "the login",
            "an empty password is never a rotated credential",
        ));
    }
    let mut conn = connect(t, c).await?;
    redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .map_err(|e| t.refused("PING", e))?;
    Ok(())
}

pub async fn set_password(
    t: &Target,
    admin: Credential<'_>,
    target: Credential<'_>,
    template: Option<&str>,
) -> Result<(), TargetError> {
    let mut conn = connect(t, admin).await?;
    let users: Vec<String> = redis::cmd("ACL")
        .arg("LIST")
        .query_async(&mut conn)
        .await
        .map_err(|e| t.refused("ACL LIST", e))?;
    let mut cmd = redis::cmd("ACL");
    cmd.arg("SETUSER").arg(target.account);
    if rules_of(&users, target.account).is_some() {
        cmd.arg("resetpass");
    } else {
        let template = template.ok_or_else(|| t.no_such_account(target.account))?;
        let rules = rules_of(&users, template).ok_or_else(|| t.no_such_account(template))?;
        cmd.arg("reset");
        for rule in rules {
            cmd.arg(rule);
        }
    }
    cmd.arg(format!(">{}", target.password));
    cmd.query_async::<()>(&mut conn)
        .await
        .map_err(|e| t.refused("ACL SETUSER", e))?;
    Ok(())
}

/// A user's rules from `ACL LIST` lines (`user <name> on #<hash> ~* &* +@all`), without the
/// password rules, so a clone never shares the template's password.
fn rules_of<'a>(lines: &'a [String], user: &str) -> Option<Vec<&'a str>> {
    lines.iter().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some("user") && words.next() == Some(user)).then(|| {
            words
                .filter(|w| !w.starts_with('#') && !w.starts_with('>') && *w != "nopass")
                .collect()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_s_rules_are_copied_without_its_passwords() {
        let lines = vec![
            "user default on nopass ~* &* +@all".to_owned(),
            "user app on #5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8 ~app:* resetchannels -@all +get +set".to_owned(),
        ];
        assert_eq!(
            rules_of(&lines, "app").unwrap(),
            vec!["on", "~app:*", "resetchannels", "-@all", "+get", "+set"]
        );
        assert_eq!(
            rules_of(&lines, "default").unwrap(),
            vec!["on", "~*", "&*", "+@all"]
        );
        assert!(rules_of(&lines, "ap").is_none());
    }
}
