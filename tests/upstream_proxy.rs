//! `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY`: the binary reaches its
//! upstreams through the forward proxy the environment names — an `https`
//! upstream through a `CONNECT` tunnel (TLS end to end), an `http` one in
//! absolute form — with the proxy URL's credentials as
//! `Proxy-Authorization`, which never reaches the upstream.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use common::process::{Proxy, ProxyCommand};
use common::*;

const PROXY_KEY: &str = "proxy-access-key-aaaaaaaaaaaaaaaa";
/// `Basic base64("user:pa:ss")`: the proxy URL says `user:pa%3Ass@`.
const PROXY_AUTH: &str = "Basic dXNlcjpwYTpzcw==";

/// What the forward proxy saw of each request: its request line and its
/// `Proxy-Authorization`.
#[derive(Debug, Clone)]
struct Seen {
    line: String,
    auth: Option<String>,
}

/// A forward proxy on loopback: `CONNECT host:port` opens a tunnel, any
/// other request (absolute form) is passed on to the host it names. Without
/// the right `Proxy-Authorization` it answers 407.
async fn spawn_forward_proxy() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(relay(client, log.clone()));
        }
    });
    (format!("127.0.0.1:{port}"), seen)
}

async fn relay(mut client: TcpStream, log: Arc<Mutex<Vec<Seen>>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if head.len() > 64 * 1024 {
            return;
        }
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    };
    let text = String::from_utf8_lossy(&head[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or_default().to_owned();
    let auth = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("proxy-authorization"))
        .map(|(_, v)| v.trim().to_owned());
    log.lock().unwrap().push(Seen {
        line: line.clone(),
        auth: auth.clone(),
    });
    if auth.as_deref() != Some(PROXY_AUTH) {
        let _ = client
            .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    }
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method == "CONNECT" {
        let Ok(mut upstream) = TcpStream::connect(target).await else {
            let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
            return;
        };
        let _ = client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await;
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        return;
    }
    // Absolute form: pass the request on as it came, minus the proxy's own
    // header (hyper's server takes an absolute-form target as it is).
    let Some(host) = target
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
    else {
        return;
    };
    let Ok(mut upstream) = TcpStream::connect(host).await else {
        return;
    };
    // One request per connection (`connection: close`), so each one comes
    // through here and has its header removed.
    let mut forwarded = String::new();
    for l in text.trim_end_matches("\r\n").split("\r\n") {
        let lower = l.to_ascii_lowercase();
        if !lower.starts_with("proxy-authorization:") && !lower.starts_with("connection:") {
            forwarded.push_str(l);
            forwarded.push_str("\r\n");
        }
    }
    forwarded.push_str("connection: close\r\n\r\n");
    let _ = upstream.write_all(forwarded.as_bytes()).await;
    let _ = upstream.write_all(&head[end..]).await;
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

fn start(dir: &Path, env: &[(&str, &str)], upstream: serde_json::Value) -> Proxy {
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec_pretty(&json!({"upstream": [upstream], "currentUpstream": 0})).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join(".env"),
        format!("PORT=0\nPROXY_ACCESS_KEY={PROXY_KEY}\nLOG_LEVEL=warn\n"),
    )
    .unwrap();
    tokio::task::block_in_place(|| ProxyCommand::new(dir).envs(env).start())
}

async fn ask(p: &Proxy) -> (u16, serde_json::Value) {
    let resp = reqwest::Client::new()
        .post(p.url("/v1/messages"))
        .header("x-api-key", PROXY_KEY)
        .json(&hello())
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_upstream_is_reached_through_the_proxys_tunnel() {
    let (proxy, seen) = spawn_forward_proxy().await;
    let url = common::tls::spawn_tls_upstream().await;
    let mut up = upstream("tls", "openai", &url, &["sk-upstream"]);
    up["insecureSkipVerify"] = json!(true);
    let dir = tempfile::tempdir().unwrap();
    let proxy_url = format!("http://user:pa%3Ass@{proxy}");
    let p = start(dir.path(), &[("HTTPS_PROXY", &proxy_url)], up);
    let (status, v) = ask(&p).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["content"][0]["text"], "over tls");
    let seen = seen.lock().unwrap().clone();
    let host = url.trim_start_matches("https://").trim_end_matches("/v1");
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].line, format!("CONNECT {host} HTTP/1.1"));
    assert_eq!(seen[0].auth.as_deref(), Some(PROXY_AUTH));
    assert!(!p.stdout().contains("pa%3Ass") && !p.stderr().contains("pa%3Ass"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_upstream_is_reached_through_the_proxy_and_never_sees_its_credentials() {
    let (proxy, seen) = spawn_forward_proxy().await;
    let mock = spawn_mock(mock_openai::validate, |_| {
        Reply::ok(mock_openai::text_completion("via proxy"))
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let proxy_url = format!("http://user:pa%3Ass@{proxy}");
    let p = start(
        dir.path(),
        &[("HTTP_PROXY", &proxy_url), ("NO_PROXY", "example.invalid")],
        upstream("plain", "openai", &mock.url(), &["sk-upstream"]),
    );
    for _ in 0..2 {
        let (status, v) = ask(&p).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["content"][0]["text"], "via proxy");
    }
    let seen = seen.lock().unwrap().clone();
    assert!(!seen.is_empty());
    assert_eq!(
        seen[0].line,
        format!("POST {}/v1/chat/completions HTTP/1.1", mock.url())
    );
    assert_eq!(seen[0].auth.as_deref(), Some(PROXY_AUTH));
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert!(r.header("proxy-authorization").is_none());
        assert_eq!(r.header("authorization"), Some("Bearer sk-upstream"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_proxy_hosts_are_reached_directly_and_a_wrong_proxy_password_is_an_upstream_error() {
    let (proxy, seen) = spawn_forward_proxy().await;
    let mock = spawn_mock(mock_openai::validate, |_| {
        Reply::ok(mock_openai::text_completion("direct"))
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let proxy_url = format!("http://{proxy}");
    let p = start(
        dir.path(),
        &[
            ("ALL_PROXY", &proxy_url),
            ("NO_PROXY", "localhost,127.0.0.1"),
        ],
        upstream("plain", "openai", &mock.url(), &["sk-upstream"]),
    );
    let (status, v) = ask(&p).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["content"][0]["text"], "direct");
    assert!(seen.lock().unwrap().is_empty());
    drop(p);

    // The proxy refuses (407): the client gets an Anthropic-shaped 502
    // that names the proxy, never a 407.
    let dir = tempfile::tempdir().unwrap();
    let p = start(
        dir.path(),
        &[("HTTP_PROXY", &proxy_url)],
        upstream("plain", "openai", &mock.url(), &["sk-upstream"]),
    );
    let (status, v) = ask(&p).await;
    assert_eq!(status, 502, "{v}");
    assert_eq!(v["type"], "error", "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("HTTP proxy refused"), "{message}");
    assert_eq!(
        mock.requests().len(),
        1,
        "the refused request never arrived"
    );
}

#[test]
fn a_proxy_url_that_is_not_http_is_refused_at_start_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        format!("PORT=0\nPROXY_ACCESS_KEY={PROXY_KEY}\n"),
    )
    .unwrap();
    let out = ProxyCommand::new(dir.path())
        .envs(&[("HTTPS_PROXY", "socks5://user:SECRET@127.0.0.1:1080")])
        .run(Duration::from_secs(20));
    assert_ne!(out.code, 0);
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(text.contains("HTTPS_PROXY"), "{text}");
    assert!(!text.contains("SECRET"), "{text}");
}
