//! `openkms-loadgen`: a closed-loop load generator for openkms (or any server speaking the
//! Alibaba Cloud KMS API 2016-01-20).
//!
//! N connections, each its own HTTP/1.1 keep-alive connection with one request in flight, send
//! signed requests (a fresh nonce and the current time on every one, V3 by default) for a fixed
//! duration after a warm-up; every answer is checked. It reports throughput, latency
//! percentiles from an HDR histogram, and, given the server's pid, the server's CPU per request.
//!
//! `--endpoint https://…` runs the same load over TLS; `--new-connection-per-request` opens (and
//! for HTTPS fully handshakes) a connection for every request, to measure handshake cost.
//!
//! The generator runs on one thread by default (`--threads 1`): on a small machine the server
//! should get the other cores, and one thread drives dozens of connections.

mod connection;
mod cpu;
mod dialer;
mod report;
mod run;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use http::StatusCode;
use openkms_wire::endpoint::Endpoint;

use crate::report::{Report, Setup};
use crate::run::Plan;
use crate::workload::{Credentials, Operation, SignatureVersion, Target};

#[derive(Parser)]
#[command(
    name = "openkms-loadgen",
    version,
    about = "Closed-loop load generator for the openkms KMS API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read one secret with signed GetSecretValue requests.
    GetSecretValue(LoadArgs),
    /// Write new versions of one secret with signed PutSecretValue requests (a fresh VersionId
    /// each, SecretData in the form body).
    PutSecretValue(LoadArgs),
    /// Create new secrets named `<secret-name>/<uuid>` with signed CreateSecret requests (to
    /// fill a store, e.g. for list latency at 100 000 secrets).
    CreateSecrets(LoadArgs),
    /// Encrypt --value-bytes of data (at most 6144) under one key with signed Encrypt
    /// requests; `--key-id`, or `--create` to make a key first.
    Encrypt(LoadArgs),
    /// Decrypt one CiphertextBlob (made by one Encrypt first) with signed Decrypt requests;
    /// `--key-id`, or `--create` to make a key first.
    Decrypt(LoadArgs),
}

#[derive(Args, Debug)]
struct LoadArgs {
    /// The server: `https://HOST[:PORT]`, `http://HOST[:PORT]` or `HOST:PORT` (plain HTTP);
    /// its host[:port] is the signed Host header.
    #[arg(long, default_value = "127.0.0.1:8080")]
    endpoint: String,
    /// A PEM file of CA certificates trusted for an https:// endpoint besides the system's.
    #[arg(long, env = "OPENKMS_CA_FILE", value_name = "PATH")]
    ca_file: Option<PathBuf>,
    /// Open a new connection for every request (sent with `Connection: close`), to measure
    /// connection setup: over HTTPS each one is a full TLS handshake, session resumption being
    /// off. Latency then includes the connect and the handshake.
    #[arg(long)]
    new_connection_per_request: bool,
    /// Access key id that signs the requests.
    #[arg(long, env = "OPENKMS_LOADGEN_ACCESS_KEY_ID")]
    access_key_id: String,
    /// Access key secret (prefer the variable: a flag shows in the process list).
    #[arg(
        long,
        env = "OPENKMS_LOADGEN_ACCESS_KEY_SECRET",
        hide_env_values = true
    )]
    access_key_secret: String,
    /// Concurrent connections, one request in flight on each.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    connections: u32,
    /// Measured time, e.g. 10s, 500ms, 1.5m (a bare number is seconds).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Unmeasured time first (connect, warm caches).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// The secret read or written.
    #[arg(long, default_value = "bench/secret")]
    secret_name: String,
    /// Spread get/put over this many secrets, `<secret-name>-<n>` (connection i uses n = i mod
    /// N); --create makes them all.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    secrets: u32,
    /// The key of encrypt/decrypt (id, alias/… or ARN).
    #[arg(long)]
    key_id: Option<String>,
    /// Size of SecretData for --create and put-secret-value, and of the plaintext of
    /// encrypt/decrypt (random printable ASCII).
    #[arg(long, default_value_t = 1024)]
    value_bytes: usize,
    /// Signature scheme of every request.
    #[arg(long, value_enum, default_value_t = SignatureVersion::V3)]
    signature: SignatureVersion,
    /// Create the secret first (CreateSecret; an existing one is kept), or for encrypt/decrypt
    /// without --key-id, a new key (CreateKey).
    #[arg(long)]
    create: bool,
    /// Runtime threads of the generator. 1 (the default) leaves the other cores to the server.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: u32,
    /// The server's pid: report its CPU time over the window (Linux /proc, assumes CLK_TCK 100).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (operation, mode, args) = match cli.command {
        Command::GetSecretValue(a) => (Operation::GetSecretValue, "get-secret-value", a),
        Command::PutSecretValue(a) => (Operation::PutSecretValue, "put-secret-value", a),
        Command::CreateSecrets(a) => (Operation::CreateSecret, "create-secrets", a),
        Command::Encrypt(a) => (Operation::Encrypt, "encrypt", a),
        Command::Decrypt(a) => (Operation::Decrypt, "decrypt", a),
    };
    let threads = usize::try_from(args.threads).unwrap_or(1);
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("openkms-loadgen: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(load(operation, mode, threads, args))
}

async fn load(
    operation: Operation,
    mode: &'static str,
    threads: usize,
    args: LoadArgs,
) -> ExitCode {
    let endpoint = match Endpoint::parse(&args.endpoint) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("openkms-loadgen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let dialer = match dialer::Dialer::new(
        &endpoint,
        args.ca_file.as_deref(),
        args.new_connection_per_request,
    )
    .await
    {
        Ok(d) => d,
        Err(e) => {
            eprintln!("openkms-loadgen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let credentials = Credentials {
        endpoint: endpoint.authority(),
        dialer,
        access_key_id: args.access_key_id,
        access_key_secret: args.access_key_secret,
        signature: args.signature,
    };
    let mut target = Target {
        secret_name: args.secret_name,
        value: workload::printable_value(args.value_bytes),
        ..Default::default()
    };
    let prepared = match operation {
        Operation::Encrypt | Operation::Decrypt => {
            prepare_crypto(
                operation,
                &credentials,
                &mut target,
                args.key_id,
                args.create,
            )
            .await
        }
        _ if args.create => create_secrets(&credentials, &target, args.secrets as usize)
            .await
            .map_err(|m| format!("CreateSecret: {m}")),
        _ => Ok(()),
    };
    if let Err(message) = prepared {
        eprintln!("openkms-loadgen: {message}");
        return ExitCode::FAILURE;
    }
    let plan = Plan {
        operation,
        credentials,
        target,
        secrets: args.secrets as usize,
        connections: usize::try_from(args.connections).unwrap_or(1),
        warmup: args.warmup,
        duration: args.duration,
        server_pid: args.server_pid,
    };
    let setup = Setup {
        mode,
        endpoint: args.endpoint,
        connections: plan.connections,
        threads,
        signature: args.signature.name(),
        value_bytes: args.value_bytes,
    };
    let outcome = match run::run(plan).await {
        Ok(o) => o,
        Err(e) => {
            eprintln!("openkms-loadgen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = Report::new(setup, &outcome);
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    if report.requests == report.errors {
        // Not one successful request: a script must not mistake this for a result.
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The key (given, or created) and, for Decrypt, one blob to open.
async fn prepare_crypto(
    operation: Operation,
    creds: &Credentials,
    target: &mut Target,
    key_id: Option<String>,
    create: bool,
) -> Result<(), String> {
    target.key_id = match (key_id, create) {
        (Some(k), _) => k,
        (None, true) => {
            let body = call(Operation::CreateKey, creds, target).await?;
            json_field(&body, &["KeyMetadata", "KeyId"])?
        }
        (None, false) => return Err("encrypt and decrypt need --key-id or --create".into()),
    };
    if operation == Operation::Decrypt {
        let body = call(Operation::Encrypt, creds, target).await?;
        target.ciphertext_blob = json_field(&body, &["CiphertextBlob"])?;
    }
    Ok(())
}

/// One request that must answer 200; the body.
async fn call(op: Operation, creds: &Credentials, target: &Target) -> Result<Vec<u8>, String> {
    let (status, body) = run::one_shot(op, creds, target)
        .await
        .map_err(|e| format!("{}: {e}", op.action()))?;
    if status != StatusCode::OK {
        return Err(format!(
            "{}: HTTP {status}: {}",
            op.action(),
            String::from_utf8_lossy(&body)
        ));
    }
    Ok(body)
}

/// A string at `path` in a JSON body.
fn json_field(body: &[u8], path: &[&str]) -> Result<String, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("answer is not JSON: {e}"))?;
    path.iter()
        .try_fold(&value, |v, k| v.get(k))
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .ok_or_else(|| format!("answer has no {}", path.join(".")))
}

/// Every secret the run spreads over.
async fn create_secrets(
    creds: &Credentials,
    target: &Target,
    secrets: usize,
) -> Result<(), String> {
    for n in 0..secrets {
        let one = Target {
            secret_name: run::spread_name(&target.secret_name, secrets, n),
            ..target.clone()
        };
        create_secret(creds, &one).await?;
    }
    Ok(())
}

/// CreateSecret with the run's value; an already existing secret is fine.
async fn create_secret(creds: &Credentials, target: &Target) -> Result<(), String> {
    let (status, body) = run::one_shot(Operation::CreateSecret, creds, target)
        .await
        .map_err(|e| e.to_string())?;
    if status == StatusCode::OK {
        return Ok(());
    }
    if status == StatusCode::CONFLICT && workload::contains(&body, b"\"Rejected.ResourceExist\"") {
        eprintln!(
            "openkms-loadgen: secret {} exists; using it",
            target.secret_name
        );
        return Ok(());
    }
    Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)))
}

/// `10s`, `500ms`, `2m`, `1.5s` or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 10s, 500ms or 2m"))?;
    Duration::try_from_secs_f64(value * scale)
        .map_err(|_| format!("{text:?} is not a non-negative duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_with_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn endpoints_parse_with_scheme_ca_file_and_connection_mode() {
        let cli = Cli::try_parse_from([
            "openkms-loadgen",
            "get-secret-value",
            "--endpoint",
            "https://kms.test",
            "--ca-file",
            "ca.pem",
            "--new-connection-per-request",
            "--access-key-id",
            "ak",
            "--access-key-secret",
            "sk",
        ])
        .unwrap();
        let Command::GetSecretValue(args) = cli.command else {
            panic!("parsed another command")
        };
        assert!(args.new_connection_per_request);
        assert_eq!(args.ca_file, Some(PathBuf::from("ca.pem")));
        let e = Endpoint::parse(&args.endpoint).unwrap();
        assert_eq!(
            (e.tls, e.port, e.authority()),
            (true, 443, "kms.test".into())
        );
        // The default stays plain HTTP with the port in the signed host.
        let e = Endpoint::parse("127.0.0.1:8080").unwrap();
        assert_eq!((e.tls, e.authority()), (false, "127.0.0.1:8080".into()));
        assert!(Endpoint::parse("tcp://h:1").is_err());
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
