//! Anthropic Messages ⇄ OpenAI Responses API (docs/translation.md,
//! "Anthropic → OpenAI Responses" and "Responses streams").
//!
//! [`to_responses_request`] turns an Anthropic request into a
//! [`ResponsesRequest`] that borrows from it; [`ResponsesStreamTranslator`]
//! turns the upstream's event stream back, and [`from_responses_response`]
//! a whole answer, by running the stream translator over it — so a streamed
//! and a non-streamed answer cannot disagree. Pure: no I/O, no clock, no
//! randomness.
//!
//! The proxy is stateless (`store: false`, never `previous_response_id`),
//! so the reasoning items a reasoning model returns travel through the
//! client: each becomes a thinking block (its summary as the text) whose
//! signature carries the item as the upstream sent it,
//! `claude-proxy.v1.responses.<base64 of the item's JSON>`. On the next
//! request the item is decoded and sent back byte for byte, in its place in
//! the assistant turn. A real Anthropic upstream never sees these blocks
//! (the pass-through strips proxy-signed thinking).
//!
//! The helpers in this file are the answer rules: signatures, usage, stop
//! reasons and errors.
//!
//! [`ResponsesRequest`]: crate::protocol::responses::ResponsesRequest

mod request;
mod response;
mod stream;
#[cfg(test)]
mod stream_props;

pub use request::{to_responses_request, ResponsesRequestOptions, MIN_OUTPUT_TOKENS};
pub use response::from_responses_response;
pub use stream::ResponsesStreamTranslator;

use base64::Engine;
use serde_json::value::RawValue;

use crate::error::ErrorKind;
use crate::protocol::anthropic::{StopReason, Usage};
use crate::protocol::responses::{OutputItem, ResponsesUsage};
use crate::translate::{parse_synthetic_signature, synthetic_signature};

/// Provider tag inside synthetic thinking signatures.
pub const SIGNATURE_PROVIDER: &str = "responses";

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The signature of a thinking block that carries reasoning item `item`
/// (its JSON exactly as the upstream sent it).
pub fn reasoning_signature(item: &RawValue) -> String {
    synthetic_signature(SIGNATURE_PROVIDER, &B64.encode(item.get()))
}

/// Signature for thinking blocks with nothing to replay (a reasoning item
/// without encrypted content).
fn empty_signature() -> String {
    synthetic_signature(SIGNATURE_PROVIDER, "")
}

/// The reasoning item a thinking block's signature carries, exactly as the
/// upstream sent it; `None` for any other signature, and for an item that
/// could not be replayed statelessly (no encrypted content).
pub fn reasoning_item(signature: &str) -> Option<Box<RawValue>> {
    let (SIGNATURE_PROVIDER, payload) = parse_synthetic_signature(signature)? else {
        return None;
    };
    let json = String::from_utf8(B64.decode(payload).ok()?).ok()?;
    match serde_json::from_str::<OutputItem>(&json).ok()? {
        OutputItem::Reasoning {
            encrypted_content: Some(e),
            ..
        } if !e.is_empty() => RawValue::from_string(json).ok(),
        _ => None,
    }
}

/// Usage (docs/translation.md, "Usage"): Anthropic's `input_tokens`
/// excludes cached tokens while the Responses API's `input_tokens` includes
/// them; `output_tokens` already counts reasoning, as Anthropic counts
/// thinking.
fn map_usage(u: &ResponsesUsage) -> Usage {
    let cached = u
        .input_tokens_details
        .as_ref()
        .map_or(0, |d| d.cached_tokens);
    Usage {
        input_tokens: u.input_tokens.saturating_sub(cached),
        output_tokens: u.output_tokens,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: cached,
    }
}

/// How a response ended, as far as the stop reason goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending<'a> {
    /// `completed` (or a whole body with no status).
    Completed,
    /// `incomplete`, with `incomplete_details.reason`.
    Incomplete(Option<&'a str>),
}

/// Stop reason (docs/translation.md, "Stop reasons"; stop sequences are
/// decided by the caller). A cut by the output limit stays `max_tokens`
/// even when function calls were cut off, as for Chat Completions.
fn stop_reason(ending: Ending<'_>, tool_uses: u32, refusal: bool) -> StopReason {
    match ending {
        Ending::Incomplete(Some("max_output_tokens")) => StopReason::MaxTokens,
        Ending::Incomplete(Some("content_filter")) => StopReason::Refusal,
        _ if tool_uses > 0 => StopReason::ToolUse,
        _ if refusal => StopReason::Refusal,
        _ => StopReason::EndTurn,
    }
}

/// Anthropic error type for a failed response or an `error` event. Read
/// through the one table in [`ErrorKind::from_codes`]; the codes the table
/// does not know and that blame the input (`invalid_prompt`,
/// `invalid_image`, `image_too_large`, …) are the request's fault.
fn error_kind(codes: &[&str]) -> ErrorKind {
    ErrorKind::from_codes(codes, &[]).unwrap_or_else(|| {
        let input_fault = codes.iter().any(|c| {
            c.starts_with("invalid_")
                || c.starts_with("image_")
                || c.starts_with("unsupported_")
                || matches!(*c, "empty_image_file" | "failed_to_download_image")
        });
        if input_fault {
            ErrorKind::InvalidRequest
        } else {
            ErrorKind::Api
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::responses::InputTokensDetails;

    #[test]
    fn reasoning_items_round_trip_through_the_signature_byte_for_byte() {
        let item = r#"{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"é"}],"encrypted_content":"gAAA=="}"#;
        let raw = RawValue::from_string(item.to_owned()).unwrap();
        let sig = reasoning_signature(&raw);
        assert!(sig.starts_with("claude-proxy.v1.responses."), "{sig}");
        assert_eq!(reasoning_item(&sig).unwrap().get(), item);
        // Nothing to replay: no encrypted content, another provider, junk.
        let bare = RawValue::from_string(r#"{"type":"reasoning","id":"rs_2","summary":[]}"#.into());
        assert!(reasoning_item(&reasoning_signature(&bare.unwrap())).is_none());
        assert!(reasoning_item(&empty_signature()).is_none());
        assert!(reasoning_item(&synthetic_signature("gemini", "Q2lR")).is_none());
        assert!(reasoning_item("claude-proxy.v1.responses.!!!").is_none());
        assert!(reasoning_item("EqQBCkYIBxgCKkA").is_none());
    }

    #[test]
    fn usage_subtracts_cached_tokens() {
        let u = ResponsesUsage {
            input_tokens: 100,
            input_tokens_details: Some(InputTokensDetails { cached_tokens: 60 }),
            output_tokens: 9,
            ..ResponsesUsage::default()
        };
        let a = map_usage(&u);
        assert_eq!((a.input_tokens, a.cache_read_input_tokens), (40, 60));
        assert_eq!((a.output_tokens, a.cache_creation_input_tokens), (9, 0));
    }

    #[test]
    fn stop_reasons() {
        use Ending::*;
        let r = stop_reason;
        assert_eq!(r(Completed, 0, false), StopReason::EndTurn);
        assert_eq!(r(Completed, 2, false), StopReason::ToolUse);
        assert_eq!(r(Completed, 0, true), StopReason::Refusal);
        let limit = Incomplete(Some("max_output_tokens"));
        assert_eq!(r(limit, 1, false), StopReason::MaxTokens);
        let filter = Incomplete(Some("content_filter"));
        assert_eq!(r(filter, 0, false), StopReason::Refusal);
        assert_eq!(r(Incomplete(None), 0, false), StopReason::EndTurn);
    }

    #[test]
    fn error_codes() {
        assert_eq!(error_kind(&["rate_limit_exceeded"]), ErrorKind::RateLimit);
        assert_eq!(error_kind(&["server_error"]), ErrorKind::Api);
        assert_eq!(error_kind(&["vector_store_timeout"]), ErrorKind::Timeout);
        assert_eq!(error_kind(&["invalid_prompt"]), ErrorKind::InvalidRequest);
        assert_eq!(error_kind(&["image_too_large"]), ErrorKind::InvalidRequest);
        assert_eq!(
            error_kind(&["context_length_exceeded"]),
            ErrorKind::InvalidRequest
        );
        assert_eq!(error_kind(&[]), ErrorKind::Api);
    }
}
