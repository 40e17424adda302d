//! The real app in-process on a random 127.0.0.1 port, its config, the
//! smallest request, and `/metrics` samples.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use claude_proxy::config;
use claude_proxy::server::{self, AppState};
use claude_proxy::settings::Settings;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const ACCESS_KEY: &str = "test-access-key-0123456789";

pub struct TestApp {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
    pub watcher: Option<claude_proxy::config::watch::WatchGuard>,
    shutdown: Option<oneshot::Sender<()>>,
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
        if let Some(tx) = self.shutdown.take() {
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

    /// POST /v1/messages with a raw body and the key as a bearer token.
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

    /// GET /health as JSON.
    pub async fn health(&self) -> Value {
        let resp = self
            .client
            .get(self.url("/health"))
            .send()
            .await
            .expect("health");
        assert_eq!(resp.status(), 200);
        resp.json().await.expect("health json")
    }

    /// GET /metrics (Prometheus text) with the access key.
    pub async fn metrics(&self) -> String {
        let resp = self
            .client
            .get(self.url("/metrics"))
            .header("x-api-key", ACCESS_KEY)
            .send()
            .await
            .expect("metrics");
        assert_eq!(resp.status(), 200);
        let ct = resp.headers()["content-type"]
            .to_str()
            .expect("content-type")
            .to_owned();
        assert!(ct.starts_with("text/plain"), "{ct}");
        resp.text().await.expect("metrics text")
    }
}

/// Starts the app with `config` (written to a temp config.json) and extra
/// settings. The server stops when the `TestApp` is dropped (the dropped
/// shutdown sender ends the serve loop gracefully).
pub async fn spawn_app(config: Value, env: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&config).expect("json")).expect("write config");
    let mut vars: HashMap<String, String> = HashMap::new();
    vars.insert("PROXY_ACCESS_KEY".into(), ACCESS_KEY.into());
    vars.insert("CONFIG_PATH".into(), path.display().to_string());
    vars.insert("FIRST_BYTE_TIMEOUT".into(), "5000".into());
    vars.insert("REQUEST_TIMEOUT".into(), "20000".into());
    // The request store lives in the test's temp dir, not in ./data of the
    // working directory (the repository).
    let data_dir = dir.path().join("data");
    vars.insert("DATA_DIR".into(), data_dir.display().to_string());
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
        shutdown: Some(tx),
    }
}

/// One upstream entry for config.json.
pub fn upstream(name: &str, service_type: &str, base_url: &str, keys: &[&str]) -> Value {
    json!({
        "name": name,
        "baseUrl": base_url,
        "apiKeys": keys,
        "serviceType": service_type,
        "insecureSkipVerify": false,
        "modelMapping": {}
    })
}

pub fn config_with(upstreams: Vec<Value>) -> Value {
    json!({"upstream": upstreams, "currentUpstream": 0, "loadBalance": "round-robin"})
}

/// The smallest valid request: one user turn saying "hi", not streamed.
pub fn hello() -> Value {
    json!({"model": "claude-haiku-4-5", "max_tokens": 50,
           "messages": [{"role": "user", "content": "hi"}]})
}

/// [`hello`] with `"stream": true`.
pub fn hello_stream() -> Value {
    hello().with("stream", true)
}

/// Builder-style field setting on a JSON object:
/// `hello().with("model", "m").with("stream", stream)`.
pub trait With {
    fn with(self, key: &str, value: impl Into<Value>) -> Self;
}

impl With for Value {
    fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self[key] = value.into();
        self
    }
}

/// Polls `url` with fresh connections until one is refused (a closed
/// listener); returns whether that happened within `limit`.
pub async fn refused_within(url: &str, limit: Duration) -> bool {
    super::wait::eventually(limit, || async {
        match reqwest::Client::new().get(url).send().await {
            Err(e) => {
                assert!(e.is_connect() || e.is_request(), "{e}");
                true
            }
            Ok(_) => false,
        }
    })
    .await
}

/// Value of the first Prometheus sample line that starts with `series`
/// (0 if there is none).
pub fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Sum of the samples of metric `name` whose labels include every
/// `(label, value)` of `labels` (other labels may be there too).
pub fn sum_samples(metrics: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, set) = match series.split_once('{') {
                Some((m, rest)) => (m, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            let wanted = metric == name
                && labels.iter().all(|(k, v)| {
                    let pair = format!("{k}=\"{v}\"");
                    set.split(',').any(|kv| kv == pair)
                });
            wanted.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

/// `claude_proxy_tokens_total` for `upstream` and `kind` (input / output).
pub fn tokens_total(metrics: &str, upstream: &str, kind: &str) -> f64 {
    sum_samples(
        metrics,
        "claude_proxy_tokens_total",
        &[("upstream", upstream), ("kind", kind)],
    )
}
