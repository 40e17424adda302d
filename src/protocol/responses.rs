//! OpenAI Responses API wire types
//! (<https://platform.openai.com/docs/api-reference/responses>).
//!
//! The request borrows from the inbound Anthropic request so that nothing
//! is copied on the way out (serialise only). The answer side — the
//! response object, its output items and the stream events — is owned and
//! lenient, and derives both directions so that a server speaking this
//! protocol can write it too. Output items are kept as raw JSON where they
//! must travel on unchanged: a reasoning item goes back to the upstream on
//! the next turn exactly as it came.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use super::anthropic::JsonText;
use super::text::Text;

// ---------------------------------------------------------------------------
// Request

/// A `POST /responses` body.
#[derive(Debug, Serialize)]
pub struct ResponsesRequest<'a> {
    /// Upstream model id.
    pub model: &'a str,
    /// System (developer) instructions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<Text<'a>>,
    /// The conversation as input items.
    pub input: Vec<InputItem<'a>>,
    /// Output limit, reasoning included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
    /// Sampling temperature, as the client sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling, as the client sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Answer as an event stream.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    /// Declared functions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<FunctionTool<'a>>,
    /// Which tool the model may or must call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice<'a>>,
    /// `false` when the client disabled parallel tool use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// Reasoning effort and summaries, for reasoning models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Reasoning>,
    /// Extra output: `reasoning.encrypted_content`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<&'static str>,
    /// Whether OpenAI keeps the response (never: the proxy is stateless).
    pub store: bool,
    /// End-user id (at most 64 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// `include` value that returns reasoning items with their encrypted
/// content, so they can be sent back without server-side state.
pub(crate) const INCLUDE_ENCRYPTED_REASONING: &str = "reasoning.encrypted_content";

/// `reasoning`.
#[derive(Debug, Clone, Serialize)]
pub struct Reasoning {
    /// `low`, `medium` or `high`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effort: Option<&'static str>,
    /// `auto`: ask for reasoning summaries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<&'static str>,
}

/// One input item.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum InputItem<'a> {
    /// A message, a call or a call's output.
    Typed(TypedItem<'a>),
    /// An output item of an earlier answer (a reasoning item), sent back
    /// byte for byte.
    Raw(Box<RawValue>),
}

/// The input items the proxy builds.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TypedItem<'a> {
    /// A message of the conversation.
    Message {
        /// `user`, `assistant` or `system`.
        role: &'static str,
        /// Its parts.
        content: Vec<ContentPart<'a>>,
    },
    /// A function call the model made.
    FunctionCall {
        /// Call id, named by the output that answers it.
        call_id: &'a str,
        /// Function name.
        name: &'a str,
        /// A JSON document, sent as a string.
        arguments: &'a str,
    },
    /// The result of a function call.
    FunctionCallOutput {
        /// The call it answers.
        call_id: &'a str,
        /// The result as text.
        output: Text<'a>,
    },
}

/// One part of a message.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart<'a> {
    /// Text from the user (or the system).
    InputText {
        /// The text.
        text: Text<'a>,
    },
    /// An image, by URL or data URL.
    InputImage {
        /// `https:` or `data:` URL.
        image_url: String,
        /// Always `auto`.
        detail: &'static str,
    },
    /// A file (a PDF, say): inline as a data URL, or by URL.
    InputFile {
        /// A name for an inline file.
        #[serde(skip_serializing_if = "Option::is_none")]
        filename: Option<&'static str>,
        /// The file as a `data:` URL.
        #[serde(skip_serializing_if = "Option::is_none")]
        file_data: Option<String>,
        /// Where the file is.
        #[serde(skip_serializing_if = "Option::is_none")]
        file_url: Option<&'a str>,
    },
    /// Text the model said earlier.
    OutputText {
        /// The text.
        text: Text<'a>,
        /// Always empty.
        annotations: [(); 0],
    },
}

/// A declared function tool.
#[derive(Debug, Serialize)]
pub struct FunctionTool<'a> {
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Function name.
    pub name: &'a str,
    /// What it does (the client's text, passed through raw).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a JsonText>,
    /// JSON Schema of its arguments (the client's own, raw).
    pub parameters: super::openai::Parameters<'a>,
    /// Always `false`: strict mode would reject most client schemas.
    pub strict: bool,
}

/// `tool_choice`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ToolChoice<'a> {
    /// `auto`, `required` or `none`.
    Mode(&'static str),
    /// This one function.
    Function {
        /// Always `function`.
        #[serde(rename = "type")]
        kind: &'static str,
        /// Which function.
        name: &'a str,
    },
}

// ---------------------------------------------------------------------------
// Answer

/// A response object: the whole non-streamed answer, and what
/// `response.created` / `.completed` / `.incomplete` / `.failed` carry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ResponseObject {
    /// `resp_…` id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `completed`, `incomplete`, `failed`, `in_progress`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Model that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The output items, raw (see [`OutputItem`]).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub output: Vec<Box<RawValue>>,
    /// Why an `incomplete` answer stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete_details: Option<IncompleteDetails>,
    /// Why a `failed` answer failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ResponseError>,
    /// Token counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<ResponsesUsage>,
}

/// Accepts `null` where a list is expected.
fn null_as_empty<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// `incomplete_details`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IncompleteDetails {
    /// `max_output_tokens` or `content_filter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The `error` of a failed response.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ResponseError {
    /// `server_error`, `rate_limit_exceeded`, `invalid_prompt`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// What went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Token counts of an answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponsesUsage {
    /// Input tokens, cached ones included.
    #[serde(default)]
    pub input_tokens: u64,
    /// Cache details of the input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens_details: Option<InputTokensDetails>,
    /// Output tokens, reasoning included.
    #[serde(default)]
    pub output_tokens: u64,
    /// Reasoning details of the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens_details: Option<OutputTokensDetails>,
    /// Input plus output.
    #[serde(default)]
    pub total_tokens: u64,
}

/// `input_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputTokensDetails {
    /// Input tokens read from the prompt cache.
    #[serde(default)]
    pub cached_tokens: u64,
}

/// `output_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputTokensDetails {
    /// Output tokens spent reasoning.
    #[serde(default)]
    pub reasoning_tokens: u64,
}

/// One output item, as far as the proxy reads it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem {
    /// What the model said.
    Message {
        /// `msg_…` id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// Text and refusal parts.
        #[serde(default, deserialize_with = "null_as_empty")]
        content: Vec<OutputContent>,
    },
    /// A function the model calls.
    FunctionCall {
        /// `fc_…` id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// `call_…` id, named by the output that answers it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call_id: Option<String>,
        /// Function name.
        #[serde(default)]
        name: String,
        /// Usually a JSON string; some servers send an object.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        arguments: Option<Value>,
    },
    /// The model's reasoning.
    Reasoning {
        /// `rs_…` id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// Reasoning summary parts.
        #[serde(default, deserialize_with = "null_as_empty")]
        summary: Vec<TextPart>,
        /// Raw reasoning text (open-weight models).
        #[serde(default, deserialize_with = "null_as_empty")]
        content: Vec<TextPart>,
        /// The reasoning, encrypted, for stateless replay.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<String>,
    },
    /// Anything else (built-in tool calls, …): not translated.
    #[serde(other)]
    Other,
}

/// A part of a message item.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputContent {
    /// Text.
    OutputText {
        /// The text.
        #[serde(default)]
        text: String,
    },
    /// Why the model declined.
    Refusal {
        /// The refusal text.
        #[serde(default)]
        refusal: String,
    },
    /// Anything else.
    #[serde(other)]
    Other,
}

/// A `summary_text` or `reasoning_text` part.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TextPart {
    /// `summary_text` or `reasoning_text`.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The text.
    #[serde(default)]
    pub text: String,
}

/// One event of a response stream (`data:` of an SSE event; the stream has
/// no `[DONE]`). Flat and lenient: each event type uses some of the fields,
/// the rest stay `None`, and unknown types are ignored by the reader.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct ResponsesEvent {
    /// `response.output_text.delta`, `response.completed`, `error`, …
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Position of the item in the response's `output`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_index: Option<u32>,
    /// Id of the item the event is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    /// Part of a message item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_index: Option<u32>,
    /// Part of a reasoning summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_index: Option<u32>,
    /// New text or argument text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<String>,
    /// The whole text of a `.done` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The whole argument text of `response.function_call_arguments.done`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
    /// The item of `response.output_item.added` / `.done`, raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<Box<RawValue>>,
    /// The response of the lifecycle events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ResponseObject>,
    /// `error`: the error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Value>,
    /// `error`: the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `error`: the parameter at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<Value>,
    /// `error` in the nested form some servers use (`{"error":{…}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// Order of the event in the stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<u64>,
}
