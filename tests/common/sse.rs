//! Reading the proxy's answers: SSE decoding and the Anthropic event
//! grammar, both written here from the SSE spec and Anthropic's streaming
//! docs — independent of the code under test — plus `expect_error`.

use std::time::Duration;

use claude_proxy::protocol::anthropic::{MessagesResponse, StreamEvent};
use serde_json::{json, Map, Value};

/// One SSE event: its `event:` name (if any) and joined `data:` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub event: Option<String>,
    pub data: String,
}

/// Decodes an SSE body (LF, CRLF or CR line ends; `:` comments; multi-line
/// `data:`). An event still open when the bytes end is not dispatched, as
/// the spec says: a cut stream yields only its complete events.
pub fn frames(bytes: &[u8]) -> Vec<Frame> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    let mut event: Option<String> = None;
    let mut data: Option<String> = None;
    let mut rest: &str = &text;
    // An unterminated last line belongs to an incomplete event: dropped.
    while let Some(end) = rest.find(['\n', '\r']) {
        let line = &rest[..end];
        let skip = if rest[end..].starts_with("\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + skip..];
        if line.is_empty() {
            if let Some(d) = data.take() {
                out.push(Frame {
                    event: event.take(),
                    data: d,
                });
            }
            event = None;
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => event = Some(value.to_owned()),
            "data" => match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
    out
}

/// The events of an Anthropic SSE body as JSON, checking that every event
/// has an `event:` line naming its `type`.
pub fn events(bytes: &[u8]) -> Vec<Value> {
    frames(bytes)
        .into_iter()
        .map(|f| {
            let v: Value = serde_json::from_str(&f.data)
                .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {}", f.data));
            let name = f
                .event
                .unwrap_or_else(|| panic!("event without an event: line: {}", f.data));
            assert_eq!(v["type"], name.as_str(), "event name matches its type");
            v
        })
        .collect()
}

/// The events of an Anthropic SSE body, typed.
pub fn parse_sse(bytes: &[u8]) -> Vec<StreamEvent> {
    events(bytes)
        .into_iter()
        .map(|v| {
            serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("unknown event {v}: {e}"))
        })
        .collect()
}

fn assert_event_stream(resp: &reqwest::Response) {
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"]
        .to_str()
        .expect("content-type")
        .to_owned();
    assert!(ct.starts_with("text/event-stream"), "{ct}");
}

/// Reads a whole 200 SSE answer, typed.
pub async fn read_sse(resp: reqwest::Response) -> Vec<StreamEvent> {
    assert_event_stream(&resp);
    parse_sse(&resp.bytes().await.expect("body"))
}

/// Reads a whole 200 SSE answer as JSON events.
pub async fn read_events(resp: reqwest::Response) -> Vec<Value> {
    assert_event_stream(&resp);
    events(&resp.bytes().await.expect("body"))
}

/// How a body read with [`read_to_end`] ended.
#[derive(Debug)]
pub enum BodyEnd {
    /// The body ended cleanly.
    Clean,
    /// The connection broke (the error, as reqwest words it).
    Broken(String),
    /// Still open when the time was up.
    TimedOut,
}

/// Reads a body chunk by chunk for at most `limit`, keeping what arrived
/// however the body ends.
pub async fn read_to_end(resp: &mut reqwest::Response, limit: Duration) -> (Vec<u8>, BodyEnd) {
    let mut bytes = Vec::new();
    let read = async {
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => bytes.extend_from_slice(&c),
                Ok(None) => return BodyEnd::Clean,
                Err(e) => return BodyEnd::Broken(format!("{e:?}")),
            }
        }
    };
    let end = tokio::time::timeout(limit, read)
        .await
        .unwrap_or(BodyEnd::TimedOut);
    (bytes, end)
}

/// Folds JSON events into the message they describe, checking the grammar
/// of Anthropic's streaming docs: `message_start` first (pings may come
/// anywhere), blocks started in index order one at a time, deltas matching
/// their open block, one `message_delta` after the last block, then
/// `message_stop` and nothing after. `Err` names the first violation, or the
/// `error` event. Usage: `message_start`'s, overwritten field by field by
/// `message_delta`'s (its counts are cumulative).
pub fn fold(events: &[Value]) -> Result<Value, String> {
    let mut message: Option<Value> = None;
    let mut blocks: Vec<Value> = Vec::new();
    let mut partial_json: Vec<String> = Vec::new();
    let mut open: Option<usize> = None;
    let mut saw_delta = false;
    let mut stopped = false;
    for (n, ev) in events.iter().enumerate() {
        let kind = ev["type"].as_str().unwrap_or("");
        if stopped {
            return Err(format!("event {n} ({kind}) after message_stop"));
        }
        if kind == "error" {
            return Err(format!(
                "error event: {}: {}",
                ev["error"]["type"], ev["error"]["message"]
            ));
        }
        if kind == "ping" {
            continue;
        }
        if message.is_none() && kind != "message_start" {
            return Err(format!("event {n} ({kind}) before message_start"));
        }
        match kind {
            "message_start" => {
                if message.is_some() {
                    return Err("second message_start".into());
                }
                let m = &ev["message"];
                if m["content"] != json!([]) || !m["stop_reason"].is_null() {
                    return Err(format!(
                        "message_start must have empty content and null stop_reason: {m}"
                    ));
                }
                if m["type"] != "message" || m["role"] != "assistant" {
                    return Err(format!("message_start is not an assistant message: {m}"));
                }
                message = Some(m.clone());
            }
            "content_block_start" => {
                if saw_delta {
                    return Err("content_block_start after message_delta".into());
                }
                let index = ev["index"].as_u64().ok_or("block without index")? as usize;
                if let Some(o) = open {
                    return Err(format!("block {index} started while block {o} is open"));
                }
                if index != blocks.len() {
                    return Err(format!("block index {index}, expected {}", blocks.len()));
                }
                let block = ev["content_block"].clone();
                if block["type"] == "tool_use" {
                    if block["input"] != json!({}) {
                        return Err(format!("tool_use starts with input {}", block["input"]));
                    }
                    if block["id"].as_str().is_none_or(str::is_empty) {
                        return Err("tool_use without id".into());
                    }
                }
                blocks.push(block);
                partial_json.push(String::new());
                open = Some(index);
            }
            "content_block_delta" => {
                let index = ev["index"].as_u64().ok_or("delta without index")? as usize;
                if open != Some(index) {
                    return Err(format!("delta for block {index} which is not open"));
                }
                let block = &mut blocks[index];
                let d = &ev["delta"];
                let append = |block: &mut Value, field: &str, piece: &Value| {
                    let s = format!(
                        "{}{}",
                        block[field].as_str().unwrap_or(""),
                        piece.as_str().unwrap_or("")
                    );
                    block[field] = json!(s);
                };
                match (block["type"].as_str(), d["type"].as_str()) {
                    (Some("text"), Some("text_delta")) => append(block, "text", &d["text"]),
                    (Some("thinking"), Some("thinking_delta")) => {
                        append(block, "thinking", &d["thinking"])
                    }
                    (Some("thinking"), Some("signature_delta")) => {
                        block["signature"] = d["signature"].clone()
                    }
                    (Some("tool_use"), Some("input_json_delta")) => {
                        partial_json[index].push_str(d["partial_json"].as_str().unwrap_or(""))
                    }
                    (b, t) => return Err(format!("delta {t:?} does not fit block {b:?}")),
                }
            }
            "content_block_stop" => {
                let index = ev["index"].as_u64().ok_or("stop without index")? as usize;
                if open != Some(index) {
                    return Err(format!("stop for block {index} which is not open"));
                }
                open = None;
            }
            "message_delta" => {
                if let Some(o) = open {
                    return Err(format!("message_delta while block {o} is open"));
                }
                if saw_delta {
                    return Err("second message_delta".into());
                }
                saw_delta = true;
                let m = message.as_mut().ok_or("no message")?;
                m["stop_reason"] = ev["delta"]["stop_reason"].clone();
                m["stop_sequence"] = ev["delta"]["stop_sequence"].clone();
                if let Some(u) = ev["usage"].as_object() {
                    for (k, v) in u {
                        m["usage"][k] = v.clone();
                    }
                }
            }
            "message_stop" => {
                if !saw_delta {
                    return Err("message_stop without message_delta".into());
                }
                stopped = true;
            }
            other => return Err(format!("unknown event type {other:?}")),
        }
    }
    if !stopped {
        return Err("stream ended without message_stop".into());
    }
    let mut message = message.ok_or("no message_start")?;
    for (block, json) in blocks.iter_mut().zip(partial_json) {
        match block["type"].as_str() {
            Some("text") if block["text"].as_str().is_none_or(str::is_empty) => {
                return Err("empty text block".into())
            }
            Some("tool_use") => {
                let input: Value = if json.is_empty() {
                    Value::Object(Map::new())
                } else {
                    serde_json::from_str(&json).map_err(|e| format!("tool input {json:?}: {e}"))?
                };
                if !input.is_object() {
                    return Err(format!("tool input is not an object: {json}"));
                }
                block["input"] = input;
            }
            _ => {}
        }
    }
    message["content"] = Value::Array(blocks);
    Ok(message)
}

/// [`fold`], panicking on a grammar violation.
pub fn fold_ok(events: &[Value]) -> Value {
    fold(events).unwrap_or_else(|e| panic!("invalid Anthropic stream ({e}): {events:#?}"))
}

/// Folds typed events into the message (panics on a grammar violation).
pub fn accumulate(events: &[StreamEvent]) -> MessagesResponse {
    let values: Vec<Value> = events
        .iter()
        .map(|e| serde_json::to_value(e).expect("event"))
        .collect();
    serde_json::from_value(fold_ok(&values)).expect("a complete message")
}

/// The type of the last event, if any.
pub fn last_type(events: &[Value]) -> Option<&str> {
    events.last().and_then(|e| e["type"].as_str())
}

/// Asserts an Anthropic error body and returns its message.
pub async fn expect_error(resp: reqwest::Response, status: u16, kind: &str) -> String {
    assert_eq!(resp.status().as_u16(), status, "status");
    let v: Value = resp.json().await.expect("error body is JSON");
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], kind, "{v}");
    v["error"]["message"].as_str().expect("message").to_owned()
}
