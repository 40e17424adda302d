//! Anthropic Messages API wire types
//! (<https://docs.anthropic.com/en/api/messages>,
//! <https://docs.anthropic.com/en/api/messages-streaming>).
//!
//! Inbound types are lenient: unknown fields are ignored, unknown content block
//! types survive as [`ContentBlock::Other`]. Values that pass through untouched
//! (tool schemas, tool inputs) are kept as raw JSON so they are never re-parsed.
//! No logic lives here beyond (de)serialisation.
//!
//! | module | holds |
//! |---|---|
//! | `request` | request bodies, messages, settings, tools |
//! | `content` | message content and content blocks |
//! | `de` | the hand-written deserialisers ([`Content`], [`ContentBlock`]); [`JsonText`] lives in `protocol::text` |
//! | `response` | the non-streamed answer |
//! | `events` | stream events |

mod content;
mod de;
mod events;
mod request;
mod response;

pub use crate::protocol::text::JsonText;
pub use content::{Content, ContentBlock, DocumentSource, ImageSource};
pub use events::{BlockStart, Delta, ErrorBody, MessageDeltaBody, StreamEvent};
pub use request::{
    CountTokensRequest, FunctionTool, Message, MessagesRequest, Metadata, OutputConfig, Role,
    Thinking, Tool, ToolChoice, ToolSpec,
};
pub use response::{
    AssistantRole, MessageType, MessagesResponse, ResponseBlock, StopReason, Usage, UsageReport,
};
