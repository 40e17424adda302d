//! A whole Responses answer → Anthropic `MessagesResponse`
//! (docs/translation.md, "Answers").
//!
//! The answer is handed to the stream translator as the terminal event it
//! would end a stream with (its `output` completes every item) and the
//! events are folded with [`accumulate`]: one code path for both modes, so
//! a streamed answer and a non-streamed one cannot drift apart (the
//! property tests in `stream_props.rs` check it for any stream shape).

use super::ResponsesStreamTranslator;
use crate::error::{ApiError, ErrorKind};
use crate::protocol::anthropic::{MessagesResponse, StreamEvent};
use crate::protocol::responses::ResponseObject;
use crate::translate::{accumulate, ResponseContext};

/// The Anthropic message for a non-streamed Responses answer. A `failed`
/// answer is its mapped error; any other `Err` means the translation broke
/// the event grammar, which the stream tests rule out.
pub fn from_responses_response(
    resp: ResponseObject,
    ctx: &ResponseContext,
) -> Result<MessagesResponse, ApiError> {
    let mut translator = ResponsesStreamTranslator::new(ctx.clone());
    let mut events = Vec::new();
    translator.whole(resp, &mut events);
    if let Some(StreamEvent::Error { error }) = events.last() {
        let kind = ErrorKind::from_name(&error.kind).unwrap_or(ErrorKind::Api);
        return Err(ApiError::new(kind, error.message.clone()));
    }
    accumulate(&events).map_err(|e| ApiError::api(format!("translating the Responses answer: {e}")))
}
