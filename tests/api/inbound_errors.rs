//! Errors on the OpenAI-compatible endpoints come in OpenAI's shape with the
//! matching status: authentication, upstream failures, the client rate
//! limit, bad bodies, what the gateway cannot serve, streams that fail; and
//! `GET /v1/models` answers in the shape the client's headers ask for.

use serde_json::{json, Value};

use super::inbound_common::*;
use crate::common::*;
use crate::common::{mock_anthropic, mock_openai};

/// A path and the smallest body it takes.
type Endpoint = (&'static str, fn() -> Value);

const ENDPOINTS: [Endpoint; 2] = [
    (
        "/v1/chat/completions",
        || json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
    ),
    ("/v1/responses", || json!({"model": "m", "input": "hi"})),
];

#[tokio::test]
async fn a_wrong_or_missing_key_is_openais_invalid_api_key() {
    let mock = mock_for("openai", hello_script).await;
    let app = app_for("openai", "sk-1", &mock).await;
    for (path, body) in ENDPOINTS {
        for key in [Some("Bearer wrong"), None] {
            let mut req = app.client.post(app.url(path)).json(&body());
            if let Some(k) = key {
                req = req.header("authorization", k);
            }
            let e =
                expect_openai_error(req.send().await.unwrap(), 401, "invalid_request_error").await;
            assert_eq!(e["code"], "invalid_api_key", "{path}");
        }
        // x-api-key works too.
        let ok = app
            .client
            .post(app.url(path))
            .header("x-api-key", ACCESS_KEY)
            .json(&body())
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200, "{path}");
    }
    // /v1/messages keeps Anthropic's shape.
    let resp = app
        .client
        .post(app.url("/v1/messages"))
        .json(&hello())
        .send()
        .await
        .unwrap();
    expect_error(resp, 401, "authentication_error").await;
}

#[tokio::test]
async fn upstream_failures_keep_their_status_in_openais_shape() {
    for (kind, key) in [("openai", "sk-1"), ("claude", "sk-ant-1")] {
        for (status, kind_out) in [
            (429, "rate_limit_error"),
            (500, "server_error"),
            (400, "invalid_request_error"),
        ] {
            for (path, body) in ENDPOINTS {
                let mock = if kind == "openai" {
                    spawn_mock(mock_openai::validate, move |_| {
                        Reply::error(
                            status,
                            &mock_openai::error_body(status, "upstream says no"),
                            Some("7"),
                        )
                    })
                    .await
                } else {
                    spawn_mock(mock_anthropic::validate, move |_| {
                        Reply::error(
                            status,
                            &mock_anthropic::error_body(status, "upstream says no"),
                            Some("7"),
                        )
                    })
                    .await
                };
                let app = app_for(kind, key, &mock).await;
                let resp = post(&app, path, &body()).await;
                if status == 429 {
                    assert!(resp.headers().contains_key("retry-after"), "{kind} {path}");
                }
                let expected = if status == 400 { 400 } else { status };
                expect_openai_error(resp, expected, kind_out).await;
            }
        }
    }
}

#[tokio::test]
async fn the_client_rate_limit_answers_in_openais_shape() {
    let mock = mock_for("openai", hello_script).await;
    let app = spawn_app(
        config_with(vec![upstream("up", "openai", &mock.url(), &["sk-1"])]),
        &[
            ("ENABLE_RATE_LIMIT", "true"),
            ("RATE_LIMIT_MAX_REQUESTS", "1"),
            ("RATE_LIMIT_WINDOW", "60000"),
        ],
    )
    .await;
    let (path, body) = ENDPOINTS[0];
    assert_eq!(post(&app, path, &body()).await.status(), 200);
    let resp = post(&app, path, &body()).await;
    assert!(resp.headers().contains_key("retry-after"));
    let e = expect_openai_error(resp, 429, "rate_limit_error").await;
    assert_eq!(e["code"], "rate_limit_exceeded");
}

#[tokio::test]
async fn bad_requests_are_400_in_openais_shape() {
    let mock = mock_for("gemini", hello_script).await;
    let app = app_for("gemini", "AIza-1", &mock).await;
    let bad = [
        (
            "/v1/chat/completions",
            json!({"model": "m", "n": 2, "messages": [{"role": "user", "content": "hi"}]}),
            "n:",
        ),
        (
            "/v1/chat/completions",
            json!({"model": "m", "messages": []}),
            "messages",
        ),
        (
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "hi"}]}),
            "model",
        ),
        (
            "/v1/chat/completions",
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}),
            "audio",
        ),
        (
            "/v1/chat/completions",
            json!({"model": "m", "stop": ["a", "b", "c", "d", "e"], "messages": [{"role": "user", "content": "hi"}]}),
            "stop",
        ),
        (
            "/v1/responses",
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]}),
            "file ids",
        ),
        ("/v1/responses", json!({"model": "m"}), "no user"),
    ];
    for (path, body, words) in bad {
        let e =
            expect_openai_error(post(&app, path, &body).await, 400, "invalid_request_error").await;
        assert!(
            e["message"].as_str().unwrap().contains(words),
            "{path}: {e}"
        );
    }
    let resp = app
        .client
        .post(app.url("/v1/chat/completions"))
        .header("authorization", format!("Bearer {ACCESS_KEY}"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_openai_error(resp, 400, "invalid_request_error").await;
    assert_eq!(mock.count(), 0, "nothing reached the upstream");
}

#[tokio::test]
async fn a_stream_that_breaks_ends_with_an_error_in_the_clients_protocol() {
    let mock = spawn_mock(mock_openai::validate, |_| Reply::Sse {
        pieces: vec![
            mock_openai::chunk(json!({"role": "assistant", "content": ""}), None),
            mock_openai::chunk(json!({"content": "partial"}), None),
        ],
        delay: std::time::Duration::from_millis(1),
        cut: true,
    })
    .await;
    let app = app_for("openai", "sk-1", &mock).await;
    // The pass-through relays what came, then OpenAI's error data.
    let body =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let d = data(
        &post(&app, "/v1/chat/completions", &body)
            .await
            .bytes()
            .await
            .unwrap(),
    );
    assert!(d.last().unwrap()["error"]["message"].is_string(), "{d:?}");
    assert!(!d.contains(&json!("[DONE]")));
    // Translated: the Responses stream ends with response.failed.
    let body = json!({"model": "m", "stream": true, "input": "hi"});
    let d = data(
        &post(&app, "/v1/responses", &body)
            .await
            .bytes()
            .await
            .unwrap(),
    );
    let last = d.last().unwrap();
    assert_eq!(last["type"], "response.failed", "{d:?}");
    assert_eq!(last["response"]["status"], "failed");
    assert!(last["response"]["error"]["message"].is_string());
    let deltas: String = d
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .filter_map(|e| e["delta"].as_str())
        .collect();
    assert_eq!(deltas, "partial");
}

#[tokio::test]
async fn models_answer_in_the_shape_the_client_asks_for() {
    let mock = mock_for("openai", hello_script).await;
    let mut up = upstream("up", "openai", &mock.url(), &["sk-1"]);
    up["modelMapping"] = json!({"sonnet": "gpt-5", "gpt-4o": "gpt-4o"});
    let app = spawn_app(config_with(vec![up]), &[]).await;
    let get = |path: &'static str, anthropic: bool| {
        let mut r = app
            .client
            .get(app.url(path))
            .header("authorization", format!("Bearer {ACCESS_KEY}"));
        if anthropic {
            r = r.header("anthropic-version", "2023-06-01");
        }
        r.send()
    };
    let openai: Value = get("/v1/models", false)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(openai["object"], "list");
    let first = &openai["data"][0];
    assert_eq!(first["object"], "model");
    assert!(
        first["created"].as_u64().unwrap() > 1_700_000_000,
        "{first}"
    );
    assert!(first["owned_by"].is_string());
    let ids: Vec<&str> = openai["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"gpt-5") && ids.contains(&"claude-sonnet-4-5"),
        "{ids:?}"
    );
    let anthropic: Value = get("/v1/models", true).await.unwrap().json().await.unwrap();
    assert_eq!(anthropic["data"][0]["type"], "model");
    assert!(anthropic.get("has_more").is_some() && anthropic.get("object").is_none());
    let one: Value = get("/v1/models/gpt-5", false)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (one["id"].as_str(), one["object"].as_str()),
        (Some("gpt-5"), Some("model"))
    );
    let missing = get("/v1/models/nope", false).await.unwrap();
    expect_openai_error(missing, 404, "invalid_request_error").await;
    let missing = get("/v1/models/nope", true).await.unwrap();
    expect_error(missing, 404, "not_found_error").await;
}

#[tokio::test]
async fn a_full_proxy_refuses_at_once_in_openais_shape() {
    let mock = spawn_mock(mock_openai::validate, |_| Reply::Hang).await;
    let app = spawn_app(
        config_with(vec![upstream("up", "openai", &mock.url(), &["sk-1"])]),
        &[("MAX_CONCURRENT_REQUESTS", "1")],
    )
    .await;
    let (path, body) = ENDPOINTS[0];
    let busy = {
        let client = app.client.clone();
        let url = app.url(path);
        tokio::spawn(async move {
            client
                .post(url)
                .header("authorization", format!("Bearer {ACCESS_KEY}"))
                .json(&body())
                .send()
                .await
        })
    };
    assert!(
        eventually(std::time::Duration::from_secs(5), || async {
            mock.count() == 1
        })
        .await,
        "the first request holds the only permit"
    );
    for (path, body) in ENDPOINTS {
        let resp = post(&app, path, &body()).await;
        assert_eq!(resp.headers()["retry-after"], "1");
        let e = expect_openai_error(resp, 503, "server_error").await;
        assert_eq!(e["code"], "server_is_overloaded", "{path}");
    }
    busy.abort();
}
