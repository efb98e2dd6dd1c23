//! `openkms tls init`: a development CA and the certificates it signs, so a test setup gets
//! HTTPS without a public CA. The CA's private key only ever lives in this process: with it gone,
//! the CA can sign nothing more, so trusting `ca.pem` trusts exactly the certificates written
//! here. Re-running init makes a new CA and set.

use std::fs;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType, PKCS_ECDSA_P256_SHA256,
};
use zeroize::Zeroizing;

const CA_DAYS: u32 = 3650;
/// Backdating absorbs clock differences between the machine that ran init and its clients.
const BACKDATE: time::Duration = time::Duration::hours(1);

#[derive(Debug, Args)]
pub struct TlsArgs {
    #[command(subcommand)]
    command: TlsCommand,
}

#[derive(Debug, Subcommand)]
enum TlsCommand {
    /// Write a development CA (ca.pem), a server certificate chain signed by it (server.pem,
    /// server-key.pem) and, with --client, a client certificate for mutual TLS. The CA's
    /// private key is not kept.
    Init(InitArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory for the files (created with mode 0700 if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// A DNS name the server certificate is valid for (repeatable; the first is also its CN).
    /// Without --dns and --ip: localhost, 127.0.0.1 and ::1.
    #[arg(long = "dns", value_name = "NAME", value_parser = parse_dns_name)]
    dns: Vec<String>,
    /// An IP address the server certificate is valid for (repeatable).
    #[arg(long = "ip", value_name = "ADDR")]
    ip: Vec<IpAddr>,
    /// Days the server and client certificates stay valid (the CA: 3650).
    #[arg(long, default_value_t = 825, value_parser = clap::value_parser!(u32).range(1..=i64::from(CA_DAYS)))]
    days: u32,
    /// Also write client.pem and client-key.pem: a client certificate with this common name,
    /// for servers that require mutual TLS.
    #[arg(long, value_name = "NAME")]
    client: Option<String>,
    /// Replace files a previous init left in DIR.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsInitError {
    #[error("cannot make the certificates: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{0} already exists; pass --force to replace the whole set")]
    Exists(PathBuf),
    #[error("cannot create the directory {path}: {source}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn parse_dns_name(text: &str) -> Result<String, String> {
    if text.parse::<IpAddr>().is_ok() {
        return Err(format!("{text} is an IP address: give it with --ip"));
    }
    rustls_pki_types::DnsName::try_from(text)
        .map(|_| text.to_ascii_lowercase())
        .map_err(|_| format!("{text:?} is not a valid DNS name"))
}

/// What the certificates name and how long they last.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub dns: Vec<String>,
    pub ip: Vec<IpAddr>,
    pub days: u32,
    pub client: Option<String>,
}

/// The PEM texts init writes; private keys in zeroizing strings.
pub(crate) struct Bundle {
    pub ca_pem: String,
    /// The server certificate followed by the CA's.
    pub server_chain_pem: String,
    pub server_key_pem: Zeroizing<String>,
    pub client: Option<(String, Zeroizing<String>)>,
}

impl Spec {
    /// The names to certify: those given, else the loopback names.
    fn names(&self) -> (Vec<String>, Vec<IpAddr>) {
        if self.dns.is_empty() && self.ip.is_empty() {
            (
                vec!["localhost".to_owned()],
                vec![
                    IpAddr::V4(Ipv4Addr::LOCALHOST),
                    IpAddr::V6(Ipv6Addr::LOCALHOST),
                ],
            )
        } else {
            (self.dns.clone(), self.ip.clone())
        }
    }
}

/// Makes a fresh CA and the certificates it signs, in memory. The CA key is dropped on return.
pub(crate) fn generate(spec: &Spec) -> Result<Bundle, rcgen::Error> {
    let now = time::OffsetDateTime::now_utc();
    let not_before = now - BACKDATE;
    let leaf_until = now + time::Duration::days(i64::from(spec.days));

    let mut ca = CertificateParams::default();
    ca.distinguished_name = common_name("openkms development CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = not_before;
    ca.not_after = now + time::Duration::days(i64::from(CA_DAYS));
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?)?;
    let ca_pem = ca.pem();

    let (dns, ip) = spec.names();
    let mut server = CertificateParams::default();
    let cn = dns
        .first()
        .cloned()
        .or_else(|| ip.first().map(IpAddr::to_string))
        .unwrap_or_default();
    server.distinguished_name = common_name(&cn);
    server.subject_alt_names = dns
        .iter()
        .map(|d| Ia5String::try_from(d.as_str()).map(SanType::DnsName))
        .chain(ip.iter().map(|a| Ok(SanType::IpAddress(*a))))
        .collect::<Result<_, _>>()?;
    let server = leaf(
        server,
        ExtendedKeyUsagePurpose::ServerAuth,
        not_before,
        leaf_until,
    );
    let server_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let server_cert = server.signed_by(&server_key, &ca)?;

    let client = match &spec.client {
        None => None,
        Some(name) => {
            let mut client = CertificateParams::default();
            client.distinguished_name = common_name(name);
            let client = leaf(
                client,
                ExtendedKeyUsagePurpose::ClientAuth,
                not_before,
                leaf_until,
            );
            let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
            let cert = client.signed_by(&key, &ca)?;
            Some((cert.pem(), Zeroizing::new(key.serialize_pem())))
        }
    };

    Ok(Bundle {
        server_chain_pem: format!("{}{ca_pem}", server_cert.pem()),
        ca_pem,
        server_key_pem: Zeroizing::new(server_key.serialize_pem()),
        client,
    })
}

fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

/// An end-entity certificate for one purpose (ECDSA signs the handshake: digitalSignature).
fn leaf(
    mut p: CertificateParams,
    purpose: ExtendedKeyUsagePurpose,
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
) -> CertificateParams {
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![purpose];
    p.use_authority_key_identifier_extension = true;
    p.not_before = not_before;
    p.not_after = not_after;
    p
}

/// One file of the set: name, content, whether it is a private key.
struct Output<'a> {
    name: &'static str,
    content: &'a str,
    private: bool,
}

pub fn run(args: TlsArgs) -> Result<(), TlsInitError> {
    match args.command {
        TlsCommand::Init(init) => {
            let spec = Spec {
                dns: init.dns,
                ip: init.ip,
                days: init.days,
                client: init.client,
            };
            init_dir(&init.out, &spec, init.force)?;
            print_guide(&init.out, &spec);
            Ok(())
        }
    }
}

/// Writes the set into `dir`: nothing is written when a file exists and `force` is off.
pub(crate) fn init_dir(dir: &Path, spec: &Spec, force: bool) -> Result<(), TlsInitError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| TlsInitError::Dir {
        path: dir.to_owned(),
        source,
    })?;

    let bundle = generate(spec)?;
    let mut outputs = vec![
        Output {
            name: "ca.pem",
            content: &bundle.ca_pem,
            private: false,
        },
        Output {
            name: "server.pem",
            content: &bundle.server_chain_pem,
            private: false,
        },
        Output {
            name: "server-key.pem",
            content: &bundle.server_key_pem,
            private: true,
        },
    ];
    if let Some((cert, key)) = &bundle.client {
        outputs.push(Output {
            name: "client.pem",
            content: cert,
            private: false,
        });
        outputs.push(Output {
            name: "client-key.pem",
            content: key,
            private: true,
        });
    }

    // Checked for the whole set first: a refused run leaves the old set whole, not mixed.
    if !force {
        if let Some(o) = outputs.iter().find(|o| dir.join(o.name).exists()) {
            return Err(TlsInitError::Exists(dir.join(o.name)));
        }
    }
    if force {
        // A client certificate of an earlier set would name a CA that no longer exists.
        for stale in ["client.pem", "client-key.pem"] {
            if !outputs.iter().any(|o| o.name == stale) {
                remove_if_present(&dir.join(stale)).map_err(|source| TlsInitError::Write {
                    path: dir.join(stale),
                    source,
                })?;
            }
        }
    }
    let mut written = Vec::new();
    for o in &outputs {
        let path = dir.join(o.name);
        if let Err(source) = write_new(&path, o.content, o.private, force) {
            // A half-written set would pair a server certificate with the wrong CA.
            for p in &written {
                let _ = fs::remove_file(p);
            }
            return Err(TlsInitError::Write { path, source });
        }
        written.push(path);
    }
    Ok(())
}

/// Creates `path` anew (O_EXCL: never through a symlink an attacker placed), a private key
/// with mode 0600 from its creation so it is never readable by others, even briefly.
fn write_new(path: &Path, content: &str, private: bool, force: bool) -> std::io::Result<()> {
    if force {
        remove_if_present(path)?;
    }
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = opts.open(path)?;
    file.write_all(content.as_bytes())?;
    file.sync_all()
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn print_guide(dir: &Path, spec: &Spec) {
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    let d = dir.display();
    let (dns, ip) = spec.names();
    let names = dns
        .iter()
        .map(|n| format!("DNS:{n}"))
        .chain(ip.iter().map(|a| format!("IP:{a}")))
        .collect::<Vec<_>>()
        .join(", ");
    let host = dns
        .first()
        .cloned()
        .or_else(|| {
            ip.first().map(|a| match a {
                IpAddr::V6(v6) => format!("[{v6}]"),
                IpAddr::V4(v4) => v4.to_string(),
            })
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let days = spec.days;
    println!(
        "Wrote in {d}:\n  \
         ca.pem          the development CA certificate (valid {CA_DAYS} days): give it to clients\n  \
         server.pem      the server certificate for {names} (valid {days} days), then the CA's\n  \
         server-key.pem  the server's private key (mode 0600)"
    );
    if let Some(client) = &spec.client {
        println!(
            "  client.pem      a client certificate, CN={client} (valid {days} days), for mutual TLS\n  \
             client-key.pem  its private key (mode 0600)"
        );
    }
    println!(
        "\nThe CA's private key was not saved anywhere: a leaked development CA key could mint\n\
         certificates for any name, Alibaba's hosts included, that every client trusting ca.pem\n\
         would accept. To add names or renew, run `openkms tls init` again (--force replaces\n\
         the files) and give clients the new ca.pem.\n\
         \n\
         Serve HTTPS:\n  \
         openkms serve --tls-cert {d}/server.pem --tls-key {d}/server-key.pem"
    );
    if spec.client.is_some() {
        println!(
            "  add --tls-client-ca {d}/ca.pem to require client certificates (client.pem, client-key.pem)"
        );
    }
    println!(
        "\nMake clients trust the CA:\n  \
         Python, Tea SDKs (alibabacloud_*), alibabacloud-credentials, secretsmanager-client-v2:\n  \
                                            export SSL_CERT_FILE={d}/ca.pem (or Config(ca=...))\n  \
         Python, classic aliyun-python-sdk-core: export ALIBABA_CLOUD_CA_BUNDLE={d}/ca.pem (or AcsClient(verify=...))\n  \
         Node:                              export NODE_EXTRA_CA_CERTS={d}/ca.pem\n  \
         openkms CLI:                       --ca-file {d}/ca.pem (or OPENKMS_CA_FILE) with --endpoint https://{host}:PORT\n  \
         system store (Debian/Ubuntu):      sudo cp {d}/ca.pem /usr/local/share/ca-certificates/openkms-dev.crt\n                                     \
         sudo update-ca-certificates\n\
         \n\
         Clients that cannot change their endpoint: name Alibaba's host in the certificate\n\
         (openkms tls init --dns kms.cn-hangzhou.aliyuncs.com ...), map it to this server in the\n\
         hosts file (127.0.0.1 kms.cn-hangzhou.aliyuncs.com in /etc/hosts) and serve on port 443."
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::danger::ServerCertVerifier;
    use rustls::client::WebPkiServerVerifier;
    use rustls::server::WebPkiClientVerifier;
    use rustls::RootCertStore;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
    use std::sync::Arc;

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        crate::transport::tls_provider()
    }

    fn spec(dns: &[&str], ip: &[&str], client: Option<&str>) -> Spec {
        Spec {
            dns: dns.iter().map(|s| (*s).to_owned()).collect(),
            ip: ip.iter().map(|s| s.parse().unwrap()).collect(),
            days: 30,
            client: client.map(str::to_owned),
        }
    }

    fn certs(path: &Path) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_file_iter(path)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn roots(dir: &Path) -> Arc<RootCertStore> {
        let mut roots = RootCertStore::empty();
        for c in certs(&dir.join("ca.pem")) {
            roots.add(c).unwrap();
        }
        Arc::new(roots)
    }

    fn verify_server(dir: &Path, name: &str) -> Result<(), rustls::Error> {
        let verifier = WebPkiServerVerifier::builder_with_provider(roots(dir), provider())
            .build()
            .unwrap();
        let chain = certs(&dir.join("server.pem"));
        let (leaf, rest) = chain.split_first().unwrap();
        verifier
            .verify_server_cert(
                leaf,
                rest,
                &ServerName::try_from(name.to_owned()).unwrap(),
                &[],
                UnixTime::now(),
            )
            .map(|_| ())
    }

    #[test]
    fn files_parse_and_the_chain_verifies_for_the_given_names_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("tls");
        init_dir(
            &dir,
            &spec(
                &["kms.test", "kms.cn-hangzhou.aliyuncs.com"],
                &["10.0.0.7"],
                None,
            ),
            false,
        )
        .unwrap();
        assert_eq!(certs(&dir.join("ca.pem")).len(), 1);
        let chain = certs(&dir.join("server.pem"));
        assert_eq!(chain.len(), 2, "server.pem is the leaf then the CA");
        assert_eq!(chain.get(1), certs(&dir.join("ca.pem")).first());
        let key = PrivateKeyDer::from_pem_file(dir.join("server-key.pem")).unwrap();
        assert!(matches!(key, PrivateKeyDer::Pkcs8(_)));
        for name in ["kms.test", "kms.cn-hangzhou.aliyuncs.com", "10.0.0.7"] {
            verify_server(&dir, name).unwrap();
        }
        for name in ["localhost", "other.test", "127.0.0.1"] {
            assert!(verify_server(&dir, name).is_err(), "{name}");
        }
        assert!(!dir.join("client.pem").exists());
    }

    #[test]
    fn defaults_to_the_loopback_names() {
        let tmp = tempfile::tempdir().unwrap();
        init_dir(tmp.path(), &spec(&[], &[], None), false).unwrap();
        for name in ["localhost", "127.0.0.1", "::1"] {
            verify_server(tmp.path(), name).unwrap();
        }
    }

    #[test]
    fn client_certificate_verifies_for_client_auth_and_the_server_one_does_not() {
        let tmp = tempfile::tempdir().unwrap();
        init_dir(tmp.path(), &spec(&[], &[], Some("app-1")), false).unwrap();
        let verifier = WebPkiClientVerifier::builder_with_provider(roots(tmp.path()), provider())
            .build()
            .unwrap();
        let client = certs(&tmp.path().join("client.pem"));
        let ca = certs(&tmp.path().join("ca.pem"));
        verifier
            .verify_client_cert(client.first().unwrap(), &[], UnixTime::now())
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(tmp.path().join("client-key.pem")).unwrap();
        assert!(matches!(key, PrivateKeyDer::Pkcs8(_)));
        // Each leaf is good for its own purpose only (extended key usage).
        let server = certs(&tmp.path().join("server.pem"));
        assert!(verifier
            .verify_client_cert(server.first().unwrap(), &ca, UnixTime::now())
            .is_err());
    }

    #[cfg(unix)]
    #[test]
    fn private_keys_and_the_directory_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("new");
        init_dir(&dir, &spec(&[], &[], Some("c")), false).unwrap();
        let mode = |name: &str| fs::metadata(dir.join(name)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("server-key.pem"), 0o600);
        assert_eq!(mode("client-key.pem"), 0o600);
        assert_eq!(mode("ca.pem"), 0o644);
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }

    #[test]
    fn refuses_to_overwrite_without_force() {
        let tmp = tempfile::tempdir().unwrap();
        let s = spec(&[], &[], None);
        init_dir(tmp.path(), &s, false).unwrap();
        let before = fs::read_to_string(tmp.path().join("ca.pem")).unwrap();
        let err = init_dir(tmp.path(), &s, false).unwrap_err();
        assert!(matches!(err, TlsInitError::Exists(_)), "{err}");
        assert_eq!(
            fs::read_to_string(tmp.path().join("ca.pem")).unwrap(),
            before
        );
        // Even one stray file of the set stops the run before anything is written.
        let other = tempfile::tempdir().unwrap();
        fs::write(other.path().join("client-key.pem"), "x").unwrap();
        let err = init_dir(other.path(), &spec(&[], &[], Some("c")), false).unwrap_err();
        assert!(matches!(err, TlsInitError::Exists(_)), "{err}");
        assert!(!other.path().join("ca.pem").exists());

        init_dir(tmp.path(), &spec(&[], &[], Some("c")), true).unwrap();
        assert!(tmp.path().join("client.pem").exists());
        // A forced set without --client leaves no client certificate of the old CA behind.
        init_dir(tmp.path(), &s, true).unwrap();
        assert!(!tmp.path().join("client.pem").exists());
        assert!(!tmp.path().join("client-key.pem").exists());
        assert_ne!(
            fs::read_to_string(tmp.path().join("ca.pem")).unwrap(),
            before
        );
        verify_server(tmp.path(), "localhost").unwrap();
    }

    #[test]
    fn dns_names_are_checked() {
        assert_eq!(parse_dns_name("KMS.test").unwrap(), "kms.test");
        assert!(parse_dns_name("127.0.0.1").is_err());
        assert!(parse_dns_name("bad name").is_err());
    }
}
