//! The one error type a client ever sees: Anthropic's error JSON
//! `{"type":"error","error":{"type":…,"message":…}}` with the matching status,
//! or, on the OpenAI-compatible endpoints, the same error rendered in
//! OpenAI's shape `{"error":{"message","type","param","code"}}`
//! (`ApiError::into_response_as`).
//!
//! Every status/type decision is made here: [`ErrorKind::status`] for the
//! status a kind is sent with, and one table, `UPSTREAM_KINDS`, for the kind
//! an upstream's status or error code means (used by
//! [`ApiError::from_upstream`] and by the stream translators for errors that
//! arrive after the 200). The rules are written out in docs/translation.md,
//! "Errors".

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Anthropic's `error.type` vocabulary
/// (<https://docs.anthropic.com/en/api/errors>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// `invalid_request_error`, 400: the request is at fault.
    InvalidRequest,
    /// `authentication_error`, 401.
    Authentication,
    /// `billing_error`, 402.
    Billing,
    /// `permission_error`, 403.
    Permission,
    /// `not_found_error`, 404.
    NotFound,
    /// `request_too_large`, 413.
    RequestTooLarge,
    /// `rate_limit_error`, 429.
    RateLimit,
    /// `api_error`, 500: anything unexpected.
    Api,
    /// `timeout_error`, 504.
    Timeout,
    /// `overloaded_error`, 529.
    Overloaded,
}

/// How upstreams report each kind: by HTTP status, or by words their error
/// codes contain (OpenAI's `type` / `code`, Gemini's `status` such as
/// `RESOURCE_EXHAUSTED`), compared in lowercase. The first row that matches
/// wins, so the order is a priority: an error that says both "rate limit"
/// and "invalid request" is a rate limit.
const UPSTREAM_KINDS: [(ErrorKind, &[u16], &[&str]); 9] = [
    (
        ErrorKind::RateLimit,
        &[429],
        &["rate_limit", "resource_exhausted", "too_many_requests"],
    ),
    (
        ErrorKind::Overloaded,
        &[502, 503, 529],
        &["overload", "unavailable", "capacity"],
    ),
    (ErrorKind::Timeout, &[504], &["timeout", "deadline"]),
    (
        ErrorKind::InvalidRequest,
        &[400],
        &["invalid_request", "context_length"],
    ),
    (ErrorKind::Authentication, &[401], &[]),
    (ErrorKind::Billing, &[402], &[]),
    (ErrorKind::Permission, &[403], &[]),
    (ErrorKind::NotFound, &[404], &[]),
    (ErrorKind::RequestTooLarge, &[413], &[]),
];

impl ErrorKind {
    /// Every kind.
    pub(crate) const ALL: [ErrorKind; 10] = [
        ErrorKind::InvalidRequest,
        ErrorKind::Authentication,
        ErrorKind::Billing,
        ErrorKind::Permission,
        ErrorKind::NotFound,
        ErrorKind::RequestTooLarge,
        ErrorKind::RateLimit,
        ErrorKind::Api,
        ErrorKind::Timeout,
        ErrorKind::Overloaded,
    ];

    /// The `error.type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::Billing => "billing_error",
            ErrorKind::Permission => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::RequestTooLarge => "request_too_large",
            ErrorKind::RateLimit => "rate_limit_error",
            ErrorKind::Api => "api_error",
            ErrorKind::Timeout => "timeout_error",
            ErrorKind::Overloaded => "overloaded_error",
        }
    }

    /// The kind whose `error.type` is `name` (the inverse of [`as_str`](Self::as_str)).
    pub(crate) fn from_name(name: &str) -> Option<ErrorKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The kind an upstream's HTTP error status means. A 4xx the table does
    /// not name is still the request's fault; anything else is `api_error`.
    pub(crate) fn from_status(status: u16) -> ErrorKind {
        match UPSTREAM_KINDS.iter().find(|(_, s, _)| s.contains(&status)) {
            Some((kind, _, _)) => *kind,
            None if (400..500).contains(&status) => ErrorKind::InvalidRequest,
            None => ErrorKind::Api,
        }
    }

    /// The kind an error object names through its `codes` (any case) or the
    /// HTTP `statuses` written inside it, for errors that arrive in a body
    /// after the 200, where the response status says nothing. `None` when
    /// the table knows none of them.
    pub(crate) fn from_codes(codes: &[&str], statuses: &[u16]) -> Option<ErrorKind> {
        let codes: Vec<String> = codes.iter().map(|c| c.to_ascii_lowercase()).collect();
        UPSTREAM_KINDS
            .iter()
            .find(|(_, s, words)| {
                statuses.iter().any(|st| s.contains(st))
                    || words.iter().any(|w| codes.iter().any(|c| c.contains(w)))
            })
            .map(|(kind, _, _)| *kind)
    }

    /// The HTTP status Anthropic sends with this kind.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Authentication => StatusCode::UNAUTHORIZED,
            ErrorKind::Billing => StatusCode::PAYMENT_REQUIRED,
            ErrorKind::Permission => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::RateLimit => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Api => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
            // 529 is Anthropic's own "overloaded" status.
            ErrorKind::Overloaded => {
                StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
            }
        }
    }
}

/// The one error type every client sees: rendered in Anthropic's shape
/// (`{"type":"error","error":{"type","message"}}`) on Anthropic endpoints and in OpenAI's on the
/// OpenAI-compatible ones, with `status`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} ({}): {message}", kind.as_str(), status.as_u16())]
pub struct ApiError {
    /// The error's kind: Anthropic's `error.type`, and the default status.
    pub kind: ErrorKind,
    /// The HTTP status the client gets (the kind's, unless overridden).
    pub status: StatusCode,
    /// What went wrong, for the client; never holds a secret.
    pub message: String,
    /// Seconds, sent as `retry-after` on 429/529.
    pub retry_after: Option<u64>,
    /// `x-should-retry: false` whatever the kind implies (a spent budget:
    /// retrying before it resets cannot help).
    pub final_answer: bool,
}

impl ApiError {
    /// An error of `kind` with its usual status.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            status: kind.status(),
            message: message.into(),
            retry_after: None,
            final_answer: false,
        }
    }

    pub(crate) fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }

    /// 401 `authentication_error`: a missing or wrong key.
    pub fn authentication(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Authentication, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// 500 `api_error`: something unexpected (see `ApiError::with_status` for 502).
    pub fn api(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Api, message)
    }

    /// 529 `overloaded_error`: no capacity now (admission, open circuits).
    pub fn overloaded(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Overloaded, message)
    }

    /// 504 `timeout_error`: the upstream did not answer in time.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }

    /// Overrides the status that `kind` implies (e.g. 502 for an
    /// unreachable upstream, which Anthropic's vocabulary calls `api_error`).
    pub(crate) fn with_status(mut self, status: u16) -> Self {
        if let Ok(s) = StatusCode::from_u16(status) {
            self.status = s;
        }
        self
    }

    pub(crate) fn with_retry_after(mut self, secs: Option<u64>) -> Self {
        self.retry_after = secs;
        self
    }

    /// Tells clients not to retry (`x-should-retry: false`) whatever the
    /// kind: the answer will not change soon.
    pub fn not_retryable(mut self) -> Self {
        self.final_answer = true;
        self
    }

    /// Maps an upstream HTTP error to what Anthropic would have answered
    /// (docs/translation.md, "Errors"). `body` is the upstream's error body,
    /// whatever its shape.
    pub fn from_upstream(
        upstream: &str,
        status: u16,
        body: &[u8],
        retry_after: Option<u64>,
    ) -> Self {
        if let Some(err) = Self::from_anthropic_body(status, body, retry_after) {
            return err;
        }
        let detail = UpstreamErrorDetail::parse(body);
        let kind = if status == 400 && detail.is_invalid_key() {
            ErrorKind::Authentication
        } else {
            ErrorKind::from_status(status)
        };
        let message = match detail.message {
            Some(m) => format!("upstream {upstream} returned {status}: {m}"),
            None => format!("upstream {upstream} returned {status}"),
        };
        ApiError::new(kind, message).with_retry_after(retry_after)
    }

    /// An Anthropic upstream's own error (`{"type":"error","error":{…}}`)
    /// keeps its type, message and status.
    fn from_anthropic_body(status: u16, body: &[u8], retry_after: Option<u64>) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        if v.get("type")?.as_str()? != "error" {
            return None;
        }
        let kind = ErrorKind::from_name(v["error"]["type"].as_str()?).unwrap_or(ErrorKind::Api);
        let message = v["error"]["message"].as_str().unwrap_or("").to_owned();
        Some(
            ApiError::new(kind, message)
                .with_status(status)
                .with_retry_after(retry_after),
        )
    }

    /// The JSON body Anthropic sends for this error.
    pub fn body(&self) -> String {
        #[derive(Serialize)]
        struct Body<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            error: Inner<'a>,
        }
        #[derive(Serialize)]
        struct Inner<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            message: &'a str,
        }
        serde_json::to_string(&Body {
            kind: "error",
            error: Inner {
                kind: self.kind.as_str(),
                message: &self.message,
            },
        })
        .unwrap_or_else(|_| {
            r#"{"type":"error","error":{"type":"api_error","message":"error"}}"#.to_owned()
        })
    }
}

/// The shape an error is sent in: Anthropic's everywhere, OpenAI's on the
/// OpenAI-compatible endpoints (docs/openai-inbound.md, "Errors").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ErrorShape {
    /// `{"type":"error","error":{"type","message"}}`.
    #[default]
    Anthropic,
    /// `{"error":{"message","type","param","code"}}`.
    OpenAi,
}

impl ApiError {
    /// OpenAI's `error.type` and `error.code` for this error. A rejected
    /// key is what api.openai.com answers: `invalid_request_error` with
    /// code `invalid_api_key`; a rate limit has code `rate_limit_exceeded`;
    /// failures on the gateway's or the upstream's side are `server_error`
    /// (<https://platform.openai.com/docs/guides/error-codes>).
    pub(crate) fn openai_type_and_code(&self) -> (&'static str, Option<&'static str>) {
        match self.kind {
            ErrorKind::InvalidRequest => ("invalid_request_error", None),
            ErrorKind::Authentication => ("invalid_request_error", Some("invalid_api_key")),
            ErrorKind::Billing => ("insufficient_quota", Some("insufficient_quota")),
            ErrorKind::Permission => ("invalid_request_error", Some("permission_denied")),
            ErrorKind::NotFound => ("invalid_request_error", Some("not_found")),
            ErrorKind::RequestTooLarge => ("invalid_request_error", Some("request_too_large")),
            ErrorKind::RateLimit => ("rate_limit_error", Some("rate_limit_exceeded")),
            ErrorKind::Api => ("server_error", None),
            ErrorKind::Timeout => ("server_error", Some("timeout")),
            ErrorKind::Overloaded => ("server_error", Some("server_is_overloaded")),
        }
    }

    /// The status an OpenAI client gets: the same, except that Anthropic's
    /// own 529 (overloaded) is OpenAI's 503.
    pub(crate) fn openai_status(&self) -> StatusCode {
        if self.status.as_u16() == 529 {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            self.status
        }
    }

    /// The JSON body OpenAI sends for this error:
    /// `{"error":{"message","type","param","code"}}`.
    pub(crate) fn openai_body(&self) -> String {
        #[derive(Serialize)]
        struct Body<'a> {
            error: Inner<'a>,
        }
        #[derive(Serialize)]
        struct Inner<'a> {
            message: &'a str,
            #[serde(rename = "type")]
            kind: &'static str,
            param: Option<&'a str>,
            code: Option<&'static str>,
        }
        let (kind, code) = self.openai_type_and_code();
        serde_json::to_string(&Body {
            error: Inner {
                message: &self.message,
                kind,
                param: None,
                code,
            },
        })
        .unwrap_or_else(|_| {
            r#"{"error":{"message":"error","type":"server_error","param":null,"code":null}}"#
                .to_owned()
        })
    }

    /// The response in `shape`.
    pub(crate) fn into_response_as(self, shape: ErrorShape) -> Response {
        match shape {
            ErrorShape::Anthropic => self.into_response(),
            ErrorShape::OpenAi => {
                let status = self.openai_status();
                let body = self.openai_body();
                self.respond(status, body)
            }
        }
    }

    /// `body` with `status`, `retry-after` and `x-should-retry`.
    fn respond(&self, status: StatusCode, body: String) -> Response {
        let mut resp = (
            status,
            [(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        // The SDKs honour x-should-retry before their own status rules.
        let retry = !self.final_answer
            && matches!(
                self.kind,
                ErrorKind::RateLimit | ErrorKind::Overloaded | ErrorKind::Api | ErrorKind::Timeout
            );
        resp.headers_mut().insert(
            "x-should-retry",
            HeaderValue::from_static(if retry { "true" } else { "false" }),
        );
        resp
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body();
        self.respond(self.status, body)
    }
}

/// What can be read out of an upstream error body of any provider's shape:
/// OpenAI `{"error":{"message","type","code"}}`, Gemini
/// `{"error":{"code","message","status","details"}}`, Anthropic, or
/// `{"detail":…}` / `{"message":…}` from compatible servers.
#[derive(Debug, Default)]
pub(crate) struct UpstreamErrorDetail {
    pub message: Option<String>,
    /// OpenAI `type`/`code`, Gemini `status`, Anthropic `error.type`.
    pub codes: Vec<String>,
}

impl UpstreamErrorDetail {
    pub fn parse(body: &[u8]) -> Self {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            return UpstreamErrorDetail {
                message: (!text.is_empty()).then(|| truncate(text, 500)),
                codes: Vec::new(),
            };
        };
        let err = v.get("error").unwrap_or(&v);
        let message = err
            .get("message")
            .or_else(|| v.get("detail"))
            .or_else(|| v.get("message"))
            .map(|m| match m.as_str() {
                Some(s) => truncate(s, 500),
                None => truncate(&m.to_string(), 500),
            })
            .or_else(|| err.as_str().map(|s| truncate(s, 500)));
        let mut codes = Vec::new();
        for key in ["type", "code", "status"] {
            if let Some(s) = err.get(key).and_then(|c| c.as_str()) {
                codes.push(s.to_owned());
            }
        }
        if let Some(details) = err.get("details").and_then(|d| d.as_array()) {
            for d in details {
                if let Some(r) = d.get("reason").and_then(|r| r.as_str()) {
                    codes.push(r.to_owned());
                }
            }
        }
        UpstreamErrorDetail { message, codes }
    }

    /// Gemini reports a bad key as 400 `API_KEY_INVALID`.
    pub(crate) fn is_invalid_key(&self) -> bool {
        self.codes.iter().any(|c| c == "API_KEY_INVALID")
            || self
                .message
                .as_deref()
                .is_some_and(|m| m.contains("API key not valid") || m.contains("API_KEY_INVALID"))
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_invert_as_str() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(ErrorKind::from_name("teapot_error"), None);
    }

    #[test]
    fn codes_are_read_through_the_table_in_priority_order() {
        let k = ErrorKind::from_codes;
        assert_eq!(k(&["RESOURCE_EXHAUSTED"], &[]), Some(ErrorKind::RateLimit));
        assert_eq!(k(&["UNAVAILABLE"], &[]), Some(ErrorKind::Overloaded));
        assert_eq!(k(&["DEADLINE_EXCEEDED"], &[]), Some(ErrorKind::Timeout));
        assert_eq!(k(&["INTERNAL"], &[]), None);
        assert_eq!(
            k(&["invalid_request_error", "rate_limit_exceeded"], &[]),
            Some(ErrorKind::RateLimit)
        );
        assert_eq!(k(&["server_error"], &[503]), Some(ErrorKind::Overloaded));
        assert_eq!(k(&[], &[401]), Some(ErrorKind::Authentication));
        assert_eq!(k(&[], &[418]), None);
    }

    #[test]
    fn maps_statuses_like_anthropic() {
        let cases = [
            (400, "invalid_request_error", 400),
            (401, "authentication_error", 401),
            (403, "permission_error", 403),
            (404, "not_found_error", 404),
            (429, "rate_limit_error", 429),
            (500, "api_error", 500),
            (502, "overloaded_error", 529),
            (503, "overloaded_error", 529),
            (504, "timeout_error", 504),
            (422, "invalid_request_error", 400),
        ];
        for (up, kind, status) in cases {
            let e = ApiError::from_upstream("u", up, b"{}", None);
            assert_eq!(e.kind.as_str(), kind, "{up}");
            assert_eq!(e.status.as_u16(), status, "{up}");
        }
    }

    #[test]
    fn gemini_bad_key_is_authentication() {
        let body = br#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}"#;
        let e = ApiError::from_upstream("g", 400, body, None);
        assert_eq!(e.kind, ErrorKind::Authentication);
        assert!(e.message.contains("API key not valid"));
    }

    #[test]
    fn openai_shape_and_status() {
        let e = ApiError::authentication("bad key");
        let v: serde_json::Value = serde_json::from_str(&e.openai_body()).unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["code"], "invalid_api_key");
        assert_eq!(v["error"]["message"], "bad key");
        assert!(v["error"]["param"].is_null());
        let r = ApiError::overloaded("busy")
            .with_retry_after(Some(3))
            .into_response_as(ErrorShape::OpenAi);
        assert_eq!(r.status().as_u16(), 503);
        assert_eq!(r.headers()["retry-after"], "3");
        let r = ApiError::new(ErrorKind::RateLimit, "slow").into_response_as(ErrorShape::OpenAi);
        assert_eq!(r.status().as_u16(), 429);
    }

    #[test]
    fn body_has_anthropic_shape() {
        let e = ApiError::invalid_request("bad \"x\"");
        let v: serde_json::Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["message"], "bad \"x\"");
    }
}
