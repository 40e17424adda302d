//! Gemini upstreams through the real server, against a mock that validates
//! requests like the Gemini API (tests/common/mock_gemini.rs).

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::common::mock_gemini::validate;
use crate::common::*;
use claude_proxy::protocol::anthropic::{ResponseBlock, StopReason, StreamEvent};

fn candidate(parts: Value, finish: &str) -> Value {
    json!({
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}],
        "usageMetadata": {"promptTokenCount": 40, "candidatesTokenCount": 6, "thoughtsTokenCount": 4, "totalTokenCount": 50},
        "modelVersion": "gemini-2.5-flash"
    })
}

/// Gemini frames SSE with CRLF.
fn sse(chunks: &[Value]) -> Vec<String> {
    chunks
        .iter()
        .map(|c| format!("data: {c}\r\n\r\n"))
        .collect()
}

pub async fn gemini_app(
    handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
) -> (TestApp, Mock) {
    let mock = spawn_mock(validate, handler).await;
    let mut up = upstream("gem", "gemini", &mock.url(), &["AIza-upstream"]);
    up["modelMapping"] = json!({"*": "gemini-2.5-flash"});
    (spawn_app(config_with(vec![up]), &[]).await, mock)
}

#[tokio::test]
async fn non_streaming_text() {
    let (app, mock) = gemini_app(|_| {
        Reply::Json(
            StatusCode::OK,
            candidate(
                json!([{"text": "thinking…", "thought": true}, {"text": "Bonjour"}]),
                "STOP",
            ),
        )
    })
    .await;
    let resp = app
        .messages(&json!({"model": "claude-sonnet-4-5", "max_tokens": 100,
                          "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["model"], "claude-sonnet-4-5");
    assert_eq!(v["content"][0]["type"], "thinking");
    assert_eq!(v["content"][1], json!({"type": "text", "text": "Bonjour"}));
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["usage"]["input_tokens"], 40);
    assert_eq!(v["usage"]["output_tokens"], 10);
    let rec = &mock.requests()[0];
    assert_eq!(rec.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(rec.header("x-goog-api-key"), Some("AIza-upstream"));
}

#[tokio::test]
async fn every_claude_code_fixture_streams_through_gemini() {
    let (app, mock) = gemini_app(|rec| {
        assert!(rec.path.ends_with(":streamGenerateContent"));
        Reply::Sse {
            pieces: sse(&[
                json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Do"}]}}],
                       "usageMetadata": {"promptTokenCount": 900}}),
                candidate(json!([{"text": "ne."}]), "STOP"),
            ]),
            delay: Duration::ZERO,
            cut: false,
        }
    })
    .await;
    for name in fixture_names() {
        let resp = app.messages(&fixture(&name)).await;
        assert_eq!(resp.status(), 200, "{name}: {}", resp.text().await.unwrap());
        let events = parse_sse(&resp.bytes().await.unwrap());
        let StreamEvent::MessageStart { message } = &events[0] else {
            panic!("first event is message_start: {events:?}")
        };
        assert_eq!(
            message.usage.input_tokens, 900,
            "prompt size known at message_start"
        );
        let msg = accumulate(&events);
        assert_eq!(
            msg.content,
            vec![ResponseBlock::Text {
                text: "Done.".into()
            }],
            "{name}"
        );
        assert_eq!(msg.usage.input_tokens, 40, "{name}");
    }
    assert_eq!(mock.count(), fixture_names().len());
    for r in mock.requests() {
        assert!(!r.body.to_string().contains("x-anthropic-billing-header"));
    }
}

#[tokio::test]
async fn parallel_calls_and_thought_signature_round_trip() {
    let (app, mock) = gemini_app(|rec| {
        let contents = rec.body["contents"].as_array().unwrap();
        let last = contents.last().unwrap();
        let answered = last["parts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.get("functionResponse").is_some());
        if answered {
            // The signature Gemini gave must come back on the first call.
            let model_turn = &contents[contents.len() - 2];
            let first_call = model_turn["parts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p.get("functionCall").is_some())
                .unwrap();
            assert_eq!(first_call["thoughtSignature"], "c2lnLTE=");
            return Reply::Json(StatusCode::OK, candidate(json!([{"text": "Paris 18C, Rome 25C"}]), "STOP"));
        }
        Reply::Sse {
            pieces: sse(&[candidate(
                json!([
                    {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnLTE="},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}
                ]),
                "STOP",
            )]),
            delay: Duration::ZERO,
            cut: false,
        }
    })
    .await;
    let tools = json!([{"name": "get_weather", "description": "w", "input_schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
        "properties": {"city": {"type": "string", "format": "uri"}}, "required": ["city"], "additionalProperties": false}}]);
    let mut body = json!({"model": "claude-sonnet-4-5", "max_tokens": 300, "stream": true, "tools": tools,
                          "messages": [{"role": "user", "content": "Paris and Rome?"}]});
    let events = read_sse(app.messages(&body).await).await;
    let first = accumulate(&events);
    assert_eq!(first.stop_reason, Some(StopReason::ToolUse));
    let uses: Vec<&ResponseBlock> = first
        .content
        .iter()
        .filter(|b| matches!(b, ResponseBlock::ToolUse { .. }))
        .collect();
    assert_eq!(uses.len(), 2);
    // Second turn: the client sends back every block it got, plus results.
    let mut results = Vec::new();
    for b in &first.content {
        if let ResponseBlock::ToolUse { id, .. } = b {
            results.push(json!({"type": "tool_result", "tool_use_id": id, "content": "sunny"}));
        }
    }
    body["stream"] = json!(false);
    body["messages"] = json!([
        {"role": "user", "content": "Paris and Rome?"},
        {"role": "assistant", "content": serde_json::to_value(&first.content).unwrap()},
        {"role": "user", "content": results}
    ]);
    let resp = app.messages(&body).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert_eq!(mock.count(), 2);
    let schema = &mock.requests()[0].body["tools"][0]["functionDeclarations"][0]["parameters"];
    assert!(schema.get("$schema").is_none() && schema.get("additionalProperties").is_none());
}

#[tokio::test]
async fn bad_key_maps_to_authentication_error_and_fails_over() {
    let (app, mock) = gemini_app(|_| {
        Reply::Json(
            StatusCode::BAD_REQUEST,
            json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
                             "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}),
        )
    })
    .await;
    let msg = expect_error(
        app.messages(&json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}))
            .await,
        401,
        "authentication_error",
    )
    .await;
    assert!(msg.contains("API key not valid"));
    assert!(!msg.contains("AIza-upstream"));
    assert_eq!(mock.count(), 1);
}

#[tokio::test]
async fn resource_exhausted_is_rate_limit() {
    let (app, _mock) = gemini_app(|_| {
        Reply::Json(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"error": {"code": 429, "message": "Quota exceeded for requests per minute", "status": "RESOURCE_EXHAUSTED"}}),
        )
    })
    .await;
    expect_error(
        app.messages(&json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}))
            .await,
        429,
        "rate_limit_error",
    )
    .await;
}

#[tokio::test]
async fn stream_without_finish_reason_ends_in_error() {
    let (app, _mock) = gemini_app(|_| Reply::Sse {
        pieces: sse(&[
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "par"}]}}]}),
        ]),
        delay: Duration::ZERO,
        cut: false,
    })
    .await;
    let events = read_sse(
        app.messages(&json!({"model": "m", "max_tokens": 5, "stream": true,
                             "messages": [{"role": "user", "content": "hi"}]}))
            .await,
    )
    .await;
    assert!(
        matches!(events.last(), Some(StreamEvent::Error { .. })),
        "{events:?}"
    );
}

#[tokio::test]
async fn images_reach_gemini_as_inline_data() {
    let (app, mock) = gemini_app(|_| {
        Reply::Json(
            StatusCode::OK,
            candidate(json!([{"text": "a pixel"}]), "STOP"),
        )
    })
    .await;
    let mut body = fixture("02-read-image-turn2.json");
    body["stream"] = json!(false);
    assert_eq!(app.messages(&body).await.status(), 200);
    assert!(mock.requests()[0]
        .body
        .to_string()
        .contains("\"inlineData\""));
}

#[tokio::test]
async fn pings_never_come_before_message_start() {
    let mock = spawn_mock(validate, |_| Reply::Sse {
        pieces: vec![
            // Headers go out at once; the first chunk only after a pause.
            ": keep-alive\r\n\r\n".to_owned(),
            format!(
                "data: {}\r\n\r\n",
                candidate(json!([{"text": "late"}]), "STOP")
            ),
        ],
        delay: Duration::from_millis(500),
        cut: false,
    })
    .await;
    let app = spawn_app(
        config_with(vec![upstream(
            "gem",
            "gemini",
            &mock.url(),
            &["AIza-upstream"],
        )]),
        &[("PING_INTERVAL", "100")],
    )
    .await;
    let events = read_sse(
        app.messages(
            &json!({"model": "gemini-2.5-flash", "max_tokens": 5, "stream": true,
                             "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await,
    )
    .await;
    assert!(
        matches!(events[0], StreamEvent::MessageStart { .. }),
        "{events:?}"
    );
    assert!(events.iter().any(|e| matches!(e, StreamEvent::Ping)));
    assert_eq!(
        accumulate(&events).content,
        vec![ResponseBlock::Text {
            text: "late".into()
        }]
    );
}
