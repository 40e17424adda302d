//! Fleet state: what several gateway instances behind one load balancer must
//! agree on — key rest periods and failure counts, circuit-breaker states and
//! probe ownership, round-robin turns, rate-limit windows, and generic
//! counters — kept in Redis when `REDIS_URL` is set, and in this process
//! otherwise.
//!
//! One handle, [`SharedState`], serves both cases, so `routing/keys.rs`,
//! `routing/circuit.rs` and `server/rate_limit.rs` call one API:
//!
//! - **Local first.** Key and circuit state live in the process (atomics and
//!   small mutexes in the routing types); they register as [`Mirror`]s, and a
//!   background task refreshes them from Redis every [`REFRESH`] in one
//!   pipelined round trip. Reads on the request path never wait on Redis.
//! - **Updates are one atomic Redis operation** each (a small Lua script,
//!   `INCR`, `SET NX PX`, `INCRBY` with its `PEXPIREAT`), bounded by
//!   `REDIS_TIMEOUT_MS`. The few that a request waits for (the round-robin
//!   turn, a rate-limit window, a probe claim) give up after that timeout and
//!   the local state answers instead.
//! - **Redis down** (at start or later): every call answers `None` at once,
//!   local state serves, one warning is logged per outage, and
//!   `claude_proxy_shared_state_up` says 0. A supervisor reconnects with
//!   backoff; on return it writes the local records that Redis lacks (`SET
//!   NX`) and the counter increments it missed, then resumes refreshing.
//!
//! Redis key names are `REDIS_PREFIX` + a kind + upstream names or
//! fingerprints ([`SharedState::fingerprint`], an HMAC under the access key):
//! never a key, never a credential.

mod local;
mod remote;
mod settings;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use redis::Script;

use self::local::LocalCounters;
use self::remote::Remote;
pub use self::settings::RedisSettings;

/// How often mirrored state (cooldowns, circuits) is read back from Redis:
/// a change made by one instance reaches the others within this plus one
/// round trip.
pub const REFRESH: Duration = Duration::from_millis(250);

/// Local state that mirrors one Redis record (a key's health, a circuit).
/// The refresher hands each mirror the fleet's record; after an outage the
/// supervisor writes back the records Redis lacks.
pub trait Mirror: Send + Sync {
    /// Adopts the fleet's record (`None`: Redis holds none, i.e. the
    /// healthy or closed state), unless the local state changed at or after
    /// `since`, when the read was issued (a newer local change wins; its own
    /// write reaches Redis and the next refresh).
    fn adopt(&self, record: Option<&str>, since: std::time::Instant);
    /// The local state as a record and how long Redis should keep it, when
    /// there is something to say (a resting key, an open circuit); used to
    /// merge back after an outage.
    fn record(&self) -> Option<(String, Duration)>;
    /// Whether a local change did not reach Redis (its call timed out or
    /// failed) since the last time this was asked; the refresh then writes
    /// [`Mirror::record`] (or deletes the record when there is none) before
    /// it reads, so the change is not undone by the fleet's older record.
    fn take_dirty(&self) -> bool;
}

/// A windowed count: the total in the window that contains now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCount {
    /// The window's total after the addition: the fleet's when `fleet`,
    /// else this instance's.
    pub total: u64,
    /// Until the window ends and a new one starts from zero.
    pub resets_in: Duration,
    /// Whether Redis answered (the total is fleet-wide).
    pub fleet: bool,
}

/// A counter's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// The value: the fleet's when `fleet`, else this instance's view (the
    /// last fleet value it saw plus what it added since).
    pub value: i64,
    /// Whether Redis answered.
    pub fleet: bool,
}

/// The fleet state handle; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct SharedState {
    inner: Arc<Inner>,
}

struct Inner {
    remote: Option<Arc<Remote>>,
    local: LocalCounters,
    fingerprints: ring::hmac::Key,
}

impl std::fmt::Debug for SharedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedState")
            .field("fleet", &self.is_fleet())
            .field("up", &self.is_up())
            .finish()
    }
}

impl SharedState {
    /// Process-local state only (no `REDIS_URL`): every operation answers
    /// from this process at once.
    pub fn local() -> Self {
        Self::build(None, b"")
    }

    /// From the settings: Redis-backed when `REDIS_URL` is set (a supervisor
    /// task connects in the background; until it does, local state serves),
    /// local otherwise. `secret` keys the fingerprints of credentials and
    /// upstream keys in Redis key names (the fleet's shared access key).
    /// Must be called inside the tokio runtime when Redis is configured.
    pub fn from_settings(redis: Option<&RedisSettings>, secret: &[u8]) -> Self {
        let remote = redis.and_then(|r| match Remote::new(r) {
            Ok(remote) => Some(Arc::new(remote)),
            Err(e) => {
                tracing::error!(error = %e, "REDIS_URL cannot be used; serving on local state only");
                None
            }
        });
        let state = Self::build(remote, secret);
        if let Some(remote) = &state.inner.remote {
            remote::spawn_supervisor(remote, Arc::downgrade(&state.inner));
        }
        state
    }

    fn build(remote: Option<Arc<Remote>>, secret: &[u8]) -> Self {
        SharedState {
            inner: Arc::new(Inner {
                remote,
                local: LocalCounters::default(),
                fingerprints: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret),
            }),
        }
    }

    /// Whether Redis is configured (`REDIS_URL`), up or not.
    pub fn is_fleet(&self) -> bool {
        self.inner.remote.is_some()
    }

    /// Whether Redis is configured and connected now.
    pub fn is_up(&self) -> bool {
        self.inner.remote.as_ref().is_some_and(|r| r.is_up())
    }

    /// A stable, non-reversible name for a secret (an upstream key, a client
    /// credential) in Redis key names: 96 bits of an HMAC-SHA256 under the
    /// fleet's secret, hex. Equal on every instance of one fleet.
    pub fn fingerprint(&self, secret: &[u8]) -> String {
        let tag = ring::hmac::sign(&self.inner.fingerprints, secret);
        tag.as_ref()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Registers local state that mirrors the Redis record `name` (without
    /// the prefix). Dropped mirrors are forgotten by the next refresh.
    /// No-op without Redis.
    pub fn register(&self, name: String, mirror: Weak<dyn Mirror>) {
        if let Some(r) = &self.inner.remote {
            r.register(name, mirror);
        }
    }

    /// Runs `script` with `keys` (names without the prefix) and `args`;
    /// `None` without Redis, when it is down, or after `REDIS_TIMEOUT_MS`.
    pub async fn eval<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[&str],
    ) -> Option<T> {
        self.inner.remote.as_ref()?.eval(script, keys, args).await
    }

    /// `INCR name`: the fleet-wide turn counter (round-robin); `None` when
    /// Redis does not answer.
    pub async fn incr(&self, name: &str) -> Option<u64> {
        let remote = self.inner.remote.as_ref()?;
        let key = remote.key(name);
        remote
            .query(move |mut c| async move {
                redis::cmd("INCR")
                    .arg(&key)
                    .query_async::<u64>(&mut c)
                    .await
            })
            .await
    }

    /// Deletes the record `name`; `false` when Redis did not answer (a
    /// mirror then marks itself dirty, see [`Mirror::take_dirty`]).
    pub async fn delete(&self, name: &str) -> bool {
        let Some(remote) = self.inner.remote.as_ref() else {
            return false;
        };
        let key = remote.key(name);
        remote
            .query(move |mut c| async move {
                redis::cmd("DEL").arg(&key).query_async::<()>(&mut c).await
            })
            .await
            .is_some()
    }

    /// Claims `name` for this instance for `ttl` (`SET NX PX`): `Some(true)`
    /// when this instance holds it now, `Some(false)` when another does,
    /// `None` when Redis does not answer (decide locally).
    pub async fn claim(&self, name: &str, ttl: Duration) -> Option<bool> {
        self.inner.remote.as_ref()?.claim(name, ttl).await
    }

    /// Gives up a claim this instance holds (compare-and-delete); a claim
    /// that another instance holds is left alone.
    pub async fn release(&self, name: &str) {
        if let Some(r) = self.inner.remote.as_ref() {
            r.release(name).await;
        }
    }

    /// This instance's id in claims (random per process start).
    pub fn instance_id(&self) -> &str {
        self.inner
            .remote
            .as_ref()
            .map(|r| r.instance.as_str())
            .unwrap_or("local")
    }

    /// Adds `amount` to the **fixed** window `name` of length `window`
    /// (windows are aligned to the Unix epoch, so every instance agrees on
    /// where one starts) and returns the window's total. With Redis the
    /// total is the fleet's (`INCRBY`, and `PEXPIREAT` to the window's end
    /// when it creates the window, in one script call); without
    /// it, or when Redis does not answer within `REDIS_TIMEOUT_MS`, this
    /// instance's (its last fleet total plus what it added since), and the
    /// missed amount is added to Redis when it returns.
    ///
    /// For per-client request and token windows (`rpm`, `tpm`): call it
    /// with the amount to count and compare `total` with the limit.
    pub async fn window_add(&self, name: &str, window: Duration, amount: u64) -> WindowCount {
        let window_ms = (window.as_millis() as u64).max(1);
        let now = wall_ms();
        let index = now / window_ms;
        let ends_at = (index + 1) * window_ms;
        let resets_in = Duration::from_millis(ends_at - now);
        let slot = format!("win:{name}:{index}");
        let local = self.inner.local.window_add(&slot, ends_at, amount);
        let Some(remote) = self.inner.remote.as_ref() else {
            return WindowCount {
                total: local,
                resets_in,
                fleet: false,
            };
        };
        match remote
            .add(&slot, amount as i64, Some(ends_at + 1000), false)
            .await
        {
            Some(total) => {
                let total = total.max(0) as u64;
                self.inner.local.window_sync(&slot, ends_at, total);
                WindowCount {
                    total,
                    resets_in,
                    fleet: true,
                }
            }
            None => WindowCount {
                total: local,
                resets_in,
                fleet: false,
            },
        }
    }

    /// Adds `amount` (may be negative) to the counter `name` and returns its
    /// new value. `ttl` (re)sets its expiry, for counters that belong to a
    /// period (a daily token budget: name it by the day and give it a day or
    /// two). Amounts are whole numbers: count money in micro-units. Like
    /// [`SharedState::window_add`], the fleet's value when Redis answers,
    /// else this instance's view; a missed amount is added when Redis
    /// returns.
    pub async fn counter_add(&self, name: &str, amount: i64, ttl: Option<Duration>) -> Count {
        let slot = format!("count:{name}");
        let expire_at = ttl.map(|t| wall_ms() + t.as_millis() as u64);
        let local = self.inner.local.counter_add(&slot, amount, ttl);
        match self.inner.remote.as_ref() {
            Some(remote) => match remote.add(&slot, amount, expire_at, true).await {
                Some(value) => {
                    self.inner.local.counter_sync(&slot, value, ttl);
                    Count { value, fleet: true }
                }
                None => Count {
                    value: local,
                    fleet: false,
                },
            },
            None => Count {
                value: local,
                fleet: false,
            },
        }
    }

    /// The counter `name`'s value (0 when it does not exist), the fleet's
    /// when Redis answers.
    pub async fn counter_get(&self, name: &str) -> Count {
        let slot = format!("count:{name}");
        let local = self.inner.local.counter_get(&slot);
        if let Some(remote) = self.inner.remote.as_ref() {
            let key = remote.key(&slot);
            let got = remote
                .query(move |mut c| async move {
                    redis::cmd("GET")
                        .arg(&key)
                        .query_async::<Option<i64>>(&mut c)
                        .await
                })
                .await;
            if let Some(v) = got {
                let value = v.unwrap_or(0);
                return Count { value, fleet: true };
            }
        }
        Count {
            value: local,
            fleet: false,
        }
    }
}

/// Milliseconds since the Unix epoch: the clock of every record in Redis
/// (instances compare deadlines across machines, so not a monotonic clock;
/// NTP keeps them within milliseconds).
pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
