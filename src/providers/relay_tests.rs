use super::*;
use tokio::sync::mpsc;

const START: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"cache_read_input_tokens\":7,\"cache_creation_input_tokens\":3,\"output_tokens\":1}}}\n\n";
const DELTA: &str = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n";
const END: &str = "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

fn body_of(
    idle: Duration,
) -> (
    mpsc::Sender<Result<Bytes, crate::providers::client::Error>>,
    axum::body::BodyDataStream,
) {
    let (tx, rx) = mpsc::channel::<Result<Bytes, crate::providers::client::Error>>(8);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (
        tx,
        relay(Box::pin(stream), idle, None, None).into_data_stream(),
    )
}

async fn collect(mut body: axum::body::BodyDataStream) -> String {
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn usage_is_read_from_start_and_delta() {
    let mut tap = UsageTap::default();
    tap.scan(format!("{START}{DELTA}{END}").as_bytes());
    assert!(tap.ended);
    let u = tap.usage.unwrap();
    assert_eq!(
        (
            u.input_tokens,
            u.output_tokens,
            u.cache_read_input_tokens,
            u.cache_creation_input_tokens
        ),
        (25, 15, 7, 3)
    );
}

#[tokio::test]
async fn events_pass_byte_for_byte_even_when_split() {
    let (tx, body) = body_of(Duration::from_secs(30));
    let all = format!("{START}{DELTA}{END}");
    let bytes = all.as_bytes().to_vec();
    tokio::spawn(async move {
        // Split inside events and inside a UTF-8-free JSON value.
        for piece in bytes.chunks(7) {
            tx.send(Ok(Bytes::copy_from_slice(piece))).await.unwrap();
        }
    });
    assert_eq!(collect(body).await, all);
}

#[tokio::test(start_paused = true)]
async fn a_silent_upstream_ends_with_a_timeout_error_after_whole_events() {
    let (tx, body) = body_of(Duration::from_secs(5));
    tx.send(Ok(Bytes::from(format!("{START}event: content_block"))))
        .await
        .unwrap();
    let text = collect(body).await;
    drop(tx);
    assert!(text.starts_with(START), "{text}");
    let tail = &text[START.len()..];
    assert!(tail.starts_with("event: error\n"), "{tail}");
    assert!(tail.contains("\"type\":\"timeout_error\""), "{tail}");
}

#[tokio::test]
async fn a_stream_cut_before_message_stop_ends_with_an_error() {
    let (tx, body) = body_of(Duration::from_secs(30));
    tx.send(Ok(Bytes::from(format!("{START}{DELTA}"))))
        .await
        .unwrap();
    drop(tx);
    let text = collect(body).await;
    assert!(text.ends_with("\n\n"));
    assert!(text.contains("event: error\n"), "{text}");
    assert!(text.contains("\"type\":\"api_error\""), "{text}");
}

#[tokio::test]
async fn an_upstream_error_event_is_not_followed_by_another() {
    let (tx, body) = body_of(Duration::from_secs(30));
    let err = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    tx.send(Ok(Bytes::from(format!("{START}{err}"))))
        .await
        .unwrap();
    drop(tx);
    let text = collect(body).await;
    assert_eq!(text, format!("{START}{err}"));
}
