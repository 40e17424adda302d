//! Key selection within one upstream: the order in which a request tries the
//! upstream's keys (round-robin, random, failover) and the cooldowns that
//! rest a key after it failed.
//!
//! Lock-free: counters and cooldown deadlines are atomics, so selection never
//! blocks and never holds anything across an `.await`. In a fleet
//! (`REDIS_URL`) the same atomics mirror Redis records: failures and
//! successes are written there in one atomic step each, round-robin turns
//! come from one fleet-wide counter, and the background refresh of
//! [`crate::shared_state`] brings in what the other instances saw.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;

use crate::config::{ApiKey, LoadBalance};
use crate::shared_state::{wall_ms, Mirror, Script, SharedState};

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
/// How long a fleet's record of a key outlives its rest (the failure count
/// with it: a key that failed twice an hour ago starts afresh).
const RECORD_TTL: Duration = Duration::from_secs(3600);

/// How long a key rests after its `failures`-th failure in a row: the one
/// rule, applied here and (with the same numbers) by [`KEY_FAILED`] in
/// Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RestRule {
    /// A fixed rest in ms (0: the backoff below).
    fixed_ms: u64,
    /// Failures in a row before the key rests at all.
    threshold: u32,
    /// Backoff: `base_ms << min(failures - offset, max_shift)`, at most
    /// `cap_ms`.
    base_ms: u64,
    offset: u32,
    max_shift: u32,
    cap_ms: u64,
}

impl RestRule {
    fn of(failure: KeyFailure) -> Self {
        let backoff = |threshold, offset, max_shift, cap: Duration| RestRule {
            fixed_ms: 0,
            threshold,
            base_ms: 1000,
            offset,
            max_shift,
            cap_ms: cap.as_millis() as u64,
        };
        let fixed = |d: Duration| RestRule {
            fixed_ms: d.as_millis() as u64,
            threshold: 1,
            base_ms: 0,
            offset: 0,
            max_shift: 0,
            cap_ms: 0,
        };
        match failure {
            KeyFailure::RateLimited(Some(after)) => fixed(after.max(Duration::from_millis(100))),
            KeyFailure::RateLimited(None) => backoff(1, 1, 6, MAX_BACKOFF),
            KeyFailure::Rejected => fixed(REJECTED_REST),
            // One 5xx or dropped connection says little about the key (it may
            // be the request, or a blip): rest only a key that keeps failing.
            KeyFailure::Unavailable => backoff(
                UNAVAILABLE_THRESHOLD,
                UNAVAILABLE_THRESHOLD,
                5,
                Duration::from_secs(30),
            ),
        }
    }

    /// The rest after the `failures`-th failure in a row; `None`: none yet.
    fn rest(&self, failures: u32) -> Option<Duration> {
        if failures < self.threshold {
            return None;
        }
        if self.fixed_ms > 0 {
            return Some(Duration::from_millis(self.fixed_ms));
        }
        let shift = failures.saturating_sub(self.offset).min(self.max_shift);
        Some(Duration::from_millis(
            (self.base_ms << shift).min(self.cap_ms),
        ))
    }

    /// The longest rest the rule gives.
    fn longest(&self) -> Duration {
        Duration::from_millis(self.fixed_ms.max(self.cap_ms))
    }
}

/// One key's failure in Redis, as one atomic step: count it, and when the
/// count reaches the rule's threshold rest the key. The record is
/// `"<rest until, Unix ms> <failure code> <failures in a row>"`.
/// KEYS[1] the key's record; ARGV: now, code, then the [`RestRule`]
/// (fixed, threshold, base, offset, max shift, cap), the record's ttl.
const KEY_FAILED: &str = r"
local untilv, code, fails = 0, 0, 0
local v = redis.call('GET', KEYS[1])
if v then
  local a, b, c = string.match(v, '^(%d+) (%d+) (%d+)$')
  if a then untilv, code, fails = tonumber(a), tonumber(b), tonumber(c) end
end
fails = fails + 1
if fails >= tonumber(ARGV[4]) then
  local rest = tonumber(ARGV[3])
  if rest == 0 then
    local shift = math.min(math.max(fails - tonumber(ARGV[6]), 0), tonumber(ARGV[7]))
    rest = math.min(tonumber(ARGV[5]) * 2 ^ shift, tonumber(ARGV[8]))
  end
  untilv = tonumber(ARGV[1]) + rest
  code = tonumber(ARGV[2])
end
local rec = string.format('%d %d %d', untilv, code, fails)
redis.call('SET', KEYS[1], rec, 'PX', ARGV[9])
return rec
";

fn key_failed_script() -> &'static Script {
    static S: OnceLock<Script> = OnceLock::new();
    S.get_or_init(|| Script::new(KEY_FAILED))
}

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
    /// Milliseconds since [`epoch`] of the last local change (a refresh read
    /// issued before it must not undo it).
    changed_at: AtomicU64,
    /// A local change that Redis did not take (see [`Mirror::take_dirty`]).
    dirty: AtomicBool,
}

impl KeyState {
    fn touch(&self) {
        self.changed_at.store(now_ms() + 1, Ordering::Relaxed);
    }

    /// Takes a fleet record `"<until> <code> <failures>"` as the key's state.
    fn set_from_record(&self, record: Option<&str>) {
        let (until, code, fails) = record.and_then(parse_record).unwrap_or((0, 0, 0));
        let wall = wall_ms();
        let local_until = if until > wall {
            now_ms() + (until - wall)
        } else {
            0
        };
        self.rest_until.store(local_until, Ordering::Relaxed);
        self.last_failure.store(code, Ordering::Relaxed);
        self.consecutive_failures.store(fails, Ordering::Relaxed);
    }
}

fn parse_record(record: &str) -> Option<(u64, u8, u32)> {
    let mut parts = record.split(' ');
    let until = parts.next()?.parse().ok()?;
    let code = parts.next()?.parse().ok()?;
    let fails = parts.next()?.parse().ok()?;
    Some((until, code, fails))
}

impl Mirror for KeyState {
    fn adopt(&self, record: Option<&str>, since: std::time::Instant) {
        let since_ms = since.saturating_duration_since(epoch()).as_millis() as u64;
        let changed = self.changed_at.load(Ordering::Relaxed);
        // 0: never changed here.
        if changed != 0 && changed >= since_ms {
            return;
        }
        self.set_from_record(record);
    }

    fn record(&self) -> Option<(String, Duration)> {
        let fails = self.consecutive_failures.load(Ordering::Relaxed);
        if fails == 0 {
            return None;
        }
        let now = now_ms();
        let left = self.rest_until.load(Ordering::Relaxed).saturating_sub(now);
        let until = if left > 0 { wall_ms() + left } else { 0 };
        let code = self.last_failure.load(Ordering::Relaxed);
        Some((
            format!("{until} {code} {fails}"),
            Duration::from_millis(left) + RECORD_TTL,
        ))
    }

    fn take_dirty(&self) -> bool {
        self.dirty.swap(false, Ordering::Relaxed)
    }
}

/// A pool's link to the fleet: Redis names of its turn counter and keys.
#[derive(Debug)]
struct PoolFleet {
    shared: SharedState,
    /// The round-robin turn counter (`rr:<upstream>`).
    turn: String,
    /// Each key's record (`key:<upstream>:<fingerprint>`), in key order.
    records: Vec<String>,
}

/// One upstream's keys with their order counter and per-key health.
#[derive(Debug)]
pub struct KeyPool {
    keys: Vec<ApiKey>,
    states: Vec<Arc<KeyState>>,
    next: AtomicUsize,
    /// No key configured (a local server such as Ollama): requests go out
    /// once, without an auth header, through one empty pseudo-key.
    keyless: bool,
    /// `None`: this process alone (no `REDIS_URL`).
    fleet: Option<PoolFleet>,
}

impl KeyPool {
    /// A pool of `keys`, all healthy, kept in this process only.
    pub fn new(keys: Vec<ApiKey>) -> Self {
        let keyless = keys.is_empty();
        let keys = if keyless { vec![ApiKey::new("")] } else { keys };
        let states = keys.iter().map(|_| Arc::default()).collect();
        KeyPool {
            keys,
            states,
            next: AtomicUsize::new(0),
            keyless,
            fleet: None,
        }
    }

    /// A pool of `keys` of the upstream `upstream` whose turns, rests and
    /// failure counts are shared with the fleet through `shared` (local
    /// only when `shared` has no Redis).
    pub fn shared(keys: Vec<ApiKey>, upstream: &str, shared: &SharedState) -> Self {
        let mut pool = KeyPool::new(keys);
        if shared.is_fleet() {
            let up = upstream.to_ascii_lowercase();
            let records: Vec<String> = pool
                .keys
                .iter()
                .map(|k| format!("key:{up}:{}", shared.fingerprint(k.expose().as_bytes())))
                .collect();
            for (name, state) in records.iter().zip(&pool.states) {
                let weak: Weak<KeyState> = Arc::downgrade(state);
                shared.register(name.clone(), weak);
            }
            pool.fleet = Some(PoolFleet {
                shared: shared.clone(),
                turn: format!("rr:{up}"),
                records,
            });
        }
        pool
    }

    /// A pool for `keys` that inherits the rotation counter and the
    /// cooldowns of keys that `self` already had (hot reload), and its link
    /// to the fleet.
    pub fn carry_over(&self, upstream: &str, keys: Vec<ApiKey>) -> Self {
        let pool = match &self.fleet {
            Some(f) => KeyPool::shared(keys, upstream, &f.shared),
            None => KeyPool::new(keys),
        };
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
                new.changed_at
                    .store(old.changed_at.load(Ordering::Relaxed), Ordering::Relaxed);
                new.dirty
                    .store(old.dirty.load(Ordering::Relaxed), Ordering::Relaxed);
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
    ///
    /// In a fleet, round-robin takes its turn from the fleet's counter (one
    /// `INCR`, at most `REDIS_TIMEOUT_MS`; this pool's own counter when Redis
    /// does not answer); rests are this process's view, refreshed from the
    /// fleet in the background.
    pub async fn attempt_order(&self, strategy: LoadBalance) -> Result<Vec<usize>, AllResting> {
        let n = self.keys.len();
        let turn = match (&self.fleet, strategy) {
            (Some(f), LoadBalance::RoundRobin) if n > 1 => f.shared.incr(&f.turn).await,
            _ => None,
        };
        self.order(strategy, turn)
    }

    fn order(&self, strategy: LoadBalance, turn: Option<u64>) -> Result<Vec<usize>, AllResting> {
        let n = self.keys.len();
        let mut order: Vec<usize> = match strategy {
            LoadBalance::RoundRobin => {
                let start = match turn {
                    // INCR counts from 1.
                    Some(t) => (t.wrapping_sub(1) % n.max(1) as u64) as usize,
                    None => self.next.fetch_add(1, Ordering::Relaxed) % n.max(1),
                };
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

    /// Rests key `i` according to how it failed. In a fleet the failure is
    /// counted and the rest decided in Redis in one step (its answer becomes
    /// this process's state; the other instances read it within a refresh);
    /// without an answer within `REDIS_TIMEOUT_MS`, locally.
    pub async fn mark_failure(&self, i: usize, failure: KeyFailure) {
        let Some(state) = self.states.get(i) else {
            return;
        };
        let rule = RestRule::of(failure);
        let failures = state.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        state.touch();
        if let Some(rest) = rule.rest(failures) {
            state
                .rest_until
                .store(now_ms() + rest.as_millis() as u64, Ordering::Relaxed);
            state.last_failure.store(failure.code(), Ordering::Relaxed);
        }
        let Some(fleet) = &self.fleet else {
            return;
        };
        let args = [
            wall_ms().to_string(),
            failure.code().to_string(),
            rule.fixed_ms.to_string(),
            rule.threshold.to_string(),
            rule.base_ms.to_string(),
            rule.offset.to_string(),
            rule.max_shift.to_string(),
            rule.cap_ms.to_string(),
            ((rule.longest() + RECORD_TTL).as_millis() as u64).to_string(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let record: Option<String> = fleet
            .shared
            .eval(key_failed_script(), &[&fleet.records[i]], &args)
            .await;
        match record {
            Some(record) => {
                state.set_from_record(Some(&record));
                state.touch();
            }
            None => state.dirty.store(true, Ordering::Relaxed),
        }
    }

    /// Key `i` answered: it is healthy again (in the fleet too).
    pub async fn mark_success(&self, i: usize) {
        let Some(state) = self.states.get(i) else {
            return;
        };
        if state.consecutive_failures.load(Ordering::Relaxed) == 0 {
            return;
        }
        state.consecutive_failures.store(0, Ordering::Relaxed);
        state.rest_until.store(0, Ordering::Relaxed);
        state.last_failure.store(0, Ordering::Relaxed);
        state.touch();
        if let Some(fleet) = &self.fleet {
            if !fleet.shared.delete(&fleet.records[i]).await {
                state.dirty.store(true, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
