//! Test harness: the real app on a random loopback port, a configurable
//! mock upstream, and helpers to read SSE answers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use claude_proxy::config;
use claude_proxy::protocol::anthropic::{MessagesResponse, StreamEvent};
use claude_proxy::server::{self, AppState};
use claude_proxy::settings::Settings;
use claude_proxy::sse::SseDecoder;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const ACCESS_KEY: &str = "test-access-key-0123456789";

pub struct TestApp {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
    pub watcher: Option<claude_proxy::config::watch::WatchGuard>,
    _shutdown: Option<oneshot::Sender<()>>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.json")
    }

    /// Sends the graceful-shutdown signal (as SIGTERM does for the binary).
    pub fn shutdown(&mut self) {
        if let Some(tx) = self._shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Turns on hot reload, as the binary does at start.
    pub fn watch(&mut self) {
        self.watcher = server::watch_config_file(&self.state);
        assert!(self.watcher.is_some(), "watcher started");
    }

    /// POST /v1/messages with the access key.
    pub async fn messages(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/v1/messages?beta=true"))
            .header("x-api-key", ACCESS_KEY)
            .header("anthropic-version", "2023-06-01")
            .json(body)
            .send()
            .await
            .expect("request to the proxy")
    }

    pub async fn messages_raw(&self, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(self.url("/v1/messages"))
            .header("authorization", format!("Bearer {ACCESS_KEY}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request to the proxy")
    }
}

/// Starts the app with `config` (written to a temp config.json) and extra
/// settings. The server stops when the `TestApp` is dropped.
pub async fn spawn_app(config: Value, env: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&config).expect("json")).expect("write config");
    let mut vars: HashMap<String, String> = HashMap::new();
    vars.insert("PROXY_ACCESS_KEY".into(), ACCESS_KEY.into());
    vars.insert("CONFIG_PATH".into(), path.display().to_string());
    vars.insert("FIRST_BYTE_TIMEOUT".into(), "5000".into());
    vars.insert("REQUEST_TIMEOUT".into(), "20000".into());
    for (k, v) in env {
        vars.insert((*k).into(), (*v).into());
    }
    let settings = Settings::from_map(&vars).expect("settings");
    let cfg = config::load(&path, settings.load_balance_strategy).expect("config");
    let state = Arc::new(AppState::new(settings, cfg).expect("state"));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    let st = state.clone();
    tokio::spawn(async move {
        let _ = server::serve(listener, st, async {
            let _ = rx.await;
        })
        .await;
    });
    TestApp {
        addr,
        state,
        dir,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
        watcher: None,
        _shutdown: Some(tx),
    }
}

/// One upstream entry for config.json.
pub fn upstream(name: &str, service_type: &str, base_url: &str, keys: &[&str]) -> Value {
    serde_json::json!({
        "name": name,
        "baseUrl": base_url,
        "apiKeys": keys,
        "serviceType": service_type,
        "insecureSkipVerify": false,
        "modelMapping": {}
    })
}

pub fn config_with(upstreams: Vec<Value>) -> Value {
    serde_json::json!({"upstream": upstreams, "currentUpstream": 0, "loadBalance": "round-robin"})
}

// ---------------------------------------------------------------------------
// Mock upstream

/// What the mock saw.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// How the mock answers one request.
pub enum Reply {
    Json(StatusCode, Value),
    /// Status, extra headers, raw body.
    Raw(StatusCode, Vec<(&'static str, String)>, Bytes),
    /// SSE body sent piece by piece with `delay` between pieces; `cut`
    /// aborts the connection after the last piece instead of ending cleanly.
    Sse {
        pieces: Vec<String>,
        delay: Duration,
        cut: bool,
    },
    /// Never answers (until the client gives up; then `aborted` counts it).
    Hang,
}

type Handler = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

#[derive(Clone)]
pub struct Mock {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    /// Connections whose response body was dropped before the end.
    pub aborted: Arc<std::sync::atomic::AtomicUsize>,
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
}

/// Starts a mock upstream. `validate` checks each request the way the real
/// provider would and produces the 400 body on failure.
pub async fn spawn_mock(
    validate: fn(&Recorded) -> Result<(), String>,
    handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
) -> Mock {
    let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
    let aborted: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
    let handler: Handler = Arc::new(handler);
    let reqs = requests.clone();
    let ab = aborted.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let reqs = reqs.clone();
        let handler = handler.clone();
        let ab = ab.clone();
        async move {
            let (parts, body) = req.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let rec = Recorded {
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().map(str::to_owned),
                headers: parts.headers,
                body,
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
                Reply::Sse { pieces, delay, cut } => {
                    let guard = AbortGuard { aborted: ab, done: false };
                    let stream = futures_util::stream::unfold(
                        (pieces.into_iter(), guard, false),
                        move |(mut it, mut guard, first)| async move {
                            if first && !delay.is_zero() {
                                tokio::time::sleep(delay).await;
                            }
                            match it.next() {
                                Some(p) => Some((Ok::<_, std::io::Error>(Bytes::from(p)), (it, guard, true))),
                                None if cut => Some((
                                    Err(std::io::Error::other("cut on purpose")),
                                    (it, guard, true),
                                )),
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
                Reply::Hang => {
                    // Counted in `aborted` when the caller drops the request.
                    let mut guard = AbortGuard { aborted: ab, done: false };
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

struct AbortGuard {
    aborted: Arc<std::sync::atomic::AtomicUsize>,
    done: bool,
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if !self.done {
            self.aborted
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
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

// ---------------------------------------------------------------------------
// Reading answers

/// Reads an SSE answer: (event name, parsed event) pairs, checking that the
/// `event:` name equals the JSON `type`.
pub async fn read_sse(resp: reqwest::Response) -> Vec<StreamEvent> {
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    let bytes = resp.bytes().await.expect("body");
    parse_sse(&bytes)
}

pub fn parse_sse(bytes: &[u8]) -> Vec<StreamEvent> {
    let mut d = SseDecoder::new();
    let mut raw = Vec::new();
    d.push(bytes, &mut raw);
    d.finish(&mut raw);
    raw.iter()
        .map(|e| {
            let name = e.event.as_deref().expect("every event has an event: line");
            let v: Value = serde_json::from_str(&e.data).expect("event data is JSON");
            assert_eq!(v["type"], name, "event name matches type");
            serde_json::from_value(v).expect("known event")
        })
        .collect()
}

pub fn accumulate(events: &[StreamEvent]) -> MessagesResponse {
    claude_proxy::translate::accumulate(events).expect("valid Anthropic event grammar")
}

/// Asserts an Anthropic error body and returns its message.
pub async fn expect_error(resp: reqwest::Response, status: u16, kind: &str) -> String {
    assert_eq!(resp.status().as_u16(), status, "status");
    let v: Value = resp.json().await.expect("error body is JSON");
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], kind, "{v}");
    v["error"]["message"].as_str().expect("message").to_owned()
}

pub fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/claude-code/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(&path).expect("fixture")).expect("fixture json")
}

pub fn fixture_names() -> Vec<String> {
    let dir = format!("{}/tests/fixtures/claude-code", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("fixtures")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && !n.contains("headers"))
        .collect();
    names.sort();
    names
}

pub fn no_validation(_: &Recorded) -> Result<(), String> {
    Ok(())
}
