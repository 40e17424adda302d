//! Slow and hostile clients stay harmless (the slow-loris attack has its
//! own test binary, tests/slowloris.rs, so its memory and descriptor counts
//! are its own): an idle kept-alive connection is closed after
//! HEADER_READ_TIMEOUT, connections beyond
//! MAX_CONNECTIONS get a clean 503, and absurd bodies and headers get 400.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::mock_openai::{self, text_completion};
use crate::common::*;

async fn app_with(env: &[(&str, &str)]) -> (TestApp, Mock) {
    let mock = spawn_mock(mock_openai::validate, |_| {
        Reply::Json(StatusCode::OK, text_completion("served"))
    })
    .await;
    let app = spawn_app(
        config_with(vec![upstream("oa", "openai", &mock.url(), &["k"])]),
        env,
    )
    .await;
    (app, mock)
}

/// True once the server closed `s` (read gives EOF or an error).
async fn closed_by_server(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 512];
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match tokio::time::timeout(deadline - Instant::now(), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
    false
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_header_timeout() {
    let (app, _mock) = app_with(&[("HEADER_READ_TIMEOUT", "800")]).await;
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    let body = serde_json::to_vec(&hello()).unwrap();
    let head = format!(
        "POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: {ACCESS_KEY}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body).await.unwrap();
    let mut buf = vec![0u8; 8192];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    assert!(closed_by_server(&mut s, Duration::from_secs(5)).await);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "not before the timeout"
    );
}

#[tokio::test]
async fn connections_beyond_max_connections_get_a_clean_503() {
    let (app, _mock) =
        app_with(&[("MAX_CONNECTIONS", "3"), ("HEADER_READ_TIMEOUT", "20000")]).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(app.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut extra = TcpStream::connect(app.addr).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), extra.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(answer).unwrap();
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    let body: Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "overloaded_error");
    // A slot freed is a slot usable.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = reqwest::Client::new();
    let resp = client
        .post(app.url("/v1/messages"))
        .header("x-api-key", ACCESS_KEY)
        .json(&hello())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn absurd_bodies_and_headers_get_a_400_and_the_server_keeps_serving() {
    let (app, mock) = app_with(&[]).await;
    // 100,000 levels of nesting: a 400, not a stack overflow.
    let deep = format!(
        r#"{{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{{"role":"user","content":"hi"}}],"metadata":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let resp = app.messages_raw(deep).await;
    let msg = expect_error(resp, 400, "invalid_request_error").await;
    assert!(
        msg.contains("recursion") || msg.contains("invalid"),
        "{msg}"
    );

    let mut long_model = hello();
    long_model["model"] = json!("m".repeat(10_000));
    let msg = expect_error(
        app.messages(&long_model).await,
        400,
        "invalid_request_error",
    )
    .await;
    assert!(msg.starts_with("model:"), "{msg}");

    let resp = app
        .client
        .post(app.url("/v1/messages"))
        .header("x-api-key", ACCESS_KEY)
        .header("x-long", "v".repeat(6000))
        .json(&hello())
        .send()
        .await
        .unwrap();
    let msg = expect_error(resp, 400, "invalid_request_error").await;
    assert!(msg.contains("x-long"), "{msg}");

    let mut r = app
        .client
        .post(app.url("/v1/messages"))
        .header("x-api-key", ACCESS_KEY);
    for i in 0..150 {
        r = r.header(format!("x-h{i}"), "1");
    }
    let resp = r.json(&hello()).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 431, "too many headers");

    assert_eq!(mock.count(), 0, "none of these reached the upstream");
    assert_eq!(app.messages(&hello()).await.status(), 200);
}
