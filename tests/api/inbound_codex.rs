//! The real Codex CLI (npm `@openai/codex`) against `/v1/responses`: the
//! mock upstream plays the model, asks Codex to run a shell command, and
//! answers once the command's output comes back; Codex must finish the task.
//!
//! The CLI is installed into target/codex-cli on first use (pinned below),
//! like the SDK venv. When it cannot be installed on this machine (no npm,
//! no registry), the test says why and returns.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::process::run_bounded;
use crate::common::*;
use crate::common::{mock_anthropic, mock_openai};

/// The Codex CLI version the test runs.
const CODEX_VERSION: &str = "0.171.0";
const INSTALL_LIMIT: Duration = Duration::from_secs(900);
const RUN_LIMIT: Duration = Duration::from_secs(180);
/// What the command prints, and the final answer quotes.
const MARKER: &str = "codex-was-here";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `codex` executable, installing it first if needed; `Err` says why
/// it cannot be had.
fn codex() -> Result<PathBuf, String> {
    static SETUP: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    let dir = repo().join("target").join("codex-cli");
    let bin = dir.join("node_modules").join(".bin").join("codex");
    let stamp = dir.join(".installed");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(CODEX_VERSION) && bin.exists() {
        return Ok(bin);
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Command::new("npm")
        .arg("--version")
        .output()
        .map_err(|e| format!("npm is not available: {e}"))?;
    let out = run_bounded(
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg(format!("@openai/codex@{CODEX_VERSION}")),
        INSTALL_LIMIT,
    );
    if out.code != 0 || !bin.exists() {
        return Err(format!(
            "npm install @openai/codex@{CODEX_VERSION} failed:\n{}",
            out.stderr
        ));
    }
    std::fs::write(&stamp, CODEX_VERSION).map_err(|e| e.to_string())?;
    Ok(bin)
}

/// The shell tool Codex offers and the arguments that run `MARKER`'s echo.
fn shell_call(tool_names: &[String]) -> (String, Value) {
    let cmd = format!("echo {MARKER}");
    if tool_names.iter().any(|n| n == "exec_command") {
        ("exec_command".into(), json!({"cmd": cmd}))
    } else {
        ("shell".into(), json!({"command": ["bash", "-lc", cmd]}))
    }
}

/// The model: a shell call first, then an answer quoting the tool output.
fn script(tool_names: &[String], tool_output: Option<&str>) -> Script {
    match tool_output {
        Some(out) if out.contains(MARKER) => Script::text(&["Done: the command printed ", MARKER]),
        Some(out) => Script::text(&["The command did not print the marker: ", out]),
        None => {
            let (name, input) = shell_call(tool_names);
            Script::tools(vec![ToolCall::new(
                Some("call_codex1".into()),
                &name,
                input,
            )])
        }
    }
}

fn answer_openai(rec: &Recorded) -> Reply {
    let b = &rec.body;
    let names: Vec<String> = b["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["function"]["name"].as_str().map(str::to_owned))
        .collect();
    let output = b["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "tool"))
        .map(|m| m["content"].to_string());
    mock_openai::script_reply(rec, &script(&names, output.as_deref()))
}

fn answer_claude(rec: &Recorded) -> Reply {
    let b = &rec.body;
    let names: Vec<String> = b["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect();
    let output = b["messages"]
        .as_array()
        .and_then(|m| m.last())
        .filter(|m| m.to_string().contains("tool_result"))
        .map(|m| m.to_string());
    let s = script(&names, output.as_deref());
    let model = b["model"].as_str().unwrap_or("m").to_owned();
    if b["stream"] == json!(true) {
        Reply::sse(mock_anthropic::script_stream(&s, &model))
    } else {
        Reply::ok(mock_anthropic::script_json(&s, &model))
    }
}

fn run_codex(codex: &Path, addr: std::net::SocketAddr) -> crate::common::process::Output {
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("config.toml"),
        format!(
            r#"model = "mock-model"
model_provider = "claude-proxy"
# Only the gateway on loopback: no update check, analytics, feedback or
# telemetry export.
check_for_update_on_startup = false

[analytics]
enabled = false

[feedback]
enabled = false

[otel]
exporter = "none"
metrics_exporter = "none"
trace_exporter = "none"

[model_providers.claude-proxy]
name = "claude-proxy"
base_url = "http://{addr}/v1"
env_key = "CLAUDE_PROXY_KEY"
wire_api = "responses"
"#
        ),
    )
    .unwrap();
    run_bounded(
        Command::new(codex)
            .args([
                "exec",
                "--skip-git-repo-check",
                "--ephemeral",
                "--sandbox",
                "danger-full-access",
                "--cd",
            ])
            .arg(work.path())
            .arg(format!(
                "Run `echo {MARKER}` in the shell and tell me what it printed."
            ))
            .env("CODEX_HOME", home.path())
            .env("CLAUDE_PROXY_KEY", ACCESS_KEY)
            .env_remove("OPENAI_API_KEY")
            .env_remove("OPENAI_BASE_URL"),
        RUN_LIMIT,
    )
}

async fn codex_finishes(mock: Mock, service_type: &str, key: &str) {
    let codex = match tokio::task::spawn_blocking(codex).await.unwrap() {
        Ok(c) => c,
        Err(why) => {
            println!("skipping the Codex CLI test: {why}");
            return;
        }
    };
    let app = spawn_app(
        config_with(vec![upstream("up", service_type, &mock.url(), &[key])]),
        &[],
    )
    .await;
    let addr = app.addr;
    let out = tokio::task::spawn_blocking(move || run_codex(&codex, addr))
        .await
        .unwrap();
    assert_eq!(
        out.code, 0,
        "codex exec failed:\n{}\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout
            .contains(&format!("Done: the command printed {MARKER}")),
        "codex did not finish the task:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    println!("codex ({service_type}):\n{}", out.stdout);
    // The shell call went out, and its output came back to the model.
    let requests = mock.requests();
    assert!(requests.len() >= 2, "{} upstream requests", requests.len());
    assert!(
        requests
            .iter()
            .any(|r| r.body.to_string().contains(MARKER)
                && r.body.to_string().contains("call_codex1"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_cli_runs_a_shell_tool_through_an_openai_upstream() {
    let mock = spawn_mock(mock_openai::validate, answer_openai).await;
    codex_finishes(mock, "openai", "sk-1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_cli_runs_a_shell_tool_through_a_claude_upstream() {
    let mock = spawn_mock(mock_anthropic::validate, answer_claude).await;
    codex_finishes(mock, "claude", "sk-ant-1").await;
}
