//! `POST /v1/messages`: parse, route, translate, send with key failover,
//! translate back (JSON or SSE).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;

use super::state::{AppState, UpstreamRuntime};
use super::stream::{
    message_to_events, sse_http_response, sse_response, StreamOutcome, StreamTimeouts,
    StreamTranslate,
};
use super::upstream::{read_body, send_with_failover, Attempted};
use super::util::{message_id, request_id};
use crate::config::ServiceType;
use crate::error::{ApiError, ErrorKind};
use crate::protocol::anthropic::{MessagesRequest, MessagesResponse};
use crate::protocol::gemini::GenerateContentResponse;
use crate::protocol::openai::ChatResponse;
use crate::providers::Target;
use crate::translate::anthropic::{has_synthetic_thinking, rewrite_body};
use crate::translate::gemini::{
    from_gemini_response_with_names, to_gemini_request, GeminiRequestOptions,
    GeminiStreamTranslator, ToolNameMap,
};
use crate::translate::openai::{
    from_openai_response, to_openai_request, MaxTokensField, OpenAiRequestOptions,
    OpenAiStreamTranslator,
};
use crate::translate::ResponseContext;
use futures_util::StreamExt;

pub async fn create_message(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let rid = request_id();
    let mut resp = match handle(&state, &headers, body, &rid).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(request_id = %rid, status = e.status.as_u16(), error = %e.message, "request failed");
            e.into_response()
        }
    };
    if let Ok(v) = HeaderValue::from_str(&rid) {
        resp.headers_mut().insert("request-id", v);
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

async fn handle(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    rid: &str,
) -> Result<Response, ApiError> {
    let started = Instant::now();
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
    let body = body.map_err(body_error)?;
    let req: MessagesRequest = parse_json(&body)?;
    if req.messages.is_empty() {
        return Err(ApiError::invalid_request(
            "messages: at least one message is required",
        ));
    }
    let live = state.live.load_full();
    let up = live.current().cloned().ok_or_else(no_upstream)?;
    if up.keys.is_empty() {
        return Err(ApiError::api(format!(
            "upstream {:?} has no API keys; add one with: claude-proxy config key {:?} add <KEY>",
            up.config.name, up.config.name
        ))
        .with_status(503));
    }
    let ctx = ResponseContext {
        message_id: message_id(),
        model: req.model.clone(),
        stop_sequences: req.stop_sequences.clone().unwrap_or_default(),
        input_tokens_hint: 0,
    };
    let call = Call {
        state,
        up: &up,
        rid,
        started,
        client_headers: headers,
        permit: std::sync::Mutex::new(permit),
    };
    match up.config.service_type {
        ServiceType::OpenAi | ServiceType::OpenAiOld => call.openai(&req, ctx).await,
        ServiceType::Gemini => call.gemini(&req, ctx).await,
        ServiceType::Claude => call.claude(&req, &body).await,
    }
}

fn no_upstream() -> ApiError {
    ApiError::api(
        "no upstream is configured. Add one, e.g.: claude-proxy config add openai openai https://api.openai.com/v1 --key sk-... \
         (or edit config.json); the running server picks it up without a restart",
    )
    .with_status(503)
}

/// One client request on its way to one upstream.
struct Call<'a> {
    state: &'a Arc<AppState>,
    up: &'a Arc<UpstreamRuntime>,
    rid: &'a str,
    started: Instant,
    #[allow(dead_code)]
    client_headers: &'a HeaderMap,
    /// Concurrency permit; a stream takes it along so it is held until the
    /// stream ends.
    permit: std::sync::Mutex<Option<tokio::sync::OwnedSemaphorePermit>>,
}

impl Call<'_> {
    async fn openai(
        &self,
        req: &MessagesRequest,
        ctx: ResponseContext,
    ) -> Result<Response, ApiError> {
        let upstream_model = self.up.config.model_mapping.resolve(&req.model);
        let stream = req.is_stream();
        let opts = OpenAiRequestOptions {
            model: upstream_model,
            max_tokens_field: match self.up.config.service_type {
                ServiceType::OpenAiOld => MaxTokensField::MaxTokens,
                _ => MaxTokensField::MaxCompletionTokens,
            },
            max_tokens_cap: self.up.config.max_tokens,
            stream,
        };
        let body = serde_json::to_vec(&to_openai_request(req, &opts))
            .map_err(|e| ApiError::api(format!("cannot encode upstream request: {e}")))?;
        let target = Target {
            upstream: &self.up.config,
            model: upstream_model,
            stream,
        };
        let attempted =
            send_with_failover(self.state, self.up, &target, body.into(), HeaderMap::new()).await?;
        let is_json = attempted
            .response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("json"));
        if stream && !is_json {
            let translator = OpenAiStreamTranslator::new(ctx);
            return Ok(self.stream(attempted, translator, upstream_model));
        }
        let bytes = read_body(&self.up.config.name, attempted.response).await?;
        let chat: ChatResponse = parse_upstream_json(&self.up.config.name, &bytes)?;
        let msg = from_openai_response(chat, &ctx);
        self.log_done(
            &attempted.key_masked,
            upstream_model,
            attempted.attempts,
            &msg,
        );
        Ok(if stream {
            // The upstream ignored `stream`: replay the message as events.
            let mut buf = bytes::BytesMut::new();
            crate::sse::encode_events(&message_to_events(&msg), &mut buf);
            sse_http_response(axum::body::Body::from(buf.freeze()))
        } else {
            Json(msg).into_response()
        })
    }

    async fn gemini(
        &self,
        req: &MessagesRequest,
        ctx: ResponseContext,
    ) -> Result<Response, ApiError> {
        let upstream_model = self.up.config.model_mapping.resolve(&req.model);
        let stream = req.is_stream();
        let opts = GeminiRequestOptions {
            model: upstream_model,
            max_tokens_cap: self.up.config.max_tokens,
        };
        let body = serde_json::to_vec(&to_gemini_request(req, &opts))
            .map_err(|e| ApiError::api(format!("cannot encode upstream request: {e}")))?;
        let names = ToolNameMap::from_request(req);
        let target = Target {
            upstream: &self.up.config,
            model: upstream_model,
            stream,
        };
        let attempted =
            send_with_failover(self.state, self.up, &target, body.into(), HeaderMap::new()).await?;
        if stream {
            let translator = GeminiStreamTranslator::new(ctx).with_tool_names(names);
            return Ok(self.stream(attempted, translator, upstream_model));
        }
        let bytes = read_body(&self.up.config.name, attempted.response).await?;
        let resp: GenerateContentResponse = parse_upstream_json(&self.up.config.name, &bytes)?;
        let msg = from_gemini_response_with_names(resp, &ctx, &names)?;
        self.log_done(
            &attempted.key_masked,
            upstream_model,
            attempted.attempts,
            &msg,
        );
        Ok(Json(msg).into_response())
    }

    /// Anthropic upstream: the body goes out as the client sent it (model
    /// mapped, proxy-signed thinking removed) and the answer comes back
    /// byte for byte, stream or not.
    async fn claude(&self, req: &MessagesRequest, body: &Bytes) -> Result<Response, ApiError> {
        let upstream_model = self.up.config.model_mapping.resolve(&req.model);
        let changed_model = (upstream_model != req.model).then_some(upstream_model);
        let out = rewrite_body(body, changed_model, has_synthetic_thinking(req))
            .map_err(ApiError::invalid_request)?
            .map(Bytes::from)
            .unwrap_or_else(|| body.clone());
        let mut headers = HeaderMap::new();
        let version = self
            .client_headers
            .get("anthropic-version")
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static("2023-06-01"));
        headers.insert("anthropic-version", version);
        if let Some(beta) = self.client_headers.get("anthropic-beta") {
            headers.insert("anthropic-beta", beta.clone());
        }
        let stream = req.is_stream();
        let target = Target {
            upstream: &self.up.config,
            model: upstream_model,
            stream,
        };
        let attempted = send_with_failover(self.state, self.up, &target, out, headers).await?;
        let upstream_resp = attempted.response;
        let status = upstream_resp.status();
        let content_type = upstream_resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .cloned();
        let upstream_rid = upstream_resp.headers().get("request-id").cloned();
        let permit = self.take_permit();
        let rid = self.rid.to_owned();
        let (upstream, model, key, attempts) = (
            self.up.config.name.clone(),
            upstream_model.to_owned(),
            attempted.key_masked,
            attempted.attempts,
        );
        let started = self.started;
        let done = LogOnDrop(Some(Box::new(move || {
            tracing::info!(
                request_id = %rid, upstream = %upstream, key = %key, model = %model,
                status = status.as_u16(), stream, attempts,
                latency_ms = started.elapsed().as_millis() as u64,
                "request done (pass-through)"
            );
        })));
        // The permit and the log line live as long as the body.
        let body = upstream_resp.bytes_stream().map(move |chunk| {
            let _keep = (&permit, &done);
            chunk
        });
        let mut resp = Response::new(axum::body::Body::from_stream(body));
        *resp.status_mut() = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::OK);
        if let Some(ct) = content_type {
            resp.headers_mut()
                .insert(axum::http::header::CONTENT_TYPE, ct);
        }
        if let Some(r) = upstream_rid {
            resp.headers_mut().insert("upstream-request-id", r);
        }
        if stream {
            resp.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache"),
            );
            resp.headers_mut()
                .insert("x-accel-buffering", HeaderValue::from_static("no"));
        }
        Ok(resp)
    }

    fn stream<T: StreamTranslate>(
        &self,
        attempted: Attempted,
        translator: T,
        upstream_model: &str,
    ) -> Response {
        let rid = self.rid.to_owned();
        let upstream = self.up.config.name.clone();
        let model = upstream_model.to_owned();
        let key = attempted.key_masked.clone();
        let attempts = attempted.attempts;
        let started = self.started;
        let on_end = Box::new(move |o: StreamOutcome| {
            tracing::info!(
                request_id = %rid,
                upstream = %upstream,
                key = %key,
                model = %model,
                status = 200,
                stream = true,
                latency_ms = started.elapsed().as_millis() as u64,
                bytes = o.bytes_sent,
                attempts,
                client_gone = o.client_gone,
                error = o.error.as_deref().unwrap_or(""),
                "request done"
            );
        });
        sse_response(
            attempted.response,
            translator,
            StreamTimeouts {
                idle: self.state.settings.stream_idle_timeout,
                ping: self.state.settings.ping_interval,
            },
            self.take_permit(),
            on_end,
        )
    }

    fn take_permit(&self) -> Option<Box<dyn Send + Sync>> {
        let permit = self.permit.lock().ok()?.take()?;
        Some(Box::new(permit))
    }

    fn log_done(&self, key: &str, upstream_model: &str, attempts: usize, msg: &MessagesResponse) {
        tracing::info!(
            request_id = %self.rid,
            upstream = %self.up.config.name,
            key = %key,
            model = %upstream_model,
            status = 200,
            stream = false,
            latency_ms = self.started.elapsed().as_millis() as u64,
            input_tokens = msg.usage.input_tokens,
            output_tokens = msg.usage.output_tokens,
            attempts,
            "request done"
        );
    }
}

/// Runs a closure when dropped (the end of a pass-through body).
struct LogOnDrop(Option<Box<dyn FnOnce() + Send + Sync>>);

impl Drop for LogOnDrop {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// Parses an upstream's 200 body; an `{"error":…}` body (some compatible
/// servers answer errors with 200) becomes the mapped error.
fn parse_upstream_json<T: DeserializeOwned>(upstream: &str, bytes: &[u8]) -> Result<T, ApiError> {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) {
        if v.get("error").is_some_and(|e| !e.is_null()) && v.get("choices").is_none() {
            let status = v["error"]
                .get("code")
                .and_then(|c| c.as_u64())
                .filter(|c| (400..600).contains(c))
                .unwrap_or(500) as u16;
            return Err(ApiError::from_upstream(upstream, status, bytes, None));
        }
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::api(format!(
            "upstream {upstream} returned a response that is not valid JSON: {e}"
        ))
        .with_status(502)
    })
}
