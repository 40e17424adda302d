//! Two gateway instances sharing one real `redis-server` (REDIS_URL) and one
//! mock upstream behave as one: key rests, round-robin turns, rate limits
//! and circuits are the fleet's; Redis going away mid-run fails no request,
//! and its return resumes the sharing (local state merged back).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::mock_openai::{self, text_completion};
use crate::common::redis_server::RedisServer;
use crate::common::*;

const KEY_A: &str = "sk-fleet-aaaaaaaaaaaa0001";
const KEY_B: &str = "sk-fleet-bbbbbbbbbbbb0002";
const KEY_C: &str = "sk-fleet-cccccccccccc0003";

fn config(mock: &Mock, keys: &[&str], balance: &str) -> Value {
    let mut cfg = config_with(vec![upstream("oa", "openai", &mock.url(), keys)]);
    cfg["loadBalance"] = json!(balance);
    cfg
}

async fn shared_state_up(app: &TestApp) -> Option<f64> {
    let m = app.metrics().await;
    m.lines()
        .find(|l| l.starts_with("claude_proxy_shared_state_up "))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn wait_metric(apps: &[&TestApp], value: f64, limit: Duration) -> bool {
    eventually(limit, || async {
        for app in apps {
            if shared_state_up(app).await != Some(value) {
                return false;
            }
        }
        true
    })
    .await
}

/// Two instances on `redis`, both connected.
pub(crate) async fn fleet(
    cfg: &Value,
    redis: &RedisServer,
    env: &[(&str, &str)],
) -> (TestApp, TestApp) {
    let url = redis.url();
    let mut vars = vec![("REDIS_URL", url.as_str()), ("REDIS_TIMEOUT_MS", "500")];
    vars.extend_from_slice(env);
    let one = spawn_app(cfg.clone(), &vars).await;
    let two = spawn_app(cfg.clone(), &vars).await;
    assert!(
        wait_metric(&[&one, &two], 1.0, Duration::from_secs(10)).await,
        "both instances connect to Redis"
    );
    (one, two)
}

async fn resting(app: &TestApp) -> u64 {
    app.health().await["config"]["upstreams"][0]["restingKeys"]
        .as_u64()
        .unwrap_or(u64::MAX)
}

async fn circuit(app: &TestApp) -> String {
    app.health().await["config"]["upstreams"][0]["circuit"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

fn ok() -> Reply {
    Reply::ok(text_completion("ok"))
}

fn too_many(retry_after: &str) -> Reply {
    Reply::error(
        429,
        &json!({"error": {"message": "rate limited", "type": "rate_limit_error"}}),
        Some(retry_after),
    )
}

/// No key, credential or access key in any Redis key name.
async fn assert_no_secret_in_key_names(redis: &RedisServer) {
    let names = redis.keys().await;
    assert!(!names.is_empty());
    for name in names {
        assert!(name.starts_with("claude-proxy:"), "{name}");
        for secret in [KEY_A, KEY_B, KEY_C, ACCESS_KEY, "sk-fleet"] {
            assert!(!name.contains(secret), "{name} contains {secret}");
        }
    }
}

#[tokio::test]
async fn a_429_seen_by_one_instance_makes_the_other_skip_that_key() {
    let redis = RedisServer::start();
    let mock = spawn_mock(mock_openai::validate, |r| {
        if r.key() == KEY_A {
            too_many("30")
        } else {
            ok()
        }
    })
    .await;
    let (one, two) = fleet(&config(&mock, &[KEY_A, KEY_B], "failover"), &redis, &[]).await;
    assert_eq!(one.messages(&hello()).await.status(), 200);
    assert_eq!(mock.keys(), vec![KEY_A, KEY_B]);
    // The other instance learns of the rest within a second.
    let seen = Instant::now();
    assert!(
        eventually(Duration::from_secs(1), || async {
            resting(&two).await == 1
        })
        .await,
        "instance two sees the cooldown within 1 s"
    );
    let took = seen.elapsed();
    assert_eq!(two.messages(&hello()).await.status(), 200);
    assert_eq!(
        mock.keys()[2..],
        [KEY_B],
        "instance two skipped the resting key (seen after {took:?})"
    );
    // The reason and the count travel too (the admin API shows them).
    let status: Value = two
        .client
        .get(two.url("/admin/api/status"))
        .header("x-api-key", ACCESS_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &status["upstreams"][0]["keys"][0];
    assert_eq!(key["reason"], "rate_limited", "{key}");
    assert_eq!(key["consecutiveFailures"], 1, "{key}");
    assert_eq!(key["state"], "resting", "{key}");
    assert_no_secret_in_key_names(&redis).await;
}

#[tokio::test]
async fn round_robin_turns_are_the_fleets() {
    let redis = RedisServer::start();
    let mock = spawn_mock(mock_openai::validate, |_| ok()).await;
    let (one, two) = fleet(
        &config(&mock, &[KEY_A, KEY_B, KEY_C], "round-robin"),
        &redis,
        &[],
    )
    .await;
    for i in 0..6 {
        let app = if i % 2 == 0 { &one } else { &two };
        assert_eq!(app.messages(&hello()).await.status(), 200);
    }
    // One counter for both instances: strict rotation (two counters of
    // their own would have given A, A, B, B, C, C).
    assert_eq!(mock.keys(), vec![KEY_A, KEY_B, KEY_C, KEY_A, KEY_B, KEY_C]);
    // Without REDIS_URL there is no fleet and no gauge.
    let solo = spawn_app(config(&mock, &[KEY_A], "round-robin"), &[]).await;
    assert!(shared_state_up(&solo).await.is_none());
}

#[tokio::test]
async fn a_rate_limit_holds_for_the_fleet_together() {
    let redis = RedisServer::start();
    let mock = spawn_mock(mock_openai::validate, |_| ok()).await;
    // Windows are aligned to the clock: stay clear of an hour's end.
    let window_ms = 3_600_000u128;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let left = window_ms - now % window_ms;
    if left < 5_000 {
        tokio::time::sleep(Duration::from_millis(left as u64 + 100)).await;
    }
    let (one, two) = fleet(
        &config(&mock, &[KEY_A], "failover"),
        &redis,
        &[
            ("ENABLE_RATE_LIMIT", "true"),
            ("RATE_LIMIT_MAX_REQUESTS", "4"),
            ("RATE_LIMIT_WINDOW", "3600000"),
        ],
    )
    .await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        let app = if i % 2 == 0 { &one } else { &two };
        let resp = app.messages(&hello()).await;
        let status = resp.status().as_u16();
        if status == 429 {
            let retry: u64 = resp.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=3600).contains(&retry), "{retry}");
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["error"]["type"], "rate_limit_error");
        }
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        vec![200, 200, 200, 200, 429, 429, 429, 429],
        "4 requests per window for the fleet, not per instance"
    );
    assert_eq!(mock.count(), 4);
    assert_no_secret_in_key_names(&redis).await;
}

#[tokio::test]
async fn a_circuit_opened_by_one_is_open_for_the_other_and_one_instance_probes() {
    let redis = RedisServer::start();
    // 0: the upstream fails; 1: it answers, slowly (the probe is in flight
    // while the other requests arrive).
    let mode = Arc::new(AtomicU8::new(0));
    let m = mode.clone();
    let mock = spawn_mock(mock_openai::validate, move |_| {
        if m.load(Ordering::SeqCst) == 0 {
            Reply::error(
                500,
                &json!({"error": {"message": "down", "type": "server_error"}}),
                None,
            )
        } else {
            Reply::Slow(Duration::from_millis(800), text_completion("probe ok"))
        }
    })
    .await;
    let (one, two) = fleet(
        &config(&mock, &[KEY_A], "failover"),
        &redis,
        &[("CIRCUIT_FAILURES", "2"), ("CIRCUIT_OPEN_MS", "1500")],
    )
    .await;
    // One failure on each instance: the fleet's count reaches 2.
    assert!(one.messages(&hello()).await.status().is_server_error());
    assert!(two.messages(&hello()).await.status().is_server_error());
    assert!(
        eventually(Duration::from_secs(1), || async {
            circuit(&one).await == "open" && circuit(&two).await == "open"
        })
        .await,
        "both instances see the circuit open"
    );
    let before = mock.count();
    for app in [&one, &two] {
        let resp = app.messages(&hello()).await;
        assert_eq!(resp.status(), 529);
        assert!(resp.headers().contains_key("retry-after"));
    }
    assert_eq!(mock.count(), before, "an open circuit sends nothing");
    mode.store(1, Ordering::SeqCst);
    assert!(
        eventually(Duration::from_secs(5), || async {
            circuit(&one).await == "half-open" && circuit(&two).await == "half-open"
        })
        .await
    );
    // Six requests at once, three per instance: one probe goes upstream.
    let body = hello();
    let burst: Vec<_> = (0..6)
        .map(|i| {
            let app = if i % 2 == 0 { &one } else { &two };
            app.messages(&body)
        })
        .collect();
    let statuses: Vec<u16> = futures_util::future::join_all(burst)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(mock.count(), before + 1, "exactly one probe: {statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 529).count(),
        5,
        "{statuses:?}"
    );
    // Its success closes the circuit for both.
    assert!(
        eventually(Duration::from_secs(1), || async {
            circuit(&one).await == "closed" && circuit(&two).await == "closed"
        })
        .await
    );
    assert_eq!(two.messages(&hello()).await.status(), 200);
}

#[tokio::test]
async fn redis_going_away_fails_no_request_and_its_return_resumes_sharing() {
    let mut redis = RedisServer::start();
    // Keys answering 429 (bit 0: A, bit 1: B).
    let limited = Arc::new(AtomicU8::new(0));
    let l = limited.clone();
    let mock = spawn_mock(mock_openai::validate, move |r| {
        let bits = l.load(Ordering::SeqCst);
        let bit = if r.key() == KEY_A { 1 } else { 2 };
        if bits & bit != 0 {
            too_many("120")
        } else {
            ok()
        }
    })
    .await;
    let (one, two) = fleet(&config(&mock, &[KEY_A, KEY_B], "round-robin"), &redis, &[]).await;
    for app in [&one, &two, &one, &two] {
        assert_eq!(app.messages(&hello()).await.status(), 200);
    }
    redis.kill();
    for i in 0..20 {
        let app = if i % 2 == 0 { &one } else { &two };
        let resp = app.messages(&hello()).await;
        assert_eq!(resp.status(), 200, "request {i} while Redis is down");
    }
    assert!(
        wait_metric(&[&one, &two], 0.0, Duration::from_secs(5)).await,
        "claude_proxy_shared_state_up 0 on both"
    );
    // During the outage instance one rests key A; two cannot know.
    limited.store(1, Ordering::SeqCst);
    for _ in 0..2 {
        assert_eq!(one.messages(&hello()).await.status(), 200);
    }
    assert_eq!(resting(&one).await, 1);
    assert_eq!(resting(&two).await, 0);
    // Redis returns (empty): both reconnect, one's rest is merged back.
    redis.restart();
    assert!(
        wait_metric(&[&one, &two], 1.0, Duration::from_secs(10)).await,
        "claude_proxy_shared_state_up 1 again"
    );
    assert!(
        eventually(Duration::from_secs(2), || async {
            resting(&two).await == 1
        })
        .await,
        "the rest taken during the outage reaches the other instance"
    );
    // And a new rest is shared again: key B fails on instance two.
    limited.store(3, Ordering::SeqCst);
    let resp = two.messages(&hello()).await;
    assert_eq!(resp.status(), 429, "every key rests or is limited");
    assert!(
        eventually(Duration::from_secs(1), || async {
            resting(&one).await == 2
        })
        .await,
        "instance one sees key B rest"
    );
}

#[tokio::test]
async fn redis_down_at_start_serves_locally_then_joins_the_fleet() {
    let mut redis = RedisServer::stopped();
    let mock = spawn_mock(mock_openai::validate, |_| ok()).await;
    let url = redis.url();
    let app = spawn_app(
        config(&mock, &[KEY_A, KEY_B], "round-robin"),
        &[("REDIS_URL", url.as_str()), ("REDIS_TIMEOUT_MS", "500")],
    )
    .await;
    for _ in 0..4 {
        assert_eq!(app.messages(&hello()).await.status(), 200);
    }
    assert_eq!(shared_state_up(&app).await, Some(0.0));
    // Local round-robin meanwhile.
    assert_eq!(mock.keys(), vec![KEY_A, KEY_B, KEY_A, KEY_B]);
    redis.restart();
    assert!(wait_metric(&[&app], 1.0, Duration::from_secs(10)).await);
    assert_eq!(app.messages(&hello()).await.status(), 200);
    let mut c = redis.client().await;
    let turn: u64 = redis::cmd("GET")
        .arg("claude-proxy:rr:oa")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(turn, 1, "the turn now comes from Redis");
}

/// The real binary: one warning per outage (not one per request), a
/// notice when Redis is back, and never the Redis password in its output.
#[tokio::test]
async fn the_binary_warns_once_per_outage_and_never_shows_the_redis_password() {
    const PASSWORD: &str = "fleet-redis-password-9876";
    let mut redis = RedisServer::stopped_with_password(PASSWORD);
    let mock = spawn_mock(mock_openai::validate, |_| ok()).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&mock, &[KEY_A, KEY_B], "round-robin");
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).unwrap();
    let url = format!("redis://:{PASSWORD}@127.0.0.1:{}", redis.port);
    let proxy = crate::common::process::ProxyCommand::new(dir.path())
        .envs(&[
            ("PORT", "0"),
            ("PROXY_ACCESS_KEY", ACCESS_KEY),
            ("REDIS_URL", &url),
            ("DATA_DIR", "off"),
        ])
        .start();
    let client = reqwest::Client::new();
    let send = || async {
        client
            .post(proxy.url("/v1/messages"))
            .header("x-api-key", ACCESS_KEY)
            .json(&hello())
            .send()
            .await
            .unwrap()
            .status()
    };
    let output = || format!("{}{}", proxy.stdout(), proxy.stderr());
    let downs = |o: &str| o.matches("shared state is down").count();
    for _ in 0..10 {
        assert_eq!(send().await, 200);
    }
    // Several reconnect attempts go by.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(downs(&output()), 1, "{}", output());
    redis.restart();
    assert!(
        eventually(Duration::from_secs(10), || async {
            output().contains("shared state is back")
        })
        .await,
        "{}",
        output()
    );
    assert_eq!(send().await, 200);
    redis.kill();
    for _ in 0..10 {
        assert_eq!(send().await, 200);
    }
    assert!(
        eventually(Duration::from_secs(5), || async { downs(&output()) == 2 }).await,
        "{}",
        output()
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let all = output();
    assert_eq!(downs(&all), 2, "one warning per outage: {all}");
    assert!(!all.contains(PASSWORD), "{all}");
    assert!(all.contains(":****@127.0.0.1"), "{all}");
}

/// The generic windows and counters (for per-client limits) are the
/// fleet's while Redis answers, this instance's while it does not, and the
/// increments Redis missed are added when it returns.
#[tokio::test]
async fn windows_and_counters_are_the_fleets_and_survive_an_outage() {
    use claude_proxy::settings::Settings;
    use claude_proxy::shared_state::SharedState;
    let mut redis = RedisServer::start();
    let vars: std::collections::HashMap<String, String> = [
        ("REDIS_URL".to_owned(), redis.url()),
        ("REDIS_TIMEOUT_MS".to_owned(), "500".to_owned()),
    ]
    .into();
    let settings = Settings::from_map(&vars).unwrap();
    let a = SharedState::from_settings(settings.redis.as_ref(), b"fleet secret");
    let b = SharedState::from_settings(settings.redis.as_ref(), b"fleet secret");
    assert!(eventually(Duration::from_secs(10), || async { a.is_up() && b.is_up() }).await);
    let hour = Duration::from_secs(3600);
    assert_eq!(a.window_add("rpm:alice", hour, 1).await.total, 1);
    let w = b.window_add("rpm:alice", hour, 2).await;
    assert_eq!((w.total, w.fleet), (3, true));
    assert!(w.resets_in <= hour);
    assert_eq!(a.counter_add("tokens:alice", 100, None).await.value, 100);
    assert_eq!(b.counter_add("tokens:alice", 50, None).await.value, 150);
    assert_eq!(
        b.counter_get("tokens:alice").await,
        claude_proxy::shared_state::Count {
            value: 150,
            fleet: true
        }
    );
    // A periodic counter expires with its ttl.
    a.counter_add("day:alice", 7, Some(Duration::from_millis(300)))
        .await;
    assert_eq!(b.counter_get("day:alice").await.value, 7);
    assert!(
        eventually(Duration::from_secs(3), || async {
            b.counter_get("day:alice").await.value == 0
        })
        .await
    );
    let names = redis.keys().await;
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("claude-proxy:win:rpm:alice:")),
        "{names:?}"
    );
    assert!(
        names.contains(&"claude-proxy:count:tokens:alice".to_owned()),
        "{names:?}"
    );
    // Redis goes away: each handle counts on from the last fleet value.
    redis.kill();
    assert!(eventually(Duration::from_secs(5), || async { !a.is_up() }).await);
    let c = a.counter_add("tokens:alice", 10, None).await;
    assert_eq!(
        c,
        claude_proxy::shared_state::Count {
            value: 110,
            fleet: false
        }
    );
    assert!(!a.window_add("rpm:alice", hour, 1).await.fleet);
    // It returns empty; the missed increments are added back.
    redis.restart();
    assert!(eventually(Duration::from_secs(10), || async { a.is_up() }).await);
    assert_eq!(
        a.counter_get("tokens:alice").await,
        claude_proxy::shared_state::Count {
            value: 10,
            fleet: true
        }
    );
    let w = b.window_add("rpm:alice", hour, 1).await;
    assert_eq!(
        (w.total, w.fleet),
        (2, true),
        "the missed request counts in the window"
    );
}
