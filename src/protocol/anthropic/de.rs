//! The hand-written deserialisers: [`Content`] (a string, kept raw as a
//! [`JsonText`], or blocks), and [`ContentBlock`], read through a flat wire
//! struct so that unknown block types survive.

use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Content, ContentBlock};
use crate::protocol::text::JsonText;

/// One pass over the value: an array is read block by block as it is
/// scanned, a string becomes a [`JsonText`]. (Capturing the value raw first
/// and parsing it again scanned every content array twice, and a
/// `tool_result`'s content three times: most of a Claude Code request's
/// parse.) A string without escapes arrives borrowed and is kept
/// byte-for-byte; one with escapes arrives decoded and is escaped again,
/// which gives the same text, though not always the same escapes.
impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ContentVisitor)
    }
}

struct ContentVisitor;

impl<'de> de::Visitor<'de> for ContentVisitor {
    type Value = Content;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string or an array of content blocks")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Content, E> {
        JsonText::from_text(s).map(Content::Text).map_err(E::custom)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Content, E> {
        Ok(Content::Blocks(Vec::new()))
    }

    fn visit_none<E: de::Error>(self) -> Result<Content, E> {
        Ok(Content::Blocks(Vec::new()))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
        // Bounded by the array the parser reads.
        let mut blocks = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(block) = seq.next_element::<ContentBlock>()? {
            blocks.push(block);
        }
        Ok(Content::Blocks(blocks))
    }
}

/// Flat view of a block on the wire; every block type's fields are optional
/// here and [`ContentBlock`]'s `TryFrom` checks the ones its type requires.
/// (A flat struct, unlike an internally tagged enum, does not buffer its
/// content, so `input` can stay a borrowed-free `RawValue`.)
#[derive(Deserialize)]
struct WireBlock {
    #[serde(rename = "type")]
    kind: String,
    text: Option<JsonText>,
    source: Option<serde_json::Value>,
    title: Option<String>,
    id: Option<String>,
    name: Option<String>,
    input: Option<Box<RawValue>>,
    tool_use_id: Option<String>,
    content: Option<Content>,
    is_error: Option<bool>,
    thinking: Option<String>,
    signature: Option<String>,
    data: Option<String>,
    tool_name: Option<String>,
}

fn required<T>(v: Option<T>, kind: &str, field: &str) -> Result<T, String> {
    v.ok_or_else(|| format!("{kind} block: missing field `{field}`"))
}

impl TryFrom<WireBlock> for ContentBlock {
    type Error = String;

    fn try_from(w: WireBlock) -> Result<Self, String> {
        let kind = w.kind.as_str();
        Ok(match kind {
            "text" => ContentBlock::Text {
                text: required(w.text, kind, "text")?,
            },
            "image" => ContentBlock::Image {
                source: serde_json::from_value(required(w.source, kind, "source")?)
                    .map_err(|e| format!("image block: invalid `source`: {e}"))?,
            },
            "document" => ContentBlock::Document {
                source: serde_json::from_value(required(w.source, kind, "source")?)
                    .map_err(|e| format!("document block: invalid `source`: {e}"))?,
                title: w.title,
            },
            "tool_use" => ContentBlock::ToolUse {
                id: required(w.id, kind, "id")?,
                name: required(w.name, kind, "name")?,
                input: match w.input {
                    Some(i) => i,
                    None => RawValue::from_string("{}".to_owned()).map_err(|e| e.to_string())?,
                },
            },
            "tool_result" => ContentBlock::ToolResult {
                tool_use_id: required(w.tool_use_id, kind, "tool_use_id")?,
                content: w.content.unwrap_or(Content::Blocks(Vec::new())),
                is_error: w.is_error.unwrap_or(false),
            },
            "thinking" => ContentBlock::Thinking {
                thinking: w.thinking.unwrap_or_default(),
                signature: w.signature.unwrap_or_default(),
            },
            "redacted_thinking" => ContentBlock::RedactedThinking {
                data: w.data.unwrap_or_default(),
            },
            "tool_reference" => ContentBlock::Other {
                text: w.tool_name.map(|n| format!("Tool loaded: {n}")),
                kind: w.kind,
            },
            _ => {
                // search_result, mid_conv_system and friends: keep their text.
                let text = w.text.map(|t| t.text().into_owned()).or_else(|| {
                    w.content
                        .map(|c| c.joined_text("\n"))
                        .filter(|t| !t.is_empty())
                });
                ContentBlock::Other { kind: w.kind, text }
            }
        })
    }
}

impl<'de> Deserialize<'de> for ContentBlock {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = WireBlock::deserialize(d)?;
        ContentBlock::try_from(wire).map_err(de::Error::custom)
    }
}

#[cfg(test)]
#[path = "de_tests.rs"]
mod tests;
