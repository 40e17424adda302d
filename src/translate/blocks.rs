//! The output half of every stream translator: turns "here is some text /
//! thinking / a finished tool call" into Anthropic SSE events that keep the
//! grammar the SDKs rely on (docs/translation.md, "Stream grammar"): dense
//! indices from 0 in start
//! order, exactly one block open at a time, every start paired with a stop.
//!
//! [`accumulate`] is the inverse: it folds an event sequence into the message
//! it describes, checking that grammar on the way (used by tests and by any
//! caller that must turn a stream into one JSON response).

use crate::protocol::anthropic::{BlockStart, Delta, MessagesResponse, ResponseBlock, StreamEvent};

#[derive(Debug)]
enum Open {
    Text(u32),
    Thinking { index: u32, signature: String },
}

/// Writes content blocks as stream events, keeping the block grammar.
#[derive(Debug)]
pub struct BlockWriter {
    next_index: u32,
    open: Option<Open>,
    tool_uses: u32,
    default_signature: String,
}

impl BlockWriter {
    /// `default_signature` closes thinking blocks whose upstream gave none.
    pub fn new(default_signature: String) -> Self {
        BlockWriter {
            next_index: 0,
            open: None,
            tool_uses: 0,
            default_signature,
        }
    }

    /// Number of `tool_use` blocks emitted so far.
    pub(crate) fn tool_use_count(&self) -> u32 {
        self.tool_uses
    }

    /// Appends text, opening a text block if needed. Empty text is ignored
    /// (an empty text block is rejected by Anthropic when replayed).
    pub fn text(&mut self, out: &mut Vec<StreamEvent>, text: &str) {
        if text.is_empty() {
            return;
        }
        let index = match self.open {
            Some(Open::Text(i)) => i,
            _ => {
                self.close(out);
                let i = self.start(
                    out,
                    BlockStart::Text {
                        text: String::new(),
                    },
                );
                self.open = Some(Open::Text(i));
                i
            }
        };
        out.push(StreamEvent::ContentBlockDelta {
            index,
            delta: Delta::TextDelta {
                text: text.to_owned(),
            },
        });
    }

    /// Appends thinking text, opening a thinking block if needed.
    pub fn thinking(&mut self, out: &mut Vec<StreamEvent>, text: &str) {
        if text.is_empty() {
            return;
        }
        let index = self.open_thinking(out);
        out.push(StreamEvent::ContentBlockDelta {
            index,
            delta: Delta::ThinkingDelta {
                thinking: text.to_owned(),
            },
        });
    }

    /// Sets the signature of the open thinking block, opening an empty one
    /// when none is open (Gemini puts signatures on non-thought parts).
    pub(crate) fn thinking_signature(&mut self, out: &mut Vec<StreamEvent>, signature: String) {
        self.open_thinking(out);
        if let Some(Open::Thinking { signature: s, .. }) = &mut self.open {
            *s = signature;
        }
    }

    fn open_thinking(&mut self, out: &mut Vec<StreamEvent>) -> u32 {
        if let Some(Open::Thinking { index, .. }) = self.open {
            return index;
        }
        self.close(out);
        let index = self.start(
            out,
            BlockStart::Thinking {
                thinking: String::new(),
                signature: String::new(),
            },
        );
        self.open = Some(Open::Thinking {
            index,
            signature: self.default_signature.clone(),
        });
        index
    }

    /// Emits a complete `tool_use` block. `input_json` must be the text of a
    /// JSON object (see [`super::tool_args`]).
    pub fn tool_use(
        &mut self,
        out: &mut Vec<StreamEvent>,
        id: String,
        name: String,
        input_json: String,
    ) {
        self.close(out);
        let index = self.start(
            out,
            BlockStart::ToolUse {
                id,
                name,
                input: serde_json::Map::new(),
            },
        );
        out.push(StreamEvent::ContentBlockDelta {
            index,
            delta: Delta::InputJsonDelta {
                partial_json: input_json,
            },
        });
        out.push(StreamEvent::ContentBlockStop { index });
        self.tool_uses += 1;
    }

    /// Closes the open block, if any.
    pub fn close(&mut self, out: &mut Vec<StreamEvent>) {
        match self.open.take() {
            None => {}
            Some(Open::Text(index)) => out.push(StreamEvent::ContentBlockStop { index }),
            Some(Open::Thinking { index, signature }) => {
                out.push(StreamEvent::ContentBlockDelta {
                    index,
                    delta: Delta::SignatureDelta { signature },
                });
                out.push(StreamEvent::ContentBlockStop { index });
            }
        }
    }

    fn start(&mut self, out: &mut Vec<StreamEvent>, block: BlockStart) -> u32 {
        let index = self.next_index;
        self.next_index += 1;
        out.push(StreamEvent::ContentBlockStart {
            index,
            content_block: block,
        });
        index
    }
}

#[derive(Debug)]
enum Partial {
    Text(String),
    Thinking {
        thinking: String,
        signature: String,
    },
    ToolUse {
        id: String,
        name: String,
        json: String,
    },
}

/// Folds a complete event sequence into the message it describes, checking
/// the grammar the official SDKs enforce. `Err` describes the first violation
/// or an `error` event.
pub fn accumulate(events: &[StreamEvent]) -> Result<MessagesResponse, String> {
    fold(events.iter().cloned())
}

/// [`accumulate`] for events the caller no longer needs: their strings move
/// into the message instead of being copied.
pub(crate) fn accumulate_owned(events: Vec<StreamEvent>) -> Result<MessagesResponse, String> {
    fold(events.into_iter())
}

/// `to += piece`, moving `piece` in when `to` is still empty.
fn append(to: &mut String, piece: String) {
    if to.is_empty() {
        *to = piece;
    } else {
        to.push_str(&piece);
    }
}

fn fold(events: impl Iterator<Item = StreamEvent>) -> Result<MessagesResponse, String> {
    let mut message: Option<MessagesResponse> = None;
    let mut blocks: Vec<Partial> = Vec::new();
    let mut open: Option<u32> = None;
    let mut saw_delta = false;
    let mut stopped = false;
    for (n, ev) in events.enumerate() {
        if stopped {
            return Err(format!("event {n} after message_stop"));
        }
        if message.is_none() && !matches!(ev, StreamEvent::MessageStart { .. } | StreamEvent::Ping)
        {
            return Err(format!("event {n} ({}) before message_start", ev.name()));
        }
        match ev {
            StreamEvent::MessageStart { message: m } => {
                if message.is_some() {
                    return Err("second message_start".into());
                }
                if !m.content.is_empty() || m.stop_reason.is_some() {
                    return Err("message_start must have empty content and null stop_reason".into());
                }
                message = Some(m);
            }
            StreamEvent::ContentBlockStart {
                index,
                content_block,
            } => {
                if saw_delta {
                    return Err("content_block_start after message_delta".into());
                }
                if let Some(o) = open {
                    return Err(format!("block {index} started while block {o} is open"));
                }
                if index as usize != blocks.len() {
                    return Err(format!("block index {index}, expected {}", blocks.len()));
                }
                blocks.push(match content_block {
                    BlockStart::Text { text } => Partial::Text(text),
                    BlockStart::Thinking {
                        thinking,
                        signature,
                    } => Partial::Thinking {
                        thinking,
                        signature,
                    },
                    BlockStart::ToolUse { id, name, .. } => Partial::ToolUse {
                        id,
                        name,
                        json: String::new(),
                    },
                });
                open = Some(index);
            }
            StreamEvent::ContentBlockDelta { index, delta } => {
                if open != Some(index) {
                    return Err(format!("delta for block {index} which is not open"));
                }
                let block = blocks
                    .get_mut(index as usize)
                    .ok_or_else(|| format!("delta for unknown block {index}"))?;
                match (block, delta) {
                    (Partial::Text(t), Delta::TextDelta { text }) => append(t, text),
                    (Partial::Thinking { thinking, .. }, Delta::ThinkingDelta { thinking: d }) => {
                        append(thinking, d)
                    }
                    (
                        Partial::Thinking { signature, .. },
                        Delta::SignatureDelta { signature: s },
                    ) => *signature = s,
                    (Partial::ToolUse { json, .. }, Delta::InputJsonDelta { partial_json }) => {
                        append(json, partial_json)
                    }
                    (b, d) => return Err(format!("delta {d:?} does not match block {b:?}")),
                }
            }
            StreamEvent::ContentBlockStop { index } => {
                if open != Some(index) {
                    return Err(format!("stop for block {index} which is not open"));
                }
                open = None;
            }
            StreamEvent::MessageDelta { delta, usage } => {
                if let Some(o) = open {
                    return Err(format!("message_delta while block {o} is open"));
                }
                if saw_delta {
                    return Err("second message_delta".into());
                }
                saw_delta = true;
                if let Some(m) = message.as_mut() {
                    m.stop_reason = delta.stop_reason;
                    m.stop_sequence = delta.stop_sequence;
                    m.usage = usage;
                }
            }
            StreamEvent::MessageStop => {
                if !saw_delta {
                    return Err("message_stop without message_delta".into());
                }
                stopped = true;
            }
            StreamEvent::Ping => {}
            StreamEvent::Error { error } => {
                return Err(format!("error event: {}: {}", error.kind, error.message));
            }
        }
    }
    if !stopped {
        return Err("stream ended without message_stop".into());
    }
    let mut message = message.ok_or("no message_start")?;
    for b in blocks {
        message.content.push(match b {
            Partial::Text(text) => {
                if text.is_empty() {
                    return Err("empty text block".into());
                }
                ResponseBlock::Text { text }
            }
            Partial::Thinking {
                thinking,
                signature,
            } => ResponseBlock::Thinking {
                thinking,
                signature,
            },
            Partial::ToolUse { id, name, json } => {
                let input: serde_json::Value = if json.is_empty() {
                    serde_json::Value::Object(Default::default())
                } else {
                    serde_json::from_str(&json).map_err(|e| format!("tool input {json:?}: {e}"))?
                };
                if !input.is_object() {
                    return Err(format!("tool input is not an object: {json}"));
                }
                ResponseBlock::ToolUse { id, name, input }
            }
        });
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::anthropic::{MessageDeltaBody, StopReason, Usage};

    fn start() -> StreamEvent {
        StreamEvent::MessageStart {
            message: MessagesResponse::new("msg_1".into(), "m".into()),
        }
    }

    fn end(out: &mut Vec<StreamEvent>) {
        out.push(StreamEvent::MessageDelta {
            delta: MessageDeltaBody {
                stop_reason: Some(StopReason::EndTurn),
                stop_sequence: None,
            },
            usage: Usage::default(),
        });
        out.push(StreamEvent::MessageStop);
    }

    #[test]
    fn writer_keeps_one_block_open_and_dense_indices() {
        let mut w = BlockWriter::new("sig".into());
        let mut out = vec![start()];
        w.thinking(&mut out, "hmm");
        w.text(&mut out, "");
        w.text(&mut out, "Hel");
        w.text(&mut out, "lo");
        w.tool_use(
            &mut out,
            "toolu_1".into(),
            "Read".into(),
            r#"{"a":1}"#.into(),
        );
        w.thinking_signature(&mut out, "gem".into());
        w.close(&mut out);
        end(&mut out);
        let msg = accumulate(&out).unwrap();
        assert_eq!(
            msg.content,
            vec![
                ResponseBlock::Thinking {
                    thinking: "hmm".into(),
                    signature: "sig".into()
                },
                ResponseBlock::Text {
                    text: "Hello".into()
                },
                ResponseBlock::ToolUse {
                    id: "toolu_1".into(),
                    name: "Read".into(),
                    input: serde_json::json!({"a":1})
                },
                ResponseBlock::Thinking {
                    thinking: "".into(),
                    signature: "gem".into()
                },
            ]
        );
        assert_eq!(w.tool_use_count(), 1);
    }

    #[test]
    fn accumulate_rejects_grammar_violations() {
        let ev = |i| StreamEvent::ContentBlockStart {
            index: i,
            content_block: BlockStart::Text {
                text: String::new(),
            },
        };
        assert!(accumulate(&[ev(0)]).is_err());
        assert!(accumulate(&[start(), ev(1)]).is_err());
        assert!(accumulate(&[start(), ev(0), ev(1)]).is_err());
        let mut ok = vec![start()];
        end(&mut ok);
        assert!(accumulate(&ok).is_ok());
        ok.push(StreamEvent::Ping);
        assert!(accumulate(&ok).is_err());
    }
}
