//! Chat Completions in and out: request examples, and property tests —
//! any valid-shaped request translates without panicking into a request
//! the Messages parser accepts and whose turns keep Anthropic's rules; any
//! Anthropic event sequence streams into chunks that accumulate to the
//! non-stream translation of the same message.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::chat::to_anthropic;
use super::chat_out::{completion, ChatSse, ChatStream};
use super::OutContext;
use crate::protocol::anthropic::{
    BlockStart, Delta, MessageDeltaBody, MessagesRequest, MessagesResponse, StopReason,
    StreamEvent, Usage,
};
use crate::protocol::chat_in::ChatCompletionRequest;
use crate::translate::accumulate;

fn translate(v: Value) -> Result<Value, crate::error::ApiError> {
    let req: ChatCompletionRequest = serde_json::from_value(v).unwrap();
    to_anthropic(&req)
}

#[test]
fn messages_tools_and_settings_map_to_anthropic() {
    let out = translate(json!({
        "model": "gpt-x",
        "messages": [
            {"role": "developer", "content": "rules"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": "calling", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
                {"id": "c2", "type": "function", "function": {"name": "f", "arguments": "{\"a\":"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "r1"},
            {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "r2"}]},
            {"role": "user", "content": "thanks"},
            {"role": "system", "content": "more rules"}
        ],
        "tools": [{"type": "function", "function": {"name": "f", "description": "d"}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "parallel_tool_calls": false,
        "stop": "END",
        "max_tokens": 100,
        "user": "u1",
        "temperature": 0.5
    }))
    .unwrap();
    assert_eq!(
        out["system"],
        json!([{"type": "text", "text": "rules"}, {"type": "text", "text": "more rules"}])
    );
    let m = out["messages"].as_array().unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(m[1]["content"][1]["input"], json!({"a": 1}));
    assert!(
        m[1]["content"][2]["input"].is_object(),
        "repaired into an object"
    );
    let user = &m[2]["content"];
    assert_eq!(user[0]["tool_use_id"], "c1");
    assert_eq!(user[1]["content"], "r2");
    assert_eq!(user[2], json!({"type": "text", "text": "thanks"}));
    assert_eq!(
        out["tool_choice"],
        json!({"type": "tool", "name": "f", "disable_parallel_tool_use": true})
    );
    assert_eq!(
        out["tools"][0]["input_schema"],
        json!({"type": "object", "properties": {}})
    );
    assert_eq!(out["stop_sequences"], json!(["END"]));
    assert_eq!(out["metadata"]["user_id"], "u1");
    assert_eq!(
        (out["max_tokens"].as_u64(), out["temperature"].as_f64()),
        (Some(100), Some(0.5))
    );
}

#[test]
fn what_cannot_be_served_is_a_400() {
    let base = |extra: Value| {
        let mut v = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        translate(v)
    };
    assert!(base(json!({"n": 2})).unwrap_err().message.contains("n=1"));
    assert!(base(json!({"n": 1})).is_ok());
    assert!(base(json!({"tools": [{"type": "custom", "custom": {"name": "x"}}]})).is_err());
    assert!(
        base(json!({"messages": [{"role": "function", "content": "x", "name": "f"}]})).is_err()
    );
}

// ---------------------------------------------------------------------------
// Property: request translation

fn text() -> impl Strategy<Value = String> {
    "[a-z ]{0,8}"
}

fn message() -> impl Strategy<Value = Value> {
    let id = prop::sample::select(vec!["c1", "c2", "c3"]);
    prop_oneof![
        (prop::sample::select(vec!["system", "developer"]), text())
            .prop_map(|(r, t)| json!({"role": r, "content": t})),
        text().prop_map(|t| json!({"role": "user", "content": t})),
        prop::collection::vec(
            prop_oneof![
                text().prop_map(|t| json!({"type": "text", "text": t})),
                Just(json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}})),
                Just(json!({"type": "image_url", "image_url": {"url": "https://e.x/i.png", "detail": "low"}})),
            ],
            0..3
        )
        .prop_map(|parts| json!({"role": "user", "content": parts})),
        (prop::option::of(text()), prop::collection::vec((id.clone(), "[a-z{}\":0-9]{0,10}"), 0..3))
            .prop_map(|(t, calls)| {
                let calls: Vec<Value> = calls
                    .into_iter()
                    .map(|(id, args)| json!({"id": id, "type": "function", "function": {"name": "f", "arguments": args}}))
                    .collect();
                json!({"role": "assistant", "content": t, "tool_calls": calls})
            }),
        (id, text()).prop_map(|(id, t)| json!({"role": "tool", "tool_call_id": id, "content": t})),
    ]
}

fn chat_request() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(message(), 1..8),
        prop::collection::vec("[a-z]{1,4}", 0..3),
        prop::option::of(prop_oneof![
            Just(json!("auto")),
            Just(json!("none")),
            Just(json!("required")),
            Just(json!({"type": "function", "function": {"name": "f"}})),
        ]),
        prop::option::of(any::<bool>()),
        prop::option::of(prop::sample::select(vec![
            "none", "minimal", "low", "medium", "high", "xhigh", "odd",
        ])),
        prop::option::of(0u64..40_000),
        any::<bool>(),
    )
        .prop_map(|(messages, tools, choice, parallel, effort, max, stream)| {
            let tools: Vec<Value> = tools
                .into_iter()
                .map(|n| json!({"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}))
                .collect();
            let mut v = json!({"model": "m", "messages": messages, "stream": stream});
            if !tools.is_empty() {
                v["tools"] = json!(tools);
            }
            if let Some(c) = choice {
                v["tool_choice"] = c;
            }
            if let Some(p) = parallel {
                v["parallel_tool_calls"] = json!(p);
            }
            if let Some(e) = effort {
                v["reasoning_effort"] = json!(e);
            }
            if let Some(m) = max {
                v["max_completion_tokens"] = json!(m);
            }
            v
        })
}

/// Checks the rules every translated request keeps.
pub(super) fn check_anthropic(out: &Value) {
    let text = out.to_string();
    let parsed: MessagesRequest = serde_json::from_str(&text).unwrap();
    assert!(!parsed.messages.is_empty());
    let turns = out["messages"].as_array().unwrap();
    for pair in turns.windows(2) {
        assert_ne!(pair[0]["role"], pair[1]["role"], "roles alternate");
    }
    for t in turns {
        let blocks = t["content"].as_array().unwrap();
        assert!(!blocks.is_empty());
        let first_other = blocks.iter().position(|b| b["type"] != "tool_result");
        if let Some(i) = first_other {
            assert!(
                blocks[i..].iter().all(|b| b["type"] != "tool_result"),
                "results first"
            );
        }
        for b in blocks {
            if b["type"] == "text" {
                assert_ne!(b["text"], "", "no empty text");
            }
            if b["type"] == "tool_use" {
                assert!(b["input"].is_object());
            }
        }
    }
    if let Some(budget) = out["thinking"]["budget_tokens"].as_u64() {
        assert!(budget >= 1024 && budget < out["max_tokens"].as_u64().unwrap());
    }
    assert!(out["max_tokens"].as_u64().unwrap() >= 1);
}

proptest! {
    #[test]
    fn any_valid_shaped_request_translates_into_a_valid_anthropic_request(v in chat_request()) {
        if let Ok(out) = translate(v) {
            check_anthropic(&out);
        }
    }
}

// ---------------------------------------------------------------------------
// Property: streamed equals non-streamed

#[derive(Debug, Clone)]
pub(super) enum Block {
    Text(Vec<String>),
    Thinking(Vec<String>, String),
    Tool(String, String, Value, usize),
}

pub(super) fn block() -> impl Strategy<Value = Block> {
    let piece = "[a-zA-Z .é]{1,6}";
    prop_oneof![
        prop::collection::vec(piece, 1..5).prop_map(Block::Text),
        (prop::collection::vec(piece, 0..4), "[A-Za-z0-9+/=]{0,12}")
            .prop_map(|(t, s)| Block::Thinking(t, s)),
        (
            "toolu_[a-z0-9]{1,6}",
            "[a-z_]{1,8}",
            prop::collection::btree_map(
                "[a-z]{1,3}",
                prop_oneof![
                    any::<i32>().prop_map(|n| json!(n)),
                    "[a-z \"]{0,5}".prop_map(|s| json!(s)),
                ],
                0..4
            ),
            1usize..4,
        )
            .prop_map(|(id, name, input, parts)| { Block::Tool(id, name, json!(input), parts) }),
    ]
}

pub(super) fn stop() -> impl Strategy<Value = StopReason> {
    prop::sample::select(vec![
        StopReason::EndTurn,
        StopReason::MaxTokens,
        StopReason::ToolUse,
        StopReason::StopSequence,
        StopReason::Refusal,
    ])
}

/// The Anthropic events of a message made of `blocks`, with tool input
/// split into `parts` JSON fragments as Anthropic streams it.
pub(super) fn events_of(blocks: &[Block], stop: StopReason, usage: &Usage) -> Vec<StreamEvent> {
    let mut start = MessagesResponse::new("msg_01abc".into(), "m".into());
    start.usage.input_tokens = usage.input_tokens;
    let mut out = vec![StreamEvent::MessageStart { message: start }];
    for (i, b) in blocks.iter().enumerate() {
        let index = i as u32;
        let (shell, deltas) = match b {
            Block::Text(pieces) => (
                BlockStart::Text {
                    text: String::new(),
                },
                pieces
                    .iter()
                    .map(|p| Delta::TextDelta { text: p.clone() })
                    .collect::<Vec<_>>(),
            ),
            Block::Thinking(pieces, sig) => {
                let mut d: Vec<Delta> = pieces
                    .iter()
                    .map(|p| Delta::ThinkingDelta {
                        thinking: p.clone(),
                    })
                    .collect();
                d.push(Delta::SignatureDelta {
                    signature: sig.clone(),
                });
                (
                    BlockStart::Thinking {
                        thinking: String::new(),
                        signature: String::new(),
                    },
                    d,
                )
            }
            Block::Tool(id, name, input, parts) => {
                let json = input.to_string();
                let step = json.len().div_ceil(*parts).max(1);
                let bytes: Vec<char> = json.chars().collect();
                let d = bytes
                    .chunks(step)
                    .map(|c| Delta::InputJsonDelta {
                        partial_json: c.iter().collect(),
                    })
                    .collect();
                (
                    BlockStart::ToolUse {
                        id: id.clone(),
                        name: name.clone(),
                        input: Default::default(),
                    },
                    d,
                )
            }
        };
        out.push(StreamEvent::ContentBlockStart {
            index,
            content_block: shell,
        });
        for delta in deltas {
            out.push(StreamEvent::ContentBlockDelta { index, delta });
        }
        out.push(StreamEvent::ContentBlockStop { index });
    }
    out.push(StreamEvent::MessageDelta {
        delta: MessageDeltaBody {
            stop_reason: Some(stop),
            stop_sequence: None,
        },
        usage: usage.clone(),
    });
    out.push(StreamEvent::MessageStop);
    out
}

pub(super) fn usage() -> impl Strategy<Value = Usage> {
    (0u64..1000, 0u64..1000, 0u64..100, 0u64..100).prop_map(|(i, o, w, r)| Usage {
        input_tokens: i,
        output_tokens: o,
        cache_creation_input_tokens: w,
        cache_read_input_tokens: r,
    })
}

/// Folds chunks the way OpenAI's SDKs accumulate a stream.
fn fold(items: &[ChatSse]) -> Value {
    let mut content = String::new();
    let mut reasoning = String::new();
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let mut finish = None;
    let mut usage = None;
    let mut done = 0;
    for item in items {
        let ChatSse::Chunk(c) = item else {
            if matches!(item, ChatSse::Done) {
                done += 1;
            }
            continue;
        };
        assert_eq!(done, 0, "nothing after [DONE]");
        if let Some(Some(u)) = &c.usage {
            usage = Some(json!(u));
        }
        for ch in &c.choices {
            assert!(finish.is_none(), "nothing after the finish chunk but usage");
            content += ch.delta.content.as_deref().unwrap_or("");
            reasoning += ch.delta.reasoning_content.as_deref().unwrap_or("");
            for tc in ch.delta.tool_calls.iter().flatten() {
                let i = tc.index as usize;
                if let Some(id) = &tc.id {
                    assert_eq!(i, calls.len(), "dense tool indices");
                    calls.push((id.clone(), String::new(), String::new()));
                }
                let call = &mut calls[i];
                call.1 += tc.function.name.as_deref().unwrap_or("");
                call.2 += &tc.function.arguments;
            }
            finish = finish.or(ch.finish_reason);
        }
    }
    assert_eq!(done, 1, "one [DONE]");
    let calls: Vec<Value> = calls
        .into_iter()
        .map(|(id, name, args)| {
            json!({"id": id, "name": name, "arguments": serde_json::from_str::<Value>(&args).unwrap()})
        })
        .collect();
    json!({"content": content, "reasoning": reasoning, "calls": calls, "finish": finish, "usage": usage})
}

proptest! {
    #[test]
    fn streamed_chunks_accumulate_to_the_whole_completion(
        blocks in prop::collection::vec(block(), 0..5),
        stop in stop(),
        usage in usage(),
    ) {
        let events = events_of(&blocks, stop, &usage);
        let msg = accumulate(&events).unwrap();
        let ctx = OutContext::new(&msg.id, 1_700_000_000, "gpt-x");
        let whole = completion(&msg, &ctx);
        let mut t = ChatStream::new(ctx, true);
        let mut items = Vec::new();
        for e in &events {
            t.push(e, &mut items);
        }
        prop_assert!(t.is_done());
        let folded = fold(&items);
        let m = &whole.choices[0].message;
        prop_assert_eq!(folded["content"].as_str(), Some(m.content.as_deref().unwrap_or("")));
        prop_assert_eq!(folded["reasoning"].as_str(), Some(m.reasoning_content.as_deref().unwrap_or("")));
        let calls: Vec<Value> = m.tool_calls.iter().flatten().map(|c| json!({
            "id": c.id, "name": c.function.name,
            "arguments": serde_json::from_str::<Value>(&c.function.arguments).unwrap()
        })).collect();
        prop_assert_eq!(&folded["calls"], &json!(calls));
        prop_assert_eq!(folded["finish"].as_str(), Some(whole.choices[0].finish_reason));
        prop_assert_eq!(&folded["usage"], &json!(whole.usage));
    }
}

#[test]
fn an_error_event_ends_the_stream_without_done() {
    let mut t = ChatStream::new(OutContext::new("msg_1", 1, "m"), false);
    let mut out = Vec::new();
    t.push(
        &StreamEvent::Error {
            error: crate::protocol::anthropic::ErrorBody {
                kind: "overloaded_error".into(),
                message: "busy".into(),
            },
        },
        &mut out,
    );
    t.push(&StreamEvent::MessageStop, &mut out);
    let ChatSse::Error(e) = out.last().unwrap() else {
        panic!("{out:?}")
    };
    assert_eq!(e["error"]["type"], "server_error");
    assert!(!out.contains(&ChatSse::Done));
}
