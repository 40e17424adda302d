//! OpenAI `ChatResponse` → Anthropic `MessagesResponse`
//! (docs/translation.md, "Answers").
//!
//! A whole answer is translated by handing it to the stream translator as a
//! single chunk and folding the events as
//! [`accumulate`](crate::translate::accumulate) does: one code path for both
//! modes, so a streamed answer and a non-streamed one can not drift apart
//! (the property test in `response_tests.rs` checks that any chunking gives
//! the same message).

use super::OpenAiStreamTranslator;
use crate::error::ApiError;
use crate::protocol::anthropic::MessagesResponse;
use crate::protocol::openai::{
    ChatChunk, ChatResponse, ChunkChoice, ChunkDelta, ChunkFunction, ChunkToolCall,
};
use crate::translate::blocks::accumulate_owned;
use crate::translate::ResponseContext;

/// The Anthropic message for a non-streamed OpenAI answer. `Err` only if the
/// translation broke the event grammar, which the stream tests rule out.
pub fn from_openai_response(
    resp: ChatResponse,
    ctx: &ResponseContext,
) -> Result<MessagesResponse, ApiError> {
    let mut translator = OpenAiStreamTranslator::new(ctx.clone());
    // message_start, a thinking and a text block, three events per tool
    // call, message_delta and message_stop.
    let calls = resp
        .choices
        .first()
        .and_then(|c| c.message.tool_calls.as_ref())
        .map_or(0, Vec::len);
    let mut events = Vec::with_capacity(12 + 3 * calls);
    translator.start(&mut events);
    translator.push_chunk(as_chunk(resp), &mut events);
    // A whole body is complete even without a finish reason.
    translator.complete(&mut events);
    accumulate_owned(events)
        .map_err(|e| ApiError::api(format!("translating the OpenAI response: {e}")))
}

/// The one stream chunk that carries all of `resp`: the message as the
/// delta of choice 0 (the proxy never asks for `n > 1`), each tool call
/// whole under its own index.
fn as_chunk(resp: ChatResponse) -> ChatChunk {
    let choices = resp.choices.into_iter().take(1).map(|choice| {
        let m = choice.message;
        let tool_calls = m.tool_calls.map(|calls| {
            (0u32..)
                .zip(calls)
                .map(|(index, call)| ChunkToolCall {
                    index: Some(index),
                    id: call.id,
                    function: Some(ChunkFunction {
                        name: call.function.name,
                        arguments: call.function.arguments,
                    }),
                })
                .collect()
        });
        ChunkChoice {
            index: Some(0),
            delta: ChunkDelta {
                content: m.content,
                reasoning_content: m.reasoning_content,
                reasoning: m.reasoning,
                refusal: m.refusal,
                tool_calls,
            },
            finish_reason: choice.finish_reason,
            stop_reason: choice.stop_reason,
        }
    });
    ChatChunk {
        choices: choices.collect(),
        usage: resp.usage,
        error: None,
    }
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
