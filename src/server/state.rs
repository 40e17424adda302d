//! Shared server state. Settings and HTTP clients are fixed for the life of
//! the process; the configuration-dependent part ([`LiveState`]) is swapped
//! atomically on reload, so a request works on one consistent snapshot and
//! in-flight requests finish on the configuration they started with.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::config::{self, Config, ConfigError, ServiceType, Upstream};
use crate::error::ApiError;
use crate::providers::{OptionalParam, Target};
use crate::routing::keys::KeyPool;
use crate::settings::Settings;

/// One configured upstream with its runtime state.
#[derive(Debug)]
pub struct UpstreamRuntime {
    pub config: Upstream,
    pub keys: KeyPool,
    /// (upstream model, parameter) pairs the upstream refused: later
    /// requests leave the parameter out at once instead of paying a 400.
    refused: std::sync::Mutex<Vec<(String, OptionalParam)>>,
    /// Parsed endpoint URLs by (upstream model, stream): parsing one per
    /// request showed up in profiles.
    urls: std::sync::Mutex<Vec<(String, bool, reqwest::Url)>>,
}

/// Endpoint URLs remembered per upstream (Gemini has one per model and mode).
const MAX_CACHED_URLS: usize = 64;

impl UpstreamRuntime {
    pub fn new(config: Upstream, keys: KeyPool) -> Self {
        UpstreamRuntime {
            config,
            keys,
            refused: std::sync::Mutex::new(Vec::new()),
            urls: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The endpoint for `target`, parsed once per (model, stream).
    pub fn url(&self, target: &Target<'_>) -> Result<reqwest::Url, ApiError> {
        // OpenAI and Claude endpoints depend on neither.
        let (model, stream) = match self.config.service_type {
            ServiceType::Gemini => (target.model, target.stream),
            _ => ("", false),
        };
        if let Ok(urls) = self.urls.lock() {
            if let Some((_, _, url)) = urls.iter().find(|(m, s, _)| m == model && *s == stream) {
                return Ok(url.clone());
            }
        }
        let url = self.parse_url(&target.url())?;
        if let Ok(mut urls) = self.urls.lock() {
            if urls.len() >= MAX_CACHED_URLS {
                urls.clear();
            }
            urls.push((model.to_owned(), stream, url.clone()));
        }
        Ok(url)
    }

    /// An endpoint of this upstream as a URL, or the error that names it.
    pub fn parse_url(&self, text: &str) -> Result<reqwest::Url, ApiError> {
        reqwest::Url::parse(text).map_err(|e| {
            ApiError::api(format!(
                "upstream {}: invalid endpoint URL: {e}",
                self.config.name
            ))
        })
    }

    pub fn refused_params(&self, model: &str) -> Vec<OptionalParam> {
        let Ok(list) = self.refused.lock() else {
            return Vec::new();
        };
        list.iter()
            .filter(|(m, _)| m == model)
            .map(|(_, p)| *p)
            .collect()
    }

    pub fn remember_refused(&self, model: &str, param: OptionalParam) {
        if let Ok(mut list) = self.refused.lock() {
            // Bounded: a handful of models times a handful of parameters.
            if list.len() < 256 && !list.iter().any(|(m, p)| m == model && *p == param) {
                list.push((model.to_owned(), param));
            }
        }
    }
}

#[derive(Debug)]
pub struct LiveState {
    pub config: Config,
    pub upstreams: Vec<Arc<UpstreamRuntime>>,
}

impl LiveState {
    /// Builds the runtime for `config`, carrying key counters and cooldowns
    /// over from `previous` for upstreams that still exist (matched by name).
    pub fn build(config: Config, previous: Option<&LiveState>) -> Self {
        let upstreams = config
            .upstreams
            .iter()
            .map(|up| {
                let old = previous.and_then(|p| {
                    p.upstreams
                        .iter()
                        .find(|o| o.config.name.eq_ignore_ascii_case(&up.name))
                });
                let keys = match old {
                    Some(o) => o.keys.carry_over(up.api_keys.clone()),
                    None => KeyPool::new(up.api_keys.clone()),
                };
                Arc::new(UpstreamRuntime::new(up.clone(), keys))
            })
            .collect();
        LiveState { config, upstreams }
    }

    pub fn current(&self) -> Option<&Arc<UpstreamRuntime>> {
        self.upstreams.get(self.config.current_upstream)
    }

    /// The upstreams a request may use, in order: the current one, then its
    /// `fallback` list (each once).
    pub fn route(&self) -> Vec<Arc<UpstreamRuntime>> {
        let Some(current) = self.current() else {
            return Vec::new();
        };
        let mut route: Vec<Arc<UpstreamRuntime>> =
            Vec::with_capacity(1 + current.config.fallback.len());
        let candidates = std::iter::once(current.clone()).chain(
            current.config.fallback.iter().filter_map(|name| {
                self.upstreams
                    .iter()
                    .find(|u| u.config.name.eq_ignore_ascii_case(name))
                    .cloned()
            }),
        );
        for up in candidates {
            if !route.iter().any(|r| Arc::ptr_eq(r, &up)) {
                route.push(up);
            }
        }
        route
    }
}

/// HTTP clients, built once: one verifying certificates and one for
/// upstreams with `insecureSkipVerify` (never shared with the others).
#[derive(Debug, Clone)]
pub struct HttpClients {
    pub secure: reqwest::Client,
    pub insecure: reqwest::Client,
}

impl HttpClients {
    pub fn new(connect_timeout: Duration) -> Result<Self, reqwest::Error> {
        let build = |insecure: bool| {
            reqwest::Client::builder()
                .connect_timeout(connect_timeout)
                .pool_idle_timeout(Duration::from_secs(90))
                .pool_max_idle_per_host(256)
                .tcp_nodelay(true)
                .danger_accept_invalid_certs(insecure)
                .user_agent(concat!("claude-proxy/", env!("CARGO_PKG_VERSION")))
                .build()
        };
        Ok(HttpClients {
            secure: build(false)?,
            insecure: build(true)?,
        })
    }

    pub fn for_upstream(&self, up: &Upstream) -> &reqwest::Client {
        if up.insecure_skip_verify {
            &self.insecure
        } else {
            &self.secure
        }
    }
}

pub struct AppState {
    pub settings: Settings,
    /// The proxy access key as bytes, compared in constant time.
    pub access_key: Vec<u8>,
    pub admin_key: Vec<u8>,
    pub live: ArcSwap<LiveState>,
    pub clients: HttpClients,
    pub started: Instant,
    /// `MAX_CONCURRENT_REQUESTS` (None = unlimited). A request that finds no
    /// permit is refused at once: no unbounded queue.
    pub inflight: Option<Arc<tokio::sync::Semaphore>>,
    /// `ENABLE_RATE_LIMIT` (None = off).
    pub rate_limiter: Option<super::rate_limit::RateLimiter>,
}

impl AppState {
    /// `settings.proxy_access_key` must be set (see `Settings::ensure_access_key`).
    pub fn new(settings: Settings, config: Config) -> Result<Self, String> {
        let access_key = settings
            .proxy_access_key
            .clone()
            .ok_or("PROXY_ACCESS_KEY is not set")?
            .into_bytes();
        let admin_key = settings
            .admin_access_key
            .clone()
            .map(String::into_bytes)
            .unwrap_or_else(|| access_key.clone());
        let settings_max = settings.max_concurrent_requests;
        let clients = HttpClients::new(Duration::from_secs(10).min(settings.first_byte_timeout))
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let rate_limiter = settings.enable_rate_limit.then(|| {
            super::rate_limit::RateLimiter::new(
                settings.rate_limit_window,
                settings.rate_limit_max_requests,
            )
        });
        Ok(AppState {
            rate_limiter,
            live: ArcSwap::from_pointee(LiveState::build(config, None)),
            settings,
            access_key,
            admin_key,
            clients,
            started: Instant::now(),
            inflight: (settings_max > 0)
                .then(|| Arc::new(tokio::sync::Semaphore::new(settings_max))),
        })
    }

    /// Re-reads the config file and swaps it in. On error the running
    /// configuration stays in place and the error is returned.
    pub fn reload(&self) -> Result<Arc<LiveState>, ConfigError> {
        let path = &self.settings.config_path;
        // A file that vanished (mid-save, or deleted by mistake) is not an
        // instruction to drop every upstream.
        if !path.exists() {
            return Err(ConfigError::Io {
                path: path.display().to_string(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "file not found"),
            });
        }
        let config = config::load(path, self.settings.load_balance_strategy)?;
        let current = self.live.load();
        let next = Arc::new(LiveState::build(config, Some(&current)));
        self.live.store(next.clone());
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime(base: &str, service_type: ServiceType) -> UpstreamRuntime {
        UpstreamRuntime::new(
            Upstream::for_tests(base, service_type),
            KeyPool::new(Vec::new()),
        )
    }

    fn url(up: &UpstreamRuntime, model: &str, stream: bool) -> String {
        let target = Target {
            upstream: &up.config,
            model,
            stream,
        };
        up.url(&target).unwrap().to_string()
    }

    #[test]
    fn remembered_urls_match_the_endpoint_of_each_model_and_mode() {
        let up = runtime("http://127.0.0.1:9/v1beta", ServiceType::Gemini);
        for _ in 0..2 {
            assert_eq!(
                url(&up, "gemini-a", false),
                "http://127.0.0.1:9/v1beta/models/gemini-a:generateContent"
            );
            assert_eq!(
                url(&up, "gemini-a", true),
                "http://127.0.0.1:9/v1beta/models/gemini-a:streamGenerateContent?alt=sse"
            );
            assert_eq!(
                url(&up, "gemini-b", false),
                "http://127.0.0.1:9/v1beta/models/gemini-b:generateContent"
            );
        }
        let up = runtime("http://127.0.0.1:9/v1", ServiceType::OpenAi);
        assert_eq!(
            url(&up, "a", true),
            "http://127.0.0.1:9/v1/chat/completions"
        );
        assert_eq!(
            url(&up, "b", false),
            "http://127.0.0.1:9/v1/chat/completions"
        );
    }

    #[test]
    fn the_url_memo_stays_bounded() {
        let up = runtime("http://127.0.0.1:9/v1beta", ServiceType::Gemini);
        for i in 0..(MAX_CACHED_URLS * 3) {
            assert!(url(&up, &format!("m{i}"), false).ends_with(&format!("/m{i}:generateContent")));
        }
        assert!(up.urls.lock().unwrap().len() <= MAX_CACHED_URLS);
    }
}
