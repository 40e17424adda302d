//! Sending a prepared body to an upstream, trying its keys in turn until one
//! answers: retries happen only before anything reached the client.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::header::HeaderMap;

use super::metrics::record_key_failure;
use super::state::{AppState, UpstreamRuntime};
use crate::config::ApiKey;
use crate::error::{ApiError, ErrorKind};
use crate::providers::{self, build_request, classify, OptionalParam, Target, Verdict};
use crate::routing::keys::{AllResting, KeyFailure};

/// Largest upstream body the proxy reads into memory (error bodies and
/// non-streaming responses).
const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;
/// Largest error body kept for the message (the rest is discarded).
const MAX_ERROR_BODY: usize = 64 * 1024;

/// An upstream that answered 2xx.
pub struct Attempted {
    pub response: reqwest::Response,
    pub key_index: usize,
    /// Masked key, for logs.
    pub key_masked: String,
    /// How many keys were tried (1 = first try worked).
    pub attempts: u32,
}

/// Why no key of an upstream produced a 2xx.
#[derive(Debug)]
pub enum SendError {
    /// The request itself was refused (a 400-class error): no other key or
    /// upstream would do better; the client gets this — unless `rejected`
    /// names an optional parameter the proxy can leave out and try again.
    Request {
        error: ApiError,
        rejected: Option<OptionalParam>,
    },
    /// Every usable key failed or rests: another upstream may still work.
    Exhausted { error: ApiError, attempts: u32 },
}

impl From<SendError> for ApiError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Request { error: e, .. } | SendError::Exhausted { error: e, .. } => e,
        }
    }
}

/// Sends `body` with the upstream's keys in strategy order, resting keys that
/// fail and moving on, each key at most once. Errors caused by the request
/// itself (400-class) are returned at once.
pub async fn send_with_failover(
    state: &AppState,
    up: &UpstreamRuntime,
    target: &Target<'_>,
    body: Bytes,
    extra_headers: HeaderMap,
) -> Result<Attempted, SendError> {
    let url = up.url(target).map_err(|error| SendError::Request {
        error,
        rejected: None,
    })?;
    send_with_failover_to(state, up, target, url, body, extra_headers).await
}

/// [`send_with_failover`] to `url` instead of the target's usual endpoint.
pub async fn send_with_failover_to(
    state: &AppState,
    up: &UpstreamRuntime,
    target: &Target<'_>,
    url: reqwest::Url,
    body: Bytes,
    extra_headers: HeaderMap,
) -> Result<Attempted, SendError> {
    let strategy = up
        .config
        .load_balance
        .unwrap_or_else(|| state.live.load().config.load_balance);
    let order = up
        .keys
        .attempt_order(strategy)
        .map_err(|r| SendError::Exhausted {
            error: all_resting_error(&up.config.name, r),
            attempts: 0,
        })?;
    let client = state.clients.for_upstream(&up.config);
    let settings = &state.settings;
    let mut last_error = None;
    for (n, i) in order.iter().copied().enumerate() {
        let key = up.keys.key(i);
        let request = build_request(
            client,
            url.clone(),
            target,
            key,
            body.clone(),
            extra_headers.clone(),
            settings.request_timeout,
        );
        let outcome = tokio::time::timeout(settings.first_byte_timeout, request.send()).await;
        let response = match outcome {
            Err(_) => {
                up.keys.mark_failure(i, KeyFailure::Unavailable);
                record_key_failure(&up.config.name, "timeout");
                tracing::warn!(upstream = %up.config.name, key = %key, "no response within FIRST_BYTE_TIMEOUT; trying next key");
                last_error = Some(ApiError::timeout(format!(
                    "upstream {} did not answer within {} s",
                    up.config.name,
                    settings.first_byte_timeout.as_secs()
                )));
                continue;
            }
            Ok(Err(e)) => {
                up.keys.mark_failure(i, KeyFailure::Unavailable);
                record_key_failure(&up.config.name, "connection");
                let err = providers::transport_error(&up.config.name, &e);
                tracing::warn!(upstream = %up.config.name, key = %key, error = %err.message, "upstream request failed; trying next key");
                last_error = Some(err);
                continue;
            }
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        if response.status().is_success() {
            up.keys.mark_success(i);
            return Ok(Attempted {
                response,
                key_index: i,
                key_masked: key.masked(),
                attempts: n as u32 + 1,
            });
        }
        let retry_after = providers::retry_after(response.headers());
        let body = read_limited(response, MAX_ERROR_BODY).await;
        // Some providers echo the key they were sent in their error message;
        // it must not travel on to the client or the logs.
        let verdict = match classify(&up.config.name, status, &body, retry_after) {
            Verdict::NextKey(f, e) => Verdict::NextKey(f, scrub_key(e, key)),
            Verdict::Fail(e) => Verdict::Fail(scrub_key(e, key)),
        };
        match verdict {
            Verdict::NextKey(failure, err) => {
                up.keys.mark_failure(i, failure);
                record_key_failure(
                    &up.config.name,
                    match failure {
                        KeyFailure::RateLimited(_) => "rate_limited",
                        KeyFailure::Rejected => "rejected",
                        KeyFailure::Unavailable => "unavailable",
                    },
                );
                tracing::warn!(upstream = %up.config.name, key = %key, status, "key failed; trying next key");
                last_error = Some(err);
            }
            Verdict::Fail(error) => {
                up.keys.mark_success(i);
                return Err(SendError::Request {
                    error,
                    rejected: providers::rejected_param(status, &body),
                });
            }
        }
    }
    Err(SendError::Exhausted {
        error: last_error.unwrap_or_else(|| {
            ApiError::api(format!("upstream {} has no usable key", up.config.name))
        }),
        attempts: order.len() as u32,
    })
}

fn scrub_key(mut err: ApiError, key: &ApiKey) -> ApiError {
    let secret = key.expose();
    if !secret.is_empty() && err.message.contains(secret) {
        err.message = err.message.replace(secret, &key.masked());
    }
    err
}

fn all_resting_error(upstream: &str, r: AllResting) -> ApiError {
    let secs = r.retry_after.as_secs().max(1);
    if r.rate_limited {
        ApiError::new(
            ErrorKind::RateLimit,
            format!("every key of upstream {upstream} is rate limited; retry in {secs} s"),
        )
    } else {
        ApiError::new(
            ErrorKind::Overloaded,
            format!("every key of upstream {upstream} is failing and resting; retry in {secs} s"),
        )
    }
    .with_retry_after(Some(secs))
}

/// Reads at most `limit` bytes of a body (the rest is dropped), ignoring
/// read errors: used for error bodies, which only feed a message.
async fn read_limited(response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stream = response.bytes_stream();
    let deadline = tokio::time::sleep(Duration::from_secs(10));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            chunk = stream.next() => match chunk {
                Some(Ok(c)) => {
                    let room = limit - out.len();
                    out.extend_from_slice(&c[..c.len().min(room)]);
                    if out.len() >= limit {
                        break;
                    }
                }
                _ => break,
            },
            _ = &mut deadline => break,
        }
    }
    out
}

/// Reads a whole 2xx body (bounded by the request's total timeout).
pub async fn read_body(upstream: &str, response: reqwest::Response) -> Result<Bytes, ApiError> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_UPSTREAM_BODY as u64)
    {
        return Err(
            ApiError::api(format!("upstream {upstream} response is too large")).with_status(502),
        );
    }
    response
        .bytes()
        .await
        .map_err(|e| providers::transport_error(upstream, &e))
}
