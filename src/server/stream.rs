//! Turns an upstream SSE response into the client's Anthropic SSE body.
//!
//! No spawned task and no channel: the body is a lazy stream that pulls the
//! upstream only when the client is ready for more (backpressure), and when
//! the client hangs up the body is dropped, which drops the upstream
//! response and so cancels the upstream request.

use std::pin::Pin;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use tokio::time::Instant;

use crate::error::ErrorKind;
use crate::protocol::anthropic::StreamEvent;
use crate::sse::{encode_events, ping_bytes, SseDecoder, SseEvent};
use crate::translate::openai::OpenAiStreamTranslator;

/// The interface every upstream stream translator offers.
pub trait StreamTranslate: Send + 'static {
    /// Called when the upstream answered 200.
    fn start(&mut self, out: &mut Vec<StreamEvent>);
    /// Emits `message_start` now if it has not been sent (before the first
    /// `ping`, so the client always sees `message_start` first).
    fn ensure_started(&mut self, out: &mut Vec<StreamEvent>) {
        self.start(out);
    }
    fn push(&mut self, data: &str, out: &mut Vec<StreamEvent>);
    fn finish(&mut self, out: &mut Vec<StreamEvent>);
    fn fail(&mut self, kind: ErrorKind, message: &str, out: &mut Vec<StreamEvent>);
    fn is_done(&self) -> bool;
}

macro_rules! impl_stream_translate {
    ($t:ty) => {
        impl StreamTranslate for $t {
            fn start(&mut self, out: &mut Vec<StreamEvent>) {
                <$t>::start(self, out)
            }
            fn push(&mut self, data: &str, out: &mut Vec<StreamEvent>) {
                <$t>::push(self, data, out)
            }
            fn finish(&mut self, out: &mut Vec<StreamEvent>) {
                <$t>::finish(self, out)
            }
            fn fail(&mut self, kind: ErrorKind, message: &str, out: &mut Vec<StreamEvent>) {
                <$t>::fail(self, kind, message, out)
            }
            fn is_done(&self) -> bool {
                <$t>::is_done(self)
            }
        }
    };
}

impl_stream_translate!(OpenAiStreamTranslator);

/// Gemini's first chunk carries the prompt token count, so `message_start`
/// waits for it (pings keep the client company meanwhile).
impl StreamTranslate for crate::translate::gemini::GeminiStreamTranslator {
    fn start(&mut self, _out: &mut Vec<StreamEvent>) {}
    fn ensure_started(&mut self, out: &mut Vec<StreamEvent>) {
        Self::start(self, out)
    }
    fn push(&mut self, data: &str, out: &mut Vec<StreamEvent>) {
        Self::push(self, data, out)
    }
    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        Self::finish(self, out)
    }
    fn fail(&mut self, kind: ErrorKind, message: &str, out: &mut Vec<StreamEvent>) {
        Self::fail(self, kind, message, out)
    }
    fn is_done(&self) -> bool {
        Self::is_done(self)
    }
}

/// Bounds on how much already-arrived upstream data one client write
/// gathers.
const MAX_BATCH_CHUNKS: usize = 64;
const MAX_BATCH_EVENTS: usize = 256;

/// Silence limits of a stream.
#[derive(Debug, Clone, Copy)]
pub struct StreamTimeouts {
    /// Longest upstream silence before the stream is aborted with an error.
    pub idle: Duration,
    /// Client-side silence after which a `ping` is sent.
    pub ping: Duration,
}

type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// Called once when the stream ends, however it ends (for the request log).
pub type OnEnd = Box<dyn FnOnce(StreamOutcome) + Send>;

#[derive(Debug, Clone, Default)]
pub struct StreamOutcome {
    /// Set when the stream ended with an `error` event.
    pub error: Option<String>,
    /// Bytes sent to the client.
    pub bytes_sent: u64,
    /// Client went away before the end.
    pub client_gone: bool,
    /// Final usage, from the `message_delta` event.
    pub usage: Option<crate::protocol::anthropic::Usage>,
}

struct StreamState<T> {
    upstream: Option<ByteStream>,
    decoder: SseDecoder,
    translator: T,
    sse: Vec<SseEvent>,
    events: Vec<StreamEvent>,
    buf: BytesMut,
    idle_timeout: Duration,
    ping_interval: Duration,
    last_chunk: Instant,
    last_sent: Instant,
    /// One timer for both the idle limit and the next ping, re-armed only
    /// when it fires: arming a fresh timer per chunk costs more than the
    /// chunk's translation.
    timer: Pin<Box<tokio::time::Sleep>>,
    /// An end or error met while batching, handled on the next pass.
    pending: Option<Option<reqwest::Result<Bytes>>>,
    finished: bool,
    outcome: StreamOutcome,
    on_end: Option<OnEnd>,
    /// Held for the life of the stream (concurrency limit).
    _guard: Option<Box<dyn Send + Sync>>,
}

impl<T> Drop for StreamState<T> {
    fn drop(&mut self) {
        if let Some(f) = self.on_end.take() {
            self.outcome.client_gone = !self.finished;
            f(std::mem::take(&mut self.outcome));
        }
    }
}

impl<T: StreamTranslate> StreamState<T> {
    /// Feeds decoded upstream events to the translator.
    fn translate_pending(&mut self) {
        for ev in self.sse.drain(..) {
            if self.translator.is_done() {
                break;
            }
            self.translator.push(&ev.data, &mut self.events);
        }
    }

    fn take_output(&mut self) -> Option<Bytes> {
        if self.events.is_empty() {
            return None;
        }
        for ev in &self.events {
            match ev {
                StreamEvent::Error { error } => {
                    self.outcome.error = Some(format!("{}: {}", error.kind, error.message));
                }
                StreamEvent::MessageDelta { usage, .. } => self.outcome.usage = Some(usage.clone()),
                _ => {}
            }
        }
        encode_events(&self.events, &mut self.buf);
        self.events.clear();
        self.last_sent = Instant::now();
        let bytes = self.buf.split().freeze();
        self.outcome.bytes_sent += bytes.len() as u64;
        Some(bytes)
    }

    /// One item of the upstream body: data, a transport error, or the end.
    fn on_item(&mut self, item: Option<reqwest::Result<Bytes>>) {
        match item {
            Some(Ok(chunk)) => {
                self.last_chunk = Instant::now();
                self.decoder.push(&chunk, &mut self.sse);
                self.translate_pending();
                self.drain_ready();
            }
            Some(Err(e)) => {
                let (kind, msg) = if e.is_timeout() {
                    (ErrorKind::Timeout, "upstream request timed out mid-stream")
                } else {
                    (ErrorKind::Api, "upstream connection broke mid-stream")
                };
                self.translator.fail(kind, msg, &mut self.events);
            }
            None => {
                self.decoder.finish(&mut self.sse);
                self.translate_pending();
                if !self.translator.is_done() {
                    self.translator.finish(&mut self.events);
                }
                self.upstream = None;
            }
        }
    }

    /// Takes the upstream chunks that have already arrived, without
    /// waiting, so that they leave as one write instead of one per chunk
    /// (nothing is held back: only what is ready now is batched).
    fn drain_ready(&mut self) {
        use futures_util::FutureExt;
        for _ in 0..MAX_BATCH_CHUNKS {
            if self.translator.is_done() || self.events.len() >= MAX_BATCH_EVENTS {
                return;
            }
            let Some(upstream) = self.upstream.as_mut() else {
                return;
            };
            match upstream.next().now_or_never() {
                Some(Some(Ok(chunk))) => {
                    self.decoder.push(&chunk, &mut self.sse);
                    self.translate_pending();
                }
                // An error or the end: kept for the main loop, after the
                // data gathered so far has been sent.
                Some(other) => {
                    self.pending = Some(other);
                    return;
                }
                None => return,
            }
        }
    }

    fn rearm(&mut self) {
        let next = (self.last_chunk + self.idle_timeout).min(self.last_sent + self.ping_interval);
        self.timer.as_mut().reset(next);
    }

    async fn next_bytes(&mut self) -> Option<Bytes> {
        loop {
            if self.finished {
                return None;
            }
            if self.translator.is_done() {
                // Stop reading the upstream (drops the connection) and end.
                self.upstream = None;
                self.finished = true;
                return self.take_output();
            }
            let Some(upstream) = self.upstream.as_mut() else {
                self.finished = true;
                return self.take_output();
            };
            if let Some(item) = self.pending.take() {
                self.on_item(item);
                if let Some(bytes) = self.take_output() {
                    return Some(bytes);
                }
                continue;
            }
            tokio::select! {
                item = upstream.next() => self.on_item(item),
                _ = self.timer.as_mut() => {
                    let now = Instant::now();
                    let idle_deadline = self.last_chunk + self.idle_timeout;
                    let ping_deadline = self.last_sent + self.ping_interval;
                    if now >= idle_deadline {
                        let msg = format!(
                            "upstream sent nothing for {} s; stream aborted",
                            self.idle_timeout.as_secs()
                        );
                        self.translator.fail(ErrorKind::Timeout, &msg, &mut self.events);
                    } else if now >= ping_deadline {
                        self.translator.ensure_started(&mut self.events);
                        let head = self.take_output();
                        self.last_sent = now;
                        self.rearm();
                        let ping = ping_bytes();
                        self.outcome.bytes_sent += ping.len() as u64;
                        return Some(match head {
                            None => ping,
                            Some(head) => {
                                let mut both = BytesMut::with_capacity(head.len() + ping.len());
                                both.extend_from_slice(&head);
                                both.extend_from_slice(&ping);
                                both.freeze()
                            }
                        });
                    } else {
                        // Activity moved the deadlines on since the timer was set.
                        self.rearm();
                    }
                }
            }
            if let Some(bytes) = self.take_output() {
                return Some(bytes);
            }
        }
    }
}

/// Builds the SSE response for an upstream that answered 200 with a stream.
pub fn sse_response<T: StreamTranslate>(
    upstream: reqwest::Response,
    mut translator: T,
    timeouts: StreamTimeouts,
    guard: Option<Box<dyn Send + Sync>>,
    on_end: OnEnd,
) -> Response {
    let mut events = Vec::with_capacity(4);
    translator.start(&mut events);
    let now = Instant::now();
    let mut state = StreamState {
        upstream: Some(Box::pin(upstream.bytes_stream())),
        decoder: SseDecoder::new(),
        translator,
        sse: Vec::new(),
        events,
        buf: BytesMut::with_capacity(4096),
        idle_timeout: timeouts.idle,
        ping_interval: timeouts.ping,
        last_chunk: now,
        last_sent: now,
        pending: None,
        timer: Box::pin(tokio::time::sleep_until(
            now + timeouts.ping.min(timeouts.idle),
        )),
        finished: false,
        outcome: StreamOutcome::default(),
        on_end: Some(on_end),
        _guard: guard,
    };
    let first = state.take_output();
    let head = futures_util::stream::iter(first.map(Ok::<_, std::convert::Infallible>));
    let rest = futures_util::stream::unfold(state, |mut st| async move {
        let bytes = st.next_bytes().await?;
        Some((Ok::<_, std::convert::Infallible>(bytes), st))
    });
    sse_http_response(Body::from_stream(head.chain(rest)))
}

/// Response head for an event stream: no buffering, no caching.
pub fn sse_http_response(body: Body) -> Response {
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

/// Replays a complete message as a stream (for upstreams that answered a
/// stream request with plain JSON).
pub fn message_to_events(msg: &crate::protocol::anthropic::MessagesResponse) -> Vec<StreamEvent> {
    use crate::protocol::anthropic::{MessageDeltaBody, MessagesResponse, ResponseBlock};
    use crate::translate::BlockWriter;
    let mut out = Vec::new();
    let mut start = MessagesResponse::new(msg.id.clone(), msg.model.clone());
    start.usage.input_tokens = msg.usage.input_tokens;
    start.usage.cache_read_input_tokens = msg.usage.cache_read_input_tokens;
    start.usage.cache_creation_input_tokens = msg.usage.cache_creation_input_tokens;
    out.push(StreamEvent::MessageStart { message: start });
    let mut w = BlockWriter::new(String::new());
    for block in &msg.content {
        match block {
            ResponseBlock::Text { text } => w.text(&mut out, text),
            ResponseBlock::Thinking {
                thinking,
                signature,
            } => {
                w.close(&mut out);
                w.thinking(&mut out, thinking);
                w.thinking_signature(&mut out, signature.clone());
            }
            ResponseBlock::ToolUse { id, name, input } => {
                w.tool_use(&mut out, id.clone(), name.clone(), input.to_string())
            }
        }
    }
    w.close(&mut out);
    out.push(StreamEvent::MessageDelta {
        delta: MessageDeltaBody {
            stop_reason: msg.stop_reason,
            stop_sequence: msg.stop_sequence.clone(),
        },
        usage: msg.usage.clone(),
    });
    out.push(StreamEvent::MessageStop);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::anthropic::{MessagesResponse, ResponseBlock, StopReason};
    use crate::translate::accumulate;

    #[test]
    fn replayed_message_round_trips() {
        let mut msg = MessagesResponse::new("msg_1".into(), "m".into());
        msg.content = vec![
            ResponseBlock::Thinking {
                thinking: "t".into(),
                signature: "s".into(),
            },
            ResponseBlock::Text { text: "hi".into() },
            ResponseBlock::ToolUse {
                id: "toolu_1".into(),
                name: "x".into(),
                input: serde_json::json!({"a": 1}),
            },
        ];
        msg.stop_reason = Some(StopReason::ToolUse);
        msg.usage.output_tokens = 5;
        assert_eq!(accumulate(&message_to_events(&msg)).unwrap(), msg);
    }
}
