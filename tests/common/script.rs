//! A provider-neutral answer: what a mock upstream "says". Each provider
//! mock renders it in its own wire format (`mock_openai::script_json`,
//! `mock_gemini::script_stream`, …), so one scenario can be played by every
//! provider.

use serde_json::{json, Value};

/// Token counts as the upstream reports them: `input` excludes the cached
/// part, `cached` is read from the prompt cache, `output` includes thinking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tokens {
    pub input: u64,
    pub cached: u64,
    pub output: u64,
}

/// The usage every script reports unless told otherwise.
pub const TOKENS: Tokens = Tokens {
    input: 21,
    cached: 8,
    output: 7,
};

#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The upstream's id for the call (Gemini usually gives none).
    pub id: Option<String>,
    pub name: String,
    pub input: Value,
}

impl ToolCall {
    pub fn new(id: Option<String>, name: &str, input: Value) -> Self {
        ToolCall {
            id,
            name: name.to_owned(),
            input,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Script {
    /// Reasoning text, sent before everything else.
    pub thinking: Option<String>,
    /// The thinking block's signature (Anthropic only).
    pub signature: String,
    /// Text, streamed one piece per chunk.
    pub text: Vec<String>,
    pub tools: Vec<ToolCall>,
    pub usage: Tokens,
}

impl Script {
    /// A text answer in `pieces`.
    pub fn text(pieces: &[&str]) -> Self {
        Script {
            thinking: None,
            signature: String::new(),
            text: pieces.iter().map(|p| (*p).to_owned()).collect(),
            tools: Vec::new(),
            usage: TOKENS,
        }
    }

    /// An answer that only calls tools.
    pub fn tools(calls: Vec<ToolCall>) -> Self {
        Script {
            tools: calls,
            ..Script::text(&[])
        }
    }

    pub fn with_thinking(mut self, thinking: &str, signature: &str) -> Self {
        self.thinking = Some(thinking.to_owned());
        self.signature = signature.to_owned();
        self
    }

    pub fn full_text(&self) -> String {
        self.text.concat()
    }

    /// The Anthropic stop reason this answer ends with.
    pub fn stop_reason(&self) -> &'static str {
        if self.tools.is_empty() {
            "end_turn"
        } else {
            "tool_use"
        }
    }

    /// The usage the client must see, in Anthropic's terms.
    pub fn anthropic_usage(&self) -> Value {
        json!({
            "input_tokens": self.usage.input,
            "output_tokens": self.usage.output,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": self.usage.cached,
        })
    }
}

/// A 1×1 PNG, base64.
pub const PNG_1PX: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP4z8DwHwAFAAH/q842iQAAAABJRU5ErkJggg==";
