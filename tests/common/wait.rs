//! Bounded waiting: every poll loop in the tests ends by a deadline.

use std::future::Future;
use std::time::{Duration, Instant};

const STEP: Duration = Duration::from_millis(20);

/// Polls `cond` until it holds or `limit` has passed; returns whether it
/// held (blocking; for tests without a runtime).
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(STEP);
    }
}

/// Polls the async `cond` until it holds or `limit` has passed; returns
/// whether it held.
pub async fn eventually<F, Fut>(limit: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(STEP).await;
    }
}

/// Waits (at most ~6 s) until the current UTC minute has at least 5 s
/// left, so a test of one-minute windows (a client key's `rpm`, `tpm`)
/// does not straddle two of them.
pub async fn away_from_a_minute_boundary() {
    for _ in 0..40 {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            % 60_000;
        if ms < 55_000 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}
