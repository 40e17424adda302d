//! Client-facing limits and browser access: the per-client rate limit
//! (ENABLE_RATE_LIMIT) and CORS preflights.

use std::time::Duration;

use axum::http::StatusCode;

use crate::common::mock_openai::{self, text_completion};
use crate::common::*;

async fn app_with(env: &[(&str, &str)]) -> (Mock, TestApp) {
    let mock = spawn_mock(mock_openai::validate, |_| {
        Reply::Json(StatusCode::OK, text_completion("x"))
    })
    .await;
    let app = spawn_app(
        config_with(vec![upstream("oa", "openai", &mock.url(), &["k"])]),
        env,
    )
    .await;
    (mock, app)
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after_per_client() {
    let (mock, app) = app_with(&[
        ("ENABLE_RATE_LIMIT", "true"),
        ("RATE_LIMIT_MAX_REQUESTS", "3"),
        ("RATE_LIMIT_WINDOW", "1000"),
    ])
    .await;
    // x-api-key and Bearer with the same key share one budget, and every
    // /v1 route counts.
    assert_eq!(app.messages(&hello()).await.status(), 200);
    assert_eq!(app.messages_raw(hello().to_string()).await.status(), 200);
    let models = app
        .client
        .get(app.url("/v1/models"))
        .header("x-api-key", ACCESS_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 200);
    let resp = app.messages(&hello()).await;
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_eq!(resp.headers()["x-should-retry"], "true");
    let msg = expect_error(resp, 429, "rate_limit_error").await;
    assert!(msg.contains("rate limit"), "{msg}");
    assert_eq!(mock.count(), 2, "refused before reaching the upstream");
    // A wrong key is refused by authentication and does not use the budget.
    let resp = app
        .client
        .post(app.url("/v1/messages"))
        .header("x-api-key", "nope")
        .json(&hello())
        .send()
        .await
        .unwrap();
    expect_error(resp, 401, "authentication_error").await;
    // Health is not limited.
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // A new window opens after RATE_LIMIT_WINDOW.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.messages(&hello()).await.status(), 200);
}

#[tokio::test]
async fn rate_limit_is_off_by_default() {
    let (_mock, app) = app_with(&[("RATE_LIMIT_MAX_REQUESTS", "1")]).await;
    for _ in 0..5 {
        assert_eq!(app.messages(&hello()).await.status(), 200);
    }
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, app.url("/v1/messages"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "x-api-key,content-type,anthropic-version",
        )
        .send()
        .await
        .unwrap()
}

/// What the official SDKs send from a browser (their platform and retry
/// headers), to the OpenAI-compatible endpoints too.
#[tokio::test]
async fn cors_preflight_allows_the_official_sdks_headers() {
    let (_mock, app) = app_with(&[("CORS_ORIGIN", "https://app.example")]).await;
    let requested = "authorization,content-type,x-stainless-arch,x-stainless-lang,x-stainless-os,\
        x-stainless-package-version,x-stainless-runtime,x-stainless-runtime-version,\
        x-stainless-retry-count,x-stainless-timeout";
    for path in ["/v1/responses", "/v1/chat/completions", "/v1/messages"] {
        let resp = app
            .client
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("origin", "https://app.example")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", requested)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        let allowed = resp.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        for name in requested.split(',') {
            assert!(
                allowed.split(',').any(|a| a.trim() == name),
                "{path}: {name} not in {allowed}"
            );
        }
    }
}

#[tokio::test]
async fn cors_preflight_allows_the_configured_origin_only() {
    let (_mock, app) = app_with(&[("CORS_ORIGIN", "https://app.example, https://b.example")]).await;
    let resp = preflight(&app, "https://app.example").await;
    assert!(resp.status().is_success(), "{}", resp.status());
    let h = resp.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    let methods = h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_ascii_uppercase();
    assert!(methods.contains("POST"), "{methods}");
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for name in ["x-api-key", "content-type", "anthropic-version"] {
        assert!(allowed.contains(name), "{allowed}");
    }
    assert!(h.contains_key("access-control-max-age"));
    // A disallowed origin gets no CORS headers at all.
    let resp = preflight(&app, "https://evil.example").await;
    assert!(!resp.headers().contains_key("access-control-allow-origin"));
    // A real request from an allowed origin carries the header too.
    let resp = app
        .client
        .post(app.url("/v1/messages"))
        .header("origin", "https://b.example")
        .header("x-api-key", ACCESS_KEY)
        .json(&hello())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://b.example"
    );
}

#[tokio::test]
async fn cors_can_be_disabled() {
    let (_mock, app) = app_with(&[("ENABLE_CORS", "false")]).await;
    let resp = preflight(&app, "https://app.example").await;
    assert!(!resp.headers().contains_key("access-control-allow-origin"));
    let (_mock, app) = app_with(&[]).await;
    let resp = preflight(&app, "https://anything.example").await;
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
}
