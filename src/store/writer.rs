//! The one writer: a dedicated thread (rusqlite is blocking) that owns the
//! write connection, takes rows from the bounded queue and commits them in
//! batches (up to `batch_max` rows, or what came within `batch_wait` of the
//! first), prunes old rows, and survives a database it cannot use.
//!
//! When the database cannot be opened or written (locked, unwritable,
//! corrupt), the writer logs one error naming the cause, shows it in
//! [`StoreState::Error`], keeps up to a queue's worth of rows for when it
//! comes back, and tries again with a backoff (doubling from `retry_min` to
//! `retry_max`). Requests never notice: they only ever `try_send`.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode};

use super::db::{self, DbError};
use super::row::{RequestRow, StoredBodies};
use super::{Shared, StoreOptions, StoreState};

/// What the queue carries.
pub(crate) enum Msg {
    Row(Arc<RequestRow>),
    Bodies(StoredBodies),
    /// Commit what is pending, then answer.
    Flush(Sender<()>),
    /// Commit, prune everything that is due now, then answer (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    Prune(Sender<()>),
}

/// Rows deleted per pruning transaction.
const PRUNE_CHUNK: usize = 5000;

/// How long the writer sleeps with nothing to do.
const IDLE: Duration = Duration::from_secs(3600);
/// While a batch collects, the writer sleeps in slices this long and takes
/// what queued meanwhile, instead of being woken by every row (a futex wake
/// and a context switch per request under load); a flush waits at most
/// this long to be seen.
const COLLECT_SLICE: Duration = Duration::from_millis(50);

pub(crate) struct Writer {
    opts: StoreOptions,
    shared: Arc<Shared>,
    conn: Option<Connection>,
    rows: Vec<Arc<RequestRow>>,
    bodies: Vec<StoredBodies>,
    /// When the oldest pending message arrived (the batch deadline runs
    /// from it).
    batch_since: Option<Instant>,
    retry_at: Instant,
    backoff: Duration,
    next_prune: Instant,
    prune_more: bool,
    /// The error last logged, so a retry that fails the same way stays
    /// quiet.
    last_logged: Option<String>,
}

impl Writer {
    pub(crate) fn new(opts: StoreOptions, shared: Arc<Shared>) -> Writer {
        let now = Instant::now();
        Writer {
            backoff: opts.retry_min,
            opts,
            shared,
            conn: None,
            rows: Vec::new(),
            bodies: Vec::new(),
            batch_since: None,
            retry_at: now,
            next_prune: now,
            prune_more: false,
            last_logged: None,
        }
    }

    /// Runs until every sender is gone, then commits what is left.
    pub(crate) fn run(mut self, rx: Receiver<Msg>) {
        self.open();
        loop {
            let now = Instant::now();
            let wait = self.next_wakeup(now).saturating_duration_since(now);
            let gone = if self.batch_since.is_some() {
                // Collecting: sleep, then take what queued meanwhile.
                std::thread::sleep(wait.min(COLLECT_SLICE));
                self.drain(&rx)
            } else {
                match rx.recv_timeout(wait) {
                    Ok(msg) => {
                        self.take(msg);
                        // Whatever else is queued joins this batch at once.
                        self.drain(&rx)
                    }
                    Err(RecvTimeoutError::Timeout) => false,
                    Err(RecvTimeoutError::Disconnected) => true,
                }
            };
            if gone {
                if self.conn.is_none() {
                    self.open();
                }
                self.commit();
                return;
            }
            self.tick();
        }
    }

    /// Takes what is queued, up to a batch; whether every sender is gone
    /// (and the queue empty).
    fn drain(&mut self, rx: &Receiver<Msg>) -> bool {
        while self.pending() < self.opts.batch_max {
            match rx.try_recv() {
                Ok(msg) => self.take(msg),
                Err(TryRecvError::Empty) => return false,
                Err(TryRecvError::Disconnected) => return true,
            }
        }
        false
    }

    fn pending(&self) -> usize {
        self.rows.len() + self.bodies.len()
    }

    fn take(&mut self, msg: Msg) {
        match msg {
            Msg::Row(row) => {
                self.rows.push(row);
                self.batch_since.get_or_insert_with(Instant::now);
            }
            Msg::Bodies(b) => {
                self.bodies.push(b);
                self.batch_since.get_or_insert_with(Instant::now);
            }
            Msg::Flush(ack) => {
                self.commit();
                let _ = ack.send(());
            }
            Msg::Prune(ack) => {
                self.commit();
                // Bounded: each step deletes a whole chunk, or ends it.
                self.prune_step();
                while self.prune_more && self.conn.is_some() {
                    self.prune_step();
                }
                let _ = ack.send(());
            }
        }
    }

    fn next_wakeup(&self, now: Instant) -> Instant {
        if self.prune_more && self.conn.is_some() {
            return now;
        }
        let mut at = now + IDLE;
        if let Some(since) = self.batch_since {
            at = at.min(since + self.opts.batch_wait);
        }
        if self.conn.is_none() {
            at = at.min(self.retry_at);
        } else {
            at = at.min(self.next_prune);
        }
        at
    }

    fn tick(&mut self) {
        let now = Instant::now();
        if self.conn.is_none() && now >= self.retry_at {
            self.open();
        }
        let due = self
            .batch_since
            .is_some_and(|since| now >= since + self.opts.batch_wait);
        if due || self.pending() >= self.opts.batch_max {
            self.commit();
        }
        if self.conn.is_some() && (self.prune_more || now >= self.next_prune) {
            self.prune_step();
        }
    }

    /// Opens the database; on success writes what was kept meanwhile.
    fn open(&mut self) {
        let opened = db::open_writer(&self.opts.dir, &self.opts.path, self.opts.busy_timeout)
            .and_then(|conn| Ok((db::count_rows(&conn)?, conn)));
        let (rows, conn) = match opened {
            Ok(pair) => pair,
            Err(e) => return self.fail(&e),
        };
        self.shared.rows.store(rows, Ordering::Relaxed);
        self.shared.row_count_known.store(true, Ordering::Relaxed);
        self.shared.generation.fetch_add(1, Ordering::AcqRel);
        self.conn = Some(conn);
        self.next_prune = Instant::now();
        if self.pending() > 0 {
            // Writing them proves the database works.
            self.commit();
        } else if let Some(conn) = &self.conn {
            match db::probe_write(conn) {
                Ok(()) => self.recovered(),
                Err(e) => self.fail(&e.into()),
            }
        }
    }

    /// Commits the pending batch. Without a connection the batch is kept
    /// for later, up to a queue's worth (older rows are dropped first).
    fn commit(&mut self) {
        self.batch_since = None;
        if self.pending() == 0 {
            return;
        }
        let Some(conn) = self.conn.as_mut() else {
            self.keep_at_most(self.opts.capacity);
            return;
        };
        match db::insert_batch(conn, &self.rows, &self.bodies) {
            Ok(inserted) => {
                self.shared
                    .rows
                    .fetch_add(inserted as u64, Ordering::Relaxed);
                self.shared.commits.fetch_add(1, Ordering::Relaxed);
                self.rows.clear();
                self.bodies.clear();
                self.recovered();
            }
            Err(e) => {
                self.fail(&e.into());
                self.keep_at_most(self.opts.capacity);
            }
        }
    }

    fn keep_at_most(&mut self, n: usize) {
        let excess = self.pending().saturating_sub(n);
        if excess == 0 {
            return;
        }
        let from_bodies = excess.min(self.bodies.len());
        self.bodies.drain(..from_bodies);
        let from_rows = (excess - from_bodies).min(self.rows.len());
        self.rows.drain(..from_rows);
        self.shared
            .count_dropped(excess as u64, "store_unavailable");
    }

    /// One pruning transaction; schedules the next one.
    fn prune_step(&mut self) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let now = super::time::now_ms();
        let cutoff =
            now.saturating_sub(i64::try_from(self.opts.retention.as_millis()).unwrap_or(i64::MAX));
        match db::prune(conn, now, cutoff, PRUNE_CHUNK) {
            Ok(pruned) => {
                let _ = self
                    .shared
                    .rows
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                        Some(n.saturating_sub(pruned.requests as u64))
                    });
                self.prune_more = pruned.more;
                if !pruned.more {
                    self.next_prune = Instant::now() + self.opts.prune_every;
                }
                if pruned.requests > 0 || !pruned.more {
                    if let Err(e) = db::tidy(conn) {
                        tracing::debug!(error = %e, "request store: vacuum/optimize after pruning failed");
                    }
                }
                if pruned.requests > 0 {
                    tracing::debug!(rows = pruned.requests, "request store: pruned old rows");
                }
            }
            Err(e) => {
                self.prune_more = false;
                self.fail(&e.into());
            }
        }
    }

    /// The database works (again).
    fn recovered(&mut self) {
        let was_error = {
            let mut state = self.shared.lock_state();
            let was = matches!(*state, StoreState::Error(_));
            *state = StoreState::Ok;
            was
        };
        self.shared.opened.store(true, Ordering::Release);
        if was_error {
            tracing::info!(path = %self.opts.path.display(), "request store is writable again; storing requests");
        }
        self.backoff = self.opts.retry_min;
        self.last_logged = None;
    }

    /// The database cannot be used: one log line per distinct cause, the
    /// state for the console, and a retry later.
    fn fail(&mut self, e: &DbError) {
        let message = describe(e, &self.opts);
        self.conn = None;
        self.shared.opened.store(false, Ordering::Release);
        *self.shared.lock_state() = StoreState::Error(message.clone());
        if self.last_logged.as_deref() != Some(message.as_str()) {
            tracing::error!(
                path = %self.opts.path.display(),
                error = %message,
                "request store unavailable; requests are still served but not stored, retrying with backoff"
            );
            self.shared.errors_logged.fetch_add(1, Ordering::Relaxed);
            self.last_logged = Some(message);
        }
        self.retry_at = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(self.opts.retry_max);
    }
}

/// A cause an operator can act on.
fn describe(e: &DbError, opts: &StoreOptions) -> String {
    let path = opts.path.display();
    let DbError::Sqlite(err) = e else {
        return e.to_string();
    };
    match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => format!(
            "{path} is not a SQLite database (corrupt, or another file): move it away or delete it"
        ),
        Some(ErrorCode::DatabaseCorrupt) => {
            format!("{path} is corrupt: move it away or delete it")
        }
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            format!("{path} is locked by another connection or process")
        }
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            format!(
                "cannot write {path} ({err}): make DATA_DIR writable, point it elsewhere, or set DATA_DIR=off"
            )
        }
        Some(ErrorCode::DiskFull) => format!("the disk holding {path} is full"),
        _ => format!("{path}: {err}"),
    }
}
