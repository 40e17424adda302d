//! OpenAI Chat Completions translation (docs/translation.md, "Anthropic →
//! OpenAI Chat" and the OpenAI parts of "Answers and streams").
//!
//! [`to_openai_request`] turns an Anthropic request into a [`ChatRequest`]
//! that borrows from it; [`OpenAiStreamTranslator`] turns the upstream's
//! stream back, and [`from_openai_response`] a whole answer, by running the
//! stream translator over it. Pure: no I/O, no clock, no randomness — ids
//! come from [`ResponseContext`].
//!
//! The helpers in this file are the answer rules: usage, stop reasons, stop
//! sequences and mid-stream errors.
//!
//! [`ChatRequest`]: crate::protocol::openai::ChatRequest
//! [`ResponseContext`]: crate::translate::ResponseContext

mod request;
mod response;
mod stream;

pub use request::{to_openai_request, MaxTokensField, OpenAiRequestOptions};
pub use response::from_openai_response;
pub use stream::OpenAiStreamTranslator;

use crate::error::ErrorKind;
use crate::protocol::anthropic::{StopReason, Usage};
use crate::protocol::openai::ChatUsage;
use crate::translate::{synthetic_signature, ResponseContext};

/// Signature put on thinking blocks made from OpenAI-style reasoning text.
/// It carries no payload: nothing of it can be replayed upstream.
fn thinking_signature() -> String {
    synthetic_signature("openai", "")
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// Usage (docs/translation.md, "Usage"): Anthropic's `input_tokens`
/// excludes cached tokens while OpenAI's `prompt_tokens` includes them.
fn map_usage(u: &ChatUsage) -> Usage {
    let details = u.prompt_tokens_details.as_ref();
    let cache_read = details
        .and_then(|d| d.cached_tokens)
        .or(u.prompt_cache_hit_tokens)
        .unwrap_or(0);
    let cache_write = details.and_then(|d| d.cache_write_tokens).unwrap_or(0);
    let input = match u.prompt_cache_miss_tokens {
        // DeepSeek states the uncached part directly.
        Some(miss) => miss,
        None => u
            .prompt_tokens
            .saturating_sub(cache_read.saturating_add(cache_write)),
    };
    Usage {
        input_tokens: input,
        output_tokens: u.completion_tokens,
        cache_creation_input_tokens: cache_write,
        cache_read_input_tokens: cache_read,
    }
}

/// Stop reason (docs/translation.md, "Stop reasons"; stop sequences are
/// decided by the caller).
///
/// `length` stays `max_tokens` even when tool calls were cut off: that is what
/// Anthropic itself reports, and it keeps clients from running a tool call
/// whose input was truncated.
fn stop_reason(finish_reason: Option<&str>, tool_uses: usize, refusal: bool) -> StopReason {
    match finish_reason {
        Some("length") => StopReason::MaxTokens,
        _ if tool_uses > 0 => StopReason::ToolUse,
        Some("content_filter") => StopReason::Refusal,
        _ if refusal => StopReason::Refusal,
        // `tool_calls` without any usable call (and anything unknown): a
        // `tool_use` stop with no tool_use block would leave clients waiting.
        _ => StopReason::EndTurn,
    }
}

/// vLLM names the matched stop string in a per-choice `stop_reason`.
fn upstream_stop_sequence(
    stop_reason: Option<&serde_json::Value>,
    ctx: &ResponseContext,
) -> Option<String> {
    let s = stop_reason?.as_str()?;
    ctx.stop_sequences
        .iter()
        .find(|seq| !seq.is_empty() && seq.as_str() == s)
        .cloned()
}

/// Anthropic error type for a `{"error":…}` object found mid-stream. The
/// HTTP status is already 200, so the type is all the client gets to decide
/// whether to retry. Read through the one table in [`ErrorKind::from_codes`].
fn stream_error_kind(error: &serde_json::Value) -> ErrorKind {
    let mut codes = Vec::new();
    let mut statuses = Vec::new();
    for key in ["type", "code", "status"] {
        match error.get(key) {
            Some(serde_json::Value::String(s)) => {
                codes.push(s.as_str());
                statuses.extend(s.trim().parse::<u16>().ok());
            }
            Some(serde_json::Value::Number(n)) => {
                statuses.extend(n.as_u64().and_then(|n| u16::try_from(n).ok()));
            }
            _ => {}
        }
    }
    ErrorKind::from_codes(&codes, &statuses).unwrap_or(ErrorKind::Api)
}

fn stream_error_message(error: &serde_json::Value) -> String {
    let text = match error.get("message").or(Some(error)) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    format!("upstream error: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::openai::PromptTokensDetails;
    use serde_json::json;

    #[test]
    fn usage_subtracts_cached_tokens() {
        let u = ChatUsage {
            prompt_tokens: 100,
            completion_tokens: 7,
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: Some(60),
                cache_write_tokens: Some(10),
            }),
            ..ChatUsage::default()
        };
        let a = map_usage(&u);
        assert_eq!((a.input_tokens, a.output_tokens), (30, 7));
        assert_eq!(
            (a.cache_read_input_tokens, a.cache_creation_input_tokens),
            (60, 10)
        );
    }

    #[test]
    fn usage_with_absurd_cache_counts_does_not_overflow() {
        // Found by tests/fuzz: cached plus written tokens overflowed.
        let u = ChatUsage {
            prompt_tokens: 5,
            completion_tokens: 1,
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: Some(1),
                cache_write_tokens: Some(u64::MAX),
            }),
            ..ChatUsage::default()
        };
        let a = map_usage(&u);
        assert_eq!(a.input_tokens, 0);
        assert_eq!(a.cache_creation_input_tokens, u64::MAX);
    }

    #[test]
    fn usage_reads_deepseek_cache_fields() {
        let u = ChatUsage {
            prompt_tokens: 100,
            completion_tokens: 3,
            prompt_cache_hit_tokens: Some(64),
            prompt_cache_miss_tokens: Some(36),
            ..ChatUsage::default()
        };
        let a = map_usage(&u);
        assert_eq!((a.input_tokens, a.cache_read_input_tokens), (36, 64));
    }

    #[test]
    fn stop_reasons_follow_d7() {
        assert_eq!(stop_reason(Some("stop"), 0, false), StopReason::EndTurn);
        assert_eq!(stop_reason(Some("stop"), 1, false), StopReason::ToolUse);
        assert_eq!(stop_reason(Some("length"), 0, false), StopReason::MaxTokens);
        assert_eq!(stop_reason(Some("length"), 2, false), StopReason::MaxTokens);
        assert_eq!(
            stop_reason(Some("tool_calls"), 1, false),
            StopReason::ToolUse
        );
        assert_eq!(
            stop_reason(Some("function_call"), 1, false),
            StopReason::ToolUse
        );
        assert_eq!(
            stop_reason(Some("tool_calls"), 0, false),
            StopReason::EndTurn
        );
        assert_eq!(
            stop_reason(Some("content_filter"), 0, false),
            StopReason::Refusal
        );
        assert_eq!(stop_reason(Some("stop"), 0, true), StopReason::Refusal);
        assert_eq!(stop_reason(None, 0, false), StopReason::EndTurn);
        assert_eq!(stop_reason(Some("weird"), 0, false), StopReason::EndTurn);
    }

    #[test]
    fn stream_errors_are_mapped() {
        let kind = |v| stream_error_kind(&v);
        assert_eq!(
            kind(json!({"type":"rate_limit_exceeded"})),
            ErrorKind::RateLimit
        );
        assert_eq!(
            kind(json!({"code":429,"message":"x"})),
            ErrorKind::RateLimit
        );
        assert_eq!(
            kind(json!({"type":"server_error","code":"overloaded"})),
            ErrorKind::Overloaded
        );
        assert_eq!(kind(json!({"type":"server_error"})), ErrorKind::Api);
        assert_eq!(kind(json!("boom")), ErrorKind::Api);
        assert_eq!(
            stream_error_message(&json!({"message":"m"})),
            "upstream error: m"
        );
        assert_eq!(stream_error_message(&json!("boom")), "upstream error: boom");
    }
}
