//! Anthropic Messages ⇄ Google Gemini `generateContent` (docs/translation.md,
//! "Anthropic → Gemini" and the Gemini parts of "Answers and streams").
//!
//! Pure: no I/O, no clock, no randomness (tool ids come from
//! [`ResponseContext::tool_id`](crate::translate::ResponseContext::tool_id)).
//!
//! * [`request`] and [`contents`]: `MessagesRequest` → `GenerateContentRequest`.
//! * [`schema`]: JSON Schema → Gemini's OpenAPI-subset `parameters`.
//! * [`stream`]: Gemini SSE payloads → Anthropic stream events.
//! * [`response`]: a whole response, translated by running the stream
//!   translator over it so both paths agree by construction.
//!
//! Thought signatures survive the stateless round trip through the client
//! inside thinking blocks: a part carrying `thoughtSignature: S` is preceded
//! by a thinking block whose signature is `synthetic_signature("gemini", S)`
//! (S is already base64, so it needs no further encoding), and on the next
//! request that signature is re-attached to the first part that follows the
//! thinking block in the same assistant turn.
//!
//! Tool names that Gemini would reject are renamed deterministically
//! ([`sanitize_tool_name`]); the reverse map is recomputed from the request's
//! tool list ([`ToolNameMap::from_request`]) and handed to the response side.

pub mod contents;
pub mod request;
pub mod response;
pub mod schema;
pub mod stream;

use std::borrow::Cow;

use crate::error::ErrorKind;
use crate::protocol::anthropic::{MessagesRequest, StopReason, Usage};
use crate::protocol::gemini::{FinishReason, GeminiError, PromptFeedback, UsageMetadata};
use crate::translate::common::hash::fnv1a64;

pub use request::{to_gemini_request, GeminiRequestOptions};
pub use response::{from_gemini_response, from_gemini_response_with_names};
pub use schema::clean_schema;
pub use stream::GeminiStreamTranslator;

/// Provider tag inside synthetic thinking signatures.
pub(crate) const SIGNATURE_PROVIDER: &str = "gemini";

/// What Gemini 3 accepts in place of a lost thought signature
/// (<https://ai.google.dev/gemini-api/docs/thought-signatures>).
pub const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

const MAX_NAME_LEN: usize = 128;

/// The name Gemini will accept for a tool: unchanged when already valid
/// (letter or `_` first; letters, digits, `_ . : -`; at most 128 chars),
/// otherwise cleaned and suffixed with a hash of the original so that two
/// different names can not collapse into one.
pub fn sanitize_tool_name(name: &str) -> Cow<'_, str> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-');
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && name.len() <= MAX_NAME_LEN && name.chars().all(valid_char) {
        return Cow::Borrowed(name);
    }
    let mut cleaned = String::with_capacity(name.len().min(MAX_NAME_LEN) + 1);
    if !first_ok {
        cleaned.push('_');
    }
    cleaned.extend(name.chars().map(|c| if valid_char(c) { c } else { '_' }));
    // Eight hex digits (the low half of the hash) are plenty to keep the
    // few renamed tools of one request apart.
    let suffix = format!("_{:08x}", fnv1a64(name.as_bytes()) & 0xffff_ffff);
    cleaned.truncate(MAX_NAME_LEN - suffix.len());
    cleaned.push_str(&suffix);
    Cow::Owned(cleaned)
}

/// Sanitized → original tool names, for the names [`sanitize_tool_name`]
/// changed. Empty (and allocation-free) for Claude Code, whose names are all
/// valid Gemini names.
#[derive(Debug, Clone, Default)]
pub struct ToolNameMap {
    renamed: Vec<(String, String)>,
}

impl ToolNameMap {
    /// The names of `req`'s tools that had to be renamed.
    pub fn from_request(req: &MessagesRequest) -> Self {
        let mut renamed = Vec::new();
        for spec in req.tools.iter().flatten().filter_map(|t| t.spec()) {
            if let Cow::Owned(s) = sanitize_tool_name(spec.name) {
                renamed.push((s, spec.name.to_owned()));
            }
        }
        ToolNameMap { renamed }
    }

    /// The client's name for a function name Gemini used.
    pub fn original<'s>(&'s self, name: &'s str) -> &'s str {
        self.renamed
            .iter()
            .find(|(s, _)| s == name)
            .map_or(name, |(_, o)| o.as_str())
    }
}

/// Gemini 3 models use `thinkingLevel` and validate thought signatures.
pub(crate) fn is_gemini3(model: &str) -> bool {
    model.to_ascii_lowercase().contains("gemini-3")
}

/// The stop reason for a finish reason (docs/translation.md, "Stop
/// reasons"). Any emitted `tool_use` makes an ordinary stop a `tool_use`
/// stop (Gemini has no tool-call finish reason).
fn stop_reason(reason: FinishReason, saw_tool_use: bool) -> StopReason {
    match reason {
        FinishReason::MaxTokens => StopReason::MaxTokens,
        FinishReason::Safety
        | FinishReason::Recitation
        | FinishReason::Blocklist
        | FinishReason::ProhibitedContent
        | FinishReason::Spii
        | FinishReason::ImageSafety
        | FinishReason::ImageProhibitedContent
        | FinishReason::ImageRecitation => StopReason::Refusal,
        _ if saw_tool_use => StopReason::ToolUse,
        _ => StopReason::EndTurn,
    }
}

/// Usage (docs/translation.md, "Usage"): Anthropic's `input_tokens`
/// excludes cache reads; Gemini's output count excludes thoughts.
fn usage(u: &UsageMetadata) -> Usage {
    Usage {
        input_tokens: u
            .prompt_token_count
            .saturating_sub(u.cached_content_token_count),
        output_tokens: u
            .candidates_token_count
            .saturating_add(u.thoughts_token_count),
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: u.cached_content_token_count,
    }
}

fn block_reason(feedback: Option<&PromptFeedback>) -> Option<&str> {
    feedback?.block_reason.as_deref().filter(|r| !r.is_empty())
}

/// The kind of an error object that arrives in a body (after the 200, or
/// instead of an answer).
///
/// Only the `status` name decides (`RESOURCE_EXHAUSTED`, `UNAVAILABLE`, …),
/// read through the one table in [`ErrorKind::from_codes`].
fn error_kind(err: &GeminiError) -> ErrorKind {
    let status: Vec<&str> = err.status.as_deref().into_iter().collect();
    ErrorKind::from_codes(&status, &[]).unwrap_or(ErrorKind::Api)
}

fn error_message(err: &GeminiError) -> String {
    let status = err.status.as_deref().unwrap_or("error");
    match err.message.as_deref() {
        Some(m) => format!("upstream gemini {status}: {m}"),
        None => format!("upstream gemini {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_are_kept_or_sanitized_deterministically() {
        assert!(matches!(sanitize_tool_name("Read"), Cow::Borrowed("Read")));
        assert!(matches!(
            sanitize_tool_name("mcp__srv__do.it:v1-x"),
            Cow::Borrowed(_)
        ));
        let a = sanitize_tool_name("my tool!");
        assert!(a.starts_with("my_tool__"), "{a}");
        assert_eq!(a, sanitize_tool_name("my tool!"));
        assert_ne!(sanitize_tool_name("a b"), sanitize_tool_name("a/b"));
        assert!(sanitize_tool_name("1abc").starts_with("_1abc_"));
        assert!(sanitize_tool_name("").starts_with('_'));
        let long = "x".repeat(300);
        assert_eq!(sanitize_tool_name(&long).len(), 128);
    }

    #[test]
    fn usage_with_absurd_counts_does_not_overflow() {
        // Found by tests/fuzz: candidates plus thoughts overflowed.
        let u = UsageMetadata {
            candidates_token_count: 1,
            thoughts_token_count: u64::MAX,
            ..UsageMetadata::default()
        };
        assert_eq!(usage(&u).output_tokens, u64::MAX);
    }

    #[test]
    fn name_map_reverses_only_renamed_tools() {
        let req: MessagesRequest = serde_json::from_str(
            r#"{"model":"m","max_tokens":1,"messages":[],
                "tools":[{"name":"Read","input_schema":{}},{"name":"do it","input_schema":{}}]}"#,
        )
        .unwrap();
        let map = ToolNameMap::from_request(&req);
        let s = sanitize_tool_name("do it");
        assert_eq!(map.original(&s), "do it");
        assert_eq!(map.original("Read"), "Read");
        assert_eq!(map.original("unknown"), "unknown");
    }
}
