//! `openkms db-instance add|list|remove`: manages the registry of database instances that
//! managed rotation reaches, on a running server, through openkms's own signed actions
//! (`OpenkmsAddDbInstance`, `OpenkmsListDbInstances`, `OpenkmsRemoveDbInstance`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use openkms_wire::signature::signer::{Call, Signer};
use openkms_wire::API_VERSION;
use zeroize::Zeroizing;

#[derive(Debug, Args)]
pub struct DbInstanceArgs {
    /// The server, as HOST:PORT (plain HTTP).
    #[arg(
        long,
        env = "OPENKMS_ENDPOINT",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    endpoint: String,
    /// Root access key id; defaults to the one in DATA_DIR/root-access-key.json.
    #[arg(long, env = "OPENKMS_ACCESS_KEY_ID", global = true)]
    access_key_id: Option<String>,
    /// Data directory whose root-access-key.json to use when no key is given.
    #[arg(
        long,
        env = "OPENKMS_DATA_DIR",
        default_value = "openkms-data",
        global = true
    )]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: DbInstanceCommand,
}

#[derive(Debug, Subcommand)]
enum DbInstanceCommand {
    /// Register an instance: its engine, address and the Generic secret holding an admin
    /// credential ({"AccountName": ..., "AccountPassword": ...}).
    Add {
        /// The DBInstanceId (Rds), DBClusterId (PolarDB) or InstanceId (Redis) that secrets name.
        id: String,
        /// mysql (also MariaDB), postgresql or redis.
        #[arg(long)]
        engine: String,
        /// HOST:PORT (PostgreSQL: HOST:PORT or HOST:PORT/DATABASE).
        #[arg(long)]
        address: String,
        /// Name of the admin secret.
        #[arg(long)]
        admin_secret: String,
    },
    /// List the registered instances.
    List,
    /// Forget an instance (its secrets keep their values).
    Remove { id: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no access key: give --access-key-id with OPENKMS_ACCESS_KEY_SECRET, or a --data-dir holding root-access-key.json")]
    NoKey,
    #[error("could not talk to the server at {endpoint}: {source}")]
    Io {
        endpoint: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the server answered {status}: {body}")]
    Refused { status: String, body: String },
}

pub fn run(args: DbInstanceArgs) -> Result<(), ClientError> {
    let (id, secret) = credentials(&args)?;
    let (action, params): (&str, Vec<(String, String)>) = match &args.command {
        DbInstanceCommand::Add {
            id,
            engine,
            address,
            admin_secret,
        } => (
            "OpenkmsAddDbInstance",
            vec![
                ("DBInstanceId".into(), id.clone()),
                ("Engine".into(), engine.clone()),
                ("Address".into(), address.clone()),
                ("AdminSecretName".into(), admin_secret.clone()),
            ],
        ),
        DbInstanceCommand::List => ("OpenkmsListDbInstances", Vec::new()),
        DbInstanceCommand::Remove { id } => (
            "OpenkmsRemoveDbInstance",
            vec![("DBInstanceId".into(), id.clone())],
        ),
    };
    let body = call(&args.endpoint, &id, secret.as_bytes(), action, params)?;
    println!("{body}");
    Ok(())
}

fn credentials(args: &DbInstanceArgs) -> Result<(String, Zeroizing<String>), ClientError> {
    if let Some(id) = &args.access_key_id {
        let secret = std::env::var("OPENKMS_ACCESS_KEY_SECRET").map_err(|_| ClientError::NoKey)?;
        return Ok((id.clone(), Zeroizing::new(secret)));
    }
    let text = Zeroizing::new(
        std::fs::read_to_string(args.data_dir.join("root-access-key.json"))
            .map_err(|_| ClientError::NoKey)?,
    );
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|_| ClientError::NoKey)?;
    let field = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    match (field("AccessKeyId"), field("AccessKeySecret")) {
        (Some(id), Some(secret)) => Ok((id, Zeroizing::new(secret))),
        _ => Err(ClientError::NoKey),
    }
}

/// Sends one V3-signed POST and returns the reply body; a non-2xx reply is an error.
fn call(
    endpoint: &str,
    access_key_id: &str,
    secret: &[u8],
    action: &str,
    form: Vec<(String, String)>,
) -> Result<String, ClientError> {
    let io = |source| ClientError::Io {
        endpoint: endpoint.to_owned(),
        source,
    };
    let signer = Signer {
        access_key_id,
        secret,
        security_token: None,
    };
    let request = Call {
        method: "POST",
        host: endpoint,
        action,
        version: API_VERSION,
        query: Vec::new(),
        form,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let signed = signer.sign_v3(&request, &nonce, &openkms_wire::timefmt::format_unix(now));
    let mut head = format!("POST /?{} HTTP/1.1\r\n", signed.query);
    for (name, value) in &signed.headers {
        head.push_str(&format!(
            "{}: {}\r\n",
            name.as_str(),
            value.to_str().unwrap_or_default()
        ));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        signed.body.len()
    ));
    let mut stream = TcpStream::connect(endpoint).map_err(io)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(io)?;
    stream.write_all(head.as_bytes()).map_err(io)?;
    stream.write_all(&signed.body).map_err(io)?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).map_err(io)?;
    let text = String::from_utf8_lossy(&reply);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?")
        .to_owned();
    if status.starts_with('2') {
        Ok(body.to_owned())
    } else {
        Err(ClientError::Refused {
            status,
            body: body.to_owned(),
        })
    }
}
