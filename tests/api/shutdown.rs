//! Graceful shutdown in-process: after the signal, new connections are
//! refused while a running stream completes normally. (The binary's
//! SHUTDOWN_TIMEOUT deadline is tested in tests/binary.rs.)

use std::time::{Duration, Instant};

use serde_json::json;

use super::mock_openai;
use super::support::*;

#[tokio::test]
async fn open_stream_finishes_after_shutdown_and_new_connections_are_refused() {
    let mock = spawn_mock(mock_openai::validate, |_| Reply::Sse {
        pieces: mock_openai::text_stream(&["one ", "two ", "three ", "four"]),
        delay: Duration::from_millis(150),
        cut: false,
    })
    .await;
    let mut app = spawn_app(
        config_with(vec![upstream("oa", "openai", &mock.url(), &["k"])]),
        &[],
    )
    .await;
    let body = json!({"model": "claude-haiku-4-5", "max_tokens": 50, "stream": true,
                      "messages": [{"role": "user", "content": "count"}]});
    let mut resp = app.messages(&body).await;
    assert_eq!(resp.status(), 200);
    let mut bytes = resp.chunk().await.unwrap().expect("first chunk").to_vec();
    app.shutdown();
    // The listener closes as soon as the signal is seen.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let fresh = reqwest::Client::new();
        match fresh.get(app.url("/health")).send().await {
            Err(e) => {
                assert!(e.is_connect() || e.is_request(), "{e}");
                break;
            }
            Ok(_) => {
                assert!(Instant::now() < deadline, "still accepting after shutdown");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    while let Some(chunk) = resp.chunk().await.unwrap() {
        bytes.extend_from_slice(&chunk);
    }
    let msg = accumulate(&parse_sse(&bytes));
    let v = serde_json::to_value(&msg).unwrap();
    assert_eq!(v["content"][0]["text"], "one two three four");
    assert_eq!(v["stop_reason"], "end_turn");
}
