//! OpenAI Responses upstreams (`serviceType: "responses"`) through the real
//! server, against the strict mock in tests/common/mock_responses.rs.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};

use crate::common::mock_responses::{self, error_stream, failed_stream, script_reply};
use crate::common::*;
use claude_proxy::protocol::anthropic::{ResponseBlock, StreamEvent};

async fn responses_app(
    keys: &[&str],
    handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
) -> (TestApp, Mock) {
    let mock = spawn_mock(mock_responses::validate, handler).await;
    let mut up = upstream("resp", "responses", &mock.url(), keys);
    up["modelMapping"] = json!({"*": "gpt-5-codex"});
    let mut cfg = config_with(vec![up]);
    cfg["loadBalance"] = json!("failover");
    (spawn_app(cfg, &[]).await, mock)
}

fn text_of(message: &Value) -> String {
    message["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect()
}

async fn message(resp: reqwest::Response, stream: bool) -> Value {
    assert_eq!(resp.status(), 200);
    if stream {
        fold_ok(&read_events(resp).await)
    } else {
        resp.json().await.unwrap()
    }
}

#[tokio::test]
async fn every_claude_code_fixture_passes_strict_responses_validation() {
    let (app, mock) = responses_app(&["sk-1"], |r| script_reply(r, &Script::text(&["ok"]))).await;
    for name in fixture_names() {
        let resp = app.messages(&fixture(&name)).await;
        assert_eq!(resp.status(), 200, "{name}: {}", resp.text().await.unwrap());
        let stream = fixture(&name)["stream"] == json!(true);
        let msg = if stream {
            accumulate(&parse_sse(&resp.bytes().await.unwrap()))
        } else {
            resp.json().await.unwrap()
        };
        assert_eq!(
            msg.content,
            vec![ResponseBlock::Text { text: "ok".into() }],
            "{name}"
        );
    }
    assert_eq!(mock.count(), fixture_names().len());
    for r in mock.requests() {
        assert_eq!(r.body["model"], "gpt-5-codex");
        assert_eq!(r.body["store"], false);
        assert!(r.body.get("previous_response_id").is_none());
        assert!(r.body.get("context_management").is_none());
        assert!(r.body.get("thinking").is_none());
        assert!(
            !r.body.to_string().contains("x-anthropic-billing-header"),
            "Claude Code's per-request billing header would defeat prefix caching"
        );
    }
}

/// The ways a 200 stream fails before content, Responses style.
fn broken(kind: usize) -> Reply {
    let (pieces, cut) = match kind {
        0 => (
            failed_stream("server_error", "The server had an error"),
            false,
        ),
        1 => (error_stream("server_error", "stream error"), false),
        2 => (Vec::new(), false),
        _ => (failed_stream("server_error", "x")[..1].to_vec(), true),
    };
    Reply::Sse {
        pieces,
        delay: Duration::ZERO,
        cut,
    }
}

#[tokio::test]
async fn a_stream_that_fails_before_content_moves_to_the_next_key_invisibly() {
    for kind in 0..4 {
        let (app, mock) = responses_app(&["sk-bad", "sk-good"], move |r| {
            if r.key() == "sk-bad" {
                broken(kind)
            } else {
                script_reply(r, &Script::text(&["from ", "good"]))
            }
        })
        .await;
        let resp = app.messages(&hello_stream()).await;
        assert_eq!(resp.status(), 200, "case {kind}");
        let events = read_sse(resp).await;
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, StreamEvent::Error { .. })),
            "case {kind}: {events:?}"
        );
        let starts = events
            .iter()
            .filter(|e| matches!(e, StreamEvent::MessageStart { .. }))
            .count();
        assert_eq!(starts, 1, "one clean stream");
        let msg = accumulate(&events);
        assert_eq!(
            msg.content,
            vec![ResponseBlock::Text {
                text: "from good".into()
            }]
        );
        assert_eq!(mock.keys(), ["sk-bad", "sk-good"], "case {kind}");
    }
}

#[tokio::test]
async fn a_rate_limited_response_failed_is_a_rate_limit_for_the_client() {
    let (app, _mock) = responses_app(&["sk-1"], |_| Reply::Sse {
        pieces: failed_stream("rate_limit_exceeded", "slow down"),
        delay: Duration::ZERO,
        cut: false,
    })
    .await;
    let msg = expect_error(app.messages(&hello_stream()).await, 429, "rate_limit_error").await;
    assert!(msg.contains("slow down"), "{msg}");
}

fn weather_tool() -> Value {
    json!({"name": "get_weather", "description": "Weather for a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}})
}

/// Reasoning and parallel calls across turns: the reasoning item comes back
/// byte for byte before the calls it led to, each call with its output.
#[tokio::test]
async fn reasoning_and_parallel_calls_round_trip_across_turns() {
    let calls = vec![
        ToolCall::new(
            Some("call_p".into()),
            "get_weather",
            json!({"city": "Paris"}),
        ),
        ToolCall::new(
            Some("call_r".into()),
            "get_weather",
            json!({"city": "Rome"}),
        ),
    ];
    let c = calls.clone();
    let (app, mock) = responses_app(&["sk-1"], move |r| {
        let outputs = r.body["input"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["type"] == "function_call_output")
            .count();
        if outputs == 0 {
            let mut s = Script::tools(c.clone()).with_thinking("Two cities: two calls.", "sig");
            s.text = vec!["Checking both.".into()];
            script_reply(r, &s)
        } else {
            script_reply(r, &Script::text(&["Paris sunny, Rome rainy."]))
        }
    })
    .await;
    for stream in [false, true] {
        let turn1 = json!({"model": "claude-sonnet-4-5", "max_tokens": 2000, "stream": stream,
            "thinking": {"type": "enabled", "budget_tokens": 8000}, "tools": [weather_tool()],
            "messages": [{"role": "user", "content": "Weather in Paris and Rome?"}]});
        let first = message(app.messages(&turn1).await, stream).await;
        assert_eq!(first["stop_reason"], "tool_use", "{first}");
        let content = first["content"].as_array().unwrap().clone();
        let kinds: Vec<&str> = content
            .iter()
            .map(|b| b["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            ["thinking", "text", "tool_use", "tool_use"],
            "{first}"
        );
        assert_eq!(content[0]["thinking"], "Two cities: two calls.");
        let sent_reasoning = mock.requests()[0].body.clone();
        assert_eq!(
            sent_reasoning["reasoning"],
            json!({"effort": "medium", "summary": "auto"})
        );

        let turn2 = turn1.clone().with(
            "messages",
            json!([
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {"role": "assistant", "content": content},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_r", "content": "rain"},
                    {"type": "tool_result", "tool_use_id": "call_p", "content": "sun"}
                ]}
            ]),
        );
        let second = message(app.messages(&turn2).await, stream).await;
        assert_eq!(text_of(&second), "Paris sunny, Rome rainy.");
        let rec = mock.requests().pop().unwrap();
        let input = rec.body["input"].as_array().unwrap();
        let kinds: Vec<&str> = input.iter().map(|i| i["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "message",
                "reasoning",
                "message",
                "function_call",
                "function_call",
                "function_call_output",
                "function_call_output"
            ],
            "{}",
            rec.body
        );
        // The validator checked the item is the one it emitted, byte for byte.
        assert!(input[1]["encrypted_content"]
            .as_str()
            .unwrap()
            .starts_with("gAAAAB-mock-"));
        assert_eq!(input[2]["role"], "assistant");
        assert_eq!(input[3]["call_id"], "call_p");
    }
}

/// A model that refuses `temperature` gets the request again without it,
/// and later requests leave it out at once.
#[tokio::test]
async fn a_refused_parameter_is_dropped_and_remembered() {
    let (app, mock) = responses_app(&["sk-1"], |r| {
        if r.body.get("temperature").is_some() {
            Reply::error(
                400,
                &json!({"error": {"message": "Unsupported parameter: 'temperature' is not supported with this model.",
                                  "type": "invalid_request_error", "param": "temperature", "code": "unsupported_parameter"}}),
                None,
            )
        } else {
            script_reply(r, &Script::text(&["fine"]))
        }
    })
    .await;
    for _ in 0..2 {
        let v = message(app.messages(&hello().with("temperature", 0.3)).await, false).await;
        assert_eq!(text_of(&v), "fine");
    }
    assert_eq!(mock.count(), 3, "one refusal, then never again");
}

/// Encrypted reasoning from another organisation cannot be verified: the
/// request goes again without the reasoning items, for this request only.
#[tokio::test]
async fn reasoning_that_cannot_be_verified_is_left_out_of_that_request() {
    let (app, mock) = responses_app(&["sk-1"], |r| {
        let has_reasoning = r.body["input"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["type"] == "reasoning");
        if has_reasoning {
            Reply::error(
                400,
                &json!({"error": {"message": "The encrypted content for item rs_mock0042 could not be verified.",
                                  "type": "invalid_request_error", "param": null, "code": "invalid_encrypted_content"}}),
                None,
            )
        } else if r.body["input"].as_array().unwrap().len() == 1 {
            script_reply(r, &Script::text(&["4"]).with_thinking("2 + 2 = 4", "s"))
        } else {
            script_reply(r, &Script::text(&["6"]))
        }
    })
    .await;
    let turn1 =
        json!({"model": "m", "max_tokens": 500, "messages": [{"role": "user", "content": "2+2?"}]});
    let first = message(app.messages(&turn1).await, false).await;
    let turn2 = turn1.clone().with(
        "messages",
        json!([{"role": "user", "content": "2+2?"},
               {"role": "assistant", "content": first["content"]},
               {"role": "user", "content": "3+3?"}]),
    );
    for _ in 0..2 {
        let v = message(app.messages(&turn2).await, false).await;
        assert_eq!(text_of(&v), "6");
    }
    let reqs = mock.requests();
    let with_reasoning: Vec<bool> = reqs
        .iter()
        .map(|r| r.body.to_string().contains("\"type\":\"reasoning\""))
        .collect();
    assert_eq!(
        with_reasoning,
        [false, true, false, true, false],
        "each request tries its reasoning first: the refusal is not remembered"
    );
}

#[tokio::test]
async fn a_stream_request_answered_with_json_is_replayed_as_events() {
    let (app, _mock) = responses_app(&["sk-1"], |_| {
        Reply::ok(mock_responses::script_json(&Script::text(&["json anyway"])))
    })
    .await;
    let msg = accumulate(&read_sse(app.messages(&hello_stream()).await).await);
    assert_eq!(
        msg.content,
        vec![ResponseBlock::Text {
            text: "json anyway".into()
        }]
    );
}

fn rec(body: Value) -> Recorded {
    let mut headers = axum::http::HeaderMap::new();
    headers.insert("authorization", "Bearer k".parse().unwrap());
    Recorded {
        path: "/v1/responses".into(),
        query: None,
        headers,
        raw: Bytes::from(serde_json::to_vec(&body).unwrap()),
        body,
    }
}

/// The mock refuses what OpenAI refuses, so the tests above mean something.
#[test]
fn the_mock_refuses_what_openai_refuses() {
    let ok = json!({"model": "m", "store": false, "include": ["reasoning.encrypted_content"],
                    "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "q"}]}]});
    assert_eq!(mock_responses::validate(&rec(ok.clone())), Ok(()));
    let bad = |patch: &dyn Fn(&mut Value)| {
        let mut b = ok.clone();
        patch(&mut b);
        mock_responses::validate(&rec(b)).unwrap_err()
    };
    assert!(bad(&|b| b["top_k"] = json!(3)).contains("Unknown parameter: 'top_k'"));
    assert!(bad(&|b| b["store"] = json!(true)).contains("store"));
    assert!(bad(&|b| b["previous_response_id"] = json!("resp_1")).contains("stateless"));
    assert!(bad(&|b| b["max_output_tokens"] = json!(8)).contains(">= 16"));
    let stray = json!({"type": "function_call_output", "call_id": "call_x", "output": "o"});
    assert!(bad(&|b| b["input"].as_array_mut().unwrap().push(stray.clone())).contains("call_x"));
    let unanswered =
        json!({"type": "function_call", "call_id": "call_y", "name": "f", "arguments": "{}"});
    assert!(
        bad(&|b| b["input"].as_array_mut().unwrap().push(unanswered.clone()))
            .contains("No tool output found")
    );
    let forged =
        json!({"type": "reasoning", "id": "rs_forged", "summary": [], "encrypted_content": "x"});
    assert!(
        bad(&|b| b["input"].as_array_mut().unwrap().insert(0, forged.clone()))
            .contains("could not be verified")
    );
    let image = json!({"type": "input_image", "image_url": "data:image/png;base64,AA"});
    assert!(bad(&|b| b["input"][0]["content"]
        .as_array_mut()
        .unwrap()
        .push(image.clone()))
    .contains("detail"));
    let tool = json!({"type": "function", "name": "f", "parameters": {"type": "object"}});
    assert!(bad(&|b| b["tools"] = json!([tool.clone()])).contains("strict"));
}
