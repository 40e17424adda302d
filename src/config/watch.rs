//! Noticing changes to `config.json` for hot reload.
//!
//! The parent directory is watched, not the file: editors that save by
//! writing a new file and renaming it over the old one (and the CLI's atomic
//! save) replace the inode, and a watch on the old inode would go silent.
//! Events for other files in the directory are filtered out by name.
//!
//! Bursts (an editor's write + chmod + rename, or several CLI edits) are
//! coalesced on a dedicated thread into one call of the callback; the callback
//! runs on that thread with no lock held, so it may block briefly or reload
//! synchronously without touching the async runtime.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use super::ConfigError;

/// Quiet time after the last event before the callback runs.
const DEBOUNCE: Duration = Duration::from_millis(150);
/// Longest a continuous stream of events can delay the callback.
const MAX_DELAY: Duration = Duration::from_secs(1);

/// Stops watching when dropped; no callback starts after that.
pub struct WatchGuard {
    _watcher: RecommendedWatcher,
    stopped: Arc<AtomicBool>,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Dropping the watcher drops its event handler and with it the
        // channel's sender, which ends the debounce thread.
    }
}

impl std::fmt::Debug for WatchGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WatchGuard")
    }
}

/// Calls `on_change` (debounced) whenever the file at `path` is created,
/// written, renamed onto or removed. The parent directory must exist.
pub fn watch_config(
    path: PathBuf,
    on_change: impl Fn() + Send + Sync + 'static,
) -> Result<WatchGuard, ConfigError> {
    let fail = |message: String| ConfigError::Watch {
        path: path.display().to_string(),
        message,
    };
    let file_name: OsString = path
        .file_name()
        .ok_or_else(|| fail("not a file path".into()))?
        .to_os_string();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };

    let (tx, rx) = mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<Event>| match res {
        Ok(event) if concerns(&event, &file_name) => {
            // The receiver is gone only while shutting down.
            let _ = tx.send(());
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "config watcher error"),
    })
    .map_err(|e| fail(e.to_string()))?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(|e| fail(e.to_string()))?;

    let stopped = Arc::new(AtomicBool::new(false));
    let stop_flag = Arc::clone(&stopped);
    std::thread::Builder::new()
        .name("config-watch".into())
        .spawn(move || debounce_loop(&rx, &stop_flag, &on_change))
        .map_err(|e| fail(e.to_string()))?;

    Ok(WatchGuard {
        _watcher: watcher,
        stopped,
    })
}

fn concerns(event: &Event, file_name: &OsString) -> bool {
    let relevant = match event.kind {
        // Opening or reading the file (as a reload does) must not trigger a
        // reload; finishing a write is the most precise signal there is.
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Other => false,
        EventKind::Any | EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) => true,
    };
    relevant
        && event
            .paths
            .iter()
            .any(|p| p.file_name().map(Path::new) == Some(Path::new(file_name)))
}

fn debounce_loop(rx: &mpsc::Receiver<()>, stopped: &AtomicBool, on_change: &dyn Fn()) {
    // `recv` fails once the watcher (the only sender) is dropped.
    while rx.recv().is_ok() {
        let first = Instant::now();
        let mut quiet_until = first + DEBOUNCE;
        loop {
            let deadline = quiet_until.min(first + MAX_DELAY);
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            match rx.recv_timeout(deadline - now) {
                Ok(()) => quiet_until = Instant::now() + DEBOUNCE,
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        if stopped.load(Ordering::SeqCst) {
            return;
        }
        // A panicking callback must not end hot reload for the process' life.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(on_change)).is_err() {
            tracing::error!("config change callback panicked; still watching");
        }
    }
}
