//! Drives the real server with the official `anthropic` Python SDK
//! (tests/sdk/test_sdk.py). The SDK is installed into a venv under the
//! target directory on first use (pinned in tests/sdk/requirements.txt).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::common::process::run_bounded;
use crate::common::*;
use crate::common::{mock_anthropic, mock_gemini, mock_openai, mock_responses};

/// Creating the venv and installing the SDK may take a while the first time.
const INSTALL_LIMIT: Duration = Duration::from_secs(900);
/// One run of the SDK script.
const SUITE_LIMIT: Duration = Duration::from_secs(300);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Python with the pinned SDK: `SDK_PYTHON` if set, else a venv under target/.
pub fn sdk_python() -> PathBuf {
    if let Ok(p) = std::env::var("SDK_PYTHON") {
        return PathBuf::from(p);
    }
    // The suites run in parallel: only one may create the venv.
    static SETUP: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    let venv = repo().join("target").join("sdk-venv");
    let python = venv.join("bin").join("python");
    let stamp = venv.join(".installed");
    let reqs = repo().join("tests/sdk/requirements.txt");
    let wanted = std::fs::read_to_string(&reqs).expect("requirements");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        run_bounded(
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
            INSTALL_LIMIT,
        )
        .success("python3 -m venv");
        run_bounded(
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "-r",
                ])
                .arg(&reqs),
            INSTALL_LIMIT,
        )
        .success("pip install");
        std::fs::write(&stamp, wanted).expect("stamp");
    }
    python
}

/// What a request to the SDK script's mock carries, whatever the provider.
struct Seen {
    model: String,
    /// The text of the latest tool result, if any.
    tool_result: Option<String>,
    image: bool,
}

/// What the mock upstream says, by model name (see test_sdk.py): the
/// script, or the error status.
fn script_for(seen: &Seen, tool_id: impl Fn(&str) -> Option<String>) -> Result<Script, u16> {
    let weather =
        |id: &str, city: &str| ToolCall::new(tool_id(id), "get_weather", json!({"city": city}));
    let mut script = match seen.model.as_str() {
        "text" => Script::text(&["Hello ", "from ", "the ", "mock"]),
        "tools" => match &seen.tool_result {
            Some(r) => Script::text(&["The tool said: ", r]),
            None => Script::tools(vec![weather("1", "Paris")]),
        },
        "parallel" => Script::tools(vec![weather("p1", "Paris"), weather("p2", "Rome")]),
        "image" if seen.image => Script::text(&["I see an image"]),
        "image" => Script::text(&["no image arrived"]),
        "ratelimit" => return Err(429),
        "boom" => return Err(500),
        _ => return Err(404),
    };
    script.usage = Tokens {
        input: 21,
        cached: 0,
        output: 7,
    };
    Ok(script)
}

fn error_message(status: u16, model: &str) -> String {
    match status {
        429 => "slow down".into(),
        500 => "boom".into(),
        _ => format!("no model {model}"),
    }
}

fn stream_reply(pieces: Vec<String>) -> Reply {
    Reply::Sse {
        pieces,
        delay: Duration::from_millis(1),
        cut: false,
    }
}

pub(crate) fn answer_openai(rec: &Recorded) -> Reply {
    let body = &rec.body;
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let seen = Seen {
        model: body["model"].as_str().unwrap_or("").to_owned(),
        tool_result: messages
            .iter()
            .rev()
            .find(|m| m["role"] == "tool")
            .map(|t| t["content"].as_str().unwrap_or("").to_owned()),
        image: body.to_string().contains("data:image/png;base64,"),
    };
    match script_for(&seen, |id| Some(format!("call_{id}"))) {
        Err(status) => Reply::error(
            status,
            &mock_openai::error_body(status, &error_message(status, &seen.model)),
            None,
        ),
        Ok(s) if body["stream"] == json!(true) => stream_reply(mock_openai::script_stream(&s)),
        Ok(s) => Reply::ok(mock_openai::script_json(&s)),
    }
}

/// The same script for a Responses upstream.
pub(crate) fn answer_responses(rec: &Recorded) -> Reply {
    let body = &rec.body;
    let input = body["input"].as_array().cloned().unwrap_or_default();
    let seen = Seen {
        model: body["model"].as_str().unwrap_or("").to_owned(),
        tool_result: input
            .iter()
            .rev()
            .find(|i| i["type"] == "function_call_output")
            .map(|o| o["output"].as_str().unwrap_or("").to_owned()),
        image: body
            .to_string()
            .contains("\"image_url\":\"data:image/png;base64,"),
    };
    match script_for(&seen, |id| Some(format!("call_{id}"))) {
        Err(status) => Reply::error(
            status,
            &mock_responses::error_body(status, &error_message(status, &seen.model)),
            None,
        ),
        Ok(s) if body["stream"] == json!(true) => stream_reply(mock_responses::script_stream(&s)),
        Ok(s) => Reply::ok(mock_responses::script_json(&s)),
    }
}

/// The same script for a Gemini upstream (the model is in the URL path).
pub(crate) fn answer_gemini(rec: &Recorded) -> Reply {
    let contents = rec.body["contents"].as_array().cloned().unwrap_or_default();
    // The function responses may be followed by the rest of the user turn.
    let last_response = contents.iter().rev().find_map(|c| {
        c["parts"]
            .as_array()?
            .iter()
            .find_map(|p| p.get("functionResponse").cloned())
    });
    let seen = Seen {
        model: mock_gemini::model_of(rec),
        tool_result: last_response.map(|r| {
            r["response"]["output"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| r["response"].to_string())
        }),
        image: rec.body.to_string().contains("\"inlineData\""),
    };
    match script_for(&seen, |_| None) {
        Err(status) => Reply::error(
            status,
            &mock_gemini::error_body(status, &error_message(status, &seen.model)),
            None,
        ),
        Ok(s) if mock_gemini::is_stream(rec) => stream_reply(mock_gemini::script_stream(&s)),
        Ok(s) => Reply::ok(mock_gemini::script_json(&s)),
    }
}

/// The same script for an Anthropic upstream (answers in Anthropic's own
/// format).
pub(crate) fn answer_claude(rec: &Recorded) -> Reply {
    let body = &rec.body;
    let last = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .cloned()
        .unwrap_or_default();
    let seen = Seen {
        model: body["model"].as_str().unwrap_or("").to_owned(),
        tool_result: last["content"].as_array().and_then(|blocks| {
            blocks
                .iter()
                .find(|b| b["type"] == "tool_result")
                .map(|b| b["content"].as_str().unwrap_or("").to_owned())
        }),
        image: body.to_string().contains("\"type\":\"image\""),
    };
    match script_for(&seen, |id| Some(format!("toolu_{id}"))) {
        Err(status) => Reply::error(
            status,
            &mock_anthropic::error_body(status, &error_message(status, &seen.model)),
            None,
        ),
        Ok(s) if body["stream"] == json!(true) => {
            stream_reply(mock_anthropic::script_stream(&s, &seen.model))
        }
        Ok(s) => Reply::ok(mock_anthropic::script_json(&s, &seen.model)),
    }
}

fn run_sdk_suite(python: &Path, app: &TestApp) {
    let script = repo().join("tests/sdk/test_sdk.py");
    let out = run_bounded(
        Command::new(python)
            .arg(&script)
            .env("PROXY_URL", format!("http://{}", app.addr))
            .env("PROXY_KEY", ACCESS_KEY),
        SUITE_LIMIT,
    );
    assert!(
        out.code == 0,
        "SDK suite failed:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains(" passed, 0 failed"), "{}", out.stdout);
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
        spawn_mock(mock_openai::validate, answer_openai).await,
        "openai",
        "sk-1",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_against_responses_upstream() {
    sdk_suite(
        spawn_mock(mock_responses::validate, answer_responses).await,
        "responses",
        "sk-1",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_against_gemini_upstream() {
    sdk_suite(
        spawn_mock(mock_gemini::validate, answer_gemini).await,
        "gemini",
        "AIza-1",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_against_claude_upstream() {
    sdk_suite(
        spawn_mock(mock_anthropic::validate, answer_claude).await,
        "claude",
        "sk-ant-1",
    )
    .await;
}
