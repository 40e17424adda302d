//! The only place that talks HTTP to upstreams: URL, auth header and
//! send for each service type, plus the classification of upstream failures
//! into "try the next key" and "give the client this error".

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};

use crate::config::{ApiKey, AuthHeader, ServiceType, Upstream};
use crate::error::{ApiError, ErrorKind, UpstreamErrorDetail};
use crate::routing::keys::KeyFailure;

/// Everything needed to send one prepared body to one upstream.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub upstream: &'a Upstream,
    /// Upstream model name (after mapping); part of Gemini's URL.
    pub model: &'a str,
    pub stream: bool,
}

impl Target<'_> {
    pub fn url(&self) -> String {
        match self.upstream.service_type {
            ServiceType::OpenAi | ServiceType::OpenAiOld => {
                self.upstream.endpoint("/chat/completions")
            }
            ServiceType::Gemini => {
                let action = if self.stream {
                    "streamGenerateContent?alt=sse"
                } else {
                    "generateContent"
                };
                self.upstream
                    .endpoint(&format!("/models/{}:{action}", self.model))
            }
            ServiceType::Claude => self.upstream.endpoint("/messages"),
        }
    }
}

/// Builds a request to `url` (an endpoint of the target's upstream). The key
/// goes in a header only (never in a URL, where it could reach an access
/// log), marked sensitive.
pub fn build_request(
    client: &reqwest::Client,
    url: reqwest::Url,
    target: &Target<'_>,
    key: &ApiKey,
    body: Bytes,
    extra_headers: HeaderMap,
    timeout: Duration,
) -> reqwest::RequestBuilder {
    let mut headers = extra_headers;
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let (name, value) = match target.upstream.service_type {
        ServiceType::OpenAi | ServiceType::OpenAiOld => {
            (AUTHORIZATION, format!("Bearer {}", key.expose()))
        }
        ServiceType::Gemini => (
            reqwest::header::HeaderName::from_static("x-goog-api-key"),
            key.expose().to_owned(),
        ),
        // OAuth access tokens (Claude subscriptions) go in Authorization;
        // API keys in x-api-key.
        ServiceType::Claude
            if target.upstream.auth_header == AuthHeader::Bearer
                || (target.upstream.auth_header == AuthHeader::Auto
                    && key.expose().starts_with("sk-ant-oat")) =>
        {
            (AUTHORIZATION, format!("Bearer {}", key.expose()))
        }
        ServiceType::Claude => (
            reqwest::header::HeaderName::from_static("x-api-key"),
            key.expose().to_owned(),
        ),
    };
    // A keyless upstream (local server) gets no auth header at all.
    if !key.expose().is_empty() {
        if let Ok(mut v) = HeaderValue::from_str(&value) {
            v.set_sensitive(true);
            headers.insert(name, v);
        }
    }
    if target.stream {
        headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
    }
    client
        .post(url)
        .headers(headers)
        .timeout(timeout)
        .body(body)
}

/// What to do after an upstream answered with an error status.
#[derive(Debug)]
pub enum Verdict {
    /// The key (not the request) is at fault: rest it and try another.
    NextKey(KeyFailure, ApiError),
    /// The request itself is at fault: the client gets this error.
    Fail(ApiError),
}

/// Classifies an upstream error response (PROTOCOLS D.8 plus key health).
pub fn classify(
    upstream: &str,
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
) -> Verdict {
    let secs = retry_after.map(|d| d.as_secs().max(1));
    let err = ApiError::from_upstream(upstream, status, body, secs);
    match status {
        401 | 403 => Verdict::NextKey(KeyFailure::Rejected, err),
        402 => Verdict::NextKey(KeyFailure::Rejected, err),
        429 => {
            let detail = UpstreamErrorDetail::parse(body);
            if is_quota_exhausted(&detail) {
                Verdict::NextKey(KeyFailure::Rejected, err)
            } else {
                Verdict::NextKey(KeyFailure::RateLimited(retry_after), err)
            }
        }
        500 | 502 | 503 | 504 | 529 => Verdict::NextKey(KeyFailure::Unavailable, err),
        400 => {
            let detail = UpstreamErrorDetail::parse(body);
            if detail.is_invalid_key() || is_quota_exhausted(&detail) {
                Verdict::NextKey(KeyFailure::Rejected, err)
            } else {
                Verdict::Fail(err)
            }
        }
        _ => Verdict::Fail(err),
    }
}

/// Optional request parameters that some upstream models refuse (OpenAI's
/// reasoning models reject `temperature`; non-reasoning models reject
/// `reasoning_effort`; some servers know no `stream_options`). When an
/// upstream names one in a 400, the proxy sends the request again without it
/// and remembers that for the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OptionalParam {
    ReasoningEffort,
    Temperature,
    TopP,
    StreamOptions,
    ParallelToolCalls,
    User,
    /// `max_tokens` refused in favour of `max_completion_tokens`.
    MaxTokens,
    /// The output-token limit is above what the model allows: send at most
    /// this many (Claude Code asks for up to 128,000).
    MaxTokensAtMost(u64),
}

impl OptionalParam {
    const ALL: [(OptionalParam, &'static str); 7] = [
        (OptionalParam::ReasoningEffort, "reasoning_effort"),
        (OptionalParam::Temperature, "temperature"),
        (OptionalParam::TopP, "top_p"),
        (OptionalParam::StreamOptions, "stream_options"),
        (OptionalParam::ParallelToolCalls, "parallel_tool_calls"),
        (OptionalParam::User, "user"),
        (OptionalParam::MaxTokens, "max_tokens"),
    ];

    /// The request field this parameter is, for the ones that are one field
    /// (`MaxTokensAtMost` changes a value instead).
    pub fn field(self) -> Option<&'static str> {
        Self::ALL
            .iter()
            .find_map(|&(p, name)| (p == self).then_some(name))
    }
}

/// The optional parameter a 400 complains about, if the complaint is that
/// the parameter (or its value) is unsupported.
pub fn rejected_param(status: u16, body: &[u8]) -> Option<OptionalParam> {
    if status != 400 && status != 422 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let err = v.get("error").unwrap_or(&v);
    let message = err
        .get("message")
        .or_else(|| v.get("detail"))
        .and_then(|m| m.as_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let unsupported = [
        "unsupported",
        "not supported",
        "unrecognized",
        "unknown",
        "does not support",
        "not allowed",
        "extra inputs",
        "not permitted",
    ]
    .iter()
    .any(|w| message.contains(w))
        || err
            .get("code")
            .and_then(|c| c.as_str())
            .is_some_and(|c| c.starts_with("unsupported"));
    let param = err.get("param").and_then(|p| p.as_str()).unwrap_or("");
    if let Some(cap) = max_tokens_limit(param, &message) {
        return Some(OptionalParam::MaxTokensAtMost(cap));
    }
    if !unsupported {
        return None;
    }
    OptionalParam::ALL.iter().find_map(|&(p, name)| {
        let quoted = [
            format!("'{name}'"),
            format!("\"{name}\""),
            format!("`{name}`"),
            format!(": {name}"),
        ];
        (param == name || quoted.iter().any(|q| message.contains(q.as_str()))).then_some(p)
    })
}

/// The limit in a "max_tokens is too large" complaint, in the wordings of
/// OpenAI ("supports at most 16384 completion tokens"), DeepSeek ("the valid
/// range of max_tokens is [1, 8192]") and vLLM ("(128000 > 32768 - 1500)").
fn max_tokens_limit(param: &str, message: &str) -> Option<u64> {
    let about_max_tokens = param.contains("max_tokens")
        || param.contains("max_completion_tokens")
        || message.contains("max_tokens")
        || message.contains("max_completion_tokens")
        || message.contains("max_output_tokens");
    let too_large = [
        "too large",
        "at most",
        "valid range",
        "maximum",
        "exceed",
        "must be less",
    ]
    .iter()
    .any(|w| message.contains(w));
    if !about_max_tokens || !too_large {
        return None;
    }
    // vLLM: "(requested > context - input)".
    if let Some(gt) = message.rfind(" > ") {
        let rest = &message[gt + 3..];
        let nums = numbers(rest);
        if rest.contains(" - ") && nums.len() >= 2 && nums[0] > nums[1] {
            return Some(nums[0] - nums[1]).filter(|n| *n > 0);
        }
    }
    if let Some(at) = message.find("at most") {
        if let Some(n) = numbers(&message[at..]).first() {
            return Some(*n).filter(|n| *n > 0);
        }
    }
    // Otherwise the smallest plausible limit mentioned ("[1, 8192]").
    numbers(message).into_iter().filter(|n| *n >= 256).min()
}

fn numbers(s: &str) -> Vec<u64> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter_map(|t| t.parse().ok())
        .collect()
}

/// "Insufficient balance / quota" bodies that some providers send with 400,
/// 402 or 429: the key is out of money, not the request wrong.
fn is_quota_exhausted(detail: &UpstreamErrorDetail) -> bool {
    const MARKERS: [&str; 6] = [
        "insufficient_quota",
        "insufficient balance",
        "insufficient_balance",
        "exceeded your current quota",
        "quota exceeded",
        "billing",
    ];
    let hit = |s: &str| {
        let s = s.to_ascii_lowercase();
        MARKERS.iter().any(|m| s.contains(m))
    };
    detail.codes.iter().any(|c| hit(c)) || detail.message.as_deref().is_some_and(hit)
}

/// `Retry-After` (seconds or HTTP date) or `retry-after-ms`.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
    {
        if ms.is_finite() && ms >= 0.0 {
            return Some(Duration::from_millis(ms as u64));
        }
    }
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The client-facing error for a transport failure (no HTTP answer).
pub fn transport_error(upstream: &str, err: &reqwest::Error) -> ApiError {
    // reqwest's Display may include the URL, never a header; the URL holds no
    // key because keys only travel in headers.
    if err.is_timeout() {
        ApiError::new(ErrorKind::Timeout, format!("upstream {upstream} timed out"))
    } else if err.is_connect() {
        ApiError::new(
            ErrorKind::Api,
            format!("upstream {upstream} is unreachable: connection failed"),
        )
        .with_status(502)
    } else {
        ApiError::new(
            ErrorKind::Api,
            format!("upstream {upstream} request failed: {}", root_cause(err)),
        )
        .with_status(502)
    }
}

fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let v = |s, b: &str| classify("u", s, b.as_bytes(), None);
        assert!(matches!(
            v(401, "{}"),
            Verdict::NextKey(KeyFailure::Rejected, _)
        ));
        assert!(matches!(
            v(429, "{}"),
            Verdict::NextKey(KeyFailure::RateLimited(None), _)
        ));
        assert!(matches!(
            v(
                429,
                r#"{"error":{"code":"insufficient_quota","message":"You exceeded your current quota"}}"#
            ),
            Verdict::NextKey(KeyFailure::Rejected, _)
        ));
        assert!(matches!(
            v(503, "{}"),
            Verdict::NextKey(KeyFailure::Unavailable, _)
        ));
        assert!(matches!(
            v(400, r#"{"error":{"message":"bad tool"}}"#),
            Verdict::Fail(_)
        ));
        assert!(matches!(
            v(400, r#"{"error":{"message":"Insufficient Balance"}}"#),
            Verdict::NextKey(KeyFailure::Rejected, _)
        ));
        assert!(matches!(v(404, "{}"), Verdict::Fail(_)));
    }

    #[test]
    fn recognises_refused_optional_parameters() {
        let r = |b: &str| rejected_param(400, b.as_bytes());
        assert_eq!(
            r(
                r#"{"error":{"message":"Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.","type":"invalid_request_error","param":"max_tokens","code":"unsupported_parameter"}}"#
            ),
            Some(OptionalParam::MaxTokens)
        );
        assert_eq!(
            r(
                r#"{"error":{"message":"Unsupported value: 'temperature' does not support 0.2 with this model. Only the default (1) value is supported.","param":"temperature","code":"unsupported_value"}}"#
            ),
            Some(OptionalParam::Temperature)
        );
        assert_eq!(
            r(
                r#"{"error":{"message":"Unrecognized request argument supplied: reasoning_effort"}}"#
            ),
            Some(OptionalParam::ReasoningEffort)
        );
        assert_eq!(
            r(r#"{"error":{"message":"messages: bad role","param":"messages"}}"#),
            None
        );
        assert_eq!(
            r(r#"{"error":{"message":"temperature must be <= 2"}}"#),
            None
        );
        assert_eq!(
            rejected_param(401, br#"{"error":{"message":"unsupported 'user'"}}"#),
            None
        );
    }

    #[test]
    fn recognises_output_token_limits() {
        let r = |b: &str| rejected_param(400, b.as_bytes());
        assert_eq!(
            r(
                r#"{"error":{"message":"max_tokens is too large: 128000. This model supports at most 16384 completion tokens, whereas you provided 128000.","param":"max_tokens","code":"invalid_value"}}"#
            ),
            Some(OptionalParam::MaxTokensAtMost(16384))
        );
        assert_eq!(
            r(
                r#"{"error":{"message":"Invalid max_tokens value, the valid range of max_tokens is [1, 8192]","type":"invalid_request_error"}}"#
            ),
            Some(OptionalParam::MaxTokensAtMost(8192))
        );
        assert_eq!(
            r(
                r#"{"object":"error","message":"'max_tokens' or 'max_completion_tokens' is too large: 128000. This model's maximum context length is 32768 tokens and your request has 1500 input tokens (128000 > 32768 - 1500).","type":"BadRequestError","code":400}"#
            ),
            Some(OptionalParam::MaxTokensAtMost(31268))
        );
        assert_eq!(
            r(r#"{"error":{"message":"prompt is too long: 300000 tokens > 200000 maximum"}}"#),
            None
        );
    }

    #[test]
    fn retry_after_forms() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert("retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
    }
}
