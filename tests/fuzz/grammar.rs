//! The oracle: what a client may receive, checked on the wire form (the
//! JSON the proxy sends), independently of the crate's own `accumulate`.
//!
//! A stream is `message_start`, then content blocks with dense indices from
//! 0, one open at a time, each `content_block_start` … deltas of the block's
//! own type … `content_block_stop`, then `message_delta` and
//! `message_stop`; or, anywhere after `message_start`, one `error` event
//! that ends it. A whole answer is a `message` whose blocks obey the same
//! rules; an error is `{"type":"error","error":{"type","message"}}` with a
//! known type.

use bytes::BytesMut;
use claude_proxy::protocol::anthropic::{ResponseBlock, StreamEvent};
use claude_proxy::translate::{accumulate, ResponseContext};
use serde_json::Value;

/// Anthropic's `error.type` values.
pub const ERROR_TYPES: &[&str] = &[
    "invalid_request_error",
    "authentication_error",
    "billing_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "timeout_error",
    "overloaded_error",
];

/// Anthropic's `stop_reason` values.
pub const STOP_REASONS: &[&str] = &[
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "pause_turn",
    "refusal",
    "model_context_window_exceeded",
];

/// A finished content block.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Text(String),
    Thinking {
        thinking: String,
        signature: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
}

/// How a stream (or answer) ended.
#[derive(Debug, Clone, PartialEq)]
pub enum End {
    Stop {
        stop_reason: String,
        stop_sequence: Option<String>,
        usage: Value,
    },
    Error {
        kind: String,
        message: String,
    },
}

/// A stream that obeys the grammar, folded.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub blocks: Vec<Block>,
    pub end: End,
    /// Size of the SSE text the client receives.
    pub bytes: usize,
}

impl Outcome {
    /// All text of the text blocks, in order.
    pub fn text(&self) -> String {
        self.blocks
            .iter()
            .filter_map(|b| match b {
                Block::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    /// All thinking text, in order.
    pub fn thinking(&self) -> String {
        self.blocks
            .iter()
            .filter_map(|b| match b {
                Block::Thinking { thinking, .. } => Some(thinking.as_str()),
                _ => None,
            })
            .collect()
    }

    /// `(name, input)` of every tool call, in order.
    pub fn tools(&self) -> Vec<(String, Value)> {
        self.blocks
            .iter()
            .filter_map(|b| match b {
                Block::ToolUse { name, input, .. } => Some((name.clone(), input.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn stop_reason(&self) -> Option<&str> {
        match &self.end {
            End::Stop { stop_reason, .. } => Some(stop_reason),
            End::Error { .. } => None,
        }
    }
}

fn is_tool_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn str_field<'v>(v: &'v Value, key: &str, what: &str) -> Result<&'v str, String> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{what}: `{key}` is not a string in {v}"))
}

/// `usage` must carry the four counts as non-negative integers.
fn check_usage(u: &Value, what: &str) -> Result<(), String> {
    for k in [
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ] {
        if !u.get(k).is_some_and(Value::is_u64) {
            return Err(format!("{what}: usage.{k} is not a count in {u}"));
        }
    }
    Ok(())
}

fn check_stop(
    reason: &Value,
    sequence: &Value,
    ctx: &ResponseContext,
    what: &str,
) -> Result<(String, Option<String>), String> {
    let reason = reason
        .as_str()
        .filter(|r| STOP_REASONS.contains(r))
        .ok_or_else(|| format!("{what}: bad stop_reason {reason}"))?;
    let sequence = match sequence {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => return Err(format!("{what}: bad stop_sequence {other}")),
    };
    match (&sequence, reason) {
        (Some(s), "stop_sequence") if ctx.stop_sequences.contains(s) && !s.is_empty() => {}
        (Some(s), _) => return Err(format!("{what}: stop_sequence {s:?} with {reason}")),
        (None, "stop_sequence") => return Err(format!("{what}: stop_sequence missing")),
        (None, _) => {}
    }
    Ok((reason.to_owned(), sequence))
}

/// The events as the client receives them: `event: name\ndata: json\n\n`.
pub fn wire(events: &[StreamEvent]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    claude_proxy::sse::encode_events(events, &mut buf);
    buf.to_vec()
}

/// Reads the proxy's own SSE output back, strictly.
fn read_wire(bytes: &[u8]) -> Result<Vec<(String, Value)>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("output is not UTF-8: {e}"))?;
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (frame, tail) = rest
            .split_once("\n\n")
            .ok_or_else(|| format!("unterminated event {rest:?}"))?;
        rest = tail;
        let (name_line, data_line) = frame
            .split_once('\n')
            .ok_or_else(|| format!("event without data: {frame:?}"))?;
        let name = name_line
            .strip_prefix("event: ")
            .ok_or_else(|| format!("no event name: {frame:?}"))?;
        let data = data_line
            .strip_prefix("data: ")
            .filter(|d| !d.contains('\n'))
            .ok_or_else(|| format!("bad data line: {frame:?}"))?;
        let json: Value =
            serde_json::from_str(data).map_err(|e| format!("data is not JSON ({e}): {data}"))?;
        if json.get("type").and_then(Value::as_str) != Some(name) {
            return Err(format!("event {name} carries type {}", json["type"]));
        }
        out.push((name.to_owned(), json));
    }
    Ok(out)
}

enum Open {
    Text(String),
    Thinking {
        thinking: String,
        signature: Option<String>,
    },
    Tool {
        id: String,
        name: String,
        json: String,
    },
}

/// Checks one stream against the grammar and folds it.
pub fn check_stream(events: &[StreamEvent], ctx: &ResponseContext) -> Result<Outcome, String> {
    let bytes = wire(events);
    let wire_events = read_wire(&bytes)?;
    let mut iter = wire_events.iter().enumerate();
    match iter.next() {
        Some((_, (name, v))) if name == "message_start" => {
            let m = &v["message"];
            if m["type"] != "message" || m["role"] != "assistant" {
                return Err(format!("message_start shell: {m}"));
            }
            if m["id"] != ctx.message_id.as_str() || m["model"] != ctx.model.as_str() {
                return Err(format!("message_start id/model: {m}"));
            }
            if m["content"] != Value::Array(Vec::new())
                || !m["stop_reason"].is_null()
                || !m["stop_sequence"].is_null()
            {
                return Err(format!("message_start not empty: {m}"));
            }
            check_usage(&m["usage"], "message_start")?;
        }
        Some((_, (name, _))) => return Err(format!("first event is {name}")),
        None => return Err("no events".into()),
    }
    let mut blocks: Vec<Block> = Vec::new();
    let mut open: Option<Open> = None;
    let mut ids: Vec<String> = Vec::new();
    let mut delta: Option<(String, Option<String>, Value)> = None;
    let mut end: Option<End> = None;
    for (n, (name, v)) in iter {
        if end.is_some() {
            return Err(format!("event {n} ({name}) after the end"));
        }
        let index = v.get("index").and_then(Value::as_u64);
        match name.as_str() {
            "message_start" => return Err(format!("second message_start at {n}")),
            "ping" => {}
            "content_block_start" => {
                if open.is_some() {
                    return Err(format!("block started at {n} while one is open"));
                }
                if delta.is_some() {
                    return Err(format!("block started at {n} after message_delta"));
                }
                if index != Some(blocks.len() as u64) {
                    return Err(format!(
                        "block index {index:?} at {n}, expected {}",
                        blocks.len()
                    ));
                }
                let b = &v["content_block"];
                open = Some(match b["type"].as_str() {
                    Some("text") if b["text"] == "" => Open::Text(String::new()),
                    Some("thinking") if b["thinking"] == "" && b["signature"] == "" => {
                        Open::Thinking {
                            thinking: String::new(),
                            signature: None,
                        }
                    }
                    Some("tool_use") if b["input"] == Value::Object(Default::default()) => {
                        let id = str_field(b, "id", "tool_use")?.to_owned();
                        if !is_tool_id(&id) {
                            return Err(format!("tool_use id {id:?} is not a valid id"));
                        }
                        if ids.contains(&id) {
                            return Err(format!("tool_use id {id:?} used twice"));
                        }
                        ids.push(id.clone());
                        Open::Tool {
                            id,
                            name: str_field(b, "name", "tool_use")?.to_owned(),
                            json: String::new(),
                        }
                    }
                    _ => return Err(format!("bad content_block_start {b}")),
                });
            }
            "content_block_delta" => {
                if index != Some(blocks.len() as u64) {
                    return Err(format!(
                        "delta for block {index:?} at {n}, open is {}",
                        blocks.len()
                    ));
                }
                let d = &v["delta"];
                match (open.as_mut(), d["type"].as_str()) {
                    (Some(Open::Text(t)), Some("text_delta")) => {
                        let piece = str_field(d, "text", "text_delta")?;
                        if piece.is_empty() {
                            return Err(format!("empty text_delta at {n}"));
                        }
                        t.push_str(piece);
                    }
                    (
                        Some(Open::Thinking {
                            thinking,
                            signature: None,
                        }),
                        Some("thinking_delta"),
                    ) => {
                        thinking.push_str(str_field(d, "thinking", "thinking_delta")?);
                    }
                    (Some(Open::Thinking { signature, .. }), Some("signature_delta"))
                        if signature.is_none() =>
                    {
                        *signature = Some(str_field(d, "signature", "signature_delta")?.to_owned());
                    }
                    (Some(Open::Tool { json, .. }), Some("input_json_delta")) => {
                        json.push_str(str_field(d, "partial_json", "input_json_delta")?);
                    }
                    (None, _) => return Err(format!("delta at {n} with no block open")),
                    (Some(_), _) => {
                        return Err(format!("delta {d} at {n} does not fit the open block"))
                    }
                }
            }
            "content_block_stop" => {
                if index != Some(blocks.len() as u64) {
                    return Err(format!("stop for block {index:?} at {n}"));
                }
                let block = match open.take() {
                    None => return Err(format!("stop at {n} with no block open")),
                    Some(Open::Text(t)) if t.is_empty() => {
                        return Err(format!("empty text block closed at {n}"))
                    }
                    Some(Open::Text(t)) => Block::Text(t),
                    Some(Open::Thinking {
                        signature: None, ..
                    }) => return Err(format!("thinking block without signature closed at {n}")),
                    Some(Open::Thinking {
                        thinking,
                        signature: Some(signature),
                    }) => Block::Thinking {
                        thinking,
                        signature,
                    },
                    Some(Open::Tool { id, name, json }) => {
                        let input: Value = if json.is_empty() {
                            Value::Object(Default::default())
                        } else {
                            serde_json::from_str(&json)
                                .map_err(|e| format!("tool input {json:?} is not JSON: {e}"))?
                        };
                        if !input.is_object() {
                            return Err(format!("tool input {json:?} is not an object"));
                        }
                        Block::ToolUse { id, name, input }
                    }
                };
                blocks.push(block);
            }
            "message_delta" => {
                if open.is_some() {
                    return Err(format!("message_delta at {n} inside a block"));
                }
                if delta.is_some() {
                    return Err(format!("second message_delta at {n}"));
                }
                let (reason, seq) = check_stop(
                    &v["delta"]["stop_reason"],
                    &v["delta"]["stop_sequence"],
                    ctx,
                    "message_delta",
                )?;
                let usage = v["usage"].clone();
                if !usage.get("output_tokens").is_some_and(Value::is_u64) {
                    return Err(format!("message_delta usage {usage}"));
                }
                delta = Some((reason, seq, usage));
            }
            "message_stop" => {
                let Some((stop_reason, stop_sequence, usage)) = delta.take() else {
                    return Err(format!("message_stop at {n} without message_delta"));
                };
                end = Some(End::Stop {
                    stop_reason,
                    stop_sequence,
                    usage,
                });
            }
            "error" => {
                let e = &v["error"];
                let kind = str_field(e, "type", "error")?;
                if !ERROR_TYPES.contains(&kind) {
                    return Err(format!("unknown error type {kind}"));
                }
                end = Some(End::Error {
                    kind: kind.to_owned(),
                    message: str_field(e, "message", "error")?.to_owned(),
                });
            }
            other => return Err(format!("unknown event {other}")),
        }
    }
    let end = end.ok_or("the stream has no end (message_stop or error)")?;
    let outcome = Outcome {
        blocks,
        end,
        bytes: bytes.len(),
    };
    cross_check(events, &outcome)?;
    Ok(outcome)
}

fn from_response_block(b: &ResponseBlock) -> Block {
    match b {
        ResponseBlock::Text { text } => Block::Text(text.clone()),
        ResponseBlock::Thinking {
            thinking,
            signature,
        } => Block::Thinking {
            thinking: thinking.clone(),
            signature: signature.clone(),
        },
        ResponseBlock::ToolUse { id, name, input } => Block::ToolUse {
            id: id.clone(),
            name: name.clone(),
            input: input.clone(),
        },
    }
}

/// The crate's own fold must agree: a message exactly when the stream ended
/// with `message_stop`, with the same blocks.
fn cross_check(events: &[StreamEvent], outcome: &Outcome) -> Result<(), String> {
    match (accumulate(events), &outcome.end) {
        (Ok(m), End::Stop { .. }) => {
            let theirs: Vec<Block> = m.content.iter().map(from_response_block).collect();
            if theirs != outcome.blocks {
                return Err(format!(
                    "accumulate disagrees: {theirs:?} vs {:?}",
                    outcome.blocks
                ));
            }
            Ok(())
        }
        (Err(_), End::Error { .. }) => Ok(()),
        (Ok(_), End::Error { .. }) => Err("accumulate accepted a stream that failed".into()),
        (Err(e), End::Stop { .. }) => Err(format!("accumulate rejected a valid stream: {e}")),
    }
}

/// Checks a whole answer's JSON and returns its blocks and end.
pub fn check_message(v: &Value, ctx: &ResponseContext) -> Result<(Vec<Block>, End), String> {
    if v["type"] != "message" || v["role"] != "assistant" {
        return Err(format!("not an assistant message: {v}"));
    }
    if v["id"] != ctx.message_id.as_str() || v["model"] != ctx.model.as_str() {
        return Err(format!("id/model: {v}"));
    }
    check_usage(&v["usage"], "message")?;
    let (stop_reason, stop_sequence) =
        check_stop(&v["stop_reason"], &v["stop_sequence"], ctx, "message")?;
    let content = v["content"]
        .as_array()
        .ok_or_else(|| format!("content is not an array: {v}"))?;
    let mut blocks = Vec::with_capacity(content.len());
    let mut ids: Vec<&str> = Vec::new();
    for b in content {
        blocks.push(match b["type"].as_str() {
            Some("text") => {
                let t = str_field(b, "text", "text block")?;
                if t.is_empty() {
                    return Err("empty text block".into());
                }
                Block::Text(t.to_owned())
            }
            Some("thinking") => Block::Thinking {
                thinking: str_field(b, "thinking", "thinking block")?.to_owned(),
                signature: str_field(b, "signature", "thinking block")?.to_owned(),
            },
            Some("tool_use") => {
                let id = str_field(b, "id", "tool_use")?;
                if !is_tool_id(id) || ids.contains(&id) {
                    return Err(format!("bad or repeated tool_use id {id:?}"));
                }
                ids.push(id);
                if !b["input"].is_object() {
                    return Err(format!("tool_use input is not an object: {b}"));
                }
                Block::ToolUse {
                    id: id.to_owned(),
                    name: str_field(b, "name", "tool_use")?.to_owned(),
                    input: b["input"].clone(),
                }
            }
            _ => return Err(format!("unknown block {b}")),
        });
    }
    Ok((
        blocks,
        End::Stop {
            stop_reason,
            stop_sequence,
            usage: v["usage"].clone(),
        },
    ))
}

/// Checks an error body as the client receives it.
pub fn check_error_body(body: &str) -> Result<(), String> {
    let v: Value =
        serde_json::from_str(body).map_err(|e| format!("error body is not JSON: {e}"))?;
    if v["type"] != "error" {
        return Err(format!("error body without type error: {v}"));
    }
    let kind = str_field(&v["error"], "type", "error")?;
    if !ERROR_TYPES.contains(&kind) {
        return Err(format!("unknown error type {kind}"));
    }
    str_field(&v["error"], "message", "error")?;
    Ok(())
}
