//! A stream is checked before it is committed to the client.
//!
//! An upstream that answers 200 and then sends an error event, an empty
//! stream, or closes before any content has failed, exactly like a 5xx: a
//! silent empty answer is the worst thing Claude Code can get (a subagent
//! that returns nothing). So the first chunks of a stream are read here,
//! before anything reaches the client, until the first meaningful event —
//! a text or thinking delta, a tool call, or a complete (even empty) answer
//! with a stop reason — within `FIRST_BYTE_TIMEOUT`. A failure before that
//! is returned as an error, and the failover loop tries the next key or
//! upstream. The chunks read are kept and replayed to the stream's relay,
//! so the client sees one clean stream.

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::time::Instant;

use super::errors::transport_error;
use super::ByteStream;
use crate::error::{ApiError, ErrorKind};
use crate::protocol::anthropic::{BlockStart, StreamEvent};
use crate::translate::ResponseContext;

/// What a 2xx upstream answer turned out to be.
pub(crate) enum Answer {
    /// A whole body, read (JSON, or a stream that came as JSON).
    Whole(Whole),
    /// An event stream whose opening was read and found meaningful.
    Stream(Opened),
}

/// A 2xx answer read whole. Reading it before the answer is committed means
/// a body cut mid-way is a failed key like a 5xx, never a truncated answer.
pub(crate) struct Whole {
    /// The upstream's status.
    pub status: u16,
    /// The upstream's response headers.
    pub headers: http::header::HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Whole {
    /// Reads `response` whole (bounded by size and the request timeout).
    pub(crate) async fn read(
        upstream: &str,
        response: super::client::Response,
    ) -> Result<Self, ApiError> {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = super::http::read_body(upstream, response).await?;
        Ok(Whole {
            status,
            headers,
            body,
        })
    }
}

/// An event stream with its first chunks already read.
pub(crate) struct Opened {
    /// The upstream's response headers.
    pub headers: http::header::HeaderMap,
    /// The upstream's status.
    pub status: u16,
    head: Vec<Bytes>,
    rest: ByteStream,
}

impl Opened {
    /// The whole stream again: the chunks read, then the rest.
    pub(crate) fn into_stream(self) -> ByteStream {
        Box::pin(futures_util::stream::iter(self.head.into_iter().map(Ok)).chain(self.rest))
    }
}

/// How far a stream's opening got.
pub(crate) enum Progress {
    /// Nothing meaningful yet.
    Pending,
    /// Meaningful content arrived: commit the stream.
    Meaningful,
    /// The upstream failed before any content.
    Failed(ApiError),
}

/// Watches a stream's opening.
pub(crate) trait Inspect {
    /// The next chunk arrived.
    fn chunk(&mut self, chunk: &Bytes) -> Progress;
    /// The upstream ended the stream.
    fn end(&mut self) -> Progress;
}

/// Reads a stream's opening, chunk by chunk, through `inspect`, until it is
/// meaningful or has failed, or `deadline` passes.
pub(crate) async fn open(
    upstream: &str,
    response: super::client::Response,
    deadline: Instant,
    mut inspect: impl Inspect,
) -> Result<Opened, ApiError> {
    let headers = response.headers().clone();
    let status = response.status().as_u16();
    let mut rest: ByteStream = Box::pin(response.bytes_stream());
    let mut head = Vec::new();
    let timeout = tokio::time::sleep_until(deadline);
    tokio::pin!(timeout);
    let progress = loop {
        let item = tokio::select! {
            item = rest.next() => item,
            () = &mut timeout => {
                return Err(ApiError::timeout(format!(
                    "upstream {upstream} sent no content within FIRST_BYTE_TIMEOUT"
                )));
            }
        };
        match item {
            Some(Ok(chunk)) => {
                let progress = inspect.chunk(&chunk);
                head.push(chunk);
                match progress {
                    Progress::Pending => {}
                    done => break done,
                }
            }
            Some(Err(e)) => return Err(transport_error(upstream, &e)),
            None => break inspect.end(),
        }
    };
    match progress {
        Progress::Failed(e) => Err(e),
        Progress::Pending => Err(empty(upstream)),
        Progress::Meaningful => Ok(Opened {
            headers,
            status,
            head,
            rest,
        }),
    }
}

/// The error for a stream that ended before any content.
pub(crate) fn empty(upstream: &str) -> ApiError {
    ApiError::api(format!(
        "upstream {upstream} ended its stream before sending any content"
    ))
    .with_status(502)
}

/// How far translated events got: content, a complete answer, or an error.
pub(crate) fn progress_of(upstream: &str, events: &[StreamEvent]) -> Progress {
    for ev in events {
        match ev {
            StreamEvent::ContentBlockDelta { .. }
            | StreamEvent::MessageDelta { .. }
            | StreamEvent::ContentBlockStart {
                content_block: BlockStart::ToolUse { .. },
                ..
            } => return Progress::Meaningful,
            StreamEvent::Error { error } => {
                return Progress::Failed(ApiError::new(
                    ErrorKind::from_name(&error.kind).unwrap_or(ErrorKind::Api),
                    format!("upstream {upstream}: {}", error.message),
                ))
            }
            _ => {}
        }
    }
    Progress::Pending
}

/// The context of a throwaway translator that only watches an opening.
pub(crate) fn check_context() -> ResponseContext {
    ResponseContext {
        message_id: String::new(),
        model: String::new(),
        stop_sequences: Vec::new(),
    }
}
