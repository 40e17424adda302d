//! Tests of key order and cooldowns (local state).

use super::*;

fn pool(n: usize) -> KeyPool {
    KeyPool::new((0..n).map(|i| ApiKey::new(format!("key-{i}"))).collect())
}

#[tokio::test]
async fn round_robin_rotates_start() {
    let p = pool(3);
    let mut firsts = Vec::new();
    for _ in 0..6 {
        firsts.push(p.attempt_order(LoadBalance::RoundRobin).await.unwrap()[0]);
    }
    assert_eq!(firsts, vec![0, 1, 2, 0, 1, 2]);
    assert_eq!(
        p.attempt_order(LoadBalance::RoundRobin)
            .await
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn failover_prefers_first_healthy() {
    let p = pool(3);
    assert_eq!(
        p.attempt_order(LoadBalance::Failover).await.unwrap(),
        vec![0, 1, 2]
    );
    p.mark_failure(0, KeyFailure::Rejected).await;
    assert_eq!(
        p.attempt_order(LoadBalance::Failover).await.unwrap(),
        vec![1, 2]
    );
    p.mark_success(0).await;
    assert_eq!(
        p.attempt_order(LoadBalance::Failover).await.unwrap(),
        vec![0, 1, 2]
    );
}

#[tokio::test]
async fn random_covers_every_key_once() {
    let p = pool(5);
    let mut o = p.attempt_order(LoadBalance::Random).await.unwrap();
    o.sort();
    assert_eq!(o, vec![0, 1, 2, 3, 4]);
}

#[tokio::test]
async fn all_resting_reports_retry_after() {
    let p = pool(2);
    p.mark_failure(0, KeyFailure::RateLimited(Some(Duration::from_secs(7))))
        .await;
    p.mark_failure(1, KeyFailure::Rejected).await;
    let e = p.attempt_order(LoadBalance::RoundRobin).await.unwrap_err();
    assert!(e.rate_limited);
    assert!(e.retry_after <= Duration::from_secs(7) && e.retry_after >= Duration::from_secs(6));
    assert_eq!(p.resting_count(), 2);
}

#[tokio::test]
async fn unavailable_rests_only_after_repeated_failures() {
    let p = pool(1);
    p.mark_failure(0, KeyFailure::Unavailable).await;
    p.mark_failure(0, KeyFailure::Unavailable).await;
    assert_eq!(p.resting_count(), 0);
    p.mark_failure(0, KeyFailure::Unavailable).await;
    let e = p.attempt_order(LoadBalance::Failover).await.unwrap_err();
    assert!(!e.rate_limited);
    p.mark_success(0).await;
    assert_eq!(p.resting_count(), 0);
}

#[tokio::test]
async fn views_show_rests_masked_and_change_nothing() {
    let p = KeyPool::new(vec![
        ApiKey::new("sk-aaaaaaaaaaaaaaaaaaaa1111"),
        ApiKey::new("sk-bbbbbbbbbbbbbbbbbbbb2222"),
    ]);
    p.mark_failure(1, KeyFailure::RateLimited(Some(Duration::from_secs(30))))
        .await;
    p.mark_failure(0, KeyFailure::Unavailable).await;
    let v = p.views();
    assert_eq!(v[0].masked, "sk-aaaaa…1111");
    assert_eq!(
        (
            v[0].resting_for,
            v[0].last_failure,
            v[0].consecutive_failures
        ),
        (None, None, 1),
        "one 5xx does not rest a key"
    );
    assert_eq!(v[1].last_failure, Some("rate_limited"));
    let left = v[1].resting_for.unwrap();
    assert!(left <= Duration::from_secs(30) && left > Duration::from_secs(28));
    // Reading changed nothing: the same key still rests, the rotation
    // did not move.
    assert_eq!(p.resting_count(), 1);
    assert_eq!(
        p.attempt_order(LoadBalance::RoundRobin).await.unwrap(),
        vec![0]
    );
    assert!(KeyPool::new(Vec::new()).views().is_empty());
}

#[tokio::test]
async fn keyless_pool_has_one_attempt() {
    let p = KeyPool::new(Vec::new());
    assert!(p.is_empty());
    assert_eq!(
        p.attempt_order(LoadBalance::RoundRobin).await.unwrap(),
        vec![0]
    );
    assert_eq!(p.key(0).expose(), "");
}

#[tokio::test]
async fn reload_keeps_counters_and_cooldowns() {
    let p = pool(3);
    p.attempt_order(LoadBalance::RoundRobin).await.unwrap();
    p.mark_failure(1, KeyFailure::Rejected).await;
    let q = p.carry_over("up", vec![ApiKey::new("key-1"), ApiKey::new("new")]);
    assert_eq!(q.resting_count(), 1);
    assert_eq!(
        q.attempt_order(LoadBalance::Failover).await.unwrap(),
        vec![1]
    );
}

#[test]
fn rest_rules_match_the_documented_rests() {
    let rl = RestRule::of(KeyFailure::RateLimited(None));
    let secs: Vec<u64> = (1..=9).map(|f| rl.rest(f).unwrap().as_secs()).collect();
    assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
    let after = RestRule::of(KeyFailure::RateLimited(Some(Duration::from_secs(7))));
    assert_eq!(after.rest(1), Some(Duration::from_secs(7)));
    let tiny = RestRule::of(KeyFailure::RateLimited(Some(Duration::ZERO)));
    assert_eq!(tiny.rest(4), Some(Duration::from_millis(100)));
    assert_eq!(
        RestRule::of(KeyFailure::Rejected).rest(1),
        Some(REJECTED_REST)
    );
    let un = RestRule::of(KeyFailure::Unavailable);
    let rests: Vec<Option<u64>> = (1..=10).map(|f| un.rest(f).map(|d| d.as_secs())).collect();
    assert_eq!(
        rests,
        vec![
            None,
            None,
            Some(1),
            Some(2),
            Some(4),
            Some(8),
            Some(16),
            Some(30),
            Some(30),
            Some(30)
        ]
    );
}

#[test]
fn records_round_trip_and_refresh_respects_newer_local_changes() {
    let state = KeyState::default();
    let until = wall_ms() + 20_000;
    state.set_from_record(Some(&format!("{until} 1 2")));
    assert_eq!(state.consecutive_failures.load(Ordering::Relaxed), 2);
    let (record, ttl) = state.record().unwrap();
    let (u, code, fails) = parse_record(&record).unwrap();
    assert_eq!((code, fails), (1, 2));
    assert!(u.abs_diff(until) < 50, "{u} vs {until}");
    assert!(ttl > RECORD_TTL);
    // A refresh read issued before a local change does not undo it.
    let before = std::time::Instant::now();
    state.touch();
    state.adopt(None, before);
    assert_eq!(state.consecutive_failures.load(Ordering::Relaxed), 2);
    // One issued after it does: no record means healthy.
    std::thread::sleep(Duration::from_millis(3));
    state.adopt(None, std::time::Instant::now());
    assert_eq!(state.consecutive_failures.load(Ordering::Relaxed), 0);
    assert!(state.record().is_none());
    assert!(parse_record("garbage").is_none());
}

#[tokio::test]
async fn a_local_shared_state_changes_nothing() {
    let shared = SharedState::local();
    let p = KeyPool::shared(vec![ApiKey::new("k0"), ApiKey::new("k1")], "Up", &shared);
    assert!(p.fleet.is_none());
    assert_eq!(
        p.attempt_order(LoadBalance::RoundRobin).await.unwrap(),
        vec![0, 1]
    );
    assert_eq!(
        p.attempt_order(LoadBalance::RoundRobin).await.unwrap(),
        vec![1, 0]
    );
    p.mark_failure(1, KeyFailure::Rejected).await;
    assert_eq!(
        p.attempt_order(LoadBalance::RoundRobin).await.unwrap(),
        vec![0]
    );
}
