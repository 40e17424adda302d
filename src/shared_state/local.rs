//! The process-local side of windows and counters: what answers when Redis
//! is not configured or does not answer. Sharded mutexes held for a hash
//! lookup and an integer update, never across an `.await`; bounded: a shard
//! that fills up first forgets expired entries, then its oldest ones.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

const SHARDS: usize = 16;
/// Entries per shard (windows and counters each) before old ones are
/// dropped.
pub(super) const SHARD_CAPACITY: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Window {
    /// Wall-clock ms when the window ends.
    ends_at: u64,
    count: u64,
}

#[derive(Debug, Clone, Copy)]
struct Counter {
    value: i64,
    expires: Option<Instant>,
    touched: Instant,
}

/// Local windows and counters.
pub(super) struct LocalCounters {
    windows: Vec<Mutex<HashMap<String, Window>>>,
    counters: Vec<Mutex<HashMap<String, Counter>>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for LocalCounters {
    fn default() -> Self {
        LocalCounters {
            windows: (0..SHARDS).map(|_| Mutex::default()).collect(),
            counters: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned shard only means a panic mid-update of an integer.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LocalCounters {
    fn shard(&self, name: &str) -> usize {
        (self.hasher.hash_one(name) as usize) % SHARDS
    }

    /// Adds `amount` to window `name` (which names its index too), ending
    /// at `ends_at` (wall-clock ms), and returns its total.
    pub(super) fn window_add(&self, name: &str, ends_at: u64, amount: u64) -> u64 {
        let mut map = lock(&self.windows[self.shard(name)]);
        if !map.contains_key(name) && map.len() >= SHARD_CAPACITY {
            make_room_windows(&mut map, super::wall_ms());
        }
        let w = map
            .entry(name.to_owned())
            .or_insert(Window { ends_at, count: 0 });
        w.count = w.count.saturating_add(amount);
        w.count
    }

    /// Raises window `name` to the fleet's `total` (never lowers it).
    pub(super) fn window_sync(&self, name: &str, ends_at: u64, total: u64) {
        let mut map = lock(&self.windows[self.shard(name)]);
        if let Some(w) = map.get_mut(name) {
            w.count = w.count.max(total);
        } else if map.len() < SHARD_CAPACITY {
            map.insert(
                name.to_owned(),
                Window {
                    ends_at,
                    count: total,
                },
            );
        }
    }

    /// Adds `amount` to counter `name`; returns its value.
    pub(super) fn counter_add(&self, name: &str, amount: i64, ttl: Option<Duration>) -> i64 {
        let now = Instant::now();
        let mut map = lock(&self.counters[self.shard(name)]);
        if !map.contains_key(name) && map.len() >= SHARD_CAPACITY {
            make_room_counters(&mut map, now);
        }
        let c = map.entry(name.to_owned()).or_insert(Counter {
            value: 0,
            expires: None,
            touched: now,
        });
        if c.expires.is_some_and(|e| e <= now) {
            c.value = 0;
        }
        c.value = c.value.saturating_add(amount);
        c.touched = now;
        if let Some(ttl) = ttl {
            c.expires = Some(now + ttl);
        }
        c.value
    }

    /// Sets counter `name` to the fleet's `value`.
    pub(super) fn counter_sync(&self, name: &str, value: i64, ttl: Option<Duration>) {
        let now = Instant::now();
        let mut map = lock(&self.counters[self.shard(name)]);
        if let Some(c) = map.get_mut(name) {
            c.value = value;
            c.touched = now;
            if let Some(ttl) = ttl {
                c.expires = Some(now + ttl);
            }
        }
    }

    /// Counter `name`'s value (0 when unknown or expired).
    pub(super) fn counter_get(&self, name: &str) -> i64 {
        let now = Instant::now();
        let map = lock(&self.counters[self.shard(name)]);
        map.get(name)
            .filter(|c| c.expires.is_none_or(|e| e > now))
            .map_or(0, |c| c.value)
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.windows.iter().map(|s| lock(s).len()).sum::<usize>()
            + self.counters.iter().map(|s| lock(s).len()).sum::<usize>()
    }
}

fn make_room_windows(map: &mut HashMap<String, Window>, now: u64) {
    map.retain(|_, w| w.ends_at > now);
    if map.len() >= SHARD_CAPACITY {
        // Still full of live windows: forget the smallest quarter (those
        // clients start afresh, the lesser evil than unbounded memory).
        let mut counts: Vec<u64> = map.values().map(|w| w.count).collect();
        counts.sort_unstable();
        let cutoff = counts[counts.len() / 4];
        map.retain(|_, w| w.count > cutoff);
        if map.len() >= SHARD_CAPACITY {
            map.clear();
        }
    }
}

fn make_room_counters(map: &mut HashMap<String, Counter>, now: Instant) {
    map.retain(|_, c| c.expires.is_none_or(|e| e > now));
    if map.len() >= SHARD_CAPACITY {
        let mut touched: Vec<Instant> = map.values().map(|c| c.touched).collect();
        touched.sort_unstable();
        let cutoff = touched[touched.len() / 4];
        map.retain(|_, c| c.touched > cutoff);
    }
}
