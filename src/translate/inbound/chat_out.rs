//! An Anthropic answer as a `chat.completion`, and Anthropic stream events
//! as `chat.completion.chunk`s (docs/openai-inbound.md, "Chat Completions").
//!
//! Thinking becomes `reasoning_content` on the message and on deltas (the
//! field DeepSeek introduced and many clients read); it cannot be sent
//! back through Chat Completions, so it does not survive into the next
//! turn.

use std::collections::HashMap;

use bytes::{BufMut, BytesMut};
use serde_json::Value;

use super::{stream_error, OutContext};
use crate::error::ErrorKind;
use crate::protocol::anthropic::{
    BlockStart, Delta, MessagesResponse, ResponseBlock, StopReason, StreamEvent, Usage,
};
use crate::protocol::chat_in::{
    ChatChoice, ChatChunk, ChatCompletion, ChatOutFunction, ChatOutMessage, ChatOutToolCall,
    ChatUsageOut, ChunkChoiceOut, ChunkDeltaOut, ChunkFunctionOut, ChunkToolCallOut,
    PromptDetailsOut,
};

/// `finish_reason` for an Anthropic stop reason.
pub(crate) fn finish_reason(stop: Option<StopReason>) -> &'static str {
    match stop {
        Some(StopReason::MaxTokens | StopReason::ModelContextWindowExceeded) => "length",
        Some(StopReason::ToolUse) => "tool_calls",
        Some(StopReason::Refusal) => "content_filter",
        _ => "stop",
    }
}

/// OpenAI usage: `prompt_tokens` includes the cached tokens Anthropic
/// counts apart.
pub(crate) fn usage(u: &Usage) -> ChatUsageOut {
    let prompt = u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens;
    ChatUsageOut {
        prompt_tokens: prompt,
        completion_tokens: u.output_tokens,
        total_tokens: prompt + u.output_tokens,
        prompt_tokens_details: PromptDetailsOut {
            cached_tokens: u.cache_read_input_tokens,
        },
    }
}

/// The `chat.completion` for a whole Anthropic answer.
pub(crate) fn completion(msg: &MessagesResponse, ctx: &OutContext) -> ChatCompletion {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for b in &msg.content {
        match b {
            ResponseBlock::Text { text: t } => text.push_str(t),
            ResponseBlock::Thinking { thinking, .. } => reasoning.push_str(thinking),
            ResponseBlock::ToolUse { id, name, input } => calls.push(ChatOutToolCall {
                id: id.clone(),
                kind: "function",
                function: ChatOutFunction {
                    name: name.clone(),
                    arguments: input.to_string(),
                },
            }),
        }
    }
    ChatCompletion {
        id: format!("chatcmpl-{}", ctx.id),
        object: "chat.completion",
        created: ctx.created,
        model: ctx.model.clone(),
        choices: vec![ChatChoice {
            index: 0,
            message: ChatOutMessage {
                role: "assistant",
                content: (!text.is_empty() || calls.is_empty()).then_some(text),
                reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
                refusal: None,
                tool_calls: (!calls.is_empty()).then_some(calls),
            },
            logprobs: None,
            finish_reason: finish_reason(msg.stop_reason),
        }],
        usage: usage(&msg.usage),
        system_fingerprint: None,
    }
}

/// One thing to write to the client's stream.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ChatSse {
    /// `data: <chunk>`.
    Chunk(Box<ChatChunk>),
    /// `data: {"error": …}`: the stream failed; nothing follows.
    Error(Value),
    /// `data: [DONE]`.
    Done,
    /// `: ping`, a comment every SSE client skips.
    Ping,
}

/// Anthropic events → chunks, one answer's worth.
#[derive(Debug)]
pub(crate) struct ChatStream {
    ctx: OutContext,
    include_usage: bool,
    started: bool,
    done: bool,
    /// Anthropic block index → tool-call index, for tool blocks.
    tools: HashMap<u32, u32>,
    next_tool: u32,
    finish: Option<StopReason>,
    usage: Usage,
}

impl ChatStream {
    /// A translator for the answer `ctx` describes; `include_usage` is the
    /// client's `stream_options.include_usage`.
    pub(crate) fn new(ctx: OutContext, include_usage: bool) -> Self {
        ChatStream {
            ctx,
            include_usage,
            started: false,
            done: false,
            tools: HashMap::new(),
            next_tool: 0,
            finish: None,
            usage: Usage::default(),
        }
    }

    /// True once the stream ended (`[DONE]` or an error).
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    fn chunk(&self, delta: ChunkDeltaOut, finish: Option<&'static str>) -> ChatSse {
        ChatSse::Chunk(Box::new(ChatChunk {
            id: format!("chatcmpl-{}", self.ctx.id),
            object: "chat.completion.chunk",
            created: self.ctx.created,
            model: self.ctx.model.clone(),
            choices: vec![ChunkChoiceOut {
                index: 0,
                delta,
                logprobs: None,
                finish_reason: finish,
            }],
            usage: self.include_usage.then_some(None),
            system_fingerprint: None,
        }))
    }

    fn start(&mut self, out: &mut Vec<ChatSse>) {
        if !self.started {
            self.started = true;
            out.push(self.chunk(
                ChunkDeltaOut {
                    role: Some("assistant"),
                    content: Some(String::new()),
                    ..ChunkDeltaOut::default()
                },
                None,
            ));
        }
    }

    /// Translates one Anthropic event.
    pub(crate) fn push(&mut self, ev: &StreamEvent, out: &mut Vec<ChatSse>) {
        if self.done {
            return;
        }
        match ev {
            StreamEvent::MessageStart { .. } => self.start(out),
            StreamEvent::ContentBlockStart {
                index,
                content_block: BlockStart::ToolUse { id, name, .. },
            } => {
                self.start(out);
                let n = self.next_tool;
                self.next_tool += 1;
                self.tools.insert(*index, n);
                out.push(self.tool_chunk(n, Some((id.clone(), name.clone())), String::new()));
            }
            StreamEvent::ContentBlockDelta { index, delta } => {
                self.start(out);
                match delta {
                    Delta::TextDelta { text } if !text.is_empty() => out.push(self.chunk(
                        ChunkDeltaOut {
                            content: Some(text.clone()),
                            ..ChunkDeltaOut::default()
                        },
                        None,
                    )),
                    Delta::ThinkingDelta { thinking } if !thinking.is_empty() => {
                        out.push(self.chunk(
                            ChunkDeltaOut {
                                reasoning_content: Some(thinking.clone()),
                                ..ChunkDeltaOut::default()
                            },
                            None,
                        ))
                    }
                    Delta::InputJsonDelta { partial_json } if !partial_json.is_empty() => {
                        if let Some(&n) = self.tools.get(index) {
                            out.push(self.tool_chunk(n, None, partial_json.clone()));
                        }
                    }
                    _ => {}
                }
            }
            StreamEvent::MessageDelta { delta, usage } => {
                self.finish = delta.stop_reason;
                self.usage = usage.clone();
            }
            StreamEvent::MessageStop => {
                self.start(out);
                out.push(self.chunk(ChunkDeltaOut::default(), Some(finish_reason(self.finish))));
                if self.include_usage {
                    out.push(ChatSse::Chunk(Box::new(ChatChunk {
                        id: format!("chatcmpl-{}", self.ctx.id),
                        object: "chat.completion.chunk",
                        created: self.ctx.created,
                        model: self.ctx.model.clone(),
                        choices: Vec::new(),
                        usage: Some(Some(usage(&self.usage))),
                        system_fingerprint: None,
                    })));
                }
                out.push(ChatSse::Done);
                self.done = true;
            }
            StreamEvent::Error { error } => {
                let kind = ErrorKind::from_name(&error.kind).unwrap_or(ErrorKind::Api);
                self.fail(kind, &error.message, out);
            }
            StreamEvent::Ping => out.push(ChatSse::Ping),
            StreamEvent::ContentBlockStart { .. } | StreamEvent::ContentBlockStop { .. } => {}
        }
    }

    fn tool_chunk(&self, n: u32, head: Option<(String, String)>, arguments: String) -> ChatSse {
        let (id, name) = match head {
            Some((id, name)) => (Some(id), Some(name)),
            None => (None, None),
        };
        let kind = id.is_some().then_some("function");
        self.chunk(
            ChunkDeltaOut {
                tool_calls: Some(vec![ChunkToolCallOut {
                    index: n,
                    id,
                    kind,
                    function: ChunkFunctionOut { name, arguments },
                }]),
                ..ChunkDeltaOut::default()
            },
            None,
        )
    }

    /// Ends the stream with an error.
    pub(crate) fn fail(&mut self, kind: ErrorKind, message: &str, out: &mut Vec<ChatSse>) {
        if !self.done {
            self.done = true;
            out.push(ChatSse::Error(
                serde_json::json!({"error": stream_error(kind, message)}),
            ));
        }
    }

    /// The Anthropic stream ended; without `message_stop` that is a failure.
    pub(crate) fn finish(&mut self, out: &mut Vec<ChatSse>) {
        self.fail(
            ErrorKind::Api,
            "the upstream stream ended before the answer was complete",
            out,
        );
    }
}

/// Writes `items` as SSE bytes.
pub(crate) fn encode(items: &[ChatSse], buf: &mut BytesMut) {
    for item in items {
        match item {
            ChatSse::Chunk(c) => data_line(buf, c.as_ref()),
            ChatSse::Error(v) => data_line(buf, v),
            ChatSse::Done => buf.put_slice(b"data: [DONE]\n\n"),
            ChatSse::Ping => buf.put_slice(b": ping\n\n"),
        }
    }
}

fn data_line<T: serde::Serialize>(buf: &mut BytesMut, v: &T) {
    buf.put_slice(b"data: ");
    let mut w = buf.writer();
    if serde_json::to_writer(&mut w, v).is_err() {
        // Serialising these types cannot fail; keep the frame well-formed.
        w.get_mut().put_slice(b"{}");
    }
    w.into_inner().put_slice(b"\n\n");
}
