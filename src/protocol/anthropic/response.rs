//! The non-streamed answer: `MessagesResponse`, its blocks, stop reason and
//! usage.

use serde::{Deserialize, Serialize};

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// A natural end.
    EndTurn,
    /// The output limit.
    MaxTokens,
    /// One of the client's stop sequences.
    StopSequence,
    /// The model called tools and waits for their results.
    ToolUse,
    /// A long server-tool turn paused; send it back to continue.
    PauseTurn,
    /// The model declined.
    Refusal,
    /// The context window is full.
    ModelContextWindowExceeded,
}

/// Token counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens not read from or written to the cache.
    pub input_tokens: u64,
    /// Output tokens, thinking included.
    pub output_tokens: u64,
    /// Input tokens written to the cache.
    pub cache_creation_input_tokens: u64,
    /// Input tokens read from the cache.
    pub cache_read_input_tokens: u64,
}

/// Usage as an Anthropic upstream reports it: every field optional,
/// because `message_delta` carries only what changed.
#[derive(Debug, Default, Deserialize)]
pub struct UsageReport {
    /// See [`Usage::input_tokens`].
    pub input_tokens: Option<u64>,
    /// See [`Usage::output_tokens`].
    pub output_tokens: Option<u64>,
    /// See [`Usage::cache_creation_input_tokens`].
    pub cache_creation_input_tokens: Option<u64>,
    /// See [`Usage::cache_read_input_tokens`].
    pub cache_read_input_tokens: Option<u64>,
}

impl UsageReport {
    /// Overrides the fields this report names: later reports
    /// (`message_delta`'s cumulative counts) win field by field.
    pub fn apply(&self, usage: &mut Usage) {
        let set = |dst: &mut u64, v: Option<u64>| {
            if let Some(v) = v {
                *dst = v;
            }
        };
        set(&mut usage.input_tokens, self.input_tokens);
        set(&mut usage.output_tokens, self.output_tokens);
        set(
            &mut usage.cache_creation_input_tokens,
            self.cache_creation_input_tokens,
        );
        set(
            &mut usage.cache_read_input_tokens,
            self.cache_read_input_tokens,
        );
    }
}

/// A block of an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseBlock {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// Reasoning.
    Thinking {
        /// Reasoning text.
        thinking: String,
        /// Signature the client sends back with the block.
        signature: String,
    },
    /// A tool call.
    ToolUse {
        /// Call id, named by the `tool_result` that answers it.
        id: String,
        /// Tool name.
        name: String,
        /// The tool's input: always a JSON object.
        input: serde_json::Value,
    },
}

/// A whole answer (and the shell in `message_start`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessagesResponse {
    /// `msg_…` id.
    pub id: String,
    /// Always `message`.
    #[serde(rename = "type")]
    pub kind: MessageType,
    /// Always `assistant`.
    pub role: AssistantRole,
    /// The model the client asked for.
    pub model: String,
    /// The answer's blocks.
    pub content: Vec<ResponseBlock>,
    /// Why it stopped (`null` in `message_start`).
    pub stop_reason: Option<StopReason>,
    /// The stop sequence that ended it.
    pub stop_sequence: Option<String>,
    /// Token counts.
    pub usage: Usage,
}

/// The `type` of a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    /// `message`.
    #[default]
    Message,
}

/// The `role` of an answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssistantRole {
    /// `assistant`.
    #[default]
    Assistant,
}

impl MessagesResponse {
    /// An empty answer: no content, no stop reason, zero usage.
    pub fn new(id: String, model: String) -> Self {
        MessagesResponse {
            id,
            kind: MessageType::Message,
            role: AssistantRole::Assistant,
            model,
            content: Vec::new(),
            stop_reason: None,
            stop_sequence: None,
            usage: Usage::default(),
        }
    }
}
