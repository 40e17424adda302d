//! Non-streaming Gemini response → `MessagesResponse` (docs/translation.md,
//! "Answers"). Pure.
//!
//! A whole response is translated by feeding it to the stream translator as
//! a single chunk and folding the events as
//! [`accumulate`](crate::translate::accumulate) does: one code path for both
//! modes means they can not drift apart (the property test checks that any
//! chunking gives the same message).

use super::stream::GeminiStreamTranslator;
use super::{block_reason, error_kind, error_message, ToolNameMap};
use crate::error::ApiError;
use crate::protocol::anthropic::MessagesResponse;
use crate::protocol::gemini::GenerateContentResponse;
use crate::translate::blocks::accumulate_owned;
use crate::translate::ResponseContext;

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
    accumulate_owned(events)
        .map_err(|e| ApiError::api(format!("translating the Gemini response: {e}")))
}
