//! The request store end to end: requests sent through the proxy to a mock
//! upstream are stored (keys masked, cost from `prices`), listed, searched,
//! aggregated and fed live through `/admin/api/…`; a locked, corrupt or
//! unwritable database does not stop a single request.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::mock_openai::{self, text_completion};
use crate::common::*;

const UPSTREAM_KEY: &str = "sk-store-upstream-secret-0123456789";
const WAIT: Duration = Duration::from_secs(15);

/// An OpenAI mock that answers text (streamed when asked), echoing the key
/// it was sent, as a careless upstream might.
async fn openai_mock() -> Mock {
    spawn_mock(mock_openai::validate, |r| {
        if r.body["stream"] == json!(true) {
            Reply::sse(mock_openai::text_stream(&["a", "b"]))
        } else {
            Reply::ok(text_completion(&format!("you sent {}", r.key())))
        }
    })
    .await
}

/// One upstream `store-up` mapping haiku to gpt-4o-mini, priced by a glob.
fn config(mock: &Mock) -> Value {
    let mut up = upstream("store-up", "openai", &mock.url(), &[UPSTREAM_KEY]);
    up["modelMapping"] = json!({"haiku": "gpt-4o-mini"});
    let mut cfg = config_with(vec![up]);
    cfg["prices"] = json!({"gpt-4o-*": {"input": 1, "output": 2}});
    cfg
}

async fn admin_get(app: &TestApp, path: &str) -> (u16, Value) {
    let resp = app
        .client
        .get(app.url(path))
        .header("x-api-key", ACCESS_KEY)
        .send()
        .await
        .expect("admin request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The stored rows once there are at least `n` (newest first).
async fn rows(app: &TestApp, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = admin_get(app, "/admin/api/requests?limit=500").await;
        if let Some(data) = body["data"]
            .as_array()
            .filter(|d| status == 200 && d.len() >= n)
        {
            return data.clone();
        }
        assert!(
            Instant::now() < deadline,
            "fewer than {n} stored rows: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn request_id(resp: &reqwest::Response) -> String {
    resp.headers()["request-id"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn requests_are_stored_listed_priced_and_aggregated() {
    let mock = openai_mock().await;
    let app = spawn_app(config(&mock), &[]).await;
    let plain = app.messages(&hello()).await;
    assert_eq!(plain.status(), 200);
    let plain_id = request_id(&plain);
    let streamed = app.messages(&hello_stream()).await;
    let streamed_id = request_id(&streamed);
    accumulate(&read_sse(streamed).await);
    let refused = app
        .messages(&json!({"model": "claude-haiku-4-5", "max_tokens": 5, "messages": []}))
        .await;
    assert_eq!(refused.status(), 400);
    let refused_id = request_id(&refused);

    let data = rows(&app, 3).await;
    let ids: Vec<&str> = data.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [refused_id.as_str(), streamed_id.as_str(), plain_id.as_str()]
    );
    let row = &data[2];
    assert_eq!(row["endpoint"], "messages");
    assert_eq!(row["route"], "default");
    assert_eq!(row["upstream"], "store-up");
    assert_eq!(row["key"], claude_proxy::config::mask_secret(UPSTREAM_KEY));
    assert_eq!(row["model"], "claude-haiku-4-5");
    assert_eq!(row["upstreamModel"], "gpt-4o-mini");
    assert_eq!(
        (row["stream"].clone(), row["status"].clone()),
        (json!(false), json!(200))
    );
    assert_eq!(
        (row["inputTokens"].clone(), row["outputTokens"].clone()),
        (json!(12), json!(5))
    );
    assert_eq!(
        (row["retries"].clone(), row["upstreamsTried"].clone()),
        (json!(0), json!(1))
    );
    assert_eq!(
        (row["clientGone"].clone(), row["client"].clone()),
        (json!(false), Value::Null)
    );
    let cost = row["costUsd"].as_f64().unwrap();
    assert!((cost - (12.0 + 10.0) / 1e6).abs() < 1e-12, "{cost}");
    assert!(row["latencyMs"].as_f64().unwrap() > 0.0);
    assert!(row["ttfbMs"].as_f64().unwrap() > 0.0);
    let time = row["time"].as_str().unwrap();
    assert!(time.ends_with('Z') && time.len() == 24, "{time}");
    assert_eq!(data[1]["stream"], true);
    assert_eq!(data[1]["status"], 200);
    assert!(
        data[1]["outputTokens"].as_u64().unwrap() >= 1,
        "{}",
        data[1]
    );
    let bad = &data[0];
    assert_eq!(
        (bad["status"].clone(), bad["errorType"].clone()),
        (json!(400), json!("invalid_request_error"))
    );
    assert!(bad["errorMessage"]
        .as_str()
        .unwrap()
        .contains("at least one message"));
    assert_eq!(
        (bad["upstream"].clone(), bad["costUsd"].clone()),
        (Value::Null, Value::Null)
    );

    // One row, filters, pagination, errors.
    let (status, one) = admin_get(&app, &format!("/admin/api/requests/{plain_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(one, data[2], "no bodies stored by default");
    let (status, missing) = admin_get(&app, "/admin/api/requests/req_nope").await;
    assert_eq!(
        (status, missing["error"]["type"].clone()),
        (404, json!("not_found_error"))
    );
    let (_, errors) = admin_get(&app, "/admin/api/requests?status=error").await;
    assert_eq!(errors["data"].as_array().unwrap().len(), 1);
    let (_, by_model) = admin_get(&app, "/admin/api/requests?model=gpt-4o-mini").await;
    assert_eq!(by_model["data"].as_array().unwrap().len(), 2);
    let (_, searched) = admin_get(&app, "/admin/api/requests?q=AT%20LEAST%20ONE").await;
    assert_eq!(searched["data"][0]["id"], refused_id.as_str());
    let (_, page) = admin_get(&app, "/admin/api/requests?limit=2").await;
    assert_eq!(
        (page["hasMore"].clone(), page["nextBefore"].clone()),
        (json!(true), json!(streamed_id))
    );
    let (_, page2) = admin_get(
        &app,
        &format!("/admin/api/requests?limit=2&before={streamed_id}"),
    )
    .await;
    assert_eq!(page2["data"][0]["id"], plain_id.as_str());
    assert_eq!(
        (page2["hasMore"].clone(), page2["nextBefore"].clone()),
        (json!(false), Value::Null)
    );
    for (query, param) in [
        ("limit=0", "limit"),
        ("status=teapot", "status"),
        ("before=req_gone", "before"),
    ] {
        let (status, body) = admin_get(&app, &format!("/admin/api/requests?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(param),
            "{body}"
        );
    }

    // Aggregates.
    let (status, usage) = admin_get(&app, "/admin/api/usage?group=upstream").await;
    assert_eq!(status, 200, "{usage}");
    assert_eq!(
        (usage["bucket"].clone(), usage["group"].clone()),
        (json!("hour"), json!("upstream"))
    );
    let groups = usage["rows"].as_array().unwrap();
    let up = groups
        .iter()
        .find(|r| r["group"] == "store-up")
        .expect("store-up row");
    assert_eq!(
        (up["requests"].clone(), up["errors"].clone()),
        (json!(2), json!(0))
    );
    assert_eq!(up["inputTokens"], 24);
    assert!(up["costUsd"].as_f64().unwrap() > 0.0);
    assert!(up["latencyP50Ms"].as_f64().is_some() && up["ttfbP95Ms"].as_f64().is_some());
    let none = groups
        .iter()
        .find(|r| r["group"].is_null())
        .expect("the refused request");
    assert_eq!(
        (none["errors"].clone(), none["costUsd"].clone()),
        (json!(1), Value::Null)
    );
    let (_, all) = admin_get(&app, "/admin/api/usage?bucket=day").await;
    assert_eq!(all["group"], "all");
    let total: u64 = all["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 3);
    let (status, body) = admin_get(&app, "/admin/api/usage?bucket=week").await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("bucket"));

    // The admin key is required.
    let resp = app
        .client
        .get(app.url("/admin/api/requests"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "authentication_error");
    let status = app.state.store.status_json();
    assert_eq!(
        (status["state"].clone(), status["rows"].clone()),
        (json!("ok"), json!(3))
    );
}

#[tokio::test]
async fn no_key_is_ever_stored_unmasked() {
    let mock = openai_mock().await;
    let app = spawn_app(config(&mock), &[("STORE_BODIES", "true")]).await;
    // The client even pastes both keys into its prompt.
    let body = hello().with(
        "messages",
        json!([{"role": "user", "content": format!("my keys: {UPSTREAM_KEY} {ACCESS_KEY}")}]),
    );
    let resp = app.messages(&body).await;
    assert_eq!(resp.status(), 200);
    let id = request_id(&resp);
    assert!(
        resp.text().await.unwrap().contains(UPSTREAM_KEY),
        "the mock echoes the key"
    );
    rows(&app, 1).await;
    let detail = eventually(WAIT, || async {
        let (_, d) = admin_get(&app, &format!("/admin/api/requests/{id}")).await;
        d.get("responseBody").is_some()
    })
    .await;
    assert!(detail, "bodies stored");
    let (_, d) = admin_get(&app, &format!("/admin/api/requests/{id}")).await;
    let (req, res) = (
        d["requestBody"].as_str().unwrap(),
        d["responseBody"].as_str().unwrap(),
    );
    let masked = claude_proxy::config::mask_secret(UPSTREAM_KEY);
    assert!(req.contains("my keys:") && req.contains(&masked), "{req}");
    assert!(res.contains(&format!("you sent {masked}")), "{res}");
    assert!(app.state.store.flush(WAIT));
    // Every byte the store wrote: the database, its WAL and shared memory.
    let data_dir = app.dir.path().join("data");
    let mut files = 0;
    for entry in std::fs::read_dir(&data_dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        files += 1;
        for secret in [UPSTREAM_KEY, ACCESS_KEY] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} found in {}",
                data_dir.display()
            );
        }
    }
    assert!(files >= 2, "database and WAL");
}

#[tokio::test]
async fn the_live_feed_delivers_a_request_sent_while_subscribed() {
    let mock = openai_mock().await;
    let app = spawn_app(config(&mock), &[]).await;
    let mut live = app
        .client
        .get(app.url("/admin/api/requests/live"))
        .header("authorization", format!("Bearer {ACCESS_KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    assert!(live.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    // The handler subscribed before answering: this request is seen.
    let resp = app.messages(&hello()).await;
    let id = request_id(&resp);
    let deadline = Instant::now() + WAIT;
    let mut text = String::new();
    let frame = loop {
        if let Some(frame) = text.split("\n\n").find(|f| f.contains(&id)) {
            break frame.to_owned();
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, live.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("no event for {id} (got {text:?}): {other:?}"),
        }
    };
    let data = frame
        .lines()
        .find_map(|l| l.strip_prefix("data:"))
        .expect("data line");
    assert!(frame.lines().any(|l| l == "event: request"), "{frame}");
    let row: Value = serde_json::from_str(data.trim()).unwrap();
    assert_eq!(
        (row["id"].clone(), row["status"].clone()),
        (json!(id), json!(200))
    );
    assert_eq!(row["key"], claude_proxy::config::mask_secret(UPSTREAM_KEY));
    let cost = row["costUsd"].as_f64().unwrap();
    assert!(cost > 0.0);
    // Unauthenticated: no feed.
    let resp = app
        .client
        .get(app.url("/admin/api/requests/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

/// Sends `n` requests and asserts every one is answered 200.
async fn all_served(app: &TestApp, n: usize) {
    for _ in 0..n {
        assert_eq!(app.messages(&hello()).await.status(), 200);
    }
}

/// Waits for the store to report an error and returns its message.
async fn store_error(app: &TestApp) -> String {
    let failed = eventually(WAIT, || async {
        matches!(
            app.state.store.state(),
            claude_proxy::store::StoreState::Error(_)
        )
    })
    .await;
    assert!(failed, "state {:?}", app.state.store.state());
    let status = app.state.store.status_json();
    assert_eq!(status["state"], "error");
    status["error"].as_str().unwrap().to_owned()
}

/// The admin API answers 503 with the store's error.
async fn reads_unavailable(app: &TestApp, says: &str) {
    for path in [
        "/admin/api/requests",
        "/admin/api/usage",
        "/admin/api/requests/req_x",
    ] {
        let (status, body) = admin_get(app, path).await;
        assert_eq!(status, 503, "{path}: {body}");
        assert_eq!(body["error"]["type"], "api_error");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(says),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn a_locked_database_does_not_stop_serving() {
    let mock = openai_mock().await;
    let data = tempfile::tempdir().unwrap();
    let path = data.path().join("claude-proxy.db");
    // Another process holds an exclusive lock on the file.
    let locker = rusqlite::Connection::open(&path).unwrap();
    locker
        .execute_batch("PRAGMA journal_mode=DELETE; CREATE TABLE other(x); BEGIN EXCLUSIVE; INSERT INTO other VALUES (1);")
        .unwrap();
    let dir = data.path().display().to_string();
    let app = spawn_app(config(&mock), &[("DATA_DIR", &dir)]).await;
    all_served(&app, 3).await;
    let message = store_error(&app).await;
    assert!(message.contains("locked"), "{message}");
    reads_unavailable(&app, "locked").await;
    all_served(&app, 2).await;
    // The lock goes away: the store comes back with the rows it kept.
    locker.execute_batch("ROLLBACK").unwrap();
    drop(locker);
    let data = rows(&app, 5).await;
    assert_eq!(data.len(), 5);
    assert_eq!(app.state.store.state(), claude_proxy::store::StoreState::Ok);
}

#[tokio::test]
async fn a_corrupt_database_does_not_stop_serving() {
    let mock = openai_mock().await;
    let data = tempfile::tempdir().unwrap();
    std::fs::write(
        data.path().join("claude-proxy.db"),
        b"definitely not sqlite ".repeat(500),
    )
    .unwrap();
    let dir = data.path().display().to_string();
    let app = spawn_app(config(&mock), &[("DATA_DIR", &dir)]).await;
    all_served(&app, 3).await;
    let message = store_error(&app).await;
    assert!(message.contains("not a SQLite database"), "{message}");
    reads_unavailable(&app, "not a SQLite database").await;
    all_served(&app, 3).await;
}

#[tokio::test]
async fn an_unwritable_data_dir_does_not_stop_serving() {
    let mock = openai_mock().await;
    let parent = tempfile::tempdir().unwrap();
    // A file where the directory's parent should be: unwritable for root too.
    let file = parent.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let dir = file.join("data").display().to_string();
    let app = spawn_app(config(&mock), &[("DATA_DIR", &dir)]).await;
    all_served(&app, 3).await;
    let message = store_error(&app).await;
    assert!(message.contains("cannot create DATA_DIR"), "{message}");
    reads_unavailable(&app, "cannot create DATA_DIR").await;
}

#[tokio::test]
async fn data_dir_off_stores_nothing_and_says_so() {
    let mock = openai_mock().await;
    let app = spawn_app(config(&mock), &[("DATA_DIR", "off")]).await;
    all_served(&app, 2).await;
    assert_eq!(
        app.state.store.state(),
        claude_proxy::store::StoreState::Off
    );
    let (status, body) = admin_get(&app, "/admin/api/requests").await;
    assert_eq!(status, 503);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("DATA_DIR=off"),
        "{body}"
    );
    assert!(!app.dir.path().join("data").exists());
}
