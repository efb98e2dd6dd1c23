//! `openkms`: the one binary. `serve` runs the server on the embedded SQLite store by default.

mod client;
mod config;
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
    #[command(flatten)]
    endpoint: client::Endpoint,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (initialises the data directory on first start).
    Serve(config::ServeArgs),
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
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command {
        Command::Serve(args) => serve::run(args).map_err(Into::into),
        Command::Client(command) => client::run(cli.endpoint, command).map_err(Into::into),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("openkms: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
