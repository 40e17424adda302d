use proptest::prelude::*;
use serde_json::{json, Value};

use super::GeminiStreamTranslator;
use crate::error::ErrorKind;
use crate::protocol::anthropic::{ResponseBlock, StopReason, StreamEvent, Usage};
use crate::protocol::gemini::GenerateContentResponse;
use crate::translate::gemini::{
    from_gemini_response, from_gemini_response_with_names, sanitize_tool_name, ToolNameMap,
};
use crate::translate::{accumulate, synthetic_signature, ResponseContext};

fn ctx() -> ResponseContext {
    ResponseContext {
        message_id: "msg_T".into(),
        model: "claude-x".into(),
        stop_sequences: vec![],
    }
}

fn sig(s: &str) -> String {
    synthetic_signature("gemini", s)
}

fn response(v: Value) -> GenerateContentResponse {
    serde_json::from_str(&v.to_string()).unwrap()
}

fn candidate(parts: Value, finish: Option<&str>) -> Value {
    let mut c = json!({"content": {"role": "model", "parts": parts}});
    if let Some(f) = finish {
        c["finishReason"] = json!(f);
    }
    json!({"candidates": [c]})
}

fn stream(chunks: &[Value]) -> Vec<StreamEvent> {
    let mut t = GeminiStreamTranslator::new(ctx());
    let mut out = Vec::new();
    t.start(&mut out);
    for c in chunks {
        t.push(&c.to_string(), &mut out);
    }
    t.finish(&mut out);
    assert!(t.is_done());
    out
}

fn text(t: &str) -> ResponseBlock {
    ResponseBlock::Text { text: t.into() }
}

#[test]
fn text_and_thinking() {
    let r = from_gemini_response(
        response(candidate(
            json!([{"text": "Let me ", "thought": true}, {"text": "think", "thought": true},
                   {"text": ""}, {"text": "It is "}, {"text": "18C."}]),
            Some("STOP"),
        )),
        &ctx(),
    )
    .unwrap();
    assert_eq!(
        r.content,
        vec![
            ResponseBlock::Thinking {
                thinking: "Let me think".into(),
                signature: sig("")
            },
            text("It is 18C.")
        ]
    );
    assert_eq!(r.stop_reason, Some(StopReason::EndTurn));
    assert_eq!(r.stop_sequence, None);
    assert_eq!((r.id.as_str(), r.model.as_str()), ("msg_T", "claude-x"));
    let v = serde_json::to_value(&r).unwrap();
    assert!(v.as_object().unwrap().contains_key("stop_sequence"));
}

#[test]
fn parallel_calls_get_generated_ids_and_tool_use_stop() {
    let r = from_gemini_response(
        response(candidate(
            json!([{"text": "Reading."},
                   {"functionCall": {"name": "Read", "args": {"file_path": "/a"}}, "thoughtSignature": "SIG"},
                   {"functionCall": {"name": "Read", "args": {"file_path": "/b"}}},
                   {"functionCall": {"name": "Glob", "id": "fc.1:x"}}]),
            Some("STOP"),
        )),
        &ctx(),
    )
    .unwrap();
    let ctx = ctx();
    assert_eq!(
        r.content,
        vec![
            text("Reading."),
            ResponseBlock::Thinking {
                thinking: String::new(),
                signature: sig("SIG")
            },
            ResponseBlock::ToolUse {
                id: ctx.tool_id(0),
                name: "Read".into(),
                input: json!({"file_path": "/a"})
            },
            ResponseBlock::ToolUse {
                id: ctx.tool_id(1),
                name: "Read".into(),
                input: json!({"file_path": "/b"})
            },
            ResponseBlock::ToolUse {
                id: "fc_1_x".into(),
                name: "Glob".into(),
                input: json!({})
            },
        ]
    );
    assert_ne!(ctx.tool_id(0), ctx.tool_id(1));
    assert_eq!(r.stop_reason, Some(StopReason::ToolUse));
}

#[test]
fn every_tool_use_gets_a_distinct_id() {
    // Same-name calls spread over chunks, an upstream id repeated, one that
    // only sanitizes to a repeat, and one that looks like a generated id.
    let chunks = [
        candidate(
            json!([{"functionCall": {"name": "Read", "id": "fc_1", "args": {"p": "a"}}}]),
            None,
        ),
        candidate(
            json!([{"functionCall": {"name": "Read", "id": "fc_1", "args": {"p": "b"}}}]),
            None,
        ),
        candidate(
            json!([{"functionCall": {"name": "Read", "id": "fc.1"}},
                   {"functionCall": {"name": "Read", "id": ctx().tool_id(0)}},
                   {"functionCall": {"name": "Read"}},
                   {"functionCall": {"name": "Read"}}]),
            Some("STOP"),
        ),
    ];
    let ids = |m: &crate::protocol::anthropic::MessagesResponse| -> Vec<String> {
        m.content
            .iter()
            .filter_map(|b| match b {
                ResponseBlock::ToolUse { id, .. } => Some(id.clone()),
                _ => None,
            })
            .collect()
    };
    let streamed = ids(&accumulate(&stream(&chunks)).unwrap());
    assert_eq!(streamed.len(), 6);
    let mut unique = streamed.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 6, "{streamed:?}");
    assert_eq!(&streamed[..2], ["fc_1".to_owned(), ctx().tool_id(1)]);
    // The same calls in one non-streamed answer.
    let parts: Vec<Value> = chunks
        .iter()
        .flat_map(|c| {
            c["candidates"][0]["content"]["parts"]
                .as_array()
                .unwrap()
                .clone()
        })
        .collect();
    let whole = from_gemini_response(
        response(candidate(Value::Array(parts), Some("STOP"))),
        &ctx(),
    )
    .unwrap();
    assert_eq!(ids(&whole), streamed);
}

#[test]
fn sanitized_names_are_mapped_back() {
    let req: crate::protocol::anthropic::MessagesRequest = serde_json::from_value(json!({
        "model": "c", "max_tokens": 1, "messages": [],
        "tools": [{"name": "my tool", "input_schema": {"type": "object"}}]
    }))
    .unwrap();
    let names = ToolNameMap::from_request(&req);
    let gemini_name = sanitize_tool_name("my tool").into_owned();
    let resp = response(candidate(
        json!([{"functionCall": {"name": gemini_name, "args": {}}}]),
        Some("STOP"),
    ));
    let r = from_gemini_response_with_names(resp, &ctx(), &names).unwrap();
    assert!(matches!(&r.content[0], ResponseBlock::ToolUse { name, .. } if name == "my tool"));
}

#[test]
fn finish_reasons_and_usage() {
    let with_usage = |finish: &str, parts: Value| {
        let mut v = candidate(parts, Some(finish));
        v["usageMetadata"] = json!({"promptTokenCount": 120, "cachedContentTokenCount": 20,
                                    "candidatesTokenCount": 30, "thoughtsTokenCount": 200,
                                    "totalTokenCount": 350});
        from_gemini_response(response(v), &ctx()).unwrap()
    };
    let r = with_usage("MAX_TOKENS", json!([{"text": "cut"}]));
    assert_eq!(r.stop_reason, Some(StopReason::MaxTokens));
    assert_eq!(
        r.usage,
        Usage {
            input_tokens: 100,
            output_tokens: 230,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 20
        }
    );
    assert_eq!(
        with_usage("SAFETY", json!([])).stop_reason,
        Some(StopReason::Refusal)
    );
    assert_eq!(
        with_usage("RECITATION", json!([{"text": "a"}])).stop_reason,
        Some(StopReason::Refusal)
    );
    assert_eq!(
        with_usage("OTHER", json!([{"text": "a"}])).stop_reason,
        Some(StopReason::EndTurn)
    );
    let r = with_usage("MALFORMED_FUNCTION_CALL", json!([]));
    assert_eq!(r.stop_reason, Some(StopReason::EndTurn));
    assert!(matches!(&r.content[..], [ResponseBlock::Text { text }] if text.contains("malformed")));
    // A candidate without content (MAX_TOKENS while thinking) is an empty reply.
    let r = from_gemini_response(
        response(json!({"candidates": [{"finishReason": "MAX_TOKENS"}]})),
        &ctx(),
    )
    .unwrap();
    assert!(r.content.is_empty());
    assert_eq!(
        r.usage,
        Usage::default(),
        "no usageMetadata: nothing to report"
    );
}

#[test]
fn blocked_prompt() {
    let blocked = json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {"promptTokenCount": 5}});
    let err = from_gemini_response(response(blocked.clone()), &ctx()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidRequest);
    assert!(err.message.contains("PROHIBITED_CONTENT"));
    let msg = accumulate(&stream(&[blocked])).unwrap();
    assert_eq!(msg.stop_reason, Some(StopReason::Refusal));
    assert!(
        matches!(&msg.content[..], [ResponseBlock::Text { text }] if text.contains("PROHIBITED_CONTENT"))
    );
    assert_eq!(msg.usage.input_tokens, 5);
}

#[test]
fn stream_emits_deltas_and_whole_tool_calls() {
    let events = stream(&[
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "hm", "thought": true}]}}],
               "usageMetadata": {"promptTokenCount": 50}}),
        json!("not json"),
        candidate(json!([{"text": "Hel"}]), None),
        candidate(json!([{"text": "lo"}]), None),
        candidate(
            json!([{"functionCall": {"name": "Bash", "args": {"command": "ls"}}, "thoughtSignature": "S"}]),
            None,
        ),
        {
            let mut c = candidate(json!([]), Some("STOP"));
            c["usageMetadata"] = json!({"promptTokenCount": 50, "candidatesTokenCount": 9});
            c
        },
    ]);
    let StreamEvent::MessageStart { message } = &events[0] else {
        panic!()
    };
    // Started before the first chunk arrived: no prompt size yet.
    assert_eq!(message.usage.input_tokens, 0);
    let deltas = events
        .iter()
        .filter(|e| matches!(e, StreamEvent::ContentBlockDelta { .. }))
        .count();
    // thinking_delta + signature, 2 text deltas, thinking signature, one input_json.
    assert_eq!(deltas, 6);
    let msg = accumulate(&events).unwrap();
    assert_eq!(msg.stop_reason, Some(StopReason::ToolUse));
    assert_eq!(msg.usage.input_tokens, 50);
    assert_eq!(msg.usage.output_tokens, 9);
    assert_eq!(msg.content.len(), 4);
    assert_eq!(msg.content[1], text("Hello"));
    assert!(
        matches!(&msg.content[2], ResponseBlock::Thinking { signature, .. } if *signature == sig("S"))
    );
}

#[test]
fn message_start_waits_for_the_first_chunks_prompt_size() {
    let mut t = GeminiStreamTranslator::new(ctx());
    let mut out = Vec::new();
    let mut c = candidate(json!([{"text": "a"}]), None);
    c["usageMetadata"] = json!({"promptTokenCount": 120, "cachedContentTokenCount": 20});
    t.push(&c.to_string(), &mut out);
    let StreamEvent::MessageStart { message } = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(message.usage.input_tokens, 100);
    t.finish(&mut out);
    assert!(matches!(out.last(), Some(StreamEvent::Error { .. })));
}

#[test]
fn stream_without_finish_reason_ends_in_an_error_event() {
    let events = stream(&[candidate(json!([{"text": "partial"}]), None)]);
    let Some(StreamEvent::Error { error }) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!(error.kind, "api_error");
    assert!(accumulate(&events).is_err());
    // Nothing at all still starts the message first.
    let mut t = GeminiStreamTranslator::new(ctx());
    let mut out = Vec::new();
    t.finish(&mut out);
    assert!(matches!(
        out[..],
        [StreamEvent::MessageStart { .. }, StreamEvent::Error { .. }]
    ));
}

#[test]
fn stream_error_payloads_map_their_status() {
    for (status, kind) in [
        ("RESOURCE_EXHAUSTED", "rate_limit_error"),
        ("UNAVAILABLE", "overloaded_error"),
        ("INTERNAL", "api_error"),
    ] {
        let events = stream(&[
            candidate(json!([{"text": "a"}]), None),
            json!({"error": {"code": 429, "message": "slow down", "status": status}}),
            candidate(json!([{"text": "ignored"}]), Some("STOP")),
        ]);
        let errors: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Error { error } => Some(error),
                _ => None,
            })
            .collect();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].kind, kind);
        assert!(errors[0].message.contains("slow down"));
        assert!(matches!(events.last(), Some(StreamEvent::Error { .. })));
    }
    let mut t = GeminiStreamTranslator::new(ctx());
    let mut out = Vec::new();
    t.fail(ErrorKind::Timeout, "upstream timed out", &mut out);
    t.finish(&mut out);
    assert_eq!(out.len(), 2);
}

// ---------------------------------------------------------------------------
// Property: any chunking of a response streams to the same message that the
// non-streaming translation of the merged response gives, and the stream
// always obeys the Anthropic grammar.

#[derive(Debug, Clone)]
enum PartSpec {
    Thought(String, Option<String>),
    Text(String, Option<String>),
    Call(String, Option<String>),
}

fn part_json(p: &PartSpec) -> Value {
    let (mut v, s) = match p {
        PartSpec::Thought(t, s) => (json!({"text": t, "thought": true}), s),
        PartSpec::Text(t, s) => (json!({"text": t}), s),
        PartSpec::Call(n, s) => (json!({"functionCall": {"name": n, "args": {"k": n}}}), s),
    };
    if let Some(s) = s {
        v["thoughtSignature"] = json!(s);
    }
    v
}

fn part_strategy() -> impl Strategy<Value = PartSpec> {
    let text = "[a-c ]{0,4}";
    let signature = proptest::option::weighted(0.3, "[A-Za-z0-9+/]{1,6}=?");
    prop_oneof![
        (text, signature.clone()).prop_map(|(t, s)| PartSpec::Thought(t, s)),
        (text, signature.clone()).prop_map(|(t, s)| PartSpec::Text(t, s)),
        ("[A-Z][a-z]{0,3}", signature).prop_map(|(n, s)| PartSpec::Call(n, s)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn chunked_stream_equals_whole_response(
        parts in proptest::collection::vec(part_strategy(), 0..10),
        cuts in proptest::collection::vec(any::<bool>(), 10),
        finish in prop_oneof![Just("STOP"), Just("MAX_TOKENS"), Just("SAFETY"), Just("MALFORMED_FUNCTION_CALL")],
        prompt in 0u64..1000,
    ) {
        let usage = json!({"promptTokenCount": prompt, "candidatesTokenCount": 3, "thoughtsTokenCount": 2});
        // Chunks: split the part list where `cuts` says; the finish reason
        // and usage ride on the last chunk.
        let mut chunks: Vec<Vec<Value>> = vec![Vec::new()];
        for (i, p) in parts.iter().enumerate() {
            chunks.last_mut().unwrap().push(part_json(p));
            if cuts[i] {
                chunks.push(Vec::new());
            }
        }
        let n = chunks.len();
        let payloads: Vec<Value> = chunks
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let mut v = candidate(Value::Array(c), (i + 1 == n).then_some(finish));
                if i + 1 == n {
                    v["usageMetadata"] = usage.clone();
                }
                v
            })
            .collect();
        let events = stream(&payloads);
        let streamed = accumulate(&events).map_err(|e| TestCaseError::fail(format!("{e}: {events:?}")))?;

        let mut whole = candidate(Value::Array(parts.iter().map(part_json).collect()), Some(finish));
        whole["usageMetadata"] = usage;
        let direct = from_gemini_response(response(whole), &ctx()).unwrap();
        prop_assert_eq!(streamed, direct);
    }
}
