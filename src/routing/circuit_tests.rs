//! Tests of the circuit breaker (local state; paused time).

use super::*;

const LIMITS: CircuitBreakerSettings = CircuitBreakerSettings {
    failures: 3,
    open: Duration::from_secs(30),
    max_open: Duration::from_secs(100),
};

async fn probe(c: &Arc<Circuit>) -> ProbeGuard {
    match c.admit().await {
        Admission::Probe(p) => p,
        other => panic!("expected a probe, got {other:?}"),
    }
}

async fn skipped_for(c: &Arc<Circuit>) -> Duration {
    match c.admit().await {
        Admission::Skip { retry_in } => retry_in,
        other => panic!("expected a skip, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn opens_after_n_consecutive_failures_only() {
    let c = Arc::new(Circuit::default());
    assert!(!c.failure(&LIMITS, None).await);
    assert!(!c.failure(&LIMITS, None).await);
    c.success(None).await;
    assert!(!c.failure(&LIMITS, None).await);
    assert!(!c.failure(&LIMITS, None).await);
    assert!(matches!(c.admit().await, Admission::Pass));
    assert!(c.failure(&LIMITS, None).await);
    assert_eq!(c.view().as_str(), "open");
    assert_eq!(skipped_for(&c).await, Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn one_probe_after_the_open_time_and_success_closes() {
    let c = Arc::new(Circuit::default());
    for _ in 0..3 {
        c.failure(&LIMITS, None).await;
    }
    tokio::time::advance(Duration::from_secs(29)).await;
    assert_eq!(skipped_for(&c).await, Duration::from_secs(1));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(c.view().as_str(), "half-open");
    let mut p = probe(&c).await;
    // Exactly one probe at a time.
    assert_eq!(skipped_for(&c).await, PROBE_WAIT);
    c.success(Some(&mut p)).await;
    assert_eq!(c.view(), CircuitView::Closed);
    assert!(matches!(c.admit().await, Admission::Pass));
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_reopens_for_twice_as_long_up_to_the_maximum() {
    let c = Arc::new(Circuit::default());
    for _ in 0..3 {
        c.failure(&LIMITS, None).await;
    }
    let mut open = Duration::from_secs(30);
    for expected in [60, 100, 100] {
        tokio::time::advance(open).await;
        let mut p = probe(&c).await;
        assert!(c.failure(&LIMITS, Some(&mut p)).await);
        open = Duration::from_secs(expected);
        assert_eq!(skipped_for(&c).await, open);
    }
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_probe_lets_the_next_request_probe() {
    let c = Arc::new(Circuit::default());
    for _ in 0..3 {
        c.failure(&LIMITS, None).await;
    }
    tokio::time::advance(Duration::from_secs(30)).await;
    drop(probe(&c).await);
    let mut p = probe(&c).await;
    c.success(Some(&mut p)).await;
    assert_eq!(c.view(), CircuitView::Closed);
}

#[tokio::test(start_paused = true)]
async fn late_failures_of_requests_admitted_before_opening_change_nothing() {
    let c = Arc::new(Circuit::default());
    for _ in 0..3 {
        c.failure(&LIMITS, None).await;
    }
    assert!(!c.failure(&LIMITS, None).await);
    assert_eq!(skipped_for(&c).await, Duration::from_secs(30));
}
