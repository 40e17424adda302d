//! The OpenAI-compatible endpoints: `POST /v1/chat/completions`
//! ([`chat`]) and `POST /v1/responses` ([`responses`]), served by every
//! upstream type through the same pipeline as `/v1/messages`
//! (docs/openai-inbound.md).
//!
//! A handler translates the request into the internal Anthropic form
//! (`translate::inbound`), and [`run`] does what `/v1/messages` does with
//! it: admission (`MAX_CONCURRENT_REQUESTS`), route choice, the failover
//! loop over keys and upstreams with the circuit breaker, and the
//! provider's answer, all recorded in the request record under the
//! endpoint's name. The Anthropic answer is then translated back, a stream
//! event by event ([`relay`]).
//!
//! The one shortcut: a request whose route reaches an upstream of the
//! client's own protocol (Chat Completions: `openai`, `openaiold`;
//! Responses: `responses`) sends that upstream the client's own body with
//! only the model mapped (the provider's endpoint and auth, the same
//! failover loop), and the upstream's answer goes back as it came
//! ([`passthrough`]; whole answers to a stream request are replayed as a
//! stream by [`replay`]).
//! Every error is rendered in OpenAI's shape.

mod chat;
mod passthrough;
mod relay;
mod replay;
mod responses;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use bytes::Bytes;

pub(crate) use chat::chat_completions;
pub(crate) use responses::create_response;

use super::extract::parse_json;
use super::messages::{choose_route, ROUTE_HEADER};
use super::state::AppState;
use super::util::message_id;
use crate::clients::Caller;
use crate::error::{ApiError, ErrorShape};
use crate::observe::RequestRecord;
use crate::protocol::anthropic::MessagesRequest;
use crate::providers::{ClientRequest, Held, NativeBody, Respond};
use crate::routing::failover::{dispatch, no_upstream, Answered};
use crate::translate::ResponseContext;

/// Largest Anthropic answer read back into memory for translation.
const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// What a request became before it is sent.
pub(super) struct Inbound {
    /// The Anthropic request JSON (a Claude upstream gets these bytes).
    pub anthropic: Bytes,
    /// The client's own body, for an upstream of its protocol.
    pub native: Option<NativeBody>,
    /// Length of the client's body.
    pub raw_len: usize,
}

/// What the pipeline produced.
pub(super) enum Outcome {
    /// The upstream answered the client's own body.
    PassThrough(Box<Answered>),
    /// An Anthropic answer (JSON, or an SSE body) to translate back.
    Anthropic {
        response: Response,
        /// The `msg_…` id the answer carries; the OpenAI ids derive from it.
        message_id: String,
        model: String,
    },
}

/// Unix seconds now (`created`).
pub(super) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Runs the request through the pipeline `/v1/messages` uses.
pub(super) async fn run(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    caller: &Caller,
    inbound: Inbound,
    record: &mut Option<RequestRecord>,
    route: &mut Option<&'static str>,
    held: &mut Option<Held>,
) -> Result<Outcome, ApiError> {
    let req: MessagesRequest = parse_json(&inbound.anthropic)?;
    if let Some(rec) = record.as_mut() {
        rec.stream = req.is_stream();
        rec.model_requested = req.model.clone();
    }
    let live = state.live.load_full();
    let (req, plan) = choose_route(&live, req, headers, caller).await?;
    *route = Some(plan.route.as_str());
    if let Some(rec) = record.as_mut() {
        rec.route = plan.route.as_str();
    }
    let targets = plan.targets;
    if targets.is_empty() {
        return Err(no_upstream());
    }
    let native = inbound.native.filter(|n| {
        targets
            .iter()
            .any(|t| t.upstream.provider.passes_through(n))
    });
    let raw = if targets
        .iter()
        .any(|t| t.upstream.provider.forwards_client_body())
    {
        inbound.anthropic
    } else {
        Bytes::new()
    };
    let ctx = ResponseContext {
        message_id: message_id(),
        model: req.model.clone(),
        stop_sequences: req.stop_sequences.clone().unwrap_or_default(),
    };
    let mut client = ClientRequest {
        parsed: Some(req),
        raw,
        raw_len: inbound.raw_len,
        headers,
        native,
    };
    let answered = dispatch(state.net(), &live, targets, &mut client, record).await?;
    drop(client);
    if answered.outgoing.is_pass_through() {
        return Ok(Outcome::PassThrough(Box::new(answered)));
    }
    let message_id = ctx.message_id.clone();
    let model = ctx.model.clone();
    let up = answered.upstream;
    let response = up
        .provider
        .respond(
            answered.outgoing,
            answered.answer,
            Respond {
                settings: &state.settings,
                upstream: &up.config.name,
                ctx,
                record,
                held,
            },
        )
        .await?;
    Ok(Outcome::Anthropic {
        response,
        message_id,
        model,
    })
}

/// True when an Anthropic answer is an event stream.
pub(super) fn is_event_stream(resp: &Response) -> bool {
    resp.headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("event-stream"))
}

/// Reads a whole Anthropic answer's body.
pub(super) async fn read_answer(resp: Response) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(resp.into_body(), MAX_ANSWER)
        .await
        .map_err(|e| ApiError::api(format!("cannot read the answer: {e}")).with_status(502))
}

/// Writes the outcome into the record, renders an error in OpenAI's shape,
/// and names the route.
pub(super) fn finish(
    result: Result<Response, ApiError>,
    record: &mut Option<RequestRecord>,
    route: Option<&'static str>,
) -> Response {
    let mut resp = match result {
        Ok(resp) => {
            if let Some(rec) = record.as_mut() {
                rec.status = resp.status().as_u16();
            }
            resp
        }
        Err(e) => {
            if let Some(rec) = record.as_mut() {
                rec.status = e.openai_status().as_u16();
                rec.error = Some(e.message.clone());
            }
            e.into_response_as(ErrorShape::OpenAi)
        }
    };
    if let Some(route) = route {
        resp.headers_mut()
            .insert(ROUTE_HEADER, HeaderValue::from_static(route));
    }
    resp
}
