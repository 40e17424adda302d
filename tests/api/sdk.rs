//! Drives the real server with the official `anthropic` Python SDK
//! (tests/sdk/test_sdk.py). The SDK is installed into a venv under the
//! target directory on first use (pinned in tests/sdk/requirements.txt).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::mock_openai::{self, chunk, usage_chunk, DONE};
use super::support::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Python with the pinned SDK: `SDK_PYTHON` if set, else a venv under target/.
pub fn sdk_python() -> PathBuf {
    if let Ok(p) = std::env::var("SDK_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = repo().join("target").join("sdk-venv");
    let python = venv.join("bin").join("python");
    let stamp = venv.join(".installed");
    let reqs = repo().join("tests/sdk/requirements.txt");
    let wanted = std::fs::read_to_string(&reqs).expect("requirements");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv));
        run(Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&reqs));
        std::fs::write(&stamp, wanted).expect("stamp");
    }
    python
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What the mock upstream says, by model name (see test_sdk.py).
fn answer(rec: &Recorded) -> Reply {
    let body = &rec.body;
    let model = body["model"].as_str().unwrap_or("");
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let last_tool = messages.iter().rev().find(|m| m["role"] == "tool");
    let (text, calls): (Option<String>, Vec<(&str, &str, Value)>) = match model {
        "text" => (Some("Hello from the mock".into()), vec![]),
        "tools" => match last_tool {
            Some(t) => (
                Some(format!(
                    "The tool said: {}",
                    t["content"].as_str().unwrap_or("")
                )),
                vec![],
            ),
            None => (
                None,
                vec![("call_1", "get_weather", json!({"city": "Paris"}))],
            ),
        },
        "parallel" => (
            None,
            vec![
                ("call_p1", "get_weather", json!({"city": "Paris"})),
                ("call_p2", "get_weather", json!({"city": "Rome"})),
            ],
        ),
        "image" => {
            let seen = body.to_string().contains("data:image/png;base64,");
            (
                Some(
                    if seen {
                        "I see an image"
                    } else {
                        "no image arrived"
                    }
                    .into(),
                ),
                vec![],
            )
        }
        "ratelimit" => {
            return Reply::Json(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"error": {"message": "slow down"}}),
            )
        }
        "boom" => {
            return Reply::Json(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": {"message": "boom"}}),
            )
        }
        other => {
            return Reply::Json(
                StatusCode::NOT_FOUND,
                json!({"error": {"message": format!("no model {other}")}}),
            )
        }
    };
    let finish = if calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    if body["stream"] == json!(true) {
        let mut pieces = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
        if let Some(t) = &text {
            for word in t.split_inclusive(' ') {
                pieces.push(chunk(json!({"content": word}), None));
            }
        }
        for (i, (id, name, args)) in calls.iter().enumerate() {
            let args = args.to_string();
            let (a, b) = args.split_at(args.len() / 2);
            pieces.push(chunk(
                json!({"tool_calls": [{"index": i, "id": id, "type": "function", "function": {"name": name, "arguments": a}}]}),
                None,
            ));
            pieces.push(chunk(
                json!({"tool_calls": [{"index": i, "function": {"arguments": b}}]}),
                None,
            ));
        }
        pieces.push(chunk(json!({}), Some(finish)));
        pieces.push(usage_chunk(21, 7));
        pieces.push(DONE.to_owned());
        return Reply::Sse {
            pieces,
            delay: Duration::from_millis(1),
            cut: false,
        };
    }
    let tool_calls: Vec<Value> = calls
        .iter()
        .map(|(id, name, args)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args.to_string()}}))
        .collect();
    let mut message = json!({"role": "assistant", "content": text});
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    Reply::Json(
        StatusCode::OK,
        mock_openai::completion(message, finish, 21, 7),
    )
}

fn run_sdk_suite(python: &Path, app: &TestApp) {
    let script = repo().join("tests/sdk/test_sdk.py");
    let out = Command::new(python)
        .arg(&script)
        .env("PROXY_URL", format!("http://{}", app.addr))
        .env("PROXY_KEY", ACCESS_KEY)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "SDK suite failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_against_openai_upstream() {
    let python = tokio::task::spawn_blocking(sdk_python).await.unwrap();
    let mock = spawn_mock(mock_openai::validate, answer).await;
    let app = spawn_app(
        config_with(vec![upstream("oa", "openai", &mock.url(), &["sk-1"])]),
        &[],
    )
    .await;
    tokio::task::spawn_blocking(move || run_sdk_suite(&python, &app))
        .await
        .unwrap();
}
