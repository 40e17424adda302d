//! The Redis side: one multiplexed connection (every call pipelines onto
//! it; no pool, no per-call connect), a strict per-call timeout, and a
//! supervisor task that connects, refreshes the mirrors, notices an outage
//! and reconnects with backoff.
//!
//! The request path only ever loads the current connection (an atomic
//! pointer): while Redis is down there is none, and a call answers `None`
//! without waiting at all.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisResult, Script};
use tokio::sync::Notify;

use super::RedisSettings;
use super::{Inner, Mirror, REFRESH};

/// Calls in a row that time out before Redis counts as down (one slow
/// answer is not an outage; a stream of them is, and waiting on each would
/// cost every request `REDIS_TIMEOUT_MS`).
const MISSES_BEFORE_DOWN: u32 = 3;
/// Backoff between connection attempts while Redis is down.
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// The supervisor's own calls (connect, refresh, merge) may take longer
/// than a request's: they block no request.
const BACKGROUND_TIMEOUT: Duration = Duration::from_secs(1);
/// Counter increments kept for Redis while it is down, at most.
const PENDING_CAPACITY: usize = 10_000;
/// Names per `MGET` in a refresh.
const MGET_CHUNK: usize = 512;

/// An increment Redis missed: added when it returns.
#[derive(Debug, Clone, Copy)]
struct Pending {
    amount: i64,
    /// Wall-clock ms of the record's expiry (windows, periodic counters).
    expire_at: Option<u64>,
}

pub(super) struct Remote {
    client: redis::Client,
    prefix: String,
    timeout: Duration,
    /// The live connection; `None` while Redis is down.
    conn: ArcSwapOption<MultiplexedConnection>,
    up: AtomicBool,
    misses: AtomicU32,
    /// Wakes the supervisor when a call found the connection broken.
    wake: Notify,
    mirrors: Mutex<Vec<(String, Weak<dyn Mirror>)>>,
    pending: Mutex<HashMap<String, Pending>>,
    /// This process's id in claims.
    pub(super) instance: String,
    /// Where Redis is, with any password masked (for logs).
    shown: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `SET` the claim only if nobody holds it.
const CLAIM: &str = "return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0";
/// Delete the claim only if this instance holds it.
const RELEASE: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/// Add to a counter; set its expiry when asked to every time, or when the
/// addition created it (a window's expiry is its end, set once).
const ADD: &str = r"
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if ARGV[2] ~= '' and (ARGV[3] == '1' or v == tonumber(ARGV[1])) then
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
return v
";

fn add_script() -> &'static Script {
    static S: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
    S.get_or_init(|| Script::new(ADD))
}

fn claim_script() -> &'static Script {
    static S: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
    S.get_or_init(|| Script::new(CLAIM))
}

fn release_script() -> &'static Script {
    static S: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
    S.get_or_init(|| Script::new(RELEASE))
}

impl Remote {
    pub(super) fn new(settings: &RedisSettings) -> Result<Self, String> {
        let client = redis::Client::open(settings.url())
            .map_err(|e| format!("{}: {}", settings.shown(), e.category()))?;
        let instance = format!("{:016x}", rand::random::<u64>());
        Ok(Remote {
            client,
            prefix: settings.prefix.clone(),
            timeout: settings.timeout,
            conn: ArcSwapOption::empty(),
            up: AtomicBool::new(false),
            misses: AtomicU32::new(0),
            wake: Notify::new(),
            mirrors: Mutex::default(),
            pending: Mutex::default(),
            instance,
            shown: settings.shown(),
        })
    }

    pub(super) fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// The full Redis key of `name`.
    pub(super) fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    pub(super) fn register(&self, name: String, mirror: Weak<dyn Mirror>) {
        lock(&self.mirrors).push((self.key(&name), mirror));
    }

    /// Runs `f` on the connection within `REDIS_TIMEOUT_MS`. `None` at once
    /// when Redis is down; a broken connection marks it down, and so do
    /// [`MISSES_BEFORE_DOWN`] timeouts in a row.
    pub(super) async fn query<T, F, Fut>(&self, f: F) -> Option<T>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let conn = self.conn.load_full()?;
        match tokio::time::timeout(self.timeout, f((*conn).clone())).await {
            Ok(Ok(v)) => {
                self.misses.store(0, Ordering::Relaxed);
                Some(v)
            }
            Ok(Err(e)) => {
                metrics::counter!("claude_proxy_shared_state_fallbacks_total").increment(1);
                if e.is_unrecoverable_error() || e.is_io_error() || e.is_connection_dropped() {
                    self.mark_down(&conn, "the connection broke");
                } else {
                    tracing::debug!(error = %e.category(), "a Redis call failed; local state answered");
                }
                None
            }
            Err(_) => {
                metrics::counter!("claude_proxy_shared_state_fallbacks_total").increment(1);
                if self.misses.fetch_add(1, Ordering::Relaxed) + 1 >= MISSES_BEFORE_DOWN {
                    self.mark_down(&conn, "calls time out (REDIS_TIMEOUT_MS)");
                }
                None
            }
        }
    }

    pub(super) async fn eval<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[&str],
    ) -> Option<T> {
        let mut inv = script.prepare_invoke();
        for k in keys {
            inv.key(self.key(k));
        }
        for a in args {
            inv.arg(*a);
        }
        self.query(move |mut c| async move { inv.invoke_async::<T>(&mut c).await })
            .await
    }

    pub(super) async fn claim(&self, name: &str, ttl: Duration) -> Option<bool> {
        let ttl = (ttl.as_millis() as u64).max(1).to_string();
        let claimed: i64 = self
            .eval(claim_script(), &[name], &[&self.instance, &ttl])
            .await?;
        Some(claimed == 1)
    }

    pub(super) async fn release(&self, name: &str) {
        let _: Option<i64> = self
            .eval(release_script(), &[name], &[&self.instance])
            .await;
    }

    /// `INCRBY`, and `PEXPIREAT` when the record is new (a window) or
    /// always (`every_time`: a periodic counter), in one script call; an
    /// amount missed while Redis is down is kept for when it returns.
    pub(super) async fn add(
        &self,
        name: &str,
        amount: i64,
        expire_at: Option<u64>,
        every_time: bool,
    ) -> Option<i64> {
        let key = self.key(name);
        let (amount_arg, at_arg) = (
            amount.to_string(),
            expire_at.map(|a| a.to_string()).unwrap_or_default(),
        );
        let got: Option<i64> = self
            .eval(
                add_script(),
                &[name],
                &[&amount_arg, &at_arg, if every_time { "1" } else { "0" }],
            )
            .await;
        // Kept for later only when Redis is down: an answer that merely
        // timed out may still have been applied, and adding it again would
        // count it twice.
        if got.is_none() && !self.is_up() {
            let mut pending = lock(&self.pending);
            if pending.len() < PENDING_CAPACITY || pending.contains_key(&key) {
                let p = pending.entry(key).or_insert(Pending {
                    amount: 0,
                    expire_at,
                });
                p.amount = p.amount.saturating_add(amount);
                p.expire_at = expire_at.or(p.expire_at);
            }
        }
        got
    }

    fn mark_down(&self, seen: &Arc<MultiplexedConnection>, why: &str) {
        // Only a caller that still sees the connection it used takes it
        // down (a reconnect may have replaced it meanwhile).
        if !self
            .conn
            .load()
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(c, seen))
        {
            return;
        }
        self.conn.store(None);
        if self.up.swap(false, Ordering::Relaxed) {
            tracing::warn!(redis = %self.shown, reason = why, "shared state is down: serving on this instance's local state until Redis answers again");
        }
        self.wake.notify_one();
    }

    async fn connect(&self) -> RedisResult<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(BACKGROUND_TIMEOUT))
            .set_response_timeout(None);
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        redis::cmd("PING").query_async::<()>(&mut conn).await?;
        Ok(conn)
    }

    /// Writes back what Redis lacks after an outage: mirrors' records that
    /// it has no record for (`SET NX`), and the increments it missed.
    async fn merge_back(&self, conn: &mut MultiplexedConnection) -> RedisResult<()> {
        // After an outage the fleet's records win where they exist (other
        // instances kept going); this instance's fill the gaps.
        let records: Vec<(String, String, Duration)> = self
            .live_mirrors()
            .into_iter()
            .filter_map(|(name, m)| {
                m.take_dirty();
                m.record().map(|(value, ttl)| (name, value, ttl))
            })
            .collect();
        let pending: Vec<(String, Pending)> = lock(&self.pending).drain().collect();
        if records.is_empty() && pending.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (name, value, ttl) in &records {
            pipe.cmd("SET")
                .arg(name)
                .arg(value)
                .arg("NX")
                .arg("PX")
                .arg((ttl.as_millis() as u64).max(1))
                .ignore();
        }
        let now = super::wall_ms();
        for (name, p) in &pending {
            if p.expire_at.is_some_and(|at| at <= now) {
                continue;
            }
            pipe.cmd("INCRBY").arg(name).arg(p.amount).ignore();
            if let Some(at) = p.expire_at {
                pipe.cmd("PEXPIREAT").arg(name).arg(at).ignore();
            }
        }
        pipe.query_async::<()>(conn).await
    }

    fn live_mirrors(&self) -> Vec<(String, Arc<dyn Mirror>)> {
        let mut mirrors = lock(&self.mirrors);
        mirrors.retain(|(_, w)| w.strong_count() > 0);
        mirrors
            .iter()
            .filter_map(|(name, w)| w.upgrade().map(|m| (name.clone(), m)))
            .collect()
    }

    /// Reads every mirrored record (`MGET`, pipelined) and hands each to its
    /// mirror.
    async fn refresh(&self, conn: &mut MultiplexedConnection) -> RedisResult<()> {
        let mirrors = self.live_mirrors();
        if mirrors.is_empty() {
            return redis::cmd("PING").query_async::<()>(conn).await;
        }
        let since = Instant::now();
        let mut pipe = redis::pipe();
        // Local changes whose own write did not get through go first.
        for (name, mirror) in &mirrors {
            if !mirror.take_dirty() {
                continue;
            }
            match mirror.record() {
                Some((value, ttl)) => {
                    pipe.cmd("SET")
                        .arg(name)
                        .arg(value)
                        .arg("PX")
                        .arg((ttl.as_millis() as u64).max(1))
                        .ignore();
                }
                None => {
                    pipe.cmd("DEL").arg(name).ignore();
                }
            }
        }
        for chunk in mirrors.chunks(MGET_CHUNK) {
            let mut cmd = redis::cmd("MGET");
            for (name, _) in chunk {
                cmd.arg(name);
            }
            pipe.add_command(cmd);
        }
        let replies: Vec<Vec<Option<String>>> = pipe.query_async(conn).await?;
        for (chunk, values) in mirrors.chunks(MGET_CHUNK).zip(replies) {
            for ((_, mirror), value) in chunk.iter().zip(values) {
                mirror.adopt(value.as_deref(), since);
            }
        }
        Ok(())
    }
}

/// Starts the supervisor: it lives as long as the [`super::SharedState`]
/// (it holds only a weak reference) and owns every reconnect.
pub(super) fn spawn_supervisor(remote: &Arc<Remote>, owner: Weak<Inner>) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        tracing::error!("shared state needs the async runtime; serving on local state only");
        return;
    };
    let remote = Arc::downgrade(remote);
    handle.spawn(async move {
        let mut backoff = BACKOFF_FIRST;
        let mut ever_up = false;
        let mut warned = false;
        loop {
            let Some(r) = remote.upgrade() else { return };
            if owner.strong_count() == 0 {
                return;
            }
            let connected = tokio::time::timeout(BACKGROUND_TIMEOUT * 2, async {
                let mut conn = r.connect().await?;
                r.merge_back(&mut conn).await?;
                r.refresh(&mut conn).await?;
                Ok::<_, redis::RedisError>(conn)
            })
            .await;
            match connected {
                Ok(Ok(conn)) => {
                    backoff = BACKOFF_FIRST;
                    r.misses.store(0, Ordering::Relaxed);
                    r.conn.store(Some(Arc::new(conn)));
                    r.up.store(true, Ordering::Relaxed);
                    if ever_up || warned {
                        tracing::info!(redis = %r.shown, "shared state is back: Redis answers again; local state merged into it");
                    } else {
                        tracing::info!(redis = %r.shown, "shared state: connected to Redis");
                    }
                    ever_up = true;
                    watch(&r, &owner).await;
                    // `watch` returns when Redis went down (already logged
                    // once) or the owner is gone.
                    warned = true;
                }
                outcome => {
                    if !warned {
                        let why = match outcome {
                            Ok(Err(e)) => e.to_string(),
                            _ => "timed out".to_owned(),
                        };
                        tracing::warn!(redis = %r.shown, error = %why, "shared state is down: cannot reach Redis; serving on this instance's local state and retrying in the background");
                        warned = true;
                    }
                    drop(r);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    });
}

/// While connected: refresh every [`REFRESH`]; return when Redis is down.
async fn watch(r: &Arc<Remote>, owner: &Weak<Inner>) {
    let mut tick = tokio::time::interval(REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = r.wake.notified() => {}
        }
        if owner.strong_count() == 0 {
            r.conn.store(None);
            return;
        }
        let Some(conn) = r.conn.load_full() else {
            return;
        };
        let mut c = (*conn).clone();
        match tokio::time::timeout(BACKGROUND_TIMEOUT, r.refresh(&mut c)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                r.mark_down(&conn, e.category());
                return;
            }
            Err(_) => {
                r.mark_down(&conn, "a refresh timed out");
                return;
            }
        }
    }
}
