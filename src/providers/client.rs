//! The HTTP client every upstream request goes through: hyper's pooled
//! client over TCP and rustls, built once (connections: [`super::connect`]).
//!
//! - TLS with rustls and the webpki roots (no OpenSSL); ALPN offers `h2`
//!   and `http/1.1`, so an HTTPS upstream that speaks HTTP/2 gets it.
//! - `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`
//!   ([`UpstreamProxy`]) are honoured: an `https` upstream is reached through
//!   a `CONNECT` tunnel, a plain `http` one through the proxy in absolute
//!   form, with the proxy URL's credentials as `Proxy-Authorization`.
//! - `CONNECT_TIMEOUT` bounds the whole connect: DNS, TCP, a proxy's
//!   tunnel and the TLS handshake.
//! - A response is read with a fixed 8 KB buffer per connection; this
//!   keeps a thousand held streams small. Response headers larger than
//!   that are refused (an upstream error, like a 5xx).
//! - Redirects are never followed and nothing is retried here, except a
//!   request a pooled connection closed before it was written (nothing
//!   was sent). A request an HTTP/2 server refused unprocessed is sent
//!   again by the failover loop (`http::is_protocol_nack`).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use http::header::{HeaderValue, AUTHORIZATION, CONTENT_LENGTH, PROXY_AUTHORIZATION};
use http::{HeaderMap, Request, StatusCode};
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client as Pool;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::{Instant, Sleep};

use super::connect;
use crate::settings::UpstreamProxy;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Size of each upstream connection's read buffer.
const READ_BUFFER: usize = 8 * 1024;

/// A pooled HTTP/1.1 and HTTP/2 client (cheap to clone).
#[derive(Clone)]
pub(crate) struct Client {
    pool: Pool<connect::Connector, OnceBody>,
    proxies: Option<Arc<Matcher>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("proxied", &self.proxies.is_some())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client whose connections take at most `connect_timeout`; with
    /// `insecure`, certificates are not verified (`insecureSkipVerify`).
    pub(crate) fn new(
        connect_timeout: Duration,
        insecure: bool,
        proxy: &UpstreamProxy,
    ) -> Result<Client, rustls::Error> {
        let proxies = connect::matcher(proxy).map(Arc::new);
        let connector = connect::Connector::new(connect_timeout, insecure, proxies.clone())?;
        let pool = Pool::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .http1_read_buf_exact_size(READ_BUFFER)
            .build(connector);
        Ok(Client { pool, proxies })
    }

    /// Sends `request`; the response's body must arrive by `deadline`.
    pub(crate) fn send(
        &self,
        mut request: Request<OnceBody>,
        deadline: Instant,
    ) -> impl Future<Output = Result<Response, Error>> + Send + 'static {
        self.add_credentials(&mut request);
        let sent = self.pool.request(request);
        async move {
            match sent.await {
                Ok(r) => {
                    let (head, body) = r.into_parts();
                    Ok(Response {
                        status: head.status,
                        headers: head.headers,
                        body: BodyStream {
                            body,
                            deadline,
                            timer: None,
                            done: false,
                        },
                    })
                }
                Err(e) => Err(Error::from_pool(e)),
            }
        }
    }

    /// A URL's `user:password@` as Basic auth (unless the request carries
    /// its own `Authorization`), and a plain-HTTP proxy's credentials.
    fn add_credentials(&self, request: &mut Request<OnceBody>) {
        if let Some(auth) = request.uri().authority() {
            if auth.as_str().contains('@') && !request.headers().contains_key(AUTHORIZATION) {
                if let Some(v) = userinfo_basic(auth.as_str()) {
                    request.headers_mut().insert(AUTHORIZATION, v);
                }
            }
        }
        let Some(proxies) = &self.proxies else { return };
        if request.uri().scheme() == Some(&http::uri::Scheme::HTTP) {
            if let Some(auth) = proxies
                .intercept(request.uri())
                .and_then(|i| i.basic_auth().cloned())
            {
                request.headers_mut().insert(PROXY_AUTHORIZATION, auth);
            }
        }
    }
}

/// `user:password@host` as a Basic `Authorization` value (percent-decoded,
/// like a browser does), marked sensitive.
fn userinfo_basic(authority: &str) -> Option<HeaderValue> {
    use base64::Engine as _;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let decode = |s| percent_encoding::percent_decode_str(s).decode_utf8_lossy();
    let raw = format!("{}:{}", decode(user), decode(pass));
    let mut v = HeaderValue::try_from(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    ))
    .ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// A request body of one chunk with its exact length (the request's
/// Content-Length), sent once.
pub(crate) struct OnceBody(pub(crate) Option<Bytes>);

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

/// An upstream's answer: its head, and its body as it arrives.
pub(crate) struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: BodyStream,
}

impl Response {
    /// The status.
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub(crate) fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The `Content-Length`, when the upstream sent one.
    pub(crate) fn content_length(&self) -> Option<u64> {
        self.headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
    }

    /// The body's chunks as they arrive.
    pub(crate) fn bytes_stream(self) -> BodyStream {
        self.body
    }
}

/// A response body's data chunks, ending in an error once the request's
/// deadline passes.
pub(crate) struct BodyStream {
    body: Incoming,
    deadline: Instant,
    /// Armed the first time the body has nothing to give.
    timer: Option<Pin<Box<Sleep>>>,
    done: bool,
}

impl Stream for BodyStream {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => return Poll::Ready(Some(Ok(data))),
                    // Trailers and empty frames carry nothing to relay.
                    _ => continue,
                },
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(Error::new(Kind::Body, e))));
                }
                Poll::Ready(None) => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                Poll::Pending => break,
            }
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.done = true;
                Poll::Ready(Some(Err(Error::timeout())))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, None)
    }
}

/// Why an upstream request got no (complete) answer.
#[derive(Debug)]
pub(crate) struct Error {
    kind: Kind,
    source: Option<BoxError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The request's deadline passed.
    Timeout,
    /// No connection could be made.
    Connect,
    /// The request failed after a connection was made.
    Request,
    /// The body broke off.
    Body,
}

impl Error {
    fn new(kind: Kind, source: impl Into<BoxError>) -> Error {
        Error {
            kind,
            source: Some(source.into()),
        }
    }

    pub(crate) fn timeout() -> Error {
        Error {
            kind: Kind::Timeout,
            source: None,
        }
    }

    fn from_pool(e: hyper_util::client::legacy::Error) -> Error {
        let kind = if e.is_connect() {
            Kind::Connect
        } else {
            Kind::Request
        };
        Error::new(kind, e)
    }

    /// The deadline passed (the request's, the connect's, or a read's).
    pub(crate) fn is_timeout(&self) -> bool {
        if self.kind == Kind::Timeout {
            return true;
        }
        let mut source = std::error::Error::source(self);
        while let Some(err) = source {
            if err
                .downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_timeout)
                || err
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            {
                return true;
            }
            source = err.source();
        }
        false
    }

    /// No connection could be made.
    pub(crate) fn is_connect(&self) -> bool {
        self.kind == Kind::Connect
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.kind {
            Kind::Timeout => "the request timed out",
            Kind::Connect => "connection failed",
            Kind::Request => "request failed",
            Kind::Body => "the response body broke off",
        })
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_becomes_basic_auth_percent_decoded() {
        let v = userinfo_basic("us%40er:p%3Ass@host:8080").unwrap();
        use base64::Engine as _;
        let b64 = v.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(raw, b"us@er:p:ss");
        assert!(v.is_sensitive());
        let v = userinfo_basic("user@host").unwrap();
        let b64 = v.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(raw, b"user:");
    }

    #[test]
    fn a_timeout_error_says_so() {
        assert!(Error::timeout().is_timeout());
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out");
        assert!(Error::new(Kind::Connect, io).is_timeout());
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = Error::new(Kind::Connect, refused);
        assert!(!e.is_timeout());
        assert!(e.is_connect());
    }
}
