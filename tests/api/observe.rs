//! What operators see: `/metrics` (Prometheus text, protected unless
//! METRICS_PUBLIC) and `/admin/dev/info` (development only, admin key,
//! secrets masked). The metrics recorder is process-wide, so assertions are
//! about series being present and growing, never exact totals.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::common::mock_openai::{self, text_completion};
use crate::common::*;

const UPSTREAM_KEY: &str = "sk-observe-upstream-key-0123456789";

#[tokio::test]
async fn metrics_count_requests_latency_tokens_retries_and_key_failures() {
    let mock = spawn_mock(mock_openai::validate, |r| {
        if r.header("authorization") == Some("Bearer sk-observe-bad") {
            Reply::Json(
                StatusCode::UNAUTHORIZED,
                json!({"error": {"message": "invalid"}}),
            )
        } else if r.body["stream"] == json!(true) {
            Reply::Sse {
                pieces: mock_openai::text_stream(&["a", "b"]),
                delay: std::time::Duration::ZERO,
                cut: false,
            }
        } else {
            Reply::Json(StatusCode::OK, text_completion("x"))
        }
    })
    .await;
    let mut cfg = config_with(vec![upstream(
        "metrics-up",
        "openai",
        &mock.url(),
        &["sk-observe-bad", UPSTREAM_KEY],
    )]);
    cfg["loadBalance"] = json!("failover");
    let app = spawn_app(cfg, &[]).await;
    let ok = |metrics: &str| {
        sum_samples(
            metrics,
            "claude_proxy_requests_total",
            &[
                ("upstream", "metrics-up"),
                ("status", "200"),
                ("endpoint", "messages"),
                ("route", "default"),
            ],
        )
    };
    let before = ok(&app.metrics().await);
    assert_eq!(app.messages(&hello()).await.status(), 200);
    let events = read_sse(app.messages(&hello_stream()).await).await;
    accumulate(&events);
    let text = app.metrics().await;
    assert!(ok(&text) >= before + 2.0, "{text}");
    for series in [
        "claude_proxy_request_duration_seconds_bucket{upstream=\"metrics-up\"",
        "claude_proxy_ttfb_seconds_bucket{upstream=\"metrics-up\"",
        "claude_proxy_tokens_total{upstream=\"metrics-up\",kind=\"input\",client=\"-\"}",
        "claude_proxy_tokens_total{upstream=\"metrics-up\",kind=\"output\",client=\"-\"}",
        "claude_proxy_retries_total{upstream=\"metrics-up\"}",
        "claude_proxy_key_failures_total{upstream=\"metrics-up\",reason=\"rejected\"}",
        "claude_proxy_inflight_requests",
    ] {
        assert!(text.contains(series), "missing {series} in\n{text}");
    }
    assert!(
        sample(
            &text,
            "claude_proxy_tokens_total{upstream=\"metrics-up\",kind=\"output\",client=\"-\"}"
        ) >= 2.0
    );
    assert!(!text.contains(UPSTREAM_KEY) && !text.contains(ACCESS_KEY));
}

#[tokio::test]
async fn metrics_need_the_access_key_unless_public() {
    let app = spawn_app(json!({}), &[]).await;
    let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
    expect_error(resp, 401, "authentication_error").await;
    app.metrics().await;
    let app = spawn_app(json!({}), &[("METRICS_PUBLIC", "true")]).await;
    let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn dev_info_only_in_development_behind_the_admin_key_and_masked() {
    let admin = "admin-key-for-observe-tests-0123";
    let mock = spawn_mock(no_validation, |_| Reply::Hang).await;
    let cfg = config_with(vec![upstream("oa", "openai", &mock.url(), &[UPSTREAM_KEY])]);
    let app = spawn_app(cfg.clone(), &[("ADMIN_ACCESS_KEY", admin)]).await;
    let resp = app
        .client
        .get(app.url("/admin/dev/info"))
        .header("x-api-key", admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "production: no dev route");
    let app = spawn_app(
        cfg,
        &[("NODE_ENV", "development"), ("ADMIN_ACCESS_KEY", admin)],
    )
    .await;
    let get = |key: &'static str| {
        app.client
            .get(app.url("/admin/dev/info"))
            .header("x-api-key", key)
            .send()
    };
    expect_error(get(ACCESS_KEY).await.unwrap(), 401, "authentication_error").await;
    let resp = get(admin).await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    for secret in [UPSTREAM_KEY, ACCESS_KEY, admin] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["config"]["upstream"][0]["keys"], 1);
    let masked = v["config"]["upstream"][0]["apiKeys"][0].as_str().unwrap();
    assert!(masked.contains('…'), "{masked}");
    assert!(v["settings"]["proxyAccessKey"]
        .as_str()
        .unwrap()
        .contains('…'));
}
