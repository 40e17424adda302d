//! OpenAI Chat Completions wire types
//! (<https://platform.openai.com/docs/api-reference/chat>).
//!
//! The request borrows from the inbound Anthropic request so that nothing is
//! copied on the way out; responses and chunks are owned and lenient.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use super::text::Text;

/// A `POST /chat/completions` body.
#[derive(Debug, Serialize)]
pub struct ChatRequest<'a> {
    /// Upstream model id.
    pub model: &'a str,
    /// The conversation, system messages included.
    pub messages: Vec<ChatMessage<'a>>,
    /// Output limit, for servers that only know this name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Output limit, the name OpenAI's reasoning models require.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u64>,
    /// Sampling temperature, as the client sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling, as the client sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Stop strings: the client's first four (the proxy enforces all of
    /// them on the answer as well).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<&'a [String]>,
    /// Answer as a chunk stream.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    /// Stream settings; asks for usage in the last chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Declared functions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ChatTool<'a>>,
    /// Which tool the model may or must call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ChatToolChoice<'a>>,
    /// `false` when the client disabled parallel tool use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// `low` … `max`, for reasoning models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<&'a str>,
    /// End-user id (at most 64 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// `stream_options`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct StreamOptions {
    /// Send a final chunk with the usage.
    pub include_usage: bool,
}

/// One message, tagged by `role`.
#[derive(Debug, Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum ChatMessage<'a> {
    /// System instructions.
    System {
        /// The instructions.
        content: Text<'a>,
    },
    /// What the user said.
    User {
        /// Text, or a list of parts.
        content: UserContent<'a>,
    },
    /// An earlier answer of the model.
    Assistant {
        /// `null` when the turn only calls tools.
        content: Option<Text<'a>>,
        /// The tools it called.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall<'a>>,
    },
    /// The result of one tool call.
    Tool {
        /// The call it answers.
        tool_call_id: &'a str,
        /// The result as text.
        content: Text<'a>,
    },
}

/// A user message's `content`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum UserContent<'a> {
    /// Plain text (the most portable form).
    Text(Text<'a>),
    /// Text, images and files.
    Parts(Vec<UserPart<'a>>),
}

/// One part of a user message.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UserPart<'a> {
    /// Text.
    Text {
        /// The text.
        text: Text<'a>,
    },
    /// An image, by URL or data URL.
    ImageUrl {
        /// Where the image is.
        image_url: ImageUrl,
    },
    /// A file (a PDF, say) as a data URL.
    File {
        /// The file.
        file: FileData,
    },
}

/// `image_url` of an image part.
#[derive(Debug, Serialize)]
pub struct ImageUrl {
    /// `https:` or `data:` URL.
    pub url: String,
}

/// `file` of a file part.
#[derive(Debug, Serialize)]
pub struct FileData {
    /// A name for the file.
    pub filename: String,
    /// The file as a `data:` URL.
    pub file_data: String,
}

/// A tool call in an assistant message.
#[derive(Debug, Serialize)]
pub struct ToolCall<'a> {
    /// Call id, echoed by the tool message that answers it.
    pub id: &'a str,
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// What was called, with which arguments.
    pub function: ToolCallFunction<'a>,
}

/// `function` of a tool call.
#[derive(Debug, Serialize)]
pub struct ToolCallFunction<'a> {
    /// Function name.
    pub name: &'a str,
    /// A JSON document, sent as a string as OpenAI requires.
    pub arguments: &'a str,
}

/// A declared tool.
#[derive(Debug, Serialize)]
pub struct ChatTool<'a> {
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The function.
    pub function: ChatFunction<'a>,
}

/// A declared function.
#[derive(Debug, Serialize)]
pub struct ChatFunction<'a> {
    /// Function name.
    pub name: &'a str,
    /// What it does (the client's text, passed through raw).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a crate::protocol::anthropic::JsonText>,
    /// JSON Schema of its arguments.
    pub parameters: Parameters<'a>,
}

/// A tool's JSON Schema: the client's own, or the empty object schema for a
/// tool that declared none (several servers reject a function without one).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Parameters<'a> {
    /// The client's schema, raw.
    Schema(&'a RawValue),
    /// No parameters.
    Empty(EmptyObjectSchema),
}

/// Serialises as `{"type":"object","properties":{}}`.
#[derive(Debug, Default, Serialize)]
pub struct EmptyObjectSchema {
    #[serde(rename = "type")]
    kind: EmptyObjectType,
    properties: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "lowercase")]
enum EmptyObjectType {
    #[default]
    Object,
}

/// `tool_choice`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ChatToolChoice<'a> {
    /// `auto`, `required` or `none`.
    Mode(&'static str),
    /// This one function.
    Function {
        /// Always `function`.
        #[serde(rename = "type")]
        kind: &'static str,
        /// Which function.
        function: NamedFunction<'a>,
    },
}

/// A function named in `tool_choice`.
#[derive(Debug, Serialize)]
pub struct NamedFunction<'a> {
    /// Function name.
    pub name: &'a str,
}

// ---------------------------------------------------------------------------
// Responses

/// Accepts `null` where a list is expected (seen on usage-only chunks).
fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A non-streamed chat completion.
#[derive(Debug, Default, Deserialize)]
pub struct ChatResponse {
    /// The answers (the proxy asks for one).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub choices: Vec<Choice>,
    /// Token counts.
    #[serde(default)]
    pub usage: Option<ChatUsage>,
}

/// One answer.
#[derive(Debug, Default, Deserialize)]
pub struct Choice {
    /// What the model said.
    #[serde(default)]
    pub message: ResponseMessage,
    /// Why it stopped: `stop`, `length`, `tool_calls`, `content_filter`, …
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// vLLM: the matched stop string (or a token id).
    #[serde(default)]
    pub stop_reason: Option<serde_json::Value>,
}

/// The assistant message of an answer.
#[derive(Debug, Default, Deserialize)]
pub struct ResponseMessage {
    /// Text.
    #[serde(default)]
    pub content: Option<String>,
    /// Reasoning text (DeepSeek and others).
    #[serde(default)]
    pub reasoning_content: Option<String>,
    /// Reasoning text (vLLM, OpenRouter).
    #[serde(default)]
    pub reasoning: Option<String>,
    /// Why the model refused.
    #[serde(default)]
    pub refusal: Option<String>,
    /// Tool calls.
    #[serde(default)]
    pub tool_calls: Option<Vec<ResponseToolCall>>,
}

/// A tool call of an answer.
#[derive(Debug, Default, Deserialize)]
pub struct ResponseToolCall {
    /// Call id (some servers omit it).
    #[serde(default)]
    pub id: Option<String>,
    /// What was called.
    #[serde(default)]
    pub function: ResponseFunction,
}

/// `function` of an answer's tool call.
#[derive(Debug, Default, Deserialize)]
pub struct ResponseFunction {
    /// Function name.
    #[serde(default)]
    pub name: Option<String>,
    /// Usually a JSON string; some servers send an object.
    #[serde(default)]
    pub arguments: Option<serde_json::Value>,
}

/// Token counts of an answer or stream.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChatUsage {
    /// Input tokens, cached ones included.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Output tokens, reasoning included.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Cache details of the input.
    #[serde(default)]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// DeepSeek's cache accounting.
    #[serde(default)]
    pub prompt_cache_hit_tokens: Option<u64>,
    /// DeepSeek: input tokens not read from the cache.
    #[serde(default)]
    pub prompt_cache_miss_tokens: Option<u64>,
}

/// `prompt_tokens_details`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PromptTokensDetails {
    /// Input tokens read from the cache.
    #[serde(default)]
    pub cached_tokens: Option<u64>,
    /// Input tokens written to the cache.
    #[serde(default)]
    pub cache_write_tokens: Option<u64>,
}

// ---------------------------------------------------------------------------
// Stream chunks

/// One chunk of a streamed chat completion.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ChatChunk {
    /// Deltas per choice (empty on a usage-only chunk).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub choices: Vec<ChunkChoice>,
    /// Token counts (usually on the last chunk).
    #[serde(default)]
    pub usage: Option<ChatUsage>,
    /// A mid-stream error object (`data: {"error":{…}}`).
    #[serde(default)]
    pub error: Option<serde_json::Value>,
}

/// One choice's part of a chunk.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ChunkChoice {
    /// Choice number; only choice 0 is translated (the proxy never asks for `n > 1`).
    #[serde(default)]
    pub index: Option<u32>,
    /// What is new.
    #[serde(default)]
    pub delta: ChunkDelta,
    /// Set on the choice's last chunk.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// vLLM: the matched stop string (or a token id).
    #[serde(default)]
    pub stop_reason: Option<serde_json::Value>,
}

/// New content of a chunk.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ChunkDelta {
    /// Text.
    #[serde(default)]
    pub content: Option<String>,
    /// Reasoning text (DeepSeek and others).
    #[serde(default)]
    pub reasoning_content: Option<String>,
    /// Reasoning text (vLLM, OpenRouter).
    #[serde(default)]
    pub reasoning: Option<String>,
    /// Refusal text.
    #[serde(default)]
    pub refusal: Option<String>,
    /// Tool-call fragments.
    #[serde(default)]
    pub tool_calls: Option<Vec<ChunkToolCall>>,
}

/// A fragment of a tool call.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ChunkToolCall {
    /// Which call of the answer it belongs to.
    #[serde(default)]
    pub index: Option<u32>,
    /// Call id (usually on the first fragment only).
    #[serde(default)]
    pub id: Option<String>,
    /// Name and argument text.
    #[serde(default)]
    pub function: Option<ChunkFunction>,
}

/// `function` of a fragment.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ChunkFunction {
    /// Function name (usually on the first fragment only).
    #[serde(default)]
    pub name: Option<String>,
    /// A piece of the JSON argument text; some servers send a whole object.
    #[serde(default)]
    pub arguments: Option<serde_json::Value>,
}
