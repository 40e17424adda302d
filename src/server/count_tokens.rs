//! `POST /v1/messages/count_tokens` (PROTOCOLS A.8): a Claude upstream
//! counts for itself; every other upstream gets a local estimate from
//! [`crate::tokens`], so the route never 404s (Claude Code calls it often).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::messages::{body_error, parse_json};
use super::respond::anthropic_headers;
use super::state::{AppState, UpstreamRuntime};
use super::upstream::{read_body, send_with_failover_to};
use super::util::request_id;
use crate::config::ServiceType;
use crate::error::ApiError;
use crate::protocol::anthropic::CountTokensRequest;
use crate::providers::Target;
use crate::translate::anthropic::{has_synthetic_thinking, rewrite_body};

pub async fn count_tokens(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let rid = request_id();
    let mut resp = match handle(&state, &headers, body).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(request_id = %rid, status = e.status.as_u16(), error = %e.message, "count_tokens failed");
            e.into_response()
        }
    };
    if let Ok(v) = HeaderValue::from_str(&rid) {
        resp.headers_mut().insert("request-id", v);
    }
    resp
}

async fn handle(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(body_error)?;
    // Validated here for every upstream, so a bad body gets the same
    // field-naming 400 whether it is counted locally or forwarded.
    let req: CountTokensRequest = parse_json(&body)?;
    if req.messages.is_empty() {
        return Err(ApiError::invalid_request(
            "messages: at least one message is required",
        ));
    }
    let live = state.live.load_full();
    if let Some(up) = live.current() {
        if up.config.service_type == ServiceType::Claude {
            return forward_to_claude(state, up, headers, &req, &body).await;
        }
    }
    let input_tokens = count_locally(req).await?;
    Ok(Json(serde_json::json!({ "input_tokens": input_tokens })).into_response())
}

/// Counts on the blocking pool: tokenising a large Claude Code request takes
/// milliseconds of CPU, and the very first count may also build the BPE
/// tables if the start-up warm-up has not finished yet.
async fn count_locally(req: CountTokensRequest) -> Result<u64, ApiError> {
    tokio::task::spawn_blocking(move || crate::tokens::count_tokens(&req))
        .await
        .map_err(|e| ApiError::api(format!("token counting failed: {e}")))
}

/// Forwards the request to the Claude upstream's own counter: the body as the
/// client sent it except `model` (mapped) and proxy-signed thinking blocks;
/// `anthropic-version` and `anthropic-beta` pass through. The upstream's
/// answer is returned as is.
async fn forward_to_claude(
    state: &Arc<AppState>,
    up: &Arc<UpstreamRuntime>,
    client_headers: &HeaderMap,
    req: &CountTokensRequest,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let upstream_model = up.config.model_mapping.resolve(&req.model);
    let changed_model = (upstream_model != req.model).then_some(upstream_model);
    let body = rewrite_body(body, changed_model, has_synthetic_thinking(&req.messages))
        .map_err(ApiError::invalid_request)?
        .map(Bytes::from)
        .unwrap_or_else(|| body.clone());
    let target = Target {
        upstream: &up.config,
        model: upstream_model,
        stream: false,
    };
    let url = up.parse_url(&up.config.endpoint("/messages/count_tokens"))?;
    let extra = anthropic_headers(client_headers);
    let attempted = send_with_failover_to(state, up, &target, url, body, extra).await?;
    let bytes = read_body(&up.config.name, attempted.response).await?;
    let parsed: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::api(format!(
            "upstream {} returned a count that is not valid JSON: {e}",
            up.config.name
        ))
        .with_status(502)
    })?;
    Ok(Json(parsed).into_response())
}
