//! Fault injection on keys and upstreams: every way a key can fail moves the
//! request to the next key (streaming and not), each key at most once;
//! request errors are not retried; cooldowns, all-keys-resting answers and
//! cross-upstream fallback.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::common::mock_anthropic;
use crate::common::mock_openai::{self, text_completion};
use crate::common::*;

/// A successful OpenAI answer in the form the request asked for.
fn ok_reply(rec: &Recorded, text: &str) -> Reply {
    if rec.body["stream"] == json!(true) {
        Reply::Sse {
            pieces: mock_openai::text_stream(&[text]),
            delay: Duration::ZERO,
            cut: false,
        }
    } else {
        Reply::Json(StatusCode::OK, text_completion(text))
    }
}

/// Text of a JSON or SSE answer.
async fn answer_text(resp: reqwest::Response, stream: bool) -> String {
    assert_eq!(resp.status(), 200);
    let msg: Value = if stream {
        serde_json::to_value(accumulate(&read_sse(resp).await)).unwrap()
    } else {
        resp.json().await.unwrap()
    };
    msg["content"][0]["text"].as_str().unwrap().to_owned()
}

/// The app with two upstreams, `main` falling back to `backup` (named
/// "backup").
async fn spawn_with_fallback(mut main: Value, backup: Value) -> TestApp {
    main["fallback"] = json!(["backup"]);
    spawn_app(config_with(vec![main, backup]), &[]).await
}

fn failover_config(mock: &Mock, keys: &[&str]) -> Value {
    let mut cfg = config_with(vec![upstream("oa", "openai", &mock.url(), keys)]);
    cfg["loadBalance"] = json!("failover");
    cfg
}

/// A Claude Code turn whose first key fails slowly (long enough for the
/// gateway to pack the held body, see providers/held_body.rs) reaches the next
/// key byte for byte, with its Content-Length, streaming and not.
#[tokio::test]
async fn a_body_held_through_a_slow_failure_reaches_the_next_key_whole() {
    for stream in [false, true] {
        let mock = spawn_mock(mock_openai::validate, |r| {
            if r.key() == "slow-bad" {
                Reply::Late(
                    Duration::from_millis(300),
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"error": {"message": "boom"}}),
                )
            } else {
                ok_reply(r, "from good")
            }
        })
        .await;
        let app = spawn_app(failover_config(&mock, &["slow-bad", "good"]), &[]).await;
        let body = fixture("01-write-turn2.json").with("stream", stream);
        let resp = app.messages(&body).await;
        assert_eq!(answer_text(resp, stream).await, "from good");
        let reqs = mock.requests();
        assert_eq!(mock.keys(), ["slow-bad", "good"], "stream={stream}");
        assert!(reqs[0].raw.len() > 20_000, "{}", reqs[0].raw.len());
        assert_eq!(reqs[0].raw, reqs[1].raw, "stream={stream}");
        for r in &reqs {
            let len = r.raw.len().to_string();
            assert_eq!(r.header("content-length"), Some(len.as_str()));
            assert_eq!(r.header("transfer-encoding"), None);
        }
    }
}

/// Every key-level failure: the first key fails, the second answers, the
/// client never notices; each key is tried once.
#[tokio::test]
async fn every_key_failure_moves_to_the_next_key() {
    let cases: Vec<(&str, u16, Value, Option<&str>)> = vec![
        (
            "401",
            401,
            json!({"error": {"message": "Incorrect API key"}}),
            None,
        ),
        ("403", 403, json!({"error": {"message": "forbidden"}}), None),
        (
            "402",
            402,
            json!({"error": {"message": "Insufficient Balance"}}),
            None,
        ),
        (
            "400 balance",
            400,
            json!({"error": {"message": "Insufficient Balance"}}),
            None,
        ),
        (
            "429",
            429,
            json!({"error": {"message": "slow down"}}),
            Some("1"),
        ),
        (
            "429 quota",
            429,
            json!({"error": {"code": "insufficient_quota", "message": "You exceeded your current quota"}}),
            None,
        ),
        ("500", 500, json!({"error": {"message": "boom"}}), None),
        (
            "502",
            502,
            json!({"error": {"message": "bad gateway"}}),
            None,
        ),
        (
            "503",
            503,
            json!({"error": {"message": "unavailable"}}),
            None,
        ),
        (
            "504",
            504,
            json!({"error": {"message": "gateway timeout"}}),
            None,
        ),
        (
            "529",
            529,
            json!({"error": {"message": "overloaded"}}),
            None,
        ),
    ];
    for (name, status, body, retry_after) in cases {
        for stream in [false, true] {
            let b = body.clone();
            let mock = spawn_mock(mock_openai::validate, move |r| {
                if r.key() == "bad" {
                    Reply::error(status, &b, retry_after)
                } else {
                    ok_reply(r, "from good")
                }
            })
            .await;
            let app = spawn_app(failover_config(&mock, &["bad", "good"]), &[]).await;
            let resp = app.messages(&hello().with("stream", stream)).await;
            assert_eq!(resp.status(), 200, "{name} stream={stream}");
            assert_eq!(answer_text(resp, stream).await, "from good", "{name}");
            assert_eq!(mock.keys(), ["bad", "good"], "{name} stream={stream}");
        }
    }
}

#[tokio::test]
async fn first_byte_timeout_moves_to_the_next_key() {
    for stream in [false, true] {
        let mock = spawn_mock(mock_openai::validate, |r| {
            if r.key() == "slow" {
                Reply::Hang
            } else {
                ok_reply(r, "from fast")
            }
        })
        .await;
        let app = spawn_app(
            failover_config(&mock, &["slow", "fast"]),
            &[("FIRST_BYTE_TIMEOUT", "300")],
        )
        .await;
        let started = Instant::now();
        let resp = app.messages(&hello().with("stream", stream)).await;
        assert_eq!(answer_text(resp, stream).await, "from fast");
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(mock.keys(), ["slow", "fast"]);
    }
}

/// A raw HTTP/1.1 upstream that closes the connection without a word for
/// the key `bad` and answers the others.
async fn spawn_dropping_upstream() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let s = s.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 8192];
                let head_end = loop {
                    let n = sock.read(&mut tmp).await.unwrap_or(0);
                    if n == 0 || buf.len() > 1 << 20 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break p + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                let bad = head.contains("authorization: bearer bad");
                s.lock()
                    .unwrap()
                    .push(if bad { "bad" } else { "good" }.to_owned());
                if bad {
                    return; // dropped: no status line, no body
                }
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while buf.len() < head_end + len {
                    let n = sock.read(&mut tmp).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                }
                let body = serde_json::to_vec(&text_completion("after drop")).unwrap();
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&body).await;
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn dropped_connection_moves_to_the_next_key() {
    let (url, seen) = spawn_dropping_upstream().await;
    let mut cfg = config_with(vec![upstream("oa", "openai", &url, &["bad", "good"])]);
    cfg["loadBalance"] = json!("failover");
    let app = spawn_app(cfg, &[]).await;
    let resp = app.messages(&hello()).await;
    assert_eq!(answer_text(resp, false).await, "after drop");
    assert_eq!(*seen.lock().unwrap(), ["bad", "good"]);
}

#[tokio::test]
async fn request_errors_are_not_retried() {
    for (status, kind) in [(400, "invalid_request_error"), (404, "not_found_error")] {
        for stream in [false, true] {
            let mock = spawn_mock(mock_openai::validate, move |_| {
                Reply::error(
                    status,
                    &json!({"error": {"message": "bad tool schema"}}),
                    None,
                )
            })
            .await;
            let app = spawn_app(failover_config(&mock, &["k1", "k2", "k3"]), &[]).await;
            expect_error(
                app.messages(&hello().with("stream", stream)).await,
                status,
                kind,
            )
            .await;
            assert_eq!(mock.count(), 1, "status {status} stream={stream}: one try");
        }
    }
}

#[tokio::test]
async fn every_key_is_tried_at_most_once() {
    let mock = spawn_mock(mock_openai::validate, |_| {
        Reply::error(500, &json!({"error": {"message": "boom"}}), None)
    })
    .await;
    let app = spawn_app(
        config_with(vec![upstream(
            "oa",
            "openai",
            &mock.url(),
            &["a", "b", "c"],
        )]),
        &[],
    )
    .await;
    expect_error(app.messages(&hello()).await, 500, "api_error").await;
    let mut seen = mock.keys();
    seen.sort();
    assert_eq!(seen, ["a", "b", "c"]);
}

#[tokio::test]
async fn rate_limited_key_rests_for_retry_after_then_serves_again() {
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    let mock = spawn_mock(mock_openai::validate, move |r| {
        if h.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            Reply::error(429, &json!({"error": {"message": "slow down"}}), Some("1"))
        } else {
            ok_reply(r, "rested")
        }
    })
    .await;
    let app = spawn_app(
        config_with(vec![upstream("oa", "openai", &mock.url(), &["only"])]),
        &[],
    )
    .await;
    let resp = app.messages(&hello()).await;
    assert_eq!(resp.headers()["retry-after"], "1");
    expect_error(resp, 429, "rate_limit_error").await;
    // Resting: refused by the proxy itself, the upstream is not asked.
    let resp = app.messages(&hello_stream()).await;
    assert_eq!(resp.headers()["retry-after"], "1");
    let msg = expect_error(resp, 429, "rate_limit_error").await;
    assert!(msg.contains("rate limited"), "{msg}");
    assert_eq!(mock.count(), 1);
    let health: Value = app
        .client
        .get(app.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["config"]["upstreams"][0]["restingKeys"], 1);
    // After Retry-After the key is used again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let resp = app.messages(&hello_stream()).await;
    assert_eq!(answer_text(resp, true).await, "rested");
    assert_eq!(mock.count(), 2);
}

#[tokio::test]
async fn resting_keys_are_skipped_while_another_is_usable() {
    let mock = spawn_mock(mock_openai::validate, |r| {
        if r.key() == "limited" {
            Reply::error(429, &json!({"error": {"message": "slow down"}}), Some("30"))
        } else {
            ok_reply(r, "ok")
        }
    })
    .await;
    let app = spawn_app(
        config_with(vec![upstream(
            "oa",
            "openai",
            &mock.url(),
            &["limited", "fine"],
        )]),
        &[],
    )
    .await;
    for _ in 0..6 {
        assert_eq!(app.messages(&hello()).await.status(), 200);
    }
    let limited = mock.keys().iter().filter(|k| *k == "limited").count();
    assert_eq!(limited, 1, "a 429 key rests for its Retry-After");
}

#[tokio::test]
async fn failing_keys_rest_and_the_client_gets_529_with_retry_after() {
    let mock = spawn_mock(mock_openai::validate, |_| {
        Reply::error(503, &json!({"error": {"message": "unavailable"}}), None)
    })
    .await;
    let app = spawn_app(
        config_with(vec![upstream("oa", "openai", &mock.url(), &["only"])]),
        &[],
    )
    .await;
    // One 5xx says little about a key: it rests after the third in a row.
    for _ in 0..3 {
        expect_error(app.messages(&hello()).await, 529, "overloaded_error").await;
    }
    assert_eq!(mock.count(), 3);
    let resp = app.messages(&hello()).await;
    assert!(resp.headers().contains_key("retry-after"));
    let msg = expect_error(resp, 529, "overloaded_error").await;
    assert!(msg.contains("resting"), "{msg}");
    assert_eq!(mock.count(), 3, "a resting key is not asked");
}

#[tokio::test]
async fn rejected_key_shows_as_resting_in_health() {
    let mock = spawn_mock(mock_openai::validate, |r| {
        if r.key() == "revoked" {
            Reply::error(401, &json!({"error": {"message": "invalid key"}}), None)
        } else {
            ok_reply(r, "ok")
        }
    })
    .await;
    let app = spawn_app(failover_config(&mock, &["revoked", "valid"]), &[]).await;
    assert_eq!(app.messages(&hello()).await.status(), 200);
    let health: Value = app
        .client
        .get(app.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let up = &health["config"]["upstreams"][0];
    assert_eq!(up["keys"], 2);
    assert_eq!(up["restingKeys"], 1);
    assert!(!health.to_string().contains("revoked"));
}

/// An Anthropic-format answer from a `claude` upstream.
fn claude_message(text: &str) -> Value {
    json!({"id": "msg_backup", "type": "message", "role": "assistant", "model": "claude-x",
           "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
           "stop_sequence": null, "usage": {"input_tokens": 3, "output_tokens": 2,
                     "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}})
}

async fn spawn_claude_backup() -> Mock {
    spawn_mock(mock_anthropic::validate, |r| {
        if r.body["stream"] == json!(true) {
            let mut msg = claude_message("");
            msg["content"] = json!([]);
            msg["stop_reason"] = Value::Null;
            let events = [
                ("message_start", json!({"type": "message_start", "message": msg})),
                ("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})),
                ("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "from backup"}})),
                ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
                ("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"input_tokens": 3, "output_tokens": 2, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}})),
                ("message_stop", json!({"type": "message_stop"})),
            ];
            Reply::Sse {
                pieces: events.iter().map(|(n, d)| format!("event: {n}\ndata: {d}\n\n")).collect(),
                delay: Duration::ZERO,
                cut: false,
            }
        } else {
            Reply::Json(StatusCode::OK, claude_message("from backup"))
        }
    })
    .await
}

#[tokio::test]
async fn fallback_upstream_answers_when_every_key_fails() {
    let primary = spawn_mock(mock_openai::validate, |_| {
        Reply::error(401, &json!({"error": {"message": "invalid key"}}), None)
    })
    .await;
    let backup = spawn_claude_backup().await;
    let app = spawn_with_fallback(
        upstream("primary", "openai", &primary.url(), &["p1", "p2"]),
        upstream("backup", "claude", &backup.url(), &["b1"]),
    )
    .await;
    for stream in [false, true] {
        let resp = app.messages(&hello().with("stream", stream)).await;
        assert_eq!(
            answer_text(resp, stream).await,
            "from backup",
            "stream={stream}"
        );
    }
    assert_eq!(
        primary.count(),
        2,
        "both primary keys tried once, then resting"
    );
    assert_eq!(backup.count(), 2);
    assert_eq!(backup.requests()[0].header("x-api-key"), Some("b1"));
}

#[tokio::test]
async fn unreachable_upstream_falls_back() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let backup = spawn_mock(mock_openai::validate, |r| ok_reply(r, "from backup")).await;
    let app = spawn_with_fallback(
        upstream("dead", "gemini", &dead_url, &["g1"]),
        upstream("backup", "openai", &backup.url(), &["o1"]),
    )
    .await;
    let resp = app.messages(&hello_stream()).await;
    assert_eq!(answer_text(resp, true).await, "from backup");
}

#[tokio::test]
async fn fallback_is_off_by_default_and_not_used_for_request_errors() {
    let primary = spawn_mock(mock_openai::validate, |r| {
        if r.body["messages"][0]["content"] == "bad" {
            Reply::error(400, &json!({"error": {"message": "bad request"}}), None)
        } else {
            Reply::error(401, &json!({"error": {"message": "invalid key"}}), None)
        }
    })
    .await;
    let backup = spawn_claude_backup().await;
    // No fallback list: the backup is never asked.
    let app = spawn_app(
        config_with(vec![
            upstream("primary", "openai", &primary.url(), &["p1"]),
            upstream("backup", "claude", &backup.url(), &["b1"]),
        ]),
        &[],
    )
    .await;
    expect_error(app.messages(&hello()).await, 401, "authentication_error").await;
    assert_eq!(backup.count(), 0);
    // With a fallback, a request error still stops at the first upstream.
    let app = spawn_with_fallback(
        upstream("primary", "openai", &primary.url(), &["p2"]),
        upstream("backup", "claude", &backup.url(), &["b1"]),
    )
    .await;
    let mut bad = hello();
    bad["messages"][0]["content"] = json!("bad");
    expect_error(app.messages(&bad).await, 400, "invalid_request_error").await;
    assert_eq!(backup.count(), 0);
}

#[tokio::test]
async fn client_disconnect_cancels_a_non_streaming_upstream_request() {
    let mock = spawn_mock(mock_openai::validate, |_| Reply::Hang).await;
    let app = spawn_app(
        config_with(vec![upstream("oa", "openai", &mock.url(), &["k"])]),
        &[],
    )
    .await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = client
        .post(app.url("/v1/messages"))
        .header("x-api-key", ACCESS_KEY)
        .json(&hello())
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    assert!(
        mock.wait_aborted(Duration::from_secs(5)).await,
        "upstream request was not cancelled"
    );
    assert_eq!(mock.count(), 1);
}

#[tokio::test]
async fn upstream_errors_that_echo_the_key_are_scrubbed() {
    const KEY: &str = "sk-echoed-secret-key-0123456789";
    let mock = spawn_mock(mock_openai::validate, |r| {
        let body =
            json!({"error": {"message": format!("Incorrect API key provided: {}", r.key())}});
        Reply::error(401, &body, None)
    })
    .await;
    let app = spawn_app(
        config_with(vec![upstream("oa", "openai", &mock.url(), &[KEY])]),
        &[],
    )
    .await;
    let msg = expect_error(app.messages(&hello()).await, 401, "authentication_error").await;
    assert!(!msg.contains(KEY), "{msg}");
    assert!(msg.contains("sk-echoe…6789"), "{msg}");
}

/// A redirect is never followed: the key would go along to whatever address
/// it names (reqwest keeps `x-api-key` on a cross-host redirect). The client
/// gets a 502 that says to fix `baseUrl`, the redirect's target sees no
/// request, and a fallback upstream still answers.
#[tokio::test]
async fn a_redirecting_upstream_is_not_followed_and_its_key_stays_home() {
    let target = spawn_mock(no_validation, |_| Reply::ok(json!({}))).await;
    let to = format!("{}/v1/messages?token=secret-in-query", target.url());
    let redirecting = spawn_mock(no_validation, move |_| {
        Reply::Raw(
            StatusCode::TEMPORARY_REDIRECT,
            vec![("location", to.clone())],
            bytes::Bytes::new(),
        )
    })
    .await;
    let app = spawn_app(
        config_with(vec![upstream(
            "moved",
            "claude",
            &redirecting.url(),
            &["sk-ant-redirected"],
        )]),
        &[],
    )
    .await;
    let resp = app.messages(&hello()).await;
    assert_eq!(resp.status(), 502);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "api_error");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("307") && msg.contains("baseUrl"), "{msg}");
    assert!(msg.contains(&target.url()), "names the address: {msg}");
    assert!(!msg.contains("secret-in-query"), "no query: {msg}");
    assert!(!msg.contains("sk-ant-redirected"), "no key: {msg}");
    assert_eq!(redirecting.count(), 1);
    assert_eq!(target.count(), 0, "the redirect was followed");

    // With a fallback, the client never notices.
    let backup = spawn_claude_backup().await;
    let app = spawn_with_fallback(
        upstream(
            "moved",
            "claude",
            &redirecting.url(),
            &["sk-ant-redirected"],
        ),
        upstream("backup", "claude", &backup.url(), &["b1"]),
    )
    .await;
    let resp = app.messages(&hello()).await;
    assert_eq!(answer_text(resp, false).await, "from backup");
    assert_eq!(target.count(), 0);
}
