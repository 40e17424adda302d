//! Console sessions and the login limiter.
//!
//! Logging in with the admin key gives a session: a random id, kept in a
//! bounded table in memory with its CSRF token and expiry, and sent to the
//! browser as a cookie `v1.<id>.<expiry>.<mac>`, where the MAC is
//! HMAC-SHA256 under a secret drawn at start-up. A cookie counts only when
//! its MAC verifies (constant time), it has not expired, and its id is
//! still in the table, so logging out (or a restart, which draws a new
//! secret) ends it on the server, whatever the browser keeps.
//!
//! Wrong keys are counted per client address: after [`FREE_FAILURES`] the
//! address is locked out for a time that doubles with every further
//! failure (up to [`MAX_LOCKOUT`]); the table of addresses is bounded.
//!
//! Every lock here is a `std` mutex held for a few map operations, never
//! across an `.await`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use ring::hmac;
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "claude_proxy_session";
/// How long a session lasts.
pub(crate) const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Sessions held at most; the oldest goes first when a new one needs room.
const MAX_SESSIONS: usize = 1024;
/// Wrong keys an address may send before it is slowed down.
pub(crate) const FREE_FAILURES: u32 = 3;
/// The longest lockout.
const MAX_LOCKOUT: Duration = Duration::from_secs(300);
/// Failures older than this are forgotten.
const FAILURE_MEMORY: Duration = Duration::from_secs(15 * 60);
/// Addresses tracked at most.
const MAX_TRACKED: usize = 4096;

/// A live session, as a request that presented its cookie sees it.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    id: [u8; 16],
    /// The token state-changing calls must send as `x-csrf-token`.
    pub csrf: String,
    /// When it ends.
    pub expires: SystemTime,
}

#[derive(Debug)]
struct Stored {
    csrf: String,
    expires: SystemTime,
    /// Creation order (the oldest is evicted first).
    seq: u64,
}

#[derive(Debug, Default)]
struct Sessions {
    map: HashMap<[u8; 16], Stored>,
    next_seq: u64,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// Sessions, their signing key and the login limiter; one per process.
pub(crate) struct ConsoleAuth {
    key: hmac::Key,
    sessions: Mutex<Sessions>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

impl std::fmt::Debug for ConsoleAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key, not even in a debug dump.
        f.write_str("ConsoleAuth")
    }
}

impl Default for ConsoleAuth {
    fn default() -> Self {
        Self::new()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a panic mid-update of a map entry.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // ThreadRng is a CSPRNG seeded from the operating system.
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

impl ConsoleAuth {
    /// A fresh secret: sessions of an earlier process are not valid here.
    pub(crate) fn new() -> Self {
        ConsoleAuth {
            key: hmac::Key::new(hmac::HMAC_SHA256, &random::<32>()),
            sessions: Mutex::new(Sessions::default()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn signed_part(id: &[u8; 16], expires: u64) -> String {
        format!("v1.{}.{expires}", URL_SAFE_NO_PAD.encode(id))
    }

    /// Starts a session; returns it with its cookie value.
    pub(crate) fn create(&self) -> (Session, String) {
        let id = random::<16>();
        let csrf = URL_SAFE_NO_PAD.encode(random::<32>());
        let expires = SystemTime::now() + SESSION_TTL;
        let signed = Self::signed_part(&id, unix(expires));
        let mac = hmac::sign(&self.key, signed.as_bytes());
        let value = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()));
        let mut sessions = lock(&self.sessions);
        if sessions.map.len() >= MAX_SESSIONS {
            let now = SystemTime::now();
            sessions.map.retain(|_, s| s.expires > now);
        }
        if sessions.map.len() >= MAX_SESSIONS {
            if let Some(oldest) = sessions
                .map
                .iter()
                .min_by_key(|(_, s)| s.seq)
                .map(|(id, _)| *id)
            {
                sessions.map.remove(&oldest);
            }
        }
        let seq = sessions.next_seq;
        sessions.next_seq += 1;
        sessions.map.insert(
            id,
            Stored {
                csrf: csrf.clone(),
                expires,
                seq,
            },
        );
        (Session { id, csrf, expires }, value)
    }

    /// The session a cookie value names, when it is genuine and current.
    pub(crate) fn verify(&self, value: &str) -> Option<Session> {
        let (signed, mac) = value.rsplit_once('.')?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        hmac::verify(&self.key, signed.as_bytes(), &mac).ok()?;
        let mut parts = signed.split('.');
        if parts.next()? != "v1" {
            return None;
        }
        let id: [u8; 16] = URL_SAFE_NO_PAD
            .decode(parts.next()?)
            .ok()?
            .try_into()
            .ok()?;
        let expires: u64 = parts.next()?.parse().ok()?;
        let now = SystemTime::now();
        if expires <= unix(now) {
            return None;
        }
        let sessions = lock(&self.sessions);
        let stored = sessions.map.get(&id)?;
        (stored.expires > now).then(|| Session {
            id,
            csrf: stored.csrf.clone(),
            expires: stored.expires,
        })
    }

    /// Ends a session (logout).
    pub(crate) fn end(&self, session: &Session) {
        lock(&self.sessions).map.remove(&session.id);
    }

    /// Whether `token` is this session's CSRF token (constant time).
    pub(crate) fn csrf_matches(session: &Session, token: &[u8]) -> bool {
        session.csrf.as_bytes().ct_eq(token).into()
    }

    /// `Err(wait)` while `ip` is locked out after repeated wrong keys.
    pub(crate) fn login_allowed(&self, ip: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        match lock(&self.failures).get(&ip).and_then(|f| f.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Counts a wrong key from `ip`; returns the lockout it now has, if any.
    pub(crate) fn login_failed(&self, ip: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let mut table = lock(&self.failures);
        if table.len() >= MAX_TRACKED && !table.contains_key(&ip) {
            table.retain(|_, f| {
                now.duration_since(f.last) < FAILURE_MEMORY
                    || f.locked_until.is_some_and(|u| u > now)
            });
            if table.len() >= MAX_TRACKED {
                if let Some(oldest) = table.iter().min_by_key(|(_, f)| f.last).map(|(ip, _)| *ip) {
                    table.remove(&oldest);
                }
            }
        }
        let entry = table.entry(ip).or_insert(Failures {
            count: 0,
            last: now,
            locked_until: None,
        });
        if now.duration_since(entry.last) >= FAILURE_MEMORY {
            entry.count = 0;
        }
        entry.count += 1;
        entry.last = now;
        let lockout = (entry.count > FREE_FAILURES).then(|| {
            let doublings = (entry.count - FREE_FAILURES - 1).min(16);
            (Duration::from_secs(1) * (1u32 << doublings)).min(MAX_LOCKOUT)
        });
        entry.locked_until = lockout.map(|l| now + l);
        lockout
    }

    /// A right key from `ip`: its failures are forgotten.
    pub(crate) fn login_succeeded(&self, ip: IpAddr) {
        lock(&self.failures).remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn cookies_verify_only_when_genuine_current_and_not_ended() {
        let auth = ConsoleAuth::new();
        let (session, cookie) = auth.create();
        let seen = auth.verify(&cookie).unwrap();
        assert_eq!(seen.csrf, session.csrf);
        assert!(ConsoleAuth::csrf_matches(&seen, session.csrf.as_bytes()));
        assert!(!ConsoleAuth::csrf_matches(&seen, b"nope"));
        // Tampered: another expiry, another MAC, garbage.
        let (signed, mac) = cookie.rsplit_once('.').unwrap();
        let (head, _) = signed.rsplit_once('.').unwrap();
        assert!(auth.verify(&format!("{head}.99999999999.{mac}")).is_none());
        assert!(auth.verify(&format!("{signed}.AAAA")).is_none());
        assert!(auth.verify("v1.x.y.z").is_none());
        assert!(auth.verify("").is_none());
        // Another process's secret.
        assert!(ConsoleAuth::new().verify(&cookie).is_none());
        auth.end(&seen);
        assert!(auth.verify(&cookie).is_none(), "logout ends it");
    }

    #[test]
    fn the_session_table_is_bounded() {
        let auth = ConsoleAuth::new();
        let (_, first) = auth.create();
        for _ in 0..MAX_SESSIONS {
            auth.create();
        }
        assert_eq!(lock(&auth.sessions).map.len(), MAX_SESSIONS);
        assert!(auth.verify(&first).is_none(), "the oldest made room");
    }

    #[test]
    fn wrong_keys_lock_an_address_out_for_doubling_times() {
        let auth = ConsoleAuth::new();
        let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        for _ in 0..FREE_FAILURES {
            assert_eq!(auth.login_failed(ip), None);
            assert!(auth.login_allowed(ip).is_ok());
        }
        assert_eq!(auth.login_failed(ip), Some(Duration::from_secs(1)));
        assert!(auth.login_allowed(ip).is_err());
        assert!(auth.login_allowed(other).is_ok(), "per address");
        assert_eq!(auth.login_failed(ip), Some(Duration::from_secs(2)));
        assert_eq!(auth.login_failed(ip), Some(Duration::from_secs(4)));
        for _ in 0..20 {
            auth.login_failed(ip);
        }
        assert_eq!(auth.login_failed(ip), Some(MAX_LOCKOUT));
        auth.login_succeeded(ip);
        assert!(auth.login_allowed(ip).is_ok());
    }

    #[test]
    fn the_address_table_is_bounded() {
        let auth = ConsoleAuth::new();
        for i in 0..(MAX_TRACKED as u32 + 10) {
            auth.login_failed(IpAddr::V4(Ipv4Addr::from(i)));
        }
        assert!(lock(&auth.failures).len() <= MAX_TRACKED);
    }
}
