//! Criterion bench of the request store on a 1,000,000-row database: every
//! usage aggregate the console asks for, the request log's pages and
//! filters, one row by id, and the writer's batched insert.
//!
//! The database is generated once per run in a temp dir: 1M requests over
//! the last 30 days (the default retention), 4 upstreams × 2 models × 3 keys,
//! 5 clients and none, 2 % errors, through the same insert the writer uses
//! (so the rollups are the real ones).
//!
//! `cargo bench --bench store` (add `-- --quick` for a fast pass).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

use claude_proxy::store::db;
use claude_proxy::store::query::{self, Bucket, Group, ListQuery, StatusFilter, UsageQuery};
use claude_proxy::store::RequestRow;

const ROWS: u64 = 1_000_000;
const DAY_MS: i64 = 86_400_000;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn generated_row(i: u64, t: i64, rng: &mut Rng) -> RequestRow {
    const UPSTREAMS: [&str; 4] = ["openai", "gemini", "deepseek", "anthropic"];
    const MODELS: [[&str; 2]; 4] = [
        ["gpt-4o", "gpt-4o-mini"],
        ["gemini-2.5-pro", "gemini-2.5-flash"],
        ["deepseek-chat", "deepseek-reasoner"],
        ["claude-sonnet-4-5", "claude-haiku-4-5"],
    ];
    let u = rng.below(4) as usize;
    let m = rng.below(2) as usize;
    let k = rng.below(3);
    let client = rng.below(6);
    let error = rng.below(50) == 0;
    let latency = 200.0 + rng.below(20_000) as f64 * (1.0 + rng.below(4) as f64);
    let input = 1000 + rng.below(50_000);
    RequestRow {
        id: format!("req_01bench{i:016}"),
        time_ms: t,
        endpoint: "messages".into(),
        route: "default".into(),
        upstream: Some(UPSTREAMS[u].into()),
        key: Some(format!("sk-{u}{k}bench…{k:04}")),
        model: Some(
            if m == 0 {
                "claude-sonnet-4-5"
            } else {
                "claude-haiku-4-5"
            }
            .into(),
        ),
        upstream_model: Some(MODELS[u][m].into()),
        stream: rng.below(3) > 0,
        status: if error { 529 } else { 200 },
        error_type: error.then(|| "overloaded_error".into()),
        error_message: error.then(|| format!("upstream overloaded (bench row {i})")),
        latency_ms: latency,
        ttfb_ms: Some(latency / 4.0),
        input_tokens: Some(input),
        output_tokens: Some(rng.below(4000)),
        cache_read_tokens: Some(input / 2),
        cache_write_tokens: Some(rng.below(2000)),
        retries: u32::from(error),
        upstreams_tried: 1,
        client_gone: false,
        client: (client < 5).then(|| format!("team-{client}")),
        cost_usd: (u != 2).then_some(input as f64 * 2.5e-6),
    }
}

/// Builds the database; returns its temp dir, the path and "now".
fn generate() -> (tempfile::TempDir, std::path::PathBuf, i64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(db::FILE_NAME);
    let mut conn = db::open_writer(dir.path(), &path, Duration::from_secs(5)).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let start = now - 30 * DAY_MS;
    let step = (30 * DAY_MS) as f64 / ROWS as f64;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let timer = Instant::now();
    let mut batch = Vec::with_capacity(5000);
    for i in 0..ROWS {
        let t = start + (i as f64 * step) as i64;
        batch.push(Arc::new(generated_row(i, t, &mut rng)));
        if batch.len() == 5000 {
            db::insert_batch(&mut conn, &batch, &[]).unwrap();
            batch.clear();
        }
    }
    db::insert_batch(&mut conn, &batch, &[]).unwrap();
    let generated = timer.elapsed();
    // What the writer's hourly pruning leaves: minute rollups of the last
    // week only.
    db::prune(&mut conn, now, now - 30 * DAY_MS, usize::MAX).unwrap();
    while conn
        .query_row("PRAGMA freelist_count", [], |r| r.get::<_, i64>(0))
        .unwrap()
        > 0
    {
        db::tidy(&conn).unwrap();
    }
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    let usage_rows: i64 = conn
        .query_row("SELECT count(*) FROM usage", [], |r| r.get(0))
        .unwrap();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "generated {ROWS} rows in {:.1} s ({:.0} rows/s); after pruning: {usage_rows} rollup rows, {:.0} MB",
        generated.as_secs_f64(),
        ROWS as f64 / generated.as_secs_f64(),
        size as f64 / 1e6
    );
    (dir, path, now)
}

fn store(c: &mut Criterion) {
    let (_dir, path, now) = generate();
    let conn = db::open_reader(&path).unwrap();
    let usage = |from_ms: i64, bucket: Bucket, group: Group| UsageQuery {
        from_ms,
        to_ms: now,
        bucket,
        group,
    };
    let hour_ago = now - 3_600_000;
    let day_ago = now - DAY_MS;
    let aggregates = [
        (
            "usage_24h_hour_upstream",
            usage(day_ago, Bucket::Hour, Group::Upstream),
        ),
        (
            "usage_24h_hour_model",
            usage(day_ago, Bucket::Hour, Group::Model),
        ),
        (
            "usage_24h_hour_key",
            usage(day_ago, Bucket::Hour, Group::Key),
        ),
        (
            "usage_24h_hour_client",
            usage(day_ago, Bucket::Hour, Group::Client),
        ),
        (
            "usage_24h_minute_all",
            usage(day_ago, Bucket::Minute, Group::All),
        ),
        (
            "usage_24h_minute_upstream",
            usage(day_ago, Bucket::Minute, Group::Upstream),
        ),
        (
            "usage_1h_minute_upstream",
            usage(hour_ago, Bucket::Minute, Group::Upstream),
        ),
        (
            "usage_7d_hour_model",
            usage(now - 7 * DAY_MS, Bucket::Hour, Group::Model),
        ),
        (
            "usage_30d_day_model",
            usage(now - 30 * DAY_MS, Bucket::Day, Group::Model),
        ),
        (
            "usage_30d_day_key",
            usage(now - 30 * DAY_MS, Bucket::Day, Group::Key),
        ),
    ];
    let mut g = c.benchmark_group("store_1m");
    for (name, q) in aggregates {
        let report = query::usage(&conn, &q).unwrap();
        assert!(!report.rows.is_empty(), "{name}");
        g.bench_function(name, |b| {
            b.iter(|| query::usage(&conn, black_box(&q)).unwrap())
        });
    }
    let middle = format!("req_01bench{:016}", ROWS / 2);
    let page = |f: fn(&mut ListQuery)| {
        let mut q = ListQuery {
            limit: 50,
            ..Default::default()
        };
        f(&mut q);
        q
    };
    let mut deep = page(|_| {});
    deep.before = Some(middle.clone());
    let lists = [
        ("list_first_page", page(|_| {})),
        ("list_page_at_500k", deep),
        (
            "list_upstream",
            page(|q| q.upstream = Some("gemini".into())),
        ),
        (
            "list_model_either",
            page(|q| q.model = Some("deepseek-reasoner".into())),
        ),
        (
            "list_status_error",
            page(|q| q.status = Some(StatusFilter::Error)),
        ),
        (
            "list_status_529",
            page(|q| q.status = Some(StatusFilter::Code(529))),
        ),
        // Two filters: windowed, like a search.
        (
            "list_upstream_and_status",
            page(|q| {
                q.upstream = Some("gemini".into());
                q.status = Some(StatusFilter::Code(529));
            }),
        ),
        ("list_q_common", page(|q| q.q = Some("gpt-4o-mini".into()))),
        // A miss reads its whole window: the worst case of a search.
        ("list_q_miss", page(|q| q.q = Some("no such text".into()))),
    ];
    for (name, q) in lists {
        let p = query::list(&conn, &q).unwrap();
        let windowed = matches!(name, "list_q_miss" | "list_upstream_and_status");
        assert!(windowed || p.data.len() == 50, "{name}: {}", p.data.len());
        assert!(p.has_more, "{name}");
        g.bench_function(name, |b| {
            b.iter(|| query::list(&conn, black_box(&q)).unwrap())
        });
    }
    g.bench_function("get_by_id", |b| {
        b.iter(|| query::get(&conn, black_box(&middle)).unwrap().unwrap())
    });
    // The writer's unit of work: one 500-row transaction, rollups included.
    let mut writer =
        db::open_writer(path.parent().unwrap(), &path, Duration::from_secs(5)).unwrap();
    let mut rng = Rng(7);
    let mut n = ROWS;
    g.bench_function("insert_batch_500", |b| {
        b.iter(|| {
            let batch: Vec<Arc<RequestRow>> = (0..500)
                .map(|_| {
                    n += 1;
                    Arc::new(generated_row(n, now, &mut rng))
                })
                .collect();
            db::insert_batch(&mut writer, &batch, &[]).unwrap()
        })
    });
    g.finish();
    drop(conn);
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = store
}
criterion_main!(benches);
