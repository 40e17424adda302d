//! The recorded Claude Code requests in tests/fixtures/claude-code (see its
//! README): `NN-name.json` bodies and their `.headers.json` companions.

use std::path::PathBuf;

use serde_json::Value;

/// Path of a file under tests/fixtures.
pub fn fixture_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// A Claude Code request body by file name, e.g. `"03-parallel-turn1.json"`.
pub fn fixture(name: &str) -> Value {
    let path = fixture_path(&format!("claude-code/{name}"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
    serde_json::from_slice(&bytes).expect("fixture json")
}

/// Every Claude Code request body (not the headers files), sorted.
pub fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixture_path("claude-code"))
        .expect("fixtures")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && !n.contains("headers"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no fixtures found");
    names
}
