//! Criterion bench of route choice on Claude Code's 57 KB request
//! (tests/fixtures/claude-code/01-write-turn2.json) with every scenario and
//! a rule configured, including the long-context check (decided from byte
//! bounds, without tokenizing). Compare with parsing the same request.
//!
//! `cargo bench --bench route` (add `-- --quick` for a fast pass).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use axum::http::HeaderMap;
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;

use claude_proxy::config::{self, LoadBalance};
use claude_proxy::protocol::anthropic::MessagesRequest;
use claude_proxy::routing::plan::{choose, Choice, LongContext};
use claude_proxy::routing::LiveState;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/claude-code/01-write-turn2.json"
);

fn live() -> LiveState {
    let up = |name: &str| json!({"name": name, "serviceType": "openai", "baseUrl": "http://127.0.0.1:9/v1", "apiKeys": ["k"]});
    let cfg = json!({
        "upstream": [up("main"), up("fast"), up("think"), up("long"), up("web"), up("eye"), up("opus")],
        "router": {
            "default": "main",
            "background": "fast,small",
            "think": ["think,reasoner", "main"],
            "longContext": "long,long-model",
            "webSearch": "web",
            "image": "eye,vision",
            "rules": [{"model": "gpt-*", "to": "opus"}, {"header": {"x-team": "eu"}, "to": "main"}]
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, cfg.to_string()).unwrap();
    LiveState::build(config::load(&path, LoadBalance::RoundRobin).unwrap(), None)
}

fn route_choice(c: &mut Criterion) {
    let body = std::fs::read(FIXTURE).unwrap();
    let req: MessagesRequest = serde_json::from_slice(&body).unwrap();
    let live = live();
    let headers = HeaderMap::new();
    // The bench measures the path without counting: make sure it is one.
    assert!(matches!(
        choose(&live, &req, &headers, LongContext::Unknown).unwrap(),
        Choice::Plan(_)
    ));
    let mut g = c.benchmark_group("route");
    g.bench_function("choose_57kb_claude_code_request", |b| {
        b.iter(|| choose(&live, black_box(&req), &headers, LongContext::Unknown).unwrap())
    });
    g.bench_function("parse_57kb_claude_code_request_for_scale", |b| {
        b.iter(|| serde_json::from_slice::<MessagesRequest>(black_box(&body)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, route_choice);
criterion_main!(benches);
