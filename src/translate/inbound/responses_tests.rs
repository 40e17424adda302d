//! Responses in and out: request examples, and property tests — any
//! valid-shaped request translates without panicking into a valid
//! Anthropic request; reasoning items round-trip any thinking block; any
//! Anthropic event sequence becomes a Responses stream that keeps the event
//! grammar and ends with exactly the non-stream response object.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::chat_tests::{block, check_anthropic, events_of, stop, usage};
use super::responses::{decode_reasoning, encode_reasoning, to_anthropic};
use super::responses_out::{response, Echo, ResponsesStream};
use super::OutContext;
use crate::protocol::responses_in::{OutputItem, ResponsesEvent, ResponsesRequest};
use crate::translate::accumulate;

fn request(v: Value) -> ResponsesRequest {
    serde_json::from_value(v).unwrap()
}

#[test]
fn items_map_to_turns_and_reasoning_restores_thinking() {
    let carried = encode_reasoning("hmm", "sig/1+");
    let out = to_anthropic(&request(json!({
        "model": "m",
        "instructions": "be brief",
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "dev"}]},
            {"role": "user", "content": [
                {"type": "input_text", "text": "look"},
                {"type": "input_image", "image_url": "https://e.x/a.png", "detail": "auto"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "hmm"}], "encrypted_content": carried},
            {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": "someone else's"},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{\"x\":1}"},
            {"type": "function_call_output", "call_id": "c1", "output": [{"type": "input_text", "text": "out"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "done"}]}
        ],
        "tools": [{"type": "function", "name": "f", "parameters": null, "strict": true}, {"type": "file_search"}],
        "tool_choice": {"type": "function", "name": "f"},
        "max_output_tokens": 5000,
        "reasoning": {"effort": "low"}
    })))
    .unwrap();
    check_anthropic(&out);
    assert_eq!(
        out["system"],
        json!([{"type": "text", "text": "be brief"}, {"type": "text", "text": "dev"}])
    );
    let m = out["messages"].as_array().unwrap();
    assert_eq!(m[0]["content"][1]["source"]["url"], "https://e.x/a.png");
    assert_eq!(
        m[1]["content"][0],
        json!({"type": "thinking", "thinking": "hmm", "signature": "sig/1+"})
    );
    assert_eq!(m[1]["content"][1]["input"], json!({"x": 1}));
    assert_eq!(
        m[2]["content"][0]["content"],
        json!([{"type": "text", "text": "out"}])
    );
    assert_eq!(m[3]["content"][0]["text"], "done");
    assert_eq!(out["tools"].as_array().unwrap().len(), 1);
    assert_eq!(out["tool_choice"], json!({"type": "tool", "name": "f"}));
    assert_eq!(out["thinking"]["budget_tokens"], 2048);
}

#[test]
fn server_side_state_is_refused() {
    for v in [
        json!({"model": "m", "input": "x", "previous_response_id": "resp_1"}),
        json!({"model": "m", "input": "x", "conversation": "conv_1"}),
        json!({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}),
    ] {
        let e = to_anthropic(&request(v)).unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        assert!(e.message.contains("stateless"), "{}", e.message);
    }
}

fn item() -> impl Strategy<Value = Value> {
    let id = prop::sample::select(vec!["c1", "c2"]);
    let text = "[a-z ]{0,6}";
    prop_oneof![
        (prop::sample::select(vec!["user", "assistant", "system", "developer"]), text)
            .prop_map(|(r, t)| json!({"role": r, "content": t})),
        (prop::sample::select(vec!["input_text", "output_text"]), text)
            .prop_map(|(k, t)| json!({"type": "message", "role": "user", "content": [{"type": k, "text": t}]})),
        Just(json!({"role": "user", "content": [{"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]})),
        (id.clone(), "[a-z{}\":0-9]{0,8}")
            .prop_map(|(id, a)| json!({"type": "function_call", "call_id": id, "name": "f", "arguments": a})),
        (id, text).prop_map(|(id, t)| json!({"type": "function_call_output", "call_id": id, "output": t})),
        (text, "[a-zA-Z0-9]{0,6}").prop_map(|(t, s)| json!({"type": "reasoning", "id": "rs", "summary": [],
            "encrypted_content": encode_reasoning(&t, &s)})),
        Just(json!({"type": "web_search_call", "id": "ws_1", "status": "completed"})),
    ]
}

proptest! {
    #[test]
    fn any_valid_shaped_request_translates_into_a_valid_anthropic_request(
        items in prop::collection::vec(item(), 0..8),
        effort in prop::option::of(prop::sample::select(vec!["minimal", "high", "none"])),
        max in prop::option::of(0u64..30_000),
        choice in prop::option::of(prop::sample::select(vec!["auto", "required", "none"])),
    ) {
        let mut v = json!({"model": "m", "input": items, "tools": [{"type": "function", "name": "f"}]});
        if let Some(e) = effort { v["reasoning"] = json!({"effort": e}); }
        if let Some(m) = max { v["max_output_tokens"] = json!(m); }
        if let Some(c) = choice { v["tool_choice"] = json!(c); }
        if let Ok(out) = to_anthropic(&request(v)) {
            check_anthropic(&out);
        }
    }

    #[test]
    fn reasoning_items_carry_any_thinking_block(t in ".{0,40}", s in ".{0,40}") {
        prop_assert_eq!(decode_reasoning(&encode_reasoning(&t, &s)), Some((t, s)));
    }

    #[test]
    fn the_stream_ends_with_exactly_the_non_stream_response(
        blocks in prop::collection::vec(block(), 0..5),
        stop in stop(),
        usage in usage(),
    ) {
        let events = events_of(&blocks, stop, &usage);
        let msg = accumulate(&events).unwrap();
        let ctx = OutContext::new(&msg.id, 1_700_000_000, "gpt-x");
        let echo = Echo::of(&request(json!({"model": "gpt-x", "input": "x", "tools": [{"type": "function", "name": "f"}]})));
        let whole = response(&msg, &ctx, &echo);
        let mut t = ResponsesStream::new(ctx, echo);
        let mut out = Vec::new();
        for e in &events {
            t.push(e, &mut out);
        }
        prop_assert!(t.is_done());
        // Grammar: created first; each item added, then its deltas, then
        // done with the item the final object has at that index.
        let created = matches!(out[0], ResponsesEvent::Created { .. });
        prop_assert!(created);
        let mut open: Option<u32> = None;
        let mut done: BTreeMap<u32, OutputItem> = BTreeMap::new();
        let mut text: BTreeMap<u32, String> = BTreeMap::new();
        for ev in &out[..out.len() - 1] {
            match ev {
                ResponsesEvent::OutputItemAdded { output_index, .. } => {
                    prop_assert!(open.is_none());
                    open = Some(*output_index);
                }
                ResponsesEvent::OutputItemDone { output_index, item } => {
                    prop_assert_eq!(open.take(), Some(*output_index));
                    done.insert(*output_index, item.clone());
                }
                ResponsesEvent::OutputTextDelta { output_index, delta, .. } => {
                    prop_assert_eq!(open, Some(*output_index));
                    text.entry(*output_index).or_default().push_str(delta);
                }
                ResponsesEvent::Completed { .. } | ResponsesEvent::Incomplete { .. } | ResponsesEvent::Failed { .. } => {
                    prop_assert!(false, "terminal event before the end");
                }
                _ => {}
            }
        }
        let last = match out.last() {
            Some(ResponsesEvent::Completed { response } | ResponsesEvent::Incomplete { response }) => response.as_ref().clone(),
            other => return Err(TestCaseError::fail(format!("{other:?}"))),
        };
        prop_assert_eq!(&last, &whole);
        prop_assert_eq!(done.into_values().collect::<Vec<_>>(), whole.output.clone());
        for (i, t) in text {
            match &whole.output[i as usize] {
                OutputItem::Message { content, .. } => prop_assert_eq!(&content[0].text, &t),
                other => prop_assert!(false, "text deltas for {:?}", other),
            }
        }
    }
}

#[test]
fn the_pass_through_body_maps_the_model_and_restores_only_upstream_reasoning() {
    use super::responses::pass_through_body;
    use crate::translate::responses::reasoning_signature;
    let original =
        r#"{"type":"reasoning","id":"rs_up","summary":[],"encrypted_content":"gAAA-upstream"}"#;
    let raw = serde_json::value::RawValue::from_string(original.to_owned()).unwrap();
    let from_responses = encode_reasoning("summary", &reasoning_signature(&raw));
    let from_claude = encode_reasoning("hmm", "claude-signature");
    let body = format!(
        r#"{{"model": "gpt-x", "text": {{ "format": {{"type":"text"}} }}, "input": [
            {{"role": "user", "content": "hi"}},
            {{"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "{from_responses}"}},
            {{"type": "message", "role": "assistant", "content": [{{"type": "output_text", "text": "a"}}]}},
            {{"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": "{from_claude}"}},
            {{"type": "reasoning", "id": "rs_3", "summary": [], "encrypted_content": "another-gateway"}},
            {{"role": "user", "content": "more"}}]}}"#
    );
    let out = pass_through_body(body.as_bytes(), "upstream-model").unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains(original), "byte for byte: {text}");
    assert!(
        text.contains(r#""text":{ "format": {"type":"text"} }"#),
        "other members keep their bytes: {text}"
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["model"], "upstream-model");
    let ids: Vec<&str> = v["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(ids, ["-", "rs_up", "-", "rs_3", "-"]);
    // Without a reasoning item of this gateway, only the model changes.
    let plain = pass_through_body(br#"{"model":"a","input":"hi","store":false}"#, "b").unwrap();
    assert_eq!(plain, br#"{"model":"b","input":"hi","store":false}"#);
}

#[test]
fn namespace_functions_become_tools_and_their_calls_come_back_namespaced() {
    use super::responses::namespaced_name;
    let req = request(json!({
        "model": "m",
        "tools": [
            {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
            {"type": "namespace", "name": "multi_agent_v1", "description": "sub-agents",
             "tools": [{"type": "function", "name": "spawn_agent", "description": "spawn",
                        "strict": false, "parameters": {"type": "object", "properties": {}}}]},
            {"type": "custom", "name": "apply_patch", "format": {"type": "grammar"}}
        ],
        "input": [
            {"role": "user", "content": "go"},
            {"type": "function_call", "call_id": "c1", "namespace": "multi_agent_v1",
             "name": "spawn_agent", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "ok"}
        ]
    }));
    let out = to_anthropic(&req).unwrap();
    let names: Vec<&str> = out["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["exec_command", "multi_agent_v1__spawn_agent"]);
    assert_eq!(
        out["messages"][1]["content"][0]["name"],
        "multi_agent_v1__spawn_agent"
    );
    check_anthropic(&out);

    let echo = Echo::of(&req);
    let ctx = OutContext::new("msg_1", 1, "m");
    let msg: crate::protocol::anthropic::MessagesResponse = serde_json::from_value(json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
        "content": [
            {"type": "tool_use", "id": "t1", "name": "multi_agent_v1__spawn_agent", "input": {}},
            {"type": "tool_use", "id": "t2", "name": "exec_command", "input": {"cmd": "ls"}}],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 1, "output_tokens": 1, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0}}))
    .unwrap();
    let r = serde_json::to_value(response(&msg, &ctx, &echo)).unwrap();
    assert_eq!(
        (&r["output"][0]["namespace"], &r["output"][0]["name"]),
        (&json!("multi_agent_v1"), &json!("spawn_agent"))
    );
    assert!(r["output"][1].get("namespace").is_none(), "{r}");
    assert_eq!(r["output"][1]["name"], "exec_command");

    // Names stay within 64 characters of [a-zA-Z0-9_-], and apart.
    let long = "n".repeat(60);
    let (a, b) = (namespaced_name(&long, "one"), namespaced_name(&long, "two"));
    assert!(a.len() <= 64 && b.len() <= 64 && a != b, "{a} {b}");
    assert_eq!(namespaced_name("mcp.server", "f"), "mcp_server__f");
}
