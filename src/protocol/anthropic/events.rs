//! Stream events (`text/event-stream` answers).

use serde::{Deserialize, Serialize};

use super::{MessagesResponse, StopReason, Usage};

/// Shell of a block in `content_block_start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BlockStart {
    /// A text block.
    Text {
        /// Always empty: text follows in deltas.
        text: String,
    },
    /// A thinking block.
    Thinking {
        /// Always empty: thinking follows in deltas.
        thinking: String,
        /// Always empty: the signature follows in a delta.
        signature: String,
    },
    /// A tool call.
    ToolUse {
        /// Call id.
        id: String,
        /// Tool name.
        name: String,
        /// Always empty: the input follows as JSON text.
        input: serde_json::Map<String, serde_json::Value>,
    },
}

/// New content of the open block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Delta {
    /// More text.
    TextDelta {
        /// The text.
        text: String,
    },
    /// More of a tool input's JSON text.
    InputJsonDelta {
        /// The piece of JSON.
        partial_json: String,
    },
    /// More reasoning.
    ThinkingDelta {
        /// The reasoning text.
        thinking: String,
    },
    /// The thinking block's signature.
    SignatureDelta {
        /// The signature.
        signature: String,
    },
}

/// `delta` of `message_delta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageDeltaBody {
    /// Why the answer stopped.
    pub stop_reason: Option<StopReason>,
    /// The stop sequence that ended it.
    pub stop_sequence: Option<String>,
}

/// `error` of an `error` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Anthropic's `error.type`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What went wrong.
    pub message: String,
}

/// One Anthropic SSE event. The `event:` name equals the `type` tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// The answer begins.
    MessageStart {
        /// Its shell: no content, no stop reason.
        message: MessagesResponse,
    },
    /// A block begins.
    ContentBlockStart {
        /// Its position.
        index: u32,
        /// Its shell.
        content_block: BlockStart,
    },
    /// More content for the open block.
    ContentBlockDelta {
        /// Its position.
        index: u32,
        /// The content.
        delta: Delta,
    },
    /// The open block ends.
    ContentBlockStop {
        /// Its position.
        index: u32,
    },
    /// The answer's stop reason and usage.
    MessageDelta {
        /// Stop reason and sequence.
        delta: MessageDeltaBody,
        /// Token counts.
        usage: Usage,
    },
    /// The answer ends.
    MessageStop,
    /// Keep-alive.
    Ping,
    /// The stream failed; nothing follows.
    Error {
        /// What went wrong.
        error: ErrorBody,
    },
}

impl StreamEvent {
    /// The SSE `event:` name.
    pub fn name(&self) -> &'static str {
        match self {
            StreamEvent::MessageStart { .. } => "message_start",
            StreamEvent::ContentBlockStart { .. } => "content_block_start",
            StreamEvent::ContentBlockDelta { .. } => "content_block_delta",
            StreamEvent::ContentBlockStop { .. } => "content_block_stop",
            StreamEvent::MessageDelta { .. } => "message_delta",
            StreamEvent::MessageStop => "message_stop",
            StreamEvent::Ping => "ping",
            StreamEvent::Error { .. } => "error",
        }
    }
}
