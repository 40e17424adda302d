//! A stream is checked before it reaches the client: an upstream that
//! answers 200 and then fails before any content (an error event, an empty
//! stream, a cut) is a failed key, and the next key answers in one clean
//! stream; with no key left the client gets an Anthropic error, never an
//! empty answer.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::common::*;
use crate::common::{mock_anthropic, mock_openai};

/// The ways a 200 stream can fail before content, per protocol.
#[derive(Clone, Copy, Debug)]
enum Broken {
    ErrorEvent,
    Empty,
    CutBeforeContent,
}

const BROKEN: [Broken; 3] = [Broken::ErrorEvent, Broken::Empty, Broken::CutBeforeContent];

fn broken_openai(b: Broken) -> Reply {
    let role = mock_openai::chunk(json!({"role": "assistant", "content": ""}), None);
    let (pieces, cut) = match b {
        Broken::ErrorEvent => (
            vec![
                role,
                format!(
                    "data: {}\n\n",
                    json!({"error": {"message": "model overloaded", "type": "server_error", "code": 503}})
                ),
            ],
            false,
        ),
        Broken::Empty => (vec![], false),
        Broken::CutBeforeContent => (vec![role], true),
    };
    Reply::Sse {
        pieces,
        delay: Duration::ZERO,
        cut,
    }
}

const CLAUDE_START: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_up\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-up\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":3,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":1}}}\n\n";

fn claude_ok() -> String {
    format!(
        "{CLAUDE_START}event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{{\"type\":\"text\",\"text\":\"\"}}}}\n\n\
         event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"from good\"}}}}\n\n\
         event: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":0}}\n\n\
         event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"end_turn\",\"stop_sequence\":null}},\"usage\":{{\"input_tokens\":3,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":2}}}}\n\n\
         event: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n"
    )
}

fn broken_claude(b: Broken) -> Reply {
    let (pieces, cut) = match b {
        Broken::ErrorEvent => (
            vec![
                CLAUDE_START.to_owned(),
                "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n".to_owned(),
            ],
            false,
        ),
        Broken::Empty => (vec![], false),
        Broken::CutBeforeContent => (vec![CLAUDE_START.to_owned()], true),
    };
    Reply::Sse {
        pieces,
        delay: Duration::ZERO,
        cut,
    }
}

fn good(service: &str) -> Reply {
    let pieces = match service {
        "claude" => vec![claude_ok()],
        _ => mock_openai::text_stream(&["from good"]),
    };
    Reply::Sse {
        pieces,
        delay: Duration::ZERO,
        cut: false,
    }
}

async fn app_for(service: &'static str, broken: Broken, keys: &[&str]) -> (TestApp, Mock) {
    let validate = match service {
        "claude" => mock_anthropic::validate,
        _ => mock_openai::validate,
    };
    let mock = spawn_mock(validate, move |r| {
        if r.key() == "sk-bad" {
            match service {
                "claude" => broken_claude(broken),
                _ => broken_openai(broken),
            }
        } else {
            good(service)
        }
    })
    .await;
    let mut cfg = config_with(vec![upstream("up", service, &mock.url(), keys)]);
    cfg["loadBalance"] = json!("failover");
    (spawn_app(cfg, &[]).await, mock)
}

#[tokio::test]
async fn a_stream_that_fails_before_content_moves_to_the_next_key_invisibly() {
    for service in ["openai", "claude"] {
        for broken in BROKEN {
            let (app, mock) = app_for(service, broken, &["sk-bad", "sk-good"]).await;
            let resp = app.messages(&hello_stream()).await;
            assert_eq!(resp.status(), 200, "{service} {broken:?}");
            let events = read_sse(resp).await;
            assert!(
                !events.iter().any(|e| matches!(
                    e,
                    claude_proxy::protocol::anthropic::StreamEvent::Error { .. }
                )),
                "{service} {broken:?}: {events:?}"
            );
            let msg = accumulate(&events);
            let text = serde_json::to_value(&msg).unwrap()["content"][0]["text"].clone();
            assert_eq!(text, json!("from good"), "{service} {broken:?}");
            let keys = mock.keys();
            assert_eq!(keys, ["sk-bad", "sk-good"], "{service} {broken:?}");
        }
    }
}

#[tokio::test]
async fn with_no_key_left_the_client_gets_an_error_not_an_empty_answer() {
    for service in ["openai", "claude"] {
        for broken in BROKEN {
            let (app, _mock) = app_for(service, broken, &["sk-bad"]).await;
            let resp = app.messages(&hello_stream()).await;
            let status = resp.status().as_u16();
            assert!(status >= 500, "{service} {broken:?}: {status}");
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["type"], "error", "{service} {broken:?}: {body}");
            let kind = body["error"]["type"].as_str().unwrap();
            // Both error events say "overloaded" (OpenAI's with code 503).
            let expected = match broken {
                Broken::ErrorEvent => "overloaded_error",
                Broken::Empty | Broken::CutBeforeContent => "api_error",
            };
            assert_eq!(kind, expected, "{service} {broken:?}: {body}");
        }
    }
}

/// A complete answer with no text (a stop reason and nothing else) is a
/// valid answer, not a failure.
#[tokio::test]
async fn an_empty_but_complete_answer_is_committed() {
    let mock = spawn_mock(mock_openai::validate, |_| Reply::Sse {
        pieces: vec![
            mock_openai::chunk(json!({"role": "assistant", "content": ""}), None),
            mock_openai::chunk(json!({}), Some("stop")),
            "data: [DONE]\n\n".to_owned(),
        ],
        delay: Duration::ZERO,
        cut: false,
    })
    .await;
    let app = spawn_app(
        config_with(vec![upstream("up", "openai", &mock.url(), &["sk-1"])]),
        &[],
    )
    .await;
    let resp = app.messages(&hello_stream()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let msg = accumulate(&read_sse(resp).await);
    assert_eq!(
        serde_json::to_value(&msg).unwrap()["stop_reason"],
        "end_turn"
    );
    assert_eq!(mock.count(), 1);
}

/// The check waits at most FIRST_BYTE_TIMEOUT for content: an upstream that
/// sends headers and then nothing is a failed key.
#[tokio::test]
async fn a_stream_silent_after_its_headers_times_out_and_moves_on() {
    let mock = spawn_mock(mock_openai::validate, |r| {
        if r.key() == "sk-bad" {
            Reply::Sse {
                pieces: vec![
                    mock_openai::chunk(json!({"role": "assistant", "content": ""}), None),
                    mock_openai::chunk(json!({"content": "late"}), None),
                ],
                delay: Duration::from_secs(30),
                cut: false,
            }
        } else {
            good("openai")
        }
    })
    .await;
    let mut cfg = config_with(vec![upstream(
        "up",
        "openai",
        &mock.url(),
        &["sk-bad", "sk-good"],
    )]);
    cfg["loadBalance"] = json!("failover");
    let app = spawn_app(cfg, &[("FIRST_BYTE_TIMEOUT", "1000")]).await;
    let started = std::time::Instant::now();
    let resp = app.messages(&hello_stream()).await;
    assert_eq!(resp.status(), 200);
    let msg = accumulate(&read_sse(resp).await);
    assert_eq!(
        serde_json::to_value(&msg).unwrap()["content"][0]["text"],
        "from good"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}
