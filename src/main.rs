//! Placeholder entry point for testing the `config` commands on this branch;
//! the real one (settings, tracing, serve) replaces it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use claude_proxy::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Config(args)) => {
            let path = cli
                .config
                .or_else(|| std::env::var_os("CONFIG_PATH").map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from("./config.json"));
            claude_proxy::commands::run_config(args, &path)
        }
        _ => {
            println!("serve");
            ExitCode::SUCCESS
        }
    }
}
