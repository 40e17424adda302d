//! OpenAI-compatible upstreams through the real server.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::common::mock_openai::{self, chunk, text_completion, text_stream, usage_chunk, DONE};
use crate::common::*;
use claude_proxy::protocol::anthropic::{ResponseBlock, StopReason, StreamEvent};

async fn openai_app(
    handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
) -> (TestApp, Mock) {
    let mock = spawn_mock(mock_openai::validate, handler).await;
    let mut up = upstream("oa", "openai", &mock.url(), &["sk-upstream-1"]);
    up["modelMapping"] = json!({"sonnet": "gpt-mapped", "*": "gpt-default"});
    let app = spawn_app(config_with(vec![up]), &[]).await;
    (app, mock)
}

fn simple_request(stream: bool) -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "stream": stream,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "Say hi"}]
    })
}

#[tokio::test]
async fn non_streaming_text_round_trip() {
    let (app, mock) =
        openai_app(|_| Reply::Json(StatusCode::OK, text_completion("Hello there"))).await;
    let resp = app.messages(&simple_request(false)).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("request-id").is_some());
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(
        v["model"], "claude-sonnet-4-5",
        "echoes the requested model"
    );
    assert!(v["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "Hello there"}])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v.as_object().unwrap().contains_key("stop_sequence"));
    assert_eq!(v["usage"]["input_tokens"], 12);
    assert_eq!(v["usage"]["output_tokens"], 5);

    let reqs = mock.requests();
    assert_eq!(reqs.len(), 1);
    let sent = &reqs[0];
    assert_eq!(sent.body["model"], "gpt-mapped");
    assert_eq!(sent.body["max_completion_tokens"], 256);
    assert_eq!(sent.header("authorization"), Some("Bearer sk-upstream-1"));
    assert_eq!(sent.body["messages"][0]["role"], "system");
    assert!(!sent.body.to_string().contains("cache_control"));
}

#[tokio::test]
async fn streaming_text_follows_anthropic_grammar() {
    let (app, _mock) = openai_app(|_| Reply::Sse {
        pieces: text_stream(&["Hel", "lo", " world"]),
        delay: Duration::from_millis(5),
        cut: false,
    })
    .await;
    let events = read_sse(app.messages(&simple_request(true)).await).await;
    assert!(matches!(events[0], StreamEvent::MessageStart { .. }));
    let msg = accumulate(&events);
    assert_eq!(
        msg.content,
        vec![ResponseBlock::Text {
            text: "Hello world".into()
        }]
    );
    assert_eq!(msg.stop_reason, Some(StopReason::EndTurn));
    assert_eq!(msg.usage.output_tokens, 3);
    assert_eq!(msg.usage.input_tokens, 12);
    assert_eq!(msg.model, "claude-sonnet-4-5");
    // Text is streamed as it arrives: one delta per upstream piece.
    let deltas = events
        .iter()
        .filter(|e| matches!(e, StreamEvent::ContentBlockDelta { .. }))
        .count();
    assert_eq!(deltas, 3);
}

#[tokio::test]
async fn streaming_request_asks_for_usage() {
    let (app, mock) = openai_app(|_| Reply::Sse {
        pieces: text_stream(&["x"]),
        delay: Duration::ZERO,
        cut: false,
    })
    .await;
    read_sse(app.messages(&simple_request(true)).await).await;
    let sent = &mock.requests()[0].body;
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn parallel_tool_calls_stream_interleaved() {
    let pieces = vec![
        chunk(
            json!({"role": "assistant", "content": "Let me check."}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_A", "type": "function", "function": {"name": "Read", "arguments": ""}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"file_path\":"}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 1, "id": "call_B", "type": "function", "function": {"name": "Read", "arguments": "{\"file_path\":\"/b.txt\"}"}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"/a.txt\"}"}}]}),
            None,
        ),
        chunk(json!({}), Some("tool_calls")),
        usage_chunk(100, 20),
        DONE.to_owned(),
    ];
    let (app, _mock) = openai_app(move |_| Reply::Sse {
        pieces: pieces.clone(),
        delay: Duration::from_millis(2),
        cut: false,
    })
    .await;
    let events = read_sse(app.messages(&fixture("03-parallel-turn1.json")).await).await;
    let msg = accumulate(&events);
    assert_eq!(msg.stop_reason, Some(StopReason::ToolUse));
    assert_eq!(msg.content.len(), 3);
    assert_eq!(
        msg.content[0],
        ResponseBlock::Text {
            text: "Let me check.".into()
        }
    );
    assert_eq!(
        msg.content[1],
        ResponseBlock::ToolUse {
            id: "call_A".into(),
            name: "Read".into(),
            input: json!({"file_path": "/a.txt"})
        }
    );
    assert_eq!(
        msg.content[2],
        ResponseBlock::ToolUse {
            id: "call_B".into(),
            name: "Read".into(),
            input: json!({"file_path": "/b.txt"})
        }
    );
}

#[tokio::test]
async fn tool_round_trip_turn_two_is_valid_for_openai() {
    let (app, mock) =
        openai_app(|_| Reply::Json(StatusCode::OK, text_completion("a.txt says alpha"))).await;
    let mut body = fixture("03-parallel-turn2.json");
    body["stream"] = json!(false);
    let resp = app.messages(&body).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let sent = &mock.requests()[0].body;
    let msgs = sent["messages"].as_array().unwrap();
    let tool_msgs: Vec<&Value> = msgs.iter().filter(|m| m["role"] == "tool").collect();
    assert_eq!(tool_msgs.len(), 2);
}

#[tokio::test]
async fn every_claude_code_fixture_passes_strict_openai_validation() {
    let (app, mock) = openai_app(|_| Reply::Sse {
        pieces: text_stream(&["ok"]),
        delay: Duration::ZERO,
        cut: false,
    })
    .await;
    for name in fixture_names() {
        let resp = app.messages(&fixture(&name)).await;
        assert_eq!(resp.status(), 200, "{name}: {}", resp.text().await.unwrap());
        let msg = accumulate(&parse_sse(&resp.bytes().await.unwrap()));
        assert_eq!(
            msg.content,
            vec![ResponseBlock::Text { text: "ok".into() }],
            "{name}"
        );
    }
    assert_eq!(mock.count(), fixture_names().len());
    for r in mock.requests() {
        // Claude Code asks for 128,000 / 32,000 output tokens; passed through uncapped here.
        assert!(r.body["max_completion_tokens"].as_u64().unwrap() >= 32_000);
        assert!(r.body.get("context_management").is_none());
        assert!(r.body.get("output_config").is_none());
        assert!(r.body.get("thinking").is_none());
        assert!(
            !r.body.to_string().contains("x-anthropic-billing-header"),
            "Claude Code's per-request billing header would defeat prefix caching"
        );
    }
}

#[tokio::test]
async fn image_tool_result_reaches_upstream_as_image_part() {
    let (app, mock) =
        openai_app(|_| Reply::Json(StatusCode::OK, text_completion("a red pixel"))).await;
    let mut body = fixture("02-read-image-turn2.json");
    body["stream"] = json!(false);
    let resp = app.messages(&body).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let sent = mock.requests()[0].body.to_string();
    assert!(
        sent.contains("data:image/png;base64,"),
        "image forwarded as data URL"
    );
}

#[tokio::test]
async fn openaiold_sends_max_tokens_and_cap_applies() {
    let mock = spawn_mock(mock_openai::validate, |_| {
        Reply::Json(StatusCode::OK, text_completion("x"))
    })
    .await;
    let mut up = upstream("old", "openaiold", &format!("{}/v1", mock.url()), &["k"]);
    up["maxTokens"] = json!(4096);
    let app = spawn_app(config_with(vec![up]), &[]).await;
    let mut body = simple_request(false);
    body["max_tokens"] = json!(128_000);
    assert_eq!(app.messages(&body).await.status(), 200);
    let sent = &mock.requests()[0].body;
    assert_eq!(sent["max_tokens"], 4096);
    assert!(sent.get("max_completion_tokens").is_none());
    assert_eq!(
        sent["model"], "claude-sonnet-4-5",
        "unmapped names pass through"
    );
}

#[tokio::test]
async fn keys_rotate_round_robin() {
    let mock = spawn_mock(mock_openai::validate, |_| {
        Reply::Json(StatusCode::OK, text_completion("x"))
    })
    .await;
    let up = upstream("oa", "openai", &mock.url(), &["k1", "k2", "k3"]);
    let app = spawn_app(config_with(vec![up]), &[]).await;
    for _ in 0..6 {
        assert_eq!(app.messages(&simple_request(false)).await.status(), 200);
    }
    let keys: Vec<String> = mock
        .requests()
        .iter()
        .map(|r| r.header("authorization").unwrap().to_owned())
        .collect();
    assert_eq!(
        keys,
        ["k1", "k2", "k3", "k1", "k2", "k3"].map(|k| format!("Bearer {k}"))
    );
}

#[tokio::test]
async fn stream_cut_midway_ends_with_error_event() {
    let mut pieces = text_stream(&["partial"]);
    pieces.truncate(2);
    let (app, _mock) = openai_app(move |_| Reply::Sse {
        pieces: pieces.clone(),
        delay: Duration::from_millis(5),
        cut: true,
    })
    .await;
    let resp = app.messages(&simple_request(true)).await;
    assert_eq!(resp.status(), 200);
    let events = parse_sse(&resp.bytes().await.unwrap_or_default());
    assert!(matches!(
        events.first(),
        Some(StreamEvent::MessageStart { .. })
    ));
    assert!(
        matches!(events.last(), Some(StreamEvent::Error { .. })),
        "last event is an error, not a fake clean end: {events:?}"
    );
    assert!(!events.iter().any(|e| matches!(e, StreamEvent::MessageStop)));
}

#[tokio::test]
async fn stream_that_ends_without_finish_is_an_error() {
    let mut pieces = text_stream(&["partial"]);
    pieces.truncate(2);
    let (app, _mock) = openai_app(move |_| Reply::Sse {
        pieces: pieces.clone(),
        delay: Duration::ZERO,
        cut: false,
    })
    .await;
    let events = read_sse(app.messages(&simple_request(true)).await).await;
    assert!(
        matches!(events.last(), Some(StreamEvent::Error { .. })),
        "{events:?}"
    );
}

#[tokio::test]
async fn silent_upstream_gets_pings() {
    let mock = spawn_mock(mock_openai::validate, |_| Reply::Sse {
        pieces: text_stream(&["late"]),
        delay: Duration::from_millis(400),
        cut: false,
    })
    .await;
    let app = spawn_app(
        config_with(vec![upstream("oa", "openai", &mock.url(), &["k"])]),
        &[("PING_INTERVAL", "100")],
    )
    .await;
    let events = read_sse(app.messages(&simple_request(true)).await).await;
    assert!(events.iter().any(|e| matches!(e, StreamEvent::Ping)));
    assert_eq!(
        accumulate(&events).content,
        vec![ResponseBlock::Text {
            text: "late".into()
        }]
    );
}

#[tokio::test]
async fn upstream_ignoring_stream_flag_is_replayed_as_events() {
    let (app, _mock) =
        openai_app(|_| Reply::Json(StatusCode::OK, text_completion("plain json"))).await;
    let events = read_sse(app.messages(&simple_request(true)).await).await;
    assert_eq!(
        accumulate(&events).content,
        vec![ResponseBlock::Text {
            text: "plain json".into()
        }]
    );
}

#[tokio::test]
async fn thinking_and_reasoning_effort() {
    let (app, mock) = openai_app(|_| {
        Reply::Json(
            StatusCode::OK,
            mock_openai::completion(
                json!({"role": "assistant", "content": "4", "reasoning_content": "2+2=4"}),
                "stop",
                5,
                9,
            ),
        )
    })
    .await;
    let mut body = simple_request(false);
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 2048});
    let v: Value = app.messages(&body).await.json().await.unwrap();
    assert_eq!(v["content"][0]["type"], "thinking");
    assert_eq!(v["content"][0]["thinking"], "2+2=4");
    assert!(v["content"][0]["signature"]
        .as_str()
        .unwrap()
        .starts_with("claude-proxy."));
    assert_eq!(v["content"][1], json!({"type": "text", "text": "4"}));
    assert_eq!(mock.requests()[0].body["reasoning_effort"], "low");
}

#[tokio::test]
async fn client_disconnect_cancels_the_upstream_request() {
    let mut pieces = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    for i in 0..200 {
        pieces.push(chunk(json!({"content": format!("piece {i} ")}), None));
    }
    pieces.push(chunk(json!({}), Some("stop")));
    pieces.push(DONE.to_owned());
    let (app, mock) = openai_app(move |_| Reply::Sse {
        pieces: pieces.clone(),
        delay: Duration::from_millis(20),
        cut: false,
    })
    .await;
    let mut resp = app.messages(&simple_request(true)).await;
    assert_eq!(resp.status(), 200);
    // Read a little, then hang up.
    let first = resp.chunk().await.unwrap();
    assert!(first.is_some());
    drop(resp);
    assert!(
        mock.wait_aborted(Duration::from_secs(5)).await,
        "upstream stream was not cancelled"
    );
}

#[tokio::test]
async fn keyless_upstream_is_called_without_auth() {
    let mock = spawn_mock(no_validation, |_| {
        Reply::Json(StatusCode::OK, text_completion("local model"))
    })
    .await;
    let app = spawn_app(
        config_with(vec![upstream("ollama", "openaiold", &mock.url(), &[])]),
        &[],
    )
    .await;
    let v: Value = app
        .messages(&simple_request(false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["content"][0]["text"], "local model");
    let rec = &mock.requests()[0];
    assert!(rec.header("authorization").is_none());
    assert!(rec.header("x-api-key").is_none());
}

#[tokio::test]
async fn refused_optional_parameter_is_dropped_and_remembered() {
    // Like gpt-4o, which refuses `reasoning_effort` (Claude Code always asks for thinking).
    let (app, mock) = openai_app(|r| {
        if r.body.get("reasoning_effort").is_some() {
            return Reply::Json(
                StatusCode::BAD_REQUEST,
                json!({"error": {"message": "Unrecognized request argument supplied: reasoning_effort",
                                  "type": "invalid_request_error", "param": null, "code": null}}),
            );
        }
        Reply::Json(StatusCode::OK, text_completion("fine without it"))
    })
    .await;
    let mut body = simple_request(false);
    body["thinking"] = json!({"type": "adaptive"});
    body["output_config"] = json!({"effort": "medium"});
    let v: Value = app.messages(&body).await.json().await.unwrap();
    assert_eq!(v["content"][0]["text"], "fine without it");
    assert_eq!(
        mock.count(),
        2,
        "one refused call, one without the parameter"
    );
    let v: Value = app.messages(&body).await.json().await.unwrap();
    assert_eq!(v["content"][0]["text"], "fine without it");
    assert_eq!(mock.count(), 3, "the refusal is remembered for the model");
}

#[tokio::test]
async fn other_bad_requests_are_not_retried() {
    let (app, mock) = openai_app(|_| {
        Reply::Json(
            StatusCode::BAD_REQUEST,
            json!({"error": {"message": "This model's maximum context length is 8192 tokens", "param": "messages"}}),
        )
    })
    .await;
    let resp = app.messages(&simple_request(false)).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(mock.count(), 1);
}

#[tokio::test]
async fn output_token_limit_of_the_model_is_learned() {
    let (app, mock) = openai_app(|r| {
        let asked = r.body["max_completion_tokens"].as_u64().unwrap_or(0);
        if asked > 16384 {
            return Reply::Json(
                StatusCode::BAD_REQUEST,
                json!({"error": {"message": format!("max_tokens is too large: {asked}. This model supports at most 16384 completion tokens, whereas you provided {asked}."),
                                  "type": "invalid_request_error", "param": "max_tokens", "code": "invalid_value"}}),
            );
        }
        Reply::Json(StatusCode::OK, text_completion("capped"))
    })
    .await;
    let mut body = simple_request(false);
    body["max_tokens"] = json!(128_000);
    let v: Value = app.messages(&body).await.json().await.unwrap();
    assert_eq!(v["content"][0]["text"], "capped");
    assert_eq!(mock.requests()[1].body["max_completion_tokens"], 16384);
    app.messages(&body).await;
    assert_eq!(mock.count(), 3, "the limit is remembered");
}
