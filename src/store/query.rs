//! Reads for the admin API: the request log (newest first, keyset
//! pagination, filters), one request with its bodies, and usage aggregates
//! from the rollups. Plain blocking functions on a connection; the
//! [`super::Store`] runs them on the blocking pool.

use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use super::db::{self, DIM_ALL, DIM_CLIENT, DIM_KEY, DIM_MODEL, DIM_UPSTREAM};
use super::hist;
use super::row::{RequestDetail, RequestRow};

/// Most rows one page of the request log may ask for.
pub(crate) const MAX_LIMIT: usize = 500;

/// Most buckets one usage query may span (a week of minutes).
pub(crate) const MAX_BUCKETS: i64 = 10_080;

/// `status=` of the request log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// Exactly this status.
    Code(u16),
    /// Every error: a 4xx/5xx or a stream that ended with an error.
    Error,
}

/// The request log's parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Rows per page, 1..=`MAX_LIMIT`.
    pub limit: usize,
    /// Only rows written before the row with this id.
    pub before: Option<String>,
    /// Only rows of this upstream (exact name).
    pub upstream: Option<String>,
    /// The requested or the upstream model.
    pub model: Option<String>,
    /// Only successes or only errors.
    pub status: Option<StatusFilter>,
    /// A substring (ASCII case-insensitive) of the id, a model or the error
    /// message.
    pub q: Option<String>,
    /// Exactly this client (a named client key's name). No index serves
    /// it: a page with it is windowed, like a `q` search.
    pub client: Option<String>,
}

/// One page of the request log. A windowed page (see [`list`]) may hold
/// fewer than `limit` rows and still have more.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    /// The rows, newest first.
    pub data: Vec<RequestRow>,
    /// More rows match beyond this page.
    pub has_more: bool,
    /// The `before` of the next page.
    pub next_before: Option<String>,
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The `before` cursor names no stored row.
    #[error("no stored request has id {0:?} (it may have been pruned)")]
    UnknownCursor(String),
    /// SQLite failed.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

const COLUMNS: &str =
    "r.id, r.ts, r.endpoint, r.route, r.upstream, r.key, r.model, r.upstream_model,
    r.stream, r.status, r.error_type, r.error_message, r.latency_ms, r.ttfb_ms, r.input_tokens,
    r.output_tokens, r.cache_read_tokens, r.cache_write_tokens, r.retries, r.upstreams_tried,
    r.client_gone, r.client, r.cost_usd";

fn row_of(r: &Row<'_>) -> rusqlite::Result<RequestRow> {
    let tokens = |i: usize| -> rusqlite::Result<Option<u64>> {
        Ok(r.get::<_, Option<i64>>(i)?
            .map(|n| u64::try_from(n).unwrap_or(0)))
    };
    Ok(RequestRow {
        id: r.get(0)?,
        time_ms: r.get(1)?,
        endpoint: r.get(2)?,
        route: r.get(3)?,
        upstream: r.get(4)?,
        key: r.get(5)?,
        model: r.get(6)?,
        upstream_model: r.get(7)?,
        stream: r.get(8)?,
        status: r.get(9)?,
        error_type: r.get(10)?,
        error_message: r.get(11)?,
        latency_ms: r.get(12)?,
        ttfb_ms: r.get(13)?,
        input_tokens: tokens(14)?,
        output_tokens: tokens(15)?,
        cache_read_tokens: tokens(16)?,
        cache_write_tokens: tokens(17)?,
        retries: r.get(18)?,
        upstreams_tried: r.get(19)?,
        client_gone: r.get(20)?,
        client: r.get(21)?,
        cost_usd: r.get(22)?,
    })
}

/// `%text%` for LIKE, with LIKE's own characters escaped.
fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Requests one page may look at when no single index serves its filters
/// (a `q` search, or several filters at once).
pub(crate) const SCAN_WINDOW: i64 = 50_000;

/// One page of the request log, newest first.
///
/// A single filter is an equality on an indexed column whose index also
/// orders by `seq`, so the page reads about `limit` index entries however
/// common or rare the value. A `q` search (a substring) or several filters
/// at once, or a `client` filter, look at rows one by one; such a page
/// looks at most `SCAN_WINDOW` requests back from its cursor, and when it
/// finds fewer
/// than `limit` there, `hasMore` is still true and `nextBefore` continues
/// the search further back. Every page is bounded work.
pub fn list(conn: &Connection, q: &ListQuery) -> Result<Page, QueryError> {
    list_within(conn, q, SCAN_WINDOW)
}

pub(crate) fn list_within(
    conn: &Connection,
    q: &ListQuery,
    window: i64,
) -> Result<Page, QueryError> {
    let limit = q.limit.clamp(1, MAX_LIMIT);
    // One more than asked: whether there is a next page.
    let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
    let mut rest = String::new();
    let mut args: Vec<Value> = Vec::new();
    let cursor = match &q.before {
        None => None,
        Some(before) => {
            let seq: Option<i64> = conn
                .query_row("SELECT seq FROM requests WHERE id = ?1", [before], |r| {
                    r.get(0)
                })
                .optional()?;
            let seq = seq.ok_or_else(|| QueryError::UnknownCursor(before.clone()))?;
            rest.push_str(" AND seq < ?");
            args.push(Value::Integer(seq));
            Some(seq)
        }
    };
    let filters = [q.upstream.is_some(), q.model.is_some(), q.status.is_some()];
    let windowed =
        q.q.is_some() || q.client.is_some() || filters.iter().filter(|f| **f).count() > 1;
    // [floor, top): the rows this page may look at.
    let mut window_bounds = None;
    if windowed {
        let top = match cursor {
            Some(seq) => seq,
            None => {
                let max: Option<i64> =
                    conn.query_row("SELECT max(seq) FROM requests", [], |r| r.get(0))?;
                max.unwrap_or(0) + 1
            }
        };
        let floor = top.saturating_sub(window);
        rest.push_str(" AND seq >= ?");
        args.push(Value::Integer(floor));
        window_bounds = Some((floor, top));
    }
    if let Some(up) = &q.upstream {
        rest.push_str(" AND upstream = ?");
        args.push(Value::Text(up.clone()));
    }
    if let Some(client) = &q.client {
        rest.push_str(" AND client = ?");
        args.push(Value::Text(client.clone()));
    }
    match q.status {
        None => {}
        Some(StatusFilter::Code(code)) => {
            rest.push_str(" AND status = ?");
            args.push(Value::Integer(i64::from(code)));
        }
        // Word for word the condition of the partial index requests_errors.
        Some(StatusFilter::Error) => {
            rest.push_str(" AND (status >= 400 OR error_message IS NOT NULL)")
        }
    }
    if let Some(text) = &q.q {
        rest.push_str(
            " AND (id LIKE ? ESCAPE '\\' OR model LIKE ? ESCAPE '\\'
                  OR upstream_model LIKE ? ESCAPE '\\' OR error_message LIKE ? ESCAPE '\\')",
        );
        let pattern = like_pattern(text);
        args.extend(std::iter::repeat_n(Value::Text(pattern), 4));
    }
    let (sql, args) = match &q.model {
        None => (
            format!(
                "SELECT {COLUMNS} FROM requests r WHERE 1 = 1{rest} ORDER BY seq DESC LIMIT {fetch}"
            ),
            args,
        ),
        Some(model) => {
            // Requested or upstream model: each side walks its own index in
            // seq order and stops after a page; the union is sorted again.
            let mut both = Vec::with_capacity(args.len() * 2 + 2);
            both.push(Value::Text(model.clone()));
            both.extend(args.iter().cloned());
            both.push(Value::Text(model.clone()));
            both.extend(args);
            (
                format!(
                    "SELECT {COLUMNS} FROM requests r WHERE seq IN (
                        SELECT seq FROM (SELECT seq FROM requests WHERE model = ?{rest}
                                         ORDER BY seq DESC LIMIT {fetch})
                        UNION
                        SELECT seq FROM (SELECT seq FROM requests WHERE upstream_model = ?{rest}
                                         ORDER BY seq DESC LIMIT {fetch})
                    ) ORDER BY seq DESC LIMIT {fetch}"
                ),
                both,
            )
        }
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt
        .query_map(rusqlite::params_from_iter(args), row_of)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut has_more = rows.len() > limit;
    rows.truncate(limit);
    let mut next_before = if has_more {
        rows.last().map(|r| r.id.clone())
    } else {
        None
    };
    if let (false, Some((floor, top))) = (has_more, window_bounds) {
        // The window ran out before the page filled: go on below it, from
        // its oldest row, if older rows exist.
        let min: Option<i64> = conn.query_row("SELECT min(seq) FROM requests", [], |r| r.get(0))?;
        if min.is_some_and(|m| m < floor) {
            next_before = conn
                .query_row(
                    "SELECT id FROM requests WHERE seq >= ?1 AND seq < ?2 ORDER BY seq LIMIT 1",
                    params![floor, top],
                    |r| r.get(0),
                )
                .optional()?;
            has_more = next_before.is_some();
        }
    }
    Ok(Page {
        data: rows,
        has_more,
        next_before,
    })
}

/// One request and its bodies.
pub fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<RequestDetail>> {
    let sql = format!(
        "SELECT {COLUMNS}, b.request, b.response FROM requests r
         LEFT JOIN request_bodies b ON b.id = r.id WHERE r.id = ?1"
    );
    conn.prepare_cached(&sql)?
        .query_row([id], |r| {
            Ok(RequestDetail {
                row: row_of(r)?,
                request_body: r.get(23)?,
                response_body: r.get(24)?,
            })
        })
        .optional()
}

/// The bucket of a usage aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    /// One-minute buckets.
    Minute,
    /// One-hour buckets.
    Hour,
    /// One-day buckets (UTC days).
    Day,
}

impl Bucket {
    /// `minute`, `hour` or `day`.
    pub fn parse(s: &str) -> Option<Bucket> {
        match s {
            "minute" => Some(Bucket::Minute),
            "hour" => Some(Bucket::Hour),
            "day" => Some(Bucket::Day),
            _ => None,
        }
    }

    /// The length in seconds.
    pub fn seconds(self) -> i64 {
        match self {
            Bucket::Minute => 60,
            Bucket::Hour => 3600,
            Bucket::Day => 86_400,
        }
    }
}

/// What a usage aggregate is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    /// One group, `"all"`.
    All,
    /// The upstream that answered (or was tried last).
    Upstream,
    /// The upstream model (the requested one when none was chosen).
    Model,
    /// The masked key fingerprint.
    Key,
    /// The client key's name.
    Client,
}

impl Group {
    /// `all`, `upstream`, `model`, `key` or `client`.
    pub fn parse(s: &str) -> Option<Group> {
        match s {
            "all" => Some(Group::All),
            "upstream" => Some(Group::Upstream),
            "model" => Some(Group::Model),
            "key" => Some(Group::Key),
            "client" => Some(Group::Client),
            _ => None,
        }
    }

    fn dim(self) -> i64 {
        match self {
            Group::All => DIM_ALL,
            Group::Upstream => DIM_UPSTREAM,
            Group::Model => DIM_MODEL,
            Group::Key => DIM_KEY,
            Group::Client => DIM_CLIENT,
        }
    }
}

/// A usage aggregate's parameters. The range is widened to whole buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageQuery {
    /// Start of the range, ms since the Unix epoch (inclusive).
    pub from_ms: i64,
    /// End of the range, ms since the Unix epoch (exclusive).
    pub to_ms: i64,
    /// The bucket length.
    pub bucket: Bucket,
    /// What each bucket is split by.
    pub group: Group,
}

impl UsageQuery {
    /// `[from, to)` widened to whole buckets.
    pub(crate) fn aligned(&self) -> (i64, i64) {
        let span = self.bucket.seconds() * 1000;
        let from = db::bucket_start(self.from_ms, span / 1000);
        let to_start = db::bucket_start(self.to_ms, span / 1000);
        let to = if to_start == self.to_ms {
            to_start
        } else {
            to_start.saturating_add(span)
        };
        (from, to)
    }

    /// How many buckets the aligned range holds.
    pub(crate) fn buckets(&self) -> i64 {
        let (from, to) = self.aligned();
        (to - from) / (self.bucket.seconds() * 1000)
    }
}

/// A usage aggregate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageReport {
    /// The bucket length asked for.
    pub bucket: Bucket,
    /// The grouping asked for.
    pub group: Group,
    /// The range covered: the asked one widened to whole buckets.
    #[serde(serialize_with = "super::time::serialize_ms")]
    pub from: i64,
    /// End of the range covered (exclusive).
    #[serde(serialize_with = "super::time::serialize_ms")]
    pub to: i64,
    /// One per bucket and group that had requests, by bucket then group.
    pub rows: Vec<UsageRow>,
}

/// One bucket of one group.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageRow {
    /// Start of the bucket; sent as RFC 3339 UTC.
    #[serde(serialize_with = "super::time::serialize_ms")]
    pub bucket_start: i64,
    /// The group's value: `"all"`, or an upstream, model, key fingerprint
    /// or client; `null` for requests that had none (e.g. refused before
    /// an upstream was chosen).
    pub group: Option<String>,
    /// Requests that ended in the bucket.
    pub requests: u64,
    /// Of those, the ones that failed (a status of 400 or more, or an error
    /// mid-stream).
    pub errors: u64,
    /// Input tokens, cached ones included.
    pub input_tokens: u64,
    /// Output tokens, thinking included.
    pub output_tokens: u64,
    /// Input tokens read from the upstream's prompt cache.
    pub cache_read_tokens: u64,
    /// Input tokens written to the upstream's prompt cache.
    pub cache_write_tokens: u64,
    /// Over the requests with a price; `null` when none had one.
    pub cost_usd: Option<f64>,
    /// Median latency (whole request), in ms; `null` without requests.
    pub latency_p50_ms: Option<f64>,
    /// 95th percentile of the latency, in ms.
    pub latency_p95_ms: Option<f64>,
    /// Median time to the upstream's response headers, in ms; `null` when none was reached.
    pub ttfb_p50_ms: Option<f64>,
    /// 95th percentile of that time, in ms.
    pub ttfb_p95_ms: Option<f64>,
}

/// Usage per bucket and group, read from the rollups: one primary-key range,
/// exactly the rows of the answer.
pub fn usage(conn: &Connection, q: &UsageQuery) -> rusqlite::Result<UsageReport> {
    let (from, to) = q.aligned();
    let mut stmt = conn.prepare_cached(
        "SELECT bucket, value, requests, errors, input_tokens, output_tokens, cache_read_tokens,
                cache_write_tokens, cost_usd, priced, latency_hist, ttfb_hist
         FROM usage WHERE span = ?1 AND dim = ?2 AND bucket >= ?3 AND bucket < ?4
         ORDER BY bucket, value",
    )?;
    let count = |r: &Row<'_>, i: usize| -> rusqlite::Result<u64> {
        Ok(u64::try_from(r.get::<_, i64>(i)?).unwrap_or(0))
    };
    let rows = stmt
        .query_map(params![q.bucket.seconds(), q.group.dim(), from, to], |r| {
            let value: String = r.get(1)?;
            let priced = count(r, 9)?;
            let latency = r.get_ref(10)?.as_blob()?;
            let (latency_p50_ms, latency_p95_ms) =
                (hist::quantile(latency, 0.5), hist::quantile(latency, 0.95));
            let ttfb = r.get_ref(11)?.as_blob()?;
            let (ttfb_p50_ms, ttfb_p95_ms) =
                (hist::quantile(ttfb, 0.5), hist::quantile(ttfb, 0.95));
            Ok(UsageRow {
                bucket_start: r.get(0)?,
                group: match q.group {
                    Group::All => Some("all".to_owned()),
                    _ if value.is_empty() => None,
                    _ => Some(value),
                },
                requests: count(r, 2)?,
                errors: count(r, 3)?,
                input_tokens: count(r, 4)?,
                output_tokens: count(r, 5)?,
                cache_read_tokens: count(r, 6)?,
                cache_write_tokens: count(r, 7)?,
                cost_usd: (priced > 0).then(|| r.get::<_, f64>(8)).transpose()?,
                latency_p50_ms,
                latency_p95_ms,
                ttfb_p50_ms,
                ttfb_p95_ms,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(UsageReport {
        bucket: q.bucket,
        group: q.group,
        from,
        to,
        rows,
    })
}
