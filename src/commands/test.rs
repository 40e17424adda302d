//! Testing an upstream with real requests: `claude-proxy config test
//! <upstream> [--deep]` and `POST /admin/api/upstreams/{name}/test` both
//! run [`run`].
//!
//! The basic test sends one tiny request (`max_tokens` 1) through each key,
//! so a user learns which keys work. The deep test is a conformance probe
//! through the first key that passed: plain text, a stream, one tool call,
//! parallel tool calls, an image and extended thinking, each reported as
//! `works`, `unsupported` (the upstream refused the feature, or answered
//! without using it) or `fails` (any other error), so a user learns which
//! Claude Code features a model really supports through the gateway.
//!
//! Every request takes the real path (the upstream's provider, translator
//! and stream check, see `routing::failover::send_through_key`) and the
//! answer is read back as a client would get it. Nothing here changes a
//! key's state or the circuit, and keys appear only masked.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use bytes::Bytes;
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::{ApiError, ErrorKind};
use crate::protocol::anthropic::MessagesRequest;
use crate::providers::{ClientRequest, Respond};
use crate::routing::failover::{send_through_key, Net};
use crate::routing::UpstreamRuntime;
use crate::translate::ResponseContext;

/// The model a test asks for when the caller names none: the upstream's
/// `modelMapping` turns it into one of its own models (by the family word
/// `sonnet`, or `*`).
pub(crate) const DEFAULT_TEST_MODEL: &str = "claude-sonnet-4-5";

/// Largest answer a probe reads back.
const MAX_ANSWER: usize = 4 << 20;

/// A 16×16 red PNG: the image probe asks for its colour.
const RED_PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAAFklEQVR42mO4oKBAEmIY1TCqYfhqAABLfxAQegypMgAAAABJRU5ErkJggg==";

/// What to test.
#[derive(Debug, Clone, Default)]
pub(crate) struct TestOptions {
    /// Run the conformance probe as well.
    pub deep: bool,
    /// The model to ask for; [`DEFAULT_TEST_MODEL`] when `None`.
    pub model: Option<String>,
}

/// The outcome of a test, as the admin API returns it (JSON) and the CLI
/// prints it ([`Report::text`]).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Report {
    pub upstream: String,
    pub service_type: &'static str,
    pub base_url: String,
    /// The model asked for.
    pub model: String,
    /// The model sent upstream (after `modelMapping`).
    pub upstream_model: String,
    /// One result per key (one for a keyless upstream).
    pub keys: Vec<KeyResult>,
    /// The conformance probe, when asked for.
    pub deep: Option<Deep>,
}

/// One key's basic test.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KeyResult {
    pub index: usize,
    /// Masked; empty for a keyless upstream.
    pub key: String,
    pub ok: bool,
    pub latency_ms: u64,
    /// The status the client would have got, on error.
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// The conformance probe.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Deep {
    /// The key it went through (the first that passed the basic test).
    pub key_index: Option<usize>,
    pub key: Option<String>,
    pub probes: Vec<Probe>,
    /// Why it did not run.
    pub error: Option<String>,
}

/// One feature's verdict.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Probe {
    /// `text`, `stream`, `tool_call`, `parallel_tool_calls`, `image`,
    /// `thinking`.
    pub name: &'static str,
    /// `works`, `unsupported` or `fails`.
    pub result: &'static str,
    pub latency_ms: u64,
    /// The upstream's error, or what was missing from the answer.
    pub detail: Option<String>,
}

/// Tests `up` as `options` say. Never fails as a whole: each key's and
/// each probe's error is part of the report.
pub(crate) async fn run(net: Net<'_>, up: &UpstreamRuntime, options: &TestOptions) -> Report {
    let model = options
        .model
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .unwrap_or(DEFAULT_TEST_MODEL)
        .to_owned();
    let upstream_model = up.config.model_mapping.resolve(&model).to_owned();
    // A keyless upstream still has its one pseudo-key to go through.
    let masked: Vec<String> = if up.keys.is_empty() {
        vec![String::new()]
    } else {
        up.keys.keys().iter().map(|k| k.masked()).collect()
    };
    let basic = json!({
        "model": model,
        "max_tokens": 1,
        "messages": [{"role": "user", "content": "Say ok."}],
    });
    let keys = futures_util::future::join_all(masked.iter().enumerate().map(|(i, key)| {
        let basic = &basic;
        async move {
            let started = Instant::now();
            let outcome = exchange(net, up, i, basic).await;
            let latency_ms = started.elapsed().as_millis() as u64;
            let (ok, status, error) = match outcome {
                Ok(_) => (true, None, None),
                Err(e) => (false, Some(e.status.as_u16()), Some(e.message)),
            };
            KeyResult {
                index: i,
                key: key.clone(),
                ok,
                latency_ms,
                status,
                error,
            }
        }
    }))
    .await;
    let deep = if options.deep {
        Some(match keys.iter().find(|k| k.ok) {
            Some(k) => Deep {
                key_index: Some(k.index),
                key: Some(k.key.clone()),
                probes: deep_probe(net, up, k.index, &model).await,
                error: None,
            },
            None => Deep {
                key_index: None,
                key: None,
                probes: Vec::new(),
                error: Some("no key passed the basic test; nothing to probe through".into()),
            },
        })
    } else {
        None
    };
    Report {
        upstream: up.config.name.clone(),
        service_type: up.config.service_type.as_str(),
        base_url: up.config.base_url.to_string(),
        model,
        upstream_model,
        keys,
        deep,
    }
}

/// The six feature probes, at once, through key `key`.
async fn deep_probe(net: Net<'_>, up: &UpstreamRuntime, key: usize, model: &str) -> Vec<Probe> {
    let weather_tool = json!({
        "name": "get_weather",
        "description": "Current weather in a city.",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"]
        }
    });
    let user = |content: Value| json!([{"role": "user", "content": content}]);
    let cases: [(&'static str, Value); 6] = [
        (
            "text",
            json!({"model": model, "max_tokens": 32,
                   "messages": user(json!("Reply with the single word: ok"))}),
        ),
        (
            "stream",
            json!({"model": model, "max_tokens": 32, "stream": true,
                   "messages": user(json!("Reply with the single word: ok"))}),
        ),
        (
            "tool_call",
            json!({"model": model, "max_tokens": 256, "tools": [weather_tool],
                   "messages": user(json!("What is the weather in Paris? Use the get_weather tool."))}),
        ),
        (
            "parallel_tool_calls",
            json!({"model": model, "max_tokens": 512, "tools": [weather_tool],
                   "messages": user(json!("What is the weather in Paris and in Tokyo? Call get_weather for both cities at once, in one reply, without waiting for the first result."))}),
        ),
        (
            "image",
            json!({"model": model, "max_tokens": 32,
            "messages": user(json!([
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": RED_PNG}},
                {"type": "text", "text": "What colour is this image? Answer with one word."}
            ]))}),
        ),
        (
            "thinking",
            json!({"model": model, "max_tokens": 2048,
                   "thinking": {"type": "enabled", "budget_tokens": 1024},
                   "messages": user(json!("What is 17 * 23?"))}),
        ),
    ];
    futures_util::future::join_all(cases.iter().map(|(name, body)| async move {
        let started = Instant::now();
        let outcome = exchange(net, up, key, body).await;
        let latency_ms = started.elapsed().as_millis() as u64;
        let (result, detail) = judge(name, outcome);
        Probe {
            name,
            result,
            latency_ms,
            detail,
        }
    }))
    .await
}

/// `works`, `unsupported` or `fails` for probe `name`, with the detail.
fn judge(name: &str, outcome: Result<Seen, ApiError>) -> (&'static str, Option<String>) {
    let seen = match outcome {
        Ok(seen) => seen,
        // A 400 says the upstream (or the model) does not take the feature;
        // anything else is a failure of the upstream or the gateway.
        Err(e) if e.kind == ErrorKind::InvalidRequest => return ("unsupported", Some(e.message)),
        Err(e) => return ("fails", Some(e.message)),
    };
    if let Some(error) = seen.error {
        return ("fails", Some(error));
    }
    let missing = match name {
        "text" | "image" if seen.text.trim().is_empty() => {
            return ("fails", Some("the answer had no text".into()))
        }
        "stream" if !seen.streamed => {
            return ("fails", Some("the answer did not come as a stream".into()))
        }
        "stream" if seen.text.trim().is_empty() => {
            return ("fails", Some("the stream carried no text".into()))
        }
        "tool_call" if seen.tool_uses == 0 => Some("the model answered without calling the tool"),
        "parallel_tool_calls" if seen.tool_uses < 2 => Some(if seen.tool_uses == 1 {
            "the model called the tool once, not twice in one answer"
        } else {
            "the model answered without calling the tool"
        }),
        "thinking" if !seen.thinking => Some("the answer had no thinking block"),
        _ => None,
    };
    match missing {
        Some(m) => ("unsupported", Some(m.to_owned())),
        None => ("works", None),
    }
}

/// What a client would have got, in short.
#[derive(Debug, Default)]
struct Seen {
    streamed: bool,
    text: String,
    tool_uses: usize,
    thinking: bool,
    /// An error event inside a stream.
    error: Option<String>,
}

/// Sends `body` through key `key` of `up` and reads the client's answer.
async fn exchange(
    net: Net<'_>,
    up: &UpstreamRuntime,
    key: usize,
    body: &Value,
) -> Result<Seen, ApiError> {
    let raw = Bytes::from(
        serde_json::to_vec(body).map_err(|e| ApiError::api(format!("probe request: {e}")))?,
    );
    let parsed: MessagesRequest = serde_json::from_slice(&raw)
        .map_err(|e| ApiError::api(format!("internal error: probe request does not parse: {e}")))?;
    let upstream_model = up.config.model_mapping.resolve(&parsed.model).to_owned();
    let ctx = ResponseContext {
        message_id: crate::server::util::message_id(),
        model: parsed.model.clone(),
        stop_sequences: Vec::new(),
    };
    let headers = HeaderMap::new();
    let req = ClientRequest {
        raw_len: raw.len(),
        parsed: Some(parsed),
        raw,
        headers: &headers,
        native: None,
    };
    // Beyond the upstream's own timeouts: the whole probe, answer read.
    let limit = net.settings.request_timeout + Duration::from_secs(5);
    let work = async {
        let (out, answer) = send_through_key(net, up, key, &req, &upstream_model).await?;
        let response = up
            .provider
            .respond(
                out,
                answer,
                Respond {
                    settings: net.settings,
                    upstream: &up.config.name,
                    ctx,
                    record: &mut None,
                    held: &mut None,
                },
            )
            .await?;
        let streamed = response
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("event-stream"));
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), MAX_ANSWER)
            .await
            .map_err(|e| ApiError::api(format!("reading the answer failed: {e}")))?;
        if !status.is_success() {
            return Err(ApiError::api(format!(
                "the answer was {status}: {}",
                String::from_utf8_lossy(&bytes)
            )));
        }
        Ok(if streamed {
            seen_stream(&String::from_utf8_lossy(&bytes))
        } else {
            let v: Value = serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::api(format!("the answer is not JSON: {e}")))?;
            seen_message(&v)
        })
    };
    match tokio::time::timeout(limit, work).await {
        Ok(r) => r,
        Err(_) => Err(ApiError::timeout(format!(
            "no complete answer within {} s",
            limit.as_secs()
        ))),
    }
}

/// A Messages API answer (JSON).
fn seen_message(v: &Value) -> Seen {
    let mut seen = Seen::default();
    for block in v["content"].as_array().into_iter().flatten() {
        match block["type"].as_str() {
            Some("text") => seen.text.push_str(block["text"].as_str().unwrap_or("")),
            Some("tool_use") => seen.tool_uses += 1,
            Some("thinking" | "redacted_thinking") => seen.thinking = true,
            _ => {}
        }
    }
    seen
}

/// A Messages API answer as an event stream.
fn seen_stream(text: &str) -> Seen {
    let mut seen = Seen {
        streamed: true,
        ..Seen::default()
    };
    for line in text.lines() {
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let Ok(ev) = serde_json::from_str::<Value>(data.trim()) else {
            continue;
        };
        match ev["type"].as_str() {
            Some("content_block_start") => match ev["content_block"]["type"].as_str() {
                Some("tool_use") => seen.tool_uses += 1,
                Some("thinking" | "redacted_thinking") => seen.thinking = true,
                _ => {}
            },
            Some("content_block_delta") => {
                if let Some(t) = ev["delta"]["text"].as_str() {
                    seen.text.push_str(t);
                }
            }
            Some("error") => {
                seen.error = Some(
                    ev["error"]["message"]
                        .as_str()
                        .unwrap_or("the stream ended with an error")
                        .to_owned(),
                );
            }
            _ => {}
        }
    }
    seen
}

impl Report {
    /// Whether every key passed the basic test.
    pub(crate) fn all_keys_ok(&self) -> bool {
        self.keys.iter().all(|k| k.ok)
    }

    /// The report for a terminal.
    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Upstream {:?} ({}, {}), model {} → {}",
            self.upstream, self.service_type, self.base_url, self.model, self.upstream_model
        );
        for k in &self.keys {
            let key = if k.key.is_empty() {
                "(no key)".to_owned()
            } else {
                k.key.clone()
            };
            let verdict = match &k.error {
                None => "ok".to_owned(),
                Some(e) => format!("error: {e}"),
            };
            let _ = writeln!(
                out,
                "  key #{:<2} {key:<16} {:>6} ms  {verdict}",
                k.index, k.latency_ms
            );
        }
        if let Some(deep) = &self.deep {
            match (&deep.error, deep.key_index) {
                (Some(e), _) => {
                    let _ = writeln!(out, "Deep probe: {e}");
                }
                (None, Some(i)) => {
                    let _ = writeln!(
                        out,
                        "Deep probe through key #{i} {}:",
                        deep.key
                            .as_deref()
                            .filter(|k| !k.is_empty())
                            .unwrap_or("(no key)")
                    );
                }
                (None, None) => {}
            }
            for p in &deep.probes {
                let detail = p
                    .detail
                    .as_deref()
                    .map(|d| format!("  {d}"))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  {:<20} {:<12} {:>6} ms{detail}",
                    p.name, p.result, p.latency_ms
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        let ok = |f: fn(&mut Seen)| {
            let mut s = Seen {
                text: "ok".into(),
                ..Seen::default()
            };
            f(&mut s);
            Ok(s)
        };
        assert_eq!(judge("text", ok(|_| {})).0, "works");
        assert_eq!(judge("stream", ok(|_| {})).0, "fails", "not streamed");
        assert_eq!(judge("stream", ok(|s| s.streamed = true)).0, "works");
        assert_eq!(judge("tool_call", ok(|_| {})).0, "unsupported");
        assert_eq!(judge("tool_call", ok(|s| s.tool_uses = 1)).0, "works");
        let (r, d) = judge("parallel_tool_calls", ok(|s| s.tool_uses = 1));
        assert_eq!(r, "unsupported");
        assert!(d.unwrap().contains("once"));
        assert_eq!(
            judge("parallel_tool_calls", ok(|s| s.tool_uses = 2)).0,
            "works"
        );
        assert_eq!(judge("thinking", ok(|_| {})).0, "unsupported");
        assert_eq!(judge("thinking", ok(|s| s.thinking = true)).0, "works");
        let refused =
            ApiError::invalid_request("upstream x returned 400: images are not supported");
        assert_eq!(judge("image", Err(refused)).0, "unsupported");
        let (r, d) = judge("image", Err(ApiError::api("boom").with_status(502)));
        assert_eq!((r, d.as_deref()), ("fails", Some("boom")));
        assert_eq!(judge("text", ok(|s| s.error = Some("x".into()))).0, "fails");
    }

    #[test]
    fn answers_are_read_as_a_client_reads_them() {
        let s = seen_message(&json!({"content": [
            {"type": "thinking", "thinking": "…"},
            {"type": "text", "text": "a"},
            {"type": "tool_use", "id": "t1", "name": "x", "input": {}},
            {"type": "tool_use", "id": "t2", "name": "x", "input": {}}
        ]}));
        assert_eq!((s.text.as_str(), s.tool_uses, s.thinking), ("a", 2, true));
        let s = seen_stream(concat!(
            "event: message_start\ndata: {\"type\":\"message_start\"}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"ok\"}}\n\n",
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"later\"}}\n\n",
        ));
        assert!(s.streamed);
        assert_eq!((s.text.as_str(), s.error.as_deref()), ("ok", Some("later")));
    }
}
