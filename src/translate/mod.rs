//! Pure conversions between Anthropic's Messages API and each upstream protocol.
//!
//! Nothing here does I/O, reads the clock or draws random numbers: ids come in
//! through [`ResponseContext`]. That is what lets the translators be tested
//! with fixtures and property tests. The rules they follow are written out in
//! docs/translation.md.
//!
//! | module | holds |
//! |---|---|
//! | [`openai`] | Anthropic ⇄ OpenAI Chat Completions |
//! | [`responses`] | Anthropic ⇄ OpenAI Responses API |
//! | [`gemini`] | Anthropic ⇄ Gemini `generateContent` |
//! | [`anthropic`] | the Claude pass-through's body rewrite |
//! | `inbound` | OpenAI Chat Completions and Responses requests in, Anthropic answers back out |
//! | `common` | what the OpenAI, Responses and Gemini translators share: the stream emitter and tool ids, content and tool-history rules, request settings, stop sequences |
//! | [`blocks`] | the block writer every stream translator emits through, and [`accumulate`] |
//! | [`tool_args`] | repair of upstream tool arguments into a JSON object |

pub mod anthropic;
pub mod blocks;
pub(crate) mod common;
pub mod gemini;
pub(crate) mod inbound;
pub mod openai;
pub mod responses;
pub mod tool_args;

pub use blocks::{accumulate, BlockWriter};

/// What a response translator needs to know about the request it answers.
#[derive(Debug, Clone)]
pub struct ResponseContext {
    /// `msg_…` id of the Anthropic message being produced.
    pub message_id: String,
    /// The model name the client asked for; echoed in `message.model`.
    pub model: String,
    /// The client's stop sequences, to recognise which one ended the text.
    pub stop_sequences: Vec<String>,
}

impl ResponseContext {
    /// Deterministic `toolu_` id number `n` of this message: unique across
    /// messages because the message id is random (within a message the
    /// stream emitter never hands out one twice).
    pub fn tool_id(&self, n: usize) -> String {
        let suffix = self
            .message_id
            .strip_prefix("msg_")
            .unwrap_or(&self.message_id);
        format!("toolu_{suffix}{n:02}")
    }
}

/// Marker that starts every thinking-block signature the proxy makes up, so it
/// can recognise them when a client sends them back and never forward them to
/// a real Anthropic upstream (which would reject them).
pub const SYNTHETIC_SIGNATURE_PREFIX: &str = "claude-proxy.v1.";

/// A synthetic signature carrying an optional provider payload (e.g. Gemini's
/// `thoughtSignature`).
pub fn synthetic_signature(provider: &str, payload: &str) -> String {
    format!("{SYNTHETIC_SIGNATURE_PREFIX}{provider}.{payload}")
}

/// Splits a synthetic signature into `(provider, payload)`.
pub(crate) fn parse_synthetic_signature(sig: &str) -> Option<(&str, &str)> {
    sig.strip_prefix(SYNTHETIC_SIGNATURE_PREFIX)?
        .split_once('.')
}

/// True for a signature the proxy made up.
pub(crate) fn is_synthetic_signature(sig: &str) -> bool {
    sig.starts_with(SYNTHETIC_SIGNATURE_PREFIX)
}

/// Makes an upstream tool-call id acceptable to Anthropic clients
/// (`^[a-zA-Z0-9_-]+$`), deterministically so the client echoes back the same
/// string the proxy then forwards as `tool_call_id`.
pub(crate) fn sanitize_tool_id(id: &str) -> Option<String> {
    if id.is_empty() {
        return None;
    }
    if id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Some(id.to_owned());
    }
    Some(
        id.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_signatures_round_trip() {
        let s = synthetic_signature("gemini", "Q2lRQg==");
        assert!(is_synthetic_signature(&s));
        assert_eq!(parse_synthetic_signature(&s), Some(("gemini", "Q2lRQg==")));
        assert_eq!(parse_synthetic_signature("EqQBCkYIBxgCKkA"), None);
    }

    #[test]
    fn tool_ids_are_sanitized() {
        assert_eq!(sanitize_tool_id("call_A-1").as_deref(), Some("call_A-1"));
        assert_eq!(
            sanitize_tool_id("functions.Read:0").as_deref(),
            Some("functions_Read_0")
        );
        assert_eq!(sanitize_tool_id(""), None);
    }
}
