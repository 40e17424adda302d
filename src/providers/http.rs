//! HTTP plumbing every provider shares: building one attempt, putting the
//! key in a header (never in a URL, where it could reach an access log),
//! and bounded reads of upstream bodies.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body::{Frame, SizeHint};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde::de::DeserializeOwned;

use super::Outgoing;
use crate::config::ApiKey;
use crate::error::ApiError;

/// Largest upstream body the proxy reads into memory (error bodies and
/// non-streaming responses).
const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;
/// Largest error body kept for the message (the rest is discarded).
pub(crate) const MAX_ERROR_BODY: usize = 64 * 1024;
/// Longest wait for the rest of an error body.
const ERROR_BODY_DEADLINE: Duration = Duration::from_secs(10);

/// `Authorization: Bearer <key>`.
pub(crate) fn bearer(key: &ApiKey, headers: &mut HeaderMap) {
    set_secret(
        headers,
        AUTHORIZATION,
        format!("Bearer {}", key.expose()).as_str(),
        key,
    );
}

/// The key as the whole value of header `name`.
pub(crate) fn header_key(name: &'static str, key: &ApiKey, headers: &mut HeaderMap) {
    set_secret(headers, HeaderName::from_static(name), key.expose(), key);
}

/// A keyless upstream (a local server) gets no auth header at all; a key's
/// header is marked sensitive so no debug output shows it.
fn set_secret(headers: &mut HeaderMap, name: HeaderName, value: &str, key: &ApiKey) {
    if key.expose().is_empty() {
        return;
    }
    if let Ok(mut v) = HeaderValue::from_str(value) {
        v.set_sensitive(true);
        headers.insert(name, v);
    }
}

/// One attempt of `out` with the headers `authorize` adds for the key. The
/// body goes as a [`OnceBody`]: reqwest keeps no copy of it (nor of the
/// request) for a redirect or a retry of its own, so once it is written the
/// caller holds the only copy and may pack it while the answer is awaited
/// (see [`super::held_body`]). The retry reqwest would have made, of a request
/// an HTTP/2 server refused unprocessed, is the caller's: see
/// [`is_protocol_nack`].
pub(crate) fn build_request(
    client: &reqwest::Client,
    out: &Outgoing,
    authorize: impl FnOnce(&mut HeaderMap),
    timeout: Duration,
) -> reqwest::RequestBuilder {
    let mut headers = out.headers.clone();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if out.stream {
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    }
    authorize(&mut headers);
    client
        .post(out.url.clone())
        .headers(headers)
        .timeout(timeout)
        .body(reqwest::Body::wrap(OnceBody(Some(out.body.clone()))))
}

/// A request body of one chunk with its exact length (the request's
/// Content-Length), which reqwest treats as a stream it cannot replay.
struct OnceBody(Option<Bytes>);

impl http_body::Body for OnceBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(
            self.0
                .take()
                .filter(|b| !b.is_empty())
                .map(|b| Ok(Frame::data(b))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.0.as_ref().is_none_or(Bytes::is_empty)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.as_ref().map_or(0, |b| b.len() as u64))
    }
}

/// How often a request an HTTP/2 server refused unprocessed is sent again
/// on the same key (reqwest's own default for a replayable body).
pub(crate) const MAX_NACK_RETRIES: u32 = 2;

/// True when an HTTP/2 server refused the request before processing it: a
/// graceful GOAWAY (`NO_ERROR`) or a `REFUSED_STREAM` reset, which RFC 9113
/// §8.7 says is safe to send again. Such a request says nothing about the
/// key; it goes again on a new stream or connection.
pub(crate) fn is_protocol_nack(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(h2) = err.downcast_ref::<h2::Error>() {
            return h2.is_remote()
                && ((h2.is_go_away() && h2.reason() == Some(h2::Reason::NO_ERROR))
                    || (h2.is_reset() && h2.reason() == Some(h2::Reason::REFUSED_STREAM)));
        }
        source = err.source();
    }
    false
}

/// Reads at most `limit` bytes of a body (the rest is dropped), ignoring
/// read errors: used for error bodies, which only feed a message.
pub(crate) async fn read_limited(response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stream = response.bytes_stream();
    let deadline = tokio::time::sleep(ERROR_BODY_DEADLINE);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            chunk = stream.next() => match chunk {
                Some(Ok(c)) => {
                    let room = limit - out.len();
                    out.extend_from_slice(&c[..c.len().min(room)]);
                    if out.len() >= limit {
                        break;
                    }
                }
                _ => break,
            },
            _ = &mut deadline => break,
        }
    }
    out
}

/// Reads a whole 2xx body (bounded by the request's total timeout).
pub(crate) async fn read_body(
    upstream: &str,
    response: reqwest::Response,
) -> Result<Bytes, ApiError> {
    match response.content_length() {
        Some(n) if n > MAX_UPSTREAM_BODY as u64 => return Err(too_large(upstream)),
        // Known and bounded: one read, no copy of a single-chunk body.
        Some(_) => {
            return response
                .bytes()
                .await
                .map_err(|e| super::errors::transport_error(upstream, &e))
        }
        None => {}
    }
    let mut body = response.bytes_stream();
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| super::errors::transport_error(upstream, &e))?;
        if buf.len() + chunk.len() > MAX_UPSTREAM_BODY {
            return Err(too_large(upstream));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

fn too_large(upstream: &str) -> ApiError {
    ApiError::api(format!("upstream {upstream} response is too large")).with_status(502)
}

/// Whether the upstream answered JSON (a stream request answered with plain
/// JSON is replayed as events).
pub(crate) fn is_json(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"))
}

/// Parses an upstream's 2xx body; an `{"error":…}` body (some compatible
/// servers answer errors with 200) becomes the mapped error.
pub(crate) fn parse_upstream_json<T: DeserializeOwned>(
    upstream: &str,
    bytes: &[u8],
) -> Result<T, ApiError> {
    let mentions_error = bytes.windows(7).any(|w| w == b"\"error\"");
    if let Some(v) = mentions_error
        .then(|| serde_json::from_slice::<serde_json::Value>(bytes).ok())
        .flatten()
    {
        if v.get("error").is_some_and(|e| !e.is_null())
            && v.get("choices").is_none()
            && v.get("candidates").is_none()
        {
            let status = v["error"]
                .get("code")
                .and_then(|c| c.as_u64())
                .filter(|c| (400..600).contains(c))
                .unwrap_or(500) as u16;
            return Err(ApiError::from_upstream(upstream, status, bytes, None));
        }
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::api(format!(
            "upstream {upstream} returned a response that is not valid JSON: {e}"
        ))
        .with_status(502)
    })
}

/// HTTP clients, built once: one verifying certificates and one for
/// upstreams with `insecureSkipVerify` (never shared with the others).
#[derive(Debug, Clone)]
pub(crate) struct HttpClients {
    secure: reqwest::Client,
    insecure: reqwest::Client,
}

impl HttpClients {
    /// Pooled clients with `connect_timeout` for every connection.
    pub fn new(connect_timeout: Duration) -> Result<Self, reqwest::Error> {
        let build = |insecure: bool| {
            reqwest::Client::builder()
                .connect_timeout(connect_timeout)
                .pool_idle_timeout(Duration::from_secs(90))
                .pool_max_idle_per_host(256)
                .tcp_nodelay(true)
                // Never follow a redirect: it would carry the key (in
                // `x-api-key` or `x-goog-api-key`, which reqwest does not
                // strip on a cross-host redirect) to whatever address the
                // answer names. A 3xx is an error that says where to point
                // `baseUrl` instead (`routing::verdict`).
                .redirect(reqwest::redirect::Policy::none())
                .danger_accept_invalid_certs(insecure)
                .user_agent(concat!("claude-proxy/", env!("CARGO_PKG_VERSION")))
                .build()
        };
        Ok(HttpClients {
            secure: build(false)?,
            insecure: build(true)?,
        })
    }

    /// The client for `up`.
    pub(crate) fn for_upstream(&self, up: &crate::config::Upstream) -> &reqwest::Client {
        if up.insecure_skip_verify {
            &self.insecure
        } else {
            &self.secure
        }
    }
}
