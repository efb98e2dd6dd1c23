//! TLS to rotation targets: the mode a registered instance asks for, the secure default of a
//! new registration, the CA certificate it may carry, and how a driver's TLS failure is told
//! apart from an unreachable target.

use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::CertificateDer;

pub use openkms_domain::db_instance::TlsMode;

/// The mode of a new registration that did not name one. Decided here only, so the CLI and a
/// raw API caller get the same answer: a CA certificate or a `rediss://` address asks for
/// verification; a loopback host cannot be reached by anyone in between, and the databases
/// most installations run beside openkms have no certificate, so it stays plain; every other
/// host gets TLS with verification, and plaintext there must be asked for explicitly.
pub fn default_mode(host: &str, tls_scheme: bool, ca_given: bool) -> TlsMode {
    if tls_scheme || ca_given || !is_loopback(host) {
        TlsMode::VerifyIdentity
    } else {
        TlsMode::Disabled
    }
}

/// `localhost`, 127.0.0.0/8 and ::1 (also as an IPv4-mapped address).
pub fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") || host.eq_ignore_ascii_case("localhost.") {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

/// The largest CA text accepted: a bundle of a few dozen certificates.
const MAX_CA_PEM: usize = 64 * 1024;

/// Checks that `pem` holds one or more X.509 certificates and nothing else (a private key
/// pasted by mistake must not end up in the registry). The message never quotes the text.
pub fn check_ca_pem(pem: &str) -> Result<(), String> {
    if pem.len() > MAX_CA_PEM {
        return Err(format!("must be at most {MAX_CA_PEM} bytes of PEM"));
    }
    let mut store = rustls::RootCertStore::empty();
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem.as_bytes()) {
        let (kind, der) = section.map_err(|e| format!("is not valid PEM ({e})"))?;
        if kind != SectionKind::Certificate {
            return Err(format!(
                "must hold only CERTIFICATE blocks, found a {kind:?} block"
            ));
        }
        store
            .add(CertificateDer::from(der))
            .map_err(|e| format!("holds a certificate that does not parse ({e})"))?;
    }
    if store.is_empty() {
        return Err("must hold at least one PEM CERTIFICATE block".into());
    }
    Ok(())
}

/// Why TLS failed, when `e` (or an error it wraps) is a TLS failure: verification of the
/// server's certificate, a failed handshake, or a server without TLS when TLS is required.
/// Such a failure is the configuration's (or an attacker's), never a reason to retry in plain.
pub fn failure(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause = Some(e);
    while let Some(err) = cause {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return Some(describe(t));
        }
        if let Some(sqlx::Error::Tls(inner)) = err.downcast_ref::<sqlx::Error>() {
            if let Some(reason) = failure(inner.as_ref()) {
                return Some(reason);
            }
            return Some(format!("TLS failed: {inner}"));
        }
        // `io::Error::source` skips the error it wraps; rustls hands its errors to the
        // drivers wrapped in one.
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

fn describe(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(_) => format!(
            "TLS verification of the server's certificate failed ({e}): check the instance's \
             TLS CA certificate and that the address names a host the certificate is for"
        ),
        other => format!("the TLS handshake failed ({other})"),
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    /// A self-signed certificate, as PEM.
    pub fn ca_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        rcgen::CertificateParams::new(vec!["ca.test".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap()
            .pem()
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::ca_pem as test_cert_pem;
    use super::*;

    #[test]
    fn modes_parse_by_their_names_only() {
        for m in [
            TlsMode::Disabled,
            TlsMode::Preferred,
            TlsMode::Required,
            TlsMode::VerifyIdentity,
        ] {
            assert_eq!(TlsMode::parse(m.name()), Some(m));
        }
        assert_eq!(
            TlsMode::parse("VERIFY-IDENTITY"),
            Some(TlsMode::VerifyIdentity)
        );
        for bad in [
            "",
            "verify-full",
            "verify_identity",
            "on",
            "true",
            "verify-ca",
        ] {
            assert_eq!(TlsMode::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for h in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "localhost",
            "LocalHost",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "10.0.0.5",
            "128.0.0.1",
            "db.internal",
            "localhost.example.com",
            "::2",
            "0.0.0.0",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn the_default_verifies_everywhere_but_on_loopback() {
        assert_eq!(
            default_mode("10.0.0.5", false, false),
            TlsMode::VerifyIdentity
        );
        assert_eq!(
            default_mode("db.internal", false, false),
            TlsMode::VerifyIdentity
        );
        assert_eq!(default_mode("127.0.0.1", false, false), TlsMode::Disabled);
        assert_eq!(default_mode("localhost", false, false), TlsMode::Disabled);
        // A CA or a rediss:// address asks for verification, on loopback too.
        assert_eq!(default_mode("::1", false, true), TlsMode::VerifyIdentity);
        assert_eq!(default_mode("::1", true, false), TlsMode::VerifyIdentity);
    }

    #[test]
    fn a_ca_must_be_certificates_only() {
        let cert = test_cert_pem();
        assert!(check_ca_pem(&cert).is_ok());
        assert!(check_ca_pem(&format!("{cert}{cert}")).is_ok());
        let empty = check_ca_pem("no pem here").unwrap_err();
        assert!(empty.contains("at least one"), "{empty}");
        let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
        let err = check_ca_pem(&format!("{cert}{key}")).unwrap_err();
        assert!(err.contains("only CERTIFICATE"), "{err}");
        assert!(!err.contains("BEGIN"), "{err}");
        let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(check_ca_pem(garbage).is_err());
        assert!(check_ca_pem(&"x".repeat(MAX_CA_PEM + 1)).is_err());
    }

    #[test]
    fn tls_failures_are_found_inside_driver_errors() {
        let cert_error = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, cert_error);
        let reason = failure(&sqlx::Error::Io(io)).unwrap();
        assert!(reason.contains("TLS verification"), "{reason}");
        let redis_io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName),
        );
        let reason = failure(&redis::RedisError::from(redis_io)).unwrap();
        assert!(reason.contains("TLS verification"), "{reason}");
        let reason = failure(&sqlx::Error::Tls("server does not support TLS".into())).unwrap();
        assert!(reason.contains("does not support TLS"), "{reason}");
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(failure(&sqlx::Error::Io(refused)), None);
    }
}
