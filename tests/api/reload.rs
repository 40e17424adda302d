//! Hot reload through the running server: file watching (in-place writes
//! and rename-saves), broken files, and the reload endpoint.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::common::mock_openai::{self, text_completion};
use crate::common::*;

async fn two_mocks() -> (Mock, Mock) {
    let a = spawn_mock(mock_openai::validate, |_| {
        Reply::Json(StatusCode::OK, text_completion("from A"))
    })
    .await;
    let b = spawn_mock(mock_openai::validate, |_| {
        Reply::Json(StatusCode::OK, text_completion("from B"))
    })
    .await;
    (a, b)
}

fn config(a: &Mock, b: &Mock, current: usize) -> Value {
    json!({
        "upstream": [upstream("a", "openai", &a.url(), &["key-a-0123456789"]), upstream("b", "openai", &b.url(), &["key-b-0123456789"])],
        "currentUpstream": current,
        "loadBalance": "round-robin"
    })
}

async fn answer(app: &TestApp) -> String {
    let v: Value = app.messages(&hello()).await.json().await.unwrap();
    v["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Polls until the proxy answers `want` (bounded).
async fn wait_for(app: &TestApp, want: &str) {
    assert!(
        eventually(Duration::from_secs(5), || async {
            answer(app).await == want
        })
        .await,
        "configuration was not reloaded to {want}"
    );
}

#[tokio::test]
async fn in_place_write_and_rename_save_are_picked_up() {
    let (a, b) = two_mocks().await;
    let mut app = spawn_app(config(&a, &b, 0), &[]).await;
    app.watch();
    assert_eq!(answer(&app).await, "from A");

    std::fs::write(
        app.config_path(),
        serde_json::to_vec_pretty(&config(&a, &b, 1)).unwrap(),
    )
    .unwrap();
    wait_for(&app, "from B").await;

    // An editor that saves by writing a temp file and renaming it over.
    let tmp = app.dir.path().join(".config.json.swp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&config(&a, &b, 0)).unwrap()).unwrap();
    std::fs::rename(&tmp, app.config_path()).unwrap();
    wait_for(&app, "from A").await;
}

#[tokio::test]
async fn broken_file_keeps_the_running_configuration() {
    let (a, b) = two_mocks().await;
    let mut app = spawn_app(config(&a, &b, 0), &[]).await;
    app.watch();
    std::fs::write(app.config_path(), b"{\"upstream\": [ broken").unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(answer(&app).await, "from A");
    // The file was not replaced.
    assert_eq!(
        std::fs::read(app.config_path()).unwrap(),
        b"{\"upstream\": [ broken"
    );
    let resp = app
        .client
        .post(app.url("/admin/config/reload"))
        .header("x-api-key", ACCESS_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert!(
        v["error"]["message"].as_str().unwrap().contains(":1:"),
        "line and column: {v}"
    );
    // Fixing it is picked up.
    std::fs::write(
        app.config_path(),
        serde_json::to_vec_pretty(&config(&a, &b, 1)).unwrap(),
    )
    .unwrap();
    wait_for(&app, "from B").await;
}

#[tokio::test]
async fn reload_endpoint_requires_the_key_and_masks_keys() {
    let (a, b) = two_mocks().await;
    let app = spawn_app(config(&a, &b, 0), &[]).await;
    std::fs::write(
        app.config_path(),
        serde_json::to_vec_pretty(&config(&a, &b, 1)).unwrap(),
    )
    .unwrap();
    let url = app.url("/admin/config/reload");
    let resp = app.client.post(&url).send().await.unwrap();
    expect_error(resp, 401, "authentication_error").await;
    assert_eq!(
        answer(&app).await,
        "from A",
        "nothing reloaded without auth"
    );
    let resp = app
        .client
        .post(&url)
        .header("x-api-key", ACCESS_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(
        !text.contains("key-a-0123456789") && !text.contains("key-b-0123456789"),
        "{text}"
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["config"]["currentUpstream"], 1);
    assert_eq!(answer(&app).await, "from B");
}

#[tokio::test]
async fn admin_key_is_separate_when_set() {
    let (a, b) = two_mocks().await;
    let app = spawn_app(config(&a, &b, 0), &[("ADMIN_ACCESS_KEY", "admin-secret")]).await;
    let url = app.url("/admin/config/reload");
    let resp = app
        .client
        .post(&url)
        .header("x-api-key", ACCESS_KEY)
        .send()
        .await
        .unwrap();
    expect_error(resp, 401, "authentication_error").await;
    let resp = app
        .client
        .post(&url)
        .header("authorization", "Bearer admin-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn running_stream_finishes_on_the_old_upstream() {
    let slow = spawn_mock(mock_openai::validate, |_| Reply::Sse {
        pieces: mock_openai::text_stream(&["old ", "upstream ", "stream"]),
        delay: Duration::from_millis(200),
        cut: false,
    })
    .await;
    let (_, b) = two_mocks().await;
    let mut app = spawn_app(config(&slow, &b, 0), &[]).await;
    app.watch();
    let resp = app.messages(&hello_stream()).await;
    std::fs::write(
        app.config_path(),
        serde_json::to_vec_pretty(&config(&slow, &b, 1)).unwrap(),
    )
    .unwrap();
    let msg = accumulate(&read_sse(resp).await);
    assert_eq!(
        msg.content,
        vec![claude_proxy::protocol::anthropic::ResponseBlock::Text {
            text: "old upstream stream".into()
        }]
    );
    wait_for(&app, "from B").await;
}
