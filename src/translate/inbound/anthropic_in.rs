//! Reading the Anthropic answer a provider produced, leniently: a Claude
//! upstream's answer passes through unchanged, so it may carry block types
//! (server tools, redacted thinking, citations), delta types and usage
//! fields that the internal types do not have, and its `message_delta`
//! usage may name only what changed. What no OpenAI client can receive is
//! skipped; block indices are renumbered densely so the result keeps the
//! grammar `accumulate` checks.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::protocol::anthropic::{
    BlockStart, Delta, ErrorBody, MessageDeltaBody, MessagesResponse, ResponseBlock, StopReason,
    StreamEvent, Usage, UsageReport,
};

#[derive(Debug, Default, Deserialize)]
struct RawMessage {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    content: Vec<Value>,
    #[serde(default)]
    stop_reason: Option<Value>,
    #[serde(default)]
    stop_sequence: Option<String>,
    #[serde(default)]
    usage: UsageReport,
}

#[derive(Debug, Default, Deserialize)]
struct RawDelta {
    #[serde(default)]
    stop_reason: Option<Value>,
    #[serde(default)]
    stop_sequence: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum RawEvent {
    MessageStart {
        message: RawMessage,
    },
    ContentBlockStart {
        index: u32,
        content_block: Value,
    },
    ContentBlockDelta {
        index: u32,
        delta: Value,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        #[serde(default)]
        delta: RawDelta,
        #[serde(default)]
        usage: UsageReport,
    },
    MessageStop,
    Ping,
    Error {
        error: ErrorBody,
    },
    #[serde(other)]
    Other,
}

/// A stop reason this gateway knows; an unknown one is a natural end.
fn stop_reason(v: Option<&Value>) -> Option<StopReason> {
    let v = v?;
    if v.is_null() {
        return None;
    }
    Some(serde_json::from_value(v.clone()).unwrap_or(StopReason::EndTurn))
}

/// Decodes one Anthropic stream into [`StreamEvent`]s.
#[derive(Debug, Default)]
pub(crate) struct EventDecoder {
    /// Upstream block index → dense index, for the blocks kept.
    kept: HashMap<u32, u32>,
    next: u32,
    usage: Usage,
}

impl EventDecoder {
    /// The event in one SSE `data:` payload; `None` for what is skipped
    /// (unknown events and blocks, pings, malformed data).
    pub(crate) fn decode(&mut self, data: &str) -> Option<StreamEvent> {
        let raw: RawEvent = serde_json::from_str(data).ok()?;
        match raw {
            RawEvent::MessageStart { message } => {
                message.usage.apply(&mut self.usage);
                let mut m = MessagesResponse::new(message.id, message.model);
                m.usage = self.usage.clone();
                Some(StreamEvent::MessageStart { message: m })
            }
            RawEvent::ContentBlockStart {
                index,
                content_block,
            } => {
                let block = block_start(&content_block)?;
                let dense = self.next;
                self.next += 1;
                self.kept.insert(index, dense);
                Some(StreamEvent::ContentBlockStart {
                    index: dense,
                    content_block: block,
                })
            }
            RawEvent::ContentBlockDelta { index, delta } => {
                let index = *self.kept.get(&index)?;
                let delta: Delta = serde_json::from_value(delta).ok()?;
                Some(StreamEvent::ContentBlockDelta { index, delta })
            }
            RawEvent::ContentBlockStop { index } => {
                let index = self.kept.remove(&index)?;
                Some(StreamEvent::ContentBlockStop { index })
            }
            RawEvent::MessageDelta { delta, usage } => {
                usage.apply(&mut self.usage);
                Some(StreamEvent::MessageDelta {
                    delta: MessageDeltaBody {
                        stop_reason: stop_reason(delta.stop_reason.as_ref()),
                        stop_sequence: delta.stop_sequence,
                    },
                    usage: self.usage.clone(),
                })
            }
            RawEvent::MessageStop => Some(StreamEvent::MessageStop),
            RawEvent::Error { error } => Some(StreamEvent::Error { error }),
            RawEvent::Ping | RawEvent::Other => None,
        }
    }
}

fn block_start(v: &Value) -> Option<BlockStart> {
    match v.get("type")?.as_str()? {
        "text" => Some(BlockStart::Text {
            text: String::new(),
        }),
        "thinking" => Some(BlockStart::Thinking {
            thinking: String::new(),
            signature: String::new(),
        }),
        "tool_use" => Some(BlockStart::ToolUse {
            id: v.get("id")?.as_str()?.to_owned(),
            name: v.get("name")?.as_str()?.to_owned(),
            input: serde_json::Map::new(),
        }),
        _ => None,
    }
}

/// A whole Anthropic answer, with the blocks an OpenAI client can receive.
pub(crate) fn decode_message(bytes: &[u8]) -> Result<MessagesResponse, ApiError> {
    let raw: RawMessage = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::api(format!("the upstream's answer could not be read: {e}")).with_status(502)
    })?;
    let mut m = MessagesResponse::new(raw.id, raw.model);
    raw.usage.apply(&mut m.usage);
    m.stop_reason = stop_reason(raw.stop_reason.as_ref());
    m.stop_sequence = raw.stop_sequence;
    for b in &raw.content {
        let text = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        match b.get("type").and_then(Value::as_str) {
            Some("text") => m.content.push(ResponseBlock::Text { text: text("text") }),
            Some("thinking") => m.content.push(ResponseBlock::Thinking {
                thinking: text("thinking"),
                signature: text("signature"),
            }),
            Some("tool_use") => m.content.push(ResponseBlock::ToolUse {
                id: text("id"),
                name: text("name"),
                input: match b.get("input") {
                    Some(v @ Value::Object(_)) => v.clone(),
                    _ => Value::Object(serde_json::Map::new()),
                },
            }),
            _ => {}
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_blocks_are_skipped_and_indices_stay_dense() {
        let mut d = EventDecoder::default();
        let evs = [
            r#"{"type":"message_start","message":{"id":"msg_1","model":"m","content":[],"usage":{"input_tokens":5}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"server_tool_use","id":"s","name":"web_search"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{}"}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"citations_delta","citation":{}}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"hi"}}"#,
            r#"{"type":"content_block_stop","index":1}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}}"#,
            r#"{"type":"message_stop"}"#,
        ];
        let out: Vec<StreamEvent> = evs.iter().filter_map(|e| d.decode(e)).collect();
        let msg = crate::translate::accumulate(&out).unwrap();
        assert_eq!(msg.content, vec![ResponseBlock::Text { text: "hi".into() }]);
        assert_eq!((msg.usage.input_tokens, msg.usage.output_tokens), (5, 3));
    }

    #[test]
    fn whole_answers_keep_what_clients_can_receive() {
        let m = decode_message(
            br#"{"id":"msg_1","model":"m","content":[{"type":"redacted_thinking","data":"x"},{"type":"text","text":"a"},{"type":"tool_use","id":"t","name":"f","input":{"x":1}}],"stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":2}}"#,
        )
        .unwrap();
        assert_eq!(m.content.len(), 2);
        assert_eq!(m.stop_reason, Some(StopReason::ToolUse));
        assert!(decode_message(b"nope").is_err());
    }
}
