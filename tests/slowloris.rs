//! 2,000 slow-loris connections (request heads that never end) are closed
//! after HEADER_READ_TIMEOUT while normal requests keep being served, and
//! cost little memory and no lasting descriptors. Its own test binary, so
//! the process's RSS and descriptor counts are this test's alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::mock_openai::{self, text_completion};
use common::*;

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

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_slow_loris_connections_are_harmless() {
    let (app, _mock) = app_with(&[("HEADER_READ_TIMEOUT", "1500")]).await;
    let (rss_before, fds_before) = (rss_kb(), open_fds());
    let mut slow = Vec::with_capacity(2000);
    for _ in 0..2000 {
        let mut s = TcpStream::connect(app.addr).await.unwrap();
        // A request head that never ends.
        s.write_all(b"POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-slow: 1")
            .await
            .unwrap();
        slow.push(s);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_during = rss_kb();
    // Normal requests are served while the slow ones hang on.
    for _ in 0..20 {
        let resp = tokio::time::timeout(Duration::from_secs(5), app.messages(&hello()))
            .await
            .expect("a normal request is served during the attack");
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["content"][0]["text"], "served");
    }
    // Every slow connection is closed by the server after the timeout.
    let mut closed = 0;
    for s in &mut slow {
        if closed_by_server(s, Duration::from_secs(10)).await {
            closed += 1;
        }
    }
    assert_eq!(closed, 2000, "slow connections closed by the server");
    drop(slow);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (rss_after, fds_after) = (rss_kb(), open_fds());
    println!(
        "slow loris x2000: RSS {rss_before} kB before, {rss_during} kB during, {rss_after} kB after; fds {fds_before} before, {fds_after} after"
    );
    // In-process: the 2,000 client sockets count here too; each connection
    // costs a few KB, not the 8 KB buffer it could grow to.
    assert!(
        rss_during - rss_before.min(rss_during) < 64 * 1024,
        "RSS grew {} kB",
        rss_during - rss_before
    );
    assert!(
        fds_after <= fds_before + 50,
        "descriptors released: {fds_before} -> {fds_after}"
    );
}
