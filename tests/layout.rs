//! The source tree keeps the shape the README's layout section promises: the
//! top-level modules form no cycle (scripts/module-graph.sh), no source file
//! outside tests grows past ~600 lines, and `Provider::new` is the only
//! place outside `config/` and `commands/` that names a service type.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::process::run_bounded;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every `.rs` file under `dir`, depth first (the tree is small and has no
/// links, so the walk ends).
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(&Path::new(ROOT).join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(ROOT).unwrap().display().to_string();
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

fn is_test_file(rel: &str) -> bool {
    rel.ends_with("_tests.rs") || rel.ends_with("/tests.rs")
}

#[test]
fn the_module_graph_has_no_cycle() {
    let out = run_bounded(
        Command::new("bash").arg(Path::new(ROOT).join("scripts/module-graph.sh")),
        Duration::from_secs(60),
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("no cycle"), "{}", out.stdout);
    // The seams the layout relies on.
    for edge in ["store -> server", "store -> observe", "commands -> server"] {
        assert!(!out.stdout.lines().any(|l| l == edge), "{edge}");
    }
}

#[test]
fn no_source_file_outside_tests_is_over_600_lines() {
    let long: Vec<String> = sources()
        .into_iter()
        .filter(|(rel, _)| !is_test_file(rel))
        .filter_map(|(rel, text)| {
            // A file's own inline tests do not count.
            let code = text
                .split("\n#[cfg(test)]\nmod tests {")
                .next()
                .unwrap_or("");
            let n = code.lines().count();
            (n > 620).then(|| format!("{rel}: {n} lines"))
        })
        .collect();
    assert!(long.is_empty(), "{long:#?}");
}

#[test]
fn only_the_provider_enum_names_service_types_outside_config() {
    let names = [
        "ServiceType::OpenAi",
        "ServiceType::OpenAiOld",
        "ServiceType::Gemini",
        "ServiceType::Claude",
        "ServiceType::Responses",
    ];
    let mut files: Vec<String> = sources()
        .into_iter()
        .filter(|(rel, _)| !rel.starts_with("src/config/") && !rel.starts_with("src/commands/"))
        .filter(|(rel, _)| !is_test_file(rel))
        .filter(|(_, text)| {
            let code = text.split("\n#[cfg(test)]\n").next().unwrap_or("");
            names.iter().any(|n| {
                code.match_indices(n)
                    .any(|(i, _)| !code[i + n.len()..].starts_with(|c: char| c.is_alphanumeric()))
            })
        })
        .map(|(rel, _)| rel)
        .collect();
    files.dedup();
    assert_eq!(files, ["src/providers/mod.rs"]);
}
