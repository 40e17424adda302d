//! The hand-written deserialisers: [`JsonText`], which keeps a string as
//! raw JSON, [`Content`] (a string or blocks), and [`ContentBlock`], read
//! through a flat wire struct so that unknown block types survive.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{Content, ContentBlock};

/// A JSON string kept as it arrived, escapes and all. Long texts that pass
/// through to another JSON API unchanged (tool descriptions run to 18 KB in
/// a Claude Code request) are then neither unescaped on the way in nor
/// escaped again on the way out: they are copied.
#[derive(Debug, Clone)]
pub struct JsonText(Box<RawValue>);

impl JsonText {
    /// The JSON string literal, quotes included.
    pub fn json(&self) -> &str {
        self.0.get()
    }

    /// True for `""`.
    pub fn is_empty(&self) -> bool {
        self.json() == "\"\""
    }

    /// The decoded text (borrowed when it has no escapes).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        let json = self.json();
        let inner = &json[1..json.len() - 1];
        if inner.contains('\\') {
            // Valid by construction: it parsed as a JSON string.
            std::borrow::Cow::Owned(serde_json::from_str(json).unwrap_or_default())
        } else {
            std::borrow::Cow::Borrowed(inner)
        }
    }
}

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        if !raw.get().starts_with('"') {
            return Err(de::Error::invalid_type(
                de::Unexpected::Other("a value that is not a string"),
                &"a string",
            ));
        }
        Ok(JsonText(raw))
    }
}

impl Serialize for JsonText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ContentVisitor;
        impl<'de> Visitor<'de> for ContentVisitor {
            type Value = Content;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array of content blocks")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Content, E> {
                Ok(Content::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Content, E> {
                Ok(Content::Text(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Content, E> {
                Ok(Content::Blocks(Vec::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
                let mut blocks = Vec::with_capacity(seq.size_hint().unwrap_or(4));
                while let Some(b) = seq.next_element::<ContentBlock>()? {
                    blocks.push(b);
                }
                Ok(Content::Blocks(blocks))
            }
        }
        d.deserialize_any(ContentVisitor)
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
    text: Option<String>,
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
                let text = w.text.or_else(|| {
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
