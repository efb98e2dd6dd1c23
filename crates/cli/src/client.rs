//! `openkms` client subcommands: call KMS, RAM and STS on a running server through the
//! project's own signer (V3), so an operator needs no SDK. The server and the caller's key are
//! found the way Alibaba's tools find them: `--endpoint` or `OPENKMS_ENDPOINT`, and
//! `ALIBABA_CLOUD_ACCESS_KEY_ID` / `ALIBABA_CLOUD_ACCESS_KEY_SECRET` (plus
//! `ALIBABA_CLOUD_SECURITY_TOKEN` for STS credentials), read from the environment only so a
//! secret never appears in a process listing.
//!
//! Replies are printed as the server's JSON; an error reply is printed too and makes the
//! command fail. An `https://` endpoint is verified against the system's CAs and `--ca-file`
//! (`transport.rs`).

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Subcommand;
use openkms_wire::endpoint::EndpointError;
use openkms_wire::signature::signer::{Call, Signer};
use openkms_wire::timefmt::format_unix;

use crate::transport::{EndpointArgs, Transport};

const KMS_VERSION: &str = "2016-01-20";
const RAM_VERSION: &str = "2015-05-01";
const STS_VERSION: &str = "2015-04-01";

/// Client commands.
#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Create a RAM user, and an access key for it with --with-access-key.
    CreateUser {
        #[command(flatten)]
        at: EndpointArgs,
        user_name: String,
        #[arg(long)]
        with_access_key: bool,
    },
    /// Attach a policy to a RAM user.
    AttachPolicy {
        #[command(flatten)]
        at: EndpointArgs,
        #[arg(long)]
        user: String,
        #[arg(long)]
        policy: String,
        /// `System` or `Custom`.
        #[arg(long, default_value = "Custom")]
        policy_type: String,
    },
    /// Assume a RAM role; prints the temporary credentials.
    AssumeRole {
        #[command(flatten)]
        at: EndpointArgs,
        #[arg(long)]
        role_arn: String,
        #[arg(long, default_value = "openkms-cli")]
        session_name: String,
        #[arg(long)]
        duration_seconds: Option<u64>,
        /// A session policy document (JSON text) that narrows the role.
        #[arg(long)]
        policy: Option<String>,
    },
    /// Print a secret's current value (SecretData).
    GetSecret {
        #[command(flatten)]
        at: EndpointArgs,
        secret_name: String,
        #[arg(long)]
        version_stage: Option<String>,
    },
    /// Call any action: `openkms call kms ListSecrets PageSize=10`.
    Call {
        #[command(flatten)]
        at: EndpointArgs,
        /// `kms`, `ram` or `sts`.
        api: String,
        action: String,
        /// Parameters as Name=Value.
        params: Vec<String>,
    },
}

/// A client failure: what to tell the operator.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0} is not set in the environment")]
    MissingCredential(&'static str),
    #[error("unknown API {0} (use kms, ram or sts)")]
    UnknownApi(String),
    #[error("parameter {0} is not Name=Value")]
    BadParam(String),
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error("{0:?} is neither a DNS name nor an IP address")]
    BadHost(String),
    #[error("cannot use the CA file {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error("cannot use the client certificate or key {path}: {reason}")]
    ClientCert { path: PathBuf, reason: String },
    #[error("--client-cert and --client-key must be given together")]
    ClientCertIncomplete,
    #[error(
        "{endpoint} requires a client certificate it trusts (mutual TLS): pass --client-cert \
         and --client-key, or set OPENKMS_CLIENT_CERT and OPENKMS_CLIENT_KEY"
    )]
    ClientCertRequired { endpoint: String },
    #[error("cannot reach {endpoint}: {source}")]
    Connect {
        endpoint: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "TLS verification of {endpoint} failed: {reason}; if its certificate comes from a \
         private CA (such as `openkms tls init`), pass --ca-file PATH or set OPENKMS_CA_FILE"
    )]
    TlsVerify { endpoint: String, reason: String },
    #[error("TLS with {endpoint} failed: {source}")]
    Tls {
        endpoint: String,
        #[source]
        source: rustls::Error,
    },
    #[error("the server's reply could not be read")]
    BadReply,
    #[error("the server refused the request (HTTP {status})")]
    Refused { status: u16 },
}

/// Runs a client command, printing replies to stdout.
pub fn run(command: ClientCommand) -> Result<(), ClientError> {
    let at = match &command {
        ClientCommand::CreateUser { at, .. }
        | ClientCommand::AttachPolicy { at, .. }
        | ClientCommand::AssumeRole { at, .. }
        | ClientCommand::GetSecret { at, .. }
        | ClientCommand::Call { at, .. } => at,
    };
    let client = Client::from_env(at)?;
    match command {
        ClientCommand::CreateUser {
            at: _,
            user_name,
            with_access_key,
        } => {
            client.print(RAM_VERSION, "CreateUser", &[("UserName", &user_name)])?;
            if with_access_key {
                client.print(RAM_VERSION, "CreateAccessKey", &[("UserName", &user_name)])?;
            }
            Ok(())
        }
        ClientCommand::AttachPolicy {
            at: _,
            user,
            policy,
            policy_type,
        } => client.print(
            RAM_VERSION,
            "AttachPolicyToUser",
            &[
                ("UserName", &user),
                ("PolicyName", &policy),
                ("PolicyType", &policy_type),
            ],
        ),
        ClientCommand::AssumeRole {
            at: _,
            role_arn,
            session_name,
            duration_seconds,
            policy,
        } => {
            let duration = duration_seconds.map(|d| d.to_string());
            let mut params = vec![
                ("RoleArn", role_arn.as_str()),
                ("RoleSessionName", &session_name),
            ];
            if let Some(d) = &duration {
                params.push(("DurationSeconds", d));
            }
            if let Some(p) = &policy {
                params.push(("Policy", p));
            }
            client.print(STS_VERSION, "AssumeRole", &params)
        }
        ClientCommand::GetSecret {
            at: _,
            secret_name,
            version_stage,
        } => {
            let mut params = vec![("SecretName", secret_name.as_str())];
            if let Some(s) = &version_stage {
                params.push(("VersionStage", s));
            }
            let body = client.call(KMS_VERSION, "GetSecretValue", &params)?;
            let value: serde_json::Value =
                serde_json::from_slice(&body).map_err(|_| ClientError::BadReply)?;
            let data = value
                .get("SecretData")
                .and_then(serde_json::Value::as_str)
                .ok_or(ClientError::BadReply)?;
            println!("{data}");
            Ok(())
        }
        ClientCommand::Call {
            at: _,
            api,
            action,
            params,
        } => {
            let version = match api.as_str() {
                "kms" => KMS_VERSION,
                "ram" => RAM_VERSION,
                "sts" => STS_VERSION,
                _ => return Err(ClientError::UnknownApi(api)),
            };
            let pairs = params
                .iter()
                .map(|p| {
                    p.split_once('=')
                        .ok_or_else(|| ClientError::BadParam(p.clone()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            client.print(version, &action, &pairs)
        }
    }
}

/// A signed-call client of one server with one key (also used by `openkms db-instance`).
pub(crate) struct Client {
    transport: Transport,
    access_key_id: String,
    secret: zeroize::Zeroizing<String>,
    token: Option<String>,
}

impl Client {
    pub(crate) fn new(
        at: &EndpointArgs,
        access_key_id: String,
        secret: zeroize::Zeroizing<String>,
    ) -> Result<Self, ClientError> {
        Ok(Self {
            transport: Transport::new(at)?,
            access_key_id,
            secret,
            token: None,
        })
    }

    pub(crate) fn from_env(at: &EndpointArgs) -> Result<Self, ClientError> {
        let var = |name: &'static str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Ok(Self {
            transport: Transport::new(at)?,
            access_key_id: var("ALIBABA_CLOUD_ACCESS_KEY_ID").ok_or(
                ClientError::MissingCredential("ALIBABA_CLOUD_ACCESS_KEY_ID"),
            )?,
            secret: zeroize::Zeroizing::new(var("ALIBABA_CLOUD_ACCESS_KEY_SECRET").ok_or(
                ClientError::MissingCredential("ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
            )?),
            token: var("ALIBABA_CLOUD_SECURITY_TOKEN"),
        })
    }

    /// Calls and prints the JSON reply.
    pub(crate) fn print(
        &self,
        version: &str,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<(), ClientError> {
        let body = self.call(version, action, params)?;
        println!("{}", String::from_utf8_lossy(&body));
        Ok(())
    }

    /// Signs (V3) and sends one call; the reply body on success.
    fn call(
        &self,
        version: &str,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<Vec<u8>, ClientError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let nonce = uuid::Uuid::new_v4().to_string();
        let signer = Signer {
            access_key_id: &self.access_key_id,
            secret: self.secret.as_bytes(),
            security_token: self.token.as_deref(),
        };
        let request = signed_request(
            &signer,
            &self.transport.authority(),
            version,
            action,
            params,
            &nonce,
            &format_unix(i64::try_from(now).unwrap_or(0)),
        );
        let reply = self.transport.exchange(&request)?;
        let (status, body) = parse_reply(&reply).ok_or(ClientError::BadReply)?;
        if status == 200 {
            Ok(body)
        } else {
            // The error body names Code and Message: show it before failing.
            eprintln!("{}", String::from_utf8_lossy(&body));
            Err(ClientError::Refused { status })
        }
    }
}

/// The bytes of one signed V3 call. Every action parameter travels in the form body, never in
/// the request target: proxies and access logs keep URLs, and SecretData, Plaintext, policy
/// documents and passwords must not land there (threat model rule 6). The target is a bare
/// `/`, as with `@alicloud/pop-core` POST; the body is signed through x-acs-content-sha256
/// and its content-type header is signed too.
fn signed_request(
    signer: &Signer<'_>,
    host: &str,
    version: &str,
    action: &str,
    params: &[(&str, &str)],
    nonce: &str,
    date: &str,
) -> Vec<u8> {
    let call = Call {
        method: "POST",
        host,
        action,
        version,
        query: Vec::new(),
        form: params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    };
    let signed = signer.sign_v3(&call, nonce, date);
    let mut request = b"POST / HTTP/1.1\r\n".to_vec();
    for (name, value) in &signed.headers {
        request.extend_from_slice(name.as_str().as_bytes());
        request.extend_from_slice(b": ");
        request.extend_from_slice(value.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(
        format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            signed.body.len()
        )
        .as_bytes(),
    );
    request.extend_from_slice(&signed.body);
    request
}

/// Status and body of an HTTP/1.1 reply read to the end (content-length or close-delimited).
fn parse_reply(reply: &[u8]) -> Option<(u16, Vec<u8>)> {
    let split = reply.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(reply.get(..split)?).ok()?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let body = reply.get(split.saturating_add(4)..)?.to_vec();
    let body = match crate::transport::content_length(head) {
        Some(n) => body.get(..n)?.to_vec(),
        None => body,
    };
    Some((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_travel_in_the_signed_body_never_in_the_url() {
        let signer = Signer {
            access_key_id: "ak",
            secret: b"secret",
            security_token: None,
        };
        let request = signed_request(
            &signer,
            "127.0.0.1:1",
            KMS_VERSION,
            "CreateSecret",
            &[("SecretName", "db"), ("SecretData", "hunter2 & more")],
            "nonce",
            "2026-01-01T00:00:00Z",
        );
        let text = String::from_utf8(request).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let request_line = head.lines().next().unwrap();
        assert_eq!(request_line, "POST / HTTP/1.1");
        assert!(!head.contains("hunter2") && !head.contains("SecretName"));
        assert_eq!(body, "SecretName=db&SecretData=hunter2%20%26%20more");
        let auth = head
            .lines()
            .find(|l| l.starts_with("authorization:"))
            .unwrap();
        assert!(auth.contains("content-type;"), "{auth}");
    }

    #[test]
    fn reads_a_content_length_reply() {
        let reply = b"HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\nContent-Length: 2\r\n\r\n{}extra";
        assert_eq!(parse_reply(reply), Some((403, b"{}".to_vec())));
        assert_eq!(parse_reply(b"garbage"), None);
    }

    /// One connection of a tiny server (TLS when configured): the request head it read, after
    /// answering `{}`.
    fn serve_once(
        listener: std::net::TcpListener,
        tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    ) -> std::thread::JoinHandle<Option<String>> {
        use std::io::{Read, Write};
        fn answer(mut s: impl Read + Write) -> Option<String> {
            let mut got = Vec::new();
            let mut chunk = [0u8; 4096];
            let head = loop {
                let n = s.read(&mut chunk).ok()?;
                if n == 0 {
                    return None;
                }
                got.extend_from_slice(&chunk[..n]);
                if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8(got[..end].to_vec()).ok()?;
                    let body = crate::transport::content_length(&head)?;
                    if got.len() >= end + 4 + body {
                        break head;
                    }
                }
            };
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                .ok()?;
            s.flush().ok()?;
            Some(head)
        }
        std::thread::spawn(move || {
            let (tcp, _) = listener.accept().ok()?;
            match tls {
                None => answer(tcp),
                Some(config) => {
                    let conn = rustls::ServerConnection::new(config).ok()?;
                    let mut stream = rustls::StreamOwned::new(conn, tcp);
                    let head = answer(&mut stream);
                    stream.conn.send_close_notify();
                    let _ = stream.flush();
                    head
                }
            }
        })
    }

    fn tls_server() -> (
        std::sync::Arc<rustls::ServerConfig>,
        crate::tls_init::Bundle,
    ) {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let bundle = crate::tls_init::generate(&crate::tls_init::Spec {
            dns: Vec::new(),
            ip: Vec::new(),
            days: 1,
            client: None,
        })
        .unwrap();
        let chain = CertificateDer::pem_slice_iter(bundle.server_chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(bundle.server_key_pem.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(crate::transport::tls_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        (std::sync::Arc::new(config), bundle)
    }

    fn client(endpoint: String, ca_file: Option<std::path::PathBuf>) -> Client {
        let at = EndpointArgs {
            endpoint,
            ca_file,
            client_cert: None,
            client_key: None,
        };
        Client::new(
            &at,
            "ak".to_owned(),
            zeroize::Zeroizing::new("s".to_owned()),
        )
        .unwrap()
    }

    #[test]
    fn calls_over_https_with_the_ca_file_and_names_the_host() {
        let (config, bundle) = tls_server();
        let tmp = tempfile::tempdir().unwrap();
        let ca = tmp.path().join("ca.pem");
        std::fs::write(&ca, &bundle.ca_pem).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = serve_once(listener, Some(config));
        let body = client(format!("https://localhost:{port}"), Some(ca))
            .call(KMS_VERSION, "ListSecrets", &[("PageSize", "1")])
            .unwrap();
        assert_eq!(body, b"{}");
        let head = server.join().unwrap().unwrap();
        assert!(
            head.lines().any(|l| l == format!("host: localhost:{port}")),
            "{head}"
        );
    }

    #[test]
    fn presents_its_client_certificate_to_a_server_that_requires_one() {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let bundle = crate::tls_init::generate(&crate::tls_init::Spec {
            dns: Vec::new(),
            ip: Vec::new(),
            days: 1,
            client: Some("ops".to_owned()),
        })
        .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(bundle.ca_pem.as_bytes()).unwrap())
            .unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            std::sync::Arc::new(roots),
            crate::transport::tls_provider(),
        )
        .build()
        .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(crate::transport::tls_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                CertificateDer::pem_slice_iter(bundle.server_chain_pem.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap(),
                PrivateKeyDer::from_pem_slice(bundle.server_key_pem.as_bytes()).unwrap(),
            )
            .unwrap();
        let config = std::sync::Arc::new(config);
        let tmp = tempfile::tempdir().unwrap();
        let (cert, key) = bundle.client.as_ref().unwrap();
        let paths = ["ca.pem", "client.pem", "client-key.pem"].map(|f| tmp.path().join(f));
        std::fs::write(&paths[0], &bundle.ca_pem).unwrap();
        std::fs::write(&paths[1], cert).unwrap();
        std::fs::write(&paths[2], key.as_bytes()).unwrap();
        let call = |identity: bool| {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let server = serve_once(listener, Some(config.clone()));
            let at = EndpointArgs {
                endpoint: format!("https://localhost:{port}"),
                ca_file: Some(paths[0].clone()),
                client_cert: identity.then(|| paths[1].clone()),
                client_key: identity.then(|| paths[2].clone()),
            };
            let result = Client::new(&at, "ak".into(), zeroize::Zeroizing::new("s".into()))
                .unwrap()
                .call(KMS_VERSION, "ListSecrets", &[]);
            (result, server.join().unwrap())
        };
        let (result, head) = call(true);
        assert_eq!(result.unwrap(), b"{}");
        assert!(head.is_some());
        let (result, head) = call(false);
        let err = result.unwrap_err();
        assert!(
            matches!(err, ClientError::ClientCertRequired { .. }),
            "{err}"
        );
        assert_eq!(head, None, "served without a client certificate");
        let half = EndpointArgs {
            endpoint: "https://localhost:1".into(),
            ca_file: None,
            client_cert: Some(paths[1].clone()),
            client_key: None,
        };
        let err = Client::new(&half, "ak".into(), zeroize::Zeroizing::new("s".into()))
            .err()
            .unwrap();
        assert!(matches!(err, ClientError::ClientCertIncomplete), "{err}");
    }

    #[test]
    fn https_without_the_ca_fails_as_a_verification_error() {
        let (config, _) = tls_server();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = serve_once(listener, Some(config));
        let err = client(format!("https://127.0.0.1:{port}"), None)
            .call(KMS_VERSION, "ListSecrets", &[])
            .unwrap_err();
        assert!(matches!(err, ClientError::TlsVerify { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("--ca-file") && text.contains("TLS verification"),
            "{text}"
        );
        assert_eq!(server.join().unwrap(), None);
    }

    #[test]
    fn bare_endpoints_stay_plain_http() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = serve_once(listener, None);
        let body = client(format!("127.0.0.1:{port}"), None)
            .call(KMS_VERSION, "ListSecrets", &[])
            .unwrap();
        assert_eq!(body, b"{}");
        let head = server.join().unwrap().unwrap();
        assert!(head.contains(&format!("host: 127.0.0.1:{port}")), "{head}");
    }

    #[test]
    fn bad_endpoints_and_ca_files_are_refused_before_any_connection() {
        let at = |endpoint: &str, ca: Option<&str>| EndpointArgs {
            endpoint: endpoint.to_owned(),
            ca_file: ca.map(Into::into),
            client_cert: None,
            client_key: None,
        };
        let secret = || zeroize::Zeroizing::new("s".to_owned());
        let err = Client::new(&at("ftp://h:1", None), "ak".into(), secret())
            .err()
            .unwrap();
        assert!(matches!(err, ClientError::Endpoint(_)), "{err}");
        let err = Client::new(
            &at("https://h:1", Some("/nonexistent/ca.pem")),
            "ak".into(),
            secret(),
        )
        .err()
        .unwrap();
        assert!(matches!(err, ClientError::CaFile { .. }), "{err}");
    }
}
