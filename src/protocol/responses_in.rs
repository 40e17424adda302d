//! OpenAI's Responses API as clients send it to this gateway
//! (`POST /v1/responses`), and the response objects and stream events it
//! sends back (<https://platform.openai.com/docs/api-reference/responses/create>,
//! <https://platform.openai.com/docs/api-reference/responses/object>,
//! <https://platform.openai.com/docs/api-reference/responses-streaming>).
//!
//! Inbound only: the Responses API as an *upstream* has its own types.
//! Requests are lenient (unknown fields and item types are tolerated);
//! answers carry every field the official SDKs require.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A `POST /v1/responses` body.
#[derive(Debug, Deserialize)]
pub struct ResponsesRequest {
    /// The model the client asked for.
    pub model: String,
    /// A string (one user message) or a list of items.
    #[serde(default)]
    pub input: Option<ResponsesInput>,
    /// System (developer) instructions.
    #[serde(default)]
    pub instructions: Option<String>,
    /// Declared tools, kept as sent (they are echoed in the answer).
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    /// `none`, `auto`, `required`, or `{"type":"function","name"}`.
    #[serde(default)]
    pub tool_choice: Option<Value>,
    /// `false`: at most one tool call per answer.
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    /// Output limit, reasoning included.
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    /// `{"effort", "summary"}`.
    #[serde(default)]
    pub reasoning: Option<ReasoningIn>,
    /// Answer as an event stream.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Accepted; the gateway stores nothing either way.
    #[serde(default)]
    pub store: Option<bool>,
    /// Server-side conversation state, which a stateless gateway lacks.
    #[serde(default)]
    pub previous_response_id: Option<String>,
    /// Server-side conversation state, likewise.
    #[serde(default)]
    pub conversation: Option<Value>,
    /// Run in the background (needs stored responses).
    #[serde(default)]
    pub background: Option<bool>,
    /// Sampling temperature.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Output format (`text.format`).
    #[serde(default)]
    pub text: Option<TextConfigIn>,
    /// End-user id (deprecated name).
    #[serde(default)]
    pub user: Option<String>,
    /// End-user id.
    #[serde(default)]
    pub safety_identifier: Option<String>,
    /// Key-value pairs echoed in the answer.
    #[serde(default)]
    pub metadata: Option<Value>,
}

impl ResponsesRequest {
    /// True when the client asked for a stream.
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }
}

/// `input`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ResponsesInput {
    /// One user message.
    Text(String),
    /// Items.
    Items(Vec<InputItem>),
}

/// `reasoning`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct ReasoningIn {
    /// `none`, `minimal`, `low`, `medium`, `high`, `xhigh`, `max`.
    #[serde(default)]
    pub effort: Option<String>,
    /// `auto`, `concise`, `detailed`.
    #[serde(default)]
    pub summary: Option<String>,
}

/// `text`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TextConfigIn {
    /// `{"type":"text"}`, `{"type":"json_object"}` or
    /// `{"type":"json_schema","name","schema","strict"}`.
    #[serde(default)]
    pub format: Option<Value>,
}

/// One input item, every type in one lenient shape: `message` (also
/// without `type`), `function_call`, `function_call_output`, `reasoning`,
/// `item_reference`, and types the gateway does not serve.
#[derive(Debug, Deserialize)]
pub struct InputItem {
    /// The item's type; absent on a bare `{role, content}` message.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// A message's role: `user`, `assistant`, `system`, `developer`.
    #[serde(default)]
    pub role: Option<String>,
    /// A message's content.
    #[serde(default)]
    pub content: Option<MessageContentIn>,
    /// A function call's (and its output's) call id.
    #[serde(default)]
    pub call_id: Option<String>,
    /// A function call's name.
    #[serde(default)]
    pub name: Option<String>,
    /// A function call's namespace: the `namespace` tool that groups the
    /// function (Codex groups some of its tools so).
    #[serde(default)]
    pub namespace: Option<String>,
    /// A function call's JSON argument text.
    #[serde(default)]
    pub arguments: Option<String>,
    /// A function call output: a string or a list of content parts.
    #[serde(default)]
    pub output: Option<Value>,
    /// A reasoning item's summary.
    #[serde(default)]
    pub summary: Option<Vec<SummaryIn>>,
    /// A reasoning item's opaque state, as this gateway issued it.
    #[serde(default)]
    pub encrypted_content: Option<String>,
}

/// Message content: a string or parts.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum MessageContentIn {
    /// Plain text.
    Text(String),
    /// `input_text`, `input_image`, `input_file`, `output_text`, `refusal`.
    Parts(Vec<ContentPartIn>),
}

/// One content part.
#[derive(Debug, Deserialize)]
pub struct ContentPartIn {
    /// The part's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Text of a text part.
    #[serde(default)]
    pub text: Option<String>,
    /// Text of a `refusal` part.
    #[serde(default)]
    pub refusal: Option<String>,
    /// An `input_image`'s `data:` or `http(s):` URL.
    #[serde(default)]
    pub image_url: Option<String>,
    /// An uploaded file's id (this gateway stores no files).
    #[serde(default)]
    pub file_id: Option<String>,
    /// An `input_file`'s content as a `data:` URL.
    #[serde(default)]
    pub file_data: Option<String>,
    /// An `input_file`'s URL.
    #[serde(default)]
    pub file_url: Option<String>,
    /// An `input_file`'s name.
    #[serde(default)]
    pub filename: Option<String>,
}

/// One summary part of a reasoning item.
#[derive(Debug, Clone, Deserialize)]
pub struct SummaryIn {
    /// The summary text.
    #[serde(default)]
    pub text: String,
}

// ---------------------------------------------------------------------------
// Answers

/// A `response` object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseObject {
    /// `resp_…`.
    pub id: String,
    /// Always `response`.
    pub object: &'static str,
    /// Unix seconds.
    pub created_at: u64,
    /// `in_progress`, `completed`, `incomplete` or `failed`.
    pub status: &'static str,
    /// Set when `status` is `failed`.
    pub error: Option<ResponseErrorOut>,
    /// Set when `status` is `incomplete`.
    pub incomplete_details: Option<IncompleteDetails>,
    /// The request's instructions.
    pub instructions: Option<String>,
    /// The request's limit.
    pub max_output_tokens: Option<u64>,
    /// The model the client asked for.
    pub model: String,
    /// The answer's items.
    pub output: Vec<OutputItem>,
    /// As requested (default `true`).
    pub parallel_tool_calls: bool,
    /// Always `null`: the gateway is stateless.
    pub previous_response_id: Option<String>,
    /// The request's reasoning settings.
    pub reasoning: ReasoningIn,
    /// As requested.
    pub store: bool,
    /// As requested.
    pub temperature: Option<f64>,
    /// Always `{"format":{"type":"text"}}` unless the request said otherwise.
    pub text: Value,
    /// As requested (default `auto`).
    pub tool_choice: Value,
    /// As requested.
    pub tools: Vec<Value>,
    /// As requested.
    pub top_p: Option<f64>,
    /// Always `disabled`.
    pub truncation: &'static str,
    /// Token counts (`null` until the answer is complete).
    pub usage: Option<ResponseUsageOut>,
    /// As requested.
    pub user: Option<String>,
    /// As requested.
    pub metadata: Value,
}

/// `error` of a failed response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResponseErrorOut {
    /// `server_error`, `rate_limit_exceeded`, `invalid_prompt`.
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
}

/// `incomplete_details`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncompleteDetails {
    /// `max_output_tokens` or `content_filter`.
    pub reason: &'static str,
}

/// One output item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem {
    /// Reasoning: its summary, and the thinking block the gateway needs
    /// back in `encrypted_content`.
    Reasoning {
        /// `rs_…`.
        id: String,
        /// The thinking text as one summary part (none while streaming).
        summary: Vec<SummaryOut>,
        /// The thinking block, opaque to the client.
        encrypted_content: Option<String>,
        /// `in_progress` or `completed`.
        status: &'static str,
    },
    /// Assistant text.
    Message {
        /// `msg_…`.
        id: String,
        /// `in_progress` or `completed`.
        status: &'static str,
        /// Always `assistant`.
        role: &'static str,
        /// One `output_text` part (none while streaming).
        content: Vec<OutputText>,
    },
    /// A tool call.
    FunctionCall {
        /// `fc_…`.
        id: String,
        /// The id the `function_call_output` names.
        call_id: String,
        /// Function name (inside its namespace, when it has one).
        name: String,
        /// The `namespace` tool the function belongs to, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        /// JSON text of the arguments.
        arguments: String,
        /// `in_progress` or `completed`.
        status: &'static str,
    },
}

/// A reasoning summary part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SummaryOut {
    /// Always `summary_text`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The text.
    pub text: String,
}

/// An `output_text` part.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputText {
    /// Always `output_text`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The text.
    pub text: String,
    /// Always empty.
    pub annotations: Vec<Value>,
    /// Always empty.
    pub logprobs: Vec<Value>,
}

/// `usage`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ResponseUsageOut {
    /// Input tokens, cached ones included.
    pub input_tokens: u64,
    /// Cache details.
    pub input_tokens_details: InputDetailsOut,
    /// Output tokens, reasoning included.
    pub output_tokens: u64,
    /// Reasoning details.
    pub output_tokens_details: OutputDetailsOut,
    /// Both.
    pub total_tokens: u64,
}

/// `input_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InputDetailsOut {
    /// Input tokens read from the cache.
    pub cached_tokens: u64,
}

/// `output_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OutputDetailsOut {
    /// Not reported by Anthropic-shaped usage: always 0.
    pub reasoning_tokens: u64,
}

/// One stream event, without its `sequence_number` (see [`Sequenced`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum ResponsesEvent {
    /// The response exists (`in_progress`, no output).
    #[serde(rename = "response.created")]
    Created {
        /// The response so far.
        response: Box<ResponseObject>,
    },
    /// The response is being generated.
    #[serde(rename = "response.in_progress")]
    InProgress {
        /// The response so far.
        response: Box<ResponseObject>,
    },
    /// An output item begins.
    #[serde(rename = "response.output_item.added")]
    OutputItemAdded {
        /// Its position.
        output_index: u32,
        /// Its shell.
        item: OutputItem,
    },
    /// An output item is complete.
    #[serde(rename = "response.output_item.done")]
    OutputItemDone {
        /// Its position.
        output_index: u32,
        /// The whole item.
        item: OutputItem,
    },
    /// A message's content part begins.
    #[serde(rename = "response.content_part.added")]
    ContentPartAdded {
        /// The message's id.
        item_id: String,
        /// The message's position.
        output_index: u32,
        /// The part's position.
        content_index: u32,
        /// The empty part.
        part: OutputText,
    },
    /// A message's content part is complete.
    #[serde(rename = "response.content_part.done")]
    ContentPartDone {
        /// The message's id.
        item_id: String,
        /// The message's position.
        output_index: u32,
        /// The part's position.
        content_index: u32,
        /// The whole part.
        part: OutputText,
    },
    /// More text.
    #[serde(rename = "response.output_text.delta")]
    OutputTextDelta {
        /// The message's id.
        item_id: String,
        /// The message's position.
        output_index: u32,
        /// The part's position.
        content_index: u32,
        /// The text.
        delta: String,
        /// Always empty.
        logprobs: Vec<Value>,
    },
    /// The part's whole text.
    #[serde(rename = "response.output_text.done")]
    OutputTextDone {
        /// The message's id.
        item_id: String,
        /// The message's position.
        output_index: u32,
        /// The part's position.
        content_index: u32,
        /// The text.
        text: String,
        /// Always empty.
        logprobs: Vec<Value>,
    },
    /// More of a call's argument text.
    #[serde(rename = "response.function_call_arguments.delta")]
    FunctionCallArgumentsDelta {
        /// The call item's id.
        item_id: String,
        /// Its position.
        output_index: u32,
        /// The piece of JSON.
        delta: String,
    },
    /// A call's whole argument text.
    #[serde(rename = "response.function_call_arguments.done")]
    FunctionCallArgumentsDone {
        /// The call item's id.
        item_id: String,
        /// Its position.
        output_index: u32,
        /// The JSON text.
        arguments: String,
    },
    /// A reasoning summary part begins.
    #[serde(rename = "response.reasoning_summary_part.added")]
    ReasoningSummaryPartAdded {
        /// The reasoning item's id.
        item_id: String,
        /// Its position.
        output_index: u32,
        /// Always 0.
        summary_index: u32,
        /// The empty part.
        part: SummaryOut,
    },
    /// A reasoning summary part is complete.
    #[serde(rename = "response.reasoning_summary_part.done")]
    ReasoningSummaryPartDone {
        /// The reasoning item's id.
        item_id: String,
        /// Its position.
        output_index: u32,
        /// Always 0.
        summary_index: u32,
        /// The whole part.
        part: SummaryOut,
    },
    /// More reasoning summary text.
    #[serde(rename = "response.reasoning_summary_text.delta")]
    ReasoningSummaryTextDelta {
        /// The reasoning item's id.
        item_id: String,
        /// Its position.
        output_index: u32,
        /// Always 0.
        summary_index: u32,
        /// The text.
        delta: String,
    },
    /// The summary part's whole text.
    #[serde(rename = "response.reasoning_summary_text.done")]
    ReasoningSummaryTextDone {
        /// The reasoning item's id.
        item_id: String,
        /// Its position.
        output_index: u32,
        /// Always 0.
        summary_index: u32,
        /// The text.
        text: String,
    },
    /// The response is complete.
    #[serde(rename = "response.completed")]
    Completed {
        /// The whole response.
        response: Box<ResponseObject>,
    },
    /// The response ended early (output limit, refusal).
    #[serde(rename = "response.incomplete")]
    Incomplete {
        /// The whole response.
        response: Box<ResponseObject>,
    },
    /// The response failed.
    #[serde(rename = "response.failed")]
    Failed {
        /// The response with its `error`.
        response: Box<ResponseObject>,
    },
}

impl ResponsesEvent {
    /// The event's `type`, also its SSE `event:` name.
    pub fn name(&self) -> &'static str {
        match self {
            ResponsesEvent::Created { .. } => "response.created",
            ResponsesEvent::InProgress { .. } => "response.in_progress",
            ResponsesEvent::OutputItemAdded { .. } => "response.output_item.added",
            ResponsesEvent::OutputItemDone { .. } => "response.output_item.done",
            ResponsesEvent::ContentPartAdded { .. } => "response.content_part.added",
            ResponsesEvent::ContentPartDone { .. } => "response.content_part.done",
            ResponsesEvent::OutputTextDelta { .. } => "response.output_text.delta",
            ResponsesEvent::OutputTextDone { .. } => "response.output_text.done",
            ResponsesEvent::FunctionCallArgumentsDelta { .. } => {
                "response.function_call_arguments.delta"
            }
            ResponsesEvent::FunctionCallArgumentsDone { .. } => {
                "response.function_call_arguments.done"
            }
            ResponsesEvent::ReasoningSummaryPartAdded { .. } => {
                "response.reasoning_summary_part.added"
            }
            ResponsesEvent::ReasoningSummaryPartDone { .. } => {
                "response.reasoning_summary_part.done"
            }
            ResponsesEvent::ReasoningSummaryTextDelta { .. } => {
                "response.reasoning_summary_text.delta"
            }
            ResponsesEvent::ReasoningSummaryTextDone { .. } => {
                "response.reasoning_summary_text.done"
            }
            ResponsesEvent::Completed { .. } => "response.completed",
            ResponsesEvent::Incomplete { .. } => "response.incomplete",
            ResponsesEvent::Failed { .. } => "response.failed",
        }
    }
}

/// An event with its place in the stream, as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sequenced<'a> {
    /// The event.
    #[serde(flatten)]
    pub event: &'a ResponsesEvent,
    /// 0, 1, 2, … in stream order.
    pub sequence_number: u64,
}
