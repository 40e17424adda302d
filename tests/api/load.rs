//! Load: 500 concurrent streaming requests through the proxy. Each carries
//! a unique marker that the mock echoes in its stream; every client must get
//! exactly its own marker in a grammatically valid stream, in bounded time.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::mock_openai;
use crate::common::*;

const CLIENTS: usize = 500;

fn marker_of(rec: &Recorded) -> String {
    let content = &rec.body["messages"][0]["content"];
    content
        .as_str()
        .or_else(|| content[0]["text"].as_str())
        .unwrap_or("?")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_streams_are_neither_lost_nor_mixed() {
    let mock = spawn_mock(mock_openai::validate, |r| {
        let marker = marker_of(r);
        Reply::Sse {
            pieces: mock_openai::text_stream(&["<", &marker, "|", &marker, ">"]),
            delay: Duration::from_millis(5),
            cut: false,
        }
    })
    .await;
    let app = spawn_app(
        config_with(vec![upstream(
            "oa",
            "openai",
            &mock.url(),
            &["k1", "k2", "k3"],
        )]),
        // Generous: on a loaded 2-core machine headers can take seconds,
        // and a first-byte timeout would turn into a (harmless) retry.
        &[("FIRST_BYTE_TIMEOUT", "30000")],
    )
    .await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let url = app.url("/v1/messages");
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let client = client.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let marker = format!("marker-{i:03}-{}", std::process::id());
                let body: Value = json!({"model": "claude-haiku-4-5", "max_tokens": 50, "stream": true,
                                         "messages": [{"role": "user", "content": marker}]});
                let resp = client
                    .post(&url)
                    .header("x-api-key", ACCESS_KEY)
                    .json(&body)
                    .send()
                    .await
                    .expect("request");
                let msg = accumulate(&read_sse(resp).await);
                let v = serde_json::to_value(&msg).unwrap();
                assert_eq!(v["content"][0]["text"], format!("<{marker}|{marker}>"), "client {i}");
                assert_eq!(v["stop_reason"], "end_turn");
            })
        })
        .collect();
    let all = tokio::time::timeout(
        Duration::from_secs(90),
        futures_util::future::join_all(tasks),
    )
    .await
    .expect("all streams finish in bounded time");
    for r in all {
        r.expect("client task");
    }
    let elapsed = started.elapsed();
    eprintln!(
        "load: {CLIENTS} concurrent streams in {elapsed:?}, {} upstream requests",
        mock.count()
    );
    // Every client's request reached the upstream; a retry (a pooled
    // connection reset under load) may add a few, never lose one.
    let mut markers: Vec<String> = mock.requests().iter().map(marker_of).collect();
    let total = markers.len();
    markers.sort();
    markers.dedup();
    assert_eq!(markers.len(), CLIENTS, "upstream saw every client");
    assert!(
        total <= CLIENTS + CLIENTS / 20,
        "{total} upstream requests for {CLIENTS} clients"
    );
}
