//! Server settings from the environment and a `.env` file (environment wins),
//! parsed and validated once at start-up. An invalid value stops start-up
//! with a message naming the variable.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::{CircuitBreakerSettings, LoadBalance};

/// Shown by `claude-proxy --help`.
pub const ENV_HELP: &str = "\
Environment (also read from ./.env; the environment wins):
  HOST                     address to bind (default 127.0.0.1; a non-loopback HOST requires PROXY_ACCESS_KEY)
  PORT                     port (default 3000)
  PROXY_ACCESS_KEY         key clients send as x-api-key or Authorization: Bearer (generated and printed when unset)
  ADMIN_ACCESS_KEY         key for /admin endpoints (default: PROXY_ACCESS_KEY)
  CONFIG_PATH              config.json path (default ./config.json)
  NODE_ENV                 production | development (development: /admin/dev/info, debug logs)
  LOG_LEVEL                error | warn | info | debug | trace (default info)
  LOG_FORMAT               pretty | json (default pretty)
  ENABLE_REQUEST_LOGS      log request bodies at debug level, truncated and masked (default false)
  ENABLE_RESPONSE_LOGS     log response bodies at debug level, truncated and masked (default false)
  REQUEST_TIMEOUT          total upstream timeout in ms (default 600000)
  FIRST_BYTE_TIMEOUT       upstream response-headers timeout in ms (default 120000)
  STREAM_IDLE_TIMEOUT      longest silence between upstream stream chunks in ms (default 300000)
  PING_INTERVAL            ms of silence after which a stream gets a ping event (default 10000)
  SHUTDOWN_TIMEOUT         on SIGINT/SIGTERM, ms that running requests may take to finish (default 30000)
  MAX_CONCURRENT_REQUESTS  in-flight request limit, 0 = unlimited (default 4096)
  MAX_BODY_SIZE            request body limit in bytes (default 33554432 = 32 MiB)
  MAX_CONNECTIONS          open client connections; beyond it new ones get 503 and are closed (default 20000)
  HEADER_READ_TIMEOUT      ms a client may take to send a request's headers, and to start the next
                           request on a kept-alive connection (default 30000)
  LOAD_BALANCE_STRATEGY    round-robin | random | failover: default when config.json has no loadBalance
  ENABLE_CORS              answer CORS preflights (default true)
  CORS_ORIGIN              allowed origin(s), comma-separated, or * (default *)
  ENABLE_RATE_LIMIT        per-client rate limit (default false)
  RATE_LIMIT_WINDOW        rate-limit window in ms (default 60000)
  RATE_LIMIT_MAX_REQUESTS  requests per window per client IP and key (default 100)
  HEALTH_CHECK_ENABLED     serve the health route (default true)
  HEALTH_CHECK_PATH        health route path (default /health)
  METRICS_PUBLIC           serve /metrics without the access key (default false)
  CIRCUIT_FAILURES         consecutive failed attempts that open an upstream's circuit (default 5)
  CIRCUIT_OPEN_MS          ms an open circuit waits before one probe request (default 30000)
  CIRCUIT_MAX_OPEN_MS      longest open time, reached by doubling after failed probes (default 600000)
  DATA_DIR                 directory of the request store claude-proxy.db, created 0700 (default ./data; off = no store)
  STORE_BODIES             also store request and response bodies, truncated and redacted (default false)
  STORE_RETENTION_DAYS     stored requests and usage older than this many days are pruned (default 30)
  REDIS_URL                redis://[:password@]host[:port][/db] or rediss:// (TLS): share key cooldowns, circuits,
                           round-robin turns and rate limits with the other instances of a fleet (default: none)
  REDIS_PREFIX             prefix of every Redis key this fleet uses (default claude-proxy:)
  REDIS_TIMEOUT_MS         longest wait for Redis on a request's path, ms; slower answers fall back to local state
                           (default 5)
  HTTPS_PROXY, HTTP_PROXY  http://[user:password@]host:port of a forward proxy for https / http upstreams
                           (ALL_PROXY for both; lower case works too; default: none)
  NO_PROXY                 comma-separated hosts, domains or CIDR blocks reached without the proxy
";

pub use crate::shared_state::RedisSettings;

/// `LOG_FORMAT`: how log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `pretty` (the default, also `text`): human-readable lines.
    Pretty,
    /// `json`: one JSON object per line.
    Json,
}

/// Every environment / `.env` setting, validated once at start-up (see the README's settings table
/// for each variable).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `HOST`: the address to listen on (default 127.0.0.1; `localhost` is 127.0.0.1).
    pub host: IpAddr,
    /// `PORT` (default 3000).
    pub port: u16,
    /// `NODE_ENV=development`: debug logs by default and `/admin/dev/info`.
    pub development: bool,
    /// `None` until start-up generates one (see [`Settings::ensure_access_key`]).
    pub proxy_access_key: Option<String>,
    /// `ADMIN_ACCESS_KEY`: the key for `/admin/*`; `None` uses the access key.
    pub admin_access_key: Option<String>,
    /// `CONFIG_PATH`: the `config.json` to load and watch (default `./config.json`).
    pub config_path: PathBuf,
    /// `LOG_LEVEL`: `error`, `warn`, `info` (the default; `debug` in development) or `trace`.
    pub log_level: String,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `ENABLE_REQUEST_LOGS`: log each client request's headers (credentials redacted) and first 4
    /// KB of body at debug level.
    pub enable_request_logs: bool,
    /// `ENABLE_RESPONSE_LOGS`: log the first 4 KB of each response body at debug level.
    pub enable_response_logs: bool,
    /// `REQUEST_TIMEOUT`: the whole upstream request (default 600 s).
    pub request_timeout: Duration,
    /// `FIRST_BYTE_TIMEOUT`: until the upstream's response headers and a stream's first content
    /// (default 120 s); then the next key is tried.
    pub first_byte_timeout: Duration,
    /// `STREAM_IDLE_TIMEOUT`: longest silence of an upstream stream before it is ended with an
    /// error (default 300 s).
    pub stream_idle_timeout: Duration,
    /// `PING_INTERVAL`: silence after which a client stream gets a `ping` (default 10 s).
    pub ping_interval: Duration,
    /// After a shutdown signal: how long running requests (streams) may take
    /// before the process exits anyway.
    pub shutdown_timeout: Duration,
    /// `MAX_CONCURRENT_REQUESTS`: requests in flight at once; more are refused with 529 (default
    /// 4096).
    pub max_concurrent_requests: usize,
    /// `MAX_BODY_SIZE`: the request body limit in bytes (default 32 MiB); larger bodies get 413.
    pub max_body_size: usize,
    /// `MAX_CONNECTIONS`: open client connections at most.
    pub max_connections: usize,
    /// `HEADER_READ_TIMEOUT`: longest wait for a request's headers, also
    /// between requests on a kept-alive connection (slow-loris clients).
    pub header_read_timeout: Duration,
    /// `LOAD_BALANCE_STRATEGY`: the key strategy when `config.json` gives none (default
    /// round-robin).
    pub load_balance_strategy: LoadBalance,
    /// `ENABLE_CORS` (default true).
    pub enable_cors: bool,
    /// `CORS_ORIGIN`: `*` (the default) or comma-separated origins.
    pub cors_origin: String,
    /// `ENABLE_RATE_LIMIT`: the per-client rate limit on `/v1/*` (default off).
    pub enable_rate_limit: bool,
    /// `RATE_LIMIT_WINDOW`: the rate limit's window (default 60 s).
    pub rate_limit_window: Duration,
    /// `RATE_LIMIT_MAX_REQUESTS`: requests per window and client (default 100; at least 1 when the
    /// limit is on).
    pub rate_limit_max_requests: u32,
    /// `HEALTH_CHECK_ENABLED` (default true).
    pub health_check_enabled: bool,
    /// `HEALTH_CHECK_PATH`: where the health check answers (default `/health`).
    pub health_check_path: String,
    /// `METRICS_PUBLIC`: serve `/metrics` without the access key (default false).
    pub metrics_public: bool,
    /// `CIRCUIT_FAILURES`, `CIRCUIT_OPEN_MS`, `CIRCUIT_MAX_OPEN_MS`: the
    /// circuit breaker limits of every upstream without its own
    /// `circuitBreaker` values.
    pub circuit_breaker: CircuitBreakerSettings,
    /// `DATA_DIR`: where the request store keeps `claude-proxy.db`; `None`
    /// when `DATA_DIR=off` (no store).
    pub data_dir: Option<PathBuf>,
    /// `STORE_BODIES`: also store the first 4 KB of request and response
    /// bodies, credentials redacted.
    pub store_bodies: bool,
    /// `STORE_RETENTION_DAYS`: stored rows older than this are pruned.
    pub store_retention_days: u32,
    /// `REDIS_URL`, `REDIS_PREFIX`, `REDIS_TIMEOUT_MS`: the fleet's shared
    /// state; `None` without `REDIS_URL` (this instance keeps its own).
    pub redis: Option<RedisSettings>,
    /// `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY` (or lower case): the proxy the
    /// upstream requests go through.
    pub upstream_proxy: UpstreamProxy,
}

/// The forward proxy for upstream requests, from the environment or `.env`
/// (curl's variables): `HTTPS_PROXY` for `https` upstreams, `HTTP_PROXY` for
/// `http` ones, `ALL_PROXY` for either when its own is unset, and
/// `NO_PROXY` (comma-separated hosts, domains, IPs or CIDR blocks, or `*`)
/// for the hosts reached directly. Only `http://` proxies, with optional
/// `user:password@`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UpstreamProxy {
    /// The proxy for `https` upstreams.
    pub https: Option<String>,
    /// The proxy for `http` upstreams.
    pub http: Option<String>,
    /// The hosts reached without a proxy.
    pub no: Option<String>,
}

impl std::fmt::Debug for UpstreamProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A proxy URL may carry credentials.
        let shown = |v: &Option<String>| v.as_deref().map(crate::util::without_userinfo);
        f.debug_struct("UpstreamProxy")
            .field("https", &shown(&self.https))
            .field("http", &shown(&self.http))
            .field("no", &self.no)
            .finish()
    }
}

impl UpstreamProxy {
    /// True when no proxy is set.
    pub fn is_none(&self) -> bool {
        self.https.is_none() && self.http.is_none()
    }
}

/// A setting whose value cannot be used; the message names the variable and the accepted values.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {var}={value:?}: {reason}")]
pub struct SettingsError {
    /// The variable's name.
    pub var: &'static str,
    /// The value as given.
    pub value: String,
    /// What is accepted instead.
    pub reason: String,
}

impl Settings {
    /// Reads `.env` from the working directory (if present) and the process
    /// environment; the environment wins.
    pub fn from_env() -> Result<Self, SettingsError> {
        let mut vars: HashMap<String, String> = HashMap::new();
        if let Ok(iter) = dotenvy::from_path_iter(".env") {
            for (k, v) in iter.flatten() {
                vars.insert(k, v);
            }
        }
        vars.extend(std::env::vars());
        Self::from_map(&vars)
    }

    /// Builds settings from a variable map (tests pass their own).
    pub fn from_map(vars: &HashMap<String, String>) -> Result<Self, SettingsError> {
        let r = Reader { vars };
        let development = match r.get("NODE_ENV").map(str::to_ascii_lowercase).as_deref() {
            None | Some("production") | Some("prod") | Some("test") => false,
            Some("development") | Some("dev") => true,
            Some(other) => {
                return Err(r.err("NODE_ENV", other, "expected production or development"))
            }
        };
        let log_level = match r.get("LOG_LEVEL") {
            None => if development { "debug" } else { "info" }.to_owned(),
            Some(l) => {
                let l = l.to_ascii_lowercase();
                if !["error", "warn", "info", "debug", "trace"].contains(&l.as_str()) {
                    return Err(r.err(
                        "LOG_LEVEL",
                        &l,
                        "expected error, warn, info, debug or trace",
                    ));
                }
                l
            }
        };
        let log_format = match r.get("LOG_FORMAT").map(str::to_ascii_lowercase).as_deref() {
            None | Some("pretty") | Some("text") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(r.err("LOG_FORMAT", other, "expected pretty or json")),
        };
        let load_balance_strategy = match r.get("LOAD_BALANCE_STRATEGY") {
            None => LoadBalance::RoundRobin,
            Some(s) => LoadBalance::parse(s).ok_or_else(|| {
                r.err(
                    "LOAD_BALANCE_STRATEGY",
                    s,
                    "expected round-robin, random or failover",
                )
            })?,
        };
        let health_check_path = r.get("HEALTH_CHECK_PATH").unwrap_or("/health").to_owned();
        if !health_check_path.starts_with('/') || health_check_path.len() < 2 {
            return Err(r.err(
                "HEALTH_CHECK_PATH",
                &health_check_path,
                "must start with / and name a path",
            ));
        }
        let host_text = r.get("HOST").unwrap_or("127.0.0.1");
        let host = if host_text.eq_ignore_ascii_case("localhost") {
            IpAddr::from([127, 0, 0, 1])
        } else {
            host_text.parse().map_err(|_| {
                r.err(
                    "HOST",
                    host_text,
                    "expected an IP address such as 127.0.0.1 or 0.0.0.0",
                )
            })?
        };
        let enable_rate_limit = r.flag("ENABLE_RATE_LIMIT", false)?;
        let rate_limit_max_requests = r.num("RATE_LIMIT_MAX_REQUESTS", 100u32)?;
        if enable_rate_limit && rate_limit_max_requests == 0 {
            return Err(r.err(
                "RATE_LIMIT_MAX_REQUESTS",
                "0",
                "must be at least 1 when ENABLE_RATE_LIMIT is true",
            ));
        }
        let circuit_breaker = r.circuit_breaker()?;
        let data_dir = match r.get("DATA_DIR") {
            Some(off) if off.eq_ignore_ascii_case("off") => None,
            dir => Some(PathBuf::from(dir.unwrap_or("./data"))),
        };
        let store_retention_days = r.num("STORE_RETENTION_DAYS", 30u32)?;
        if !(1..=36_500).contains(&store_retention_days) {
            return Err(r.err(
                "STORE_RETENTION_DAYS",
                &store_retention_days.to_string(),
                "must be between 1 and 36500 days",
            ));
        }
        let redis = r.redis()?;
        let upstream_proxy = r.upstream_proxy()?;
        let nonempty = |k: &str| r.get(k).filter(|s| !s.is_empty()).map(str::to_owned);
        Ok(Settings {
            host,
            port: r.num("PORT", 3000u16)?,
            development,
            proxy_access_key: nonempty("PROXY_ACCESS_KEY"),
            admin_access_key: nonempty("ADMIN_ACCESS_KEY"),
            config_path: PathBuf::from(r.get("CONFIG_PATH").unwrap_or("./config.json")),
            log_level,
            log_format,
            enable_request_logs: r.flag("ENABLE_REQUEST_LOGS", false)?,
            enable_response_logs: r.flag("ENABLE_RESPONSE_LOGS", false)?,
            request_timeout: r.millis("REQUEST_TIMEOUT", 600_000)?,
            first_byte_timeout: r.millis("FIRST_BYTE_TIMEOUT", 120_000)?,
            stream_idle_timeout: r.millis("STREAM_IDLE_TIMEOUT", 300_000)?,
            ping_interval: r.millis("PING_INTERVAL", 10_000)?,
            shutdown_timeout: r.millis("SHUTDOWN_TIMEOUT", 30_000)?,
            max_concurrent_requests: r.num("MAX_CONCURRENT_REQUESTS", 4096usize)?,
            max_body_size: r.num("MAX_BODY_SIZE", 32 * 1024 * 1024usize)?,
            max_connections: r.num("MAX_CONNECTIONS", 20_000usize)?.max(1),
            header_read_timeout: r.millis("HEADER_READ_TIMEOUT", 30_000)?,
            load_balance_strategy,
            enable_cors: r.flag("ENABLE_CORS", true)?,
            cors_origin: r.get("CORS_ORIGIN").unwrap_or("*").to_owned(),
            enable_rate_limit,
            rate_limit_window: r.millis("RATE_LIMIT_WINDOW", 60_000)?,
            rate_limit_max_requests,
            health_check_enabled: r.flag("HEALTH_CHECK_ENABLED", true)?,
            health_check_path,
            metrics_public: r.flag("METRICS_PUBLIC", false)?,
            circuit_breaker,
            data_dir,
            store_bodies: r.flag("STORE_BODIES", false)?,
            store_retention_days,
            redis,
            upstream_proxy,
        })
    }

    /// Start-up rule: without `PROXY_ACCESS_KEY` a loopback server gets a
    /// random key (returned so it can be printed once); a non-loopback one
    /// refuses to start.
    pub fn ensure_access_key(&mut self) -> Result<Option<String>, String> {
        if self.proxy_access_key.is_some() {
            return Ok(None);
        }
        if !self.host.is_loopback() {
            return Err(format!(
                "HOST={} is reachable from other machines, but PROXY_ACCESS_KEY is not set. \
                 Set PROXY_ACCESS_KEY in .env or the environment (or bind HOST=127.0.0.1).",
                self.host
            ));
        }
        let key = generate_access_key();
        self.proxy_access_key = Some(key.clone());
        Ok(Some(key))
    }
}

/// A random `cp-` key with 192 bits of entropy.
pub fn generate_access_key() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let body: String = (0..32)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("cp-{body}")
}

struct Reader<'a> {
    vars: &'a HashMap<String, String>,
}

impl Reader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }

    fn err(&self, var: &'static str, value: &str, reason: &str) -> SettingsError {
        SettingsError {
            var,
            value: value.to_owned(),
            reason: reason.to_owned(),
        }
    }

    fn flag(&self, var: &'static str, default: bool) -> Result<bool, SettingsError> {
        match self.get(var).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes" | "on") => Ok(true),
            Some("false" | "0" | "no" | "off") => Ok(false),
            Some(other) => Err(self.err(var, other, "expected true or false")),
        }
    }

    fn num<T: std::str::FromStr>(&self, var: &'static str, default: T) -> Result<T, SettingsError> {
        match self.get(var) {
            None => Ok(default),
            Some(s) => s
                .parse()
                .map_err(|_| self.err(var, s, "expected a non-negative whole number in range")),
        }
    }

    fn millis(&self, var: &'static str, default_ms: u64) -> Result<Duration, SettingsError> {
        let ms: u64 = self.num(var, default_ms)?;
        if ms == 0 {
            return Err(self.err(var, "0", "must be at least 1 millisecond"));
        }
        Ok(Duration::from_millis(ms))
    }

    /// The first of `names` that is set and not empty.
    fn first(&self, names: &[&'static str]) -> Option<(&'static str, &str)> {
        names.iter().find_map(|n| {
            self.get(n)
                .filter(|v| !v.trim().is_empty())
                .map(|v| (*n, v.trim()))
        })
    }

    fn upstream_proxy(&self) -> Result<UpstreamProxy, SettingsError> {
        let all = self.first(&["ALL_PROXY", "all_proxy"]);
        let url = |names: &[&'static str]| -> Result<Option<String>, SettingsError> {
            let Some((var, v)) = self.first(names).or(all) else {
                return Ok(None);
            };
            // curl reads a URL without a scheme as http://.
            let full = if v.contains("://") {
                v.to_owned()
            } else {
                format!("http://{v}")
            };
            let shown = crate::util::without_userinfo(v);
            let parsed = url::Url::parse(&full).map_err(|e| SettingsError {
                var,
                value: shown.clone(),
                reason: format!("not a URL: {e}"),
            })?;
            if parsed.scheme() != "http" {
                return Err(SettingsError {
                    var,
                    value: shown,
                    reason: "only http:// proxies are supported (the tunnel to an https upstream is still TLS end to end)".into(),
                });
            }
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err(SettingsError {
                    var,
                    value: shown,
                    reason: "no host".into(),
                });
            }
            Ok(Some(full))
        };
        Ok(UpstreamProxy {
            https: url(&["HTTPS_PROXY", "https_proxy"])?,
            http: url(&["HTTP_PROXY", "http_proxy"])?,
            no: self
                .first(&["NO_PROXY", "no_proxy"])
                .map(|(_, v)| v.to_owned()),
        })
    }

    fn redis(&self) -> Result<Option<RedisSettings>, SettingsError> {
        RedisSettings::from_vars(|k| self.get(k), |k| self.vars.get(k).map(String::as_str))
            .map_err(|(var, value, reason)| self.err(var, &value, reason))
    }

    fn circuit_breaker(&self) -> Result<CircuitBreakerSettings, SettingsError> {
        let defaults = CircuitBreakerSettings::DEFAULT;
        let failures = self.num("CIRCUIT_FAILURES", defaults.failures)?;
        if failures == 0 {
            return Err(self.err("CIRCUIT_FAILURES", "0", "must be at least 1"));
        }
        let as_ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let open = self.millis("CIRCUIT_OPEN_MS", as_ms(defaults.open))?;
        let max_open = self.millis("CIRCUIT_MAX_OPEN_MS", as_ms(defaults.max_open))?;
        if max_open < open {
            return Err(self.err(
                "CIRCUIT_MAX_OPEN_MS",
                &as_ms(max_open).to_string(),
                &format!("must be at least CIRCUIT_OPEN_MS ({})", as_ms(open)),
            ));
        }
        Ok(CircuitBreakerSettings {
            failures,
            open,
            max_open,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_map(&map)
    }

    #[test]
    fn defaults() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.port, 3000);
        assert_eq!(s.host.to_string(), "127.0.0.1");
        assert_eq!(s.request_timeout, Duration::from_secs(600));
        assert_eq!(s.health_check_path, "/health");
        assert_eq!(s.log_level, "info");
        assert!(s.proxy_access_key.is_none());
        assert_eq!(s.shutdown_timeout, Duration::from_secs(30));
        assert!(!s.enable_rate_limit);
    }

    #[test]
    fn rate_limit_needs_a_positive_budget() {
        let err = settings(&[
            ("ENABLE_RATE_LIMIT", "true"),
            ("RATE_LIMIT_MAX_REQUESTS", "0"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "RATE_LIMIT_MAX_REQUESTS");
        assert!(settings(&[("RATE_LIMIT_MAX_REQUESTS", "0")]).is_ok());
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (k, v) in [
            ("PORT", "abc"),
            ("PORT", "70000"),
            ("LOAD_BALANCE_STRATEGY", "fastest"),
            ("LOG_LEVEL", "loud"),
            ("ENABLE_CORS", "maybe"),
            ("REQUEST_TIMEOUT", "0"),
            ("HOST", "not-an-ip"),
            ("SHUTDOWN_TIMEOUT", "soon"),
            ("SHUTDOWN_TIMEOUT", "0"),
        ] {
            let err = settings(&[(k, v)]).unwrap_err();
            assert_eq!(err.var, k);
            assert!(err.to_string().contains(k));
        }
    }

    #[test]
    fn access_key_rules() {
        let mut s = settings(&[]).unwrap();
        let key = s.ensure_access_key().unwrap().unwrap();
        assert!(key.starts_with("cp-") && key.len() == 35);
        let mut s = settings(&[("HOST", "0.0.0.0")]).unwrap();
        assert!(s
            .ensure_access_key()
            .unwrap_err()
            .contains("PROXY_ACCESS_KEY"));
        let mut s = settings(&[("HOST", "0.0.0.0"), ("PROXY_ACCESS_KEY", "k")]).unwrap();
        assert_eq!(s.ensure_access_key().unwrap(), None);
    }

    #[test]
    fn circuit_breaker_defaults_and_limits() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.circuit_breaker.failures, 5);
        assert_eq!(s.circuit_breaker.open, Duration::from_secs(30));
        assert_eq!(s.circuit_breaker.max_open, Duration::from_secs(600));
        let s = settings(&[
            ("CIRCUIT_FAILURES", "2"),
            ("CIRCUIT_OPEN_MS", "1500"),
            ("CIRCUIT_MAX_OPEN_MS", "1500"),
        ])
        .unwrap();
        assert_eq!(
            (
                s.circuit_breaker.failures,
                s.circuit_breaker.open,
                s.circuit_breaker.max_open
            ),
            (2, Duration::from_millis(1500), Duration::from_millis(1500))
        );
        for (pairs, var) in [
            (&[("CIRCUIT_FAILURES", "0")][..], "CIRCUIT_FAILURES"),
            (&[("CIRCUIT_FAILURES", "-1")], "CIRCUIT_FAILURES"),
            (&[("CIRCUIT_FAILURES", "lots")], "CIRCUIT_FAILURES"),
            (&[("CIRCUIT_OPEN_MS", "0")], "CIRCUIT_OPEN_MS"),
            (&[("CIRCUIT_MAX_OPEN_MS", "0")], "CIRCUIT_MAX_OPEN_MS"),
            (&[("CIRCUIT_OPEN_MS", "700000")], "CIRCUIT_MAX_OPEN_MS"),
            (
                &[("CIRCUIT_OPEN_MS", "2000"), ("CIRCUIT_MAX_OPEN_MS", "1000")],
                "CIRCUIT_MAX_OPEN_MS",
            ),
        ] {
            let err = settings(pairs).unwrap_err();
            assert_eq!(err.var, var, "{pairs:?}: {err}");
        }
        let err = settings(&[("CIRCUIT_OPEN_MS", "700000")]).unwrap_err();
        assert!(
            err.to_string()
                .contains("at least CIRCUIT_OPEN_MS (700000)"),
            "{err}"
        );
    }

    #[test]
    fn every_setting_is_in_the_help_and_the_example_file() {
        let example = include_str!("../.env.example");
        for var in [
            "CIRCUIT_FAILURES",
            "CIRCUIT_OPEN_MS",
            "CIRCUIT_MAX_OPEN_MS",
            "DATA_DIR",
            "STORE_BODIES",
            "STORE_RETENTION_DAYS",
            "REDIS_URL",
            "REDIS_PREFIX",
            "REDIS_TIMEOUT_MS",
        ] {
            assert!(ENV_HELP.contains(var), "{var} missing from ENV_HELP");
            assert!(
                example.lines().any(|l| l.starts_with(&format!("{var}="))),
                "{var} missing from .env.example"
            );
        }
    }

    #[test]
    fn store_settings() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.data_dir, Some(PathBuf::from("./data")));
        assert!(!s.store_bodies);
        assert_eq!(s.store_retention_days, 30);
        for off in ["off", "OFF", " Off "] {
            assert_eq!(settings(&[("DATA_DIR", off)]).unwrap().data_dir, None);
        }
        let s = settings(&[
            ("DATA_DIR", "/var/lib/claude-proxy"),
            ("STORE_BODIES", "true"),
            ("STORE_RETENTION_DAYS", "7"),
        ])
        .unwrap();
        assert_eq!(s.data_dir, Some(PathBuf::from("/var/lib/claude-proxy")));
        assert!(s.store_bodies);
        assert_eq!(s.store_retention_days, 7);
        for (k, v) in [
            ("STORE_RETENTION_DAYS", "0"),
            ("STORE_RETENTION_DAYS", "36501"),
            ("STORE_RETENTION_DAYS", "a week"),
            ("STORE_BODIES", "sometimes"),
        ] {
            assert_eq!(settings(&[(k, v)]).unwrap_err().var, k);
        }
    }

    #[test]
    fn development_turns_on_debug_logs() {
        let s = settings(&[("NODE_ENV", "development")]).unwrap();
        assert!(s.development);
        assert_eq!(s.log_level, "debug");
        let s = settings(&[("NODE_ENV", "development"), ("LOG_LEVEL", "warn")]).unwrap();
        assert_eq!(s.log_level, "warn");
    }

    #[test]
    fn upstream_proxy_reads_curls_variables() {
        let s = settings(&[]).unwrap();
        assert!(s.upstream_proxy.is_none());
        let s = settings(&[
            ("https_proxy", "127.0.0.1:3128"),
            ("NO_PROXY", "localhost,10.0.0.0/8"),
        ])
        .unwrap();
        let p = &s.upstream_proxy;
        assert_eq!(p.https.as_deref(), Some("http://127.0.0.1:3128"));
        assert_eq!(p.http, None);
        assert_eq!(p.no.as_deref(), Some("localhost,10.0.0.0/8"));
        // ALL_PROXY stands in for the one not set; the specific one wins.
        let s = settings(&[
            ("ALL_PROXY", "http://all:1"),
            ("HTTP_PROXY", "http://plain:2"),
        ])
        .unwrap();
        assert_eq!(s.upstream_proxy.https.as_deref(), Some("http://all:1"));
        assert_eq!(s.upstream_proxy.http.as_deref(), Some("http://plain:2"));

        let e = settings(&[("HTTPS_PROXY", "https://user:SECRET@p:1")]).unwrap_err();
        assert_eq!(e.var, "HTTPS_PROXY");
        assert!(!e.to_string().contains("SECRET"), "{e}");
        assert!(e.reason.contains("http://"), "{e}");
        let e = settings(&[("ALL_PROXY", "socks5://p:1")]).unwrap_err();
        assert_eq!(e.var, "ALL_PROXY");
        let s = settings(&[("HTTP_PROXY", "http://user:SECRET@p:1")]).unwrap();
        assert!(!format!("{:?}", s.upstream_proxy).contains("SECRET"));
    }
}
