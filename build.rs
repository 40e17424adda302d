//! Build steps: stamps the binary with the git commit it was built from,
//! for `claude-proxy --version` ("0.1.0 (abc1234)": `CLAUDE_PROXY_COMMIT`
//! when set — a container build has no .git —, else `git rev-parse`; without
//! either the version stands alone), and compiles the web console's files (src/console/assets) into the binary:
//! each file is gzipped here, once, at build time (so serving costs no CPU
//! and no file is read at run time), and `console_assets.rs` in OUT_DIR
//! lists them with their type and ETag. The files in the repository are
//! the source; nothing else (no Node toolchain) is needed to build.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    stamp_version();
    console_assets();
}

fn stamp_version() {
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

fn console_assets() {
    let root = PathBuf::from("src/console/assets");
    println!("cargo:rerun-if-changed={}", root.display());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    let mut table = String::from(
        "/// Every console file: path under /ui/, type, bytes, gzipped bytes, ETag.\n\
         pub(crate) static ASSETS: &[Asset] = &[\n",
    );
    for file in &files {
        let rel = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .to_string_lossy()
            .replace('\\', "/");
        let raw = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => fail(&format!("cannot read {}: {e}", file.display())),
        };
        let gz_path = out.join(format!("console-{}.gz", rel.replace('/', "__")));
        // mtime 0 and no file name in the header: the same input always
        // gives the same bytes.
        let mut gz = flate2::GzBuilder::new()
            .mtime(0)
            .write(Vec::new(), flate2::Compression::best());
        let gzipped = gz
            .write_all(&raw)
            .and_then(|()| gz.finish())
            .unwrap_or_else(|e| fail(&format!("cannot gzip {}: {e}", file.display())));
        if let Err(e) = std::fs::write(&gz_path, &gzipped) {
            fail(&format!("cannot write {}: {e}", gz_path.display()));
        }
        let abs = std::fs::canonicalize(file)
            .unwrap_or_else(|e| fail(&format!("cannot resolve {}: {e}", file.display())));
        let _ = writeln!(
            table,
            "    Asset {{ path: {rel:?}, mime: {:?}, raw: include_bytes!({:?}), gzip: include_bytes!({:?}), etag: \"\\\"{:016x}\\\"\" }},",
            mime(&rel),
            abs.display().to_string(),
            gz_path.display().to_string(),
            fnv1a(&raw),
        );
    }
    table.push_str("];\n");
    if let Err(e) = std::fs::write(out.join("console_assets.rs"), table) {
        fail(&format!("cannot write console_assets.rs: {e}"));
    }
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => fail(&format!("cannot list {}: {e}", dir.display())),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            files.push(path);
        }
    }
}

fn mime(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" => "application/json",
        _ => fail(&format!("console asset {path}: unknown file type")),
    }
}

/// A content hash for the ETag (no dependency needed for 64 bits).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn fail(message: &str) -> ! {
    eprintln!("build.rs: {message}");
    std::process::exit(1)
}
