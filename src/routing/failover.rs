//! The failover loop: each upstream of a request's plan in turn, and within
//! one upstream each usable key in strategy order, until one answers 2xx.
//! Retries and fallbacks happen only before anything reached the client,
//! so they are invisible to it.

use std::sync::Arc;
use std::time::Duration;

use http::header::HeaderMap;

use super::circuit::Admission;
use super::keys::{AllResting, KeyFailure};
use super::live::{LiveState, UpstreamRuntime};
use super::plan::Planned;
use super::verdict::{classify, Verdict};
use crate::error::{ApiError, ErrorKind};
use crate::observe::metrics::record_key_failure;
use crate::observe::RequestRecord;
use crate::providers::client::{self, Client, Response};
use crate::providers::errors::{retry_after, scrub_key, transport_error};
use crate::providers::held_body::HeldBody;
use crate::providers::http::{
    build_request, is_protocol_nack, read_limited, HttpClients, MAX_ERROR_BODY, MAX_NACK_RETRIES,
};
use crate::providers::opening::Whole;
use crate::providers::{Answer, ClientRequest, Outgoing, Refusal};
use crate::settings::Settings;
use tokio::time::Instant;

/// What the failover loop needs from the server.
#[derive(Clone, Copy)]
pub(crate) struct Net<'a> {
    pub clients: &'a HttpClients,
    pub settings: &'a Settings,
}

/// An upstream that answered 2xx.
pub(crate) struct Answered {
    /// The upstream that answered.
    pub upstream: Arc<UpstreamRuntime>,
    /// The request it answered.
    pub outgoing: Outgoing,
    /// Its answer (a stream: with its opening read and checked).
    pub answer: Answer,
}

/// Why no key of an upstream produced a 2xx.
#[derive(Debug)]
enum SendError {
    /// The request itself was refused (a 400-class error): no other key or
    /// upstream would do better; the client gets this — unless `refusal`
    /// names an optional parameter the provider can leave out.
    Request {
        error: ApiError,
        refusal: Option<Refusal>,
    },
    /// Every usable key failed or rests: another upstream may still work.
    Exhausted { error: ApiError, attempts: u32 },
}

/// One upstream's 2xx, with which key and after how many tries.
struct Attempted {
    answer: Answer,
    key_masked: String,
    attempts: u32,
}

/// Sends the request to each target of `plan` in turn until one answers
/// 2xx, skipping upstreams whose circuit is open. When no later target can
/// need the parsed request again, it is released as soon as the first
/// target's request is built: it is large (a Claude Code turn is ~50 KB of
/// text and schemas), and freeing it before the wait for the answer keeps
/// held streams small.
pub(crate) async fn dispatch(
    net: Net<'_>,
    live: &LiveState,
    plan: Vec<Planned>,
    req: &mut ClientRequest<'_>,
    record: &mut Option<RequestRecord>,
) -> Result<Answered, ApiError> {
    let keep_request = plan.len() > 1;
    let mut last_error = None;
    // Time until the soonest probe of an upstream skipped for its circuit.
    let mut soonest_probe: Option<Duration> = None;
    for target in plan {
        // Always there when this target is not the first.
        let Some(parsed) = req.parsed.as_ref() else {
            break;
        };
        let up = target.upstream.clone();
        let mut probe = match up.circuit.admit().await {
            Admission::Skip { retry_in } => {
                tracing::debug!(upstream = %up.config.name, "circuit open; skipping the upstream");
                soonest_probe = Some(soonest_probe.map_or(retry_in, |s| s.min(retry_in)));
                continue;
            }
            Admission::Probe(guard) => {
                tracing::info!(upstream = %up.config.name, "circuit half-open; this request probes the upstream");
                Some(guard)
            }
            Admission::Pass => None,
        };
        let upstream_model = target.upstream_model(&parsed.model).to_owned();
        if let Some(rec) = record.as_mut() {
            rec.upstream = Some(up.config.name.clone());
            rec.service_type = up.config.service_type.as_str();
            rec.model_upstream = Some(upstream_model.clone());
            rec.upstreams_tried += 1;
        }
        let mut out = up.provider.prepare(&up.config, req, &upstream_model)?;
        if !keep_request {
            req.parsed = None;
        }
        // Bounded: the provider leaves each optional parameter out once, and
        // at most a few in all.
        let sent = loop {
            match send_with_failover(net, live, &up, &mut out).await {
                Err(SendError::Request {
                    refusal: Some(refusal),
                    error,
                }) => match up.provider.without(&up.config, &out, req, refusal)? {
                    Some(next) => out = next,
                    // Nothing (more) to leave out: the error stands.
                    None => {
                        break Err(SendError::Request {
                            error,
                            refusal: None,
                        })
                    }
                },
                sent => break sent,
            }
        };
        let attempted = match sent {
            Ok(a) => a,
            Err(SendError::Request { error, .. }) => {
                // The upstream answered: it is up, the request was wrong.
                up.circuit.success(probe.as_mut()).await;
                return Err(error);
            }
            Err(SendError::Exhausted { error, attempts }) => {
                if let Some(rec) = record.as_mut() {
                    rec.attempts += attempts;
                }
                // Every key resting is no news about the upstream.
                if attempts > 0 {
                    let limits = up.config.circuit_breaker(&net.settings.circuit_breaker);
                    if up.circuit.failure(&limits, probe.as_mut()).await {
                        tracing::warn!(upstream = %up.config.name, "circuit opened: the upstream is skipped until a probe succeeds");
                    }
                }
                tracing::warn!(upstream = %up.config.name, error = %error.message, "every key of the upstream failed");
                last_error = Some(error);
                continue;
            }
        };
        up.circuit.success(probe.as_mut()).await;
        if let Some(rec) = record.as_mut() {
            rec.attempts += attempted.attempts;
            rec.key = Some(attempted.key_masked);
            rec.ttfb = Some(rec.started.elapsed());
        }
        // Committed to this answer: no attempt will send the body again, so
        // it is not held while the answer streams (55 KB per Claude Code
        // request).
        let mut out = out;
        out.body = bytes::Bytes::new();
        return Ok(Answered {
            upstream: up,
            outgoing: out,
            answer: attempted.answer,
        });
    }
    Err(match (last_error, soonest_probe) {
        (Some(e), _) => e,
        (None, Some(wait)) => {
            let secs = wait.as_millis().div_ceil(1000).max(1) as u64;
            ApiError::overloaded(format!(
                "every upstream of this route is failing and its circuit is open; the next probe is in {secs} s"
            ))
            .with_retry_after(Some(secs))
        }
        (None, None) => no_upstream(),
    })
}

/// Sends `out` to one upstream, passing over the keys and moving on only
/// before the client has seen anything. Used by endpoints that forward a
/// request to one given upstream (`count_tokens`).
pub(crate) async fn send_one(
    net: Net<'_>,
    live: &LiveState,
    up: &UpstreamRuntime,
    mut out: Outgoing,
) -> Result<Whole, ApiError> {
    match send_with_failover(net, live, up, &mut out).await {
        Ok(Attempted {
            answer: Answer::Whole(whole),
            ..
        }) => Ok(whole),
        Ok(_) => Err(ApiError::api(
            "internal error: a forwarded request came back as a stream",
        )),
        Err(SendError::Request { error, .. } | SendError::Exhausted { error, .. }) => Err(error),
    }
}

/// One request to `up` through its key number `key` only, for the admin
/// test probes (`config test`, `POST /admin/api/upstreams/{name}/test`),
/// which report on each key rather than on the best one. It goes the way
/// [`dispatch`] sends a request — prepared by the provider, its stream's
/// opening checked, sent again without an optional parameter the model
/// refuses — but tries no other key or upstream and leaves the key pool
/// and the circuit as they are: a probe is an observation, not traffic.
/// Errors are scrubbed of the key.
pub(crate) async fn send_through_key(
    net: Net<'_>,
    up: &UpstreamRuntime,
    key: usize,
    req: &ClientRequest<'_>,
    model: &str,
) -> Result<(Outgoing, Answer), ApiError> {
    if key >= up.keys.keys().len() {
        return Err(ApiError::not_found(format!(
            "upstream {} has no key #{key}",
            up.config.name
        )));
    }
    let api_key = up.keys.key(key);
    let client = net.clients.for_upstream(&up.config);
    let name = &up.config.name;
    let mut out = up.provider.prepare(&up.config, req, model)?;
    let mut held = HeldBody::default();
    // Bounded like the loop in `dispatch`: each optional parameter is left
    // out once.
    loop {
        let authorize = |h: &mut HeaderMap| up.provider.authorize(api_key, h);
        let (outcome, deadline) = attempt(net, client, &mut out, &mut held, authorize).await?;
        let response = match outcome {
            Err(_) => {
                return Err(ApiError::timeout(format!(
                    "upstream {name} did not answer within {} s",
                    net.settings.first_byte_timeout.as_secs()
                )))
            }
            Ok(Err(e)) => return Err(transport_error(name, &e)),
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        if response.status().is_success() {
            let opened = up.provider.open(name, out.stream, response, deadline);
            return match Box::pin(held.wait(&mut out.body, opened)).await {
                Ok(answer) => Ok((out, answer)),
                Err(err) => Err(scrub_key(err, api_key)),
            };
        }
        let retry_after = retry_after(response.headers());
        let location = redirect_location(response.headers());
        let body = read_limited(response, MAX_ERROR_BODY).await;
        let (error, refusal) = match classify(name, status, &body, retry_after, location.as_deref())
        {
            Verdict::NextKey(_, err) => (err, None),
            Verdict::Fail(err) => (err, up.provider.refusal(status, &body)),
        };
        let error = scrub_key(error, api_key);
        held.restore(&mut out.body)?;
        match refusal {
            Some(refusal) => match up.provider.without(&up.config, &out, req, refusal)? {
                Some(next) => out = next,
                None => return Err(error),
            },
            None => return Err(error),
        }
    }
}

/// Sends `out` with the upstream's keys in strategy order, resting keys that
/// fail and moving on, each key at most once. Errors caused by the request
/// itself (400-class) are returned at once.
async fn send_with_failover(
    net: Net<'_>,
    live: &LiveState,
    up: &UpstreamRuntime,
    out: &mut Outgoing,
) -> Result<Attempted, SendError> {
    let order = up
        .keys
        .attempt_order(up.load_balance(live.config.load_balance))
        .await
        .map_err(|r| SendError::Exhausted {
            error: all_resting_error(&up.config.name, r),
            attempts: 0,
        })?;
    let client = net.clients.for_upstream(&up.config);
    let mut held = HeldBody::default();
    let result = attempt_keys(net, up, out, &mut held, client, &order).await;
    // An error leaves the body whole for a retry without a refused
    // parameter; an answer needs it no more.
    if result.is_err() {
        held.restore(&mut out.body)
            .map_err(|error| SendError::Request {
                error,
                refusal: None,
            })?;
    }
    result
}

/// The keys of `order` in turn; see [`send_with_failover`].
async fn attempt_keys(
    net: Net<'_>,
    up: &UpstreamRuntime,
    out: &mut Outgoing,
    held: &mut HeldBody,
    client: &Client,
    order: &[usize],
) -> Result<Attempted, SendError> {
    let settings = net.settings;
    let name = &up.config.name;
    let mut last_error = None;
    for (n, i) in order.iter().copied().enumerate() {
        let key = up.keys.key(i);
        let authorize = |h: &mut HeaderMap| up.provider.authorize(key, h);
        let (outcome, deadline) =
            attempt(net, client, out, held, authorize)
                .await
                .map_err(|error| SendError::Request {
                    error,
                    refusal: None,
                })?;
        let response = match outcome {
            Err(_) => {
                Box::pin(up.keys.mark_failure(i, KeyFailure::Unavailable)).await;
                record_key_failure(name, "timeout");
                tracing::warn!(upstream = %name, key = %key, "no response within FIRST_BYTE_TIMEOUT; trying next key");
                last_error = Some(ApiError::timeout(format!(
                    "upstream {name} did not answer within {} s",
                    settings.first_byte_timeout.as_secs()
                )));
                continue;
            }
            Ok(Err(e)) => {
                Box::pin(up.keys.mark_failure(i, KeyFailure::Unavailable)).await;
                record_key_failure(name, "connection");
                let err = transport_error(name, &e);
                tracing::warn!(upstream = %name, key = %key, error = %err.message, "upstream request failed; trying next key");
                last_error = Some(err);
                continue;
            }
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        if response.status().is_success() {
            // Boxed, like the key bookkeeping below: these states are
            // reached after the headers arrive, and unboxed they would size
            // the request's whole future (6 KB of the 10.6 KB it was) for
            // the time the upstream takes to answer.
            let opened = up.provider.open(name, out.stream, response, deadline);
            match Box::pin(held.wait(&mut out.body, opened)).await {
                Ok(answer) => {
                    up.keys.mark_success(i).await;
                    return Ok(Attempted {
                        answer,
                        key_masked: key.masked(),
                        attempts: n as u32 + 1,
                    });
                }
                Err(err) => {
                    Box::pin(up.keys.mark_failure(i, KeyFailure::Unavailable)).await;
                    record_key_failure(name, "stream");
                    tracing::warn!(upstream = %name, key = %key, error = %err.message, "stream failed before any content; trying next key");
                    last_error = Some(scrub_key(err, key));
                    continue;
                }
            }
        }
        let retry_after = retry_after(response.headers());
        let location = redirect_location(response.headers());
        let body = read_limited(response, MAX_ERROR_BODY).await;
        match classify(name, status, &body, retry_after, location.as_deref()) {
            Verdict::NextKey(failure, err) => {
                Box::pin(up.keys.mark_failure(i, failure)).await;
                record_key_failure(
                    name,
                    match failure {
                        KeyFailure::RateLimited(_) => "rate_limited",
                        KeyFailure::Rejected => "rejected",
                        KeyFailure::Unavailable => "unavailable",
                    },
                );
                tracing::warn!(upstream = %name, key = %key, status, "key failed; trying next key");
                last_error = Some(scrub_key(err, key));
            }
            Verdict::Fail(error) => {
                up.keys.mark_success(i).await;
                return Err(SendError::Request {
                    error: scrub_key(error, key),
                    refusal: up.provider.refusal(status, &body),
                });
            }
        }
    }
    Err(SendError::Exhausted {
        error: last_error
            .unwrap_or_else(|| ApiError::api(format!("upstream {name} has no usable key"))),
        attempts: order.len() as u32,
    })
}

/// What one attempt came to: the response, a transport error, or no
/// headers within FIRST_BYTE_TIMEOUT (`Err(Elapsed)`).
type Outcome = Result<Result<Response, client::Error>, tokio::time::error::Elapsed>;

/// Sends `out` once with the headers `authorize` adds, packing the body
/// while the answer is awaited ([`HeldBody`]); also gives the attempt's
/// deadline, which a stream's first content must meet as well. A request an HTTP/2 server
/// refused unprocessed goes again at once, on the same key, at most
/// [`MAX_NACK_RETRIES`] times: it says nothing about the key.
async fn attempt(
    net: Net<'_>,
    client: &Client,
    out: &mut Outgoing,
    held: &mut HeldBody,
    authorize: impl Fn(&mut HeaderMap),
) -> Result<(Outcome, Instant), ApiError> {
    let mut nacks = 0;
    loop {
        held.restore(&mut out.body)?;
        let request = build_request(out, &authorize);
        // REQUEST_TIMEOUT covers the whole answer; FIRST_BYTE_TIMEOUT the
        // headers and, for a stream, its first content.
        let now = Instant::now();
        let total = now + net.settings.request_timeout;
        let deadline = (now + net.settings.first_byte_timeout).min(total);
        let sent = tokio::time::timeout_at(deadline, client.send(request, total));
        match held.wait(&mut out.body, sent).await {
            Ok(Err(e)) if nacks < MAX_NACK_RETRIES && is_protocol_nack(&e) => {
                tracing::debug!(host = %out.url.host().unwrap_or_default(), "an HTTP/2 upstream refused the request unprocessed; sending it again");
                nacks += 1;
            }
            outcome => return Ok((outcome, deadline)),
        }
    }
}

/// Where a redirect points (read before the answer's body is).
fn redirect_location(headers: &http::header::HeaderMap) -> Option<String> {
    headers
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
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

/// The error for a request that found no upstream to go to.
pub(crate) fn no_upstream() -> ApiError {
    ApiError::api(
        "no upstream is configured. Add one, e.g.: claude-proxy config add openai openai https://api.openai.com/v1 --key sk-... \
         (or edit config.json); the running server picks it up without a restart",
    )
    .with_status(503)
}
