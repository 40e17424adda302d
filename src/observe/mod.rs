//! What the proxy tells its operators: one record per request, written as a
//! single structured log line when the request ends (for streams: when the
//! stream ends) and fed to the Prometheus [`metrics`]. Keys appear only as
//! masked fingerprints.
//!
//! The record is a drop guard: however a request ends — answered, refused,
//! or abandoned by a client that hung up while the upstream was thinking —
//! its line is written exactly once, and its row handed to the request
//! store ([`crate::store`]) without waiting: a queue slot or nothing.

pub mod metrics;

use std::time::{Duration, Instant, SystemTime};

use std::sync::Arc;

use crate::clients::{Caller, ClientEntry};
use crate::error::{ApiError, ErrorKind};
use crate::protocol::anthropic::Usage;
use crate::store::{RequestRow, StoreSink};

/// Status logged for a request whose client went away before any answer
/// (nginx's "client closed request").
const CLIENT_CLOSED: u16 = 499;

/// Everything known about one request, filled in as it goes.
#[derive(Debug)]
pub(crate) struct RequestRecord {
    /// `req_…` id, also sent to the client as the `request-id` header.
    pub request_id: String,
    /// Which endpoint served it (`messages`, `count_tokens`).
    pub endpoint: &'static str,
    /// The route it took (`default`, `think`, `explicit`, …; `-` before
    /// one was chosen).
    pub route: &'static str,
    /// When the request arrived.
    pub started: Instant,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// The `model` the client sent.
    pub model_requested: String,
    /// Upstream name, once one was chosen.
    pub upstream: Option<String>,
    /// The chosen upstream's `serviceType`.
    pub service_type: &'static str,
    /// The model sent upstream (after mapping).
    pub model_upstream: Option<String>,
    /// Masked key that answered (or was tried last).
    pub key: Option<String>,
    /// Keys tried over all upstreams (1 = the first try worked).
    pub attempts: u32,
    /// Upstreams tried (more than 1 = cross-upstream fallback).
    pub upstreams_tried: u32,
    /// Until the upstream's response headers arrived.
    pub ttfb: Option<Duration>,
    /// Status the client got (0 until known).
    pub status: u16,
    /// Token usage of the answer, when the upstream reported it.
    pub usage: Option<Usage>,
    /// The error the client got (a stream: the `event: error` it got).
    pub error: Option<String>,
    /// Its Anthropic `error.type`, when the error came as an [`ApiError`]
    /// (a stream's error says it in front: `overloaded_error: …`).
    pub error_type: Option<&'static str>,
    /// The client key's name (`None` for the all-access key).
    pub client: Option<String>,
    /// The client: the request's tokens and cost are charged to its
    /// counters when it ends.
    client_entry: Option<Arc<ClientEntry>>,
    /// The client went away before the response ended.
    pub client_gone: bool,
    /// Where the finished row goes (none in unit tests).
    store: Option<StoreSink>,
}

impl RequestRecord {
    /// A record for a request that arrived just now.
    pub fn new(request_id: String, endpoint: &'static str) -> Self {
        RequestRecord {
            request_id,
            endpoint,
            route: "-",
            started: Instant::now(),
            stream: false,
            model_requested: String::new(),
            upstream: None,
            service_type: "",
            model_upstream: None,
            key: None,
            attempts: 0,
            upstreams_tried: 0,
            ttfb: None,
            status: 0,
            usage: None,
            error: None,
            error_type: None,
            client: None,
            client_entry: None,
            client_gone: false,
            store: None,
        }
    }

    /// The request came from `caller`: its name goes on the log line, the
    /// metrics and the stored row, and its tokens and cost to its meter.
    pub fn for_caller(mut self, caller: &Caller) -> Self {
        if let Some(c) = caller.client() {
            self.client = Some(c.config.name.clone());
            self.client_entry = Some(c.clone());
        }
        self
    }

    /// Also hands the finished row to the request store.
    pub(crate) fn with_store(mut self, sink: StoreSink) -> Self {
        self.store = Some(sink);
        self
    }

    /// The request failed with `e`: its status, type and message.
    pub fn fail(&mut self, e: &ApiError) {
        self.status = e.status.as_u16();
        self.error = Some(e.message.clone());
        self.error_type = Some(e.kind.as_str());
    }

    /// Writes the log line and updates the metrics.
    fn write(&mut self) {
        if self.status == 0 {
            // Dropped before an answer existed: the handler was cancelled
            // because the client hung up.
            self.status = CLIENT_CLOSED;
            self.client_gone = true;
        }
        let latency = self.started.elapsed();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let usage = self.usage.clone().unwrap_or_default();
        let fields = (
            self.upstream.as_deref().unwrap_or("-"),
            self.key.as_deref().unwrap_or("-"),
            self.model_upstream.as_deref().unwrap_or("-"),
        );
        // One set of fields, two levels: failures stand out as warnings.
        macro_rules! request_line {
            ($level:expr) => {
                tracing::event!(
                    $level,
                    request_id = %self.request_id,
                    endpoint = self.endpoint,
                    route = self.route,
                    upstream = fields.0,
                    client = self.client.as_deref().unwrap_or("-"),
                    key = fields.1,
                    model = %self.model_requested,
                    upstream_model = fields.2,
                    stream = self.stream,
                    status = self.status,
                    latency_ms = ms(latency),
                    ttfb_ms = self.ttfb.map(ms),
                    input_tokens = usage.input_tokens,
                    output_tokens = usage.output_tokens,
                    retries = self.attempts.saturating_sub(1),
                    upstreams_tried = self.upstreams_tried,
                    client_gone = self.client_gone,
                    error = self.error.as_deref().unwrap_or(""),
                    "request"
                )
            };
        }
        if self.status >= 500 || self.error.is_some() && self.status == 200 {
            request_line!(tracing::Level::WARN);
        } else {
            request_line!(tracing::Level::INFO);
        }
        metrics::record_request(&metrics::RequestMetrics {
            endpoint: self.endpoint,
            route: self.route,
            upstream: fields.0,
            client: self.client.as_deref().unwrap_or("-"),
            status: self.status,
            latency,
            ttfb: self.ttfb,
            usage: self.usage.as_ref(),
            attempts: self.attempts,
        });
        // Priced only when a client's budget or a stored row wants it.
        let sink = self
            .store
            .take()
            .filter(|s| s.store.wants_rows() || self.client_entry.is_some());
        let cost = match (self.model_upstream.as_deref(), self.usage.as_ref(), &sink) {
            (Some(model), Some(usage), Some(sink)) => sink.prices.cost(model, usage),
            _ => None,
        };
        if let (Some(client), Some(usage)) = (self.client_entry.take(), self.usage.as_ref()) {
            client.charge(total_tokens(usage), cost, crate::time::now_ms());
        }
        if let Some(sink) = sink {
            if sink.store.wants_rows() {
                let row = self.row(latency, cost);
                sink.store.record(row);
            }
        }
    }

    /// The store's row (called once, while dropping: the strings are moved).
    fn row(&mut self, latency: Duration, cost: Option<f64>) -> RequestRow {
        let ms = |d: Duration| (d.as_secs_f64() * 1_000_000.0).round() / 1000.0;
        let (error_type, error_message) = split_error(self.error_type, self.error.take());
        let usage = self.usage.as_ref();
        let now = SystemTime::now();
        RequestRow {
            id: std::mem::take(&mut self.request_id),
            time_ms: crate::store::time::ms_of(now.checked_sub(latency).unwrap_or(now)),
            endpoint: self.endpoint.to_owned(),
            route: self.route.to_owned(),
            upstream: self.upstream.take(),
            key: self.key.take(),
            model: Some(std::mem::take(&mut self.model_requested)).filter(|m| !m.is_empty()),
            upstream_model: self.model_upstream.take(),
            stream: self.stream,
            status: self.status,
            error_type,
            error_message,
            latency_ms: ms(latency),
            ttfb_ms: self.ttfb.map(ms),
            input_tokens: usage.map(|u| u.input_tokens),
            output_tokens: usage.map(|u| u.output_tokens),
            cache_read_tokens: usage.map(|u| u.cache_read_input_tokens),
            cache_write_tokens: usage.map(|u| u.cache_creation_input_tokens),
            retries: self.attempts.saturating_sub(1),
            upstreams_tried: self.upstreams_tried,
            client_gone: self.client_gone,
            client: self.client.take(),
            cost_usd: cost,
        }
    }
}

/// Every token a request used, as client budgets count them: input
/// (cached or not) and output.
pub fn total_tokens(u: &Usage) -> u64 {
    u.input_tokens
        .saturating_add(u.output_tokens)
        .saturating_add(u.cache_creation_input_tokens)
        .saturating_add(u.cache_read_input_tokens)
}

/// The error's type and message. Stream errors are recorded as
/// `type: message`; a prefix that is one of Anthropic's types is split off.
fn split_error(
    kind: Option<&'static str>,
    error: Option<String>,
) -> (Option<String>, Option<String>) {
    let Some(error) = error else {
        return (kind.map(str::to_owned), None);
    };
    if let Some(kind) = kind {
        return (Some(kind.to_owned()), Some(error));
    }
    match error.split_once(": ") {
        Some((prefix, rest)) if ErrorKind::from_name(prefix).is_some() => {
            (Some(prefix.to_owned()), Some(rest.to_owned()))
        }
        _ => (None, Some(error)),
    }
}

impl Drop for RequestRecord {
    fn drop(&mut self) {
        self.write();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_errors_are_split_into_type_and_message() {
        let s = |k, e: &str| split_error(k, Some(e.to_owned()));
        assert_eq!(
            s(None, "overloaded_error: upstream busy: try later"),
            (
                Some("overloaded_error".to_owned()),
                Some("upstream busy: try later".to_owned())
            )
        );
        assert_eq!(
            s(None, "note: not a type"),
            (None, Some("note: not a type".to_owned()))
        );
        assert_eq!(
            s(Some("api_error"), "api_error: x"),
            (
                Some("api_error".to_owned()),
                Some("api_error: x".to_owned())
            )
        );
        assert_eq!(split_error(None, None), (None, None));
    }
}
