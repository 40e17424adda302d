//! The store against real SQLite files in temp dirs: batching, drops when
//! full, retention, unusable databases, the request log and aggregates.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;

use super::query::{Bucket, Group, ListQuery, StatusFilter, UsageQuery};
use super::*;
use crate::config::Prices;
use crate::protocol::anthropic::Usage;

const WAIT: Duration = Duration::from_secs(10);

fn opts(dir: &Path) -> StoreOptions {
    let mut o = StoreOptions::new(dir.join("data"));
    // Fast retries, so recovery tests take milliseconds.
    o.retry_min = Duration::from_millis(20);
    o.retry_max = Duration::from_millis(100);
    o.busy_timeout = Duration::from_millis(50);
    o
}

/// Polls `cond` (bounded by [`WAIT`]).
fn until(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

fn row(id: &str, time_ms: i64) -> RequestRow {
    RequestRow {
        id: id.to_owned(),
        time_ms,
        endpoint: "messages".into(),
        route: "default".into(),
        upstream: Some("openai".into()),
        key: Some("sk-abcde…wxyz".into()),
        model: Some("claude-sonnet-4-5".into()),
        upstream_model: Some("gpt-4o".into()),
        stream: false,
        status: 200,
        error_type: None,
        error_message: None,
        latency_ms: 100.0,
        ttfb_ms: Some(50.0),
        input_tokens: Some(10),
        output_tokens: Some(5),
        cache_read_tokens: Some(0),
        cache_write_tokens: Some(0),
        retries: 0,
        upstreams_tried: 1,
        client_gone: false,
        client: None,
        cost_usd: None,
    }
}

fn stored(store: &Store) -> u64 {
    store.read_blocking(|c| Ok(db::count_rows(c)?)).unwrap_or(0)
}

fn list(store: &Store, q: ListQuery) -> query::Page {
    store
        .read_blocking(move |c| Ok(query::list(c, &q)?))
        .unwrap()
}

fn ids(page: &query::Page) -> Vec<&str> {
    page.data.iter().map(|r| r.id.as_str()).collect()
}

fn open_ok(o: StoreOptions) -> Store {
    let store = Store::open(o);
    assert!(
        until(|| store.shared.opened.load(Ordering::Acquire)),
        "{:?}",
        store.state()
    );
    store
}

#[test]
fn rows_are_written_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.batch_max = 3;
    o.batch_wait = Duration::from_secs(30);
    let store = open_ok(o);
    let now = time::now_ms();
    for i in 0..7 {
        store.record(row(&format!("req_{i}"), now));
    }
    // Two full batches commit without waiting; the seventh row waits for
    // its batch to fill (30 s) or a flush.
    assert!(until(|| stored(&store) == 6), "{}", stored(&store));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(stored(&store), 6);
    assert_eq!(store.shared.commits.load(Ordering::Relaxed), 2);
    assert!(store.flush(WAIT));
    assert_eq!(stored(&store), 7);
    assert_eq!(store.shared.commits.load(Ordering::Relaxed), 3);
    assert_eq!(store.status_json()["rows"], 7);

    // A lone row is written once the batch deadline passes.
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.batch_wait = Duration::from_millis(50);
    let store = open_ok(o);
    store.record(row("req_alone", now));
    assert!(until(|| stored(&store) == 1));
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.capacity = 2;
    // Nobody drains the queue yet.
    let (store, rx) = Store::unstarted(&o);
    // A recorder of this thread's own: the count is this test's alone.
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let started = Instant::now();
    metrics::with_local_recorder(&recorder, || {
        for i in 0..5 {
            store.record(row(&format!("req_{i}"), time::now_ms()));
        }
    });
    assert!(started.elapsed() < Duration::from_millis(100));
    assert_eq!(store.dropped(), 3);
    assert_eq!(store.status_json()["dropped"], 3);
    let dropped: f64 = handle
        .render()
        .lines()
        .find(|l| l.starts_with("claude_proxy_store_dropped_total{reason=\"queue_full\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0);
    assert_eq!(dropped, 3.0);
    // The two that fit are written once a writer runs.
    store.start(o, rx);
    assert!(store.flush(WAIT));
    assert_eq!(stored(&store), 2);
}

#[test]
fn old_rows_and_rollups_are_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.retention = Duration::from_secs(86_400);
    o.bodies = true;
    let store = open_ok(o);
    let now = time::now_ms();
    let day = 86_400_000;
    for (id, t) in [
        ("req_old1", now - 3 * day),
        ("req_old2", now - 2 * day),
        ("req_new", now),
    ] {
        store.record(row(id, t));
        store.record_bodies(StoredBodies {
            id: id.into(),
            time_ms: t,
            request: "{}".into(),
            response: "{}".into(),
        });
    }
    assert!(store.flush(WAIT));
    assert_eq!(stored(&store), 3);
    assert!(store.prune_now(WAIT));
    let page = list(
        &store,
        ListQuery {
            limit: 10,
            ..Default::default()
        },
    );
    assert_eq!(ids(&page), ["req_new"]);
    assert_eq!(store.status_json()["rows"], 1);
    let (bodies, old_buckets): (i64, i64) = store
        .read_blocking(move |c| {
            let b = c.query_row("SELECT count(*) FROM request_bodies", [], |r| r.get(0))?;
            // Daily rollups of the current month stay (they seed client
            // budgets, see budgets.rs); everything else older is gone.
            let u = c.query_row(
                "SELECT count(*) FROM usage WHERE bucket + span * 1000 < ?1
                   AND (span != 86400 OR bucket + span * 1000 < ?2)",
                [now - day, crate::time::month_start(now)],
                |r| r.get(0),
            )?;
            Ok((b, u))
        })
        .unwrap();
    assert_eq!((bodies, old_buckets), (1, 0));
}

#[test]
fn pruning_gives_the_space_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.retention = Duration::from_secs(86_400);
    o.batch_max = 5000;
    let store = open_ok(o.clone());
    let old = time::now_ms() - 2 * 86_400_000;
    for i in 0..3000 {
        let mut r = row(&format!("req_{i:05}"), old + i);
        r.error_message = Some("x".repeat(500));
        store.record(r);
    }
    assert!(store.flush(WAIT));
    let pages = |c: &rusqlite::Connection| -> rusqlite::Result<(i64, i64)> {
        Ok((
            c.pragma_query_value(None, "page_count", |r| r.get(0))?,
            c.pragma_query_value(None, "freelist_count", |r| r.get(0))?,
        ))
    };
    let (before, _) = store.read_blocking(|c| Ok(pages(c)?)).unwrap();
    assert!(store.prune_now(WAIT));
    assert_eq!(stored(&store), 0);
    let c = rusqlite::Connection::open(&o.path).unwrap();
    let (after, free) = pages(&c).unwrap();
    assert!(after < before / 4, "{before} → {after} pages");
    assert_eq!(free, 0);
}

#[test]
fn minute_rollups_are_kept_for_a_week_within_the_retention() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_ok(opts(dir.path()));
    let now = time::now_ms();
    store.record(row("req_10_days", now - 10 * 86_400_000));
    assert!(store.prune_now(WAIT));
    let spans: Vec<i64> = store
        .read_blocking(|c| {
            let mut s = c.prepare("SELECT DISTINCT span FROM usage ORDER BY span")?;
            let spans = s
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(spans)
        })
        .unwrap();
    assert_eq!(spans, [3600, 86_400]);
    assert_eq!(stored(&store), 1, "the row itself is within the 30 days");
}

#[test]
fn a_corrupt_file_is_an_error_state_until_it_is_moved_away() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path());
    std::fs::create_dir_all(&o.dir).unwrap();
    std::fs::write(&o.path, vec![0x5a; 8192]).unwrap();
    let store = Store::open(o.clone());
    assert!(until(|| matches!(store.state(), StoreState::Error(_))));
    let StoreState::Error(message) = store.state() else {
        unreachable!()
    };
    assert!(message.contains("not a SQLite database"), "{message}");
    assert!(message.contains("claude-proxy.db"), "{message}");
    // Rows keep arriving; they are kept for later, never block.
    store.record(row("req_kept", time::now_ms()));
    assert!(matches!(
        store.read_blocking(|_| Ok(())),
        Err(StoreError::Unavailable(_))
    ));
    assert_eq!(store.status_json()["state"], "error");
    std::fs::remove_file(&o.path).unwrap();
    assert!(
        until(|| store.state() == StoreState::Ok),
        "{:?}",
        store.state()
    );
    assert!(store.flush(WAIT));
    assert!(until(|| stored(&store) == 1));
}

#[test]
fn an_unusable_database_logs_one_error_however_often_it_retries() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path());
    std::fs::create_dir_all(&o.dir).unwrap();
    std::fs::write(&o.path, vec![0x5a; 8192]).unwrap();
    let store = Store::open(o.clone());
    let logged = || store.shared.errors_logged.load(Ordering::Relaxed);
    assert!(until(|| logged() == 1));
    // Retries every 20–100 ms, for half a second, with rows arriving.
    for i in 0..20 {
        store.record(row(&format!("req_{i}"), time::now_ms()));
        std::thread::sleep(Duration::from_millis(25));
    }
    assert_eq!(logged(), 1);
    std::fs::remove_file(&o.path).unwrap();
    assert!(until(|| store.state() == StoreState::Ok));
    assert!(store.flush(WAIT));
    assert_eq!(stored(&store), 20, "the rows kept meanwhile");
    // A new incident is a new line.
    let locker = rusqlite::Connection::open(&o.path).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    store.record(row("req_locked", time::now_ms()));
    assert!(store.flush(WAIT));
    assert!(until(|| logged() == 2));
}

#[test]
fn a_locked_database_recovers_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path());
    let store = open_ok(o.clone());
    store.record(row("req_before", time::now_ms()));
    assert!(store.flush(WAIT));
    let locker = rusqlite::Connection::open(&o.path).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    store.record(row("req_during", time::now_ms()));
    assert!(store.flush(WAIT));
    let StoreState::Error(message) = store.state() else {
        panic!("{:?}", store.state())
    };
    assert!(message.contains("locked"), "{message}");
    locker.execute_batch("COMMIT").unwrap();
    assert!(
        until(|| store.state() == StoreState::Ok),
        "{:?}",
        store.state()
    );
    assert!(until(|| stored(&store) == 2));
}

#[test]
fn an_unwritable_data_dir_is_an_error_state() {
    let dir = tempfile::tempdir().unwrap();
    // A file where a directory should be: fails for root too.
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let mut o = opts(dir.path());
    o.dir = file.join("data");
    o.path = o.dir.join(db::FILE_NAME);
    let store = Store::open(o);
    assert!(until(|| matches!(store.state(), StoreState::Error(_))));
    let json = store.status_json();
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("cannot create DATA_DIR"),
        "{json}"
    );
    assert_eq!(json["rows"], serde_json::Value::Null);
    store.record(row("req_x", time::now_ms()));
}

#[test]
fn a_newer_schema_is_refused_without_touching_it() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path());
    std::fs::create_dir_all(&o.dir).unwrap();
    let c = rusqlite::Connection::open(&o.path).unwrap();
    c.pragma_update(None, "user_version", 99).unwrap();
    drop(c);
    let store = Store::open(o.clone());
    assert!(until(|| matches!(store.state(), StoreState::Error(_))));
    let StoreState::Error(m) = store.state() else {
        unreachable!()
    };
    assert!(m.contains("schema version 99"), "{m}");
    let c = rusqlite::Connection::open(&o.path).unwrap();
    let tables: i64 = c
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 0);
}

#[test]
fn migrations_run_once_and_the_file_is_wal() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path());
    let store = open_ok(o.clone());
    store.record(row("req_1", time::now_ms()));
    assert!(store.flush(WAIT));
    drop(store);
    let store = open_ok(o.clone());
    assert_eq!(stored(&store), 1);
    let c = rusqlite::Connection::open(&o.path).unwrap();
    let version: u32 = c
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    let mode: String = c
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!((version, mode.as_str()), (db::SCHEMA_VERSION, "wal"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&o.dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}

#[test]
fn the_request_log_pages_newest_first_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_ok(opts(dir.path()));
    let now = time::now_ms();
    for i in 0..120 {
        let mut r = row(&format!("req_{i:03}"), now + i);
        if i % 10 == 0 {
            r.status = 429;
            r.error_type = Some("rate_limit_error".into());
            r.error_message = Some(format!("Too many requests #{i}"));
        }
        if i % 3 == 0 {
            r.upstream = Some("gemini".into());
            r.upstream_model = Some("gemini-2.5-pro".into());
        }
        if i == 7 {
            // A stream that failed after its 200.
            r.stream = true;
            r.error_message = Some("upstream connection broke mid-stream".into());
        }
        store.record(r);
    }
    assert!(store.flush(WAIT));
    let all = |before: Option<String>| ListQuery {
        limit: 50,
        before,
        ..Default::default()
    };
    let p1 = list(&store, all(None));
    assert_eq!(p1.data.len(), 50);
    assert_eq!(p1.data[0].id, "req_119");
    assert!(p1.has_more);
    assert_eq!(p1.next_before.as_deref(), Some("req_070"));
    let p2 = list(&store, all(p1.next_before.clone()));
    assert_eq!((p2.data[0].id.as_str(), p2.data.len()), ("req_069", 50));
    let p3 = list(&store, all(p2.next_before.clone()));
    assert_eq!(p3.data.len(), 20);
    assert!(!p3.has_more);
    assert_eq!(p3.next_before, None);
    assert_eq!(p3.data.last().unwrap().id, "req_000");

    let count = |q: ListQuery| list(&store, ListQuery { limit: 500, ..q }).data.len();
    let up = |u: &str| ListQuery {
        upstream: Some(u.into()),
        ..Default::default()
    };
    assert_eq!(count(up("gemini")), 40);
    assert_eq!(count(up("nope")), 0);
    let model = |m: &str| ListQuery {
        model: Some(m.into()),
        ..Default::default()
    };
    assert_eq!(count(model("gemini-2.5-pro")), 40, "upstream model");
    assert_eq!(count(model("claude-sonnet-4-5")), 120, "requested model");
    let status = |s| ListQuery {
        status: Some(s),
        ..Default::default()
    };
    assert_eq!(count(status(StatusFilter::Code(429))), 12);
    assert_eq!(count(status(StatusFilter::Code(200))), 108);
    assert_eq!(
        count(status(StatusFilter::Error)),
        13,
        "429s and the broken stream"
    );
    let q = |s: &str| ListQuery {
        q: Some(s.into()),
        ..Default::default()
    };
    assert_eq!(count(q("TOO MANY")), 12, "case-insensitive");
    assert_eq!(count(q("req_11")), 10);
    assert_eq!(count(q("mid-stream")), 1);
    assert_eq!(count(q("100%")), 0, "% is literal");
    assert_eq!(count(q("req\\_")), 0, "\\ is literal");
    // Filters combine, and page with the model union too.
    let mixed = ListQuery {
        limit: 5,
        model: Some("gemini-2.5-pro".into()),
        status: Some(StatusFilter::Code(429)),
        ..Default::default()
    };
    let p = list(&store, mixed.clone());
    assert_eq!(ids(&p), ["req_090", "req_060", "req_030", "req_000"]);
    let p = list(
        &store,
        ListQuery {
            limit: 2,
            ..mixed.clone()
        },
    );
    assert_eq!(
        (ids(&p), p.next_before.as_deref()),
        (vec!["req_090", "req_060"], Some("req_060"))
    );
    let p = list(
        &store,
        ListQuery {
            before: p.next_before.clone(),
            ..mixed
        },
    );
    assert_eq!(ids(&p), ["req_030", "req_000"]);
    let err = store
        .read_blocking(|c| Ok(query::list(c, &all(Some("req_gone".into())))?))
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownCursor(_)), "{err}");
}

#[test]
fn a_search_looks_a_bounded_window_back_and_continues_below_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_ok(opts(dir.path()));
    let now = time::now_ms();
    for i in 0..100 {
        let mut r = row(&format!("req_{i:03}"), now + i);
        if i % 25 == 0 {
            r.error_message = Some(format!("needle {i}"));
        }
        store.record(r);
    }
    assert!(store.flush(WAIT));
    // A window of 30 rows: the pages of a search for "needle" (at rows 0,
    // 25, 50 and 75) walk down 30 rows at a time.
    let mut pages = Vec::new();
    let mut before = None;
    for _ in 0..10 {
        let q = ListQuery {
            limit: 10,
            q: Some("needle".into()),
            before: before.clone(),
            ..Default::default()
        };
        let page = store
            .read_blocking(move |c| Ok(query::list_within(c, &q, 30)?))
            .unwrap();
        pages.push(ids(&page).join(","));
        if !page.has_more {
            break;
        }
        before = page.next_before;
    }
    assert_eq!(pages, ["req_075", "req_050", "req_025", "req_000"]);
    // The window stops at the oldest row: no endless empty pages.
    let q = ListQuery {
        limit: 10,
        q: Some("nothing".into()),
        ..Default::default()
    };
    let page = store
        .read_blocking(move |c| Ok(query::list_within(c, &q, 1000)?))
        .unwrap();
    assert!(page.data.is_empty() && !page.has_more);
    // Several filters are windowed too; one filter is not.
    let two = ListQuery {
        limit: 10,
        upstream: Some("openai".into()),
        status: Some(StatusFilter::Code(200)),
        ..Default::default()
    };
    let page = store
        .read_blocking(move |c| Ok(query::list_within(c, &two, 5)?))
        .unwrap();
    assert_eq!((page.data.len(), page.has_more), (5, true));
    assert_eq!(page.next_before.as_deref(), Some("req_095"));
    let one = ListQuery {
        limit: 10,
        upstream: Some("openai".into()),
        ..Default::default()
    };
    let page = store
        .read_blocking(move |c| Ok(query::list_within(c, &one, 5)?))
        .unwrap();
    assert_eq!(page.data.len(), 10);
}

#[test]
fn the_request_log_filters_by_client_within_a_window() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_ok(opts(dir.path()));
    let now = time::now_ms();
    for i in 0..60 {
        let mut r = row(&format!("req_{i:03}"), now + i);
        r.client = match i % 3 {
            0 => Some("ci".into()),
            1 => Some("alice".into()),
            _ => None,
        };
        store.record(r);
    }
    assert!(store.flush(WAIT));
    let by = |client: &str| ListQuery {
        limit: 500,
        client: Some(client.into()),
        ..Default::default()
    };
    let page = list(&store, by("ci"));
    assert_eq!(page.data.len(), 20);
    assert!(page.data.iter().all(|r| r.client.as_deref() == Some("ci")));
    assert_eq!(page.data[0].id, "req_057");
    assert_eq!(list(&store, by("nobody")).data.len(), 0);
    // With another filter too.
    let both = ListQuery {
        upstream: Some("openai".into()),
        ..by("alice")
    };
    assert_eq!(list(&store, both).data.len(), 20);
    // No index serves it: a page looks a bounded window back, then goes on.
    let q = ListQuery {
        limit: 10,
        ..by("ci")
    };
    let page = store
        .read_blocking(move |c| Ok(query::list_within(c, &q, 9)?))
        .unwrap();
    assert_eq!(ids(&page), ["req_057", "req_054", "req_051"]);
    assert!(page.has_more);
    assert_eq!(page.next_before.as_deref(), Some("req_051"));
}

#[test]
fn the_request_log_never_sorts_or_scans_for_its_filters() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_ok(opts(dir.path()));
    store
        .read_blocking(|c| {
            for (filter, sql) in [
                ("none", "SELECT seq FROM requests ORDER BY seq DESC LIMIT 51"),
                ("upstream", "SELECT seq FROM requests WHERE upstream = 'a' AND seq < 9 ORDER BY seq DESC LIMIT 51"),
                ("status", "SELECT seq FROM requests WHERE status = 429 ORDER BY seq DESC LIMIT 51"),
                ("model", "SELECT seq FROM requests WHERE model = 'a' ORDER BY seq DESC LIMIT 51"),
                ("error", "SELECT seq FROM requests WHERE 1 = 1 AND (status >= 400 OR error_message IS NOT NULL) ORDER BY seq DESC LIMIT 51"),
            ] {
                let plan: Vec<String> = c
                    .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?
                    .query_map([], |r| r.get::<_, String>(3))?
                    .collect::<rusqlite::Result<_>>()?;
                let plan = plan.join(" | ");
                assert!(!plan.contains("TEMP B-TREE"), "{filter}: {plan}");
                if filter != "none" {
                    assert!(plan.contains("USING") && plan.contains("INDEX"), "{filter}: {plan}");
                }
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn one_request_with_its_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.bodies = true;
    let store = open_ok(o);
    let now = time::now_ms();
    store.record(row("req_a", now));
    store.record_bodies(StoredBodies {
        id: "req_a".into(),
        time_ms: now,
        request: "{\"model\":\"m\"}".into(),
        response: "{\"id\":\"msg\"}".into(),
    });
    store.record(row("req_b", now));
    // Bodies of a row that was never stored are not kept.
    store.record_bodies(StoredBodies {
        id: "req_lost".into(),
        time_ms: now,
        request: "x".into(),
        response: "y".into(),
    });
    assert!(store.flush(WAIT));
    let get = |id: &'static str| {
        store
            .read_blocking(move |c| Ok(query::get(c, id)?))
            .unwrap()
    };
    let a = get("req_a").unwrap();
    assert_eq!(a.request_body.as_deref(), Some("{\"model\":\"m\"}"));
    let v = serde_json::to_value(&a).unwrap();
    assert_eq!(v["responseBody"], "{\"id\":\"msg\"}");
    assert_eq!(v["upstreamModel"], "gpt-4o");
    let b = serde_json::to_value(get("req_b").unwrap()).unwrap();
    assert!(b.get("requestBody").is_none(), "{b}");
    assert!(get("req_lost").is_none());
    let orphans: i64 = store
        .read_blocking(
            |c| Ok(c.query_row("SELECT count(*) FROM request_bodies", [], |r| r.get(0))?),
        )
        .unwrap();
    assert_eq!(orphans, 1);
}

#[test]
fn a_row_serializes_to_the_api_contract() {
    let mut r = row("req_x", 1_764_135_880_123);
    r.cost_usd = Some(0.5);
    r.client = None;
    let v = serde_json::to_value(&r).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id",
            "time",
            "endpoint",
            "route",
            "upstream",
            "key",
            "model",
            "upstreamModel",
            "stream",
            "status",
            "errorType",
            "errorMessage",
            "latencyMs",
            "ttfbMs",
            "inputTokens",
            "outputTokens",
            "cacheReadTokens",
            "cacheWriteTokens",
            "retries",
            "upstreamsTried",
            "clientGone",
            "client",
            "costUsd"
        ]
    );
    assert_eq!(v["time"], "2025-11-26T05:44:40.123Z");
    assert_eq!(v["client"], serde_json::Value::Null);
    assert_eq!(v["costUsd"], 0.5);
}

/// Prices with an exact name, a glob, and nothing for `mystery`.
fn prices() -> Prices {
    let raw = json!({
        "gpt-4o": {"input": 2.5, "output": 10, "cacheRead": 1.25, "cacheWrite": 3.125},
        "gemini-*": {"input": 1, "output": 4}
    });
    let mut problems = Vec::new();
    let p = Prices::validate(raw.as_object().unwrap(), &mut problems);
    assert!(problems.is_empty());
    p
}

#[test]
fn aggregates_count_tokens_costs_and_percentiles() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_ok(opts(dir.path()));
    let prices = prices();
    let hour = 3_600_000;
    // Two whole hours, starting at an hour boundary.
    let t0 = db::bucket_start(time::now_ms(), 3600) - 2 * hour;
    let mut n = 0;
    let mut add = |t: i64, upstream: &str, model: &str, latency: f64, status: u16, tokens: u64| {
        n += 1;
        let mut r = row(&format!("req_{n}"), t);
        r.upstream = Some(upstream.into());
        r.upstream_model = Some(model.into());
        r.latency_ms = latency;
        r.ttfb_ms = Some(latency / 2.0);
        r.status = status;
        let usage = Usage {
            input_tokens: tokens,
            output_tokens: tokens / 10,
            cache_read_input_tokens: tokens / 2,
            cache_creation_input_tokens: 0,
        };
        r.input_tokens = Some(usage.input_tokens);
        r.output_tokens = Some(usage.output_tokens);
        r.cache_read_tokens = Some(usage.cache_read_input_tokens);
        r.cache_write_tokens = Some(usage.cache_creation_input_tokens);
        r.cost_usd = prices.cost(model, &usage);
        store.record(r);
    };
    // Hour 1: 100 openai/gpt-4o requests with latencies 10..=1000 ms (5 of
    // them 500s), and 10 gemini ones.
    for i in 1..=100u32 {
        let status = if i % 20 == 0 { 500 } else { 200 };
        add(
            t0 + i64::from(i) * 1000,
            "openai",
            "gpt-4o",
            f64::from(i) * 10.0,
            status,
            1000,
        );
    }
    for i in 0..10 {
        add(
            t0 + 200_000 + i,
            "gemini",
            "gemini-2.5-pro",
            300.0,
            200,
            2000,
        );
    }
    // Hour 2: requests to a model without a price.
    for i in 0..4 {
        add(t0 + hour + i, "local", "mystery", 40.0, 200, 100);
    }
    assert!(store.flush(WAIT));
    let usage = |bucket, group| {
        let q = UsageQuery {
            from_ms: t0,
            to_ms: t0 + 2 * hour,
            bucket,
            group,
        };
        store
            .read_blocking(move |c| Ok(query::usage(c, &q)?))
            .unwrap()
    };
    let by_upstream = usage(Bucket::Hour, Group::Upstream);
    assert_eq!((by_upstream.from, by_upstream.to), (t0, t0 + 2 * hour));
    let rows: Vec<(i64, Option<&str>, u64, u64)> = by_upstream
        .rows
        .iter()
        .map(|r| (r.bucket_start, r.group.as_deref(), r.requests, r.errors))
        .collect();
    assert_eq!(
        rows,
        [
            (t0, Some("gemini"), 10, 0),
            (t0, Some("openai"), 100, 5),
            (t0 + hour, Some("local"), 4, 0),
        ]
    );
    let openai = &by_upstream.rows[1];
    assert_eq!(
        (
            openai.input_tokens,
            openai.output_tokens,
            openai.cache_read_tokens
        ),
        (100_000, 10_000, 50_000)
    );
    // 100 × (1000 × 2.5 + 100 × 10 + 500 × 1.25) / 1e6
    let want = 100.0 * (2500.0 + 1000.0 + 625.0) / 1e6;
    assert!(
        (openai.cost_usd.unwrap() - want).abs() < 1e-9,
        "{:?}",
        openai.cost_usd
    );
    // The glob price: 10 × (2000 × 1 + 200 × 4 + 1000 × 1) / 1e6.
    let gemini = &by_upstream.rows[0];
    assert!((gemini.cost_usd.unwrap() - 0.038).abs() < 1e-9);
    // No price: no cost, not zero.
    assert_eq!(by_upstream.rows[2].cost_usd, None);
    let near = |got: Option<f64>, want: f64| {
        let got = got.unwrap();
        assert!((got - want).abs() / want <= 0.05, "{got} vs {want}");
    };
    near(openai.latency_p50_ms, 500.0);
    near(openai.latency_p95_ms, 950.0);
    near(openai.ttfb_p50_ms, 250.0);
    near(gemini.latency_p95_ms, 300.0);

    let all = usage(Bucket::Day, Group::All);
    let total: u64 = all.rows.iter().map(|r| r.requests).sum();
    assert_eq!(total, 114);
    assert!(all.rows.iter().all(|r| r.group.as_deref() == Some("all")));
    let by_model = usage(Bucket::Hour, Group::Model);
    let models: Vec<_> = by_model
        .rows
        .iter()
        .filter_map(|r| r.group.as_deref())
        .collect();
    assert_eq!(models, ["gemini-2.5-pro", "gpt-4o", "mystery"]);
    let by_key = usage(Bucket::Hour, Group::Key);
    assert_eq!(by_key.rows[0].group.as_deref(), Some("sk-abcde…wxyz"));
    let by_client = usage(Bucket::Hour, Group::Client);
    assert_eq!(by_client.rows[0].group, None, "no client keys yet");
    let minutes = usage(Bucket::Minute, Group::All);
    assert_eq!(minutes.rows.iter().map(|r| r.requests).sum::<u64>(), 114);
    assert_eq!(minutes.rows[0].bucket_start, t0);
    // Rows recorded in several batches add up the same.
    let first = minutes.rows[0].requests;
    add(t0 + 5, "openai", "gpt-4o", 10.0, 200, 1);
    assert!(store.flush(WAIT));
    assert_eq!(
        usage(Bucket::Minute, Group::All).rows[0].requests,
        first + 1
    );
}

#[test]
fn reads_say_why_they_cannot_run() {
    let off = Store::off();
    assert_eq!(off.state(), StoreState::Off);
    assert!(matches!(
        off.read_blocking(|_| Ok(())),
        Err(StoreError::Off)
    ));
    assert_eq!(
        off.status_json(),
        json!({"state": "off", "error": null, "path": null, "rows": null, "dropped": 0})
    );
    // Off still feeds live subscribers.
    let mut rx = off.subscribe();
    off.record(row("req_live", 0));
    assert_eq!(rx.try_recv().unwrap().id, "req_live");
    assert!(off.flush(WAIT));
}
