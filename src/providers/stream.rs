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
use futures_util::StreamExt;
use tokio::time::Instant;

use super::opening::{progress_of, Answer, Inspect, Opened, Progress, Whole};
use super::{ByteStream, Held, Respond};
use crate::error::ErrorKind;
use crate::observe::RequestRecord;
use crate::protocol::anthropic::StreamEvent;
use crate::sse::{encode_events, ping_bytes, SseDecoder, SseEvent};
use crate::translate::openai::OpenAiStreamTranslator;
use crate::translate::responses::ResponsesStreamTranslator;

/// The interface every upstream stream translator offers.
pub(crate) trait StreamTranslate: Send + 'static {
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
impl_stream_translate!(ResponsesStreamTranslator);

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
/// Scheduler rounds one write waits at most for more chunks of a burst.
const MAX_GATHER_ROUNDS: usize = 256;
/// Scheduler rounds in a row without a chunk after which a write leaves.
const MAX_EMPTY_ROUNDS: usize = 3;

/// Silence limits of a stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamTimeouts {
    /// Longest upstream silence before the stream is aborted with an error.
    pub idle: Duration,
    /// Client-side silence after which a `ping` is sent.
    pub ping: Duration,
}

/// What the stream learns for the request record as it goes.
#[derive(Debug, Clone, Default)]
struct StreamOutcome {
    /// Set when the stream ended with an `error` event.
    error: Option<String>,
    /// Final usage, from the `message_delta` event.
    usage: Option<crate::protocol::anthropic::Usage>,
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
    pending: Option<Option<Result<Bytes, super::client::Error>>>,
    finished: bool,
    outcome: StreamOutcome,
    /// Written when the stream ends, however it ends.
    record: Option<RequestRecord>,
    /// Held for the life of the stream (concurrency limit).
    _guard: Option<Held>,
}

impl<T> Drop for StreamState<T> {
    fn drop(&mut self) {
        if let Some(mut rec) = self.record.take() {
            rec.status = 200;
            rec.client_gone = !self.finished;
            rec.usage = self.outcome.usage.take();
            rec.error = self.outcome.error.take();
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
        Some(self.buf.split().freeze())
    }

    fn on_chunk(&mut self, chunk: &Bytes) {
        self.last_chunk = Instant::now();
        self.decoder.push(chunk, &mut self.sse);
        self.translate_pending();
    }

    /// One item of the upstream body: data, a transport error, or the end.
    fn on_item(&mut self, item: Option<Result<Bytes, super::client::Error>>) {
        match item {
            Some(Ok(chunk)) => {
                self.on_chunk(&chunk);
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
    /// (nothing is held back: only what is ready now is batched). Returns
    /// whether anything arrived.
    fn drain_ready(&mut self) -> bool {
        use futures_util::FutureExt;
        let mut got = false;
        for _ in 0..MAX_BATCH_CHUNKS {
            if self.translator.is_done() || self.events.len() >= MAX_BATCH_EVENTS {
                break;
            }
            let Some(upstream) = self.upstream.as_mut() else {
                break;
            };
            match upstream.next().now_or_never() {
                Some(Some(Ok(chunk))) => {
                    got = true;
                    self.on_chunk(&chunk);
                }
                // An error or the end: kept for the main loop, after the
                // data gathered so far has been sent.
                Some(other) => {
                    self.pending = Some(other);
                    return true;
                }
                None => break,
            }
        }
        got
    }

    /// The upstream connection runs in its own task and hands over one
    /// chunk at a time, so a burst of chunks that is already in memory
    /// arrives over several scheduler rounds. Giving up the thread for a few
    /// rounds while they keep bringing chunks lets such a burst leave as one
    /// write instead of one write (and one client wake-up) per event. A few
    /// rounds in a row that bring nothing end the wait (each is a run through
    /// the other ready tasks, microseconds), so a slow upstream's events are
    /// not held back.
    async fn gather(&mut self) {
        let mut empty = 0;
        for _ in 0..MAX_GATHER_ROUNDS {
            if self.pending.is_some()
                || self.upstream.is_none()
                || self.translator.is_done()
                || self.events.len() >= MAX_BATCH_EVENTS
            {
                return;
            }
            tokio::task::yield_now().await;
            if self.drain_ready() {
                empty = 0;
            } else {
                empty += 1;
                if empty >= MAX_EMPTY_ROUNDS {
                    return;
                }
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
            if !self.events.is_empty() {
                self.gather().await;
            }
            if let Some(bytes) = self.take_output() {
                return Some(bytes);
            }
        }
    }
}

/// The client's SSE response for an upstream that answered 200 with a
/// stream, translated by `translator`; it takes the request record and the
/// concurrency permit along, for as long as it lasts.
pub(crate) fn translated_stream<T: StreamTranslate>(
    upstream: Opened,
    translator: T,
    r: Respond<'_>,
) -> Response {
    let timeouts = StreamTimeouts {
        idle: r.settings.stream_idle_timeout,
        ping: r.settings.ping_interval,
    };
    let body = sse_body(
        upstream.into_stream(),
        translator,
        timeouts,
        r.held.take(),
        r.record.take(),
    );
    sse_http_response(body)
}

/// A translated stream's opening, checked before it is committed through a
/// throwaway `translator`; an answer that came as JSON is read whole.
pub(crate) async fn open_translated<T: StreamTranslate>(
    upstream: &str,
    response: super::client::Response,
    deadline: tokio::time::Instant,
    translator: T,
) -> Result<Answer, crate::error::ApiError> {
    if super::http::is_json(&response) {
        return Whole::read(upstream, response).await.map(Answer::Whole);
    }
    let check = TranslatedOpening::new(upstream, translator);
    super::opening::open(upstream, response, deadline, check)
        .await
        .map(Answer::Stream)
}

/// Watches a translated stream's opening through a throwaway translator
/// (the chunks are translated again by the relay: a few chunks' work).
pub(crate) struct TranslatedOpening<'a, T> {
    upstream: &'a str,
    decoder: SseDecoder,
    translator: T,
    sse: Vec<SseEvent>,
    events: Vec<StreamEvent>,
}

impl<'a, T: StreamTranslate> TranslatedOpening<'a, T> {
    /// Watches `upstream`'s stream through `translator`.
    pub(crate) fn new(upstream: &'a str, translator: T) -> Self {
        TranslatedOpening {
            upstream,
            decoder: SseDecoder::new(),
            translator,
            sse: Vec::new(),
            events: Vec::new(),
        }
    }

    fn progress(&mut self) -> Progress {
        for ev in self.sse.drain(..) {
            if self.translator.is_done() {
                break;
            }
            self.translator.push(&ev.data, &mut self.events);
        }
        let p = progress_of(self.upstream, &self.events);
        self.events.clear();
        p
    }
}

impl<T: StreamTranslate> Inspect for TranslatedOpening<'_, T> {
    fn chunk(&mut self, chunk: &Bytes) -> Progress {
        self.decoder.push(chunk, &mut self.sse);
        self.progress()
    }

    fn end(&mut self) -> Progress {
        self.decoder.finish(&mut self.sse);
        match self.progress() {
            Progress::Pending if !self.translator.is_done() => {
                self.translator.finish(&mut self.events);
                let p = progress_of(self.upstream, &self.events);
                self.events.clear();
                p
            }
            p => p,
        }
    }
}

/// The client's SSE body translated from an upstream byte stream.
fn sse_body<T: StreamTranslate>(
    upstream: ByteStream,
    mut translator: T,
    timeouts: StreamTimeouts,
    guard: Option<Held>,
    record: Option<RequestRecord>,
) -> Body {
    let mut events = Vec::with_capacity(4);
    translator.start(&mut events);
    let now = Instant::now();
    let mut state = StreamState {
        upstream: Some(upstream),
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
        record,
        _guard: guard,
    };
    let first = state.take_output();
    let head = futures_util::stream::iter(first.map(Ok::<_, std::convert::Infallible>));
    let rest = futures_util::stream::unfold(state, |mut st| async move {
        let bytes = st.next_bytes().await?;
        Some((Ok::<_, std::convert::Infallible>(bytes), st))
    });
    Body::from_stream(head.chain(rest))
}

/// Response head for an event stream: no buffering, no caching.
pub(crate) fn sse_http_response(body: Body) -> Response {
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
pub(crate) fn message_to_events(
    msg: &crate::protocol::anthropic::MessagesResponse,
) -> Vec<StreamEvent> {
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

/// The message as JSON, or — when the client asked for a stream and the
/// upstream answered plain JSON anyway — replayed as SSE events.
pub(crate) fn json_or_replayed(
    msg: &crate::protocol::anthropic::MessagesResponse,
    stream: bool,
) -> Response {
    if !stream {
        return axum::response::IntoResponse::into_response(axum::Json(msg));
    }
    let mut buf = bytes::BytesMut::new();
    crate::sse::encode_events(&message_to_events(msg), &mut buf);
    sse_http_response(Body::from(buf.freeze()))
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
