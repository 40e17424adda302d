//! Anthropic itself (`serviceType` `claude`): a transparent pass-through to
//! `POST {baseUrl}/messages`. The body goes out as the client sent it except
//! the mapped `model`, `max_tokens` above the upstream's `maxTokens`, and
//! thinking blocks this proxy signed for another upstream; `anthropic-version` and `anthropic-beta` are forwarded; the
//! answer comes back byte for byte. Anthropic's reference:
//! <https://docs.anthropic.com/en/api/messages>.
//!
//! The relay still watches what goes by, without re-encoding it: an
//! upstream silent for `STREAM_IDLE_TIMEOUT` ends the stream with an
//! `event: error`, a stream cut before `message_stop` ends with one too, and
//! the usage in `message_start` / `message_delta` feeds the request record.

use std::pin::Pin;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::time::Instant;

use super::opening::{self, Answer, Inspect, Progress, Whole};
use super::{endpoint_url, ByteStream, Held, Outgoing, Prepared as AnyPrepared, Respond};
use crate::config::{ApiKey, AuthHeader, Upstream};
use crate::error::{ApiError, ErrorKind};
use crate::observe::RequestRecord;
use crate::protocol::anthropic::Tool;
use crate::protocol::anthropic::{CountTokensRequest, ErrorBody, Message, StreamEvent, Usage};
use crate::translate::anthropic::{
    has_openai_tools, has_synthetic_thinking, rewrite_body, Rewrite,
};

/// A partial event longer than this is forwarded without waiting for its
/// end (an upstream that never ends its events must not grow memory).
const MAX_HELD_PARTIAL: usize = 1 << 20;

/// One Anthropic upstream.
#[derive(Debug)]
pub(crate) struct Claude {
    messages: Result<reqwest::Url, String>,
    count_tokens: Result<reqwest::Url, String>,
    auth_header: AuthHeader,
    /// The upstream's `maxTokens`.
    max_tokens: Option<u64>,
}

impl Claude {
    pub(crate) fn new(up: &Upstream) -> Self {
        Claude {
            messages: endpoint_url(up, "/messages"),
            count_tokens: endpoint_url(up, "/messages/count_tokens"),
            auth_header: up.auth_header,
            max_tokens: up.max_tokens,
        }
    }

    /// OAuth access tokens (Claude subscriptions) go in `Authorization`;
    /// API keys in `x-api-key`.
    pub(crate) fn authorize(&self, key: &ApiKey, headers: &mut HeaderMap) {
        let bearer = match self.auth_header {
            AuthHeader::Bearer => true,
            AuthHeader::XApiKey => false,
            AuthHeader::Auto => key.expose().starts_with("sk-ant-oat"),
        };
        if bearer {
            super::http::bearer(key, headers);
        } else {
            super::http::header_key("x-api-key", key, headers);
        }
    }

    pub(crate) fn prepare(
        &self,
        req: &crate::protocol::anthropic::MessagesRequest,
        raw: &Bytes,
        client_headers: &HeaderMap,
        model: &str,
    ) -> Result<Outgoing, ApiError> {
        Ok(Outgoing {
            url: self.messages.clone().map_err(ApiError::api)?,
            body: forwarded_body(
                raw,
                Forward {
                    requested: &req.model,
                    model,
                    messages: &req.messages,
                    tools: req.tools.as_deref(),
                    cap: self.max_tokens.filter(|cap| req.max_tokens > *cap),
                },
            )?,
            headers: anthropic_headers(client_headers),
            upstream_model: model.to_owned(),
            stream: req.is_stream(),
            state: AnyPrepared::Claude,
        })
    }

    /// `POST /v1/messages/count_tokens`, counted by Anthropic.
    pub(crate) fn count_tokens(
        &self,
        req: &CountTokensRequest,
        raw: &Bytes,
        client_headers: &HeaderMap,
        model: &str,
    ) -> Result<Outgoing, ApiError> {
        Ok(Outgoing {
            url: self.count_tokens.clone().map_err(ApiError::api)?,
            body: forwarded_body(
                raw,
                Forward {
                    requested: &req.model,
                    model,
                    messages: &req.messages,
                    tools: req.tools.as_deref(),
                    cap: None,
                },
            )?,
            headers: anthropic_headers(client_headers),
            upstream_model: model.to_owned(),
            stream: false,
            state: AnyPrepared::Claude,
        })
    }
}

/// What [`forwarded_body`] needs to know about the request.
struct Forward<'a> {
    /// The model the client asked for.
    requested: &'a str,
    /// The model the upstream gets.
    model: &'a str,
    messages: &'a [Message],
    tools: Option<&'a [Tool]>,
    /// The upstream's `maxTokens`, when the request asks for more.
    cap: Option<u64>,
}

/// The client's body with `model` mapped, `max_tokens` capped by the
/// upstream's `maxTokens` (a thinking budget with it), proxy-signed thinking
/// removed and OpenAI-form tools in Anthropic's form; nothing else is
/// re-encoded.
fn forwarded_body(raw: &Bytes, f: Forward<'_>) -> Result<Bytes, ApiError> {
    let rewrite = Rewrite {
        model: (f.model != f.requested).then_some(f.model),
        strip_synthetic: has_synthetic_thinking(f.messages),
        convert_tools: has_openai_tools(f.tools),
        max_tokens: f.cap,
    };
    Ok(rewrite_body(raw, rewrite)
        .map_err(ApiError::invalid_request)?
        .map(Bytes::from)
        .unwrap_or_else(|| raw.clone()))
}

/// `anthropic-version` (the client's, else 2023-06-01) and `anthropic-beta`.
fn anthropic_headers(client: &HeaderMap) -> HeaderMap {
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

/// The `usage` member of a JSON answer (everything else is skipped).
#[derive(Deserialize)]
struct WithUsage {
    #[serde(default)]
    usage: Option<UsageFields>,
}

/// Usage as Anthropic reports it; every field optional, because
/// `message_delta` carries only what changed.
#[derive(Debug, Default, Deserialize)]
struct UsageFields {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
}

impl UsageFields {
    /// Later reports (`message_delta`'s cumulative counts) override earlier
    /// ones field by field.
    fn apply(&self, usage: &mut Usage) {
        let set = |dst: &mut u64, v: Option<u64>| {
            if let Some(v) = v {
                *dst = v;
            }
        };
        set(&mut usage.input_tokens, self.input_tokens);
        set(&mut usage.output_tokens, self.output_tokens);
        set(
            &mut usage.cache_creation_input_tokens,
            self.cache_creation_input_tokens,
        );
        set(
            &mut usage.cache_read_input_tokens,
            self.cache_read_input_tokens,
        );
    }
}

/// A stream's opening, checked before it is committed.
pub(crate) async fn open(
    upstream: &str,
    response: reqwest::Response,
    deadline: Instant,
) -> Result<Answer, ApiError> {
    let is_sse = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("event-stream"));
    if !is_sse {
        return read_whole(upstream, response).await;
    }
    let check = PassThroughOpening {
        upstream,
        partial: BytesMut::new(),
        tap: UsageTap::default(),
    };
    opening::open(upstream, response, deadline, check)
        .await
        .map(Answer::Stream)
}

/// A JSON answer read whole and checked to be complete JSON: a body cut
/// mid-way fails the key (the next one is tried) instead of reaching the
/// client truncated.
pub(crate) async fn read_whole(
    upstream: &str,
    response: reqwest::Response,
) -> Result<Answer, ApiError> {
    let whole = Whole::read(upstream, response).await?;
    serde_json::from_slice::<serde::de::IgnoredAny>(&whole.body).map_err(|e| {
        ApiError::api(format!(
            "upstream {upstream} returned an incomplete or invalid JSON answer: {e}"
        ))
        .with_status(502)
    })?;
    Ok(Answer::Whole(whole))
}

/// Watches a pass-through stream's opening with the relay's own tap.
struct PassThroughOpening<'a> {
    upstream: &'a str,
    partial: BytesMut,
    tap: UsageTap,
}

impl PassThroughOpening<'_> {
    fn progress(&self) -> Progress {
        if let Some(data) = &self.tap.upstream_error {
            let error = ApiError::from_upstream(self.upstream, 502, data.as_bytes(), None);
            return Progress::Failed(error);
        }
        if self.tap.content {
            Progress::Meaningful
        } else {
            Progress::Pending
        }
    }
}

impl Inspect for PassThroughOpening<'_> {
    fn chunk(&mut self, chunk: &Bytes) -> Progress {
        self.partial.extend_from_slice(chunk);
        if let Some(end) = last_event_end(&self.partial) {
            let ready = self.partial.split_to(end);
            self.tap.scan(&ready);
        }
        self.progress()
    }

    fn end(&mut self) -> Progress {
        let rest = std::mem::take(&mut self.partial);
        self.tap.scan(&rest);
        self.progress()
    }
}

/// The upstream's 2xx answer, as it came.
pub(crate) async fn respond(
    stream: bool,
    answer: Answer,
    r: Respond<'_>,
) -> Result<Response, ApiError> {
    let (status, headers, body) = match answer {
        Answer::Stream(opened) => {
            let mut record = r.record.take();
            let status = opened.status;
            if let Some(rec) = record.as_mut() {
                rec.status = status;
            }
            let headers = opened.headers.clone();
            let body = relay(
                opened.into_stream(),
                r.settings.stream_idle_timeout,
                record,
                r.held.take(),
            );
            (status, headers, body)
        }
        Answer::Whole(Whole {
            status,
            headers,
            body,
        }) => {
            // Complete JSON (checked when read); only its usage is looked at.
            let usage = serde_json::from_slice::<WithUsage>(&body)
                .ok()
                .and_then(|w| w.usage);
            if let (Some(rec), Some(u)) = (r.record.as_mut(), usage) {
                let mut usage = Usage::default();
                u.apply(&mut usage);
                rec.usage = Some(usage);
            }
            (status, headers, Body::from(body))
        }
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let content_type = headers.get(reqwest::header::CONTENT_TYPE).cloned();
    let upstream_rid = headers.get("request-id").cloned();
    let mut resp = Response::new(body);
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
    Ok(resp)
}

/// The pass-through body: upstream events forwarded whole, as they came.
fn relay(
    upstream: ByteStream,
    idle: Duration,
    record: Option<RequestRecord>,
    held: Option<Held>,
) -> Body {
    let state = Relay {
        upstream: Some(upstream),
        idle,
        timer: Box::pin(tokio::time::sleep(idle)),
        partial: BytesMut::new(),
        tap: UsageTap::default(),
        record,
        _held: held,
    };
    let body = futures_util::stream::unfold(state, |mut st| async move {
        let bytes = st.next_bytes().await?;
        Some((Ok::<_, std::convert::Infallible>(bytes), st))
    });
    Body::from_stream(body)
}

struct Relay {
    upstream: Option<ByteStream>,
    idle: Duration,
    /// Re-armed per chunk: a pass-through chunk costs no translation, so
    /// one timer reset each is noise.
    timer: Pin<Box<tokio::time::Sleep>>,
    /// The start of an event whose end has not arrived yet.
    partial: BytesMut,
    tap: UsageTap,
    record: Option<RequestRecord>,
    /// The concurrency permit, for as long as the stream lasts.
    _held: Option<Held>,
}

impl Relay {
    async fn next_bytes(&mut self) -> Option<Bytes> {
        loop {
            let upstream = self.upstream.as_mut()?;
            let item = tokio::select! {
                item = upstream.next() => item,
                () = self.timer.as_mut() => {
                    let msg = format!(
                        "upstream sent nothing for {} s; stream aborted",
                        self.idle.as_secs()
                    );
                    return self.fail(ErrorKind::Timeout, &msg);
                }
            };
            match item {
                Some(Ok(chunk)) => {
                    self.timer.as_mut().reset(Instant::now() + self.idle);
                    if let Some(out) = self.complete_events(chunk) {
                        return Some(out);
                    }
                }
                Some(Err(e)) => {
                    let msg = if e.is_timeout() {
                        "upstream request timed out mid-stream"
                    } else {
                        "upstream connection broke mid-stream"
                    };
                    let kind = if e.is_timeout() {
                        ErrorKind::Timeout
                    } else {
                        ErrorKind::Api
                    };
                    return self.fail(kind, msg);
                }
                None => {
                    self.upstream = None;
                    let rest = std::mem::take(&mut self.partial);
                    self.tap.scan(&rest);
                    if !self.tap.ended {
                        // What is left is a fragment of an event: dropped.
                        return self
                            .fail(ErrorKind::Api, "upstream stream ended before message_stop");
                    }
                    self.finish();
                    return (!rest.is_empty()).then(|| rest.freeze());
                }
            }
        }
    }

    /// The events of `chunk` (with what was held back before it) that are
    /// complete; the tail of an unfinished event is held for the next
    /// chunk, so an error the relay adds never lands inside an event.
    fn complete_events(&mut self, chunk: Bytes) -> Option<Bytes> {
        let whole = if self.partial.is_empty() {
            chunk
        } else {
            self.partial.extend_from_slice(&chunk);
            self.partial.split().freeze()
        };
        let cut = match last_event_end(&whole) {
            Some(end) => end,
            None if whole.len() > MAX_HELD_PARTIAL => whole.len(),
            None => {
                self.partial.extend_from_slice(&whole);
                return None;
            }
        };
        let ready = whole.slice(..cut);
        self.partial.extend_from_slice(&whole[cut..]);
        self.tap.scan(&ready);
        Some(ready)
    }

    /// Ends the stream with an `event: error` (after nothing partial: the
    /// unfinished event is dropped).
    fn fail(&mut self, kind: ErrorKind, message: &str) -> Option<Bytes> {
        self.upstream = None;
        self.partial.clear();
        if self.tap.ended {
            self.finish();
            return None;
        }
        Some(self.error_event(kind, message))
    }

    fn error_event(&mut self, kind: ErrorKind, message: &str) -> Bytes {
        self.tap.ended = true;
        if let Some(rec) = self.record.as_mut() {
            rec.error = Some(format!("{}: {message}", kind.as_str()));
        }
        self.finish();
        let mut buf = BytesMut::new();
        crate::sse::encode_events(
            &[StreamEvent::Error {
                error: ErrorBody {
                    kind: kind.as_str().to_owned(),
                    message: message.to_owned(),
                },
            }],
            &mut buf,
        );
        buf.freeze()
    }

    /// Writes the record with the usage seen (once).
    fn finish(&mut self) {
        if let Some(mut rec) = self.record.take() {
            rec.usage = self.tap.usage.take();
            if let Some(e) = self.tap.upstream_error.take() {
                rec.error.get_or_insert(e);
            }
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(rec) = self.record.as_mut() {
            // Dropped before the end: the client hung up.
            rec.client_gone = true;
        }
        self.finish();
    }
}

/// End of the last complete event in `buf` (just past its blank line).
fn last_event_end(buf: &[u8]) -> Option<usize> {
    let lf = buf.windows(2).rposition(|w| w == b"\n\n").map(|i| i + 2);
    let crlf = buf
        .windows(4)
        .rposition(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    lf.max(crlf)
}

/// Reads usage and the end of the stream from complete events as they go
/// by. Only `message_start`, `message_delta`, `message_stop` and `error`
/// events are parsed; text deltas are only looked at for their name.
#[derive(Debug, Default)]
struct UsageTap {
    usage: Option<Usage>,
    /// `message_stop` or `error` was seen: the stream ended properly.
    ended: bool,
    /// Content was seen: a delta, a tool call, or the answer's end.
    content: bool,
    /// An `error` event the upstream sent itself.
    upstream_error: Option<String>,
}

impl UsageTap {
    fn scan(&mut self, events: &[u8]) {
        for block in split_events(events) {
            let mut name: &[u8] = b"";
            let mut data: Option<&[u8]> = None;
            for line in block.split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if let Some(v) = line.strip_prefix(b"event:") {
                    name = v.trim_ascii();
                } else if let Some(v) = line.strip_prefix(b"data:") {
                    // Anthropic's data is one line of JSON.
                    data = Some(v.trim_ascii());
                }
            }
            match name {
                b"message_start" => self.usage_from(data, |v| v.get("message")),
                b"message_delta" => {
                    self.content = true;
                    self.usage_from(data, |v| Some(v));
                }
                b"content_block_delta" => self.content = true,
                b"content_block_start" if !self.content => {
                    // A tool call is content even before its input arrives.
                    self.content = data.is_some_and(|d| {
                        serde_json::from_slice::<serde_json::Value>(d).is_ok_and(|v| {
                            v["content_block"]["type"]
                                .as_str()
                                .is_some_and(|t| t.ends_with("tool_use"))
                        })
                    });
                }
                b"message_stop" => self.ended = true,
                b"error" => {
                    self.ended = true;
                    self.upstream_error = data.map(|d| String::from_utf8_lossy(d).into_owned());
                }
                _ => {}
            }
        }
    }

    fn usage_from(
        &mut self,
        data: Option<&[u8]>,
        at: impl FnOnce(&serde_json::Value) -> Option<&serde_json::Value>,
    ) {
        let Some(v) = data.and_then(|d| serde_json::from_slice::<serde_json::Value>(d).ok()) else {
            return;
        };
        let Some(fields) = at(&v)
            .and_then(|m| m.get("usage"))
            .and_then(|u| UsageFields::deserialize(u).ok())
        else {
            return;
        };
        fields.apply(self.usage.get_or_insert_with(Usage::default));
    }
}

/// The events of a buffer of complete events.
fn split_events(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        while !rest.is_empty() {
            let (block, next) = match rest.windows(2).position(|w| w == b"\n\n") {
                Some(i) => (&rest[..i], &rest[i + 2..]),
                None => (rest, &rest[rest.len()..]),
            };
            rest = next;
            let block = block.trim_ascii();
            if !block.is_empty() {
                return Some(block);
            }
        }
        None
    })
}

#[cfg(test)]
#[path = "claude_tests.rs"]
mod tests;
