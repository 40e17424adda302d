//! `insecureSkipVerify`: an upstream with a self-signed certificate is
//! refused by default and reached when the flag is set for that upstream.
//! And an HTTP/2 upstream (ALPN `h2`) that refuses a stream unprocessed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::json;

use crate::common::mock_openai::text_completion;
use crate::common::tls::{serve_tls, spawn_tls_upstream};
use crate::common::*;

#[tokio::test]
async fn self_signed_upstream_needs_insecure_skip_verify() {
    let url = spawn_tls_upstream().await;
    let strict = upstream("strict", "openai", &url, &["k"]);
    let mut lax = upstream("lax", "openai", &url, &["k"]);
    lax["insecureSkipVerify"] = json!(true);

    let app = spawn_app(
        json!({"upstream": [strict.clone(), lax.clone()], "currentUpstream": 0}),
        &[],
    )
    .await;
    let resp = app.messages(&hello()).await;
    assert!(
        resp.status().is_server_error(),
        "certificate must be checked by default"
    );

    let app = spawn_app(
        json!({"upstream": [strict, lax], "currentUpstream": 1}),
        &[],
    )
    .await;
    let resp = app.messages(&hello()).await;
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["content"][0]["text"], "over tls");
}

/// An HTTP/2-only upstream over TLS that resets the first `refuse` streams
/// with REFUSED_STREAM (RFC 9113 §8.7: not processed, safe to send again)
/// and answers the rest; counts the streams it saw.
async fn spawn_h2_refusing_upstream(refuse: usize) -> (String, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let port = serve_tls(&[b"h2"], move |tls| {
        let seen = counter.clone();
        async move {
            let Ok(mut conn) = h2::server::handshake(tls).await else {
                return;
            };
            while let Some(Ok((_req, mut respond))) = conn.accept().await {
                if seen.fetch_add(1, Ordering::SeqCst) < refuse {
                    respond.send_reset(h2::Reason::REFUSED_STREAM);
                    continue;
                }
                let head = axum::http::Response::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(())
                    .unwrap();
                let Ok(mut body) = respond.send_response(head, false) else {
                    continue;
                };
                let json = serde_json::to_vec(&text_completion("over h2")).unwrap();
                let _ = body.send_data(json.into(), true);
            }
        }
    })
    .await;
    (format!("https://127.0.0.1:{port}/v1"), seen)
}

/// A stream an HTTP/2 upstream refused unprocessed goes again on the same
/// key (twice at most) and the client never sees it; the key is not marked.
#[tokio::test]
async fn a_stream_an_h2_upstream_refused_is_sent_again_on_the_same_key() {
    let (url, seen) = spawn_h2_refusing_upstream(2).await;
    let mut up = upstream("h2", "openai", &url, &["only-key"]);
    up["insecureSkipVerify"] = json!(true);
    let app = spawn_app(json!({"upstream": [up], "currentUpstream": 0}), &[]).await;
    let resp = app.messages(&hello()).await;
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["content"][0]["text"], "over h2");
    assert_eq!(
        seen.load(Ordering::SeqCst),
        3,
        "two refusals, then the answer"
    );
    // The key did not rest: the next request goes through at once.
    let resp = app.messages(&hello()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(seen.load(Ordering::SeqCst), 4);

    // A third refusal in a row is the upstream's failure, not retried again.
    let (url, seen) = spawn_h2_refusing_upstream(3).await;
    let mut up = upstream("h2", "openai", &url, &["only-key"]);
    up["insecureSkipVerify"] = json!(true);
    let app = spawn_app(json!({"upstream": [up], "currentUpstream": 0}), &[]).await;
    let resp = app.messages(&hello()).await;
    assert!(resp.status().is_server_error(), "{}", resp.status());
    assert_eq!(seen.load(Ordering::SeqCst), 3);
}
