//! Anthropic Messages API wire types (PROTOCOLS.md section A).
//!
//! Inbound types are lenient: unknown fields are ignored, unknown content block
//! types survive as [`ContentBlock::Other`]. Values that pass through untouched
//! (tool schemas, tool inputs) are kept as raw JSON so they are never re-parsed.
//! No logic lives here beyond (de)serialisation.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// `POST /v1/messages` body. `model`, `max_tokens` and `messages` are required,
/// like on Anthropic's API.
#[derive(Debug, Deserialize)]
pub struct MessagesRequest {
    pub model: String,
    pub max_tokens: u64,
    pub messages: Vec<Message>,
    #[serde(default)]
    pub system: Option<Content>,
    #[serde(default)]
    pub stop_sequences: Option<Vec<String>>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub top_k: Option<u64>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
    #[serde(default)]
    pub tools: Option<Vec<Tool>>,
    #[serde(default)]
    pub tool_choice: Option<ToolChoice>,
    #[serde(default)]
    pub thinking: Option<Thinking>,
    #[serde(default)]
    pub output_config: Option<OutputConfig>,
}

impl MessagesRequest {
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }
}

/// `POST /v1/messages/count_tokens` body: the create body minus `max_tokens`.
#[derive(Debug, Deserialize)]
pub struct CountTokensRequest {
    pub model: String,
    pub messages: Vec<Message>,
    #[serde(default)]
    pub system: Option<Content>,
    #[serde(default)]
    pub tools: Option<Vec<Tool>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
    /// Claude Code sends `role: "system"` turns inside `messages`.
    System,
}

#[derive(Debug, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Content,
}

#[derive(Debug, Default, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub user_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct OutputConfig {
    #[serde(default)]
    pub effort: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Thinking {
    Enabled {
        #[serde(default)]
        budget_tokens: Option<u64>,
    },
    Adaptive,
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolChoice {
    Auto {
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    Any {
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    Tool {
        name: String,
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    None,
}

impl ToolChoice {
    pub fn disable_parallel(&self) -> bool {
        match self {
            ToolChoice::Auto {
                disable_parallel_tool_use,
            }
            | ToolChoice::Any {
                disable_parallel_tool_use,
            }
            | ToolChoice::Tool {
                disable_parallel_tool_use,
                ..
            } => disable_parallel_tool_use.unwrap_or(false),
            ToolChoice::None => false,
        }
    }
}

/// A tool as a client sends it: Anthropic form (`name`, `description`,
/// `input_schema`), an Anthropic server tool (dated `type`, no schema), or the
/// OpenAI form `{"type":"function","function":{…}}` that the seed documents.
#[derive(Debug, Deserialize)]
pub struct Tool {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<JsonText>,
    #[serde(default)]
    pub input_schema: Option<Box<RawValue>>,
    #[serde(default)]
    pub function: Option<FunctionTool>,
}

#[derive(Debug, Deserialize)]
pub struct FunctionTool {
    pub name: String,
    #[serde(default)]
    pub description: Option<JsonText>,
    #[serde(default)]
    pub parameters: Option<Box<RawValue>>,
}

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

/// A client tool reduced to what every upstream needs.
#[derive(Debug, Clone, Copy)]
pub struct ToolSpec<'a> {
    pub name: &'a str,
    pub description: Option<&'a JsonText>,
    /// JSON Schema of the input; `None` means "no parameters".
    pub schema: Option<&'a RawValue>,
}

impl Tool {
    /// The client-tool view of this tool, or `None` for Anthropic server tools
    /// (web search, code execution, …) that no other provider can run.
    pub fn spec(&self) -> Option<ToolSpec<'_>> {
        if let Some(f) = &self.function {
            return Some(ToolSpec {
                name: &f.name,
                description: f.description.as_ref(),
                schema: f.parameters.as_deref(),
            });
        }
        let name = self.name.as_deref()?;
        match (&self.input_schema, self.kind.as_deref()) {
            (Some(schema), _) => Some(ToolSpec {
                name,
                description: self.description.as_ref(),
                schema: Some(schema),
            }),
            (None, None | Some("custom")) => Some(ToolSpec {
                name,
                description: self.description.as_ref(),
                schema: None,
            }),
            // Dated server tool without a schema.
            (None, Some(_)) => None,
        }
    }
}

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

// ---------------------------------------------------------------------------
// Outbound (responses and stream events)

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndTurn,
    MaxTokens,
    StopSequence,
    ToolUse,
    PauseTurn,
    Refusal,
    ModelContextWindowExceeded,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseBlock {
    Text {
        text: String,
    },
    Thinking {
        thinking: String,
        signature: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: serde_json::Value,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessagesResponse {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: MessageType,
    pub role: AssistantRole,
    pub model: String,
    pub content: Vec<ResponseBlock>,
    pub stop_reason: Option<StopReason>,
    pub stop_sequence: Option<String>,
    pub usage: Usage,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    #[default]
    Message,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssistantRole {
    #[default]
    Assistant,
}

impl MessagesResponse {
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

/// Shell of a block in `content_block_start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BlockStart {
    Text {
        text: String,
    },
    Thinking {
        thinking: String,
        signature: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: serde_json::Map<String, serde_json::Value>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Delta {
    TextDelta { text: String },
    InputJsonDelta { partial_json: String },
    ThinkingDelta { thinking: String },
    SignatureDelta { signature: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageDeltaBody {
    pub stop_reason: Option<StopReason>,
    pub stop_sequence: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
}

/// One Anthropic SSE event. The `event:` name equals the `type` tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    MessageStart {
        message: MessagesResponse,
    },
    ContentBlockStart {
        index: u32,
        content_block: BlockStart,
    },
    ContentBlockDelta {
        index: u32,
        delta: Delta,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: MessageDeltaBody,
        usage: Usage,
    },
    MessageStop,
    Ping,
    Error {
        error: ErrorBody,
    },
}

impl StreamEvent {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_text_passes_a_string_through_verbatim_and_decodes_on_demand() {
        let json = r#"{"d": "line 1\nline \"2\" \u00e9\t/ \/"}"#;
        #[derive(Deserialize)]
        struct T {
            d: JsonText,
        }
        let t: T = serde_json::from_str(json).unwrap();
        assert_eq!(t.d.json(), r#""line 1\nline \"2\" \u00e9\t/ \/""#);
        assert_eq!(t.d.text(), "line 1\nline \"2\" \u{e9}\t/ /");
        assert_eq!(serde_json::to_string(&t.d).unwrap(), t.d.json());
        assert!(!t.d.is_empty());

        let plain: JsonText = serde_json::from_str(r#""no escapes""#).unwrap();
        assert!(matches!(
            plain.text(),
            std::borrow::Cow::Borrowed("no escapes")
        ));
        let empty: JsonText = serde_json::from_str(r#""""#).unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.text(), "");

        for bad in ["1", "null", "{}", "[\"a\"]", "true"] {
            let err = serde_json::from_str::<JsonText>(bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains("expected a string"), "{bad}: {err}");
        }
    }

    #[test]
    fn parses_every_claude_code_fixture() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/claude-code");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if !name.ends_with(".json") || name.contains("headers") {
                continue;
            }
            let body = std::fs::read(&path).unwrap();
            let req: MessagesRequest = serde_json::from_slice(&body).unwrap();
            assert!(!req.messages.is_empty(), "{name}");
            assert!(req.tools.as_ref().unwrap().len() >= 12, "{name}");
            n += 1;
        }
        assert_eq!(n, 12);
    }

    #[test]
    fn unknown_blocks_survive_and_known_blocks_check_fields() {
        let c: Content = serde_json::from_str(
            r#"[{"type":"tool_reference","tool_name":"WebFetch"},{"type":"brand_new","x":1}]"#,
        )
        .unwrap();
        let Content::Blocks(b) = c else { panic!() };
        assert_eq!(b[0].as_text(), Some("Tool loaded: WebFetch"));
        assert!(matches!(&b[1], ContentBlock::Other { kind, text: None } if kind == "brand_new"));
        let err = serde_json::from_str::<Content>(r#"[{"type":"text"}]"#).unwrap_err();
        assert!(err.to_string().contains("`text`"), "{err}");
    }

    #[test]
    fn tool_use_input_is_kept_raw() {
        let c: Content = serde_json::from_str(
            r#"[{"type":"tool_use","id":"toolu_1","name":"Read","input":{"file_path":"/a","n":1}}]"#,
        )
        .unwrap();
        let Content::Blocks(b) = c else { panic!() };
        let ContentBlock::ToolUse { input, .. } = &b[0] else {
            panic!()
        };
        assert_eq!(input.get(), r#"{"file_path":"/a","n":1}"#);
    }
}
