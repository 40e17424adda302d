//! Drives the OpenAI-compatible endpoints with the official `openai`
//! Python SDK (tests/sdk/test_openai_sdk.py), in front of a mock upstream of
//! each type. The SDK is installed into the same venv as the Anthropic SDK
//! (tests/api/sdk.rs, pinned in tests/sdk/requirements.txt).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::common::process::run_bounded;
use crate::common::*;
use crate::common::{mock_anthropic, mock_gemini, mock_openai, mock_responses};
use crate::sdk::{answer_claude, answer_gemini, answer_openai, answer_responses, sdk_python};

/// One run of the SDK script.
const SUITE_LIMIT: Duration = Duration::from_secs(300);

/// Runs the script against the proxy in front of `mock`, configured as one
/// upstream of `service_type`.
async fn openai_sdk_suite(mock: Mock, service_type: &str, key: &str) {
    let python = tokio::task::spawn_blocking(sdk_python).await.unwrap();
    let app = spawn_app(
        config_with(vec![upstream("up", service_type, &mock.url(), &[key])]),
        &[],
    )
    .await;
    let addr = app.addr;
    let out = tokio::task::spawn_blocking(move || {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/test_openai_sdk.py");
        run_bounded(
            Command::new(&python)
                .arg(&script)
                .env("PROXY_URL", format!("http://{addr}"))
                .env("PROXY_KEY", ACCESS_KEY),
            SUITE_LIMIT,
        )
    })
    .await
    .unwrap();
    assert!(
        out.code == 0,
        "openai SDK suite failed against {service_type}:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains(" passed, 0 failed"), "{}", out.stdout);
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_sdk_against_openai_upstream() {
    let mock = spawn_mock(mock_openai::validate, answer_openai).await;
    openai_sdk_suite(mock, "openai", "sk-1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_sdk_against_openaiold_upstream() {
    let mock = spawn_mock(mock_openai::validate, answer_openai).await;
    openai_sdk_suite(mock, "openaiold", "sk-1").await;
}

/// `responses.create` reaches this upstream as the client's own body (the
/// pass-through); `chat.completions.create` through the translation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_sdk_against_responses_upstream() {
    let mock = spawn_mock(mock_responses::validate, answer_responses).await;
    openai_sdk_suite(mock, "responses", "sk-1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_sdk_against_gemini_upstream() {
    let mock = spawn_mock(mock_gemini::validate, answer_gemini).await;
    openai_sdk_suite(mock, "gemini", "AIza-1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_sdk_against_claude_upstream() {
    let mock = spawn_mock(mock_anthropic::validate, answer_claude).await;
    openai_sdk_suite(mock, "claude", "sk-ant-1").await;
}
