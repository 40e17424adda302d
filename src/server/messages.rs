//! `POST /v1/messages`: parse, route (current upstream, then its fallbacks),
//! send with key failover, answer. Retries and fallbacks happen only before
//! anything reached the client.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::metrics::InflightGuard;
use super::observe::RequestRecord;
use super::respond::{prepare, respond, Held, Respond};
use super::state::AppState;
use super::upstream::{send_with_failover, SendError};
use super::util::{message_id, request_id};
use crate::config::ServiceType;
use crate::error::{ApiError, ErrorKind};
use crate::protocol::anthropic::MessagesRequest;
use crate::translate::ResponseContext;

pub async fn create_message(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let rid = request_id();
    if state.settings.enable_request_logs {
        if let Ok(b) = &body {
            super::body_log::log_request(&rid, &headers, b);
        }
    }
    let mut record = Some(RequestRecord::new(rid.clone()));
    let result = handle(&state, &headers, body, &mut record).await;
    let mut resp = match result {
        Ok(r) => {
            if let Some(mut rec) = record.take() {
                rec.status = r.status().as_u16();
                rec.finish();
            }
            r
        }
        Err(e) => {
            if let Some(mut rec) = record.take() {
                rec.status = e.status.as_u16();
                rec.error = Some(e.message.clone());
                rec.finish();
            }
            e.into_response()
        }
    };
    if let Ok(v) = HeaderValue::from_str(&rid) {
        resp.headers_mut().insert("request-id", v);
    }
    if state.settings.enable_response_logs {
        resp = super::body_log::log_response(rid, resp);
    }
    resp
}

/// Maps a body-extraction failure (size limit, read error) to Anthropic's error.
pub fn body_error(rej: BytesRejection) -> ApiError {
    if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            ErrorKind::RequestTooLarge,
            "request body is larger than the proxy's limit (MAX_BODY_SIZE)",
        )
    } else {
        ApiError::invalid_request(format!("cannot read request body: {}", rej.body_text()))
    }
}

/// Parses a JSON body, naming the offending field on error.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid_request(
            "request body is empty; expected a JSON object",
        ));
    }
    // Fast path without path tracking; a failure is parsed again to name
    // the field (errors are rare, and cost nothing on the hot path).
    if let Ok(v) = serde_json::from_slice(body) {
        return Ok(v);
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let what = if inner.is_syntax() || inner.is_eof() {
            format!("invalid JSON in request body: {inner}")
        } else if path.is_empty() || path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        };
        ApiError::invalid_request(what)
    })
}

/// Takes a `MAX_CONCURRENT_REQUESTS` permit, or refuses at once.
fn admit(state: &AppState) -> Result<Held, ApiError> {
    let permit = match &state.inflight {
        None => None,
        Some(sem) => Some(sem.clone().try_acquire_owned().map_err(|_| {
            ApiError::overloaded(format!(
                "the proxy is at its limit of {} concurrent requests (MAX_CONCURRENT_REQUESTS)",
                state.settings.max_concurrent_requests
            ))
            .with_retry_after(Some(1))
        })?),
    };
    Ok(Box::new((permit, InflightGuard::new())))
}

async fn handle(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    record: &mut Option<RequestRecord>,
) -> Result<Response, ApiError> {
    let mut held = Some(admit(state)?);
    let body = body.map_err(body_error)?;
    let req: MessagesRequest = parse_json(&body)?;
    if req.messages.is_empty() {
        return Err(ApiError::invalid_request(
            "messages: at least one message is required",
        ));
    }
    if let Some(rec) = record.as_mut() {
        rec.stream = req.is_stream();
        rec.model_requested = req.model.clone();
    }
    let live = state.live.load_full();
    let route = live.route();
    if route.is_empty() {
        return Err(no_upstream());
    }
    // Only a Claude pass-through sends the client's bytes on; otherwise let
    // them go now. (They may pin the connection's whole read buffer for as
    // long as the upstream takes to answer.)
    let body_len = body.len();
    let body = if route
        .iter()
        .any(|u| u.config.service_type == ServiceType::Claude)
    {
        body
    } else {
        // Explicitly: a binding that is only shadowed lives on to the end
        // of the function.
        drop(body);
        Bytes::new()
    };
    let ctx = ResponseContext {
        message_id: message_id(),
        model: req.model.clone(),
        stop_sequences: req.stop_sequences.clone().unwrap_or_default(),
    };
    // The parsed request is large (a Claude Code turn is ~50 KB of text and
    // schemas); it is needed again only to translate for a fallback upstream,
    // so with a single upstream it goes before the wait for the answer.
    let keep_request = route.len() > 1;
    let mut req = Some(req);
    let mut last_error = None;
    for up in route {
        // Always there when this upstream is not the first.
        let Some(parsed) = req.as_ref() else { break };
        let upstream_model = up.config.model_mapping.resolve(&parsed.model).to_owned();
        let mut dropped = up.refused_params(&upstream_model);
        if let Some(rec) = record.as_mut() {
            rec.upstream = Some(up.config.name.clone());
            rec.service_type = up.config.service_type.as_str();
            rec.model_upstream = Some(upstream_model.clone());
            rec.upstreams_tried += 1;
        }
        let mut out = prepare(parsed, &body, body_len, &up.config, headers, &dropped)?;
        if !keep_request {
            req = None;
        }
        // Bounded: each optional parameter can be dropped once.
        let sent = loop {
            let target = out.target(&up.config);
            let sent =
                send_with_failover(state, &up, &target, out.body.clone(), out.headers.clone())
                    .await;
            match sent {
                Err(SendError::Request {
                    rejected: Some(param),
                    error,
                }) if !dropped.contains(&param) && dropped.len() < MAX_DROPPED_PARAMS => {
                    let next = match req.as_ref() {
                        Some(parsed) => {
                            let mut without = dropped.clone();
                            without.push(param);
                            let next =
                                prepare(parsed, &body, body_len, &up.config, headers, &without)?;
                            (next.body != out.body).then_some(next)
                        }
                        None => out.without_param(param)?,
                    };
                    // Nothing to leave out for this upstream: the error stands.
                    let Some(next) = next else {
                        break Err(SendError::Request {
                            rejected: Some(param),
                            error,
                        });
                    };
                    tracing::info!(
                        upstream = %up.config.name,
                        model = %upstream_model,
                        ?param,
                        error = %error.message,
                        "upstream model refuses a parameter; sending again without it"
                    );
                    up.remember_refused(&upstream_model, param);
                    dropped.push(param);
                    out = next;
                }
                sent => break sent,
            }
        };
        let attempted = match sent {
            Ok(a) => a,
            Err(SendError::Request { error, .. }) => return Err(error),
            Err(SendError::Exhausted { error, attempts }) => {
                if let Some(rec) = record.as_mut() {
                    rec.attempts += attempts;
                }
                tracing::warn!(upstream = %up.config.name, error = %error.message, "every key of the upstream failed");
                last_error = Some(error);
                continue;
            }
        };
        if let Some(rec) = record.as_mut() {
            rec.attempts += attempted.attempts;
            rec.key = Some(attempted.key_masked.clone());
            rec.ttfb = Some(rec.started.elapsed());
        }
        let ctx = ctx.clone();
        return respond(
            out,
            attempted,
            Respond {
                settings: &state.settings,
                upstream: &up.config.name,
                ctx,
                record,
                held: &mut held,
            },
        )
        .await;
    }
    Err(last_error.unwrap_or_else(no_upstream))
}

/// How many refused optional parameters one request may drop.
const MAX_DROPPED_PARAMS: usize = 4;

fn no_upstream() -> ApiError {
    ApiError::api(
        "no upstream is configured. Add one, e.g.: claude-proxy config add openai openai https://api.openai.com/v1 --key sk-... \
         (or edit config.json); the running server picks it up without a restart",
    )
    .with_status(503)
}
