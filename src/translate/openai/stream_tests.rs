//! Scenario tests of the stream translator: each one feeds recorded-style
//! chunk payloads and checks the Anthropic events (grammar via `accumulate`).

use serde_json::{json, Value};

use super::*;
use crate::protocol::anthropic::{
    BlockStart, Delta, MessagesResponse, ResponseBlock, StopReason, StreamEvent, Usage,
};
use crate::translate::{accumulate, ResponseContext};

fn ctx(stops: &[&str]) -> ResponseContext {
    ResponseContext {
        message_id: "msg_S".into(),
        model: "claude-x".into(),
        stop_sequences: stops.iter().map(|s| s.to_string()).collect(),
    }
}

fn chunk(delta: Value) -> String {
    json!({"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":delta,"finish_reason":null}]}).to_string()
}

fn finish(reason: &str) -> String {
    json!({"choices":[{"index":0,"delta":{},"finish_reason":reason}]}).to_string()
}

fn tool(index: Value, id: Option<&str>, name: Option<&str>, args: &str) -> String {
    let mut call = json!({"function":{"arguments":args}});
    if !index.is_null() {
        call["index"] = index;
    }
    if let Some(id) = id {
        call["id"] = json!(id);
        call["type"] = json!("function");
    }
    if let Some(name) = name {
        call["function"]["name"] = json!(name);
    }
    chunk(json!({"tool_calls":[call]}))
}

/// Runs a whole stream: start, every payload, then end of body.
fn run(stops: &[&str], payloads: &[String]) -> (Vec<StreamEvent>, OpenAiStreamTranslator) {
    let mut t = OpenAiStreamTranslator::new(ctx(stops));
    let mut out = Vec::new();
    t.start(&mut out);
    for p in payloads {
        t.push(p, &mut out);
    }
    t.finish(&mut out);
    (out, t)
}

fn message(stops: &[&str], payloads: &[String]) -> MessagesResponse {
    let (events, t) = run(stops, payloads);
    assert!(t.is_done());
    accumulate(&events).unwrap_or_else(|e| panic!("{e}: {events:#?}"))
}

fn tool_uses(m: &MessagesResponse) -> Vec<(String, String, Value)> {
    m.content
        .iter()
        .filter_map(|b| match b {
            ResponseBlock::ToolUse { id, name, input } => {
                Some((id.clone(), name.clone(), input.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn message_start_is_sent_once() {
    let mut t = OpenAiStreamTranslator::new(ctx(&[]));
    let mut out = Vec::new();
    t.start(&mut out);
    t.start(&mut out);
    assert_eq!(out.len(), 1);
    let StreamEvent::MessageStart { message } = &out[0] else {
        panic!()
    };
    assert_eq!(message.usage, Usage::default());
    assert_eq!(message.id, "msg_S");
    assert_eq!(message.model, "claude-x");
}

#[test]
fn text_streams_immediately_and_empty_content_is_ignored() {
    let mut t = OpenAiStreamTranslator::new(ctx(&[]));
    let mut out = Vec::new();
    t.start(&mut out);
    t.push(&chunk(json!({"role":"assistant","content":""})), &mut out);
    assert_eq!(out.len(), 1, "no block for empty content");
    t.push(&chunk(json!({"content":"Hel"})), &mut out);
    assert!(matches!(
        out.last(),
        Some(StreamEvent::ContentBlockDelta { index: 0, delta: Delta::TextDelta { text } }) if text == "Hel"
    ));
    t.push(&chunk(json!({"content":"lo"})), &mut out);
    t.push(&finish("stop"), &mut out);
    t.push(
        &json!({"choices":[],"usage":{"prompt_tokens":20,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":8}}}).to_string(),
        &mut out,
    );
    assert!(!t.is_done(), "waits for [DONE]: usage may still come");
    t.push("[DONE]", &mut out);
    assert!(t.is_done());
    let m = accumulate(&out).unwrap();
    assert_eq!(
        m.content,
        vec![ResponseBlock::Text {
            text: "Hello".into()
        }]
    );
    assert_eq!(m.stop_reason, Some(StopReason::EndTurn));
    assert_eq!(m.stop_sequence, None);
    assert_eq!(
        (
            m.usage.input_tokens,
            m.usage.output_tokens,
            m.usage.cache_read_input_tokens
        ),
        (12, 5, 8)
    );
    let n = out.len();
    t.push(&chunk(json!({"content":"late"})), &mut out);
    t.finish(&mut out);
    t.fail(ErrorKind::Api, "x", &mut out);
    assert_eq!(out.len(), n, "nothing after done");
}

#[test]
fn reasoning_then_text_closes_thinking_with_signature() {
    let m = message(
        &[],
        &[
            chunk(json!({"reasoning_content":"Let me "})),
            chunk(json!({"reasoning":"think"})),
            chunk(json!({"reasoning_content":"think","reasoning":"dup"})),
            chunk(json!({"content":"Answer"})),
            finish("stop"),
            "[DONE]".into(),
        ],
    );
    assert_eq!(
        m.content,
        vec![
            ResponseBlock::Thinking {
                thinking: "Let me thinkthink".into(),
                signature: crate::translate::synthetic_signature("openai", ""),
            },
            ResponseBlock::Text {
                text: "Answer".into()
            },
        ]
    );
}

#[test]
fn interleaved_parallel_tool_calls() {
    let m = message(
        &[],
        &[
            chunk(json!({"content":"Let me check."})),
            tool(json!(0), Some("call_A"), Some("get_weather"), ""),
            tool(json!(0), None, None, "{\"city\":"),
            tool(json!(1), Some("call_B"), Some("get_time"), "{}"),
            tool(json!(0), None, None, "\"Paris\"}"),
            finish("tool_calls"),
            json!({"choices":[],"usage":{"prompt_tokens":120,"completion_tokens":30}}).to_string(),
            "[DONE]".into(),
        ],
    );
    assert_eq!(
        m.content[0],
        ResponseBlock::Text {
            text: "Let me check.".into()
        }
    );
    assert_eq!(
        tool_uses(&m),
        vec![
            (
                "call_A".into(),
                "get_weather".into(),
                json!({"city":"Paris"})
            ),
            ("call_B".into(), "get_time".into(), json!({})),
        ]
    );
    assert_eq!(m.stop_reason, Some(StopReason::ToolUse));
    assert_eq!((m.usage.input_tokens, m.usage.output_tokens), (120, 30));
}

#[test]
fn text_block_closes_when_first_tool_fragment_arrives() {
    let mut t = OpenAiStreamTranslator::new(ctx(&[]));
    let mut out = Vec::new();
    t.start(&mut out);
    t.push(&chunk(json!({"content":"Hi"})), &mut out);
    t.push(&tool(json!(0), Some("c1"), Some("f"), "{"), &mut out);
    assert!(matches!(
        out.last(),
        Some(StreamEvent::ContentBlockStop { index: 0 })
    ));
}

#[test]
fn ollama_reuses_index_zero_with_new_ids() {
    let m = message(
        &[],
        &[
            tool(json!(0), Some("call_1"), Some("Read"), "{\"p\":\"a\"}"),
            tool(json!(0), Some("call_2"), Some("Read"), "{\"p\":\"b\"}"),
            finish("stop"),
        ],
    );
    assert_eq!(
        tool_uses(&m),
        vec![
            ("call_1".into(), "Read".into(), json!({"p":"a"})),
            ("call_2".into(), "Read".into(), json!({"p":"b"})),
        ]
    );
    assert_eq!(
        m.stop_reason,
        Some(StopReason::ToolUse),
        "stop with tool calls → tool_use"
    );
}

#[test]
fn fresh_id_on_continuation_fragment_is_not_a_new_call() {
    let m = message(
        &[],
        &[
            tool(json!(0), Some("a1"), Some("f"), "{\"x\":"),
            tool(json!(0), Some("a2"), None, "1}"),
            finish("tool_calls"),
        ],
    );
    assert_eq!(
        tool_uses(&m),
        vec![("a1".into(), "f".into(), json!({"x":1}))]
    );
}

#[test]
fn fragments_without_index_are_keyed_by_id_then_arrival() {
    let m = message(
        &[],
        &[
            tool(Value::Null, Some("x"), Some("f"), "{\"a\":"),
            tool(Value::Null, Some("y"), Some("g"), "{\"b\":"),
            // Neither index nor id: continues the call last touched.
            tool(Value::Null, None, None, "2}"),
            tool(Value::Null, Some("x"), None, "1}"),
            finish("tool_calls"),
        ],
    );
    assert_eq!(
        tool_uses(&m),
        vec![
            ("x".into(), "f".into(), json!({"a":1})),
            ("y".into(), "g".into(), json!({"b":2})),
        ]
    );
}

#[test]
fn whole_call_in_one_fragment_object_arguments_and_odd_ids() {
    let m = message(
        &[],
        &[
            json!({"choices":[{"index":0,"delta":{"tool_calls":[
                {"index":0,"id":"functions.Read:0","type":"function","function":{"name":"Read","arguments":{"file":"/x"}}},
                {"index":1,"type":"function","function":{"name":"Ls","arguments":"\"{\\\"d\\\":1}\""}}
            ]},"finish_reason":"tool_calls"}]})
            .to_string(),
        ],
    );
    assert_eq!(
        tool_uses(&m),
        vec![
            (
                "functions_Read_0".into(),
                "Read".into(),
                json!({"file":"/x"})
            ),
            ("toolu_S01".into(), "Ls".into(), json!({"d":1})),
        ]
    );
}

#[test]
fn truncated_tool_call_on_length_is_still_valid_json() {
    let (events, _) = run(
        &[],
        &[
            tool(json!(0), Some("c"), Some("Write"), "{\"content\":\"hel"),
            finish("length"),
        ],
    );
    let m = accumulate(&events).unwrap();
    assert_eq!(tool_uses(&m)[0].2, json!({"content":"hel"}));
    assert_eq!(m.stop_reason, Some(StopReason::MaxTokens));
}

#[test]
fn usage_packed_into_the_finish_chunk_and_missing_done() {
    let m = message(
        &[],
        &[
            chunk(json!({"content":"x"})),
            json!({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],
                   "usage":{"prompt_tokens":7,"completion_tokens":2}})
            .to_string(),
        ],
    );
    assert_eq!((m.usage.input_tokens, m.usage.output_tokens), (7, 2));
}

#[test]
fn no_usage_at_all_reports_zero() {
    let m = message(
        &[],
        &[
            chunk(json!({"content":"x"})),
            finish("stop"),
            "[DONE]".into(),
        ],
    );
    assert_eq!(m.usage, Usage::default());
}

#[test]
fn done_without_finish_reason_completes_normally() {
    let m = message(&[], &[chunk(json!({"content":"x"})), "[DONE]".into()]);
    assert_eq!(m.stop_reason, Some(StopReason::EndTurn));
}

#[test]
fn cut_stream_ends_with_an_api_error() {
    let (events, t) = run(&[], &[chunk(json!({"content":"par"}))]);
    assert!(t.is_done());
    let Some(StreamEvent::Error { error }) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!(error.kind, "api_error");
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(
                e,
                StreamEvent::MessageStop | StreamEvent::MessageDelta { .. }
            ))
            .count(),
        0
    );
}

#[test]
fn error_chunk_mid_stream() {
    let mut t = OpenAiStreamTranslator::new(ctx(&[]));
    let mut out = Vec::new();
    t.start(&mut out);
    t.push(&chunk(json!({"content":"x"})), &mut out);
    t.push(
        r#"{"error":{"message":"Rate limit reached","type":"rate_limit_exceeded","code":"rate_limit_exceeded"}}"#,
        &mut out,
    );
    assert!(t.is_done());
    let Some(StreamEvent::Error { error }) = out.last() else {
        panic!()
    };
    assert_eq!(error.kind, "rate_limit_error");
    assert!(error.message.contains("Rate limit reached"));
    let n = out.len();
    t.push("[DONE]", &mut out);
    t.finish(&mut out);
    assert_eq!(out.len(), n);
}

#[test]
fn transport_failure_is_one_error_event() {
    let mut t = OpenAiStreamTranslator::new(ctx(&[]));
    let mut out = Vec::new();
    t.start(&mut out);
    t.fail(ErrorKind::Timeout, "upstream timed out", &mut out);
    t.fail(ErrorKind::Api, "again", &mut out);
    t.finish(&mut out);
    assert_eq!(out.len(), 2);
    assert!(matches!(&out[1], StreamEvent::Error { error } if error.kind == "timeout_error"));
}

#[test]
fn malformed_chunks_and_null_choices_are_skipped() {
    let m = message(
        &[],
        &[
            "{not json".into(),
            "".into(),
            json!({"choices":null,"usage":null}).to_string(),
            chunk(json!({"content":"ok"})),
            finish("stop"),
        ],
    );
    assert_eq!(m.content, vec![ResponseBlock::Text { text: "ok".into() }]);
}

#[test]
fn refusal_delta_is_text_with_refusal_stop() {
    let m = message(&[], &[chunk(json!({"refusal":"No."})), finish("stop")]);
    assert_eq!(m.content, vec![ResponseBlock::Text { text: "No.".into() }]);
    assert_eq!(m.stop_reason, Some(StopReason::Refusal));
}

#[test]
fn stop_sequence_split_across_chunks_ends_the_stream() {
    let mut t = OpenAiStreamTranslator::new(ctx(&["END"]));
    let mut out = Vec::new();
    t.start(&mut out);
    t.push(&chunk(json!({"content":"abc E"})), &mut out);
    // "abc " is sent at once; only "E" is held.
    assert!(matches!(
        out.last(),
        Some(StreamEvent::ContentBlockDelta { delta: Delta::TextDelta { text }, .. }) if text == "abc "
    ));
    t.push(&chunk(json!({"content":"N"})), &mut out);
    t.push(&chunk(json!({"content":"Dzzz"})), &mut out);
    assert!(t.is_done(), "server stops reading the upstream");
    let n = out.len();
    t.push(&tool(json!(0), Some("c"), Some("f"), "{}"), &mut out);
    t.push(&finish("stop"), &mut out);
    assert_eq!(out.len(), n);
    let m = accumulate(&out).unwrap();
    assert_eq!(
        m.content,
        vec![ResponseBlock::Text {
            text: "abc ".into()
        }]
    );
    assert_eq!(m.stop_reason, Some(StopReason::StopSequence));
    assert_eq!(m.stop_sequence.as_deref(), Some("END"));
}

#[test]
fn held_back_text_is_released_when_no_stop_sequence_matches() {
    let m = message(
        &["END"],
        &[
            chunk(json!({"content":"the E"})),
            chunk(json!({"content":"N"})),
            finish("stop"),
        ],
    );
    assert_eq!(
        m.content,
        vec![ResponseBlock::Text {
            text: "the EN".into()
        }]
    );
    assert_eq!(m.stop_reason, Some(StopReason::EndTurn));
}

#[test]
fn vllm_stop_reason_in_stream() {
    let m = message(
        &["END"],
        &[
            chunk(json!({"content":"abc"})),
            json!({"choices":[{"index":0,"delta":{},"finish_reason":"stop","stop_reason":"END"}]})
                .to_string(),
            "[DONE]".into(),
        ],
    );
    assert_eq!(m.stop_reason, Some(StopReason::StopSequence));
    assert_eq!(m.stop_sequence.as_deref(), Some("END"));
}

#[test]
fn tool_blocks_are_single_complete_blocks() {
    let (events, _) = run(
        &[],
        &[
            tool(json!(0), Some("c"), Some("f"), "{\"a\""),
            tool(json!(0), None, None, ":1}"),
            finish("tool_calls"),
        ],
    );
    let kinds: Vec<&str> = events.iter().map(StreamEvent::name).collect();
    assert_eq!(
        kinds,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert!(matches!(
        &events[1],
        StreamEvent::ContentBlockStart { index: 0, content_block: BlockStart::ToolUse { id, .. } } if id == "c"
    ));
    assert!(matches!(
        &events[2],
        StreamEvent::ContentBlockDelta { delta: Delta::InputJsonDelta { partial_json }, .. } if partial_json == r#"{"a":1}"#
    ));
}

#[test]
fn second_choice_is_ignored() {
    let m = message(
        &[],
        &[
            json!({"choices":[{"index":1,"delta":{"content":"other"}},{"index":0,"delta":{"content":"mine"}}]}).to_string(),
            finish("stop"),
        ],
    );
    assert_eq!(
        m.content,
        vec![ResponseBlock::Text {
            text: "mine".into()
        }]
    );
}
