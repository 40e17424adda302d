//! `claude-proxy` binary: parse the command line and dispatch. No logic here.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: a request allocates and frees many small strings; glibc's
/// malloc showed up at ~16 % of CPU in the benchmark profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = claude_proxy::cli::Cli::parse();
    claude_proxy::app::run(cli)
}
