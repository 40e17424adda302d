//! Routing across several upstreams: scenarios and rules land on their
//! targets with the right model, explicit choices, priority lists, the
//! circuit breaker, and hot reload of the router.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::common::mock_openai::{self, text_completion};
use crate::common::*;

/// An OpenAI mock that answers with its own name.
async fn named_mock(name: &'static str) -> Mock {
    spawn_mock(mock_openai::validate, move |r| {
        if r.body["stream"] == json!(true) {
            Reply::Sse {
                pieces: mock_openai::text_stream(&[name]),
                delay: Duration::ZERO,
                cut: false,
            }
        } else {
            Reply::Json(StatusCode::OK, text_completion(name))
        }
    })
    .await
}

/// An OpenAI mock whose every answer is a 500.
async fn failing_mock() -> Mock {
    spawn_mock(mock_openai::validate, |_| {
        Reply::Json(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": {"message": "boom", "type": "server_error"}}),
        )
    })
    .await
}

/// `hello()` for Sonnet (Haiku would be a background request), with the
/// fields of `extra` set.
fn req(extra: Value) -> Value {
    let sonnet = hello().with("model", "claude-sonnet-4-5");
    extra
        .as_object()
        .unwrap()
        .iter()
        .fold(sonnet, |v, (k, x)| v.with(k, x.clone()))
}

async fn send(app: &TestApp, body: &Value, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut r = app
        .client
        .post(app.url("/v1/messages"))
        .header("x-api-key", ACCESS_KEY)
        .json(body);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().await.unwrap()
}

/// (route header, answering upstream's text, the model it was sent).
async fn answer(
    app: &TestApp,
    body: &Value,
    headers: &[(&str, &str)],
    mocks: &[&Mock],
) -> (String, String, String) {
    let before: Vec<usize> = mocks.iter().map(|m| m.count()).collect();
    let resp = send(app, body, headers).await;
    assert_eq!(resp.status(), 200);
    let route = resp.headers()["x-claude-proxy-route"]
        .to_str()
        .unwrap()
        .to_owned();
    let v: Value = resp.json().await.unwrap();
    let text = v["content"][0]["text"].as_str().unwrap().to_owned();
    let served = mocks
        .iter()
        .zip(before)
        .find(|(m, b)| m.count() > *b)
        .map(|(m, _)| {
            m.requests().last().unwrap().body["model"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .unwrap_or_default();
    (route, text, served)
}

fn image() -> Value {
    json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}})
}

#[tokio::test]
async fn each_route_lands_on_its_target_with_the_right_model() {
    let (main, fast, think, long, web, eye, opus) = (
        named_mock("main").await,
        named_mock("fast").await,
        named_mock("think").await,
        named_mock("long").await,
        named_mock("web").await,
        named_mock("eye").await,
        named_mock("opus").await,
    );
    let mut main_up = upstream("main", "openai", &main.url(), &["k"]);
    main_up["modelMapping"] = json!({"sonnet": "main-model", "opus": "main-opus"});
    let cfg = json!({
        "upstream": [
            main_up,
            upstream("fast", "openai", &fast.url(), &["k"]),
            upstream("think", "openai", &think.url(), &["k"]),
            upstream("long", "openai", &long.url(), &["k"]),
            upstream("web", "openai", &web.url(), &["k"]),
            upstream("eye", "openai", &eye.url(), &["k"]),
            upstream("opus", "openai", &opus.url(), &["k"]),
        ],
        "router": {
            "default": "main",
            "background": "fast,small-model",
            "think": "think,reasoner",
            "longContext": "long,long-model",
            "longContextThreshold": 2000,
            "webSearch": "web,searcher",
            "image": "eye,vision",
            "rules": [
                {"model": "claude-opus-*", "to": "opus,opus-model"},
                {"header": {"x-team": "eu"}, "to": "fast,eu-model"}
            ]
        }
    });
    let app = spawn_app(cfg, &[]).await;
    let mocks = [&main, &fast, &think, &long, &web, &eye, &opus];
    let a = |body: Value, headers: &'static [(&'static str, &'static str)]| {
        let app = &app;
        async move { answer(app, &body, headers, &mocks).await }
    };
    let t = |r: &str, up: &str, m: &str| (r.to_owned(), up.to_owned(), m.to_owned());
    assert_eq!(
        a(req(json!({})), &[]).await,
        t("default", "main", "main-model")
    );
    assert_eq!(
        a(req(json!({"model": "claude-haiku-4-5"})), &[]).await,
        t("background", "fast", "small-model")
    );
    assert_eq!(
        a(
            req(json!({"thinking": {"type": "enabled", "budget_tokens": 2048}})),
            &[]
        )
        .await,
        t("think", "think", "reasoner")
    );
    assert_eq!(
        a(req(json!({"tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}]})), &[]).await,
        t("webSearch", "web", "searcher")
    );
    assert_eq!(
        a(req(json!({"messages": [{"role": "user", "content": [image(), {"type": "text", "text": "what is it"}]}]})), &[]).await,
        t("image", "eye", "vision")
    );
    let long_text = "lorem ipsum dolor sit amet ".repeat(2_000);
    assert_eq!(
        a(req(json!({"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": long_text}]})), &[]).await,
        t("longContext", "long", "long-model")
    );
    // Rules come before scenarios, in order.
    assert_eq!(
        a(
            req(json!({"model": "claude-opus-4-1", "thinking": {"type": "adaptive"}})),
            &[]
        )
        .await,
        t("rule", "opus", "opus-model")
    );
    assert_eq!(
        a(
            req(json!({"model": "claude-haiku-4-5"})),
            &[("x-team", "eu")]
        )
        .await,
        t("rule", "fast", "eu-model")
    );
    // Explicit choices come first of all.
    assert_eq!(
        a(
            req(json!({"model": "EYE,gpt-4o", "thinking": {"type": "adaptive"}})),
            &[]
        )
        .await,
        t("explicit", "eye", "gpt-4o")
    );
    assert_eq!(
        a(
            req(json!({"model": "claude-sonnet-4-5"})),
            &[("x-claude-proxy-upstream", "main")]
        )
        .await,
        t("explicit", "main", "main-model")
    );
    // The /model ids are discoverable.
    let models: Value = app
        .client
        .get(app.url("/v1/models?limit=1000"))
        .header("x-api-key", ACCESS_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    for id in [
        "main,main-model",
        "main,main-opus",
        "fast,small-model",
        "think,reasoner",
        "opus,opus-model",
    ] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
}

#[tokio::test]
async fn an_unknown_explicit_upstream_is_a_400_naming_the_configured_ones() {
    let main = named_mock("main").await;
    let app = spawn_app(
        config_with(vec![upstream("main", "openai", &main.url(), &["k"])]),
        &[],
    )
    .await;
    let resp = send(&app, &req(json!({"model": "nowhere,some-model"})), &[]).await;
    let msg = expect_error(resp, 400, "invalid_request_error").await;
    assert!(msg.contains("nowhere") && msg.contains("main"), "{msg}");
    let resp = send(
        &app,
        &req(json!({})),
        &[("x-claude-proxy-upstream", "nope")],
    )
    .await;
    let msg = expect_error(resp, 400, "invalid_request_error").await;
    assert!(
        msg.contains("x-claude-proxy-upstream") && msg.contains("nope"),
        "{msg}"
    );
    assert_eq!(main.count(), 0);
}

#[tokio::test]
async fn a_priority_list_moves_to_the_next_target_when_the_first_ones_keys_all_fail() {
    let bad = failing_mock().await;
    let good = named_mock("good").await;
    let cfg = json!({
        "upstream": [
            upstream("bad", "openai", &bad.url(), &["k1", "k2"]),
            upstream("good", "openai", &good.url(), &["k"]),
        ],
        "router": {"default": ["bad,m1", "good,m2"]}
    });
    let app = spawn_app(cfg, &[]).await;
    let (route, text, model) = answer(&app, &req(json!({})), &[], &[&good]).await;
    assert_eq!(
        (route.as_str(), text.as_str(), model.as_str()),
        ("default", "good", "m2")
    );
    assert_eq!(bad.count(), 2, "each key of the first target tried once");
    // Streams too.
    let resp = send(&app, &req(json!({"stream": true})), &[]).await;
    let msg = accumulate(&read_sse(resp).await);
    assert_eq!(
        serde_json::to_value(&msg).unwrap()["content"][0]["text"],
        "good"
    );
}

async fn health(app: &TestApp, name: &str) -> Value {
    let v: Value = app
        .client
        .get(app.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["config"]["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == name)
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn the_circuit_opens_probes_once_and_closes_and_all_open_is_529() {
    let bad = failing_mock().await;
    let cfg = json!({
        "upstream": [upstream("flaky", "openai", &bad.url(), &["k"])],
        "router": {"default": "flaky"}
    });
    let env = [
        ("CIRCUIT_FAILURES", "2"),
        ("CIRCUIT_OPEN_MS", "600"),
        ("CIRCUIT_MAX_OPEN_MS", "5000"),
    ];
    let app = spawn_app(cfg, &env).await;
    for _ in 0..2 {
        let resp = send(&app, &req(json!({})), &[]).await;
        assert!(resp.status().is_server_error());
    }
    assert_eq!(bad.count(), 2);
    let h = health(&app, "flaky").await;
    assert_eq!(h["circuit"], "open", "{h}");
    assert!(
        h["openUntil"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{h}"
    );
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .header("x-api-key", ACCESS_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("claude_proxy_circuit_state{upstream=\"flaky\"} 1"),
        "{metrics}"
    );
    // Open: skipped without a call; every target open is a 529 with retry-after.
    let resp = send(&app, &req(json!({})), &[]).await;
    assert_eq!(resp.status().as_u16(), 529);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "overloaded_error");
    assert_eq!(bad.count(), 2);
    // After the open time exactly one request probes: concurrent requests
    // while it runs are refused.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(health(&app, "flaky").await["circuit"], "half-open");
    let body = req(json!({}));
    let (a, b) = tokio::join!(send(&app, &body, &[]), send(&app, &body, &[]));
    let statuses = [a.status().as_u16(), b.status().as_u16()];
    assert_eq!(bad.count(), 3, "one probe: {statuses:?}");
    assert!(statuses.contains(&529), "{statuses:?}");
    // The failed probe reopened it for twice as long.
    assert_eq!(health(&app, "flaky").await["circuit"], "open");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        health(&app, "flaky").await["circuit"],
        "open",
        "doubled open time"
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(health(&app, "flaky").await["circuit"], "half-open");
}

#[tokio::test]
async fn a_successful_probe_closes_the_circuit_and_state_survives_a_reload() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let healthy = Arc::new(AtomicBool::new(false));
    let h2 = healthy.clone();
    let mock = spawn_mock(mock_openai::validate, move |_| {
        if h2.load(Ordering::SeqCst) {
            Reply::Json(StatusCode::OK, text_completion("back"))
        } else {
            Reply::Json(
                StatusCode::BAD_GATEWAY,
                json!({"error": {"message": "down"}}),
            )
        }
    })
    .await;
    let backup = named_mock("backup").await;
    let cfg = json!({
        "upstream": [
            upstream("flaky", "openai", &mock.url(), &["k"]),
            upstream("backup", "openai", &backup.url(), &["k"]),
        ],
        "router": {"default": ["flaky", "backup"]}
    });
    let env = [("CIRCUIT_FAILURES", "1"), ("CIRCUIT_OPEN_MS", "500")];
    let app = spawn_app(cfg.clone(), &env).await;
    let (_, text, _) = answer(&app, &req(json!({})), &[], &[&backup]).await;
    assert_eq!(text, "backup");
    assert_eq!(health(&app, "flaky").await["circuit"], "open");
    // A reload keeps the open circuit: flaky is still skipped.
    let mut cfg2 = cfg.clone();
    cfg2["upstream"][1]["description"] = json!("edited");
    std::fs::write(app.config_path(), serde_json::to_vec(&cfg2).unwrap()).unwrap();
    let reload = app
        .client
        .post(app.url("/admin/config/reload"))
        .header("x-api-key", ACCESS_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status(), 200);
    let (_, text, _) = answer(&app, &req(json!({})), &[], &[&backup]).await;
    assert_eq!(text, "backup");
    assert_eq!(mock.count(), 1, "skipped while open");
    healthy.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (_, text, _) = answer(&app, &req(json!({})), &[], &[&mock]).await;
    assert_eq!(text, "back");
    assert_eq!(health(&app, "flaky").await["circuit"], "closed");
}

#[tokio::test]
async fn the_router_hot_reloads() {
    let a = named_mock("a").await;
    let b = named_mock("b").await;
    let mut cfg = json!({
        "upstream": [upstream("a", "openai", &a.url(), &["k"]), upstream("b", "openai", &b.url(), &["k"])],
        "router": {"default": "a"}
    });
    let mut app = spawn_app(cfg.clone(), &[]).await;
    app.watch();
    assert_eq!(answer(&app, &req(json!({})), &[], &[&a, &b]).await.1, "a");
    cfg["router"]["default"] = json!("b");
    std::fs::write(app.config_path(), serde_json::to_vec(&cfg).unwrap()).unwrap();
    let mut switched = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if answer(&app, &req(json!({})), &[], &[&a, &b]).await.1 == "b" {
            switched = true;
            break;
        }
    }
    assert!(switched, "the new router took over");
    // A broken router keeps the last good one.
    cfg["router"]["default"] = json!("nowhere");
    std::fs::write(app.config_path(), serde_json::to_vec(&cfg).unwrap()).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(answer(&app, &req(json!({})), &[], &[&a, &b]).await.1, "b");
}

/// Claude Code through a router: its main turns go to `default`, its haiku
/// background calls to `background`, and `/model upstream,model` switches.
#[tokio::test]
async fn a_claude_code_session_is_routed_by_turn_kind() {
    let main = named_mock("main").await;
    let fast = named_mock("fast").await;
    let mut main_up = upstream("main", "openai", &main.url(), &["k"]);
    main_up["modelMapping"] = json!({"opus": "big-model", "sonnet": "big-model"});
    let cfg = json!({
        "upstream": [main_up, upstream("fast", "openai", &fast.url(), &["k"])],
        "router": {"default": "main", "background": "fast,small-model"}
    });
    let app = spawn_app(cfg, &[]).await;
    let mocks = [&main, &fast];
    for name in fixture_names() {
        let mut body = fixture(&name);
        body["stream"] = json!(false);
        let haiku = body["model"].as_str().unwrap().contains("haiku");
        let (route, text, model) = answer(&app, &body, &[], &mocks).await;
        if haiku {
            assert_eq!(
                (route.as_str(), text.as_str(), model.as_str()),
                ("background", "fast", "small-model"),
                "{name}"
            );
        } else {
            assert_eq!(
                (route.as_str(), text.as_str(), model.as_str()),
                ("default", "main", "big-model"),
                "{name}"
            );
        }
        // `/model fast,other-model` in Claude Code sends exactly that.
        body["model"] = json!("fast,other-model");
        let (route, text, model) = answer(&app, &body, &[], &mocks).await;
        assert_eq!(
            (route.as_str(), text.as_str(), model.as_str()),
            ("explicit", "fast", "other-model"),
            "{name}"
        );
    }
}
