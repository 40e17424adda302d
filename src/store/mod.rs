//! The request store: one SQLite row per finished request in
//! `DATA_DIR/claude-proxy.db`, for the console's request log, live feed and
//! usage statistics (docs/store.md).
//!
//! A request never waits on the disk. When its record is finished (for a
//! stream: when the stream ends) [`Store::record`] `try_send`s the row into
//! a bounded queue — a full queue drops the row and counts it in
//! `claude_proxy_store_dropped_total` — and broadcasts it to live
//! subscribers ([`Store::subscribe`]; a lagging one skips rows). One writer
//! thread (`writer`) commits the queue in batched transactions, keeps the
//! usage rollups, prunes rows older than `STORE_RETENTION_DAYS`, and rides
//! out a database it cannot use: [`Store::state`] says why, one error is
//! logged, and it retries with a backoff while requests keep flowing.
//!
//! Reads ([`Store::list`], [`Store::get`], [`Store::usage`]) run on the
//! blocking pool over a few read-only connections (WAL: they never wait for
//! the writer).
//!
//! | module | owns |
//! |---|---|
//! | [`db`] | opening, pragmas, migrations (`migrations/*.sql`), the batched insert, pruning |
//! | [`query`] | the request log, one request, usage aggregates |
//! | `writer` | the writer thread: batching, retry, retention |
//! | `bodies` | `STORE_BODIES`: capturing the first 4 KB of each body |
//! | `hist` | the latency histograms of the rollups (p50/p95) |

pub(crate) mod bodies;
pub mod budgets;
pub mod db;
mod hist;
pub mod query;
mod row;
pub(crate) use crate::time;
mod writer;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::{broadcast, watch, Semaphore};

pub use row::{RequestDetail, RequestRow, StoredBodies};

use crate::config::Prices;
use crate::settings::Settings;
use query::{ListQuery, Page, QueryError, UsageQuery, UsageReport};
use writer::{Msg, Writer};

/// Read-only connections kept open, and queries run at once.
const READERS: usize = 4;

/// Finished rows a live subscriber may fall behind by before it skips.
const LIVE_CAPACITY: usize = 1024;

/// How a store is set up; [`StoreOptions::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `DATA_DIR`, created 0700 when missing.
    pub dir: PathBuf,
    /// The database file, `dir/claude-proxy.db`.
    pub path: PathBuf,
    /// Rows the queue holds before new ones are dropped (and, while the
    /// database is unavailable, rows kept for when it is back).
    pub capacity: usize,
    /// Most rows per transaction.
    pub batch_max: usize,
    /// Longest a row waits for its batch to fill.
    pub batch_wait: Duration,
    /// Rows older than this are pruned.
    pub retention: Duration,
    /// How often pruning runs.
    pub prune_every: Duration,
    /// First and longest wait before retrying an unusable database.
    pub retry_min: Duration,
    /// The longest wait between retries (the wait doubles from `retry_min`).
    pub retry_max: Duration,
    /// How long the writer waits for a lock held by someone else.
    pub busy_timeout: Duration,
    /// `STORE_BODIES`.
    pub bodies: bool,
}

impl StoreOptions {
    /// The defaults for a store in `dir`: a 10,000-row queue, batches of up
    /// to 500 rows or 200 ms, 30 days of retention pruned hourly, retries
    /// from 1 s doubling to 60 s.
    pub fn new(dir: impl Into<PathBuf>) -> StoreOptions {
        let dir = dir.into();
        let path = dir.join(db::FILE_NAME);
        StoreOptions {
            path: std::path::absolute(&path).unwrap_or(path),
            dir,
            capacity: 10_000,
            batch_max: 500,
            batch_wait: Duration::from_millis(200),
            retention: Duration::from_secs(30 * 86_400),
            prune_every: Duration::from_secs(3600),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            busy_timeout: Duration::from_secs(1),
            bodies: false,
        }
    }
}

/// What the console shows about the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreState {
    /// Storing requests.
    Ok,
    /// `DATA_DIR=off`.
    Off,
    /// The database cannot be used, and why; requests are still served.
    Error(String),
}

impl StoreState {
    /// `ok`, `off` or `error`.
    pub fn as_str(&self) -> &'static str {
        match self {
            StoreState::Ok => "ok",
            StoreState::Off => "off",
            StoreState::Error(_) => "error",
        }
    }
}

/// Why a read of the store failed; each maps to a clear API error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `DATA_DIR=off`: nothing is stored, nothing can be read.
    #[error("the request store is off (DATA_DIR=off)")]
    Off,
    /// The database could not be opened or written; holds why (the store retries in the
    /// background).
    #[error("the request store is unavailable: {0}")]
    Unavailable(String),
    /// Start-up has not opened the database yet.
    #[error("the request store is still opening; try again in a moment")]
    Opening,
    /// The `before` cursor names no stored row.
    #[error("before: no stored request has id {0:?} (it may have been pruned)")]
    UnknownCursor(String),
    /// A query failed; holds SQLite's message.
    #[error("the request store cannot be read: {0}")]
    Read(String),
}

impl From<QueryError> for StoreError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::UnknownCursor(id) => StoreError::UnknownCursor(id),
            QueryError::Sqlite(e) => StoreError::Read(e.to_string()),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Read(e.to_string())
    }
}

/// What the store handle and the writer share.
pub(crate) struct Shared {
    /// `None` when off.
    path: Option<PathBuf>,
    bodies: bool,
    state: Mutex<StoreState>,
    /// The writer has a working connection (reads may open theirs).
    opened: AtomicBool,
    /// Bumped on every (re)open: read connections of an older file are
    /// dropped instead of reused.
    generation: AtomicU64,
    rows: AtomicU64,
    row_count_known: AtomicBool,
    dropped: AtomicU64,
    /// Committed batches (tests watch batching through it).
    commits: AtomicU64,
    /// Error lines logged by the writer (tests check it is one per cause).
    #[cfg_attr(not(test), allow(dead_code))]
    errors_logged: AtomicU64,
    live: broadcast::Sender<Arc<RequestRow>>,
    /// Set at shutdown: live feeds end so connections can close.
    closing: watch::Sender<bool>,
    readers: Mutex<Vec<(u64, Connection)>>,
    read_permits: Arc<Semaphore>,
}

impl Shared {
    fn new(path: Option<PathBuf>, bodies: bool, state: StoreState) -> Shared {
        Shared {
            path,
            bodies,
            state: Mutex::new(state),
            opened: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            rows: AtomicU64::new(0),
            row_count_known: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            errors_logged: AtomicU64::new(0),
            live: broadcast::channel(LIVE_CAPACITY).0,
            closing: watch::channel(false).0,
            readers: Mutex::new(Vec::new()),
            read_permits: Arc::new(Semaphore::new(READERS)),
        }
    }

    /// The state, also after a panic elsewhere (it is plain data).
    fn lock_state(&self) -> MutexGuard<'_, StoreState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn count_dropped(&self, n: u64, reason: &'static str) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
        metrics::counter!("claude_proxy_store_dropped_total", "reason" => reason).increment(n);
    }

    /// Whether reads can run now.
    fn readable(&self) -> Result<&Path, StoreError> {
        let path = self.path.as_deref().ok_or(StoreError::Off)?;
        match &*self.lock_state() {
            StoreState::Off => Err(StoreError::Off),
            StoreState::Error(m) => Err(StoreError::Unavailable(m.clone())),
            StoreState::Ok if !self.opened.load(Ordering::Acquire) => Err(StoreError::Opening),
            StoreState::Ok => Ok(path),
        }
    }

    /// Runs `f` on a read connection (blocking).
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let path = self.readable()?;
        let generation = self.generation.load(Ordering::Acquire);
        let idle = {
            let mut idle = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
            idle.retain(|(g, _)| *g == generation);
            idle.pop()
        };
        let conn = match idle {
            Some((_, conn)) => conn,
            None => db::open_reader(path)?,
        };
        let out = f(&conn);
        // A connection that failed may be broken: open a fresh one next time.
        if !matches!(out, Err(StoreError::Read(_))) {
            let mut idle = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < READERS {
                idle.push((generation, conn));
            }
        }
        out
    }
}

/// The handle: cheap to clone, shared by the server, every request's record
/// and the admin API.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
    /// `None` when off.
    tx: Option<SyncSender<Msg>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.shared.path)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// The store the settings ask for: off with `DATA_DIR=off`, else open
    /// in `DATA_DIR` (the writer opens the file; this never blocks).
    pub fn from_settings(settings: &Settings) -> Store {
        match &settings.data_dir {
            None => Store::off(),
            Some(dir) => {
                let mut opts = StoreOptions::new(dir);
                opts.retention =
                    Duration::from_secs(u64::from(settings.store_retention_days) * 86_400);
                opts.bodies = settings.store_bodies;
                Store::open(opts)
            }
        }
    }

    /// No store (`DATA_DIR=off`): nothing is written, reads answer
    /// [`StoreError::Off`]; the live feed still works.
    pub fn off() -> Store {
        Store {
            shared: Arc::new(Shared::new(None, false, StoreState::Off)),
            tx: None,
        }
    }

    /// Starts the writer thread for `opts`; it opens (and if needed
    /// creates) the database in the background.
    pub fn open(opts: StoreOptions) -> Store {
        let (store, rx) = Store::unstarted(&opts);
        store.start(opts, rx);
        store
    }

    /// A store whose queue nobody drains yet (tests fill it on purpose).
    fn unstarted(opts: &StoreOptions) -> (Store, mpsc::Receiver<Msg>) {
        let (tx, rx) = mpsc::sync_channel(opts.capacity.max(1));
        let shared = Shared::new(Some(opts.path.clone()), opts.bodies, StoreState::Ok);
        let store = Store {
            shared: Arc::new(shared),
            tx: Some(tx),
        };
        (store, rx)
    }

    fn start(&self, opts: StoreOptions, rx: mpsc::Receiver<Msg>) {
        let writer = Writer::new(opts, self.shared.clone());
        let spawned = std::thread::Builder::new()
            .name("claude-proxy-store".into())
            .spawn(move || writer.run(rx));
        if let Err(e) = spawned {
            let message = format!("cannot start the store's writer thread: {e}");
            tracing::error!(error = %message, "request store unavailable; requests are still served but not stored");
            *self.shared.lock_state() = StoreState::Error(message);
        }
    }

    /// Ok, off, or the error that keeps it from storing.
    pub fn state(&self) -> StoreState {
        self.shared.lock_state().clone()
    }

    /// The store for the console's status route:
    /// `{"state","error","path","rows","dropped"}`. Answers from memory.
    pub fn status_json(&self) -> serde_json::Value {
        let state = self.state();
        let error = match &state {
            StoreState::Error(m) => Some(m.as_str()),
            _ => None,
        };
        let rows = self
            .shared
            .row_count_known
            .load(Ordering::Relaxed)
            .then(|| self.shared.rows.load(Ordering::Relaxed));
        serde_json::json!({
            "state": state.as_str(),
            "error": error,
            "path": self.shared.path.as_ref().map(|p| p.display().to_string()),
            "rows": rows,
            "dropped": self.shared.dropped.load(Ordering::Relaxed),
        })
    }

    /// Rows dropped so far (queue full, or kept too long while the database
    /// was unavailable).
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Whether `STORE_BODIES` is on (and the store is).
    pub fn bodies_enabled(&self) -> bool {
        self.shared.bodies && self.tx.is_some()
    }

    /// Finished rows from now on. A receiver that falls more than 1024
    /// rows behind skips ahead (`RecvError::Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<RequestRow>> {
        self.shared.live.subscribe()
    }

    /// Ends every live feed (at shutdown, so their connections can close).
    pub(crate) fn close_live(&self) {
        self.shared.closing.send_replace(true);
    }

    /// Becomes `true` when live feeds should end.
    pub(crate) fn live_closing(&self) -> watch::Receiver<bool> {
        self.shared.closing.subscribe()
    }

    /// Whether a finished row is wanted at all: by the database or by a
    /// live subscriber. When not, the record does not build one.
    pub(crate) fn wants_rows(&self) -> bool {
        self.tx.is_some() || self.shared.live.receiver_count() > 0
    }

    /// Hands a finished request to the live feed and the writer. Never
    /// blocks: a full queue drops the row and counts it.
    pub fn record(&self, row: RequestRow) {
        let row = Arc::new(row);
        // An error only means nobody is listening.
        let _ = self.shared.live.send(row.clone());
        self.enqueue(Msg::Row(row));
    }

    /// Hands a request's captured bodies to the writer (never blocks).
    pub(crate) fn record_bodies(&self, bodies: StoredBodies) {
        self.enqueue(Msg::Bodies(bodies));
    }

    fn enqueue(&self, msg: Msg) {
        let Some(tx) = &self.tx else {
            return;
        };
        match tx.try_send(msg) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.shared.count_dropped(1, "queue_full"),
            Err(TrySendError::Disconnected(_)) => self.shared.count_dropped(1, "writer_stopped"),
        }
    }

    /// Blocks until what was recorded before the call is committed (or
    /// could not be: the database is unavailable), at most `timeout`.
    /// Returns whether the writer answered. For shutdown and tests; never
    /// call it on the async runtime.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.ask(timeout, Msg::Flush)
    }

    /// Commits, then prunes everything due, within `timeout`.
    #[cfg(test)]
    pub(crate) fn prune_now(&self, timeout: Duration) -> bool {
        self.ask(timeout, Msg::Prune)
    }

    fn ask(&self, timeout: Duration, msg: fn(mpsc::Sender<()>) -> Msg) -> bool {
        let Some(tx) = &self.tx else {
            return true;
        };
        let deadline = Instant::now() + timeout;
        let (ack, answered) = mpsc::channel();
        let mut pending = msg(ack);
        // The queue may be full: retry until the deadline instead of a
        // blocking send.
        loop {
            match tx.try_send(pending) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(m)) => {
                    if Instant::now() >= deadline {
                        return false;
                    }
                    pending = m;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
        answered
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok()
    }

    /// A request's record destination, with the prices of the configuration
    /// it runs under.
    pub(crate) fn sink(&self, prices: Prices) -> StoreSink {
        StoreSink {
            store: self.clone(),
            prices,
        }
    }

    /// Runs `f` on a read connection on the blocking pool (at most
    /// `READERS` at once).
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        // Answer "off" or "unavailable" without a trip to the pool.
        self.shared.readable()?;
        let permit = self
            .shared
            .read_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Opening)?;
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            shared.read(f)
        })
        .await
        .map_err(|e| StoreError::Read(format!("the query did not finish: {e}")))?
    }

    /// Runs `f` on a read connection on this thread (benches, tests).
    pub fn read_blocking<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.shared.read(f)
    }

    /// One page of the request log.
    pub async fn list(&self, q: ListQuery) -> Result<Page, StoreError> {
        self.read(move |c| Ok(query::list(c, &q)?)).await
    }

    /// One request with its bodies; `None` when not stored.
    pub async fn get(&self, id: String) -> Result<Option<RequestDetail>, StoreError> {
        self.read(move |c| Ok(query::get(c, &id)?)).await
    }

    /// A usage aggregate.
    pub async fn usage(&self, q: UsageQuery) -> Result<UsageReport, StoreError> {
        self.read(move |c| Ok(query::usage(c, &q)?)).await
    }

    /// What each client used today and this month before `started_ms`
    /// (the seed of the client budgets). Waits for the database to open,
    /// at most `wait`.
    pub async fn client_seeds(
        &self,
        started_ms: i64,
        wait: Duration,
    ) -> Result<Vec<budgets::ClientSeed>, StoreError> {
        let give_up = tokio::time::Instant::now() + wait;
        loop {
            match self
                .read(move |c| Ok(budgets::client_seeds(c, started_ms)?))
                .await
            {
                Err(StoreError::Opening) if tokio::time::Instant::now() < give_up => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => return other,
            }
        }
    }
}

/// Where a request's record goes when it is finished, with the prices of
/// the configuration the request started under.
#[derive(Debug, Clone)]
pub(crate) struct StoreSink {
    pub(crate) store: Store,
    pub(crate) prices: Prices,
}
