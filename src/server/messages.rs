//! `POST /v1/messages`: parse, plan the route, send with failover, answer.

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::extract::{check_model, owned_headers, AnthropicBody, RequestId};
use super::state::AppState;
use super::util::message_id;
use crate::clients::Caller;
use crate::error::ApiError;
use crate::observe::RequestRecord;
use crate::protocol::anthropic::MessagesRequest;
use crate::providers::{ClientRequest, Respond};
use crate::routing::access::restrict;
use crate::routing::failover::{dispatch, no_upstream};
use crate::routing::plan::{choose, Choice, LongContext, Plan};
use crate::routing::LiveState;
use crate::translate::ResponseContext;

/// The handler: every outcome, success or error, is recorded.
pub(crate) async fn create_message(
    State(state): State<Arc<AppState>>,
    Extension(rid): Extension<RequestId>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<AnthropicBody<MessagesRequest>, ApiError>,
) -> Response {
    let headers = owned_headers(headers);
    let mut record = Some(state.record(rid.0, "messages", &caller));
    let mut route = None;
    let result = handle(&state, &headers, &caller, body, &mut record, &mut route).await;
    // A stream took the record along; otherwise it is written here.
    let mut resp = match result {
        Ok(resp) => {
            if let Some(rec) = record.as_mut() {
                rec.status = resp.status().as_u16();
            }
            resp
        }
        Err(e) => {
            if let Some(rec) = record.as_mut() {
                rec.fail(&e);
            }
            e.into_response()
        }
    };
    if let Some(route) = route {
        resp.headers_mut()
            .insert(ROUTE_HEADER, HeaderValue::from_static(route));
    }
    resp
}

/// The response header that says which route a request took.
pub(super) const ROUTE_HEADER: &str = "x-claude-proxy-route";

async fn handle(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    caller: &Caller,
    body: Result<AnthropicBody<MessagesRequest>, ApiError>,
    record: &mut Option<RequestRecord>,
    route: &mut Option<&'static str>,
) -> Result<Response, ApiError> {
    let mut held = Some(state.admit()?);
    let AnthropicBody { parsed: req, raw } = body?;
    if req.messages.is_empty() {
        return Err(ApiError::invalid_request(
            "messages: at least one message is required",
        ));
    }
    check_model(&req.model)?;
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
    let plan = plan.targets;
    if plan.is_empty() {
        return Err(no_upstream());
    }
    // Only a pass-through sends the client's bytes on; otherwise let them
    // go now (they may pin the connection's whole read buffer for as long
    // as the upstream takes to answer).
    let raw_len = raw.len();
    let raw = if plan
        .iter()
        .any(|t| t.upstream.provider.forwards_client_body())
    {
        raw
    } else {
        drop(raw);
        Default::default()
    };
    let ctx = ResponseContext {
        message_id: message_id(),
        model: req.model.clone(),
        stop_sequences: req.stop_sequences.clone().unwrap_or_default(),
    };
    let mut client = ClientRequest {
        parsed: Some(req),
        raw,
        raw_len,
        headers,
        native: None,
    };
    let answered = dispatch(state.net(), &live, plan, &mut client, record).await?;
    // The client's request is not needed to read the answer.
    drop(client);
    let up = answered.upstream;
    up.provider
        .respond(
            answered.outgoing,
            answered.answer,
            Respond {
                settings: &state.settings,
                upstream: &up.config.name,
                ctx,
                record,
                held: &mut held,
            },
        )
        .await
}

/// The request's route, within what the caller may use (a client key's
/// `models` and `upstreams`); a request too close to the long-context
/// threshold to decide from its size is counted first, off the async
/// runtime.
pub(super) async fn choose_route(
    live: &LiveState,
    req: MessagesRequest,
    headers: &HeaderMap,
    caller: &Caller,
) -> Result<(MessagesRequest, Plan), ApiError> {
    caller.check_model(&req.model)?;
    let (req, plan) = route_of(live, req, headers).await?;
    Ok((req, restrict(live, plan, caller)?))
}

async fn route_of(
    live: &LiveState,
    req: MessagesRequest,
    headers: &HeaderMap,
) -> Result<(MessagesRequest, Plan), ApiError> {
    let threshold = match choose(live, &req, headers, LongContext::Unknown)? {
        Choice::Plan(plan) => return Ok((req, plan)),
        Choice::NeedsCount { threshold } => threshold,
    };
    let (req, tokens) = tokio::task::spawn_blocking(move || {
        let tokens = crate::tokens::count_request_tokens(
            req.system.as_ref(),
            &req.messages,
            req.tools.as_deref(),
        );
        (req, tokens)
    })
    .await
    .map_err(|e| ApiError::api(format!("token counting failed: {e}")))?;
    match choose(live, &req, headers, LongContext::Known(tokens > threshold))? {
        Choice::Plan(plan) => Ok((req, plan)),
        Choice::NeedsCount { .. } => Err(ApiError::api(
            "internal error: the route still needs a count after counting",
        )),
    }
}
