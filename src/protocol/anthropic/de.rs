//! The hand-written deserialisers: [`Content`] (a string, kept raw as a
//! [`JsonText`], or blocks), and [`ContentBlock`], read through a flat wire
//! struct so that unknown block types survive.

use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Content, ContentBlock};
use crate::protocol::text::JsonText;

/// A string is kept raw ([`JsonText`]); an array is read from the raw value
/// block by block. (A visitor would only ever see the string decoded.)
impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        match raw.get().as_bytes().first() {
            Some(b'"') => JsonText::from_raw(raw).map(Content::Text),
            Some(b'[') => blocks(raw.get()).map(Content::Blocks),
            Some(b'n') => Ok(Content::Blocks(Vec::new())),
            _ => Err(de::Error::invalid_type(
                de::Unexpected::Other("a value that is neither a string nor an array"),
                &"a string or an array of content blocks",
            )),
        }
    }
}

/// The blocks of a content array. An error names the block (`[2].text: …`,
/// which the request's error message appends to the field's path) without
/// the position inside the array, which would not be the body's.
fn blocks<E: de::Error>(json: &str) -> Result<Vec<ContentBlock>, E> {
    if let Ok(blocks) = serde_json::from_str(json) {
        return Ok(blocks);
    }
    let de = &mut serde_json::Deserializer::from_str(json);
    let err = match serde_path_to_error::deserialize::<_, Vec<ContentBlock>>(de) {
        Ok(blocks) => return Ok(blocks),
        Err(e) => e,
    };
    let path = err.path().to_string();
    let inner = err.into_inner();
    let full = inner.to_string();
    let at = format!(" at line {} column {}", inner.line(), inner.column());
    let msg = full.strip_suffix(&at).unwrap_or(&full);
    Err(E::custom(format!("{path}: {msg}")))
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
