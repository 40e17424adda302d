//! What is stored per request, in the JSON shape the admin API and the live
//! feed send (`camelCase`, `null` for what is not known).

use serde::Serialize;

/// One finished request.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRow {
    /// `req_…`, as in the `request-id` response header.
    pub id: String,
    /// Arrival, ms since the Unix epoch; sent as RFC 3339 UTC.
    #[serde(rename = "time", serialize_with = "super::time::serialize_ms")]
    pub time_ms: i64,
    /// `messages` or `count_tokens`.
    pub endpoint: String,
    /// The route taken (`-` when none was chosen).
    pub route: String,
    /// The upstream that answered (or was tried last); `null` when none was chosen.
    pub upstream: Option<String>,
    /// The masked fingerprint of the upstream key that answered (or was
    /// tried last); never a key.
    pub key: Option<String>,
    /// The model the client asked for.
    pub model: Option<String>,
    /// The model sent upstream (after mapping).
    pub upstream_model: Option<String>,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// The status the client got (499: it hung up before any answer).
    pub status: u16,
    /// Anthropic's `error.type` of the error the client got, when known.
    pub error_type: Option<String>,
    /// Its message, scrubbed of keys.
    pub error_message: Option<String>,
    /// From arrival to the end of the response (a stream: its last byte), in ms.
    pub latency_ms: f64,
    /// Until the upstream's response headers.
    pub ttfb_ms: Option<f64>,
    /// Token counts; `null` when the upstream reported no usage.
    pub input_tokens: Option<u64>,
    /// Output tokens, thinking included.
    pub output_tokens: Option<u64>,
    /// Input tokens read from the prompt cache.
    pub cache_read_tokens: Option<u64>,
    /// Input tokens written to the prompt cache.
    pub cache_write_tokens: Option<u64>,
    /// Keys tried beyond the first.
    pub retries: u32,
    /// Upstreams tried beyond the first (fallbacks, route targets).
    pub upstreams_tried: u32,
    /// The client went away before the response ended.
    pub client_gone: bool,
    /// The client key's name (not yet: client keys come later).
    pub client: Option<String>,
    /// Estimated from the config's `prices` when the request finished;
    /// `null` when the upstream model has no price or usage is unknown.
    pub cost_usd: Option<f64>,
}

impl RequestRow {
    /// Counted as an error: a 4xx/5xx, or a stream that ended with an
    /// `event: error` after its 200.
    pub fn is_error(&self) -> bool {
        self.status >= 400 || self.error_message.is_some()
    }

    /// The model usage is grouped by: the one that did the work (the
    /// upstream model), else the one asked for.
    pub(crate) fn usage_model(&self) -> &str {
        self.upstream_model
            .as_deref()
            .or(self.model.as_deref())
            .unwrap_or("")
    }
}

/// One request with its stored bodies (`STORE_BODIES=true`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestDetail {
    /// The request's row.
    #[serde(flatten)]
    pub row: RequestRow,
    /// The first 4 KB of the client's body, secrets masked; absent when none was stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    /// The first 4 KB of the answer's body, secrets masked; absent when none was stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
}

/// The bodies of one request, already truncated and redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBodies {
    /// The request's id (`req_…`).
    pub id: String,
    /// Arrival, ms since the Unix epoch (the row's `time_ms`).
    pub time_ms: i64,
    /// The client's body.
    pub request: String,
    /// The answer's body.
    pub response: String,
}
