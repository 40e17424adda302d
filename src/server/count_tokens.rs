//! `POST /v1/messages/count_tokens`: the upstream a request for the model
//! would go to first (an explicit `upstream,model` choice, else the default
//! route's first target) is asked when it counts for itself (Anthropic);
//! every other upstream gets a local estimate from
//! [`crate::tokens`], so the route never 404s (Claude Code calls it often).
//! Anthropic's reference: <https://docs.anthropic.com/en/api/messages-count-tokens>.
//! Admitted and recorded like `/v1/messages`.

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::extract::{check_model, AnthropicBody, RequestId};
use super::state::AppState;
use crate::clients::Caller;
use crate::error::ApiError;
use crate::observe::RequestRecord;
use crate::protocol::anthropic::CountTokensRequest;
use crate::routing::failover::send_one;
use crate::routing::plan::count_target;

/// The handler: every outcome, success or error, is recorded.
pub(crate) async fn count_tokens(
    State(state): State<Arc<AppState>>,
    Extension(rid): Extension<RequestId>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<AnthropicBody<CountTokensRequest>, ApiError>,
) -> Response {
    let mut record = state.record(rid.0, "count_tokens", &caller);
    match handle(&state, &headers, &caller, body, &mut record).await {
        Ok(r) => {
            record.status = r.status().as_u16();
            r
        }
        Err(e) => {
            record.fail(&e);
            e.into_response()
        }
    }
}

async fn handle(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    caller: &Caller,
    body: Result<AnthropicBody<CountTokensRequest>, ApiError>,
    record: &mut RequestRecord,
) -> Result<Response, ApiError> {
    let _held = state.admit()?;
    // Validated for every upstream, so a bad body gets the same
    // field-naming 400 whether it is counted locally or forwarded.
    let AnthropicBody { parsed: req, raw } = body?;
    if req.messages.is_empty() {
        return Err(ApiError::invalid_request(
            "messages: at least one message is required",
        ));
    }
    check_model(&req.model)?;
    record.model_requested = req.model.clone();
    caller.check_model(&req.model)?;
    let live = state.live.load_full();
    // An upstream the caller may not use is not asked: the count is local.
    let target = count_target(&live, &req.model, headers)?
        .filter(|t| caller.allows_upstream(&t.upstream.config.name));
    if let Some(target) = target {
        let up = &target.upstream;
        let model = target.upstream_model(&req.model);
        if let Some(out) = up.provider.count_tokens(&req, &raw, headers, model) {
            let out = out?;
            record.upstream = Some(up.config.name.clone());
            record.service_type = up.config.service_type.as_str();
            record.model_upstream = Some(out.upstream_model.clone());
            record.upstreams_tried = 1;
            let whole = send_one(state.net(), &live, up, out).await?;
            record.ttfb = Some(record.started.elapsed());
            let parsed: serde_json::Value = serde_json::from_slice(&whole.body).map_err(|e| {
                ApiError::api(format!(
                    "upstream {} returned a count that is not valid JSON: {e}",
                    up.config.name
                ))
                .with_status(502)
            })?;
            return Ok(Json(parsed).into_response());
        }
    }
    let input_tokens = count_locally(req).await?;
    Ok(Json(serde_json::json!({ "input_tokens": input_tokens })).into_response())
}

/// Counts on the blocking pool: tokenising a large Claude Code request takes
/// milliseconds of CPU, and the very first count may also build the BPE
/// tables.
async fn count_locally(req: CountTokensRequest) -> Result<u64, ApiError> {
    tokio::task::spawn_blocking(move || crate::tokens::count_tokens(&req))
        .await
        .map_err(|e| ApiError::api(format!("token counting failed: {e}")))
}
