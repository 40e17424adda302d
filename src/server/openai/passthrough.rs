//! The answer to a Chat Completions request an OpenAI-type upstream got
//! as the client sent it: the upstream's answer, as it came
//! (docs/openai-inbound.md, "Pass-through").
//!
//! A stream is relayed chunk by chunk; on the way its usage (when the
//! client asked for `stream_options.include_usage`) is read for the request
//! record, an upstream silent for `STREAM_IDLE_TIMEOUT` or a connection that
//! breaks ends the stream with OpenAI's `data: {"error": …}`, and the
//! record and the concurrency permit are held until the stream ends. A
//! server that answers a stream request with a whole JSON completion has
//! it replayed as a stream, as the translated path does.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::Value;

use crate::error::{ApiError, ErrorKind};
use crate::observe::RequestRecord;
use crate::protocol::anthropic::Usage;
use crate::providers::stream::sse_http_response;
use crate::providers::{Answer, ByteStream, Held};
use crate::routing::failover::Answered;
use crate::settings::Settings;
use crate::sse::{SseDecoder, SseEvent};
use crate::translate::inbound::stream_error;

/// The usage in an OpenAI `usage` object, in Anthropic's terms (cached
/// tokens counted apart).
fn usage_of(v: &Value) -> Option<Usage> {
    let u = v.get("usage").filter(|u| u.is_object())?;
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let cached = n(&u["prompt_tokens_details"]["cached_tokens"]);
    Some(Usage {
        input_tokens: n(&u["prompt_tokens"]).saturating_sub(cached),
        output_tokens: n(&u["completion_tokens"]),
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: cached,
    })
}

/// A whole `chat.completion` as the stream the client asked for (some
/// compatible servers answer a stream request with JSON): one chunk with
/// the whole message, the usage chunk when the client asked for it (any
/// usage the server reported), `[DONE]`. `None` when it is not a completion.
fn completion_as_stream(completion: &Value, include_usage: bool) -> Option<Bytes> {
    let choice = completion.get("choices")?.get(0)?;
    let message = choice.get("message")?;
    let mut delta = serde_json::json!({"role": "assistant", "content": message.get("content").cloned().unwrap_or(Value::Null)});
    for key in ["reasoning_content", "refusal"] {
        if let Some(v) = message.get(key).filter(|v| !v.is_null()) {
            delta[key] = v.clone();
        }
    }
    if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
        let calls: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut c = c.clone();
                c["index"] = serde_json::json!(i);
                c
            })
            .collect();
        delta["tool_calls"] = Value::Array(calls);
    }
    let head = |choices: Value| {
        serde_json::json!({
            "id": completion.get("id").cloned().unwrap_or(Value::Null),
            "object": "chat.completion.chunk",
            "created": completion.get("created").cloned().unwrap_or(Value::Null),
            "model": completion.get("model").cloned().unwrap_or(Value::Null),
            "choices": choices,
        })
    };
    let chunk = head(serde_json::json!([{"index": 0, "delta": delta,
        "finish_reason": choice.get("finish_reason").cloned().unwrap_or(Value::Null)}]));
    let mut out = format!("data: {chunk}\n\n");
    if include_usage {
        let mut usage = head(serde_json::json!([]));
        usage["usage"] = completion.get("usage").cloned().unwrap_or(Value::Null);
        out.push_str(&format!("data: {usage}\n\n"));
    }
    out.push_str("data: [DONE]\n\n");
    Some(Bytes::from(out))
}

/// The client's response for a pass-through answer.
pub(super) async fn respond(
    settings: &Settings,
    answered: Answered,
    include_usage: bool,
    record: &mut Option<RequestRecord>,
    held: &mut Option<Held>,
) -> Result<Response, ApiError> {
    match answered.answer {
        Answer::Whole(whole) => {
            let content_type = whole.headers.get(header::CONTENT_TYPE).cloned();
            let bytes = whole.body;
            let parsed = serde_json::from_slice::<Value>(&bytes).ok();
            if let Some(rec) = record.as_mut() {
                rec.usage = parsed.as_ref().and_then(usage_of);
            }
            if answered.outgoing.stream {
                if let Some(sse) = parsed
                    .as_ref()
                    .and_then(|c| completion_as_stream(c, include_usage))
                {
                    return Ok(sse_http_response(Body::from(sse)));
                }
            }
            let mut resp = Response::new(Body::from(bytes));
            *resp.status_mut() = StatusCode::OK;
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                content_type.unwrap_or(HeaderValue::from_static("application/json")),
            );
            Ok(resp)
        }
        Answer::Stream(opened) => {
            let mut record = record.take();
            if let Some(rec) = record.as_mut() {
                rec.status = 200;
            }
            let state = Relay {
                upstream: Some(opened.into_stream()),
                idle: settings.stream_idle_timeout,
                sse: SseDecoder::new(),
                events: Vec::new(),
                finished: false,
                record,
                _held: held.take(),
            };
            let body = futures_util::stream::unfold(state, |mut st| async move {
                let bytes = st.next().await?;
                Some((Ok::<_, std::convert::Infallible>(bytes), st))
            });
            Ok(sse_http_response(Body::from_stream(body)))
        }
    }
}

struct Relay {
    upstream: Option<ByteStream>,
    idle: Duration,
    sse: SseDecoder,
    events: Vec<SseEvent>,
    /// The upstream ended the stream itself.
    finished: bool,
    record: Option<RequestRecord>,
    _held: Option<Held>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(rec) = self.record.as_mut() {
            rec.client_gone = !self.finished;
        }
    }
}

impl Relay {
    /// Reads the usage (and any error) going by, without changing a byte.
    fn tap(&mut self, chunk: &[u8]) {
        self.sse.push(chunk, &mut self.events);
        for ev in self.events.drain(..) {
            if !ev.data.contains("\"usage\"") && !ev.data.contains("\"error\"") {
                continue;
            }
            let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
                continue;
            };
            if let Some(rec) = self.record.as_mut() {
                if let Some(u) = usage_of(&v) {
                    rec.usage = Some(u);
                }
                if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
                    rec.error = Some(e.to_string());
                }
            }
        }
    }

    fn fail(&mut self, message: String) -> Bytes {
        self.upstream = None;
        self.finished = true;
        if let Some(rec) = self.record.as_mut() {
            rec.error = Some(message.clone());
        }
        let body = serde_json::json!({"error": stream_error(ErrorKind::Api, &message)});
        Bytes::from(format!("data: {body}\n\n"))
    }

    async fn next(&mut self) -> Option<Bytes> {
        let upstream = self.upstream.as_mut()?;
        match tokio::time::timeout(self.idle, upstream.next()).await {
            Ok(Some(Ok(chunk))) => {
                self.tap(&chunk);
                Some(chunk)
            }
            Ok(None) => {
                self.finished = true;
                self.upstream = None;
                None
            }
            Ok(Some(Err(e))) => {
                let msg = if e.is_timeout() {
                    "upstream request timed out mid-stream"
                } else {
                    "upstream connection broke mid-stream"
                };
                Some(self.fail(msg.to_owned()))
            }
            Err(_) => Some(self.fail(format!(
                "upstream sent nothing for {} s; stream aborted",
                self.idle.as_secs()
            ))),
        }
    }
}
