//! The request store over HTTP, for the console (JSON; mounted under
//! `/admin/api`, behind the admin key):
//!
//! | route | answers |
//! |---|---|
//! | `GET requests?limit&before&upstream&model&status&client&q` | `{"data":[Row…],"hasMore","nextBefore"}`, newest first |
//! | `GET requests/{id}` | one Row, with `requestBody`/`responseBody` when stored |
//! | `GET requests/live` | SSE: `event: request` with a Row per finished request |
//! | `GET usage?from&to&bucket&group` | `{"bucket","group","from","to","rows":[…]}` |
//!
//! Bad parameters are 400 `invalid_request_error` naming the parameter; a
//! store that is off or unavailable is 503 saying why. Keys only appear as
//! the masked fingerprints the store holds.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::sync::broadcast::error::RecvError;

use crate::error::ApiError;
use crate::server::state::AppState;
use crate::store::query::{
    Bucket, Group, ListQuery, StatusFilter, UsageQuery, MAX_BUCKETS, MAX_LIMIT,
};
use crate::store::StoreError;

/// Rows per page when `limit` is not given.
const DEFAULT_LIMIT: usize = 50;

/// Longest `q` accepted.
const MAX_Q: usize = 200;

/// How far back `usage` looks without `from`.
const DEFAULT_RANGE_MS: i64 = 24 * 3600 * 1000;

/// The routes, relative to `/admin/api`.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/requests", get(list))
        .route("/requests/live", get(live))
        .route("/requests/{id}", get(one))
        .route("/usage", get(usage))
}

type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

fn params(p: Params) -> Result<HashMap<String, String>, ApiError> {
    p.map(|Query(m)| m)
        .map_err(|e| ApiError::invalid_request(format!("invalid query string: {}", e.body_text())))
}

/// A parameter's value; empty counts as absent.
fn text<'a>(m: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    m.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// How a failed read is answered.
fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::UnknownCursor(_) => ApiError::invalid_request(e.to_string()),
        StoreError::Off
        | StoreError::Unavailable(_)
        | StoreError::Opening
        | StoreError::Read(_) => ApiError::api(e.to_string()).with_status(503),
    }
}

/// `GET requests`.
async fn list(State(state): State<Arc<AppState>>, p: Params) -> Response {
    let q = match params(p).and_then(|m| list_query(&m)) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    match state.store.list(q).await {
        Ok(page) => Json(page).into_response(),
        Err(e) => store_error(e).into_response(),
    }
}

fn list_query(m: &HashMap<String, String>) -> Result<ListQuery, ApiError> {
    let limit = match text(m, "limit") {
        None => DEFAULT_LIMIT,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_request(format!(
                    "limit: must be a whole number from 1 to {MAX_LIMIT}, got {v:?}"
                ))
            })?,
    };
    let status = match text(m, "status") {
        None => None,
        Some(v) if v.eq_ignore_ascii_case("error") => Some(StatusFilter::Error),
        Some(v) => Some(
            v.parse::<u16>()
                .ok()
                .filter(|n| (100..=599).contains(n))
                .map(StatusFilter::Code)
                .ok_or_else(|| {
                    ApiError::invalid_request(format!(
                        "status: expected a status code from 100 to 599 or \"error\", got {v:?}"
                    ))
                })?,
        ),
    };
    let q = text(m, "q").map(str::to_owned);
    if q.as_ref().is_some_and(|q| q.chars().count() > MAX_Q) {
        return Err(ApiError::invalid_request(format!(
            "q: at most {MAX_Q} characters"
        )));
    }
    let owned = |name: &str| text(m, name).map(str::to_owned);
    Ok(ListQuery {
        limit,
        before: owned("before"),
        upstream: owned("upstream"),
        model: owned("model"),
        status,
        q,
        client: owned("client"),
    })
}

/// `GET requests/{id}`.
async fn one(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match state.store.get(id.clone()).await {
        Ok(Some(detail)) => Json(detail).into_response(),
        Ok(None) => ApiError::not_found(format!("no stored request has id {id:?}")).into_response(),
        Err(e) => store_error(e).into_response(),
    }
}

/// `GET usage`.
async fn usage(State(state): State<Arc<AppState>>, p: Params) -> Response {
    let q = match params(p).and_then(|m| usage_query(&m, crate::store::time::now_ms())) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    match state.store.usage(q).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => store_error(e).into_response(),
    }
}

fn usage_query(m: &HashMap<String, String>, now_ms: i64) -> Result<UsageQuery, ApiError> {
    let time = |name: &str| -> Result<Option<i64>, ApiError> {
        text(m, name)
            .map(|v| {
                crate::store::time::parse_rfc3339(v).ok_or_else(|| {
                    ApiError::invalid_request(format!(
                        "{name}: expected an RFC 3339 time such as 2026-01-31T09:00:00Z, got {v:?}"
                    ))
                })
            })
            .transpose()
    };
    let to_ms = time("to")?.unwrap_or(now_ms);
    let from_ms = time("from")?.unwrap_or(to_ms - DEFAULT_RANGE_MS);
    if from_ms >= to_ms {
        return Err(ApiError::invalid_request("from: must be before to"));
    }
    let bucket = match text(m, "bucket") {
        None => Bucket::Hour,
        Some(v) => Bucket::parse(v).ok_or_else(|| {
            ApiError::invalid_request(format!("bucket: expected minute, hour or day, got {v:?}"))
        })?,
    };
    let group = match text(m, "group") {
        None => Group::All,
        Some(v) => Group::parse(v).ok_or_else(|| {
            ApiError::invalid_request(format!(
                "group: expected upstream, model, key or client (or all), got {v:?}"
            ))
        })?,
    };
    let q = UsageQuery {
        from_ms,
        to_ms,
        bucket,
        group,
    };
    let n = q.buckets();
    if n > MAX_BUCKETS {
        return Err(ApiError::invalid_request(format!(
            "bucket: the range holds {n} buckets of a {}, at most {MAX_BUCKETS}; choose a larger bucket or a shorter range",
            match bucket {
                Bucket::Minute => "minute",
                Bucket::Hour => "hour",
                Bucket::Day => "day",
            }
        )));
    }
    Ok(q)
}

/// `GET requests/live`: each finished request as `event: request`, a
/// keep-alive comment every 15 s; ends at shutdown. A client that falls
/// behind skips rows and is told so in a comment.
async fn live(State(state): State<Arc<AppState>>) -> Response {
    let rx = state.store.subscribe();
    let closing = state.store.live_closing();
    let events = futures_util::stream::unfold((rx, closing), |(mut rx, mut closing)| async move {
        loop {
            if *closing.borrow() {
                return None;
            }
            tokio::select! {
                got = rx.recv() => match got {
                    Ok(row) => match Event::default().event("request").json_data(&*row) {
                        Ok(ev) => return Some((Ok::<_, Infallible>(ev), (rx, closing))),
                        // A row always serializes; skip rather than end the feed.
                        Err(_) => continue,
                    },
                    Err(RecvError::Lagged(n)) => {
                        let note = Event::default().comment(format!("skipped {n} requests: this feed fell behind"));
                        return Some((Ok(note), (rx, closing)));
                    }
                    Err(RecvError::Closed) => return None,
                },
                changed = closing.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
            }
        }
    });
    let sse = Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)));
    // Reverse proxies must pass each event on at once.
    ([("x-accel-buffering", "no")], sse).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn message(e: ApiError) -> String {
        assert_eq!(e.status, 400);
        e.message
    }

    #[test]
    fn list_parameters_are_checked_by_name() {
        let q = list_query(&map(&[])).unwrap();
        assert_eq!((q.limit, q.status, q.before), (50, None, None));
        let q = list_query(&map(&[
            ("limit", "500"),
            ("status", "ERROR"),
            ("model", " m "),
            ("client", "ci-bot"),
        ]))
        .unwrap();
        assert_eq!(
            (q.limit, q.status, q.model.as_deref(), q.client.as_deref()),
            (500, Some(StatusFilter::Error), Some("m"), Some("ci-bot"))
        );
        let q = list_query(&map(&[("status", "429"), ("q", "")])).unwrap();
        assert_eq!((q.status, q.q), (Some(StatusFilter::Code(429)), None));
        for (k, v) in [
            ("limit", "0"),
            ("limit", "501"),
            ("limit", "ten"),
            ("status", "42"),
            ("status", "oops"),
        ] {
            let m = message(list_query(&map(&[(k, v)])).unwrap_err());
            assert!(m.starts_with(&format!("{k}: ")), "{m}");
        }
        let long = "x".repeat(201);
        assert!(message(list_query(&map(&[("q", &long)])).unwrap_err()).starts_with("q: "));
    }

    #[test]
    fn usage_parameters_default_and_are_checked_by_name() {
        let now = 1_764_135_880_123;
        let q = usage_query(&map(&[]), now).unwrap();
        assert_eq!(
            (q.from_ms, q.to_ms, q.bucket, q.group),
            (now - DEFAULT_RANGE_MS, now, Bucket::Hour, Group::All)
        );
        let q = usage_query(
            &map(&[
                ("from", "2025-11-26T00:00:00Z"),
                ("to", "2025-11-27T00:00:00Z"),
                ("bucket", "minute"),
                ("group", "key"),
            ]),
            now,
        )
        .unwrap();
        assert_eq!((q.buckets(), q.group), (1440, Group::Key));
        for (pairs, name) in [
            (&[("from", "yesterday")][..], "from"),
            (&[("to", "2025-11-26")], "to"),
            (&[("bucket", "week")], "bucket"),
            (&[("group", "region")], "group"),
            (
                &[
                    ("from", "2025-11-27T00:00:00Z"),
                    ("to", "2025-11-26T00:00:00Z"),
                ],
                "from",
            ),
            (
                &[
                    ("from", "2025-01-01T00:00:00Z"),
                    ("to", "2025-11-26T00:00:00Z"),
                    ("bucket", "minute"),
                ],
                "bucket",
            ),
        ] {
            let m = message(usage_query(&map(pairs), now).unwrap_err());
            assert!(m.starts_with(&format!("{name}: ")), "{pairs:?}: {m}");
        }
    }
}
