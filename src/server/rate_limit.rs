//! Per-client rate limit (`ENABLE_RATE_LIMIT`): at most
//! `RATE_LIMIT_MAX_REQUESTS` requests per `RATE_LIMIT_WINDOW` for each
//! (client IP, presented credential) pair, answered beyond that with 429
//! `rate_limit_error` and `retry-after`.
//!
//! Fixed windows in a few mutex-guarded shards: the critical section is a
//! hash lookup and two integer updates, never held across an `.await`.
//! Memory is bounded: expired windows are swept when a shard grows, and a
//! shard that is still full after the sweep drops its oldest windows.
//! The credential is kept only as a 64-bit hash, never as text.
//!
//! In a fleet (`REDIS_URL`) the windows are the fleet's: one `INCRBY` (with
//! the window's expiry) per request on a window aligned to the Unix epoch (so every
//! instance counts into the same one), named by the client IP and an HMAC
//! fingerprint of the credential ([`SharedState::window_add`]); when Redis
//! does not answer within `REDIS_TIMEOUT_MS`, this instance's count of the
//! same window decides.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::shared_state::SharedState;

const SHARDS: usize = 16;
/// Windows per shard before expired ones are swept (16 × 4096 clients in
/// all before anything is dropped early).
const SHARD_CAPACITY: usize = 4096;

/// Who a window belongs to: client IP and a hash of its credential.
pub(crate) type ClientKey = (IpAddr, u64);

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

/// Fixed-window request counts per client.
#[derive(Debug)]
pub struct RateLimiter {
    window: Duration,
    max: u32,
    shards: Vec<Mutex<HashMap<ClientKey, Window>>>,
    /// Fixed random keys: the shard and credential hashes are not
    /// predictable from outside.
    hasher: std::collections::hash_map::RandomState,
    /// The fleet's windows (`None`: this process counts alone).
    fleet: Option<SharedState>,
}

/// A refused request: seconds until the client's window resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Seconds until the window resets (at least 1).
    pub retry_after_secs: u64,
}

impl RateLimiter {
    /// At most `max` requests per `window` for each client.
    pub fn new(window: Duration, max: u32) -> Self {
        RateLimiter {
            window,
            max,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
            fleet: None,
        }
    }

    /// Counts in the fleet's windows when `shared` has Redis.
    pub fn with_shared(mut self, shared: &SharedState) -> Self {
        self.fleet = shared.is_fleet().then(|| shared.clone());
        self
    }

    /// Counts one request of the client at `ip` presenting `credential`:
    /// in the fleet's window when there is a fleet, else in this process's.
    pub async fn admit(&self, ip: IpAddr, credential: Option<&[u8]>) -> Result<(), Limited> {
        let Some(shared) = &self.fleet else {
            let hash = credential.map_or(0, |c| self.credential_hash(c));
            return self.check((ip, hash), Instant::now());
        };
        let name = format!(
            "rl:{}:{ip}:{}",
            self.window.as_millis(),
            shared.fingerprint(credential.unwrap_or_default())
        );
        let count = shared.window_add(&name, self.window, 1).await;
        if count.total > u64::from(self.max) {
            return Err(Limited {
                retry_after_secs: (count.resets_in.as_millis().div_ceil(1000) as u64).max(1),
            });
        }
        Ok(())
    }

    /// The most requests a window allows.
    pub fn max(&self) -> u32 {
        self.max
    }

    /// The window's length.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Hash of a credential (the raw bytes never enter the map).
    pub fn credential_hash(&self, credential: &[u8]) -> u64 {
        self.hasher.hash_one(credential)
    }

    /// Counts one request for `key` at `now`.
    pub fn check(&self, key: ClientKey, now: Instant) -> Result<(), Limited> {
        let shard = &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS];
        // A poisoned shard only means another thread panicked mid-update of
        // two integers; the counts are still usable.
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        if !map.contains_key(&key) && map.len() >= SHARD_CAPACITY {
            self.make_room(&mut map, now);
        }
        let w = map.entry(key).or_insert(Window {
            started: now,
            count: 0,
        });
        if now.saturating_duration_since(w.started) >= self.window {
            *w = Window {
                started: now,
                count: 0,
            };
        }
        if w.count >= self.max {
            let left = (w.started + self.window).saturating_duration_since(now);
            return Err(Limited {
                retry_after_secs: left.as_millis().div_ceil(1000).max(1) as u64,
            });
        }
        w.count += 1;
        Ok(())
    }

    fn make_room(&self, map: &mut HashMap<ClientKey, Window>, now: Instant) {
        map.retain(|_, w| now.saturating_duration_since(w.started) < self.window);
        if map.len() >= SHARD_CAPACITY {
            // Still full of live windows: forget the oldest quarter (those
            // clients get a fresh window, the lesser evil than unbounded
            // memory).
            let mut starts: Vec<Instant> = map.values().map(|w| w.started).collect();
            starts.sort_unstable();
            let cutoff = starts[starts.len() / 4];
            map.retain(|_, w| w.started > cutoff);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|m| m.len()).unwrap_or(0))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
    }

    #[test]
    fn counts_per_client_and_resets_after_the_window() {
        let rl = RateLimiter::new(Duration::from_secs(10), 2);
        let t0 = Instant::now();
        assert!(rl.check((ip(1), 7), t0).is_ok());
        assert!(rl.check((ip(1), 7), t0).is_ok());
        let e = rl
            .check((ip(1), 7), t0 + Duration::from_secs(3))
            .unwrap_err();
        assert_eq!(e.retry_after_secs, 7);
        // Another IP, or another credential from the same IP, has its own budget.
        assert!(rl.check((ip(2), 7), t0).is_ok());
        assert!(rl.check((ip(1), 8), t0).is_ok());
        assert!(rl.check((ip(1), 7), t0 + Duration::from_secs(10)).is_ok());
    }

    #[test]
    fn memory_stays_bounded() {
        let rl = RateLimiter::new(Duration::from_secs(60), 5);
        let t0 = Instant::now();
        for i in 0..(SHARDS * SHARD_CAPACITY * 2) as u64 {
            let _ = rl.check((ip(1), i), t0 + Duration::from_millis(i));
        }
        assert!(rl.len() <= SHARDS * SHARD_CAPACITY);
        // Expired windows are swept first.
        let later = t0 + Duration::from_secs(3600);
        for i in 0..(SHARDS * SHARD_CAPACITY) as u64 {
            let _ = rl.check((ip(2), i), later);
        }
        assert!(rl.len() <= SHARDS * SHARD_CAPACITY);
    }

    #[test]
    fn credential_is_hashed() {
        let rl = RateLimiter::new(Duration::from_secs(1), 1);
        assert_eq!(rl.credential_hash(b"abc"), rl.credential_hash(b"abc"));
        assert_ne!(rl.credential_hash(b"abc"), rl.credential_hash(b"abd"));
    }
}
