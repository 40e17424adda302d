//! `POST /v1/messages/count_tokens` (PROTOCOLS A.8): a Claude upstream
//! counts for itself; every other upstream gets a local estimate from
//! [`crate::tokens`], so the route never 404s (Claude Code calls it often).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::value::RawValue;

use super::messages::{body_error, parse_json};
use super::state::{AppState, UpstreamRuntime};
use super::upstream::{read_body, send_with_failover_to};
use super::util::request_id;
use crate::config::ServiceType;
use crate::error::ApiError;
use crate::protocol::anthropic::CountTokensRequest;
use crate::providers::Target;

/// Sent when the client sent no `anthropic-version` (Anthropic requires one).
const DEFAULT_ANTHROPIC_VERSION: &str = "2023-06-01";

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
            return forward_to_claude(state, up, headers, &req.model, &body).await;
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
/// client sent it except `model`, which becomes the mapped upstream model;
/// `anthropic-version` and `anthropic-beta` pass through. The upstream's
/// answer is returned as is.
async fn forward_to_claude(
    state: &Arc<AppState>,
    up: &Arc<UpstreamRuntime>,
    client_headers: &HeaderMap,
    model: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    let upstream_model = up.config.model_mapping.resolve(model);
    let body = with_model(body, upstream_model)?;
    let mut extra = HeaderMap::new();
    let version = client_headers
        .get("anthropic-version")
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static(DEFAULT_ANTHROPIC_VERSION));
    extra.insert("anthropic-version", version);
    if let Some(beta) = client_headers.get("anthropic-beta") {
        extra.insert("anthropic-beta", beta.clone());
    }
    let target = Target {
        upstream: &up.config,
        model: upstream_model,
        stream: false,
    };
    let url = up.config.endpoint("/messages/count_tokens");
    let attempted = send_with_failover_to(state, up, &target, &url, body, extra).await?;
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

/// The body with `model` replaced. Other values stay raw JSON text, so they
/// are copied rather than re-parsed into trees (key order may change, which
/// JSON objects do not care about).
fn with_model(body: &[u8], model: &str) -> Result<Bytes, ApiError> {
    let mut fields: BTreeMap<String, &RawValue> = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid_request(format!("invalid JSON in request body: {e}")))?;
    let model_json = serde_json::to_string(model)
        .map_err(|e| ApiError::api(format!("cannot encode the model name: {e}")))?;
    let model_raw: &RawValue = serde_json::from_str(&model_json)
        .map_err(|e| ApiError::api(format!("cannot encode the model name: {e}")))?;
    fields.insert("model".to_owned(), model_raw);
    serde_json::to_vec(&fields)
        .map(Bytes::from)
        .map_err(|e| ApiError::api(format!("cannot encode upstream request: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_is_replaced_and_the_rest_kept() {
        let body = br#"{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi \u00e9"}],"system":"s"}"#;
        let out = with_model(body, "claude-real-1").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["model"], "claude-real-1");
        assert_eq!(v["system"], "s");
        assert_eq!(v["messages"][0]["content"], "hi é");
        // Raw values are copied verbatim, escapes included.
        assert!(std::str::from_utf8(&out)
            .unwrap()
            .contains(r#""hi \u00e9""#));
    }
}
