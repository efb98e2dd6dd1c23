//! `openkms`: the one binary. `serve` runs the server on the embedded SQLite store by default,
//! or on PostgreSQL (`--store`) shared by several nodes.

mod client;
mod config;
mod db_instance;
mod dir_lock;
mod fresh_dir;
mod harden;
mod listeners;
mod rekey;
mod root;
mod root_keys;
mod serve;
mod store;
mod supervise;
mod tls_init;
mod transport;

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
    /// Bring the store's schema up to date (SQLite in --data-dir, or --store postgres://...)
    /// and exit; `serve` also does this at start. With --from and --to, copy an embedded
    /// store into an empty PostgreSQL database instead.
    Migrate(store::MigrateArgs),
    /// List, create, disable, enable or delete the account's root access keys (beside a
    /// running server).
    RootKey(root_keys::RootKeyArgs),
    /// Move every KMS key version and access key secret to a new root of trust, online.
    Rekey(rekey::RekeyArgs),
    /// Register, list or remove the database instances that managed rotation reaches (on a
    /// running server).
    DbInstance(db_instance::DbInstanceArgs),
    /// Development certificates for HTTPS: `openkms tls init --out DIR` writes a CA and a
    /// server certificate signed by it.
    Tls(tls_init::TlsArgs),
    #[command(flatten)]
    Client(client::ClientCommand),
}

/// The error and its causes, each said once (many errors already print their cause).
fn describe(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
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
    // `serve` hardens itself (with memory locking); the other commands handle key material
    // or access key secrets too, briefly: no core file of them either.
    if !matches!(cli.command, Command::Serve(_)) {
        harden::apply(false);
    }
    let result = match cli.command {
        Command::Serve(args) => serve::run(args).map_err(|e| describe(&e)),
        Command::Migrate(args) => store::migrate(args).map_err(|e| describe(&e)),
        Command::Rekey(args) => rekey::run(args).map_err(|e| describe(&e)),
        Command::RootKey(args) => root_keys::run(args).map_err(|e| describe(&e)),
        Command::DbInstance(args) => db_instance::run(args).map_err(|e| describe(&e)),
        Command::Tls(args) => tls_init::run(args).map_err(|e| describe(&e)),
        Command::Client(command) => client::run(command).map_err(|e| describe(&e)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("openkms: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
