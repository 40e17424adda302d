//! Key selection within one upstream: the order in which a request tries the
//! upstream's keys (round-robin, random, failover) and the cooldowns that
//! rest a key after it failed.
//!
//! Lock-free: counters and cooldown deadlines are atomics, so selection never
//! blocks and never holds anything across an `.await`.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;

use crate::config::{ApiKey, LoadBalance};

/// Why a key failed, which decides how long it rests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFailure {
    /// 429: rests for `Retry-After`, else an exponential backoff.
    RateLimited(Option<Duration>),
    /// 401/403 or "insufficient quota": the key is bad; rests much longer.
    Rejected,
    /// 5xx, connection failure, first-byte timeout: a short, growing rest.
    Unavailable,
}

impl KeyFailure {
    fn code(self) -> u8 {
        match self {
            KeyFailure::RateLimited(_) => 1,
            KeyFailure::Rejected => 2,
            KeyFailure::Unavailable => 3,
        }
    }

    /// The name of a stored failure code (`None` for 0, no failure).
    fn name_of(code: u8) -> Option<&'static str> {
        match code {
            1 => Some("rate_limited"),
            2 => Some("rejected"),
            3 => Some("unavailable"),
            _ => None,
        }
    }
}

/// One key's state at one moment, as operators see it (the admin API):
/// never the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyView {
    /// The key, masked.
    pub masked: String,
    /// How much longer it rests; `None` when it is usable now.
    pub resting_for: Option<Duration>,
    /// How it last failed (`rate_limited`, `rejected`, `unavailable`);
    /// `None` when it has not failed since it last answered.
    pub last_failure: Option<&'static str>,
    /// Failures since it last answered.
    pub consecutive_failures: u32,
}

/// What a request learns when every key of an upstream is resting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllResting {
    /// Until the first key is usable again (rounded up to whole seconds).
    pub retry_after: Duration,
    /// True when the soonest key rests because of rate limiting.
    pub rate_limited: bool,
}

const REJECTED_REST: Duration = Duration::from_secs(600);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Consecutive 5xx/connection failures before a key rests.
const UNAVAILABLE_THRESHOLD: u32 = 3;

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    epoch().elapsed().as_millis() as u64
}

#[derive(Debug, Default)]
struct KeyState {
    /// Milliseconds since [`epoch`] until which the key rests (0 = usable).
    rest_until: AtomicU64,
    consecutive_failures: AtomicU32,
    last_failure: AtomicU8,
}

/// One upstream's keys with their order counter and per-key health.
#[derive(Debug)]
pub struct KeyPool {
    keys: Vec<ApiKey>,
    states: Vec<KeyState>,
    next: AtomicUsize,
    /// No key configured (a local server such as Ollama): requests go out
    /// once, without an auth header, through one empty pseudo-key.
    keyless: bool,
}

impl KeyPool {
    /// A pool of `keys`, all healthy.
    pub fn new(keys: Vec<ApiKey>) -> Self {
        let keyless = keys.is_empty();
        let keys = if keyless { vec![ApiKey::new("")] } else { keys };
        let states = keys.iter().map(|_| KeyState::default()).collect();
        KeyPool {
            keys,
            states,
            next: AtomicUsize::new(0),
            keyless,
        }
    }

    /// A pool for `keys` that inherits the rotation counter and the
    /// cooldowns of keys that `self` already had (hot reload).
    pub fn carry_over(&self, keys: Vec<ApiKey>) -> Self {
        let pool = KeyPool::new(keys);
        pool.next
            .store(self.next.load(Ordering::Relaxed), Ordering::Relaxed);
        for (i, key) in pool.keys.iter().enumerate() {
            if let Some(j) = self.keys.iter().position(|k| k == key) {
                let (old, new) = (&self.states[j], &pool.states[i]);
                new.rest_until
                    .store(old.rest_until.load(Ordering::Relaxed), Ordering::Relaxed);
                new.consecutive_failures.store(
                    old.consecutive_failures.load(Ordering::Relaxed),
                    Ordering::Relaxed,
                );
                new.last_failure
                    .store(old.last_failure.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
        pool
    }

    /// Configured keys (0 for a keyless upstream).
    pub fn len(&self) -> usize {
        if self.keyless {
            0
        } else {
            self.keys.len()
        }
    }

    /// True when there is not even the keyless pseudo-key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key at `i` (an index from [`KeyPool::attempt_order`]).
    pub fn key(&self, i: usize) -> &ApiKey {
        &self.keys[i]
    }

    /// Every key, in configuration order.
    pub fn keys(&self) -> &[ApiKey] {
        &self.keys
    }

    /// How many keys are resting right now.
    pub fn resting_count(&self) -> usize {
        let now = now_ms();
        self.states
            .iter()
            .filter(|s| s.rest_until.load(Ordering::Relaxed) > now)
            .count()
    }

    /// Each configured key's state, in configuration order (empty for a
    /// keyless upstream). Reads the atomics only: it changes nothing.
    pub fn views(&self) -> Vec<KeyView> {
        if self.keyless {
            return Vec::new();
        }
        let now = now_ms();
        self.keys
            .iter()
            .zip(&self.states)
            .map(|(key, state)| {
                let until = state.rest_until.load(Ordering::Relaxed);
                KeyView {
                    masked: key.masked(),
                    resting_for: (until > now).then(|| Duration::from_millis(until - now)),
                    last_failure: KeyFailure::name_of(state.last_failure.load(Ordering::Relaxed)),
                    consecutive_failures: state.consecutive_failures.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// The keys a request should try, in order, each once: the strategy's
    /// order with resting keys left out. `Err` when every key rests.
    pub fn attempt_order(&self, strategy: LoadBalance) -> Result<Vec<usize>, AllResting> {
        let n = self.keys.len();
        let mut order: Vec<usize> = match strategy {
            LoadBalance::RoundRobin => {
                let start = self.next.fetch_add(1, Ordering::Relaxed) % n.max(1);
                (0..n).map(|i| (start + i) % n).collect()
            }
            LoadBalance::Random => {
                let mut v: Vec<usize> = (0..n).collect();
                v.shuffle(&mut rand::rng());
                v
            }
            LoadBalance::Failover => (0..n).collect(),
        };
        let now = now_ms();
        let resting = |i: &usize| self.states[*i].rest_until.load(Ordering::Relaxed) > now;
        if n > 0 && order.iter().all(resting) {
            let soonest = order
                .iter()
                .copied()
                .min_by_key(|&i| self.states[i].rest_until.load(Ordering::Relaxed))
                .unwrap_or(0);
            let until = self.states[soonest].rest_until.load(Ordering::Relaxed);
            let secs = (until.saturating_sub(now)).div_ceil(1000).max(1);
            return Err(AllResting {
                retry_after: Duration::from_secs(secs),
                rate_limited: self.states[soonest].last_failure.load(Ordering::Relaxed)
                    == KeyFailure::RateLimited(None).code(),
            });
        }
        order.retain(|i| !resting(i));
        Ok(order)
    }

    /// Rests key `i` according to how it failed.
    pub fn mark_failure(&self, i: usize, failure: KeyFailure) {
        let Some(state) = self.states.get(i) else {
            return;
        };
        let failures = state.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        let backoff = Duration::from_secs(1u64 << (failures - 1).min(6)).min(MAX_BACKOFF);
        let rest = match failure {
            KeyFailure::RateLimited(Some(after)) => after.max(Duration::from_millis(100)),
            KeyFailure::RateLimited(None) => backoff,
            KeyFailure::Rejected => REJECTED_REST,
            // One 5xx or dropped connection says little about the key (it may
            // be the request, or a blip): rest only a key that keeps failing.
            KeyFailure::Unavailable if failures < UNAVAILABLE_THRESHOLD => return,
            KeyFailure::Unavailable => {
                let n = failures - UNAVAILABLE_THRESHOLD;
                Duration::from_secs(1u64 << n.min(5)).min(Duration::from_secs(30))
            }
        };
        state
            .rest_until
            .store(now_ms() + rest.as_millis() as u64, Ordering::Relaxed);
        state.last_failure.store(failure.code(), Ordering::Relaxed);
    }

    /// Key `i` answered: it is healthy again.
    pub fn mark_success(&self, i: usize) {
        if let Some(state) = self.states.get(i) {
            if state.consecutive_failures.load(Ordering::Relaxed) != 0 {
                state.consecutive_failures.store(0, Ordering::Relaxed);
                state.rest_until.store(0, Ordering::Relaxed);
                state.last_failure.store(0, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: usize) -> KeyPool {
        KeyPool::new((0..n).map(|i| ApiKey::new(format!("key-{i}"))).collect())
    }

    #[test]
    fn round_robin_rotates_start() {
        let p = pool(3);
        let firsts: Vec<usize> = (0..6)
            .map(|_| p.attempt_order(LoadBalance::RoundRobin).unwrap()[0])
            .collect();
        assert_eq!(firsts, vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(p.attempt_order(LoadBalance::RoundRobin).unwrap().len(), 3);
    }

    #[test]
    fn failover_prefers_first_healthy() {
        let p = pool(3);
        assert_eq!(
            p.attempt_order(LoadBalance::Failover).unwrap(),
            vec![0, 1, 2]
        );
        p.mark_failure(0, KeyFailure::Rejected);
        assert_eq!(p.attempt_order(LoadBalance::Failover).unwrap(), vec![1, 2]);
        p.mark_success(0);
        assert_eq!(
            p.attempt_order(LoadBalance::Failover).unwrap(),
            vec![0, 1, 2]
        );
    }

    #[test]
    fn random_covers_every_key_once() {
        let p = pool(5);
        let mut o = p.attempt_order(LoadBalance::Random).unwrap();
        o.sort();
        assert_eq!(o, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn all_resting_reports_retry_after() {
        let p = pool(2);
        p.mark_failure(0, KeyFailure::RateLimited(Some(Duration::from_secs(7))));
        p.mark_failure(1, KeyFailure::Rejected);
        let e = p.attempt_order(LoadBalance::RoundRobin).unwrap_err();
        assert!(e.rate_limited);
        assert!(e.retry_after <= Duration::from_secs(7) && e.retry_after >= Duration::from_secs(6));
        assert_eq!(p.resting_count(), 2);
    }

    #[test]
    fn unavailable_rests_only_after_repeated_failures() {
        let p = pool(1);
        p.mark_failure(0, KeyFailure::Unavailable);
        p.mark_failure(0, KeyFailure::Unavailable);
        assert_eq!(p.resting_count(), 0);
        p.mark_failure(0, KeyFailure::Unavailable);
        let e = p.attempt_order(LoadBalance::Failover).unwrap_err();
        assert!(!e.rate_limited);
        p.mark_success(0);
        assert_eq!(p.resting_count(), 0);
    }

    #[test]
    fn views_show_rests_masked_and_change_nothing() {
        let p = KeyPool::new(vec![
            ApiKey::new("sk-aaaaaaaaaaaaaaaaaaaa1111"),
            ApiKey::new("sk-bbbbbbbbbbbbbbbbbbbb2222"),
        ]);
        p.mark_failure(1, KeyFailure::RateLimited(Some(Duration::from_secs(30))));
        p.mark_failure(0, KeyFailure::Unavailable);
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
        assert_eq!(p.attempt_order(LoadBalance::RoundRobin).unwrap(), vec![0]);
        assert!(KeyPool::new(Vec::new()).views().is_empty());
    }

    #[test]
    fn keyless_pool_has_one_attempt() {
        let p = KeyPool::new(Vec::new());
        assert!(p.is_empty());
        assert_eq!(p.attempt_order(LoadBalance::RoundRobin).unwrap(), vec![0]);
        assert_eq!(p.key(0).expose(), "");
    }

    #[test]
    fn reload_keeps_counters_and_cooldowns() {
        let p = pool(3);
        p.attempt_order(LoadBalance::RoundRobin).unwrap();
        p.mark_failure(1, KeyFailure::Rejected);
        let q = p.carry_over(vec![ApiKey::new("key-1"), ApiKey::new("new")]);
        assert_eq!(q.resting_count(), 1);
        assert_eq!(q.attempt_order(LoadBalance::Failover).unwrap(), vec![1]);
    }
}
