//! What the proxy tells its operators: one record per request, written as a
//! single structured log line when the request ends (for streams: when the
//! stream ends) and fed to the Prometheus [`metrics`]. Keys appear only as
//! masked fingerprints.
//!
//! The record is a drop guard: however a request ends — answered, refused,
//! or abandoned by a client that hung up while the upstream was thinking —
//! its line is written exactly once.

pub mod metrics;

use std::time::{Duration, Instant};

use crate::protocol::anthropic::Usage;

/// Status logged for a request whose client went away before any answer
/// (nginx's "client closed request").
const CLIENT_CLOSED: u16 = 499;

/// Everything known about one request, filled in as it goes.
#[derive(Debug)]
pub struct RequestRecord {
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
    /// The client went away before the response ended.
    pub client_gone: bool,
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
            client_gone: false,
        }
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
            status: self.status,
            latency,
            ttfb: self.ttfb,
            usage: self.usage.as_ref(),
            attempts: self.attempts,
        });
    }
}

impl Drop for RequestRecord {
    fn drop(&mut self) {
        self.write();
    }
}
