//! Whole JSON answers replayed as the stream the client asked for: some
//! compatible servers answer a stream request with one JSON body. The
//! replay has the protocol's event grammar, so SDKs that accumulate a
//! stream build the same object as from the JSON.

use bytes::Bytes;
use serde_json::{json, Value};

/// A whole `chat.completion` as the stream the client asked for (some
/// compatible servers answer a stream request with JSON): one chunk with
/// the whole message, the usage chunk when the client asked for it (any
/// usage the server reported), `[DONE]`. `None` when it is not a completion.
pub(super) fn completion_as_stream(completion: &Value, include_usage: bool) -> Option<Bytes> {
    let choice = completion.get("choices")?.get(0)?;
    let message = choice.get("message")?;
    let mut delta = json!({"role": "assistant", "content": message.get("content").cloned().unwrap_or(Value::Null)});
    for key in ["reasoning_content", "refusal"] {
        if let Some(v) = message.get(key).filter(|v| !v.is_null()) {
            delta[key] = v.clone();
        }
    }
    if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
        let calls: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut c = c.clone();
                c["index"] = json!(i);
                c
            })
            .collect();
        delta["tool_calls"] = Value::Array(calls);
    }
    let head = |choices: Value| {
        json!({
            "id": completion.get("id").cloned().unwrap_or(Value::Null),
            "object": "chat.completion.chunk",
            "created": completion.get("created").cloned().unwrap_or(Value::Null),
            "model": completion.get("model").cloned().unwrap_or(Value::Null),
            "choices": choices,
        })
    };
    let chunk = head(json!([{"index": 0, "delta": delta,
        "finish_reason": choice.get("finish_reason").cloned().unwrap_or(Value::Null)}]));
    let mut out = format!("data: {chunk}\n\n");
    if include_usage {
        let mut usage = head(json!([]));
        usage["usage"] = completion.get("usage").cloned().unwrap_or(Value::Null);
        out.push_str(&format!("data: {usage}\n\n"));
    }
    out.push_str("data: [DONE]\n\n");
    Some(Bytes::from(out))
}

/// A whole Responses `response` object as its event stream
/// (<https://platform.openai.com/docs/api-reference/responses-streaming>):
/// `response.created` and `response.in_progress` (no output yet), each
/// output item added and done whole (no deltas: the added item already
/// holds its content), and the terminal event of its `status` —
/// `response.completed`, `response.incomplete` or `response.failed` — with
/// the whole object; `sequence_number` counts from 0. `None` when it is not
/// a response object.
pub(super) fn response_as_stream(response: &Value) -> Option<Bytes> {
    if response.get("object").and_then(Value::as_str) != Some("response") {
        return None;
    }
    let output = response.get("output")?.as_array()?;
    let terminal = match response.get("status").and_then(Value::as_str) {
        Some("incomplete") => "response.incomplete",
        Some("failed") => "response.failed",
        _ => "response.completed",
    };
    let mut opening = response.clone();
    opening["status"] = json!("in_progress");
    opening["output"] = json!([]);
    let mut events = vec![
        json!({"type": "response.created", "response": opening}),
        json!({"type": "response.in_progress", "response": opening}),
    ];
    for (i, item) in output.iter().enumerate() {
        for kind in ["response.output_item.added", "response.output_item.done"] {
            events.push(json!({"type": kind, "output_index": i, "item": item}));
        }
    }
    events.push(json!({"type": terminal, "response": response}));
    let mut out = String::new();
    for (seq, mut ev) in events.into_iter().enumerate() {
        ev["sequence_number"] = json!(seq);
        let name = ev["type"].as_str().unwrap_or_default().to_owned();
        out.push_str(&format!("event: {name}\ndata: {ev}\n\n"));
    }
    Some(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_object_replays_as_its_event_grammar() {
        let r = json!({"id": "resp_1", "object": "response", "status": "completed",
            "output": [{"type": "message", "id": "m1", "role": "assistant",
                "content": [{"type": "output_text", "text": "hi", "annotations": []}]}],
            "usage": {"input_tokens": 3, "output_tokens": 1}});
        let text = String::from_utf8(response_as_stream(&r).unwrap().to_vec()).unwrap();
        let events: Vec<Value> = text
            .split("\n\n")
            .filter(|f| !f.is_empty())
            .map(|f| {
                let (name, data) = f.split_once("\ndata: ").unwrap();
                let v: Value = serde_json::from_str(data).unwrap();
                assert_eq!(name.strip_prefix("event: "), v["type"].as_str());
                v
            })
            .collect();
        let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.output_item.done",
                "response.completed"
            ]
        );
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e["sequence_number"], i);
        }
        assert_eq!(events[0]["response"]["output"], json!([]));
        assert_eq!(events[4]["response"], r);
        let mut incomplete = r.clone();
        incomplete["status"] = json!("incomplete");
        let text = String::from_utf8(response_as_stream(&incomplete).unwrap().to_vec()).unwrap();
        assert!(text.contains("event: response.incomplete\n"), "{text}");
        assert!(response_as_stream(&json!({"object": "chat.completion"})).is_none());
    }
}
