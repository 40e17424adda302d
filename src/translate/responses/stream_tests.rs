use serde_json::{json, Value};

use super::*;
use crate::protocol::anthropic::{MessagesResponse, ResponseBlock};
use crate::translate::accumulate;
use crate::translate::responses::{from_responses_response, reasoning_item};

fn ctx(stops: &[&str]) -> ResponseContext {
    ResponseContext {
        message_id: "msg_T".into(),
        model: "claude-t".into(),
        stop_sequences: stops.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn run(events: &[Value], stops: &[&str]) -> Vec<StreamEvent> {
    let mut t = ResponsesStreamTranslator::new(ctx(stops));
    let mut out = Vec::new();
    t.start(&mut out);
    for e in events {
        t.push(&e.to_string(), &mut out);
    }
    if !t.is_done() {
        t.finish(&mut out);
    }
    out
}

fn message(events: &[Value], stops: &[&str]) -> MessagesResponse {
    let out = run(events, stops);
    accumulate(&out).unwrap_or_else(|e| panic!("{e}: {out:#?}"))
}

fn usage() -> Value {
    json!({"input_tokens": 30, "input_tokens_details": {"cached_tokens": 10},
           "output_tokens": 7, "output_tokens_details": {"reasoning_tokens": 3}, "total_tokens": 37})
}

fn reasoning(id: &str) -> Value {
    json!({"id": id, "type": "reasoning", "encrypted_content": format!("enc-{id}"),
           "summary": [{"type": "summary_text", "text": "**Plan**\n\nRead it."},
                       {"type": "summary_text", "text": "**Then**\n\nAnswer."}]})
}

fn msg_item(id: &str, text: &str) -> Value {
    json!({"id": id, "type": "message", "status": "completed", "role": "assistant",
           "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

fn call(id: &str, call_id: &str, args: &str) -> Value {
    json!({"id": id, "type": "function_call", "status": "completed", "call_id": call_id,
           "name": "get_weather", "arguments": args})
}

fn response(status: &str, output: Vec<Value>) -> Value {
    json!({"id": "resp_1", "object": "response", "status": status, "model": "gpt-5",
           "output": output, "usage": usage(), "error": null, "incomplete_details": null})
}

/// The events OpenAI streams for `output`, item by item, then `terminal`.
fn stream_of(output: &[Value], terminal: Value) -> Vec<Value> {
    let mut ev =
        vec![json!({"type": "response.created", "response": response("in_progress", vec![])})];
    for (i, item) in output.iter().enumerate() {
        let id = item["id"].clone();
        let mut added = item.clone();
        match item["type"].as_str().unwrap() {
            "message" => added["content"] = json!([]),
            "reasoning" => added["summary"] = json!([]),
            "function_call" => added["arguments"] = json!(""),
            _ => {}
        }
        ev.push(json!({"type": "response.output_item.added", "output_index": i, "item": added}));
        match item["type"].as_str().unwrap() {
            "message" => {
                let text = item["content"][0]["text"].as_str().unwrap();
                let (a, b) = text.split_at(text.len() / 2);
                for d in [a, b] {
                    ev.push(json!({"type": "response.output_text.delta", "item_id": id, "output_index": i, "content_index": 0, "delta": d}));
                }
            }
            "reasoning" => {
                for (s, part) in item["summary"].as_array().unwrap().iter().enumerate() {
                    ev.push(json!({"type": "response.reasoning_summary_part.added", "item_id": id, "output_index": i, "summary_index": s, "part": {"type": "summary_text", "text": ""}}));
                    ev.push(json!({"type": "response.reasoning_summary_text.delta", "item_id": id, "output_index": i, "summary_index": s, "delta": part["text"]}));
                }
            }
            "function_call" => {
                ev.push(json!({"type": "response.function_call_arguments.delta", "item_id": id, "output_index": i, "delta": item["arguments"]}));
            }
            _ => {}
        }
        ev.push(json!({"type": "response.output_item.done", "output_index": i, "item": item}));
    }
    ev.push(terminal);
    ev
}

fn completed(output: &[Value]) -> Value {
    json!({"type": "response.completed", "response": response("completed", output.to_vec())})
}

fn whole(output: &[Value], status: &str, stops: &[&str]) -> MessagesResponse {
    let resp: ResponseObject = serde_json::from_value(response(status, output.to_vec())).unwrap();
    from_responses_response(resp, &ctx(stops)).unwrap()
}

#[test]
fn text_streams_with_usage() {
    let output = [msg_item("msg_1", "Hello world")];
    let out = run(&stream_of(&output, completed(&output)), &[]);
    let deltas = out
        .iter()
        .filter(|e| matches!(e, StreamEvent::ContentBlockDelta { .. }))
        .count();
    assert_eq!(deltas, 2, "text passes as it arrives");
    let m = accumulate(&out).unwrap();
    assert_eq!(
        m.content,
        vec![ResponseBlock::Text {
            text: "Hello world".into()
        }]
    );
    assert_eq!(m.stop_reason, Some(StopReason::EndTurn));
    assert_eq!(
        (
            m.usage.input_tokens,
            m.usage.cache_read_input_tokens,
            m.usage.output_tokens
        ),
        (20, 10, 7)
    );
    assert_eq!(m, whole(&output, "completed", &[]));
}

#[test]
fn reasoning_becomes_a_thinking_block_signed_with_the_item() {
    let output = [reasoning("rs_1"), msg_item("msg_1", "4")];
    let m = message(&stream_of(&output, completed(&output)), &[]);
    let ResponseBlock::Thinking {
        thinking,
        signature,
    } = &m.content[0]
    else {
        panic!("{m:?}");
    };
    assert_eq!(thinking, "**Plan**\n\nRead it.\n\n**Then**\n\nAnswer.");
    let item = reasoning_item(signature).expect("a replayable item");
    assert_eq!(item.get(), output[0].to_string(), "byte for byte");
    assert_eq!(m.content[1], ResponseBlock::Text { text: "4".into() });
    assert_eq!(m, whole(&output, "completed", &[]));
}

#[test]
fn reasoning_without_summary_or_encryption() {
    let bare = json!({"id": "rs_0", "type": "reasoning", "summary": []});
    let secret =
        json!({"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "e"});
    let output = [bare, secret, msg_item("m", "ok")];
    let m = message(&stream_of(&output, completed(&output)), &[]);
    assert_eq!(m.content.len(), 2, "nothing for the bare item: {m:?}");
    assert!(
        matches!(&m.content[0], ResponseBlock::Thinking { thinking, signature }
        if thinking.is_empty() && reasoning_item(signature).is_some())
    );
}

#[test]
fn parallel_calls_with_interleaved_arguments_come_out_in_order() {
    let a = call("fc_a", "call_a", r#"{"city":"Paris"}"#);
    let b = call("fc_b", "call_b", r#"{"city":"Rome"}"#);
    let mut a_added = a.clone();
    a_added["arguments"] = json!("");
    let mut b_added = b.clone();
    b_added["arguments"] = json!("");
    let d = |item: &str, i: u32, s: &str| json!({"type": "response.function_call_arguments.delta", "item_id": item, "output_index": i, "delta": s});
    let events = vec![
        json!({"type": "response.output_item.added", "output_index": 0, "item": a_added}),
        json!({"type": "response.output_item.added", "output_index": 1, "item": b_added}),
        d("fc_b", 1, r#"{"city":"#),
        d("fc_a", 0, r#"{"city":"#),
        d("fc_a", 0, r#""Paris"}"#),
        d("fc_b", 1, r#""Rome"}"#),
        json!({"type": "response.function_call_arguments.done", "item_id": "fc_b", "output_index": 1, "arguments": r#"{"city":"Rome"}"#}),
        json!({"type": "response.output_item.done", "output_index": 1, "item": b}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": a}),
        completed(&[a.clone(), b.clone()]),
    ];
    let m = message(&events, &[]);
    let calls: Vec<(String, Value)> = m
        .content
        .iter()
        .map(|c| match c {
            ResponseBlock::ToolUse { id, input, .. } => (id.clone(), input.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        calls,
        [
            ("call_a".into(), json!({"city": "Paris"})),
            ("call_b".into(), json!({"city": "Rome"}))
        ]
    );
    assert_eq!(m.stop_reason, Some(StopReason::ToolUse));
    assert_eq!(m, whole(&[a, b], "completed", &[]));
}

#[test]
fn incomplete_answers_stop_for_their_reason() {
    let output = [
        msg_item("m", "partial"),
        call("fc", "call_1", r#"{"city":"Pa"#),
    ];
    let mut terminal =
        json!({"type": "response.incomplete", "response": response("incomplete", output.to_vec())});
    terminal["response"]["incomplete_details"] = json!({"reason": "max_output_tokens"});
    let m = message(&stream_of(&output, terminal.clone()), &[]);
    assert_eq!(m.stop_reason, Some(StopReason::MaxTokens));
    assert!(
        matches!(&m.content[1], ResponseBlock::ToolUse { input, .. } if *input == json!({"city": "Pa"}))
    );
    terminal["response"]["incomplete_details"] = json!({"reason": "content_filter"});
    let m = message(&stream_of(&output[..1], terminal), &[]);
    assert_eq!(m.stop_reason, Some(StopReason::Refusal));
}

#[test]
fn a_refusal_is_text_with_a_refusal_stop() {
    let item = json!({"id": "m", "type": "message", "content": [{"type": "refusal", "refusal": "I can't help."}]});
    let events = vec![
        json!({"type": "response.output_item.added", "output_index": 0, "item": {"id": "m", "type": "message", "content": []}}),
        json!({"type": "response.refusal.delta", "item_id": "m", "output_index": 0, "content_index": 0, "delta": "I can't help."}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
        completed(std::slice::from_ref(&item)),
    ];
    let m = message(&events, &[]);
    assert_eq!(
        m.content,
        vec![ResponseBlock::Text {
            text: "I can't help.".into()
        }]
    );
    assert_eq!(m.stop_reason, Some(StopReason::Refusal));
    assert_eq!(m, whole(&[item], "completed", &[]));
}

fn last_error(out: &[StreamEvent]) -> (String, String) {
    match out.last() {
        Some(StreamEvent::Error { error }) => (error.kind.clone(), error.message.clone()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn failures_end_the_stream_with_the_mapped_error() {
    let mut failed = response("failed", vec![]);
    failed["error"] = json!({"code": "rate_limit_exceeded", "message": "slow down"});
    let out = run(
        &[
            json!({"type": "response.created"}),
            json!({"type": "response.failed", "response": failed}),
        ],
        &[],
    );
    assert_eq!(
        last_error(&out),
        (
            "rate_limit_error".into(),
            "upstream error: slow down".into()
        )
    );
    assert!(!out
        .iter()
        .any(|e| matches!(e, StreamEvent::ContentBlockStart { .. })));

    let out = run(
        &[
            json!({"type": "error", "code": "server_error", "message": "boom", "param": null, "sequence_number": 1}),
        ],
        &[],
    );
    assert_eq!(
        last_error(&out),
        ("api_error".into(), "upstream error: boom".into())
    );
    let nested = json!({"type": "error", "error": {"type": "invalid_request_error", "code": "context_length_exceeded", "message": "too long"}});
    assert_eq!(last_error(&run(&[nested], &[])).0, "invalid_request_error");

    // Cut after some text: what came is kept, then an api_error.
    let output = [msg_item("m", "Hello world")];
    let mut events = stream_of(&output, completed(&output));
    events.truncate(4);
    let out = run(&events, &[]);
    assert_eq!(last_error(&out).0, "api_error");
    assert!(!out.iter().any(|e| matches!(e, StreamEvent::MessageStop)));

    let resp: ResponseObject = serde_json::from_value(failed_response()).unwrap();
    let err = from_responses_response(resp, &ctx(&[])).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Api);
    assert!(err.message.contains("overloaded"), "{err:?}");
}

fn failed_response() -> Value {
    let mut failed = response("failed", vec![]);
    failed["error"] = json!({"code": "server_error", "message": "overloaded"});
    failed
}

#[test]
fn stop_sequences_cut_the_text_across_deltas() {
    let output = [
        msg_item("m", "one two STOP three"),
        call("fc", "call_1", "{}"),
    ];
    let m = message(&stream_of(&output, completed(&output)), &["STOP"]);
    assert_eq!(
        m.content,
        vec![ResponseBlock::Text {
            text: "one two ".into()
        }]
    );
    assert_eq!(m.stop_reason, Some(StopReason::StopSequence));
    assert_eq!(m.stop_sequence.as_deref(), Some("STOP"));
    let w = whole(&output, "completed", &["STOP"]);
    assert_eq!((w.content, w.stop_sequence), (m.content, m.stop_sequence));
}

#[test]
fn whole_items_or_only_the_final_response_read_the_same() {
    let output = [
        reasoning("rs_1"),
        msg_item("m", "text"),
        call("fc", "call_1", r#"{"a":1}"#),
    ];
    let full = message(&stream_of(&output, completed(&output)), &[]);
    let done_only: Vec<Value> = output
        .iter()
        .enumerate()
        .map(|(i, item)| json!({"type": "response.output_item.done", "output_index": i, "item": item}))
        .chain([completed(&output)])
        .collect();
    assert_eq!(message(&done_only, &[]), full);
    assert_eq!(message(&[completed(&output)], &[]), full);
    assert_eq!(whole(&output, "completed", &[]), full);
}

#[test]
fn noise_is_ignored() {
    let output = [msg_item("m", "fine")];
    let mut events = vec![
        json!({"type": "response.in_progress"}),
        json!({"type": "response.web_search_call.searching"}),
    ];
    events.extend(stream_of(&output, completed(&output)));
    let mut t = ResponsesStreamTranslator::new(ctx(&[]));
    let mut out = Vec::new();
    t.push("not json", &mut out);
    t.push("[DONE]", &mut out);
    for e in &events {
        t.push(&e.to_string(), &mut out);
    }
    assert!(t.is_done());
    t.push(&completed(&output).to_string(), &mut out);
    assert_eq!(
        accumulate(&out).unwrap().content,
        vec![ResponseBlock::Text {
            text: "fine".into()
        }]
    );
}
