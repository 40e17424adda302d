//! The relay of an Anthropic upstream's event stream (`serviceType`
//! `claude`): events go to the client byte for byte, whole (an event is
//! never split, so an error the relay adds never lands inside one), while a
//! tap reads usage and the stream's end from the events it passes. An
//! upstream silent for `STREAM_IDLE_TIMEOUT`, a broken connection, or a
//! stream that ends before `message_stop` ends with an `event: error`.

use std::pin::Pin;
use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::time::Instant;

use super::{ByteStream, Held};
use crate::error::ErrorKind;
use crate::observe::RequestRecord;
use crate::protocol::anthropic::{ErrorBody, StreamEvent, Usage, UsageReport};

/// A partial event longer than this is forwarded without waiting for its
/// end (an upstream that never ends its events must not grow memory).
const MAX_HELD_PARTIAL: usize = 1 << 20;

/// The pass-through body: upstream events forwarded whole, as they came.
pub(super) fn relay(
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
pub(super) fn last_event_end(buf: &[u8]) -> Option<usize> {
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
pub(super) struct UsageTap {
    pub(super) usage: Option<Usage>,
    /// `message_stop` or `error` was seen: the stream ended properly.
    pub(super) ended: bool,
    /// Content was seen: a delta, a tool call, or the answer's end.
    pub(super) content: bool,
    /// An `error` event the upstream sent itself.
    pub(super) upstream_error: Option<String>,
}

impl UsageTap {
    pub(super) fn scan(&mut self, events: &[u8]) {
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
            .and_then(|u| UsageReport::deserialize(u).ok())
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
#[path = "relay_tests.rs"]
mod tests;
