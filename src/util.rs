//! Helpers any module may use without a dependency cycle (they depend on
//! nothing in the crate but the leaf [`crate::time`]): random ids, RFC 3339
//! timestamps of a `SystemTime`, and the truncation of bodies for logs and
//! the request store.

use std::fmt::Write as _;
use std::time::SystemTime;

use rand::Rng;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `prefix` followed by `n` random base62 characters.
pub(crate) fn random_id(prefix: &str, n: usize) -> String {
    let mut rng = rand::rng();
    let mut s = String::with_capacity(prefix.len() + n);
    s.push_str(prefix);
    for _ in 0..n {
        s.push(BASE62[rng.random_range(0..BASE62.len())] as char);
    }
    s
}

/// A new `msg_…` id.
pub fn message_id() -> String {
    random_id("msg_01", 22)
}

/// A new `req_…` id.
pub fn request_id() -> String {
    random_id("req_01", 22)
}

/// RFC 3339 UTC timestamp with milliseconds, e.g. `2026-11-26T05:44:40.123Z`.
pub(crate) fn rfc3339_now() -> String {
    rfc3339(SystemTime::now())
}

/// `t` as an RFC 3339 UTC timestamp with milliseconds.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    crate::time::rfc3339_of(t)
}

/// Largest part of a body that is logged (`ENABLE_REQUEST_LOGS`,
/// `ENABLE_RESPONSE_LOGS`) or stored (`STORE_BODIES`), in bytes.
pub const BODY_LIMIT: usize = 4096;

/// The first [`BODY_LIMIT`] bytes of `body` as text (invalid UTF-8
/// replaced), with a note giving the `total` size when it was cut.
pub fn truncated(body: &[u8], total: usize) -> String {
    let head = &body[..body.len().min(BODY_LIMIT)];
    let mut s = String::from_utf8_lossy(head).into_owned();
    if total > head.len() {
        let _ = write!(s, "… [truncated, {total} bytes in all]");
    }
    s
}

/// A URL (`scheme://user:pass@host/path`, or `user:pass@host` without a
/// scheme) with its `user:pass@` left out: fit for a message or a log.
pub(crate) fn without_userinfo(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match (rest[..authority_end].rfind('@'), scheme) {
        (Some(at), Some(scheme)) => format!("{scheme}://{}", &rest[at + 1..]),
        (Some(at), None) => rest[at + 1..].to_owned(),
        (None, _) => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn userinfo_is_left_out() {
        use super::without_userinfo as w;
        assert_eq!(w("http://u:p@h:1/x"), "http://h:1/x");
        assert_eq!(w("u:p@h:1"), "h:1");
        assert_eq!(w("http://h/x@y"), "http://h/x@y");
        assert_eq!(w("https://h"), "https://h");
    }

    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_671_880_123);
        assert_eq!(rfc3339(t), "2026-11-26T05:44:40.123Z");
    }

    #[test]
    fn ids() {
        let id = message_id();
        assert!(id.starts_with("msg_01") && id.len() == 28);
        assert_ne!(message_id(), id);
    }
}
