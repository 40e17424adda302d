//! Per-provider halves of a `/v1/messages` call: [`prepare`] builds the
//! upstream request from the client's, [`respond`] turns the upstream's 2xx
//! answer into the client's (JSON, translated SSE, or pass-through bytes).

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::observe::RequestRecord;
use super::stream::{
    message_to_events, sse_http_response, sse_response, StreamOutcome, StreamTimeouts,
    StreamTranslate,
};
use super::upstream::{read_body, Attempted};
use crate::config::{ServiceType, Upstream};
use crate::error::ApiError;
use crate::protocol::anthropic::{MessagesRequest, MessagesResponse};
use crate::protocol::gemini::GenerateContentResponse;
use crate::protocol::openai::{ChatRequest, ChatResponse};
use crate::providers::{OptionalParam, Target};
use crate::settings::Settings;
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

/// What is held for as long as the response lasts (a stream: until it ends):
/// the concurrency permit and the in-flight gauge.
pub type Held = Box<dyn Send + Sync>;

/// A request ready to be sent to one upstream.
pub struct Outgoing {
    pub body: Bytes,
    pub headers: HeaderMap,
    pub upstream_model: String,
    pub stream: bool,
    kind: Kind,
}

enum Kind {
    OpenAi,
    Gemini(ToolNameMap),
    Claude,
}

impl Outgoing {
    pub fn target<'a>(&'a self, upstream: &'a Upstream) -> Target<'a> {
        Target {
            upstream,
            model: &self.upstream_model,
            stream: self.stream,
        }
    }

    /// This request without a parameter the upstream refused, made from the
    /// encoded body (the parsed client request may be gone by now). `None`
    /// when there is nothing to leave out: only OpenAI bodies carry the
    /// optional parameters.
    pub fn without_param(&self, p: OptionalParam) -> Result<Option<Outgoing>, ApiError> {
        if !matches!(self.kind, Kind::OpenAi) {
            return Ok(None);
        }
        let body = drop_param_in_body(&self.body, p)
            .map_err(|e| ApiError::api(format!("cannot re-encode the upstream request: {e}")))?;
        Ok(body.map(|body| Outgoing {
            body,
            headers: self.headers.clone(),
            upstream_model: self.upstream_model.clone(),
            stream: self.stream,
            kind: Kind::OpenAi,
        }))
    }
}

/// [`drop_param`] applied to an encoded Chat Completions body; `None` when
/// the body does not change.
fn drop_param_in_body(body: &[u8], p: OptionalParam) -> Result<Option<Bytes>, serde_json::Error> {
    use serde_json::{Map, Value};
    let mut obj: Map<String, Value> = serde_json::from_slice(body)?;
    if let OptionalParam::MaxTokensAtMost(cap) = p {
        let mut changed = false;
        for field in ["max_tokens", "max_completion_tokens"] {
            if let Some(v) = obj.get_mut(field) {
                if v.as_u64().is_some_and(|n| n > cap) {
                    *v = Value::from(cap);
                    changed = true;
                }
            }
        }
        return changed
            .then(|| serde_json::to_vec(&obj).map(Bytes::from))
            .transpose();
    }
    let Some(name) = p.field() else {
        return Ok(None);
    };
    let Some(value) = obj.shift_remove(name) else {
        return Ok(None);
    };
    if p == OptionalParam::MaxTokens {
        obj.insert("max_completion_tokens".to_owned(), value);
    }
    serde_json::to_vec(&obj).map(|v| Some(Bytes::from(v)))
}

/// Serialises into a buffer sized for the result up front (`size_hint`: the
/// client's body length), so a large request is not copied on every doubling.
fn encode<T: serde::Serialize>(v: &T, size_hint: usize) -> Result<Bytes, ApiError> {
    let mut buf = Vec::with_capacity(size_hint.clamp(1024, 16 << 20));
    serde_json::to_writer(&mut buf, v)
        .map(|()| Bytes::from(buf))
        .map_err(|e| ApiError::api(format!("cannot encode upstream request: {e}")))
}

/// Translates the client's request for `up`.
pub fn prepare(
    req: &MessagesRequest,
    raw: &Bytes,
    raw_len: usize,
    up: &Upstream,
    client_headers: &HeaderMap,
    dropped: &[OptionalParam],
) -> Result<Outgoing, ApiError> {
    let upstream_model = up.model_mapping.resolve(&req.model);
    let stream = req.is_stream();
    let (body, headers, kind) = match up.service_type {
        ServiceType::OpenAi | ServiceType::OpenAiOld => {
            let opts = OpenAiRequestOptions {
                model: upstream_model,
                max_tokens_field: if up.service_type == ServiceType::OpenAiOld {
                    MaxTokensField::MaxTokens
                } else {
                    MaxTokensField::MaxCompletionTokens
                },
                max_tokens_cap: up.max_tokens,
                stream,
            };
            let mut chat = to_openai_request(req, &opts);
            for p in dropped {
                drop_param(&mut chat, *p);
            }
            (encode(&chat, raw_len)?, HeaderMap::new(), Kind::OpenAi)
        }
        ServiceType::Gemini => {
            let opts = GeminiRequestOptions {
                model: upstream_model,
                max_tokens_cap: up.max_tokens,
            };
            let body = encode(&to_gemini_request(req, &opts), raw_len)?;
            (
                body,
                HeaderMap::new(),
                Kind::Gemini(ToolNameMap::from_request(req)),
            )
        }
        ServiceType::Claude => {
            // The body goes out as the client sent it: model mapped,
            // proxy-signed thinking removed, nothing else re-encoded.
            let changed_model = (upstream_model != req.model).then_some(upstream_model);
            let body = rewrite_body(raw, changed_model, has_synthetic_thinking(&req.messages))
                .map_err(ApiError::invalid_request)?
                .map(Bytes::from)
                .unwrap_or_else(|| raw.clone());
            (body, anthropic_headers(client_headers), Kind::Claude)
        }
    };
    Ok(Outgoing {
        body,
        headers,
        upstream_model: upstream_model.to_owned(),
        stream,
        kind,
    })
}

/// Leaves out a parameter the upstream model refused.
fn drop_param(chat: &mut ChatRequest<'_>, p: OptionalParam) {
    match p {
        OptionalParam::ReasoningEffort => chat.reasoning_effort = None,
        OptionalParam::Temperature => chat.temperature = None,
        OptionalParam::TopP => chat.top_p = None,
        OptionalParam::StreamOptions => chat.stream_options = None,
        OptionalParam::ParallelToolCalls => chat.parallel_tool_calls = None,
        OptionalParam::User => chat.user = None,
        OptionalParam::MaxTokensAtMost(cap) => {
            for field in [&mut chat.max_tokens, &mut chat.max_completion_tokens] {
                if let Some(n) = field.as_mut() {
                    *n = (*n).min(cap);
                }
            }
        }
        OptionalParam::MaxTokens => {
            if let Some(n) = chat.max_tokens.take() {
                chat.max_completion_tokens = Some(n);
            }
        }
    }
}

/// `anthropic-version` (the client's, else 2023-06-01) and `anthropic-beta`.
pub fn anthropic_headers(client: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let version = client
        .get("anthropic-version")
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("2023-06-01"));
    headers.insert("anthropic-version", version);
    if let Some(beta) = client.get("anthropic-beta") {
        headers.insert("anthropic-beta", beta.clone());
    }
    headers
}

/// Everything `respond` needs besides the upstream's answer.
pub struct Respond<'a> {
    pub settings: &'a Settings,
    pub upstream: &'a str,
    pub ctx: ResponseContext,
    /// Taken by streaming responses, which finish it when they end.
    pub record: &'a mut Option<RequestRecord>,
    pub held: &'a mut Option<Held>,
}

pub async fn respond(
    out: Outgoing,
    attempted: Attempted,
    r: Respond<'_>,
) -> Result<Response, ApiError> {
    let is_json = attempted
        .response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"));
    match out.kind {
        Kind::Claude => Ok(pass_through(attempted.response, out.stream, r)),
        Kind::OpenAi if out.stream && !is_json => {
            let t = OpenAiStreamTranslator::new(r.ctx.clone());
            Ok(translated_stream(attempted.response, t, r))
        }
        Kind::Gemini(names) if out.stream && !is_json => {
            let t = GeminiStreamTranslator::new(r.ctx.clone()).with_tool_names(names);
            Ok(translated_stream(attempted.response, t, r))
        }
        kind => {
            let bytes = read_body(r.upstream, attempted.response).await?;
            let msg = match kind {
                Kind::Gemini(names) => {
                    let resp: GenerateContentResponse = parse_upstream_json(r.upstream, &bytes)?;
                    from_gemini_response_with_names(resp, &r.ctx, &names)?
                }
                _ => {
                    let resp: ChatResponse = parse_upstream_json(r.upstream, &bytes)?;
                    from_openai_response(resp, &r.ctx)?
                }
            };
            if let Some(rec) = r.record.as_mut() {
                rec.usage = Some(msg.usage.clone());
            }
            Ok(json_or_replayed(&msg, out.stream))
        }
    }
}

/// The message as JSON, or — when the client asked for a stream and the
/// upstream answered plain JSON anyway — replayed as SSE events.
fn json_or_replayed(msg: &MessagesResponse, stream: bool) -> Response {
    if !stream {
        return Json(msg).into_response();
    }
    let mut buf = bytes::BytesMut::new();
    crate::sse::encode_events(&message_to_events(msg), &mut buf);
    sse_http_response(Body::from(buf.freeze()))
}

fn translated_stream<T: StreamTranslate>(
    upstream: reqwest::Response,
    translator: T,
    r: Respond<'_>,
) -> Response {
    let mut record = r.record.take();
    let on_end = Box::new(move |o: StreamOutcome| {
        if let Some(mut rec) = record.take() {
            rec.status = 200;
            rec.usage = o.usage;
            rec.error = o.error;
            rec.client_gone = o.client_gone;
            rec.finish();
        }
    });
    sse_response(
        upstream,
        translator,
        StreamTimeouts {
            idle: r.settings.stream_idle_timeout,
            ping: r.settings.ping_interval,
        },
        r.held.take(),
        on_end,
    )
}

/// Anthropic upstream: the answer comes back byte for byte.
fn pass_through(upstream: reqwest::Response, stream: bool, r: Respond<'_>) -> Response {
    let status = StatusCode::from_u16(upstream.status().as_u16()).unwrap_or(StatusCode::OK);
    let content_type = upstream
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .cloned();
    let upstream_rid = upstream.headers().get("request-id").cloned();
    let held = r.held.take();
    let mut record = r.record.take();
    if let Some(rec) = record.as_mut() {
        rec.status = status.as_u16();
    }
    let done = FinishOnDrop(record);
    // The permit and the record live exactly as long as the body.
    let body = upstream.bytes_stream().map(move |chunk| {
        let _keep = (&held, &done);
        chunk
    });
    let mut resp = Response::new(Body::from_stream(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    if let Some(ct) = content_type {
        h.insert(axum::http::header::CONTENT_TYPE, ct);
    }
    if let Some(rid) = upstream_rid {
        h.insert("upstream-request-id", rid);
    }
    if stream {
        h.insert(
            axum::http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        );
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    }
    resp
}

/// Finishes a request record when the pass-through body is dropped.
struct FinishOnDrop(Option<RequestRecord>);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        if let Some(rec) = self.0.take() {
            rec.finish();
        }
    }
}

/// Parses an upstream's 2xx body; an `{"error":…}` body (some compatible
/// servers answer errors with 200) becomes the mapped error.
fn parse_upstream_json<T: DeserializeOwned>(upstream: &str, bytes: &[u8]) -> Result<T, ApiError> {
    let mentions_error = bytes.windows(7).any(|w| w == b"\"error\"");
    if let Some(v) = mentions_error
        .then(|| serde_json::from_slice::<serde_json::Value>(bytes).ok())
        .flatten()
    {
        if v.get("error").is_some_and(|e| !e.is_null())
            && v.get("choices").is_none()
            && v.get("candidates").is_none()
        {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A Chat Completions request with every optional parameter set.
    fn chat_request(req: &MessagesRequest) -> ChatRequest<'_> {
        let opts = OpenAiRequestOptions {
            model: "gpt-x",
            max_tokens_field: MaxTokensField::MaxTokens,
            max_tokens_cap: None,
            stream: true,
        };
        let mut chat = to_openai_request(req, &opts);
        chat.temperature = Some(0.7);
        chat.top_p = Some(0.9);
        chat.parallel_tool_calls = Some(false);
        chat.reasoning_effort = Some("high");
        chat.user = Some("u-1".to_owned());
        chat
    }

    /// Patching the encoded body gives what translating again without the
    /// parameter gives, for every parameter an upstream can refuse.
    #[test]
    fn a_refused_parameter_is_left_out_of_the_encoded_body_as_in_translation() {
        let raw = include_bytes!("../../tests/fixtures/claude-code/01-write-turn2.json");
        let req: MessagesRequest = serde_json::from_slice(raw).unwrap();
        let body = encode(&chat_request(&req), raw.len()).unwrap();
        let params = [
            OptionalParam::ReasoningEffort,
            OptionalParam::Temperature,
            OptionalParam::TopP,
            OptionalParam::StreamOptions,
            OptionalParam::ParallelToolCalls,
            OptionalParam::User,
            OptionalParam::MaxTokens,
            OptionalParam::MaxTokensAtMost(1000),
        ];
        for p in params {
            let mut chat = chat_request(&req);
            drop_param(&mut chat, p);
            let expected: serde_json::Value =
                serde_json::from_slice(&encode(&chat, 0).unwrap()).unwrap();
            let patched = drop_param_in_body(&body, p).unwrap().expect("body changes");
            let got: serde_json::Value = serde_json::from_slice(&patched).unwrap();
            assert_eq!(got, expected, "{p:?}");
            assert_ne!(patched, body, "{p:?}");
        }
        // Nothing to change: no retry.
        let at_most_more = OptionalParam::MaxTokensAtMost(req.max_tokens + 1);
        assert!(drop_param_in_body(&body, at_most_more).unwrap().is_none());
        let without_user = drop_param_in_body(&body, OptionalParam::User)
            .unwrap()
            .unwrap();
        assert!(drop_param_in_body(&without_user, OptionalParam::User)
            .unwrap()
            .is_none());
    }
}
