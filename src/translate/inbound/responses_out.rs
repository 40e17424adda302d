//! An Anthropic answer as a Responses `response` object, and Anthropic
//! stream events as Responses stream events (docs/openai-inbound.md,
//! "Responses").
//!
//! Each content block becomes one output item at the same position:
//! thinking → `reasoning` (summary text, and the block itself in
//! `encrypted_content`), text → `message`, tool use → `function_call`.
//! Item ids derive from the response id and the position, so the stream's
//! items and the final object's agree. The stream folds its events into a
//! `MessagesResponse` and builds `response.completed` with the very
//! function the non-stream answer uses.

use bytes::{BufMut, BytesMut};
use serde_json::{json, Value};

use super::responses::{encode_reasoning, namespaced_name};
use super::OutContext;
use crate::error::ErrorKind;
use crate::protocol::anthropic::{
    BlockStart, Delta, MessagesResponse, ResponseBlock, StopReason, StreamEvent,
};
use crate::protocol::responses_in::{
    IncompleteDetails, InputDetailsOut, OutputDetailsOut, OutputItem, OutputText, ReasoningIn,
    ResponseErrorOut, ResponseObject, ResponseUsageOut, ResponsesEvent, ResponsesRequest,
    Sequenced, SummaryOut,
};

/// What the response object echoes from the request.
#[derive(Debug, Clone)]
pub(crate) struct Echo {
    pub instructions: Option<String>,
    pub max_output_tokens: Option<u64>,
    pub parallel_tool_calls: bool,
    pub reasoning: ReasoningIn,
    pub store: bool,
    pub temperature: Option<f64>,
    pub text: Value,
    pub tool_choice: Value,
    pub tools: Vec<Value>,
    pub top_p: Option<f64>,
    pub user: Option<String>,
    pub metadata: Value,
    /// The functions of the request's `namespace` tools: (the name
    /// upstreams know them by, namespace, name).
    pub namespaced: Vec<(String, String, String)>,
}

impl Echo {
    /// What `req` asked for, with the API's defaults.
    pub(crate) fn of(req: &ResponsesRequest) -> Self {
        Echo {
            instructions: req.instructions.clone(),
            max_output_tokens: req.max_output_tokens,
            parallel_tool_calls: req.parallel_tool_calls.unwrap_or(true),
            reasoning: req.reasoning.clone().unwrap_or_default(),
            store: req.store.unwrap_or(true),
            temperature: req.temperature,
            text: match req.text.as_ref().and_then(|t| t.format.clone()) {
                Some(f) => json!({"format": f}),
                None => json!({"format": {"type": "text"}}),
            },
            tool_choice: req.tool_choice.clone().unwrap_or_else(|| json!("auto")),
            tools: req.tools.clone().unwrap_or_default(),
            top_p: req.top_p,
            user: req.user.clone(),
            metadata: req.metadata.clone().unwrap_or_else(|| json!({})),
            namespaced: namespaced_functions(req.tools.as_deref().unwrap_or_default()),
        }
    }

    /// A called tool's namespace and name in the client's terms: the
    /// function of a namespace under its own name, anything else as it is.
    fn call_name(&self, tool: &str) -> (Option<String>, String) {
        self.namespaced
            .iter()
            .find(|(upstream, _, _)| upstream == tool)
            .map_or((None, tool.to_owned()), |(_, ns, name)| {
                (Some(ns.clone()), name.clone())
            })
    }
}

/// Every function inside a `namespace` tool of `tools`, with the name the
/// request translation gave it.
fn namespaced_functions(tools: &[Value]) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for t in tools.iter().filter(|t| t["type"] == "namespace") {
        let ns = t["name"].as_str().unwrap_or_default();
        for inner in t["tools"].as_array().into_iter().flatten() {
            if let Some(name) = inner["name"]
                .as_str()
                .filter(|_| inner["type"] == "function")
            {
                out.push((namespaced_name(ns, name), ns.to_owned(), name.to_owned()));
            }
        }
    }
    out
}

fn item_id(prefix: &str, ctx: &OutContext, index: u32) -> String {
    format!("{prefix}_{}{index:02}", ctx.id)
}

fn text_part(text: String) -> OutputText {
    OutputText {
        kind: "output_text",
        text,
        annotations: Vec::new(),
        logprobs: Vec::new(),
    }
}

fn summary(text: String) -> SummaryOut {
    SummaryOut {
        kind: "summary_text",
        text,
    }
}

/// The output item block `index` of an answer becomes.
fn item(block: &ResponseBlock, index: u32, ctx: &OutContext, echo: &Echo) -> OutputItem {
    match block {
        ResponseBlock::Thinking {
            thinking,
            signature,
        } => OutputItem::Reasoning {
            id: item_id("rs", ctx, index),
            summary: if thinking.is_empty() {
                Vec::new()
            } else {
                vec![summary(thinking.clone())]
            },
            encrypted_content: Some(encode_reasoning(thinking, signature)),
            status: "completed",
        },
        ResponseBlock::Text { text } => OutputItem::Message {
            id: item_id("msg", ctx, index),
            status: "completed",
            role: "assistant",
            content: vec![text_part(text.clone())],
        },
        ResponseBlock::ToolUse { id, name, input } => {
            let (namespace, name) = echo.call_name(name);
            OutputItem::FunctionCall {
                id: item_id("fc", ctx, index),
                call_id: id.clone(),
                name,
                namespace,
                arguments: input.to_string(),
                status: "completed",
            }
        }
    }
}

/// The response object in a given state.
fn object(
    ctx: &OutContext,
    echo: &Echo,
    status: &'static str,
    output: Vec<OutputItem>,
) -> ResponseObject {
    ResponseObject {
        id: format!("resp_{}", ctx.id),
        object: "response",
        created_at: ctx.created,
        status,
        error: None,
        incomplete_details: None,
        instructions: echo.instructions.clone(),
        max_output_tokens: echo.max_output_tokens,
        model: ctx.model.clone(),
        output,
        parallel_tool_calls: echo.parallel_tool_calls,
        previous_response_id: None,
        reasoning: echo.reasoning.clone(),
        store: echo.store,
        temperature: echo.temperature,
        text: echo.text.clone(),
        tool_choice: echo.tool_choice.clone(),
        tools: echo.tools.clone(),
        top_p: echo.top_p,
        truncation: "disabled",
        usage: None,
        user: echo.user.clone(),
        metadata: echo.metadata.clone(),
    }
}

/// The `response` object for a whole Anthropic answer.
pub(crate) fn response(msg: &MessagesResponse, ctx: &OutContext, echo: &Echo) -> ResponseObject {
    let output = msg
        .content
        .iter()
        .enumerate()
        .map(|(i, b)| item(b, i as u32, ctx, echo))
        .collect();
    let incomplete = match msg.stop_reason {
        Some(StopReason::MaxTokens | StopReason::ModelContextWindowExceeded) => {
            Some("max_output_tokens")
        }
        Some(StopReason::Refusal) => Some("content_filter"),
        _ => None,
    };
    let mut r = object(
        ctx,
        echo,
        if incomplete.is_some() {
            "incomplete"
        } else {
            "completed"
        },
        output,
    );
    r.incomplete_details = incomplete.map(|reason| IncompleteDetails { reason });
    let u = &msg.usage;
    let input = u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens;
    r.usage = Some(ResponseUsageOut {
        input_tokens: input,
        input_tokens_details: InputDetailsOut {
            cached_tokens: u.cache_read_input_tokens,
        },
        output_tokens: u.output_tokens,
        output_tokens_details: OutputDetailsOut::default(),
        total_tokens: input + u.output_tokens,
    });
    r
}

/// The block being streamed.
#[derive(Debug)]
enum Open {
    Text {
        text: String,
    },
    Thinking {
        text: String,
        signature: String,
        part: bool,
    },
    Tool {
        id: String,
        name: String,
        args: String,
    },
}

/// Anthropic events → Responses events, one answer's worth.
#[derive(Debug)]
pub(crate) struct ResponsesStream {
    ctx: OutContext,
    echo: Echo,
    /// The answer so far, folded from the events.
    msg: MessagesResponse,
    open: Option<Open>,
    started: bool,
    done: bool,
}

impl ResponsesStream {
    /// A translator for the answer `ctx` describes.
    pub(crate) fn new(ctx: OutContext, echo: Echo) -> Self {
        let msg = MessagesResponse::new(String::new(), ctx.model.clone());
        ResponsesStream {
            ctx,
            echo,
            msg,
            open: None,
            started: false,
            done: false,
        }
    }

    /// True once the stream ended.
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    fn index(&self) -> u32 {
        self.msg.content.len() as u32
    }

    fn start(&mut self, out: &mut Vec<ResponsesEvent>) {
        if !self.started {
            self.started = true;
            let r = Box::new(object(&self.ctx, &self.echo, "in_progress", Vec::new()));
            out.push(ResponsesEvent::Created {
                response: r.clone(),
            });
            out.push(ResponsesEvent::InProgress { response: r });
        }
    }

    /// Translates one Anthropic event.
    pub(crate) fn push(&mut self, ev: &StreamEvent, out: &mut Vec<ResponsesEvent>) {
        if self.done {
            return;
        }
        match ev {
            StreamEvent::MessageStart { .. } => self.start(out),
            StreamEvent::ContentBlockStart { content_block, .. } => {
                self.start(out);
                self.close(out);
                self.open_block(content_block, out);
            }
            StreamEvent::ContentBlockDelta { delta, .. } => self.delta(delta, out),
            StreamEvent::ContentBlockStop { .. } => self.close(out),
            StreamEvent::MessageDelta { delta, usage } => {
                self.msg.stop_reason = delta.stop_reason;
                self.msg.stop_sequence = delta.stop_sequence.clone();
                self.msg.usage = usage.clone();
            }
            StreamEvent::MessageStop => {
                self.start(out);
                self.close(out);
                let r = Box::new(response(&self.msg, &self.ctx, &self.echo));
                out.push(if r.status == "incomplete" {
                    ResponsesEvent::Incomplete { response: r }
                } else {
                    ResponsesEvent::Completed { response: r }
                });
                self.done = true;
            }
            StreamEvent::Error { error } => {
                let kind = ErrorKind::from_name(&error.kind).unwrap_or(ErrorKind::Api);
                self.fail(kind, &error.message, out);
            }
            StreamEvent::Ping => {}
        }
    }

    fn open_block(&mut self, block: &BlockStart, out: &mut Vec<ResponsesEvent>) {
        let index = self.index();
        let (open, item) = match block {
            BlockStart::Text { .. } => (
                Open::Text {
                    text: String::new(),
                },
                OutputItem::Message {
                    id: item_id("msg", &self.ctx, index),
                    status: "in_progress",
                    role: "assistant",
                    content: Vec::new(),
                },
            ),
            BlockStart::Thinking { .. } => (
                Open::Thinking {
                    text: String::new(),
                    signature: String::new(),
                    part: false,
                },
                OutputItem::Reasoning {
                    id: item_id("rs", &self.ctx, index),
                    summary: Vec::new(),
                    encrypted_content: None,
                    status: "in_progress",
                },
            ),
            BlockStart::ToolUse { id, name, .. } => (
                Open::Tool {
                    id: id.clone(),
                    name: name.clone(),
                    args: String::new(),
                },
                {
                    let (namespace, name) = self.echo.call_name(name);
                    OutputItem::FunctionCall {
                        id: item_id("fc", &self.ctx, index),
                        call_id: id.clone(),
                        name,
                        namespace,
                        arguments: String::new(),
                        status: "in_progress",
                    }
                },
            ),
        };
        out.push(ResponsesEvent::OutputItemAdded {
            output_index: index,
            item,
        });
        if matches!(open, Open::Text { .. }) {
            out.push(ResponsesEvent::ContentPartAdded {
                item_id: item_id("msg", &self.ctx, index),
                output_index: index,
                content_index: 0,
                part: text_part(String::new()),
            });
        }
        self.open = Some(open);
    }

    fn delta(&mut self, delta: &Delta, out: &mut Vec<ResponsesEvent>) {
        let index = self.index();
        match (self.open.as_mut(), delta) {
            (Some(Open::Text { text }), Delta::TextDelta { text: d }) if !d.is_empty() => {
                text.push_str(d);
                out.push(ResponsesEvent::OutputTextDelta {
                    item_id: item_id("msg", &self.ctx, index),
                    output_index: index,
                    content_index: 0,
                    delta: d.clone(),
                    logprobs: Vec::new(),
                });
            }
            (Some(Open::Thinking { text, part, .. }), Delta::ThinkingDelta { thinking: d })
                if !d.is_empty() =>
            {
                let item_id = item_id("rs", &self.ctx, index);
                if !*part {
                    *part = true;
                    out.push(ResponsesEvent::ReasoningSummaryPartAdded {
                        item_id: item_id.clone(),
                        output_index: index,
                        summary_index: 0,
                        part: summary(String::new()),
                    });
                }
                text.push_str(d);
                out.push(ResponsesEvent::ReasoningSummaryTextDelta {
                    item_id,
                    output_index: index,
                    summary_index: 0,
                    delta: d.clone(),
                });
            }
            (Some(Open::Thinking { signature, .. }), Delta::SignatureDelta { signature: s }) => {
                signature.push_str(s);
            }
            (Some(Open::Tool { args, .. }), Delta::InputJsonDelta { partial_json })
                if !partial_json.is_empty() =>
            {
                args.push_str(partial_json);
                out.push(ResponsesEvent::FunctionCallArgumentsDelta {
                    item_id: item_id("fc", &self.ctx, index),
                    output_index: index,
                    delta: partial_json.clone(),
                });
            }
            _ => {}
        }
    }

    /// Ends the open block: its done events, and the block in the answer.
    fn close(&mut self, out: &mut Vec<ResponsesEvent>) {
        let Some(open) = self.open.take() else {
            return;
        };
        let index = self.index();
        let block = match open {
            Open::Text { text } => {
                let id = item_id("msg", &self.ctx, index);
                out.push(ResponsesEvent::OutputTextDone {
                    item_id: id.clone(),
                    output_index: index,
                    content_index: 0,
                    text: text.clone(),
                    logprobs: Vec::new(),
                });
                out.push(ResponsesEvent::ContentPartDone {
                    item_id: id,
                    output_index: index,
                    content_index: 0,
                    part: text_part(text.clone()),
                });
                ResponseBlock::Text { text }
            }
            Open::Thinking {
                text,
                signature,
                part,
            } => {
                if part {
                    let id = item_id("rs", &self.ctx, index);
                    out.push(ResponsesEvent::ReasoningSummaryTextDone {
                        item_id: id.clone(),
                        output_index: index,
                        summary_index: 0,
                        text: text.clone(),
                    });
                    out.push(ResponsesEvent::ReasoningSummaryPartDone {
                        item_id: id,
                        output_index: index,
                        summary_index: 0,
                        part: summary(text.clone()),
                    });
                }
                ResponseBlock::Thinking {
                    thinking: text,
                    signature,
                }
            }
            Open::Tool { id, name, args } => {
                let input = match serde_json::from_str::<Value>(&args) {
                    Ok(v @ Value::Object(_)) => v,
                    _ if args.trim().is_empty() => json!({}),
                    _ => serde_json::from_str(
                        &crate::translate::tool_args::normalize_tool_arguments(&args),
                    )
                    .unwrap_or_else(|_| json!({})),
                };
                out.push(ResponsesEvent::FunctionCallArgumentsDone {
                    item_id: item_id("fc", &self.ctx, index),
                    output_index: index,
                    arguments: input.to_string(),
                });
                ResponseBlock::ToolUse { id, name, input }
            }
        };
        out.push(ResponsesEvent::OutputItemDone {
            output_index: index,
            item: item(&block, index, &self.ctx, &self.echo),
        });
        self.msg.content.push(block);
    }

    /// Ends the stream with `response.failed`.
    pub(crate) fn fail(&mut self, kind: ErrorKind, message: &str, out: &mut Vec<ResponsesEvent>) {
        if self.done {
            return;
        }
        self.start(out);
        self.done = true;
        let output = self
            .msg
            .content
            .iter()
            .enumerate()
            .map(|(i, b)| item(b, i as u32, &self.ctx, &self.echo))
            .collect();
        let mut r = object(&self.ctx, &self.echo, "failed", output);
        r.error = Some(ResponseErrorOut {
            code: match kind {
                ErrorKind::RateLimit => "rate_limit_exceeded",
                ErrorKind::InvalidRequest | ErrorKind::RequestTooLarge => "invalid_prompt",
                _ => "server_error",
            },
            message: message.to_owned(),
        });
        out.push(ResponsesEvent::Failed {
            response: Box::new(r),
        });
    }

    /// The Anthropic stream ended; without `message_stop` that is a failure.
    pub(crate) fn finish(&mut self, out: &mut Vec<ResponsesEvent>) {
        self.fail(
            ErrorKind::Api,
            "the upstream stream ended before the answer was complete",
            out,
        );
    }
}

/// Writes `events` as SSE (`event:` and `data:` lines), numbering them on
/// from `*seq`.
pub(crate) fn encode(events: &[ResponsesEvent], seq: &mut u64, buf: &mut BytesMut) {
    for ev in events {
        buf.put_slice(b"event: ");
        buf.put_slice(ev.name().as_bytes());
        buf.put_slice(b"\ndata: ");
        let mut w = buf.writer();
        let framed = Sequenced {
            event: ev,
            sequence_number: *seq,
        };
        if serde_json::to_writer(&mut w, &framed).is_err() {
            w.get_mut().put_slice(b"{}");
        }
        w.into_inner().put_slice(b"\n\n");
        *seq += 1;
    }
}
