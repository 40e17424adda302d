//! The fleet's settings: `REDIS_URL`, `REDIS_PREFIX`, `REDIS_TIMEOUT_MS`
//! (read with the other settings by `crate::settings`). The URL may carry a
//! password: it is kept out of `Debug` and every message.

use std::time::Duration;

/// `REDIS_URL` and its companions: where a fleet keeps its shared state.
#[derive(Clone)]
pub struct RedisSettings {
    url: String,
    /// `REDIS_PREFIX`: prepended to every Redis key name.
    pub prefix: String,
    /// `REDIS_TIMEOUT_MS`: the longest a request waits for one Redis call.
    pub timeout: Duration,
}

impl RedisSettings {
    /// The URL, password included: for the Redis client only, never for a
    /// log or an answer (use [`RedisSettings::shown`]).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL with any password replaced by `****`.
    pub fn shown(&self) -> String {
        mask_url_password(&self.url)
    }
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &self.shown())
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// `scheme://user:secret@host` → `scheme://user:****@host` (and
/// `scheme://secret@host`, Redis's password-only form, → `scheme://:****@host`).
pub(crate) fn mask_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "****".to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or("", |(u, _)| u);
            format!("{scheme}://{user}:****@{host}{path}")
        }
        None => url.to_owned(),
    }
}

impl RedisSettings {
    /// Parses the settings from `get` (trimmed, empty = unset) and `raw`
    /// (the untrimmed value, for the prefix); `Ok(None)` without
    /// `REDIS_URL`. Errors name the variable, its value (a URL masked) and
    /// why.
    pub(crate) fn from_vars<'a>(
        get: impl Fn(&str) -> Option<&'a str>,
        raw: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<Option<Self>, (&'static str, String, &'static str)> {
        let Some(url) = get("REDIS_URL") else {
            return Ok(None);
        };
        let scheme_ok = ["redis://", "rediss://"]
            .iter()
            .any(|s| url.len() > s.len() && url[..s.len()].eq_ignore_ascii_case(s));
        if !scheme_ok || redis::Client::open(url).is_err() {
            return Err((
                "REDIS_URL",
                mask_url_password(url),
                "expected redis://[user:password@]host[:port][/db] or rediss://… (TLS)",
            ));
        }
        let prefix = raw("REDIS_PREFIX")
            .map(|p| p.trim().to_owned())
            .unwrap_or_else(|| "claude-proxy:".to_owned());
        if prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err((
                "REDIS_PREFIX",
                prefix,
                "must not contain spaces or control characters",
            ));
        }
        let timeout_ms = match get("REDIS_TIMEOUT_MS") {
            None => 5,
            Some(v) => v.parse::<u64>().map_err(|_| {
                (
                    "REDIS_TIMEOUT_MS",
                    v.to_owned(),
                    "expected a non-negative whole number in range",
                )
            })?,
        };
        if !(1..=10_000).contains(&timeout_ms) {
            return Err((
                "REDIS_TIMEOUT_MS",
                timeout_ms.to_string(),
                "must be between 1 and 10000 ms (requests wait this long when Redis is slow)",
            ));
        }
        Ok(Some(RedisSettings {
            url: url.to_owned(),
            prefix,
            timeout: Duration::from_millis(timeout_ms),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The REDIS_* settings of `pairs` (read as `crate::settings` reads
    /// them: blank values are unset), without reaching up into that module.
    fn settings(
        pairs: &[(&str, &str)],
    ) -> Result<Option<RedisSettings>, (&'static str, String, &'static str)> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        RedisSettings::from_vars(
            |k| {
                map.get(k)
                    .map(String::as_str)
                    .filter(|v| !v.trim().is_empty())
            },
            |k| map.get(k).map(String::as_str),
        )
    }

    #[test]
    fn redis_settings_mask_the_password() {
        assert!(settings(&[]).unwrap().is_none());
        let s = settings(&[("REDIS_URL", "redis://:hunter2secret@10.0.0.5:6380/2")]).unwrap();
        let r = s.unwrap();
        assert_eq!(r.prefix, "claude-proxy:");
        assert_eq!(r.timeout, Duration::from_millis(5));
        assert_eq!(r.shown(), "redis://:****@10.0.0.5:6380/2");
        assert!(!format!("{r:?}").contains("hunter2"));
        assert_eq!(r.url(), "redis://:hunter2secret@10.0.0.5:6380/2");
        let s = settings(&[
            ("REDIS_URL", "rediss://app:pw@cache.internal"),
            ("REDIS_PREFIX", "team-a:"),
            ("REDIS_TIMEOUT_MS", "20"),
        ])
        .unwrap();
        let r = s.unwrap();
        assert_eq!(
            (r.prefix.as_str(), r.timeout),
            ("team-a:", Duration::from_millis(20))
        );
        assert_eq!(r.shown(), "rediss://app:****@cache.internal");
        for (k, v) in [
            ("REDIS_URL", "http://localhost:6379"),
            ("REDIS_URL", "localhost:6379"),
            ("REDIS_TIMEOUT_MS", "0"),
            ("REDIS_TIMEOUT_MS", "60000"),
            ("REDIS_PREFIX", "a b"),
        ] {
            let mut pairs = vec![(k, v)];
            if k != "REDIS_URL" {
                pairs.push(("REDIS_URL", "redis://127.0.0.1"));
            }
            let err = settings(&pairs).unwrap_err();
            assert_eq!(err.0, k, "{k}={v}");
        }
        let err = settings(&[("REDIS_URL", "http://:topsecret@host")]).unwrap_err();
        assert!(!format!("{err:?}").contains("topsecret"), "{err:?}");
    }
}
