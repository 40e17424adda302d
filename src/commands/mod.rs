//! What each `claude-proxy config …` subcommand does.

use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ConfigArgs {}

pub fn run_config(_args: ConfigArgs, _path: &Path) -> ExitCode {
    eprintln!("the config commands are not available in this build");
    ExitCode::FAILURE
}
