//! The config watcher against a real directory: in-place writes and
//! rename-saves are seen, other files are not, bursts are coalesced.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use claude_proxy::config::watch::watch_config;
use common::wait_until;

fn counter() -> (Arc<AtomicUsize>, impl Fn() + Send + Sync + 'static) {
    let n = Arc::new(AtomicUsize::new(0));
    let m = Arc::clone(&n);
    (n, move || {
        m.fetch_add(1, Ordering::SeqCst);
    })
}

/// Polls for up to 3 s until the count exceeds `than`.
fn wait_above(n: &AtomicUsize, than: usize) -> bool {
    wait_until(Duration::from_secs(3), || n.load(Ordering::SeqCst) > than)
}

/// Lets pending events and the debounce window pass.
fn settle() {
    std::thread::sleep(Duration::from_millis(500));
}

#[test]
fn in_place_write_and_rename_save_are_seen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    fs::write(&path, "{}").unwrap();
    let (n, cb) = counter();
    let _guard = watch_config(path.clone(), cb).unwrap();

    fs::write(&path, "{\"upstream\": []}").unwrap();
    assert!(wait_above(&n, 0), "in-place write not seen");
    settle();

    let before = n.load(Ordering::SeqCst);
    let tmp = dir.path().join(".config.json.swp");
    fs::write(&tmp, "{\"loadBalance\": \"random\"}").unwrap();
    fs::rename(&tmp, &path).unwrap();
    assert!(wait_above(&n, before), "rename-save not seen");
    settle();

    let before = n.load(Ordering::SeqCst);
    claude_proxy::config::store::update(&path, |raw| {
        raw.load_balance = Some("failover".into());
        Ok(())
    })
    .unwrap();
    assert!(wait_above(&n, before), "the CLI's atomic save not seen");
}

#[test]
fn other_files_are_ignored_and_bursts_coalesce() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let (n, cb) = counter();
    let guard = watch_config(path.clone(), cb).unwrap();

    fs::write(dir.path().join("other.json"), "{}").unwrap();
    fs::write(dir.path().join("config.json.bak"), "{}").unwrap();
    settle();
    assert_eq!(n.load(Ordering::SeqCst), 0, "callback for another file");

    for i in 0..20 {
        fs::write(&path, format!("{{\"currentUpstream\": {i}}}")).unwrap();
    }
    assert!(wait_above(&n, 0));
    settle();
    let calls = n.load(Ordering::SeqCst);
    assert!(calls < 5, "20 quick writes gave {calls} callbacks");
    let _ = fs::read_to_string(&path).unwrap();
    settle();
    assert_eq!(
        n.load(Ordering::SeqCst),
        calls,
        "a read triggered a callback"
    );

    drop(guard);
    fs::write(&path, "{}").unwrap();
    settle();
    assert_eq!(
        n.load(Ordering::SeqCst),
        calls,
        "callback after the guard was dropped"
    );
}

#[test]
fn missing_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope").join("config.json");
    assert!(watch_config(path, || {}).is_err());
}

#[test]
fn a_panicking_callback_does_not_stop_watching() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let n = Arc::new(AtomicUsize::new(0));
    let m = Arc::clone(&n);
    let _guard = watch_config(path.clone(), move || {
        if m.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("first reload fails");
        }
    })
    .unwrap();
    fs::write(&path, "{}").unwrap();
    assert!(wait_above(&n, 0));
    settle();
    let before = n.load(Ordering::SeqCst);
    fs::write(&path, "{\"upstream\": []}").unwrap();
    assert!(wait_above(&n, before), "watching stopped after a panic");
}
