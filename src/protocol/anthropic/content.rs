//! Message content: a string or a list of content blocks, and the sources
//! of images and documents.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::JsonText;
use crate::protocol::text::Text;

/// Message content, `system`, and `tool_result.content`: a string or a list of blocks.
#[derive(Debug)]
pub enum Content {
    /// A plain string, as the client wrote it.
    Text(JsonText),
    /// Content blocks.
    Blocks(Vec<ContentBlock>),
}

impl Content {
    /// Concatenated text of the text-like blocks, joined by `sep`.
    pub(crate) fn joined_text(&self, sep: &str) -> String {
        match self {
            Content::Text(s) => s.text().into_owned(),
            Content::Blocks(blocks) => {
                let mut out = String::new();
                for text in blocks.iter().filter_map(ContentBlock::as_text) {
                    if text.is_empty() {
                        continue;
                    }
                    if !out.is_empty() {
                        out.push_str(sep);
                    }
                    out.push_str(&text.as_str());
                }
                out
            }
        }
    }

    /// True for an empty string or no blocks.
    pub fn is_empty(&self) -> bool {
        match self {
            Content::Text(s) => s.is_empty(),
            Content::Blocks(b) => b.is_empty(),
        }
    }
}

/// Where an image block's bytes are.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ImageSource {
    /// Inline, base64-encoded.
    Base64 {
        /// `image/png`, `image/jpeg`, …
        media_type: String,
        /// Base64 bytes.
        data: String,
    },
    /// At a URL.
    Url {
        /// The URL.
        url: String,
    },
}

/// Where a document block's content is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DocumentSource {
    /// Inline, base64-encoded (a PDF, usually).
    Base64 {
        /// `application/pdf`, …
        media_type: String,
        /// Base64 bytes.
        data: String,
    },
    /// At a URL.
    Url {
        /// The URL.
        url: String,
    },
    /// Plain text.
    Text {
        /// `text/plain`.
        #[serde(default)]
        media_type: Option<String>,
        /// The text.
        data: String,
    },
    /// A string or a list of text blocks.
    Content {
        /// The content, as sent.
        content: serde_json::Value,
    },
}

/// One inbound content block.
#[derive(Debug)]
pub enum ContentBlock {
    /// Text.
    Text {
        /// The text, as the client wrote it.
        text: JsonText,
    },
    /// An image.
    Image {
        /// Its bytes.
        source: ImageSource,
    },
    /// A document.
    Document {
        /// Its content.
        source: DocumentSource,
        /// Its title.
        title: Option<String>,
    },
    /// A tool call the model made.
    ToolUse {
        /// Call id, named by the result that answers it.
        id: String,
        /// Tool name.
        name: String,
        /// The tool's input, kept raw.
        input: Box<RawValue>,
    },
    /// The result of a tool call.
    ToolResult {
        /// The call it answers.
        tool_use_id: String,
        /// What the tool returned.
        content: Content,
        /// The tool failed.
        is_error: bool,
    },
    /// The model's reasoning.
    Thinking {
        /// Reasoning text.
        thinking: String,
        /// Proof of origin, replayed verbatim.
        signature: String,
    },
    /// Reasoning Anthropic encrypted.
    RedactedThinking {
        /// The encrypted reasoning.
        data: String,
    },
    /// Any other block type (`tool_reference`, `search_result`, server-tool
    /// blocks, future types). `text` holds what can be shown of it as text.
    Other {
        /// The block's `type`.
        kind: String,
        /// Its text, if it has any.
        text: Option<String>,
    },
}

impl ContentBlock {
    /// The text this block contributes when flattened to plain text.
    pub(crate) fn as_text(&self) -> Option<Text<'_>> {
        match self {
            ContentBlock::Text { text } => Some(Text::Raw(text)),
            ContentBlock::Other { text, .. } => text.as_deref().map(Text::from),
            _ => None,
        }
    }
}
