//! Message content: a string or a list of content blocks, and the sources
//! of images and documents.

use serde::Deserialize;
use serde_json::value::RawValue;

/// Message content, `system`, and `tool_result.content`: a string or a list of blocks.
#[derive(Debug)]
pub enum Content {
    Text(String),
    Blocks(Vec<ContentBlock>),
}

impl Content {
    /// Concatenated text of the text-like blocks, joined by `sep`.
    pub fn joined_text(&self, sep: &str) -> String {
        match self {
            Content::Text(s) => s.clone(),
            Content::Blocks(blocks) => {
                let mut out = String::new();
                for text in blocks.iter().filter_map(ContentBlock::as_text) {
                    if text.is_empty() {
                        continue;
                    }
                    if !out.is_empty() {
                        out.push_str(sep);
                    }
                    out.push_str(text);
                }
                out
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Content::Text(s) => s.is_empty(),
            Content::Blocks(b) => b.is_empty(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ImageSource {
    Base64 { media_type: String, data: String },
    Url { url: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DocumentSource {
    Base64 {
        media_type: String,
        data: String,
    },
    Url {
        url: String,
    },
    Text {
        #[serde(default)]
        media_type: Option<String>,
        data: String,
    },
    Content {
        content: serde_json::Value,
    },
}

/// One inbound content block.
#[derive(Debug)]
pub enum ContentBlock {
    Text {
        text: String,
    },
    Image {
        source: ImageSource,
    },
    Document {
        source: DocumentSource,
        title: Option<String>,
    },
    ToolUse {
        id: String,
        name: String,
        input: Box<RawValue>,
    },
    ToolResult {
        tool_use_id: String,
        content: Content,
        is_error: bool,
    },
    Thinking {
        thinking: String,
        signature: String,
    },
    RedactedThinking {
        data: String,
    },
    /// Any other block type (`tool_reference`, `search_result`, server-tool
    /// blocks, future types). `text` holds what can be shown of it as text.
    Other {
        kind: String,
        text: Option<String>,
    },
}

impl ContentBlock {
    /// The text this block contributes when flattened to plain text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            ContentBlock::Text { text } => Some(text),
            ContentBlock::Other { text, .. } => text.as_deref(),
            _ => None,
        }
    }
}
