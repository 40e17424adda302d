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
    // The three suites run in parallel: only one may create the venv.
    static SETUP: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = SETUP.lock().unwrap_or_else(|e| e.into_inner());
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

/// The same script for a Gemini upstream (the model is in the URL path).
fn answer_gemini(rec: &Recorded) -> Reply {
    let model = rec
        .path
        .strip_prefix("/v1beta/models/")
        .and_then(|r| r.split(':').next())
        .unwrap_or("");
    let stream = rec.path.ends_with(":streamGenerateContent");
    let contents = rec.body["contents"].as_array().cloned().unwrap_or_default();
    // The function responses may be followed by the rest of the user turn.
    let last_response = contents.iter().rev().find_map(|c| {
        c["parts"]
            .as_array()?
            .iter()
            .find_map(|p| p.get("functionResponse").cloned())
    });
    let call =
        |city: &str| json!({"functionCall": {"name": "get_weather", "args": {"city": city}}});
    let parts = match model {
        "text" => json!([{"text": "Hello "}, {"text": "from the mock"}]),
        "tools" => match last_response {
            Some(r) => {
                let out = r["response"]["output"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| r["response"].to_string());
                json!([{"text": format!("The tool said: {out}")}])
            }
            None => json!([call("Paris")]),
        },
        "parallel" => json!([call("Paris"), call("Rome")]),
        "image" => {
            let seen = rec.body.to_string().contains("\"inlineData\"");
            json!([{"text": if seen { "I see an image" } else { "no image arrived" }}])
        }
        "ratelimit" => {
            return Reply::Json(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}),
            )
        }
        "boom" => {
            return Reply::Json(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": {"code": 500, "message": "boom", "status": "INTERNAL"}}),
            )
        }
        other => {
            return Reply::Json(
                StatusCode::NOT_FOUND,
                json!({"error": {"code": 404, "message": other, "status": "NOT_FOUND"}}),
            )
        }
    };
    let usage = json!({"promptTokenCount": 21, "candidatesTokenCount": 7, "totalTokenCount": 28});
    if stream {
        let list = parts.as_array().cloned().unwrap_or_default();
        let n = list.len();
        let pieces = list
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let mut c = json!({"candidates": [{"content": {"role": "model", "parts": [p]}}], "usageMetadata": usage});
                if i + 1 == n {
                    c["candidates"][0]["finishReason"] = json!("STOP");
                }
                format!("data: {c}\r\n\r\n")
            })
            .collect();
        return Reply::Sse {
            pieces,
            delay: Duration::from_millis(1),
            cut: false,
        };
    }
    Reply::Json(
        StatusCode::OK,
        json!({"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}], "usageMetadata": usage}),
    )
}

/// The same script for an Anthropic upstream (answers in Anthropic's own format).
fn answer_claude(rec: &Recorded) -> Reply {
    let body = &rec.body;
    let model = body["model"].as_str().unwrap_or("");
    let last = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .cloned()
        .unwrap_or_default();
    let result = last["content"].as_array().and_then(|blocks| {
        blocks
            .iter()
            .find(|b| b["type"] == "tool_result")
            .map(|b| b["content"].as_str().unwrap_or("").to_owned())
    });
    let tool = |id: &str, city: &str| json!({"type": "tool_use", "id": id, "name": "get_weather", "input": {"city": city}});
    let (content, stop) = match model {
        "text" => (
            json!([{"type": "text", "text": "Hello from the mock"}]),
            "end_turn",
        ),
        "tools" => match result {
            Some(r) => (
                json!([{"type": "text", "text": format!("The tool said: {r}")}]),
                "end_turn",
            ),
            None => (json!([tool("toolu_01", "Paris")]), "tool_use"),
        },
        "parallel" => (
            json!([tool("toolu_p1", "Paris"), tool("toolu_p2", "Rome")]),
            "tool_use",
        ),
        "image" => {
            let seen = body.to_string().contains("\"type\":\"image\"");
            (
                json!([{"type": "text", "text": if seen { "I see an image" } else { "no image arrived" }}]),
                "end_turn",
            )
        }
        "ratelimit" => {
            return Reply::Json(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}),
            )
        }
        "boom" => {
            return Reply::Json(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"type": "error", "error": {"type": "api_error", "message": "boom"}}),
            )
        }
        other => {
            return Reply::Json(
                StatusCode::NOT_FOUND,
                json!({"type": "error", "error": {"type": "not_found_error", "message": other}}),
            )
        }
    };
    let usage = json!({"input_tokens": 21, "output_tokens": 7});
    let message = json!({"id": "msg_mock", "type": "message", "role": "assistant", "model": model,
                         "content": content, "stop_reason": stop, "stop_sequence": null, "usage": usage});
    if body["stream"] != json!(true) {
        return Reply::Json(StatusCode::OK, message);
    }
    let ev = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let mut start = message.clone();
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    let mut pieces = vec![ev(
        "message_start",
        json!({"type": "message_start", "message": start}),
    )];
    for (i, block) in message["content"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        if block["type"] == "text" {
            pieces.push(ev("content_block_start", json!({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}})));
            pieces.push(ev("content_block_delta", json!({"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": block["text"]}})));
        } else {
            let mut shell = block.clone();
            shell["input"] = json!({});
            pieces.push(ev(
                "content_block_start",
                json!({"type": "content_block_start", "index": i, "content_block": shell}),
            ));
            pieces.push(ev("content_block_delta", json!({"type": "content_block_delta", "index": i, "delta": {"type": "input_json_delta", "partial_json": block["input"].to_string()}})));
        }
        pieces.push(ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": i}),
        ));
    }
    pieces.push(ev("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 7}})));
    pieces.push(ev("message_stop", json!({"type": "message_stop"})));
    Reply::Sse {
        pieces,
        delay: Duration::from_millis(1),
        cut: false,
    }
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

/// Runs the SDK script against the proxy in front of `mock`, configured as
/// one upstream of `service_type`.
async fn sdk_suite(mock: Mock, service_type: &str, key: &str) {
    let python = tokio::task::spawn_blocking(sdk_python).await.unwrap();
    let app = spawn_app(
        config_with(vec![upstream("up", service_type, &mock.url(), &[key])]),
        &[],
    )
    .await;
    tokio::task::spawn_blocking(move || run_sdk_suite(&python, &app))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_against_openai_upstream() {
    sdk_suite(
        spawn_mock(mock_openai::validate, answer).await,
        "openai",
        "sk-1",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_against_gemini_upstream() {
    sdk_suite(
        spawn_mock(super::gemini::validate, answer_gemini).await,
        "gemini",
        "AIza-1",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_against_claude_upstream() {
    sdk_suite(
        spawn_mock(no_validation, answer_claude).await,
        "claude",
        "sk-ant-1",
    )
    .await;
}
