//! Prometheus metrics (`GET /metrics`): requests by upstream and status,
//! latency and time-to-first-byte histograms, tokens, retries, key failures
//! and cooldowns, in-flight requests, and (with `REDIS_URL`) whether the
//! fleet's shared state is up.
//!
//! The recorder is process-wide and installed once; recording is lock-free
//! (atomics in the `metrics` registry).

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::protocol::anthropic::Usage;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// How often the histograms' recent samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The name of the thread that does it.
const UPKEEP_THREAD: &str = "metrics-upkeep";

/// Installs the recorder (first call only) and returns its handle.
///
/// The recorder keeps each histogram sample until upkeep folds it into the
/// buckets; without it, memory grows by every request's samples until
/// `/metrics` is scraped. One background thread does it every
/// [`UPKEEP_EVERY`] (never the async runtime: it takes the registry's locks).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .ok()?
                .install_recorder()
                .ok()?;
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name(UPKEEP_THREAD.to_owned())
                .spawn(move || loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start the metrics upkeep thread; histogram samples are folded only when /metrics is scraped");
            }
            Some(handle)
        })
        .as_ref()
}

/// Counts a request while it is in flight (a stream until it ends).
pub struct InflightGuard;

impl InflightGuard {
    /// Counts one more request in flight until dropped.
    pub fn new() -> Self {
        metrics::gauge!("claude_proxy_inflight_requests").increment(1.0);
        InflightGuard
    }
}

impl Default for InflightGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        metrics::gauge!("claude_proxy_inflight_requests").decrement(1.0);
    }
}

/// What one finished request contributes to the metrics.
#[derive(Debug)]
pub struct RequestMetrics<'a> {
    /// `messages` or `count_tokens`.
    pub endpoint: &'static str,
    /// The route taken (`-` when none was chosen).
    pub route: &'static str,
    /// Upstream name, `-` when none was chosen.
    pub upstream: &'a str,
    /// Client key name, `-` for the all-access key.
    pub client: &'a str,
    /// Status the client got.
    pub status: u16,
    /// Arrival to end of response.
    pub latency: Duration,
    /// Arrival to the upstream's response headers.
    pub ttfb: Option<Duration>,
    /// Token usage, when known.
    pub usage: Option<&'a Usage>,
    /// Keys tried (1 = no retry).
    pub attempts: u32,
}

/// Counts one finished request.
pub fn record_request(r: &RequestMetrics<'_>) {
    let upstream = r.upstream.to_owned();
    let endpoint = r.endpoint;
    let client = r.client.to_owned();
    metrics::counter!("claude_proxy_requests_total", "upstream" => upstream.clone(), "status" => r.status.to_string(), "endpoint" => endpoint, "route" => r.route, "client" => client.clone()).increment(1);
    metrics::histogram!("claude_proxy_request_duration_seconds", "upstream" => upstream.clone(), "endpoint" => endpoint, "route" => r.route)
        .record(r.latency.as_secs_f64());
    if let Some(t) = r.ttfb {
        metrics::histogram!("claude_proxy_ttfb_seconds", "upstream" => upstream.clone())
            .record(t.as_secs_f64());
    }
    if let Some(u) = r.usage {
        metrics::counter!("claude_proxy_tokens_total", "upstream" => upstream.clone(), "kind" => "input", "client" => client.clone())
            .increment(u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens);
        metrics::counter!("claude_proxy_tokens_total", "upstream" => upstream.clone(), "kind" => "output", "client" => client)
            .increment(u.output_tokens);
    }
    if r.attempts > 1 {
        metrics::counter!("claude_proxy_retries_total", "upstream" => upstream)
            .increment(u64::from(r.attempts - 1));
    }
}

/// A key failed with `reason` (rate_limited, rejected, unavailable).
pub fn record_key_failure(upstream: &str, reason: &'static str) {
    metrics::counter!("claude_proxy_key_failures_total", "upstream" => upstream.to_owned(), "reason" => reason)
        .increment(1);
}

/// The circuit state of `upstream`: 0 closed, 1 open, 2 half-open.
pub fn record_circuit(upstream: &str, state: f64) {
    metrics::gauge!("claude_proxy_circuit_state", "upstream" => upstream.to_owned()).set(state);
}

/// This instance's `claude_proxy_shared_state_up` (1 while Redis answers,
/// 0 while this instance serves on its local state), appended to the
/// rendered metrics; nothing without `REDIS_URL`. Rendered per instance
/// rather than kept in the process-wide registry, so that two servers in
/// one process (the tests) each report their own.
pub fn shared_state_lines(shared: &crate::shared_state::SharedState) -> String {
    if !shared.is_fleet() {
        return String::new();
    }
    format!(
        "# HELP claude_proxy_shared_state_up 1 while the fleet's Redis answers, 0 while this instance serves on local state\n\
         # TYPE claude_proxy_shared_state_up gauge\n\
         claude_proxy_shared_state_up {}\n",
        u8::from(shared.is_up())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names of this process's threads.
    fn thread_names() -> Vec<String> {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return Vec::new();
        };
        tasks
            .filter_map(Result::ok)
            .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
            .map(|n| n.trim().to_owned())
            .collect()
    }

    #[test]
    fn installing_the_recorder_starts_its_upkeep() {
        assert!(handle().is_some());
        if std::path::Path::new("/proc/self/task").exists() {
            // A new thread names itself once it runs: wait for that (≤ 5 s).
            let running = (0..500).any(|_| {
                let found = thread_names().iter().any(|n| n == UPKEEP_THREAD);
                if !found {
                    std::thread::sleep(Duration::from_millis(10));
                }
                found
            });
            assert!(running, "{:?}", thread_names());
        }
    }
}
