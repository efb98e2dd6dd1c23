//! `openkms`: the one binary. `serve` runs the server on the embedded SQLite store by default.

mod client;
mod config;
mod db_instance;
mod rekey;
mod root;
mod serve;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "openkms",
    version,
    about = "A secrets manager that speaks the Alibaba Cloud KMS API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (initialises the data directory on first start).
    Serve(config::ServeArgs),
    /// Move every KMS key version and access key secret to a new root of trust, online.
    Rekey(rekey::RekeyArgs),
    /// Register, list or remove the database instances that managed rotation reaches (on a
    /// running server).
    DbInstance(db_instance::DbInstanceArgs),
    #[command(flatten)]
    Client(client::ClientCommand),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OPENKMS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args).map_err(|e| e.to_string()),
        Command::Rekey(args) => rekey::run(args).map_err(|e| e.to_string()),
        Command::DbInstance(args) => db_instance::run(args).map_err(|e| e.to_string()),
        Command::Client(command) => client::run(command).map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("openkms: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
