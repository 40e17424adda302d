//! Command-line shape (clap derive types only; behaviour lives in `commands`).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::settings::ENV_HELP;

#[derive(Debug, Parser)]
#[command(
    name = "claude-proxy",
    version = env!("CLAUDE_PROXY_VERSION"),
    about = "Anthropic Messages API gateway for OpenAI-compatible, Gemini and Claude upstreams",
    after_long_help = ENV_HELP,
    after_help = "Run `claude-proxy --help` for the list of environment settings."
)]
/// The command line.
pub struct Cli {
    /// Path of config.json (default: $CONFIG_PATH, else ./config.json).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Port to listen on, or to check with `health` (default: $PORT, else 3000).
    #[arg(long, global = true, value_name = "PORT")]
    pub port: Option<u16>,

    /// What to do (serve when absent).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (the default when no command is given).
    Serve,
    /// Show or edit config.json (upstreams, keys, model mapping, balancing).
    Config(crate::commands::ConfigArgs),
    /// Ask the running server's health route (on this machine, the port the
    /// server uses: --port, $PORT or .env) and exit 0 when it is healthy, 1
    /// otherwise. For container health checks: no curl needed.
    Health,
}
