//! Named client keys (docs/clients.md): who may call, what they may use,
//! their limits and budgets, rotation and hot reload, and the official
//! SDKs' exceptions for each refusal.

use std::process::Command;
use std::time::Duration;

use axum::http::StatusCode;
use claude_proxy::commands::clients::{self as edits, ClientLimits, Setting};
use claude_proxy::config::{store as config_store, KeyDigest};
use serde_json::{json, Value};

use crate::common::mock_openai::{self, text_completion};
use crate::common::process::run_bounded;
use crate::common::*;

/// An OpenAI mock answering "from NAME" (12 prompt + 5 completion tokens).
async fn named_mock(name: &'static str) -> Mock {
    spawn_mock(mock_openai::validate, move |r| {
        if r.body["stream"] == json!(true) {
            Reply::Sse {
                pieces: mock_openai::text_stream(&["from ", name]),
                delay: Duration::ZERO,
                cut: false,
            }
        } else {
            Reply::Json(StatusCode::OK, text_completion(&format!("from {name}")))
        }
    })
    .await
}

fn hash(key: &str) -> String {
    KeyDigest::of(key.as_bytes()).to_key_hash()
}

fn client(name: &str, key: &str, extra: Value) -> Value {
    let mut c = json!({"name": name, "keyHash": hash(key)});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

/// `pricey` is the current upstream; `cheap` is the one teammates get.
fn team_config(pricey: &Mock, cheap: &Mock, clients: Vec<Value>) -> Value {
    let mut cfg = config_with(vec![
        upstream("pricey", "openai", &pricey.url(), &["sk-pricey"]),
        upstream("cheap", "openai", &cheap.url(), &["sk-cheap"]),
    ]);
    cfg["clients"] = json!(clients);
    cfg["prices"] = json!({"*": {"input": 1000, "output": 1000}});
    cfg
}

async fn send(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/messages"))
        .header("x-api-key", key)
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Status, `error.type` and message of an Anthropic-shaped error answer.
async fn error_of(resp: reqwest::Response) -> (u16, String, String, reqwest::header::HeaderMap) {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error", "{v}");
    (
        status,
        v["error"]["type"].as_str().unwrap().to_owned(),
        v["error"]["message"].as_str().unwrap().to_owned(),
        headers,
    )
}

async fn text_of(resp: reqwest::Response) -> String {
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    v["content"][0]["text"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_refusal_has_its_status_and_type_and_reaches_no_upstream() {
    let (pricey, cheap) = (named_mock("pricey").await, named_mock("cheap").await);
    let app = spawn_app(
        team_config(
            &pricey,
            &cheap,
            vec![
                client(
                    "alice",
                    "cp-alice",
                    json!({"models": ["claude-sonnet-*", "claude-haiku-*"], "upstreams": ["cheap"]}),
                ),
                client("old", "cp-old", json!({"expires": "2020-01-01"})),
                client("off", "cp-off", json!({"disabled": true})),
                client("quick", "cp-quick", json!({"rpm": 2})),
                client("wordy", "cp-wordy", json!({"tpm": 10})),
                client("daily", "cp-daily", json!({"dailyTokens": 10})),
                client("spender", "cp-spender", json!({"monthlyCostUsd": 0.01})),
            ],
        ),
        &[],
    )
    .await;
    let calls = || pricey.count() + cheap.count();
    let sonnet = hello().with("model", "claude-sonnet-4-5");

    // Unknown, expired, disabled: 401, nothing sent upstream.
    for (key, needle) in [
        (
            "cp-nobody",
            "does not match PROXY_ACCESS_KEY or any client key",
        ),
        ("cp-ali", "does not match"),
        ("cp-old", "expired at 2020-01-01T00:00:00.000Z"),
        ("cp-off", "disabled"),
    ] {
        let (status, kind, message, _) = error_of(send(&app, key, &sonnet).await).await;
        assert_eq!(
            (status, kind.as_str()),
            (401, "authentication_error"),
            "{key}"
        );
        assert!(message.contains(needle), "{key}: {message}");
    }
    assert_eq!(calls(), 0);

    // A model alice may not use: 403 naming what she may.
    let (status, kind, message, _) =
        error_of(send(&app, "cp-alice", &hello().with("model", "claude-opus-4-5")).await).await;
    assert_eq!((status, kind.as_str()), (403, "permission_error"));
    assert!(
        message.contains("claude-sonnet-*, claude-haiku-*"),
        "{message}"
    );
    // An upstream she may not name: 403 naming hers.
    let (status, kind, message, _) = error_of(
        send(
            &app,
            "cp-alice",
            &sonnet.clone().with("model", "pricey,claude-sonnet-4-5"),
        )
        .await,
    )
    .await;
    assert_eq!((status, kind.as_str()), (403, "permission_error"));
    assert!(
        message.contains("allowed upstreams are: cheap"),
        "{message}"
    );
    let resp = app
        .client
        .post(app.url("/v1/messages"))
        .header("x-api-key", "cp-alice")
        .header("x-claude-proxy-upstream", "pricey")
        .json(&sonnet)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(calls(), 0, "no refusal reached an upstream");

    // Her default route is the current upstream, which she may not use:
    // her own upstream serves her; the all-access key still reaches pricey.
    assert_eq!(
        text_of(send(&app, "cp-alice", &sonnet).await).await,
        "from cheap"
    );
    assert_eq!(
        text_of(send(&app, ACCESS_KEY, &sonnet).await).await,
        "from pricey"
    );

    // rpm 2: the third request in the minute is a 429 with retry-after.
    away_from_a_minute_boundary().await;
    let before = calls();
    assert_eq!(send(&app, "cp-quick", &sonnet).await.status(), 200);
    assert_eq!(send(&app, "cp-quick", &sonnet).await.status(), 200);
    let (status, kind, message, headers) = error_of(send(&app, "cp-quick", &sonnet).await).await;
    assert_eq!((status, kind.as_str()), (429, "rate_limit_error"));
    assert!(message.contains("2 requests per minute (rpm)"), "{message}");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(calls(), before + 2);

    // tpm 10: one request spends 17 tokens; the next waits for the window.
    away_from_a_minute_boundary().await;
    assert_eq!(send(&app, "cp-wordy", &sonnet).await.status(), 200);
    let (status, _, message, headers) = error_of(send(&app, "cp-wordy", &sonnet).await).await;
    assert_eq!(status, 429);
    assert!(message.contains("10 tokens per minute (tpm)"), "{message}");
    assert!(headers.contains_key("retry-after"));

    // Budgets: which one, and when it resets; not worth retrying.
    assert_eq!(send(&app, "cp-daily", &sonnet).await.status(), 200);
    let (status, kind, message, headers) = error_of(send(&app, "cp-daily", &sonnet).await).await;
    assert_eq!((status, kind.as_str()), (429, "rate_limit_error"));
    assert!(
        message.contains("daily token budget (dailyTokens: 17 of 10 tokens used today)"),
        "{message}"
    );
    assert!(
        message.contains("T00:00:00.000Z (UTC midnight)"),
        "{message}"
    );
    assert_eq!(headers["x-should-retry"], "false");
    assert_eq!(send(&app, "cp-spender", &sonnet).await.status(), 200);
    let (status, _, message, _) = error_of(send(&app, "cp-spender", &sonnet).await).await;
    assert_eq!(status, 429);
    assert!(
        message.contains("monthly budget (monthlyCostUsd: US$0.02 of US$0.01 this month)"),
        "{message}"
    );
    assert!(message.contains("-01T00:00:00.000Z (the 1st"), "{message}");

    // Client keys never reach the admin API or the metrics.
    for path in ["/admin/api/clients", "/admin/api/status", "/metrics"] {
        let resp = app
            .client
            .get(app.url(path))
            .header("x-api-key", "cp-alice")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{path}");
    }

    // The client's name is on the metrics and the stored rows.
    let m = app.metrics().await;
    // (The metrics are the process's: "alice" is this test's own name.)
    let alice = |status| {
        sum_samples(
            &m,
            "claude_proxy_requests_total",
            &[("client", "alice"), ("status", status)],
        )
    };
    assert_eq!((alice("200"), alice("403")), (1.0, 3.0), "{m}");
    assert!(sum_samples(&m, "claude_proxy_tokens_total", &[("client", "alice")]) >= 17.0);
    assert!(app.state.store.flush(Duration::from_secs(5)));
    let rows: Value = app
        .client
        .get(app.url("/admin/api/requests?limit=100"))
        .header("x-api-key", ACCESS_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let alice_rows = rows["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["client"] == "alice")
        .count();
    assert_eq!(alice_rows, 4, "{rows}");
}

#[tokio::test]
async fn the_admin_api_lists_usage_and_rotation_takes_effect_at_once() {
    let (pricey, cheap) = (named_mock("pricey").await, named_mock("cheap").await);
    let app = spawn_app(team_config(&pricey, &cheap, vec![]), &[]).await;
    let admin = |req: reqwest::RequestBuilder| req.header("x-api-key", ACCESS_KEY);
    // Create bob through the admin API: the key is in this answer only.
    let resp = admin(app.client.post(app.url("/admin/api/clients")))
        .json(&json!({"name": "bob", "upstreams": ["cheap"], "monthlyCostUsd": 50, "dailyTokens": 1000}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("cp-") && key.len() >= 46, "{key}");
    let file = std::fs::read_to_string(app.config_path()).unwrap();
    assert!(!file.contains(&key), "only the digest is written");
    assert!(file.contains(&hash(&key)));

    // One keep-alive connection for every request that follows.
    assert_eq!(
        text_of(send(&app, &key, &hello()).await).await,
        "from cheap"
    );
    let listed: Value = admin(app.client.get(app.url("/admin/api/clients")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bob = &listed["clients"][0];
    assert_eq!(bob["name"], "bob");
    assert_eq!(bob["usage"]["dayTokens"], 17);
    assert_eq!(bob["remaining"]["dailyTokens"], 983);
    assert!(bob["usage"]["monthCostUsd"].as_f64().unwrap() > 0.0);
    assert_eq!(bob["state"], "active");
    let shown = listed.to_string();
    assert!(
        !shown.contains(&key) && !shown.contains(&hash(&key)),
        "{shown}"
    );

    // Rotate: the old key is refused on the very next request, on the
    // same connection; the new one works; the counters stay.
    let rotated: Value = admin(app.client.post(app.url("/admin/api/clients/bob/rotate")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_key = rotated["key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, key);
    assert_eq!(send(&app, &key, &hello()).await.status(), 401);
    assert_eq!(
        text_of(send(&app, &new_key, &hello()).await).await,
        "from cheap"
    );
    assert_eq!(rotated["client"]["usage"]["dayTokens"], 17);

    // Disable and enable; update; remove.
    let r = admin(app.client.post(app.url("/admin/api/clients/bob/disable")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(send(&app, &new_key, &hello()).await.status(), 401);
    admin(app.client.post(app.url("/admin/api/clients/bob/enable")))
        .send()
        .await
        .unwrap();
    let r = admin(app.client.patch(app.url("/admin/api/clients/bob")))
        .json(&json!({"models": ["claude-haiku-*"], "dailyTokens": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["client"]["models"], json!(["claude-haiku-*"]));
    assert_eq!(v["client"]["dailyTokens"], Value::Null);
    assert_eq!(send(&app, &new_key, &hello()).await.status(), 200);
    let r = admin(app.client.patch(app.url("/admin/api/clients/bob")))
        .json(&json!({"upstreams": ["nope"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (_, _, message, _) = error_of(r).await;
    assert!(
        message.contains("no upstream is named \"nope\""),
        "{message}"
    );
    let r = admin(app.client.patch(app.url("/admin/api/clients/carol")))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = admin(app.client.delete(app.url("/admin/api/clients/bob")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(send(&app, &new_key, &hello()).await.status(), 401);
}

#[tokio::test]
async fn budgets_survive_a_restart() {
    let (pricey, cheap) = (named_mock("pricey").await, named_mock("cheap").await);
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().display().to_string();
    let cfg = team_config(
        &pricey,
        &cheap,
        vec![client(
            "carol",
            "cp-carol",
            json!({"dailyTokens": 30, "monthlyCostUsd": 100}),
        )],
    );
    let mut first = spawn_app(cfg.clone(), &[("DATA_DIR", &data_dir)]).await;
    assert_eq!(send(&first, "cp-carol", &hello()).await.status(), 200);
    assert_eq!(send(&first, "cp-carol", &hello()).await.status(), 200);
    first.shutdown();
    assert!(first.state.store.flush(Duration::from_secs(5)));
    drop(first);

    // 34 of 30 tokens were spent before the restart.
    let second = spawn_app(cfg, &[("DATA_DIR", &data_dir)]).await;
    let (status, _, message, _) = error_of(send(&second, "cp-carol", &hello()).await).await;
    assert_eq!(status, 429, "{message}");
    assert!(message.contains("34 of 30 tokens used today"), "{message}");
    let listed: Value = second
        .client
        .get(second.url("/admin/api/clients"))
        .header("x-api-key", ACCESS_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cost = listed["clients"][0]["usage"]["monthCostUsd"]
        .as_f64()
        .unwrap();
    assert!((cost - 0.034).abs() < 1e-6, "{listed}");
}

#[tokio::test]
async fn clients_added_by_the_cli_writer_work_after_hot_reload() {
    let (pricey, cheap) = (named_mock("pricey").await, named_mock("cheap").await);
    let mut app = spawn_app(team_config(&pricey, &cheap, vec![]), &[]).await;
    app.watch();
    let path = app.config_path();
    let key = tokio::task::spawn_blocking(move || {
        config_store::update(&path, |raw| {
            let limits = ClientLimits {
                upstreams: Some(vec!["cheap".into()]),
                rpm: Some(Setting::Set(100)),
                ..ClientLimits::default()
            };
            edits::add(raw, "dave", &limits, "2026-12-02T00:00:00Z")
        })
        .unwrap()
    })
    .await
    .unwrap();
    let ok = eventually(Duration::from_secs(10), || async {
        send(&app, &key, &hello()).await.status() == 200
    })
    .await;
    assert!(ok, "the new client's key works without a restart");
    assert_eq!(
        text_of(send(&app, &key, &hello()).await).await,
        "from cheap"
    );
}

#[tokio::test]
async fn openai_endpoints_answer_client_refusals_in_openai_shape() {
    let (pricey, cheap) = (named_mock("pricey").await, named_mock("cheap").await);
    let app = spawn_app(
        team_config(
            &pricey,
            &cheap,
            vec![client(
                "erin",
                "cp-erin",
                json!({"models": ["claude-haiku-*"]}),
            )],
        ),
        &[],
    )
    .await;
    let chat = |key: &str, model: &str| {
        app.client
            .post(app.url("/v1/chat/completions"))
            .bearer_auth(key)
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
    };
    let r = chat("cp-erin", "gpt-4o").await.unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "permission_denied", "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("claude-haiku-*"));
    let r = chat("cp-nobody", "claude-haiku-4-5").await.unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "invalid_api_key", "{v}");
    assert_eq!(
        chat("cp-erin", "claude-haiku-4-5").await.unwrap().status(),
        200
    );
    assert_eq!(pricey.count() + cheap.count(), 1);

    // The model list shows only what erin may ask for.
    let v: Value = app
        .client
        .get(app.url("/v1/models"))
        .header("x-api-key", "cp-erin")
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["claude-haiku-4-5"], "{v}");
    let r = app
        .client
        .get(app.url("/v1/models/claude-opus-4-5"))
        .header("x-api-key", "cp-erin")
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_sdks_raise_the_matching_exceptions() {
    let python = tokio::task::spawn_blocking(super::sdk::sdk_python)
        .await
        .unwrap();
    let (pricey, cheap) = (named_mock("pricey").await, named_mock("cheap").await);
    let app = spawn_app(
        team_config(
            &pricey,
            &cheap,
            vec![
                client(
                    "haiku",
                    "cp-haiku-only",
                    json!({"models": ["claude-haiku-*"]}),
                ),
                client("budget", "cp-budget", json!({"dailyTokens": 5})),
                client("budget2", "cp-budget-openai", json!({"dailyTokens": 5})),
            ],
        ),
        &[],
    )
    .await;
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/test_clients.py");
    let url = format!("http://{}", app.addr);
    let out = tokio::task::spawn_blocking(move || {
        run_bounded(
            Command::new(python)
                .arg(script)
                .env("PROXY_URL", url)
                .env("BAD_KEY", "cp-nobody")
                .env("HAIKU_KEY", "cp-haiku-only")
                .env("BUDGET_KEY", "cp-budget")
                .env("BUDGET_KEY_OPENAI", "cp-budget-openai"),
            Duration::from_secs(120),
        )
    })
    .await
    .unwrap();
    assert!(out.code == 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("7 passed, 0 failed"), "{}", out.stdout);
}
