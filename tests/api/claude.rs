//! Claude (Anthropic) upstreams: transparent pass-through.

use std::time::Duration;

use axum::http::StatusCode;
use bytes::Bytes;
use serde_json::{json, Value};

use crate::common::mock_anthropic;
use crate::common::*;

const SSE: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_up\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-up\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\nevent: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":2}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

/// Anthropic's own checks, plus: the upstream key (not the client's
/// credential) goes in `x-api-key`.
fn validate_anthropic(rec: &Recorded) -> Result<(), String> {
    mock_anthropic::validate(rec)?;
    if rec.header("x-api-key") != Some("sk-ant-upstream") {
        return Err("x-api-key must carry the upstream key".into());
    }
    if rec.header("authorization").is_some() {
        return Err("the client's Authorization must not be forwarded".into());
    }
    Ok(())
}

async fn claude_app(
    handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
) -> (TestApp, Mock) {
    let mock = spawn_mock(validate_anthropic, handler).await;
    let mut up = upstream("anthropic", "claude", &mock.url(), &["sk-ant-upstream"]);
    up["modelMapping"] = json!({"haiku": "claude-up"});
    (spawn_app(config_with(vec![up]), &[]).await, mock)
}

#[tokio::test]
async fn body_passes_unchanged_except_model_and_headers_are_forwarded() {
    let (app, mock) = claude_app(|_| {
        Reply::Json(
            StatusCode::OK,
            json!({"id": "msg_up", "type": "message", "role": "assistant", "model": "claude-up",
                   "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn", "stop_sequence": null,
                   "usage": {"input_tokens": 1, "output_tokens": 1}}),
        )
    })
    .await;
    let mut body = fixture("05-haiku-turn2.json");
    body["stream"] = json!(false);
    let resp = app
        .client
        .post(app.url("/v1/messages?beta=true"))
        .header("authorization", format!("Bearer {ACCESS_KEY}"))
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "interleaved-thinking-2025-05-14")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["content"][0]["text"], "ok");
    let sent = &mock.requests()[0];
    assert_eq!(
        sent.header("anthropic-beta"),
        Some("interleaved-thinking-2025-05-14")
    );
    let mut expected = body.clone();
    expected["model"] = json!("claude-up");
    assert_eq!(
        sent.body, expected,
        "body unchanged apart from the mapped model"
    );
}

#[tokio::test]
async fn stream_is_byte_identical() {
    let pieces: Vec<String> = SSE
        .as_bytes()
        .chunks(37)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let (app, _mock) = claude_app(move |_| Reply::Sse {
        pieces: pieces.clone(),
        delay: Duration::from_millis(1),
        cut: false,
    })
    .await;
    let resp = app
        .messages(
            &json!({"model": "claude-haiku-4-5", "max_tokens": 10, "stream": true,
                          "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(bytes, Bytes::from(SSE));
}

#[tokio::test]
async fn anthropic_errors_keep_shape_and_status() {
    let (app, _mock) = claude_app(|_| {
        Reply::Json(
            StatusCode::BAD_REQUEST,
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: too big"}}),
        )
    })
    .await;
    let msg = expect_error(
        app.messages(&json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}))
            .await,
        400,
        "invalid_request_error",
    )
    .await;
    assert_eq!(msg, "max_tokens: too big");
}

#[tokio::test]
async fn proxy_signed_thinking_is_never_sent_to_anthropic() {
    let (app, mock) = claude_app(|_| {
        Reply::Json(
            StatusCode::OK,
            json!({"id": "msg_up", "type": "message", "role": "assistant", "model": "m", "content": [],
                   "stop_reason": "end_turn", "stop_sequence": null, "usage": {"input_tokens": 1, "output_tokens": 1}}),
        )
    })
    .await;
    let body = json!({"model": "m", "max_tokens": 10, "messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "from openai", "signature": "claude-proxy.v1.openai."},
            {"type": "text", "text": "a"}]},
        {"role": "user", "content": "next"}
    ]});
    assert_eq!(app.messages(&body).await.status(), 200);
    let sent = &mock.requests()[0].body;
    assert_eq!(
        sent["messages"][1]["content"],
        json!([{"type": "text", "text": "a"}])
    );
}

#[tokio::test]
async fn every_claude_code_fixture_passes_through_unchanged() {
    let (app, mock) = claude_app(|_| Reply::Sse {
        pieces: vec![SSE.to_owned()],
        delay: Duration::ZERO,
        cut: false,
    })
    .await;
    for name in fixture_names() {
        let body = fixture(&name);
        let resp = app
            .client
            .post(app.url("/v1/messages?beta=true"))
            .header("authorization", format!("Bearer {ACCESS_KEY}"))
            .header("anthropic-version", "2023-06-01")
            .header(
                "anthropic-beta",
                "claude-code-20250219,interleaved-thinking-2025-05-14",
            )
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{name}");
        assert_eq!(resp.bytes().await.unwrap(), Bytes::from(SSE), "{name}");
        let sent = mock.requests().pop().unwrap();
        let mut expected = body.clone();
        if body["model"].as_str().unwrap().contains("haiku") {
            expected["model"] = json!("claude-up");
        }
        assert_eq!(
            sent.body, expected,
            "{name}: body unchanged apart from the mapped model"
        );
        assert_eq!(
            sent.header("anthropic-beta"),
            Some("claude-code-20250219,interleaved-thinking-2025-05-14")
        );
    }
}

/// Tools in OpenAI's form (as the seed's README documents them) reach an
/// Anthropic upstream in Anthropic's form, for messages and count_tokens;
/// the rest of the body is untouched.
#[tokio::test]
async fn openai_form_tools_are_converted_for_anthropic() {
    let (app, mock) = claude_app(|rec| {
        if rec.path.ends_with("/count_tokens") {
            Reply::Json(StatusCode::OK, json!({"input_tokens": 42}))
        } else {
            Reply::Json(
                StatusCode::OK,
                json!({"id": "msg_up", "type": "message", "role": "assistant", "model": "claude-up",
                       "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn", "stop_sequence": null,
                       "usage": {"input_tokens": 1, "output_tokens": 1}}),
            )
        }
    })
    .await;
    let tools = json!([
        {"type": "function", "function": {"name": "get_weather", "description": "Weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
        {"name": "Read", "description": "Read a file", "input_schema": {"type": "object", "properties": {}}}
    ]);
    let expected_tools = json!([
        {"name": "get_weather", "description": "Weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
        {"name": "Read", "description": "Read a file", "input_schema": {"type": "object", "properties": {}}}
    ]);
    let body = json!({"model": "claude-haiku-4-5", "max_tokens": 20, "tools": tools,
        "messages": [{"role": "user", "content": "weather in Paris?"}]});
    for path in ["/v1/messages", "/v1/messages/count_tokens"] {
        let resp = app
            .client
            .post(app.url(path))
            .header("x-api-key", ACCESS_KEY)
            .header("anthropic-version", "2023-06-01")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}: {}", resp.text().await.unwrap());
        let sent = mock.requests().last().unwrap().clone();
        assert_eq!(sent.body["tools"], expected_tools, "{path}");
        let mut rest = sent.body.clone();
        rest["tools"] = tools.clone();
        rest["model"] = json!("claude-haiku-4-5");
        assert_eq!(rest, body, "{path}: nothing else changes");
    }
}

/// A non-streaming answer cut mid-body (the connection drops, or the body
/// ends before the JSON does) never reaches the client truncated: the next
/// key answers, and with no key left the client gets an Anthropic api_error.
#[tokio::test]
async fn a_non_stream_answer_cut_mid_body_moves_to_the_next_key() {
    let whole =
        json!({"id": "msg_up", "type": "message", "role": "assistant", "model": "claude-up",
        "content": [{"type": "text", "text": "complete answer"}], "stop_reason": "end_turn",
        "stop_sequence": null, "usage": {"input_tokens": 1, "output_tokens": 2}})
        .to_string();
    let half = whole[..whole.len() / 2].to_owned();
    for cut_connection in [true, false] {
        let half = half.clone();
        let whole = whole.clone();
        let mock = spawn_mock(mock_anthropic::validate, move |rec| {
            if rec.header("x-api-key") == Some("sk-ant-cut") {
                if cut_connection {
                    Reply::Sse {
                        pieces: vec![half.clone()],
                        delay: Duration::ZERO,
                        cut: true,
                    }
                } else {
                    Reply::Raw(
                        StatusCode::OK,
                        vec![("content-type", "application/json".to_owned())],
                        Bytes::from(half.clone()),
                    )
                }
            } else {
                Reply::Raw(
                    StatusCode::OK,
                    vec![("content-type", "application/json".to_owned())],
                    Bytes::from(whole.clone()),
                )
            }
        })
        .await;
        let mut cfg = config_with(vec![upstream(
            "anthropic",
            "claude",
            &mock.url(),
            &["sk-ant-cut", "sk-ant-good"],
        )]);
        cfg["loadBalance"] = json!("failover");
        let app = spawn_app(cfg, &[]).await;
        let body = json!({"model": "claude-haiku-4-5", "max_tokens": 20,
            "messages": [{"role": "user", "content": "hi"}]});
        let resp = app.messages(&body).await;
        assert_eq!(resp.status(), 200, "cut_connection={cut_connection}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["content"][0]["text"], "complete answer");
        assert_eq!(mock.count(), 2);

        let mut only_cut = config_with(vec![upstream(
            "anthropic",
            "claude",
            &mock.url(),
            &["sk-ant-cut"],
        )]);
        only_cut["loadBalance"] = json!("failover");
        let app = spawn_app(only_cut, &[]).await;
        let resp = app.messages(&body).await;
        assert_eq!(resp.status(), 502, "cut_connection={cut_connection}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "api_error");
    }
}
