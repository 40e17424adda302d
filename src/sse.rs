//! Server-sent events: an incremental decoder for upstream streams and the
//! encoder for what the proxy sends to clients.
//!
//! The decoder follows the SSE spec closely enough for every upstream seen in
//! practice: LF, CRLF and CR line endings (Gemini uses CRLF), events split
//! across reads, multi-line `data:`, `:` comment keep-alives (OpenRouter) and
//! a last event without its blank line when the body simply ends.

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

use crate::protocol::anthropic::StreamEvent;

/// One decoded event: its `event:` name (if any) and joined `data:` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field.
    pub event: Option<String>,
    /// The `data:` lines, joined by `\n`.
    pub data: String,
}

/// Incremental decoder of an upstream's event stream.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: Vec<u8>,
    /// Position in `buf` up to which lines have been consumed.
    pos: usize,
    /// A CR ended the last line; a following LF belongs to it.
    skip_lf: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl SseDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; appends every event completed by them to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        self.buf.extend_from_slice(chunk);
        loop {
            if self.skip_lf && self.pos < self.buf.len() {
                if self.buf[self.pos] == b'\n' {
                    self.pos += 1;
                }
                self.skip_lf = false;
            }
            let rest = &self.buf[self.pos..];
            let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') else {
                break;
            };
            let is_cr = rest[end] == b'\r';
            let (start, stop) = (self.pos, self.pos + end);
            self.pos += end + 1;
            self.skip_lf = is_cr;
            self.line(start, stop, out);
        }
        // Keep memory bounded: drop consumed bytes once they dominate.
        if self.pos > 4096 && self.pos * 2 > self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
    }

    /// The body ended: dispatches a final event that had no blank line.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if self.pos < self.buf.len() {
            let (start, stop) = (self.pos, self.buf.len());
            self.pos = stop;
            self.line(start, stop, out);
        }
        self.dispatch(out);
    }

    /// Handles the line `buf[start..stop]` in place (no copy of the line).
    fn line(&mut self, start: usize, stop: usize, out: &mut Vec<SseEvent>) {
        if start == stop {
            self.dispatch(out);
            return;
        }
        let line = &self.buf[start..stop];
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                push_utf8(&mut self.data, value);
                self.has_data = true;
            }
            b"event" => {
                let mut name = String::with_capacity(value.len());
                push_utf8(&mut name, value);
                self.event = Some(name);
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if self.has_data {
            out.push(SseEvent {
                event: self.event.take(),
                data: std::mem::take(&mut self.data),
            });
        }
        self.event = None;
        self.has_data = false;
    }
}

/// Appends bytes as text (invalid UTF-8 replaced, as SSE requires).
fn push_utf8(dst: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => dst.push_str(text),
        Err(_) => dst.push_str(&String::from_utf8_lossy(bytes)),
    }
}

/// Appends `event: <name>\ndata: <json>\n\n` for each event.
pub fn encode_events(events: &[StreamEvent], buf: &mut BytesMut) {
    for ev in events {
        encode_event(ev.name(), ev, buf);
    }
}

/// Appends one event with an explicit name.
fn encode_event<T: Serialize>(name: &str, data: &T, buf: &mut BytesMut) {
    buf.put_slice(b"event: ");
    buf.put_slice(name.as_bytes());
    buf.put_slice(b"\ndata: ");
    let mut w = buf.writer();
    // Serialising our own types into memory cannot fail.
    let _ = serde_json::to_writer(&mut w, data);
    let buf = w.into_inner();
    buf.put_slice(b"\n\n");
}

/// The keep-alive Anthropic sends while a response is being generated.
pub(crate) fn ping_bytes() -> Bytes {
    Bytes::from_static(b"event: ping\ndata: {\"type\": \"ping\"}\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            d.push(c, &mut out);
        }
        d.finish(&mut out);
        out
    }

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    #[test]
    fn lf_crlf_cr_and_split_reads() {
        let whole = b"data: {\"a\":1}\n\ndata: {\"b\":2}\r\n\r\ndata: x\r\rdata: [DONE]\n\n";
        let expect = vec!["{\"a\":1}", "{\"b\":2}", "x", "[DONE]"];
        assert_eq!(data(&decode_all(&[whole])), expect);
        // Every split point, including between \r and \n.
        for i in 0..whole.len() {
            let (a, b) = whole.split_at(i);
            assert_eq!(data(&decode_all(&[a, b])), expect, "split at {i}");
        }
        let bytes: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(data(&decode_all(&bytes)), expect);
    }

    #[test]
    fn comments_multiline_event_names_and_unterminated_tail() {
        let ev = decode_all(&[
            b": OPENROUTER PROCESSING\n\nevent: message_start\ndata: a\ndata: b\n\ndata:c",
        ]);
        assert_eq!(
            ev,
            vec![
                SseEvent {
                    event: Some("message_start".into()),
                    data: "a\nb".into()
                },
                SseEvent {
                    event: None,
                    data: "c".into()
                },
            ]
        );
    }

    #[test]
    fn multibyte_text_split_across_reads() {
        let whole = "data: {\"t\":\"héllo — 日本\"}\n\n".as_bytes();
        for i in 0..whole.len() {
            let (a, b) = whole.split_at(i);
            assert_eq!(
                data(&decode_all(&[a, b])),
                vec!["{\"t\":\"héllo — 日本\"}"],
                "split at {i}"
            );
        }
    }

    #[test]
    fn encodes_anthropic_events() {
        let mut buf = BytesMut::new();
        encode_events(&[StreamEvent::MessageStop], &mut buf);
        assert_eq!(
            &buf[..],
            b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
        );
    }
}
