//! Non-streaming Gemini response → `MessagesResponse` (PROTOCOLS D.5–D.8),
//! and the mappings the stream translator shares. Pure.
//!
//! A whole response is translated by feeding it to the stream translator as
//! a single chunk and folding the events with [`accumulate`]: one code path
//! for both modes means they can not drift apart (the property test checks
//! that any chunking gives the same message).

use super::stream::GeminiStreamTranslator;
use super::ToolNameMap;
use crate::error::{ApiError, ErrorKind};
use crate::protocol::anthropic::{MessagesResponse, StopReason, Usage};
use crate::protocol::gemini::{
    FinishReason, GeminiError, GenerateContentResponse, PromptFeedback, UsageMetadata,
};
use crate::translate::{accumulate, ResponseContext};

/// For requests whose tool names were all valid Gemini names (Claude Code's
/// are); otherwise use [`from_gemini_response_with_names`].
pub fn from_gemini_response(
    resp: GenerateContentResponse,
    ctx: &ResponseContext,
) -> Result<MessagesResponse, ApiError> {
    from_gemini_response_with_names(resp, ctx, &ToolNameMap::default())
}

/// `Err` for an error body, and for a blocked prompt (no candidates,
/// `promptFeedback.blockReason`): 400 `invalid_request_error`, as Anthropic
/// rejects prompts it will not process.
pub fn from_gemini_response_with_names(
    resp: GenerateContentResponse,
    ctx: &ResponseContext,
    names: &ToolNameMap,
) -> Result<MessagesResponse, ApiError> {
    if let Some(err) = &resp.error {
        return Err(ApiError::new(error_kind(err), error_message(err)));
    }
    if resp.candidates.is_empty() {
        if let Some(reason) = block_reason(resp.prompt_feedback.as_ref()) {
            let detail = resp
                .prompt_feedback
                .as_ref()
                .and_then(|f| f.block_reason_message.as_deref())
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            return Err(ApiError::invalid_request(format!(
                "Gemini blocked the prompt ({reason}){detail}"
            )));
        }
    }
    let mut translator = GeminiStreamTranslator::new(ctx.clone()).with_tool_names(names.clone());
    let mut events = Vec::new();
    translator.start(&mut events);
    translator.push_response(resp, &mut events);
    translator.assume_finished();
    translator.finish(&mut events);
    accumulate(&events).map_err(|e| ApiError::api(format!("translating the Gemini response: {e}")))
}

/// D.7. Any emitted `tool_use` makes an ordinary stop a `tool_use` stop
/// (Gemini has no tool-call finish reason).
pub fn stop_reason(reason: FinishReason, saw_tool_use: bool) -> StopReason {
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

/// D.6: Anthropic's `input_tokens` excludes cache reads; Gemini's output
/// count excludes thoughts.
pub fn usage(u: &UsageMetadata) -> Usage {
    Usage {
        input_tokens: u
            .prompt_token_count
            .saturating_sub(u.cached_content_token_count),
        output_tokens: u.candidates_token_count + u.thoughts_token_count,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: u.cached_content_token_count,
    }
}

pub(super) fn block_reason(feedback: Option<&PromptFeedback>) -> Option<&str> {
    feedback?.block_reason.as_deref().filter(|r| !r.is_empty())
}

/// D.8 for an error object that arrives in a body after the 200.
///
/// Only the `status` name decides (`RESOURCE_EXHAUSTED`, `UNAVAILABLE`, …),
/// read through the one table in [`ErrorKind::from_codes`].
pub(super) fn error_kind(err: &GeminiError) -> ErrorKind {
    let status: Vec<&str> = err.status.as_deref().into_iter().collect();
    ErrorKind::from_codes(&status, &[]).unwrap_or(ErrorKind::Api)
}

pub(super) fn error_message(err: &GeminiError) -> String {
    let status = err.status.as_deref().unwrap_or("error");
    match err.message.as_deref() {
        Some(m) => format!("upstream gemini {status}: {m}"),
        None => format!("upstream gemini {status}"),
    }
}
