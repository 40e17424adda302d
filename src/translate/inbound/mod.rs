//! OpenAI's protocols *into* the gateway: `POST /v1/chat/completions` and
//! `POST /v1/responses` served by any upstream (docs/openai-inbound.md).
//!
//! # Design
//!
//! Every upstream already speaks through one internal form, Anthropic's
//! Messages request and its answer and events. An OpenAI request is
//! therefore translated *into* that form, runs through the same pipeline
//! as `/v1/messages` (route choice, failover loop, the provider's
//! translation to its own protocol), and the Anthropic answer is translated
//! back:
//!
//! ```text
//! chat / responses request ──[chat::to_anthropic | responses::to_anthropic]──▶ Anthropic request JSON
//!        ──▶ choose → dispatch → provider.respond ──▶ Anthropic JSON or Anthropic SSE
//! Anthropic JSON ──[anthropic_in::decode_message]──▶ MessagesResponse ──[chat_out | responses_out]──▶ client JSON
//! Anthropic SSE  ──[anthropic_in::EventDecoder]──▶ StreamEvent ──[ChatStream | ResponsesStream]──▶ client SSE
//! ```
//!
//! The request translators build the Anthropic request as JSON (the
//! internal request type only deserialises): the handler parses that JSON
//! with the same parser `/v1/messages` uses, and a Claude upstream gets the
//! very bytes as its pass-through body. Answers are read leniently
//! ([`anthropic_in`]), because a Claude upstream's own answer passes through
//! unchanged and may carry blocks and fields no other provider produces.
//!
//! Stream and non-stream share their rules: the stream translators build
//! the final object with the same function as the non-stream path, and
//! property tests check that any Anthropic event sequence accumulates to the
//! non-stream translation of the same message.
//!
//! One exception to the round trip: a request routed to an upstream of its
//! own protocol (Chat Completions to `openai` / `openaiold`, Responses to
//! `responses`) is passed through (model mapped, key swapped; see
//! `server/openai`), the Responses body through
//! [`responses::pass_through_body`].
//!
//! Everything here is pure: ids and timestamps come in through the
//! contexts.
//!
//! | module | holds |
//! |---|---|
//! | `chat` | Chat Completions request → Anthropic request |
//! | `chat_out` | Anthropic answer and events → `chat.completion` and chunks |
//! | `responses` | Responses request → Anthropic request, reasoning items ⇄ thinking blocks |
//! | `responses_out` | Anthropic answer and events → `response` object and Responses events |
//! | `anthropic_in` | lenient reading of Anthropic answers and events |
//! | `draft` | the Anthropic request under construction, and the rules both requests share |

pub(crate) mod anthropic_in;
pub(crate) mod chat;
pub(crate) mod chat_out;
mod draft;
pub(crate) mod responses;
pub(crate) mod responses_out;

#[cfg(test)]
mod chat_tests;
#[cfg(test)]
mod responses_tests;

use crate::error::{ApiError, ErrorKind};

/// What translating an answer back needs to know about the request.
#[derive(Debug, Clone)]
pub(crate) struct OutContext {
    /// The suffix every id of this answer shares (`chatcmpl-…`, `resp_…`).
    pub id: String,
    /// Unix seconds.
    pub created: u64,
    /// The model the client asked for (echoed, as OpenAI does).
    pub model: String,
}

impl OutContext {
    /// A context whose ids are derived from an Anthropic `msg_…` id.
    pub(crate) fn new(message_id: &str, created: u64, model: &str) -> Self {
        OutContext {
            id: message_id
                .strip_prefix("msg_")
                .unwrap_or(message_id)
                .to_owned(),
            created,
            model: model.to_owned(),
        }
    }
}

/// The `error` object of OpenAI's error shape for a mid-stream failure:
/// `{"message","type","param","code"}` (the same rendering as
/// [`ApiError::openai_body`]).
pub(crate) fn stream_error(kind: ErrorKind, message: &str) -> serde_json::Value {
    let e = ApiError::new(kind, message);
    let (kind, code) = e.openai_type_and_code();
    serde_json::json!({"message": message, "type": kind, "param": null, "code": code})
}
