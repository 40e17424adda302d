use super::*;
use crate::protocol::anthropic::{MessagesResponse, ResponseBlock, StopReason};
use crate::translate::{accumulate, ResponseContext};
use tokio::sync::mpsc;

const TIMEOUTS: StreamTimeouts = StreamTimeouts {
    idle: Duration::from_secs(30),
    ping: Duration::from_secs(30),
};

fn openai_sse(i: usize) -> Bytes {
    let delta = if i == 0 {
        serde_json::json!({"role": "assistant", "content": ""})
    } else {
        serde_json::json!({"content": format!("w{i} ")})
    };
    let chunk = serde_json::json!({
        "id": "c", "object": "chat.completion.chunk", "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": null}]
    });
    Bytes::from(format!("data: {chunk}\n\n"))
}

fn finish_sse() -> Bytes {
    let chunk = serde_json::json!({
        "id": "c", "object": "chat.completion.chunk", "model": "m",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    });
    Bytes::from(format!("data: {chunk}\n\ndata: [DONE]\n\n"))
}

/// An upstream whose connection task hands over one chunk at a time,
/// like hyper's: a rendezvous channel fed from another task.
fn upstream_body(
    translator_ctx: ResponseContext,
) -> (
    mpsc::Sender<Result<Bytes, crate::providers::client::Error>>,
    axum::body::BodyDataStream,
) {
    let (tx, rx) = mpsc::channel::<Result<Bytes, crate::providers::client::Error>>(1);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let body = sse_body(
        Box::pin(stream),
        OpenAiStreamTranslator::new(translator_ctx),
        TIMEOUTS,
        None,
        None,
    );
    (tx, body.into_data_stream())
}

fn ctx() -> ResponseContext {
    ResponseContext {
        message_id: "msg_1".into(),
        model: "claude-x".into(),
        stop_sequences: Vec::new(),
    }
}

fn text_of(frames: &[Bytes]) -> String {
    let all: Vec<u8> = frames.iter().flat_map(|b| b.iter().copied()).collect();
    String::from_utf8(all).unwrap()
}

/// A burst that is already in memory leaves in a few writes, not one per
/// event, and nothing is lost or reordered on the way.
#[tokio::test]
async fn a_burst_of_chunks_leaves_in_few_writes() {
    let (tx, mut body) = upstream_body(ctx());
    let mut chunks: Vec<Bytes> = (0..100).map(openai_sse).collect();
    chunks.push(finish_sse());
    let producer = tokio::spawn(async move {
        for chunk in chunks {
            tx.send(Ok(chunk)).await.unwrap();
        }
    });
    let mut frames = Vec::new();
    while let Some(frame) = tokio::time::timeout(Duration::from_secs(10), body.next())
        .await
        .expect("stream stalled")
    {
        frames.push(frame.unwrap());
    }
    producer.await.unwrap();
    let text = text_of(&frames);
    let expected: String = (1..100).map(|i| format!("w{i} ")).collect();
    let got: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter_map(|v| v["delta"]["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(got, expected);
    assert!(text.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    // 100 text deltas plus start/stop events, one write each before.
    assert!(frames.len() <= 20, "{} writes for one burst", frames.len());
}

/// A slow upstream's events are not held back: each chunk reaches the
/// client before the next one is sent (the producer waits for it, so
/// holding an event back would stall the test).
#[tokio::test]
async fn a_slow_upstreams_events_leave_at_once() {
    let (tx, mut body) = upstream_body(ctx());
    let first = body.next().await.unwrap().unwrap();
    assert!(text_of(&[first]).starts_with("event: message_start"));
    for i in 1..6 {
        tx.send(Ok(openai_sse(i))).await.unwrap();
        let frame = tokio::time::timeout(Duration::from_secs(5), body.next())
            .await
            .expect("event held back")
            .unwrap()
            .unwrap();
        assert!(text_of(&[frame]).contains(&format!("w{i} ")));
    }
    tx.send(Ok(finish_sse())).await.unwrap();
    drop(tx);
    let mut rest = Vec::new();
    while let Some(frame) = body.next().await {
        rest.push(frame.unwrap());
    }
    assert!(text_of(&rest).contains("message_stop"));
}

#[test]
fn replayed_message_round_trips() {
    let mut msg = MessagesResponse::new("msg_1".into(), "m".into());
    msg.content = vec![
        ResponseBlock::Thinking {
            thinking: "t".into(),
            signature: "s".into(),
        },
        ResponseBlock::Text { text: "hi".into() },
        ResponseBlock::ToolUse {
            id: "toolu_1".into(),
            name: "x".into(),
            input: serde_json::json!({"a": 1}),
        },
    ];
    msg.stop_reason = Some(StopReason::ToolUse);
    msg.usage.output_tokens = 5;
    assert_eq!(accumulate(&message_to_events(&msg)).unwrap(), msg);
}
