//! Anthropic itself (`serviceType` `claude`): a transparent pass-through to
//! `POST {baseUrl}/messages`. The body goes out as the client sent it except
//! the mapped `model`, `max_tokens` above the upstream's `maxTokens`, and
//! thinking blocks this proxy signed for another upstream; `anthropic-version` and `anthropic-beta` are forwarded; the
//! answer comes back byte for byte. Anthropic's reference:
//! <https://docs.anthropic.com/en/api/messages>.
//!
//! The relay (`super::relay`) still watches what goes by, without
//! re-encoding it: an upstream silent for `STREAM_IDLE_TIMEOUT` ends the
//! stream with an `event: error`, a stream cut before `message_stop` ends
//! with one too, and the usage in `message_start` / `message_delta` feeds
//! the request record.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use tokio::time::Instant;

use super::opening::{self, Answer, Inspect, Progress, Whole};
use super::relay::{last_event_end, relay, UsageTap};
use super::{endpoint_url, Outgoing, Prepared as AnyPrepared, Respond};
use crate::config::{ApiKey, AuthHeader, Upstream};
use crate::error::ApiError;
use crate::protocol::anthropic::Tool;
use crate::protocol::anthropic::{CountTokensRequest, Message, Usage, UsageReport};
use crate::translate::anthropic::{
    has_openai_tools, has_synthetic_thinking, rewrite_body, Rewrite,
};

/// One Anthropic upstream.
#[derive(Debug)]
pub(crate) struct Claude {
    messages: Result<http::Uri, String>,
    count_tokens: Result<http::Uri, String>,
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
    usage: Option<UsageReport>,
}

/// A stream's opening, checked before it is committed.
pub(crate) async fn open(
    upstream: &str,
    response: super::client::Response,
    deadline: Instant,
) -> Result<Answer, ApiError> {
    let is_sse = response
        .headers()
        .get(http::header::CONTENT_TYPE)
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
    response: super::client::Response,
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
    let content_type = headers.get(http::header::CONTENT_TYPE).cloned();
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
