//! `openkms db-instance add|list|remove`: manages the registry of database instances that
//! managed rotation reaches, on a running server, through openkms's own signed actions
//! (`OpenkmsAddDbInstance`, `OpenkmsListDbInstances`, `OpenkmsRemoveDbInstance`).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use openkms_wire::API_VERSION;
use zeroize::Zeroizing;

use crate::client::{Client, ClientError};
use crate::transport::EndpointArgs;

#[derive(Debug, Args)]
pub struct DbInstanceArgs {
    #[command(flatten)]
    at: EndpointArgs,
    /// Data directory whose root-access-key.json to use when ALIBABA_CLOUD_ACCESS_KEY_ID is
    /// not set.
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

pub fn run(args: DbInstanceArgs) -> Result<(), ClientError> {
    let client = client(&args)?;
    match &args.command {
        DbInstanceCommand::Add {
            id,
            engine,
            address,
            admin_secret,
        } => client.print(
            API_VERSION,
            "OpenkmsAddDbInstance",
            &[
                ("DBInstanceId", id),
                ("Engine", engine),
                ("Address", address),
                ("AdminSecretName", admin_secret),
            ],
        ),
        DbInstanceCommand::List => client.print(API_VERSION, "OpenkmsListDbInstances", &[]),
        DbInstanceCommand::Remove { id } => client.print(
            API_VERSION,
            "OpenkmsRemoveDbInstance",
            &[("DBInstanceId", id)],
        ),
    }
}

/// The caller's key as the other client commands find it (`ALIBABA_CLOUD_ACCESS_KEY_ID` /
/// `_SECRET`), else the root key a local server saved in DATA_DIR/root-access-key.json.
fn client(args: &DbInstanceArgs) -> Result<Client, ClientError> {
    if std::env::var_os("ALIBABA_CLOUD_ACCESS_KEY_ID").is_some() {
        return Client::from_env(&args.at);
    }
    let missing = ClientError::MissingCredential("ALIBABA_CLOUD_ACCESS_KEY_ID");
    let text = Zeroizing::new(
        std::fs::read_to_string(args.data_dir.join("root-access-key.json")).map_err(|_| missing)?,
    );
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|_| ClientError::MissingCredential("ALIBABA_CLOUD_ACCESS_KEY_ID"))?;
    let field = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    match (field("AccessKeyId"), field("AccessKeySecret")) {
        (Some(id), Some(secret)) => Client::new(&args.at, id, Zeroizing::new(secret)),
        _ => Err(ClientError::MissingCredential(
            "ALIBABA_CLOUD_ACCESS_KEY_ID",
        )),
    }
}
