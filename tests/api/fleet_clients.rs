//! Client keys in a fleet: two instances on one real `redis-server` give a
//! client its `rpm` and its budgets once, together, not once each.

use std::time::Duration;

use axum::http::StatusCode;
use claude_proxy::config::KeyDigest;
use serde_json::{json, Value};

use super::fleet::fleet;
use crate::common::mock_openai::{self, text_completion};
use crate::common::redis_server::RedisServer;
use crate::common::*;

fn config(mock: &Mock, clients: Value) -> Value {
    let mut cfg = config_with(vec![upstream("oa", "openai", &mock.url(), &["sk-1"])]);
    cfg["clients"] = clients;
    cfg
}

fn client(name: &str, key: &str, limits: Value) -> Value {
    let mut c = json!({"name": name, "keyHash": KeyDigest::of(key.as_bytes()).to_key_hash()});
    for (k, v) in limits.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

async fn send(app: &TestApp, key: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/messages"))
        .header("x-api-key", key)
        .json(&hello())
        .send()
        .await
        .unwrap()
}

/// The fleet's token counter of client `name` for today, if any.
async fn day_tokens(redis: &RedisServer, name: &str) -> Option<i64> {
    let marker = format!("client:{name}:day:");
    let key = redis
        .keys()
        .await
        .into_iter()
        .find(|k| k.contains(&marker))?;
    let mut c = redis.client().await;
    redis::cmd("GET").arg(&key).query_async(&mut c).await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_rpm_and_daily_budget_hold_for_the_fleet_together() {
    let redis = RedisServer::start();
    let mock = spawn_mock(mock_openai::validate, |_| {
        Reply::Json(StatusCode::OK, text_completion("hi"))
    })
    .await;
    let cfg = config(
        &mock,
        json!([
            client("quick", "cp-quick", json!({"rpm": 3})),
            // 17 tokens per answer: the third request finds 34 of 30 used.
            client("daily", "cp-daily", json!({"dailyTokens": 30})),
        ]),
    );
    let (one, two) = fleet(&cfg, &redis, &[]).await;

    away_from_a_minute_boundary().await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let app = if i % 2 == 0 { &one } else { &two };
        statuses.push(send(app, "cp-quick").await.status().as_u16());
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 429, 429, 429],
        "3 requests per minute for the fleet, not per instance"
    );

    assert_eq!(send(&one, "cp-daily").await.status(), 200);
    assert_eq!(send(&two, "cp-daily").await.status(), 200);
    // The tokens reach Redis in the background just after each answer
    // ends: wait until the fleet's day counter holds both answers' 34.
    let counted = eventually(Duration::from_secs(5), || async {
        day_tokens(&redis, "daily").await == Some(34)
    })
    .await;
    assert!(
        counted,
        "the day counter: {:?}",
        day_tokens(&redis, "daily").await
    );
    assert_eq!(
        send(&one, "cp-daily").await.status(),
        429,
        "instance one sees the tokens spent through instance two"
    );
    let resp = send(&two, "cp-daily").await;
    assert_eq!(resp.status(), 429);
    let v: Value = resp.json().await.unwrap();
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("34 of 30 tokens used today"), "{message}");
    // Neither instance alone has seen more than 17 + its refusals' nothing.
    assert_eq!(mock.count(), 3 + 2);
    // Redis key names carry client names, never a key.
    for k in redis.keys().await {
        assert!(!k.contains("cp-quick") && !k.contains("cp-daily"), "{k}");
    }
}
