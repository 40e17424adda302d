//! `claude-proxy` binary: parse the command line and dispatch. No logic here.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = claude_proxy::cli::Cli::parse();
    claude_proxy::app::run(cli)
}
