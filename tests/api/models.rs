//! `GET /v1/models` and `GET /v1/models/{model_id}`: the list built from the
//! current upstream's model mapping, pagination, lookup and auth.

use serde_json::{json, Value};

use crate::common::*;

async fn mapped_app() -> TestApp {
    let mut up = upstream("oa", "openai", "http://127.0.0.1:9", &["k"]);
    // modelMapping keeps the file's order: "opus", "sonnet", "my-alias", "*".
    up["modelMapping"] = json!({
        "opus": "gpt-5",
        "sonnet": "openai/gpt-5-mini",
        "my-alias": "gpt-5",
        "*": "gpt-4o"
    });
    up["maxTokens"] = json!(8192);
    spawn_app(config_with(vec![up]), &[]).await
}

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header("x-api-key", ACCESS_KEY)
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap()
}

fn ids(v: &Value) -> Vec<String> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn lists_mapping_sources_then_targets() {
    let app = mapped_app().await;
    let resp = get(&app, "/v1/models").await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        ids(&v),
        [
            "claude-opus-4-5",
            "claude-sonnet-4-5",
            "my-alias",
            "gpt-5",
            "openai/gpt-5-mini",
            "gpt-4o"
        ]
    );
    assert_eq!(v["has_more"], false);
    assert_eq!(v["first_id"], "claude-opus-4-5");
    assert_eq!(v["last_id"], "gpt-4o");
    let opus = &v["data"][0];
    assert_eq!(opus["type"], "model");
    assert_eq!(opus["display_name"], "Claude Opus 4.5");
    assert_eq!(opus["created_at"], "2025-11-24T00:00:00Z");
    assert_eq!(opus["max_input_tokens"], 200_000);
    let gpt = &v["data"][4];
    assert_eq!(gpt["max_tokens"], 8192);
    assert!(gpt.get("max_input_tokens").is_none());
    let created = gpt["created_at"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.len() == 24, "{created}");
}

#[tokio::test]
async fn pagination_with_limit_and_cursors() {
    let app = mapped_app().await;
    let mut seen = Vec::new();
    let mut path = "/v1/models?limit=4".to_owned();
    for page in 0.. {
        assert!(page < 5, "pagination does not end: {seen:?}");
        let v: Value = get(&app, &path).await.json().await.unwrap();
        seen.extend(ids(&v));
        if v["has_more"] == false {
            break;
        }
        path = format!(
            "/v1/models?limit=4&after_id={}",
            v["last_id"].as_str().unwrap()
        );
    }
    assert_eq!(seen.len(), 6);
    let v: Value = get(&app, "/v1/models?limit=2&before_id=gpt-4o")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&v), ["gpt-5", "openai/gpt-5-mini"]);
    assert_eq!(v["has_more"], true);
    assert_eq!(v["first_id"], "gpt-5");
    for bad in ["limit=0", "limit=1001", "limit=abc", "after_id=nope"] {
        let msg = expect_error(
            get(&app, &format!("/v1/models?{bad}")).await,
            400,
            "invalid_request_error",
        )
        .await;
        assert!(msg.contains(bad.split('=').next().unwrap()), "{msg}");
    }
}

#[tokio::test]
async fn retrieves_one_model_or_404() {
    let app = mapped_app().await;
    let resp = get(&app, "/v1/models/claude-sonnet-4-5").await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["id"], "claude-sonnet-4-5");
    assert_eq!(v["type"], "model");
    // Ids with a slash work too.
    let v: Value = get(&app, "/v1/models/openai/gpt-5-mini")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["id"], "openai/gpt-5-mini");
    // With "*" in the mapping every name is routed, so every name exists.
    assert_eq!(get(&app, "/v1/models/anything-at-all").await.status(), 200);

    let mut up = upstream("oa", "openai", "http://127.0.0.1:9", &["k"]);
    up["modelMapping"] = json!({"sonnet": "gpt-5"});
    let app = spawn_app(config_with(vec![up]), &[]).await;
    // A dated id reaches the upstream through its family word.
    let v: Value = get(&app, "/v1/models/claude-sonnet-4-5-20250929")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["id"], "claude-sonnet-4-5-20250929");
    let msg = expect_error(
        get(&app, "/v1/models/claude-nope-1").await,
        404,
        "not_found_error",
    )
    .await;
    assert!(msg.contains("claude-nope-1"), "{msg}");
}

#[tokio::test]
async fn empty_mapping_lists_the_claude_families() {
    let app = spawn_app(
        config_with(vec![upstream("oa", "openai", "http://127.0.0.1:9", &["k"])]),
        &[],
    )
    .await;
    let v: Value = get(&app, "/v1/models").await.json().await.unwrap();
    assert_eq!(
        ids(&v),
        ["claude-opus-4-5", "claude-sonnet-4-5", "claude-haiku-4-5"]
    );
}

#[tokio::test]
async fn requires_the_access_key() {
    let app = mapped_app().await;
    for path in ["/v1/models", "/v1/models/gpt-5"] {
        // An Anthropic client (it sends anthropic-version) gets Anthropic's
        // error; a client without it, OpenAI's (tests/api/inbound_errors.rs).
        let resp = app
            .client
            .get(app.url(path))
            .header("anthropic-version", "2023-06-01")
            .send()
            .await
            .unwrap();
        expect_error(resp, 401, "authentication_error").await;
        let resp = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 401);
        let v: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], "invalid_api_key", "{v}");
    }
}
