//! HTTP plumbing every provider shares: building one attempt, putting the
//! key in a header (never in a URL, where it could reach an access log),
//! and bounded reads of upstream bodies.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT,
};
use http::{Method, Request};
use serde::de::DeserializeOwned;

use super::client::{Client, OnceBody, Response};
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
/// body goes as a [`OnceBody`]: the client keeps no copy of it (nor of the
/// request) for a retry of its own, so once it is written the caller holds
/// the only copy and may pack it while the answer is awaited (see
/// [`super::held_body`]). A request an HTTP/2 server refused unprocessed is
/// the caller's to send again: see [`is_protocol_nack`].
pub(crate) fn build_request(
    out: &Outgoing,
    authorize: impl FnOnce(&mut HeaderMap),
) -> Request<OnceBody> {
    let mut headers = HeaderMap::with_capacity(out.headers.len() + 5);
    headers.extend(out.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if out.stream {
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    }
    headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    authorize(&mut headers);
    let mut request = Request::new(OnceBody(Some(out.body.clone())));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = out.url.clone();
    *request.headers_mut() = headers;
    request
}

/// The `User-Agent` every upstream request carries.
const USER_AGENT_VALUE: &str = concat!("claude-proxy/", env!("CARGO_PKG_VERSION"));

/// How often a request an HTTP/2 server refused unprocessed is sent again
/// on the same key.
pub(crate) const MAX_NACK_RETRIES: u32 = 2;

/// True when an HTTP/2 server refused the request before processing it: a
/// graceful GOAWAY (`NO_ERROR`) or a `REFUSED_STREAM` reset, which RFC 9113
/// §8.7 says is safe to send again. Such a request says nothing about the
/// key; it goes again on a new stream or connection.
pub(crate) fn is_protocol_nack(e: &super::client::Error) -> bool {
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
pub(crate) async fn read_limited(response: Response, limit: usize) -> Vec<u8> {
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

/// Reads a whole 2xx body (bounded by size and the request's total
/// timeout); a body of one chunk is not copied.
pub(crate) async fn read_body(upstream: &str, response: Response) -> Result<Bytes, ApiError> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_UPSTREAM_BODY as u64)
    {
        return Err(too_large(upstream));
    }
    // Sized by Content-Length, but no more than 1 MB ahead of the bytes
    // themselves: the header alone must not make the proxy allocate.
    let capacity = response.content_length().unwrap_or(0).min(1 << 20) as usize;
    let failed = |e: super::client::Error| super::errors::transport_error(upstream, &e);
    let mut body = response.bytes_stream();
    let Some(first) = body.next().await.transpose().map_err(failed)? else {
        return Ok(Bytes::new());
    };
    let Some(second) = body.next().await.transpose().map_err(failed)? else {
        return if first.len() > MAX_UPSTREAM_BODY {
            Err(too_large(upstream))
        } else {
            Ok(first)
        };
    };
    let mut buf = bytes::BytesMut::with_capacity(capacity.max(first.len() + second.len()));
    buf.extend_from_slice(&first);
    buf.extend_from_slice(&second);
    while let Some(chunk) = body.next().await.transpose().map_err(failed)? {
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
pub(crate) fn is_json(response: &Response) -> bool {
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
///
/// Neither follows a redirect: it would carry the key (in `x-api-key` or
/// `x-goog-api-key`, which no client strips on a cross-host redirect) to
/// whatever address the answer names. A 3xx is an error that says where to
/// point `baseUrl` instead (`routing::verdict`).
#[derive(Debug, Clone)]
pub(crate) struct HttpClients {
    secure: Client,
    insecure: Client,
}

impl HttpClients {
    /// Pooled clients with `connect_timeout` for every connection, through
    /// `proxy` when one is set.
    pub fn new(
        connect_timeout: Duration,
        proxy: &crate::settings::UpstreamProxy,
    ) -> Result<Self, rustls::Error> {
        Ok(HttpClients {
            secure: Client::new(connect_timeout, false, proxy)?,
            insecure: Client::new(connect_timeout, true, proxy)?,
        })
    }

    /// The client for `up`.
    pub(crate) fn for_upstream(&self, up: &crate::config::Upstream) -> &Client {
        if up.insecure_skip_verify {
            &self.insecure
        } else {
            &self.secure
        }
    }
}
