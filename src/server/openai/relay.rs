//! Re-encodes the Anthropic SSE body a provider produced as the client's
//! OpenAI stream, event by event, as it arrives.
//!
//! The Anthropic body is the provider's own relay (with its idle timeout,
//! pings, stream checks, the request record and the concurrency permit
//! inside); this layer only decodes its events and writes them again, so
//! backpressure and cancellation are the inner body's: when the client
//! hangs up, both bodies are dropped and the upstream request with them.

use axum::body::Body;
use axum::response::Response;
use bytes::BytesMut;
use futures_util::StreamExt;

use crate::protocol::anthropic::StreamEvent;
use crate::providers::stream::sse_http_response;
use crate::sse::{SseDecoder, SseEvent};
use crate::translate::inbound::anthropic_in::EventDecoder;

/// An OpenAI stream written from Anthropic events.
pub(super) trait Reencode: Send + 'static {
    /// One Anthropic event.
    fn event(&mut self, ev: &StreamEvent, buf: &mut BytesMut);
    /// The Anthropic stream ended (cleanly or not).
    fn end(&mut self, buf: &mut BytesMut);
    /// True once the client's stream is complete.
    fn is_done(&self) -> bool;
}

struct State<T> {
    inner: axum::body::BodyDataStream,
    sse: SseDecoder,
    events: Vec<SseEvent>,
    decoder: EventDecoder,
    out: T,
    buf: BytesMut,
    ended: bool,
}

impl<T: Reencode> State<T> {
    fn feed(&mut self) {
        for ev in self.events.drain(..) {
            if self.out.is_done() {
                break;
            }
            if ev.event.as_deref() == Some("ping") {
                // A comment every SSE client skips, to keep the
                // connection alive while the upstream is silent.
                self.buf.extend_from_slice(b": ping\n\n");
                continue;
            }
            if let Some(e) = self.decoder.decode(&ev.data) {
                self.out.event(&e, &mut self.buf);
            }
        }
    }

    async fn next(&mut self) -> Option<bytes::Bytes> {
        loop {
            if !self.buf.is_empty() {
                return Some(self.buf.split().freeze());
            }
            if self.ended || self.out.is_done() {
                return None;
            }
            match self.inner.next().await {
                Some(Ok(chunk)) => {
                    self.sse.push(&chunk, &mut self.events);
                    self.feed();
                }
                Some(Err(_)) | None => {
                    self.sse.finish(&mut self.events);
                    self.feed();
                    if !self.out.is_done() {
                        self.out.end(&mut self.buf);
                    }
                    self.ended = true;
                }
            }
        }
    }
}

/// The client's SSE response for the Anthropic SSE `body`.
pub(super) fn reencode<T: Reencode>(body: Body, out: T) -> Response {
    let state = State {
        inner: body.into_data_stream(),
        sse: SseDecoder::new(),
        events: Vec::new(),
        decoder: EventDecoder::default(),
        out,
        buf: BytesMut::with_capacity(4096),
        ended: false,
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        let bytes = st.next().await?;
        Some((Ok::<_, std::convert::Infallible>(bytes), st))
    });
    sse_http_response(Body::from_stream(stream))
}
