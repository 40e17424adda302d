//! One record per request: filled in as the request goes, written as a single
//! structured log line when it ends (for streams: when the stream ends) and
//! fed to the metrics. Keys appear only as masked fingerprints.

use std::time::{Duration, Instant};

use crate::protocol::anthropic::Usage;

#[derive(Debug)]
pub struct RequestRecord {
    pub request_id: String,
    pub started: Instant,
    pub stream: bool,
    pub model_requested: String,
    /// Upstream name, once one was chosen.
    pub upstream: Option<String>,
    pub service_type: &'static str,
    pub model_upstream: Option<String>,
    /// Masked key that answered (or was tried last).
    pub key: Option<String>,
    /// Keys tried over all upstreams (1 = the first try worked).
    pub attempts: u32,
    /// Upstreams tried (more than 1 = cross-upstream fallback).
    pub upstreams_tried: u32,
    /// Until the upstream's response headers arrived.
    pub ttfb: Option<Duration>,
    pub status: u16,
    pub usage: Option<Usage>,
    pub error: Option<String>,
    /// The client went away before the response ended.
    pub client_gone: bool,
}

impl RequestRecord {
    pub fn new(request_id: String) -> Self {
        RequestRecord {
            request_id,
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
    pub fn finish(self) {
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
        super::metrics::record_request(&self, latency);
    }
}
