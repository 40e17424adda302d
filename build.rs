//! Stamps the binary with the git commit it was built from, for
//! `claude-proxy --version` ("0.1.0 (abc1234)"): `CLAUDE_PROXY_COMMIT` when
//! set (a container build has no .git), else `git rev-parse`. Without
//! either the version stands alone.

use std::process::Command;

fn main() {
    let version = env!("CARGO_PKG_VERSION");
    let from_env = std::env::var("CLAUDE_PROXY_COMMIT")
        .ok()
        .map(|c| c.chars().take(7).collect::<String>())
        .filter(|c| !c.is_empty());
    let commit = from_env.or_else(|| {
        Command::new("git")
            .args(["rev-parse", "--short=7", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    });
    let full = match commit {
        Some(c) => format!("{version} ({c})"),
        None => version.to_owned(),
    };
    println!("cargo:rustc-env=CLAUDE_PROXY_VERSION={full}");
    // A new commit changes HEAD or the branch it points at.
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CLAUDE_PROXY_COMMIT");
}
