//! The answer to a request an upstream of the client's own protocol got as
//! the client sent it — Chat Completions to an `openai` / `openaiold`
//! upstream, Responses to a `responses` upstream: the upstream's answer, as
//! it came (docs/openai-inbound.md, "Pass-through").
//!
//! A stream is relayed chunk by chunk; on the way its usage (Chat
//! Completions: when the client asked for `stream_options.include_usage`;
//! Responses: the terminal `response.completed` / `.incomplete` / `.failed`)
//! is read for the request record, an upstream silent for
//! `STREAM_IDLE_TIMEOUT` or a connection that breaks ends the stream with
//! the protocol's error (Chat Completions: `data: {"error": …}`; Responses:
//! `response.failed`, also for a stream that ends before its terminal
//! event), and the record and the concurrency permit are held until the
//! stream ends. A server that answers a stream request with a whole JSON
//! answer has it replayed as a stream, as the translated path does.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Value};

use super::replay::{completion_as_stream, response_as_stream};
use crate::error::{ApiError, ErrorKind};
use crate::observe::RequestRecord;
use crate::protocol::anthropic::Usage;
use crate::providers::stream::sse_http_response;
use crate::providers::{Answer, ByteStream, Held};
use crate::routing::failover::Answered;
use crate::settings::Settings;
use crate::sse::{SseDecoder, SseEvent};
use crate::translate::inbound::stream_error;

/// The protocol a pass-through speaks, with what its client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Protocol {
    /// Chat Completions; `include_usage`: the client asked for the usage
    /// chunk (`stream_options.include_usage`).
    Chat { include_usage: bool },
    /// The Responses API.
    Responses,
}

/// The usage in an OpenAI `usage` object, in Anthropic's terms (cached
/// tokens counted apart): Chat Completions' `prompt_tokens` /
/// `completion_tokens`, or the Responses API's `input_tokens` /
/// `output_tokens`. Both count cached tokens in the input.
fn usage_of(u: &Value) -> Option<Usage> {
    let u = u.as_object()?;
    let n = |k: &str| u.get(k).and_then(Value::as_u64);
    let (input, output, details) = match (n("prompt_tokens"), n("input_tokens")) {
        (Some(input), _) => (input, n("completion_tokens"), "prompt_tokens_details"),
        (None, Some(input)) => (input, n("output_tokens"), "input_tokens_details"),
        (None, None) => return None,
    };
    let cached = u
        .get(details)
        .and_then(|d| d.get("cached_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    Some(Usage {
        input_tokens: input.saturating_sub(cached),
        output_tokens: output.unwrap_or(0),
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: cached,
    })
}

/// The terminal events of a Responses stream.
const TERMINAL: [&str; 3] = [
    "response.completed",
    "response.incomplete",
    "response.failed",
];

/// The client's response for a pass-through answer.
pub(super) async fn respond(
    settings: &Settings,
    answered: Answered,
    protocol: Protocol,
    record: &mut Option<RequestRecord>,
    held: &mut Option<Held>,
) -> Result<Response, ApiError> {
    match answered.answer {
        Answer::Whole(whole) => {
            let content_type = whole.headers.get(header::CONTENT_TYPE).cloned();
            let bytes = whole.body;
            let parsed = serde_json::from_slice::<Value>(&bytes).ok();
            if let Some(rec) = record.as_mut() {
                rec.usage = parsed.as_ref().and_then(|v| usage_of(v.get("usage")?));
            }
            if answered.outgoing.stream {
                let replayed = parsed.as_ref().and_then(|v| match protocol {
                    Protocol::Chat { include_usage } => completion_as_stream(v, include_usage),
                    Protocol::Responses => response_as_stream(v),
                });
                if let Some(sse) = replayed {
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
                protocol,
                sse: SseDecoder::new(),
                events: Vec::new(),
                seen: 0,
                created: None,
                terminal: false,
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
    protocol: Protocol,
    sse: SseDecoder,
    events: Vec<SseEvent>,
    /// Events relayed so far (Responses: the next `sequence_number`, as
    /// the upstream numbers its events from 0).
    seen: u64,
    /// The `response` of a Responses stream's `response.created`: the
    /// object a `response.failed` of this gateway reports.
    created: Option<Value>,
    /// A Responses stream's terminal event went by.
    terminal: bool,
    /// The stream ended, by the upstream or with this gateway's error.
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
        let events = std::mem::take(&mut self.events);
        for ev in &events {
            self.seen += 1;
            match self.protocol {
                Protocol::Chat { .. } => self.tap_chat(ev),
                Protocol::Responses => self.tap_responses(ev),
            }
        }
        self.events = events;
        self.events.clear();
    }

    fn tap_chat(&mut self, ev: &SseEvent) {
        if !ev.data.contains("\"usage\"") && !ev.data.contains("\"error\"") {
            return;
        }
        let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
            return;
        };
        if let Some(rec) = self.record.as_mut() {
            if let Some(u) = v.get("usage").and_then(usage_of) {
                rec.usage = Some(u);
            }
            if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
                rec.error = Some(e.to_string());
            }
        }
    }

    /// Only the events that open or end the response, or report an error,
    /// are parsed; the deltas in between go by untouched.
    fn tap_responses(&mut self, ev: &SseEvent) {
        let named = ev.event.as_deref();
        let wanted = |t: &str| t == "response.created" || t == "error" || TERMINAL.contains(&t);
        if named.is_some_and(|t| !wanted(t)) {
            return;
        }
        let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
            return;
        };
        let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
        if kind == "response.created" {
            self.created = v.get("response").cloned();
            return;
        }
        let error = if kind == "error" {
            Some(v.clone())
        } else if TERMINAL.contains(&kind) {
            self.terminal = true;
            let response = &v["response"];
            if let (Some(rec), Some(u)) = (self.record.as_mut(), usage_of(&response["usage"])) {
                rec.usage = Some(u);
            }
            response.get("error").filter(|e| !e.is_null()).cloned()
        } else {
            None
        };
        if let (Some(rec), Some(e)) = (self.record.as_mut(), error) {
            rec.error = Some(e.to_string());
        }
    }

    /// Ends the stream with the protocol's error event.
    fn fail(&mut self, message: String) -> Bytes {
        self.upstream = None;
        self.finished = true;
        if let Some(rec) = self.record.as_mut() {
            rec.error = Some(message.clone());
        }
        match self.protocol {
            Protocol::Chat { .. } => {
                let body = json!({"error": stream_error(ErrorKind::Api, &message)});
                Bytes::from(format!("data: {body}\n\n"))
            }
            Protocol::Responses => {
                Bytes::from(responses_failure(self.created.take(), self.seen, &message))
            }
        }
    }

    async fn next(&mut self) -> Option<Bytes> {
        let upstream = self.upstream.as_mut()?;
        match tokio::time::timeout(self.idle, upstream.next()).await {
            Ok(Some(Ok(chunk))) => {
                self.tap(&chunk);
                Some(chunk)
            }
            Ok(None) => {
                self.sse.finish(&mut self.events);
                let events = std::mem::take(&mut self.events);
                for ev in &events {
                    self.seen += 1;
                    if self.protocol == Protocol::Responses {
                        self.tap_responses(ev);
                    }
                }
                if self.protocol == Protocol::Responses && !self.terminal {
                    return Some(self.fail(
                        "upstream ended the stream before the response was complete".to_owned(),
                    ));
                }
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

/// The event that ends a Responses stream this gateway had to cut:
/// `response.failed` with the response `response.created` announced
/// (status `failed`, `error.code` `server_error`), or OpenAI's `error`
/// event when there was none; `seq` is its `sequence_number`.
fn responses_failure(created: Option<Value>, seq: u64, message: &str) -> String {
    let error = json!({"code": "server_error", "message": message});
    let event = match created {
        Some(mut response) => {
            response["status"] = json!("failed");
            response["error"] = error;
            json!({"type": "response.failed", "sequence_number": seq, "response": response})
        }
        None => json!({"type": "error", "sequence_number": seq, "code": "server_error",
            "message": message, "param": null}),
    };
    let name = event["type"].as_str().unwrap_or("error");
    format!("event: {name}\ndata: {event}\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_reads_both_protocols_with_cached_tokens_apart() {
        let chat = json!({"prompt_tokens": 29, "completion_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 8}});
        let responses = json!({"input_tokens": 29, "output_tokens": 7,
            "input_tokens_details": {"cached_tokens": 8}, "output_tokens_details": {"reasoning_tokens": 3}});
        for u in [chat, responses] {
            let u = usage_of(&u).unwrap();
            assert_eq!(
                (u.input_tokens, u.cache_read_input_tokens, u.output_tokens),
                (21, 8, 7)
            );
        }
        assert!(usage_of(&Value::Null).is_none());
        assert!(usage_of(&json!({"total_tokens": 3})).is_none());
    }

    #[test]
    fn a_cut_responses_stream_fails_with_the_announced_response() {
        let created = json!({"id": "resp_1", "object": "response", "status": "in_progress"});
        let text = responses_failure(Some(created), 7, "cut");
        let (head, data) = text.split_once("\ndata: ").unwrap();
        assert_eq!(head, "event: response.failed");
        let v: Value = serde_json::from_str(data.trim_end()).unwrap();
        assert_eq!(v["sequence_number"], 7);
        assert_eq!(v["response"]["id"], "resp_1");
        assert_eq!(v["response"]["status"], "failed");
        assert_eq!(v["response"]["error"]["code"], "server_error");
        let text = responses_failure(None, 0, "cut");
        assert!(text.starts_with("event: error\ndata: {"), "{text}");
    }
}
