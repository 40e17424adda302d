//! OpenAI Chat Completions as clients send it to this gateway
//! (`POST /v1/chat/completions`), and the answers it sends back
//! (<https://platform.openai.com/docs/api-reference/chat/create>,
//! <https://platform.openai.com/docs/api-reference/chat/object>,
//! <https://platform.openai.com/docs/api-reference/chat-streaming>).
//!
//! The inbound direction of [`super::openai`], which holds the types the
//! proxy sends to an OpenAI upstream. Requests are lenient (unknown fields
//! ignored, every optional field optional); answers are what the official
//! SDKs parse.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A `POST /v1/chat/completions` body.
#[derive(Debug, Deserialize)]
pub(crate) struct ChatCompletionRequest {
    /// The model the client asked for.
    pub model: String,
    /// The conversation.
    pub messages: Vec<ChatInMessage>,
    /// Output limit (deprecated name).
    #[serde(default)]
    pub max_tokens: Option<u64>,
    /// Output limit, reasoning included.
    #[serde(default)]
    pub max_completion_tokens: Option<u64>,
    /// Sampling temperature.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// One stop string or a list of them.
    #[serde(default)]
    pub stop: Option<StringOrList>,
    /// Answer as a chunk stream.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Stream settings.
    #[serde(default)]
    pub stream_options: Option<StreamOptionsIn>,
    /// How many answers (only 1 is served).
    #[serde(default)]
    pub n: Option<u64>,
    /// Declared tools.
    #[serde(default)]
    pub tools: Option<Vec<ChatInTool>>,
    /// `none`, `auto`, `required`, or a named function.
    #[serde(default)]
    pub tool_choice: Option<Value>,
    /// `false`: at most one tool call per answer.
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    /// `{"type":"text"|"json_object"|"json_schema", …}`.
    #[serde(default)]
    pub response_format: Option<ResponseFormat>,
    /// `none`, `minimal`, `low`, `medium`, `high`, `xhigh`, `max`.
    #[serde(default)]
    pub reasoning_effort: Option<String>,
    /// End-user id (deprecated name).
    #[serde(default)]
    pub user: Option<String>,
    /// End-user id.
    #[serde(default)]
    pub safety_identifier: Option<String>,
}

impl ChatCompletionRequest {
    /// True when the client asked for a stream.
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }
}

/// A string or a list of strings (`stop`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum StringOrList {
    /// One string.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// `stream_options`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct StreamOptionsIn {
    /// Send a last chunk with the usage.
    #[serde(default)]
    pub include_usage: Option<bool>,
}

/// `response_format`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ResponseFormat {
    /// `text`, `json_object` or `json_schema`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The schema of `json_schema`: `{name, description, schema, strict}`.
    #[serde(default)]
    pub json_schema: Option<Value>,
}

/// One message of the conversation (every role in one lenient shape).
#[derive(Debug, Deserialize)]
pub(crate) struct ChatInMessage {
    /// `system`, `developer`, `user`, `assistant`, `tool` (or the
    /// deprecated `function`).
    pub role: String,
    /// A string or a list of parts; `null` on an assistant turn that only
    /// calls tools.
    #[serde(default)]
    pub content: Option<ChatInContent>,
    /// The assistant's tool calls.
    #[serde(default)]
    pub tool_calls: Option<Vec<ChatInToolCall>>,
    /// The call a `tool` message answers.
    #[serde(default)]
    pub tool_call_id: Option<String>,
    /// An assistant's refusal text.
    #[serde(default)]
    pub refusal: Option<String>,
}

/// Message content.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum ChatInContent {
    /// Plain text.
    Text(String),
    /// Content parts.
    Parts(Vec<ChatInPart>),
}

/// One content part (`text`, `image_url`, `file`, `input_audio`, `refusal`).
#[derive(Debug, Deserialize)]
pub(crate) struct ChatInPart {
    /// The part's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Text of a `text` part.
    #[serde(default)]
    pub text: Option<String>,
    /// Text of a `refusal` part.
    #[serde(default)]
    pub refusal: Option<String>,
    /// The image of an `image_url` part.
    #[serde(default)]
    pub image_url: Option<ImageUrlIn>,
    /// The file of a `file` part.
    #[serde(default)]
    pub file: Option<FileIn>,
}

/// `image_url`: an object with `url` (some clients send the URL alone).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum ImageUrlIn {
    /// `{"url": …, "detail": …}`.
    Object {
        /// A `data:` or `http(s):` URL.
        url: String,
    },
    /// The URL alone.
    Url(String),
}

impl ImageUrlIn {
    /// The URL.
    pub fn url(&self) -> &str {
        match self {
            ImageUrlIn::Object { url } | ImageUrlIn::Url(url) => url,
        }
    }
}

/// `file` of a file part.
#[derive(Debug, Deserialize)]
pub(crate) struct FileIn {
    /// The file as a `data:` URL (or bare base64).
    #[serde(default)]
    pub file_data: Option<String>,
    /// An uploaded file's id (this gateway stores no files).
    #[serde(default)]
    pub file_id: Option<String>,
    /// The file's name.
    #[serde(default)]
    pub filename: Option<String>,
}

/// A tool call of an assistant message.
#[derive(Debug, Deserialize)]
pub(crate) struct ChatInToolCall {
    /// Call id, named by the `tool` message that answers it. (Its `type`,
    /// `function` or `custom`, is not read: a call without `function` is
    /// refused either way.)
    pub id: String,
    /// What was called.
    #[serde(default)]
    pub function: Option<ChatInFunctionCall>,
}

/// `function` of a tool call.
#[derive(Debug, Deserialize)]
pub(crate) struct ChatInFunctionCall {
    /// Function name.
    pub name: String,
    /// JSON text of the arguments.
    #[serde(default)]
    pub arguments: Option<String>,
}

/// A declared tool.
#[derive(Debug, Deserialize)]
pub(crate) struct ChatInTool {
    /// `function` (or `custom`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The function.
    #[serde(default)]
    pub function: Option<FunctionDefinition>,
}

/// A function declaration (Chat Completions and Responses share its fields).
#[derive(Debug, Deserialize)]
pub(crate) struct FunctionDefinition {
    /// Function name.
    pub name: String,
    /// What it does.
    #[serde(default)]
    pub description: Option<String>,
    /// JSON Schema of its arguments; none means no parameters.
    #[serde(default)]
    pub parameters: Option<Value>,
}

// ---------------------------------------------------------------------------
// Answers

/// A `chat.completion` object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ChatCompletion {
    /// `chatcmpl-…`.
    pub id: String,
    /// Always `chat.completion`.
    pub object: &'static str,
    /// Unix seconds.
    pub created: u64,
    /// The model the client asked for.
    pub model: String,
    /// The one answer.
    pub choices: Vec<ChatChoice>,
    /// Token counts.
    pub usage: ChatUsageOut,
    /// Always `null`: no fingerprint to report.
    pub system_fingerprint: Option<String>,
}

/// One answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ChatChoice {
    /// Always 0.
    pub index: u32,
    /// What the model said.
    pub message: ChatOutMessage,
    /// Always `null`.
    pub logprobs: Option<Value>,
    /// `stop`, `length`, `tool_calls` or `content_filter`.
    pub finish_reason: &'static str,
}

/// The assistant message of an answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ChatOutMessage {
    /// Always `assistant`.
    pub role: &'static str,
    /// The text; `null` when the answer only calls tools.
    pub content: Option<String>,
    /// Reasoning text (DeepSeek's field name), when the model thought aloud.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Always `null`: refusals arrive as text.
    pub refusal: Option<String>,
    /// The tool calls, when there are any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ChatOutToolCall>>,
}

/// A tool call of an answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ChatOutToolCall {
    /// Call id.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Name and arguments.
    pub function: ChatOutFunction,
}

/// `function` of an answer's tool call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ChatOutFunction {
    /// Function name.
    pub name: String,
    /// JSON text of the arguments.
    pub arguments: String,
}

/// `usage`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct ChatUsageOut {
    /// Input tokens, cached ones included.
    pub prompt_tokens: u64,
    /// Output tokens, reasoning included.
    pub completion_tokens: u64,
    /// Both.
    pub total_tokens: u64,
    /// Cache details.
    pub prompt_tokens_details: PromptDetailsOut,
}

/// `prompt_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct PromptDetailsOut {
    /// Input tokens read from the cache.
    pub cached_tokens: u64,
}

/// A `chat.completion.chunk` object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ChatChunk {
    /// The completion's id, the same on every chunk.
    pub id: String,
    /// Always `chat.completion.chunk`.
    pub object: &'static str,
    /// Unix seconds, the same on every chunk.
    pub created: u64,
    /// The model the client asked for.
    pub model: String,
    /// The delta of choice 0; empty on the usage chunk.
    pub choices: Vec<ChunkChoiceOut>,
    /// With `include_usage`: `null` on every chunk but the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Option<ChatUsageOut>>,
    /// Always `null`.
    pub system_fingerprint: Option<String>,
}

/// One choice's part of a chunk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ChunkChoiceOut {
    /// Always 0.
    pub index: u32,
    /// What is new.
    pub delta: ChunkDeltaOut,
    /// Always `null`.
    pub logprobs: Option<Value>,
    /// Set on the last content chunk.
    pub finish_reason: Option<&'static str>,
}

/// New content of a chunk.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct ChunkDeltaOut {
    /// `assistant`, on the first chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    /// More text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// More reasoning text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Tool-call fragments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ChunkToolCallOut>>,
}

/// A tool-call fragment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ChunkToolCallOut {
    /// Which call of the answer (0, 1, …).
    pub index: u32,
    /// Call id, on the first fragment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `function`, on the first fragment.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// Name (first fragment) and argument text.
    pub function: ChunkFunctionOut,
}

/// `function` of a fragment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ChunkFunctionOut {
    /// Function name, on the first fragment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A piece of the argument text.
    pub arguments: String,
}
