//! The real binary as a user runs it: a temp directory with `.env` and
//! `config.json`, mock upstreams in this process, all output captured.
//!
//! - no secret (upstream keys, proxy key, admin key) ever appears in stdout,
//!   stderr or any response, with every log switch at its loudest;
//! - SIGTERM lets a running stream finish, refuses new connections, and
//!   SHUTDOWN_TIMEOUT bounds the wait.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{json, Value};

use common::process::{Proxy, ProxyCommand};
use common::*;

const PROXY_KEY: &str = "proxy-SECRET-key-aaaaaaaaaaaaaaaa";
const ADMIN_KEY: &str = "admin-SECRET-key-bbbbbbbbbbbbbbbb";
const K401: &str = "sk-LEAK401-cccccccccccccccccccc";
const K429: &str = "sk-LEAK429-dddddddddddddddddddd";
const K500: &str = "sk-LEAK500-eeeeeeeeeeeeeeeeeeee";
const KCUT: &str = "sk-LEAKCUT-ffffffffffffffffffff";
const KGOOD: &str = "sk-LEAKGOOD-gggggggggggggggggggg";
const KDEAD: &str = "sk-LEAKDEAD-hhhhhhhhhhhhhhhhhhhh";
const KCLAUDE: &str = "sk-ant-LEAKCLAUDE-iiiiiiiiiiiiiiii";

/// Starts the binary in `dir` (which holds `.env` and `config.json`) with
/// an otherwise empty environment, and waits for its banner.
fn start(dir: &Path) -> Proxy {
    tokio::task::block_in_place(|| ProxyCommand::new(dir).start())
}

fn write_env(dir: &Path, pairs: &[(&str, &str)]) {
    let text: String = pairs.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(dir.join(".env"), text).unwrap();
}

/// The main upstream: each key fails in its own way (echoing the key in
/// its error body, as some providers do), one answers.
fn main_upstream_reply(r: &Recorded) -> Reply {
    let key = r.key();
    let stream = r.body["stream"] == json!(true);
    let model = r.body["model"].as_str().unwrap_or("");
    let err = |status: u16, retry: Option<&str>| {
        let body = json!({"error": {"message": format!("Incorrect API key provided: {key}"), "code": status}});
        Reply::error(status, &body, retry)
    };
    if model == "fail-all" {
        return err(500, None);
    }
    if model == "echo-400" {
        let body = json!({"error": {"message": format!("tool schema rejected for key {key}")}});
        return Reply::Json(StatusCode::BAD_REQUEST, body);
    }
    match key.as_str() {
        K401 => err(401, None),
        K429 => err(429, Some("1")),
        K500 => err(500, None),
        KCUT if stream && model != "clean" => Reply::Sse {
            pieces: mock_openai::text_stream(&["partial"])[..2].to_vec(),
            delay: Duration::from_millis(10),
            cut: true,
        },
        KCUT => err(503, None),
        _ if stream => Reply::Sse {
            pieces: mock_openai::text_stream(&["streamed ", "fine"]),
            delay: Duration::ZERO,
            cut: false,
        },
        _ => Reply::Json(StatusCode::OK, mock_openai::text_completion("fine")),
    }
}

fn hello_to(model: &str, stream: bool) -> Value {
    hello().with("model", model).with("stream", stream)
}

async fn drive_everything(p: &Proxy, transcript: &mut String) {
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut record = |what: &str, status: u16, headers: &reqwest::header::HeaderMap, body: &str| {
        transcript.push_str(&format!("== {what} {status} {headers:?}\n{body}\n"));
    };
    let cases: Vec<(&str, reqwest::RequestBuilder)> = vec![
        (
            "json",
            c.post(p.url("/v1/messages"))
                .header("x-api-key", PROXY_KEY)
                .json(&hello_to("claude-haiku-4-5", false)),
        ),
        (
            "stream cut",
            c.post(p.url("/v1/messages"))
                .header("authorization", format!("Bearer {PROXY_KEY}"))
                .json(&hello_to("claude-haiku-4-5", true)),
        ),
        (
            "stream clean",
            c.post(p.url("/v1/messages"))
                .header("x-api-key", PROXY_KEY)
                .json(&hello_to("clean", true)),
        ),
        (
            "fallback",
            c.post(p.url("/v1/messages"))
                .header("x-api-key", PROXY_KEY)
                .json(&hello_to("fail-all", false)),
        ),
        (
            "echo",
            c.post(p.url("/v1/messages"))
                .header("x-api-key", PROXY_KEY)
                .json(&hello_to("echo-400", false)),
        ),
        (
            "wrong key",
            c.post(p.url("/v1/messages"))
                .header("x-api-key", "wrong")
                .json(&hello_to("m", false)),
        ),
        (
            "wrong bearer",
            c.post(p.url("/v1/messages"))
                .header("authorization", "Bearer wrong")
                .json(&hello_to("m", false)),
        ),
        (
            "bad json",
            c.post(p.url("/v1/messages"))
                .header("x-api-key", PROXY_KEY)
                .header("content-type", "application/json")
                .body("{nope"),
        ),
        (
            "count",
            c.post(p.url("/v1/messages/count_tokens"))
                .header("x-api-key", PROXY_KEY)
                .json(&hello_to("m", false)),
        ),
        (
            "models",
            c.get(p.url("/v1/models")).header("x-api-key", PROXY_KEY),
        ),
        ("health", c.get(p.url("/health"))),
        (
            "metrics",
            c.get(p.url("/metrics")).header("x-api-key", PROXY_KEY),
        ),
        ("metrics no key", c.get(p.url("/metrics"))),
        (
            "dev info",
            c.get(p.url("/admin/dev/info"))
                .header("x-api-key", ADMIN_KEY),
        ),
        (
            "dev info wrong",
            c.get(p.url("/admin/dev/info"))
                .header("x-api-key", PROXY_KEY),
        ),
        (
            "reload",
            c.post(p.url("/admin/config/reload"))
                .header("authorization", format!("Bearer {ADMIN_KEY}")),
        ),
        (
            "reload wrong",
            c.post(p.url("/admin/config/reload"))
                .header("x-api-key", "wrong"),
        ),
    ];
    let mut statuses = Vec::new();
    for (what, rb) in cases {
        let resp = rb.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap_or_default();
        statuses.push((what, status));
        record(what, status, &headers, &body);
    }
    let expect = [
        ("json", 200),
        ("stream cut", 200),
        ("stream clean", 200),
        ("fallback", 200),
        ("wrong key", 401),
        ("echo", 400),
        ("bad json", 400),
        ("health", 200),
        ("metrics", 200),
        ("metrics no key", 401),
        ("dev info", 200),
        ("dev info wrong", 401),
        ("reload", 200),
    ];
    for (what, status) in expect {
        assert!(
            statuses.contains(&(what, status)),
            "{what}: {statuses:?}\n{transcript}"
        );
    }
    assert!(
        transcript.contains("event: error"),
        "the cut stream ends with an error event"
    );
}

/// The `request` log lines (JSON format) carry the promised fields.
fn check_request_lines(stderr: &str) {
    let lines: Vec<Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "request")
        .collect();
    assert!(lines.len() >= 5, "{stderr}");
    for v in &lines {
        for field in [
            "request_id",
            "upstream",
            "key",
            "model",
            "upstream_model",
            "status",
            "latency_ms",
            "retries",
            "input_tokens",
            "output_tokens",
        ] {
            assert!(v.get(field).is_some(), "{field} missing in {v}");
        }
    }
    let cut = lines
        .iter()
        .find(|v| v["stream"] == true && v["error"].as_str().is_some_and(|e| !e.is_empty()))
        .expect("the cut stream is logged with its error");
    assert_eq!(cut["upstream"], "main");
    assert!(cut["ttfb_ms"].is_number(), "{cut}");
    assert!(cut["retries"].as_u64().unwrap() >= 1, "{cut}");
    let clean = lines
        .iter()
        .find(|v| v["stream"] == true && v["model"] == "clean")
        .expect("clean stream line");
    assert_eq!(clean["output_tokens"], 2, "{clean}");
    assert!(clean["key"].as_str().unwrap().contains('…'), "{clean}");
    let fallback = lines
        .iter()
        .find(|v| v["model"] == "fail-all")
        .expect("fallback line");
    assert_eq!(fallback["upstream"], "backup");
    assert!(fallback["upstreams_tried"].as_u64().unwrap() >= 2);
    assert!(
        lines.iter().any(|v| v["status"] == 400),
        "bad JSON is logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_ever_appears_in_output_or_responses() {
    let main = spawn_mock(mock_openai::validate, main_upstream_reply).await;
    let backup = spawn_mock(mock_anthropic::validate, |_| {
        Reply::Json(
            StatusCode::OK,
            json!({"id": "msg_b", "type": "message", "role": "assistant", "model": "c",
                   "content": [{"type": "text", "text": "from backup"}], "stop_reason": "end_turn",
                   "stop_sequence": null, "usage": {"input_tokens": 1, "output_tokens": 1}}),
        )
    })
    .await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut dead = upstream("dead", "openai", &dead_url, &[KDEAD]);
    dead["fallback"] = json!(["main", "backup"]);
    let mut main_up = upstream(
        "main",
        "openai",
        &main.url(),
        &[K401, K429, K500, KCUT, KGOOD],
    );
    main_up["loadBalance"] = json!("failover");
    let cfg = config_with(vec![
        dead,
        main_up,
        upstream("backup", "claude", &backup.url(), &[KCLAUDE]),
    ]);
    for format in ["json", "pretty"] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            serde_json::to_vec_pretty(&cfg).unwrap(),
        )
        .unwrap();
        write_env(
            dir.path(),
            &[
                ("HOST", "127.0.0.1"),
                ("PORT", "0"),
                ("PROXY_ACCESS_KEY", PROXY_KEY),
                ("ADMIN_ACCESS_KEY", ADMIN_KEY),
                ("LOG_LEVEL", "trace"),
                ("LOG_FORMAT", format),
                ("NODE_ENV", "development"),
                ("ENABLE_REQUEST_LOGS", "true"),
                ("ENABLE_RESPONSE_LOGS", "true"),
                ("FIRST_BYTE_TIMEOUT", "5000"),
            ],
        );
        let mut p = start(dir.path());
        let mut transcript = String::new();
        drive_everything(&p, &mut transcript).await;
        p.sigterm();
        assert!(p.wait_exit_async(Duration::from_secs(15)).await.success());
        let (stdout, stderr) = (p.stdout(), p.stderr());
        assert!(!stdout.contains("generated for this run"), "{stdout}");
        assert!(
            stderr.contains("request body") && stderr.contains("response body"),
            "body logs are on"
        );
        let all = format!("{stdout}\n{stderr}\n{transcript}");
        for secret in [
            PROXY_KEY, ADMIN_KEY, K401, K429, K500, KCUT, KGOOD, KDEAD, KCLAUDE,
        ] {
            if let Some(at) = all.find(secret) {
                let from = at.saturating_sub(300);
                panic!(
                    "{format}: {secret} leaked: …{}…",
                    &all[from..(at + 100).min(all.len())]
                );
            }
        }
        if format == "json" {
            check_request_lines(&stderr);
        }
    }
    assert!(main.count() >= 5 && backup.count() >= 1);
}

async fn slow_stream_proc(
    pieces: usize,
    delay_ms: u64,
    shutdown_ms: &str,
) -> (Mock, tempfile::TempDir, Proxy) {
    let words: Vec<String> = (0..pieces).map(|i| format!("w{i} ")).collect();
    let mock = spawn_mock(mock_openai::validate, move |_| {
        let refs: Vec<&str> = words.iter().map(String::as_str).collect();
        Reply::Sse {
            pieces: mock_openai::text_stream(&refs),
            delay: Duration::from_millis(delay_ms),
            cut: false,
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with(vec![upstream("oa", "openai", &mock.url(), &["k"])]);
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::to_vec(&cfg).unwrap(),
    )
    .unwrap();
    write_env(
        dir.path(),
        &[
            ("PORT", "0"),
            ("PROXY_ACCESS_KEY", PROXY_KEY),
            ("SHUTDOWN_TIMEOUT", shutdown_ms),
        ],
    );
    let p = start(dir.path());
    (mock, dir, p)
}

async fn open_stream(p: &Proxy) -> reqwest::Response {
    let resp = reqwest::Client::new()
        .post(p.url("/v1/messages"))
        .header("x-api-key", PROXY_KEY)
        .json(&hello_to("claude-haiku-4-5", true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_open_stream_finish_and_refuses_new_connections() {
    let (_mock, _dir, mut p) = slow_stream_proc(8, 150, "20000").await;
    let mut resp = open_stream(&p).await;
    let mut bytes = resp.chunk().await.unwrap().expect("first bytes").to_vec();
    let signalled = Instant::now();
    p.sigterm();
    assert!(
        refused_within(&p.url("/health"), Duration::from_secs(5)).await,
        "still accepting after SIGTERM"
    );
    while let Some(chunk) = resp.chunk().await.unwrap() {
        bytes.extend_from_slice(&chunk);
    }
    let msg = accumulate(&parse_sse(&bytes));
    let v = serde_json::to_value(&msg).unwrap();
    assert_eq!(v["content"][0]["text"], "w0 w1 w2 w3 w4 w5 w6 w7 ");
    let status = p.wait_exit_async(Duration::from_secs(10)).await;
    assert!(status.success(), "{status}");
    assert!(signalled.elapsed() < Duration::from_secs(10));
    let stderr = p.stderr();
    assert!(stderr.contains("shutdown signal received"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_timeout_bounds_the_wait_for_running_streams() {
    let (_mock, _dir, mut p) = slow_stream_proc(200, 100, "500").await;
    let mut resp = open_stream(&p).await;
    resp.chunk().await.unwrap().expect("first bytes");
    let signalled = Instant::now();
    p.sigterm();
    p.wait_exit_async(Duration::from_secs(8)).await;
    let waited = signalled.elapsed();
    assert!(waited >= Duration::from_millis(450), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    // The client's stream ends (cut) instead of hanging.
    let read_rest = async { while let Ok(Some(_)) = resp.chunk().await {} };
    tokio::time::timeout(Duration::from_secs(5), read_rest)
        .await
        .expect("the cut stream ends");
    let stderr = p.stderr();
    assert!(stderr.contains("SHUTDOWN_TIMEOUT passed"), "{stderr}");
}
