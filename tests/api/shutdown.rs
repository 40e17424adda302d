//! Graceful shutdown in-process: after the signal, new connections are
//! refused while a running stream completes normally. (The binary's
//! SHUTDOWN_TIMEOUT deadline is tested in tests/binary.rs.)

use std::time::Duration;

use serde_json::json;

use crate::common::mock_openai;
use crate::common::*;

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
    assert!(
        refused_within(&app.url("/health"), Duration::from_secs(3)).await,
        "still accepting after shutdown"
    );
    while let Some(chunk) = resp.chunk().await.unwrap() {
        bytes.extend_from_slice(&chunk);
    }
    let msg = accumulate(&parse_sse(&bytes));
    let v = serde_json::to_value(&msg).unwrap();
    assert_eq!(v["content"][0]["text"], "one two three four");
    assert_eq!(v["stop_reason"], "end_turn");
}
