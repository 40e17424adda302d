//! Command-line shape (clap derive types only; behaviour lives in `commands`).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::settings::ENV_HELP;

#[derive(Debug, Parser)]
#[command(
    name = "claude-proxy",
    version,
    about = "Anthropic Messages API gateway for OpenAI-compatible, Gemini and Claude upstreams",
    after_long_help = ENV_HELP,
    after_help = "Run `claude-proxy --help` for the list of environment settings."
)]
/// The command line.
pub struct Cli {
    /// Path of config.json (default: $CONFIG_PATH, else ./config.json).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

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
}
