//! Client auth, error shapes and status mapping, limits, health.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::common::mock_openai::{self, text_completion};
use crate::common::*;

async fn app_for(mock: &Mock, keys: &[&str], env: &[(&str, &str)]) -> TestApp {
    spawn_app(
        config_with(vec![upstream("oa", "openai", &mock.url(), keys)]),
        env,
    )
    .await
}

#[tokio::test]
async fn wrong_or_missing_key_is_401_and_never_reaches_upstream() {
    let mock = spawn_mock(mock_openai::validate, |_| {
        Reply::Json(StatusCode::OK, text_completion("x"))
    })
    .await;
    let app = app_for(&mock, &["k"], &[]).await;
    let url = app.url("/v1/messages");
    let cases: Vec<Vec<(&str, String)>> = vec![
        vec![],
        vec![("x-api-key", "wrong".into())],
        vec![("authorization", "Bearer wrong".into())],
        vec![("authorization", ACCESS_KEY.into())],
        vec![("x-api-key", format!("{ACCESS_KEY}x"))],
    ];
    for headers in cases {
        let mut rb = app.client.post(&url).json(&hello());
        for (k, v) in &headers {
            rb = rb.header(*k, v);
        }
        let msg = expect_error(rb.send().await.unwrap(), 401, "authentication_error").await;
        assert!(!msg.contains(ACCESS_KEY));
    }
    assert_eq!(mock.count(), 0);
    // Bearer works and the client's credential is not forwarded.
    let resp = app
        .client
        .post(&url)
        .header("authorization", format!("Bearer {ACCESS_KEY}"))
        .json(&hello())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let sent = &mock.requests()[0];
    assert_eq!(sent.header("authorization"), Some("Bearer k"));
    assert!(!format!("{:?}", sent.headers).contains(ACCESS_KEY));
}

#[tokio::test]
async fn bad_requests_name_the_field() {
    let mock = spawn_mock(mock_openai::validate, |_| {
        Reply::Json(StatusCode::OK, text_completion("x"))
    })
    .await;
    let app = app_for(&mock, &["k"], &[]).await;
    let msg = expect_error(
        app.messages_raw("{not json").await,
        400,
        "invalid_request_error",
    )
    .await;
    assert!(msg.contains("JSON"), "{msg}");
    let msg = expect_error(app.messages_raw("").await, 400, "invalid_request_error").await;
    assert!(msg.contains("empty"), "{msg}");
    let msg = expect_error(
        app.messages(&json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}))
            .await,
        400,
        "invalid_request_error",
    )
    .await;
    assert!(msg.contains("max_tokens"), "{msg}");
    let msg = expect_error(
        app.messages(&json!({"model": "m", "max_tokens": "ten", "messages": []}))
            .await,
        400,
        "invalid_request_error",
    )
    .await;
    assert!(msg.contains("max_tokens"), "{msg}");
    let msg = expect_error(
        app.messages(&json!({"model": "m", "max_tokens": 5, "messages": [{"role": "robot", "content": "x"}]})).await,
        400,
        "invalid_request_error",
    )
    .await;
    assert!(msg.contains("messages[0].role"), "{msg}");
    let msg = expect_error(
        app.messages(&json!({"model": "m", "max_tokens": 5, "messages": []}))
            .await,
        400,
        "invalid_request_error",
    )
    .await;
    assert!(msg.contains("messages"), "{msg}");
    assert_eq!(mock.count(), 0);
}

#[tokio::test]
async fn upstream_errors_keep_their_meaning() {
    let cases: Vec<(u16, Value, u16, &str)> = vec![
        (
            400,
            json!({"error": {"message": "bad thing", "type": "invalid_request_error"}}),
            400,
            "invalid_request_error",
        ),
        (
            401,
            json!({"error": {"message": "Incorrect API key provided: sk-abc"}}),
            401,
            "authentication_error",
        ),
        (
            403,
            json!({"error": {"message": "no access"}}),
            403,
            "permission_error",
        ),
        (
            404,
            json!({"error": {"message": "model not found"}}),
            404,
            "not_found_error",
        ),
        (
            429,
            json!({"error": {"message": "slow down"}}),
            429,
            "rate_limit_error",
        ),
        (500, json!({"error": {"message": "boom"}}), 500, "api_error"),
        (
            503,
            json!({"detail": "overloaded"}),
            529,
            "overloaded_error",
        ),
    ];
    for (up_status, body, status, kind) in cases {
        let b = body.clone();
        let mock = spawn_mock(mock_openai::validate, move |_| {
            Reply::Raw(
                StatusCode::from_u16(up_status).unwrap(),
                vec![
                    ("content-type", "application/json".into()),
                    ("retry-after", "7".into()),
                ],
                serde_json::to_vec(&b).unwrap().into(),
            )
        })
        .await;
        let app = app_for(&mock, &["only-key"], &[]).await;
        let resp = app.messages(&hello()).await;
        if status == 429 {
            assert_eq!(resp.headers()["retry-after"], "7");
        }
        let msg = expect_error(resp, status, kind).await;
        assert!(msg.contains("oa"), "names the upstream: {msg}");
        assert!(!msg.contains("only-key"));
    }
}

#[tokio::test]
async fn streaming_upstream_errors_before_first_byte_keep_status() {
    let mock = spawn_mock(mock_openai::validate, |_| {
        Reply::Json(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"error": {"message": "rate limited"}}),
        )
    })
    .await;
    let app = app_for(&mock, &["k"], &[]).await;
    expect_error(app.messages(&hello_stream()).await, 429, "rate_limit_error").await;
}

#[tokio::test]
async fn unreachable_upstream_fails_fast_with_api_error() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = spawn_app(
        config_with(vec![upstream("down", "openai", &url, &["k"])]),
        &[],
    )
    .await;
    let started = Instant::now();
    let resp = app.messages(&hello()).await;
    assert!(resp.status().is_server_error());
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "api_error");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn hanging_upstream_times_out() {
    let mock = spawn_mock(mock_openai::validate, |_| Reply::Hang).await;
    let app = app_for(&mock, &["k"], &[("FIRST_BYTE_TIMEOUT", "300")]).await;
    let started = Instant::now();
    expect_error(app.messages(&hello()).await, 504, "timeout_error").await;
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn failing_key_fails_over_to_the_next() {
    let mock = spawn_mock(mock_openai::validate, |r| {
        if r.header("authorization") == Some("Bearer dead") {
            Reply::Json(
                StatusCode::UNAUTHORIZED,
                json!({"error": {"message": "invalid key"}}),
            )
        } else {
            Reply::Json(StatusCode::OK, text_completion("fine"))
        }
    })
    .await;
    let app = app_for(&mock, &["dead", "good"], &[]).await;
    for _ in 0..4 {
        assert_eq!(app.messages(&hello()).await.status(), 200);
    }
    let dead_tries = mock
        .requests()
        .iter()
        .filter(|r| r.header("authorization") == Some("Bearer dead"))
        .count();
    assert_eq!(
        dead_tries, 1,
        "a rejected key rests after its first failure"
    );
}

#[tokio::test]
async fn body_limit_is_413_request_too_large() {
    let mock = spawn_mock(mock_openai::validate, |_| {
        Reply::Json(StatusCode::OK, text_completion("x"))
    })
    .await;
    let app = app_for(&mock, &["k"], &[("MAX_BODY_SIZE", "1000")]).await;
    let big = json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x".repeat(5000)}]});
    expect_error(app.messages(&big).await, 413, "request_too_large").await;
}

#[tokio::test]
async fn no_upstream_explains_how_to_add_one() {
    let app = spawn_app(json!({}), &[]).await;
    let resp = app.messages(&hello()).await;
    assert_eq!(resp.status(), 503);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("config add"));
}

#[tokio::test]
async fn health_reports_config_without_secrets() {
    let mock = spawn_mock(no_validation, |_| Reply::Hang).await;
    let app = app_for(&mock, &["sk-secret-upstream-key-123456"], &[]).await;
    let resp = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(!text.contains("sk-secret"));
    assert!(!text.contains(ACCESS_KEY));
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["status"], "healthy");
    assert_eq!(v["mode"], "production");
    assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(v["uptime"].is_number());
    assert_eq!(v["config"]["upstreamCount"], 1);
    assert_eq!(v["config"]["currentUpstream"], 0);
    assert_eq!(v["config"]["loadBalance"], "round-robin");
}

#[tokio::test]
async fn health_path_is_configurable_and_can_be_disabled() {
    let app = spawn_app(json!({}), &[("HEALTH_CHECK_PATH", "/healthz")]).await;
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.client
            .get(app.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let app = spawn_app(json!({}), &[("HEALTH_CHECK_ENABLED", "false")]).await;
    assert_eq!(
        app.client
            .get(app.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn unknown_routes_are_404_in_anthropic_shape() {
    let app = spawn_app(json!({}), &[]).await;
    let resp = app.client.get(app.url("/v1/nothing")).send().await.unwrap();
    expect_error(resp, 404, "not_found_error").await;
    // Claude Code's HEAD /api/hello probe: a plain 404, no auth needed.
    let resp = app.client.head(app.url("/api/hello")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn concurrency_limit_answers_529_at_once() {
    let mock = spawn_mock(mock_openai::validate, |_| Reply::Sse {
        pieces: mock_openai::text_stream(&["slow", "stream"]),
        delay: Duration::from_millis(300),
        cut: false,
    })
    .await;
    let app = app_for(&mock, &["k"], &[("MAX_CONCURRENT_REQUESTS", "1")]).await;
    let body = hello_stream();
    let first = app.messages(&body).await;
    assert_eq!(first.status(), 200);
    let started = Instant::now();
    let resp = app.messages(&hello()).await;
    assert!(resp.headers().contains_key("retry-after"));
    expect_error(resp, 529, "overloaded_error").await;
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "refused at once, not queued"
    );
    // The stream holds its permit until it ends; afterwards requests pass again.
    let events = read_sse(first).await;
    accumulate(&events);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mock_reply = app.messages(&body).await;
    assert_eq!(mock_reply.status(), 200);
}

#[tokio::test]
async fn request_timeout_bounds_the_whole_request() {
    let mock = spawn_mock(mock_openai::validate, |_| Reply::Hang).await;
    let app = app_for(
        &mock,
        &["k"],
        &[("REQUEST_TIMEOUT", "300"), ("FIRST_BYTE_TIMEOUT", "10000")],
    )
    .await;
    let started = Instant::now();
    expect_error(app.messages(&hello()).await, 504, "timeout_error").await;
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn request_timeout_ends_a_stalled_stream_with_an_error_event() {
    let mock = spawn_mock(mock_openai::validate, |_| Reply::Sse {
        pieces: vec![
            mock_openai::chunk(json!({"role": "assistant", "content": "start"}), None),
            mock_openai::chunk(json!({"content": " never finished"}), None),
        ],
        delay: Duration::from_secs(30),
        cut: false,
    })
    .await;
    let app = app_for(&mock, &["k"], &[("REQUEST_TIMEOUT", "500")]).await;
    let body = hello_stream();
    let started = Instant::now();
    let events = read_sse(app.messages(&body).await).await;
    assert!(
        matches!(
            events.last(),
            Some(claude_proxy::protocol::anthropic::StreamEvent::Error { .. })
        ),
        "{events:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn silent_stream_is_ended_by_the_idle_timeout_while_pings_flow() {
    let mock = spawn_mock(mock_openai::validate, |_| Reply::Sse {
        pieces: vec![
            mock_openai::chunk(json!({"role": "assistant", "content": "first"}), None),
            mock_openai::chunk(json!({"content": " too late"}), None),
        ],
        delay: Duration::from_secs(30),
        cut: false,
    })
    .await;
    let app = app_for(
        &mock,
        &["k"],
        &[("STREAM_IDLE_TIMEOUT", "700"), ("PING_INTERVAL", "200")],
    )
    .await;
    let body = hello_stream();
    let started = Instant::now();
    let events = read_sse(app.messages(&body).await).await;
    let pings = events
        .iter()
        .filter(|e| matches!(e, claude_proxy::protocol::anthropic::StreamEvent::Ping))
        .count();
    assert!(pings >= 2, "pings while waiting: {events:?}");
    match events.last() {
        Some(claude_proxy::protocol::anthropic::StreamEvent::Error { error }) => {
            assert_eq!(error.kind, "timeout_error");
        }
        other => panic!("expected a timeout error event, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}
