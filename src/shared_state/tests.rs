//! The local side of windows and counters, fingerprints, and a fleet handle
//! whose Redis never answers.

use super::*;

#[tokio::test]
async fn local_windows_count_and_reset() {
    let s = SharedState::local();
    let w = Duration::from_secs(3600);
    assert_eq!(s.window_add("a", w, 1).await.total, 1);
    assert_eq!(s.window_add("a", w, 2).await.total, 3);
    let c = s.window_add("b", w, 5).await;
    assert_eq!(c.total, 5);
    assert!(!c.fleet);
    assert!(c.resets_in <= w && c.resets_in > Duration::ZERO);
    // A window of another length is another window.
    assert_eq!(s.window_add("a", Duration::from_secs(60), 1).await.total, 1);
}

#[tokio::test]
async fn local_counters_add_get_and_expire() {
    let s = SharedState::local();
    assert_eq!(s.counter_get("tokens").await.value, 0);
    assert_eq!(s.counter_add("tokens", 10, None).await.value, 10);
    assert_eq!(s.counter_add("tokens", -3, None).await.value, 7);
    assert_eq!(
        s.counter_get("tokens").await,
        Count {
            value: 7,
            fleet: false
        }
    );
    s.counter_add("day", 4, Some(Duration::from_millis(20)))
        .await;
    assert_eq!(s.counter_get("day").await.value, 4);
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(s.counter_get("day").await.value, 0);
    assert_eq!(s.counter_add("day", 1, None).await.value, 1);
}

#[test]
fn local_memory_stays_bounded() {
    let l = local::LocalCounters::default();
    let far = wall_ms() + 3_600_000;
    for i in 0..(16 * local::SHARD_CAPACITY * 2) {
        l.window_add(&format!("w{i}"), far, 1);
        l.counter_add(&format!("c{i}"), 1, None);
    }
    assert!(l.len() <= 2 * 16 * local::SHARD_CAPACITY, "{}", l.len());
}

#[test]
fn fingerprints_are_stable_keyed_and_hide_the_secret() {
    let a = SharedState::build(None, b"fleet-key");
    let b = SharedState::build(None, b"fleet-key");
    let other = SharedState::build(None, b"another-fleet");
    let fp = a.fingerprint(b"sk-secret-key-1234");
    assert_eq!(fp, b.fingerprint(b"sk-secret-key-1234"));
    assert_ne!(fp, other.fingerprint(b"sk-secret-key-1234"));
    assert_ne!(fp, a.fingerprint(b"sk-secret-key-1235"));
    assert_eq!(fp.len(), 24);
    assert!(!fp.contains("secret") && fp.chars().all(|c| c.is_ascii_hexdigit()));
}

#[tokio::test]
async fn a_fleet_without_an_answering_redis_serves_locally_at_once() {
    // Nothing listens on port 1; the supervisor keeps trying in the
    // background, and every call answers from local state without waiting.
    let mut vars = std::collections::HashMap::new();
    vars.insert("REDIS_URL".to_owned(), "redis://127.0.0.1:1".to_owned());
    let redis = RedisSettings::from_vars(
        |k| vars.get(k).map(String::as_str),
        |k| vars.get(k).map(String::as_str),
    )
    .unwrap();
    let s = SharedState::from_settings(redis.as_ref(), b"k");
    assert!(s.is_fleet());
    assert!(!s.is_up());
    let started = std::time::Instant::now();
    assert_eq!(s.incr("rr:x").await, None);
    assert_eq!(s.claim("probe:x", Duration::from_secs(1)).await, None);
    let w = s.window_add("rl", Duration::from_secs(3600), 1).await;
    assert_eq!((w.total, w.fleet), (1, false));
    assert_eq!(
        s.counter_add("c", 2, None).await,
        Count {
            value: 2,
            fleet: false
        }
    );
    assert!(started.elapsed() < Duration::from_millis(50));
}
