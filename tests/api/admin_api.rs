//! The admin API (`/admin/api/*`): authentication by key or console
//! session (CSRF and origin enforced on cookies, wrong keys locked out),
//! validation errors that name the field, 404 for unknown upstreams, keys
//! masked everywhere, and every change written where the CLI reads it and
//! applied by the running server.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::common::mock_anthropic;
use crate::common::mock_openai::{self, text_completion};
use crate::common::process::ProxyCommand;
use crate::common::*;

const ADMIN_KEY: &str = "admin-key-0123456789abcdefgh";
const KEY_A: &str = "sk-aaaaaaaaaaaaaaaaaaaaaaaa1111";
const KEY_B: &str = "sk-bbbbbbbbbbbbbbbbbbbbbbbb2222";
const KEY_NEW: &str = "sk-nnnnnnnnnnnnnnnnnnnnnnnn3333";

/// Every full key a test configures: none may appear in any answer.
const SECRETS: &[&str] = &[KEY_A, KEY_B, KEY_NEW, ADMIN_KEY, ACCESS_KEY];

fn assert_no_secret(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} shows a secret unmasked: {text}");
    }
}

async fn openai_mock(text: &'static str) -> Mock {
    spawn_mock(mock_openai::validate, move |_| {
        Reply::Json(StatusCode::OK, text_completion(text))
    })
    .await
}

async fn app_with(upstreams: Vec<Value>) -> TestApp {
    spawn_app(config_with(upstreams), &[("ADMIN_ACCESS_KEY", ADMIN_KEY)]).await
}

/// One admin call with the admin key; the answer's status and JSON.
async fn call(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = app
        .client
        .request(method.parse().unwrap(), app.url(path))
        .header("x-api-key", ADMIN_KEY);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert_no_secret(path, &text);
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn assert_error(status: u16, body: &Value, want_status: u16, kind: &str, contains: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
    let msg = body["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains(contains), "{contains:?} not in {msg:?}");
}

fn file(app: &TestApp) -> Value {
    serde_json::from_slice(&std::fs::read(app.config_path()).unwrap()).unwrap()
}

/// `claude-proxy config show` through the binary, on the app's file.
fn cli_show(app: &TestApp) -> String {
    let path = app.config_path().display().to_string();
    ProxyCommand::new(app.dir.path())
        .args(&["--config", &path, "config", "show"])
        .run(Duration::from_secs(20))
        .success("config show")
        .stdout
}

/// A console login: the cookie pair to send back and the CSRF token.
async fn login(app: &TestApp) -> (String, String) {
    let resp = app
        .client
        .post(app.url("/admin/api/login"))
        .json(&json!({"key": ADMIN_KEY}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(cookie.contains("Max-Age="), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let pair = cookie.split(';').next().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    let csrf = body["csrfToken"].as_str().unwrap().to_owned();
    assert!(csrf.len() >= 32);
    (pair, csrf)
}

#[tokio::test]
async fn without_credentials_every_route_is_401_in_anthropics_shape() {
    let app = app_with(vec![]).await;
    let routes = [
        ("GET", "/admin/api/status"),
        ("GET", "/admin/api/session"),
        ("POST", "/admin/api/logout"),
        ("POST", "/admin/api/upstreams"),
        ("PATCH", "/admin/api/upstreams/a"),
        ("DELETE", "/admin/api/upstreams/a"),
        ("POST", "/admin/api/upstreams/a/keys"),
        ("DELETE", "/admin/api/upstreams/a/keys/0"),
        ("PUT", "/admin/api/upstreams/a/mapping"),
        ("POST", "/admin/api/upstreams/a/test"),
        ("PUT", "/admin/api/current"),
        ("PUT", "/admin/api/balance"),
    ];
    for (method, path) in routes {
        for key in [None, Some(ACCESS_KEY), Some("wrong")] {
            let mut req = app.client.request(method.parse().unwrap(), app.url(path));
            if let Some(k) = key {
                req = req.header("authorization", format!("Bearer {k}"));
            }
            let resp = req.json(&json!({})).send().await.unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap();
            assert_error(status, &body, 401, "authentication_error", "admin");
        }
    }
    // A forged cookie is no session.
    let resp = app
        .client
        .get(app.url("/admin/api/status"))
        .header(
            "cookie",
            "claude_proxy_session=v1.AAAAAAAAAAAAAAAAAAAAAA.99999999999.AAAA",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // Either header carries the key.
    let resp = app
        .client
        .get(app.url("/admin/api/status"))
        .header("authorization", format!("Bearer {ADMIN_KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_console_session_needs_its_csrf_token_and_origin_for_changes_and_ends_at_logout() {
    let app = app_with(vec![]).await;
    let (cookie, csrf) = login(&app).await;
    let get = |path: &str| app.client.get(app.url(path)).header("cookie", &cookie);
    let resp = get("/admin/api/status").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let session: Value = get("/admin/api/session")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["via"], "session");
    assert_eq!(session["csrfToken"], csrf.as_str());

    let put = |token: Option<&str>, origin: Option<&str>| {
        let mut r = app
            .client
            .put(app.url("/admin/api/balance"))
            .header("cookie", &cookie)
            .json(&json!({"loadBalance": "failover"}));
        if let Some(t) = token {
            r = r.header("x-csrf-token", t);
        }
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r
    };
    for (token, origin) in [
        (None, None),
        (Some("wrong-token"), None),
        (Some(csrf.as_str()), Some("http://evil.example")),
    ] {
        let resp = put(token, origin).send().await.unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        assert_error(status, &body, 403, "permission_error", "");
    }
    assert!(
        file(&app).get("loadBalance").unwrap() == "round-robin",
        "refused calls wrote nothing"
    );
    let own_origin = format!("http://{}", app.addr);
    let resp = put(Some(&csrf), Some(&own_origin)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(file(&app)["loadBalance"], "failover");

    // Logout ends the session on the server: the same cookie no longer works.
    let resp = app
        .client
        .post(app.url("/admin/api/logout"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let resp = get("/admin/api/status").send().await.unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn wrong_keys_at_login_lock_the_address_out_and_https_cookies_are_secure() {
    let app = app_with(vec![]).await;
    let try_key = |key: &str| {
        app.client
            .post(app.url("/admin/api/login"))
            .json(&json!({"key": key}))
            .send()
    };
    let resp = app
        .client
        .post(app.url("/admin/api/login"))
        .json(&json!({"key": ADMIN_KEY, "user": "x"}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    assert_error(
        status,
        &resp.json().await.unwrap(),
        400,
        "invalid_request_error",
        "user",
    );
    let resp = app
        .client
        .post(app.url("/admin/api/login"))
        .header("x-forwarded-proto", "https")
        .json(&json!({"key": ADMIN_KEY}))
        .send()
        .await
        .unwrap();
    assert!(resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .ends_with("; Secure"));
    for _ in 0..3 {
        let resp = try_key("wrong").await.unwrap();
        let status = resp.status().as_u16();
        assert_error(
            status,
            &resp.json().await.unwrap(),
            401,
            "authentication_error",
            "wrong admin key",
        );
    }
    let resp = try_key("wrong").await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    // Locked out: even the right key waits.
    let resp = try_key(ADMIN_KEY).await.unwrap();
    assert_eq!(resp.status(), 429);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let resp = try_key(ADMIN_KEY).await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn status_shows_upstreams_keys_masked_with_their_state_and_the_store() {
    // Key A is rate limited by the upstream, key B answers.
    let mock = spawn_mock(mock_openai::validate, |rec| {
        if rec.key() == KEY_A {
            Reply::error(429, &mock_openai::error_body(429, "slow down"), Some("30"))
        } else {
            Reply::ok(text_completion("hi"))
        }
    })
    .await;
    let mut up = upstream("main", "openai", &mock.url(), &[KEY_A, KEY_B]);
    up["description"] = json!("the main one");
    let app = spawn_app(
        json!({"upstream": [up], "currentUpstream": 0, "loadBalance": "failover"}),
        &[("ADMIN_ACCESS_KEY", ADMIN_KEY)],
    )
    .await;
    assert_eq!(app.messages(&hello()).await.status(), 200);
    let (status, s) = call(&app, "GET", "/admin/api/status", None).await;
    assert_eq!(status, 200);
    assert_eq!(s["version"], env!("CARGO_PKG_VERSION"));
    assert!(s["uptimeSeconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(s["settings"]["adminAccessKey"], "admin-ke…efgh");
    assert_eq!(s["settings"]["proxyAccessKey"], "test-acc…6789");
    assert_eq!(s["loadBalance"], "failover");
    assert_eq!(s["currentUpstream"], json!({"index": 0, "name": "main"}));
    assert_eq!(s["router"], Value::Null);
    // The harness gives every app its own DATA_DIR: the store is on.
    assert_eq!(s["store"]["state"], "ok", "{}", s["store"]);
    assert_eq!(s["store"]["error"], Value::Null);
    assert!(s["store"]["path"]
        .as_str()
        .is_some_and(|p| p.ends_with("claude-proxy.db")));
    assert_eq!(s["store"]["dropped"], 0);
    let u = &s["upstreams"][0];
    assert_eq!(u["name"], "main");
    assert_eq!(u["serviceType"], "openai");
    assert_eq!(u["description"], "the main one");
    assert_eq!(u["current"], true);
    assert_eq!(u["circuit"]["state"], "closed");
    let a = &u["keys"][0];
    assert_eq!(a["key"], "sk-aaaaa…1111");
    assert_eq!(a["state"], "resting");
    assert_eq!(a["reason"], "rate_limited");
    assert_eq!(a["consecutiveFailures"], 1);
    assert!(a["restingUntil"].as_str().unwrap().ends_with('Z'));
    let left = a["restingForMs"].as_u64().unwrap();
    assert!(left > 25_000 && left <= 30_000, "{left}");
    let b = &u["keys"][1];
    assert_eq!(
        (&b["key"], &b["state"], &b["reason"]),
        (&json!("sk-bbbbb…2222"), &json!("healthy"), &Value::Null)
    );
}

#[tokio::test]
async fn adding_an_upstream_is_validated_written_for_the_cli_and_routed_to() {
    let old = openai_mock("from old").await;
    let new = openai_mock("from new").await;
    let app = app_with(vec![upstream("old", "openai", &old.url(), &[KEY_A])]).await;
    let add = |body: Value| call(&app, "POST", "/admin/api/upstreams", Some(body));
    let valid = json!({"name": "new", "serviceType": "openai", "baseUrl": new.url(),
                       "apiKeys": [KEY_NEW, KEY_NEW, " "], "description": "added by the API"});

    let cases = [
        (
            json!({"serviceType": "openai", "baseUrl": new.url()}),
            "name",
        ),
        (
            valid.clone().with("serviceType", "opena"),
            "serviceType: unknown service type",
        ),
        (valid.clone().with("baseUrl", "ftp://x"), "baseUrl: bad URL"),
        (valid.clone().with("name", "OLD"), "name: an upstream named"),
        (valid.clone().with("name", "a,b"), "name: "),
        (valid.clone().with("maxTokens", 0), "maxTokens"),
        (valid.clone().with("apiKey", "x"), "apiKey"),
        (valid.clone().with("apiKeys", "x"), "apiKeys"),
    ];
    let before = std::fs::read(app.config_path()).unwrap();
    for (body, field) in cases {
        let (status, b) = add(body).await;
        assert_error(status, &b, 400, "invalid_request_error", field);
    }
    let resp = app
        .client
        .post(app.url("/admin/api/upstreams"))
        .header("x-api-key", ADMIN_KEY)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        std::fs::read(app.config_path()).unwrap(),
        before,
        "nothing written"
    );

    let (status, b) = add(valid).await;
    assert_eq!(status, 201, "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("Added upstream #1 \"new\""),
        "{b}"
    );
    assert_eq!(b["upstream"]["keys"].as_array().unwrap().len(), 1);
    assert_eq!(b["upstream"]["keys"][0]["key"], "sk-nnnnn…3333");
    assert_eq!(b["upstream"]["index"], 1);
    // On disk, where the CLI reads it (the file holds the key, of course).
    let f = file(&app);
    assert_eq!(f["upstream"][1]["name"], "new");
    assert_eq!(f["upstream"][1]["apiKeys"], json!([KEY_NEW]));
    let shown = cli_show(&app);
    assert!(
        shown.contains("new") && shown.contains("sk-nnnnn…3333"),
        "{shown}"
    );
    assert!(shown.contains("added by the API"), "{shown}");
    // Applied by the running server: switching to it routes requests there.
    let (status, b) = call(
        &app,
        "PUT",
        "/admin/api/current",
        Some(json!({"upstream": "NEW"})),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["currentUpstream"], json!({"index": 1, "name": "new"}));
    let v: Value = app.messages(&hello()).await.json().await.unwrap();
    assert_eq!(v["content"][0]["text"], "from new");
    assert_eq!(new.keys(), vec![KEY_NEW]);
    assert!(cli_show(&app).contains("Current:       #1 new"));
}

#[tokio::test]
async fn changing_an_upstream_follows_config_update() {
    let mock = openai_mock("hi").await;
    let app = app_with(vec![
        upstream("a", "openai", &mock.url(), &[KEY_A]),
        upstream("b", "openai", &mock.url(), &[KEY_B]),
    ])
    .await;
    let app = &app;
    let patch = |name: &str, body: Value| {
        let path = format!("/admin/api/upstreams/{name}");
        async move { call(app, "PATCH", &path, Some(body)).await }
    };
    let (status, b) = patch("nope", json!({"maxTokens": 5})).await;
    assert_error(
        status,
        &b,
        404,
        "not_found_error",
        "no upstream is named \"nope\" (configured: a, b)",
    );
    let (status, b) = patch("a", json!({})).await;
    assert_error(
        status,
        &b,
        400,
        "invalid_request_error",
        "nothing to update",
    );
    let (status, b) = patch("a", json!({"name": "B"})).await;
    assert_error(
        status,
        &b,
        400,
        "invalid_request_error",
        "name: an upstream named",
    );
    let (status, b) = patch("a", json!({"serviceType": "x"})).await;
    assert_error(status, &b, 400, "invalid_request_error", "serviceType");
    let (status, b) = patch("a", json!({"maxTokens": "many"})).await;
    assert_error(status, &b, 400, "invalid_request_error", "maxTokens");
    let (status, b) = patch(
        "a",
        json!({"circuitBreaker": {"openMs": 1000, "maxOpenMs": 500}}),
    )
    .await;
    assert_error(
        status,
        &b,
        400,
        "invalid_request_error",
        "maxOpenMs (500) must be at least openMs (1000)",
    );
    assert!(file(app)["upstream"][0].get("circuitBreaker").is_none());

    let (status, b) = patch(
        "a",
        json!({"name": "alpha", "description": "first", "maxTokens": 4096,
               "circuitBreaker": {"failures": 2}}),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["upstream"]["name"], "alpha");
    assert_eq!(b["upstream"]["maxTokens"], 4096);
    assert_eq!(b["upstream"]["circuit"]["failures"], 2);
    let f = file(app);
    assert_eq!(f["upstream"][0]["name"], "alpha");
    assert_eq!(f["upstream"][0]["circuitBreaker"], json!({"failures": 2}));
    let (status, b) = patch("ALPHA", json!({"description": null, "maxTokens": null})).await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["upstream"]["description"], Value::Null);
    let f = file(app);
    assert!(
        f["upstream"][0].get("maxTokens").is_none()
            && f["upstream"][0].get("description").is_none()
    );
    // The running server has the new name.
    assert_eq!(app.state.live.load().upstreams[0].config.name, "alpha");
}

#[tokio::test]
async fn removing_an_upstream_is_refused_while_the_router_names_it() {
    let mock = openai_mock("hi").await;
    let mut cfg = config_with(vec![
        upstream("a", "openai", &mock.url(), &[KEY_A]),
        upstream("b", "openai", &mock.url(), &[KEY_B]),
    ]);
    cfg["router"] = json!({"think": "b"});
    let app = spawn_app(cfg, &[("ADMIN_ACCESS_KEY", ADMIN_KEY)]).await;
    let before = std::fs::read(app.config_path()).unwrap();
    let (status, b) = call(&app, "DELETE", "/admin/api/upstreams/b", None).await;
    assert_error(status, &b, 400, "invalid_request_error", "router.think");
    assert_eq!(std::fs::read(app.config_path()).unwrap(), before);
    let (status, b) = call(&app, "DELETE", "/admin/api/upstreams/zzz", None).await;
    assert_error(status, &b, 404, "not_found_error", "zzz");
    let (status, b) = call(&app, "DELETE", "/admin/api/upstreams/a", None).await;
    assert_eq!(status, 200, "{b}");
    assert!(b["message"]
        .as_str()
        .unwrap()
        .contains("Removed upstream #0 \"a\""));
    assert_eq!(file(&app)["upstream"].as_array().unwrap().len(), 1);
    assert_eq!(app.state.live.load().upstreams.len(), 1);
}

#[tokio::test]
async fn keys_are_added_and_removed_by_index_and_only_ever_shown_masked() {
    let mock = openai_mock("hi").await;
    let app = app_with(vec![upstream("a", "openai", &mock.url(), &[KEY_A])]).await;
    let (status, b) = call(
        &app,
        "POST",
        "/admin/api/upstreams/a/keys",
        Some(json!({"keys": "x"})),
    )
    .await;
    assert_error(status, &b, 400, "invalid_request_error", "keys");
    let (status, b) = call(
        &app,
        "POST",
        "/admin/api/upstreams/a/keys",
        Some(json!({"keys": [" "]})),
    )
    .await;
    assert_error(
        status,
        &b,
        400,
        "invalid_request_error",
        "keys: no key given",
    );
    let (status, b) = call(
        &app,
        "POST",
        "/admin/api/upstreams/x/keys",
        Some(json!({"keys": [KEY_B]})),
    )
    .await;
    assert_error(status, &b, 404, "not_found_error", "x");
    let (status, b) = call(
        &app,
        "POST",
        "/admin/api/upstreams/a/keys",
        Some(json!({"keys": [KEY_A, KEY_B]})),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    let msg = b["message"].as_str().unwrap();
    assert!(
        msg.contains("Skipped sk-aaaaa…1111") && msg.contains("Added key sk-bbbbb…2222"),
        "{msg}"
    );
    let keys: Vec<&str> = b["upstream"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["sk-aaaaa…1111", "sk-bbbbb…2222"]);
    assert_eq!(file(&app)["upstream"][0]["apiKeys"], json!([KEY_A, KEY_B]));
    // The running server uses both now.
    for _ in 0..2 {
        assert_eq!(app.messages(&hello()).await.status(), 200);
    }
    let mut used = mock.keys();
    used.sort();
    assert_eq!(used, vec![KEY_A, KEY_B]);

    let (status, b) = call(&app, "DELETE", "/admin/api/upstreams/a/keys/two", None).await;
    assert_error(status, &b, 400, "invalid_request_error", "index");
    let (status, b) = call(&app, "DELETE", "/admin/api/upstreams/a/keys/2", None).await;
    assert_error(status, &b, 404, "not_found_error", "no key #2");
    let (status, b) = call(&app, "DELETE", "/admin/api/upstreams/a/keys/0", None).await;
    assert_eq!(status, 200, "{b}");
    assert!(b["message"]
        .as_str()
        .unwrap()
        .contains("Removed key #0 sk-aaaaa…1111"));
    assert_eq!(file(&app)["upstream"][0]["apiKeys"], json!([KEY_B]));
    let out = ProxyCommand::new(app.dir.path())
        .args(&[
            "--config",
            &app.config_path().display().to_string(),
            "config",
            "key",
            "a",
            "list",
        ])
        .run(Duration::from_secs(20))
        .success("key list");
    assert_eq!(out.stdout.trim(), "0  sk-bbbbb…2222");
}

#[tokio::test]
async fn the_mapping_is_replaced_in_order_and_applied() {
    let mock = openai_mock("hi").await;
    let app = app_with(vec![upstream("a", "openai", &mock.url(), &[KEY_A])]).await;
    let put = |body: Value| call(&app, "PUT", "/admin/api/upstreams/a/mapping", Some(body));
    let (status, b) = put(json!({"modelMapping": {"haiku": 5}})).await;
    assert_error(
        status,
        &b,
        400,
        "invalid_request_error",
        "modelMapping.haiku",
    );
    let (status, b) = put(json!({"modelMapping": {"haiku": " "}})).await;
    assert_error(
        status,
        &b,
        400,
        "invalid_request_error",
        "modelMapping: \"haiku\"",
    );
    let (status, b) = put(json!({"mapping": {}})).await;
    assert_error(status, &b, 400, "invalid_request_error", "mapping");
    let (status, b) = put(json!({"modelMapping": {"haiku": "gpt-4o-mini", "*": "gpt-4o"}})).await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(
        b["upstream"]["modelMapping"],
        json!({"haiku": "gpt-4o-mini", "*": "gpt-4o"})
    );
    let text = std::fs::read_to_string(app.config_path()).unwrap();
    assert!(
        text.find("\"haiku\"").unwrap() < text.find("\"*\"").unwrap(),
        "order kept: {text}"
    );
    assert_eq!(app.messages(&hello()).await.status(), 200);
    assert_eq!(mock.requests()[0].body["model"], "gpt-4o-mini");
}

#[tokio::test]
async fn current_and_balance_are_checked() {
    let mock = openai_mock("hi").await;
    let app = app_with(vec![upstream("a", "openai", &mock.url(), &[KEY_A])]).await;
    let (status, b) = call(
        &app,
        "PUT",
        "/admin/api/current",
        Some(json!({"upstream": "b"})),
    )
    .await;
    assert_error(status, &b, 404, "not_found_error", "\"b\"");
    let (status, b) = call(
        &app,
        "PUT",
        "/admin/api/current",
        Some(json!({"name": "a"})),
    )
    .await;
    assert_error(status, &b, 400, "invalid_request_error", "name");
    let (status, b) = call(
        &app,
        "PUT",
        "/admin/api/balance",
        Some(json!({"loadBalance": "fastest"})),
    )
    .await;
    assert_error(
        status,
        &b,
        400,
        "invalid_request_error",
        "loadBalance: unknown strategy",
    );
    let (status, b) = call(
        &app,
        "PUT",
        "/admin/api/balance",
        Some(json!({"loadBalance": "random"})),
    )
    .await;
    assert_eq!((status, &b["loadBalance"]), (200, &json!("random")), "{b}");
    assert_eq!(file(&app)["loadBalance"], "random");
    assert_eq!(
        app.state.live.load().config.load_balance,
        claude_proxy::config::LoadBalance::Random
    );
}

#[tokio::test]
async fn a_broken_file_is_not_written_over() {
    let mock = openai_mock("hi").await;
    let app = app_with(vec![upstream("a", "openai", &mock.url(), &[KEY_A])]).await;
    std::fs::write(app.config_path(), "{\"upstream\": [").unwrap();
    let (status, b) = call(
        &app,
        "PUT",
        "/admin/api/balance",
        Some(json!({"loadBalance": "random"})),
    )
    .await;
    assert_error(status, &b, 409, "invalid_request_error", "fix it first");
    assert_eq!(
        std::fs::read_to_string(app.config_path()).unwrap(),
        "{\"upstream\": ["
    );
}

/// An Anthropic mock that answers each probe the way a capable model does,
/// except parallel tool calls (it calls one tool at a time); key B is
/// refused.
async fn capable_mock() -> Mock {
    spawn_mock(mock_anthropic::validate, |rec| {
        if rec.key() == KEY_B {
            return Reply::error(
                401,
                &mock_anthropic::error_body(401, "invalid x-api-key"),
                None,
            );
        }
        let b = &rec.body;
        let script = if b.get("tools").is_some() {
            Script::tools(vec![ToolCall::new(
                None,
                "get_weather",
                json!({"city": "Paris"}),
            )])
        } else if b.get("thinking").is_some() {
            Script::text(&["391"]).with_thinking("17*23 = 391", "sig")
        } else {
            Script::text(&["ok"])
        };
        mock_anthropic::script_reply(rec, &script)
    })
    .await
}

// Multi-threaded: the mock keeps answering while the CLI run blocks a thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_reports_each_key_and_the_deep_probe_each_feature() {
    let mock = capable_mock().await;
    let mut up = upstream("claude", "claude", &mock.url(), &[KEY_A, KEY_B]);
    up["modelMapping"] = json!({"sonnet": "claude-sonnet-4-5-20250929"});
    let app = app_with(vec![up]).await;
    let (status, b) = call(&app, "POST", "/admin/api/upstreams/nope/test", None).await;
    assert_error(status, &b, 404, "not_found_error", "nope");
    let (status, b) = call(
        &app,
        "POST",
        "/admin/api/upstreams/claude/test",
        Some(json!({"deep": "yes"})),
    )
    .await;
    assert_error(status, &b, 400, "invalid_request_error", "deep");

    let (status, r) = call(&app, "POST", "/admin/api/upstreams/claude/test", None).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["upstreamModel"], "claude-sonnet-4-5-20250929");
    assert_eq!(r["keys"][0]["ok"], true);
    assert_eq!(r["keys"][0]["key"], "sk-aaaaa…1111");
    assert_eq!(r["keys"][1]["ok"], false);
    assert_eq!(r["keys"][1]["status"], 401);
    assert!(r["keys"][1]["error"]
        .as_str()
        .unwrap()
        .contains("invalid x-api-key"));
    assert_eq!(r["deep"], Value::Null);
    for rec in mock.requests() {
        assert_eq!(
            rec.body["max_tokens"], 1,
            "the basic test asks for one token"
        );
    }
    // Probing changed no key's state.
    let (_, s) = call(&app, "GET", "/admin/api/status", None).await;
    assert_eq!(s["upstreams"][0]["keys"][1]["state"], "healthy");

    let (status, r) = call(
        &app,
        "POST",
        "/admin/api/upstreams/claude/test",
        Some(json!({"deep": true})),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let deep = &r["deep"];
    assert_eq!(deep["keyIndex"], 0);
    let results: Vec<(String, String)> = deep["probes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = [
        ("text", "works"),
        ("stream", "works"),
        ("tool_call", "works"),
        ("parallel_tool_calls", "unsupported"),
        ("image", "works"),
        ("thinking", "works"),
    ];
    assert_eq!(
        results,
        want.map(|(a, b)| (a.to_owned(), b.to_owned())).to_vec(),
        "{deep}"
    );
    assert!(deep["probes"][3]["detail"]
        .as_str()
        .unwrap()
        .contains("once"));

    // The CLI runs the same test against the same file.
    let path = app.config_path().display().to_string();
    let out = tokio::task::block_in_place(|| {
        ProxyCommand::new(app.dir.path())
            .args(&["--config", &path, "config", "test", "claude", "--deep"])
            .run(Duration::from_secs(60))
    });
    assert_eq!(out.code, 1, "key B fails: {}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("key #0  sk-aaaaa…1111"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("invalid x-api-key"), "{}", out.stdout);
    assert!(
        out.stdout.contains("parallel_tool_calls") && out.stdout.contains("unsupported"),
        "{}",
        out.stdout
    );
    assert_no_secret("config test", &out.stdout);
}

#[tokio::test]
async fn the_console_is_served_compiled_in_with_a_strict_policy() {
    let app = app_with(vec![]).await;
    for path in [
        "/ui",
        "/ui/",
        "/ui/app.js",
        "/ui/pages/upstreams.js",
        "/ui/app.css",
    ] {
        let resp = app
            .client
            .get(app.url(path))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let h = resp.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        for part in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
        assert!(h.contains_key("etag"));
        // reqwest here has no gzip decoder: the body is the compressed file.
        assert_eq!(h["content-encoding"], "gzip", "{path}");
        let etag = h["etag"].clone();
        let again = app
            .client
            .get(app.url(path))
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
    }
    let html = app.client.get(app.url("/ui")).send().await.unwrap();
    assert!(html.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = html.text().await.unwrap();
    assert!(
        html.contains("<script type=\"module\" src=\"/ui/app.js\">"),
        "{html}"
    );
    let missing = app.client.get(app.url("/ui/nope.js")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.headers().contains_key("content-security-policy"));
}
