//! A mock upstream on a random 127.0.0.1 port: it records every request,
//! validates it (a provider's 400 on failure) and answers what the test's
//! handler says, as JSON, raw bytes, or SSE piece by piece.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// What the mock saw.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    /// The body as JSON (`Null` when it is not JSON).
    pub body: Value,
    pub raw: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The upstream key the request carried, whatever the provider's header
    /// (`Authorization: Bearer`, `x-api-key`, `x-goog-api-key`).
    pub fn key(&self) -> String {
        self.header("authorization")
            .map(|a| a.trim_start_matches("Bearer ").to_owned())
            .or_else(|| self.header("x-api-key").map(str::to_owned))
            .or_else(|| self.header("x-goog-api-key").map(str::to_owned))
            .unwrap_or_default()
    }
}

/// How the mock answers one request.
pub enum Reply {
    Json(StatusCode, Value),
    /// Status, extra headers, raw body.
    Raw(StatusCode, Vec<(&'static str, String)>, Bytes),
    /// SSE body sent piece by piece: the first piece at once, each further
    /// one after `delay`; `cut` aborts the connection after the last piece
    /// instead of ending cleanly.
    Sse {
        pieces: Vec<String>,
        delay: Duration,
        cut: bool,
    },
    /// SSE: sends `pieces` at once, then nothing more (for two minutes)
    /// without ending; `aborted` counts it when the proxy lets go.
    Stall(Vec<String>),
    /// Never answers (until the client gives up; then `aborted` counts it).
    Hang,
    /// 200 with a JSON body, after a delay (a slow upstream).
    Slow(Duration, Value),
    /// An error status with a JSON body, after a delay (a slow failure).
    Late(Duration, StatusCode, Value),
}

impl Reply {
    /// 200 with a JSON body.
    pub fn ok(v: Value) -> Reply {
        Reply::Json(StatusCode::OK, v)
    }

    /// A clean SSE stream, all pieces at once.
    pub fn sse(pieces: Vec<String>) -> Reply {
        Reply::Sse {
            pieces,
            delay: Duration::ZERO,
            cut: false,
        }
    }

    /// An error status with a JSON body and, if given, `Retry-After`.
    pub fn error(status: u16, body: &Value, retry_after: Option<&str>) -> Reply {
        let mut headers = vec![("content-type", "application/json".to_owned())];
        if let Some(r) = retry_after {
            headers.push(("retry-after", r.to_owned()));
        }
        Reply::Raw(
            StatusCode::from_u16(status).expect("status"),
            headers,
            serde_json::to_vec(body).expect("json").into(),
        )
    }
}

type Handler = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

/// Counts answers whose body (or pending answer) was dropped before the
/// end: the proxy cancelled the upstream request.
#[derive(Default)]
pub struct Aborts {
    count: AtomicUsize,
    notify: Notify,
}

impl Aborts {
    /// How many answers were abandoned so far.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
pub struct Mock {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    /// Connections whose response body was dropped before the end.
    pub aborted: Arc<Aborts>,
}

impl Mock {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("lock").clone()
    }

    pub fn count(&self) -> usize {
        self.requests.lock().expect("lock").len()
    }

    /// The upstream keys of the requests so far, in order.
    pub fn keys(&self) -> Vec<String> {
        self.requests().iter().map(Recorded::key).collect()
    }

    /// Waits (at most `limit`) until an answer was abandoned by the proxy;
    /// returns whether one was.
    pub async fn wait_aborted(&self, limit: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.aborted.notify.notified();
                if self.aborted.count.load(Ordering::SeqCst) > 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(limit, wait).await.is_ok()
    }
}

/// Starts a mock upstream. `validate` checks each request the way the real
/// provider would and produces the 400 body on failure.
pub async fn spawn_mock(
    validate: fn(&Recorded) -> Result<(), String>,
    handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
) -> Mock {
    let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
    let aborted: Arc<Aborts> = Arc::default();
    let handler: Handler = Arc::new(handler);
    let reqs = requests.clone();
    let ab = aborted.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let reqs = reqs.clone();
        let handler = handler.clone();
        let ab = ab.clone();
        async move {
            let (parts, body) = req.into_parts();
            let raw = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
            let rec = Recorded {
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().map(str::to_owned),
                headers: parts.headers,
                body,
                raw,
            };
            reqs.lock().expect("lock").push(rec.clone());
            if let Err(msg) = validate(&rec) {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({"error": {"message": msg, "type": "invalid_request_error", "param": null, "code": null}}),
                );
            }
            match handler(&rec) {
                Reply::Json(status, v) => json_response(status, v),
                Reply::Raw(status, headers, body) => {
                    let mut r = Response::new(Body::from(body));
                    *r.status_mut() = status;
                    for (k, v) in headers {
                        r.headers_mut().insert(k, v.parse().expect("header"));
                    }
                    r
                }
                Reply::Sse { pieces, delay, cut } => sse_response(pieces, delay, cut, ab),
                Reply::Stall(pieces) => stalled_sse_response(pieces, ab),
                Reply::Slow(delay, v) => {
                    tokio::time::sleep(delay).await;
                    json_response(StatusCode::OK, v)
                }
                Reply::Late(delay, status, v) => {
                    tokio::time::sleep(delay).await;
                    json_response(status, v)
                }
                Reply::Hang => {
                    // Counted in `aborted` when the caller drops the request.
                    let mut guard = AbortGuard {
                        aborted: ab,
                        done: false,
                    };
                    tokio::time::sleep(Duration::from_secs(120)).await;
                    guard.done = true;
                    json_response(StatusCode::OK, Value::Null)
                }
            }
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind mock");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Mock {
        addr,
        requests,
        aborted,
    }
}

fn sse_response(pieces: Vec<String>, delay: Duration, cut: bool, aborted: Arc<Aborts>) -> Response {
    let guard = AbortGuard {
        aborted,
        done: false,
    };
    let stream = futures_util::stream::unfold(
        (pieces.into_iter(), guard, false),
        move |(mut it, mut guard, sent_one)| async move {
            if sent_one && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            match it.next() {
                Some(p) => Some((Ok::<_, std::io::Error>(Bytes::from(p)), (it, guard, true))),
                None if cut => {
                    // Not an abort by the proxy: the mock ends it.
                    guard.done = true;
                    Some((
                        Err(std::io::Error::other("cut on purpose")),
                        (it, guard, true),
                    ))
                }
                None => {
                    guard.done = true;
                    drop(guard);
                    None
                }
            }
        },
    );
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut()
        .insert("content-type", "text/event-stream".parse().expect("ct"));
    r
}

fn stalled_sse_response(pieces: Vec<String>, aborted: Arc<Aborts>) -> Response {
    let guard = AbortGuard {
        aborted,
        done: false,
    };
    let sent = futures_util::stream::iter(
        pieces
            .into_iter()
            .map(|p| Ok::<_, std::io::Error>(Bytes::from(p))),
    );
    let stall = futures_util::stream::once(async move {
        let mut guard = guard;
        tokio::time::sleep(Duration::from_secs(120)).await;
        guard.done = true;
        Ok(Bytes::new())
    });
    let mut r = Response::new(Body::from_stream(futures_util::StreamExt::chain(
        sent, stall,
    )));
    r.headers_mut()
        .insert("content-type", "text/event-stream".parse().expect("ct"));
    r
}

struct AbortGuard {
    aborted: Arc<Aborts>,
    done: bool,
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if !self.done {
            self.aborted.count.fetch_add(1, Ordering::SeqCst);
            self.aborted.notify.notify_waiters();
        }
    }
}

pub fn json_response(status: StatusCode, v: Value) -> Response {
    let mut r = Response::new(Body::from(serde_json::to_vec(&v).expect("json")));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", "application/json".parse().expect("ct"));
    r
}

pub fn no_validation(_: &Recorded) -> Result<(), String> {
    Ok(())
}
