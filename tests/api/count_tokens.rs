//! `POST /v1/messages/count_tokens`: local counting for non-Claude upstreams,
//! forwarding to a Claude upstream's own counter, auth and error shapes.

use axum::http::StatusCode;
use claude_proxy::protocol::anthropic::CountTokensRequest;
use serde_json::{json, Value};

use crate::common::*;
use crate::common::{mock_anthropic, mock_openai};

fn body() -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "system": "You are terse.",
        "messages": [{"role": "user", "content": "Count me, please."}],
        "tools": [{"name": "Read", "description": "Read a file", "input_schema": {"type": "object"}}]
    })
}

fn local_count(v: &Value) -> u64 {
    let req: CountTokensRequest = serde_json::from_value(v.clone()).unwrap();
    claude_proxy::tokens::count_tokens(&req)
}

async fn post(app: &TestApp, body: &Value, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut rb = app
        .client
        .post(app.url("/v1/messages/count_tokens?beta=true"))
        .header("x-api-key", ACCESS_KEY)
        .json(body);
    for (k, v) in extra {
        rb = rb.header(*k, *v);
    }
    rb.send().await.unwrap()
}

async fn openai_app() -> (Mock, TestApp) {
    let mock = spawn_mock(mock_openai::validate, |_| {
        Reply::Json(StatusCode::OK, mock_openai::text_completion("x"))
    })
    .await;
    let app = spawn_app(
        config_with(vec![upstream("oa", "openai", &mock.url(), &["k"])]),
        &[],
    )
    .await;
    (mock, app)
}

#[tokio::test]
async fn openai_upstream_counts_locally() {
    let (mock, app) = openai_app().await;
    let resp = post(&app, &body(), &[("anthropic-version", "2023-06-01")]).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("request-id"));
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v, json!({"input_tokens": local_count(&body())}));
    // A real Claude Code request (it carries `max_tokens`, `stream`, … which
    // count_tokens ignores).
    let fixture = fixture("05-haiku-turn2.json");
    let resp = post(&app, &fixture, &[]).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    let n = v["input_tokens"].as_u64().unwrap();
    assert_eq!(n, local_count(&fixture));
    assert!(n > 5_000, "{n}");
    assert_eq!(mock.count(), 0, "local counting never calls the upstream");
}

#[tokio::test]
async fn works_without_any_upstream() {
    let app = spawn_app(config_with(vec![]), &[]).await;
    let resp = post(&app, &body(), &[]).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["input_tokens"], local_count(&body()));
}

#[tokio::test]
async fn requires_the_access_key() {
    let (_mock, app) = openai_app().await;
    let url = app.url("/v1/messages/count_tokens");
    let resp = app.client.post(&url).json(&body()).send().await.unwrap();
    expect_error(resp, 401, "authentication_error").await;
    let resp = app
        .client
        .post(&url)
        .header("x-api-key", "wrong")
        .json(&body())
        .send()
        .await
        .unwrap();
    expect_error(resp, 401, "authentication_error").await;
    let resp = app
        .client
        .post(&url)
        .header("authorization", format!("Bearer {ACCESS_KEY}"))
        .json(&body())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn bad_bodies_are_400_naming_the_field() {
    let (_mock, app) = openai_app().await;
    let cases = [
        (
            json!({"messages": [{"role": "user", "content": "hi"}]}),
            "model",
        ),
        (json!({"model": "m", "messages": "hi"}), "messages"),
        (
            json!({"model": "m", "messages": [{"role": "robot", "content": "hi"}]}),
            "messages[0].role",
        ),
        (json!({"model": "m", "messages": []}), "messages"),
    ];
    for (bad, field) in cases {
        let msg = expect_error(post(&app, &bad, &[]).await, 400, "invalid_request_error").await;
        assert!(msg.contains(field), "{msg:?} should name {field}");
    }
    let resp = app
        .client
        .post(app.url("/v1/messages/count_tokens"))
        .header("x-api-key", ACCESS_KEY)
        .header("content-type", "application/json")
        .body("{\"model\":")
        .send()
        .await
        .unwrap();
    let msg = expect_error(resp, 400, "invalid_request_error").await;
    assert!(msg.contains("invalid JSON"), "{msg}");
}

/// Anthropic's own checks (count_tokens path), and no client credential.
fn validate_anthropic(r: &Recorded) -> Result<(), String> {
    mock_anthropic::validate(r)?;
    if r.path != "/v1/messages/count_tokens" {
        return Err(format!("unexpected path {}", r.path));
    }
    if r.header("authorization").is_some() {
        return Err("unexpected authorization header".into());
    }
    Ok(())
}

async fn claude_app(mock: &Mock) -> TestApp {
    let mut up = upstream("anthropic", "claude", &mock.url(), &["sk-ant-upstream"]);
    up["modelMapping"] = json!({"sonnet": "claude-real-sonnet"});
    spawn_app(config_with(vec![up]), &[]).await
}

#[tokio::test]
async fn claude_upstream_forwards_to_its_counter() {
    let mock = spawn_mock(validate_anthropic, |_| {
        Reply::Json(StatusCode::OK, json!({"input_tokens": 42}))
    })
    .await;
    let app = claude_app(&mock).await;
    let resp = post(
        &app,
        &body(),
        &[
            ("anthropic-version", "2023-06-01"),
            (
                "anthropic-beta",
                "token-counting-2024-11-01,claude-code-20250219",
            ),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"input_tokens": 42})
    );
    let sent = &mock.requests()[0];
    assert_eq!(sent.header("x-api-key"), Some("sk-ant-upstream"));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(
        sent.header("anthropic-beta"),
        Some("token-counting-2024-11-01,claude-code-20250219")
    );
    assert!(!format!("{:?}", sent.headers).contains(ACCESS_KEY));
    let mut expected = body();
    expected["model"] = json!("claude-real-sonnet");
    assert_eq!(sent.body, expected);

    // No client version: the default goes upstream; no beta header.
    let resp = post(&app, &body(), &[]).await;
    assert_eq!(resp.status(), 200);
    let sent = &mock.requests()[1];
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.header("anthropic-beta"), None);
}

#[tokio::test]
async fn claude_upstream_errors_keep_anthropic_shape() {
    let mock = spawn_mock(validate_anthropic, |_| {
        Reply::Json(
            StatusCode::BAD_REQUEST,
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": "messages: too long"}}),
        )
    })
    .await;
    let app = claude_app(&mock).await;
    let msg = expect_error(post(&app, &body(), &[]).await, 400, "invalid_request_error").await;
    assert!(msg.contains("too long"), "{msg}");
    // Validation happens before forwarding.
    let bad = json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]});
    expect_error(post(&app, &bad, &[]).await, 400, "invalid_request_error").await;
    assert_eq!(mock.count(), 1);
}
