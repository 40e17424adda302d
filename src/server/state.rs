//! Shared server state. Settings and HTTP clients are fixed for the life of
//! the process; the configuration-dependent part ([`LiveState`]) is swapped
//! atomically on reload, so a request works on one consistent snapshot and
//! in-flight requests finish on the configuration they started with.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::rate_limit::RateLimiter;
use super::session::ConsoleAuth;
use crate::clients::Caller;
use crate::config::{self, Config, ConfigError};
use crate::error::ApiError;
use crate::observe::metrics::InflightGuard;
use crate::observe::RequestRecord;
use crate::providers::http::HttpClients;
use crate::providers::Held;
use crate::routing::failover::Net;
use crate::routing::LiveState;
use crate::settings::Settings;
use crate::shared_state::SharedState;

/// Everything a handler needs, shared by all of them.
pub struct AppState {
    /// Settings from the environment and `.env`, fixed at start.
    pub settings: Settings,
    /// The proxy access key as bytes, compared in constant time.
    pub(crate) access_key: Vec<u8>,
    /// The admin key (`ADMIN_ACCESS_KEY`, else the access key).
    pub(crate) admin_key: Vec<u8>,
    /// The running configuration; swapped whole on reload.
    pub live: ArcSwap<LiveState>,
    pub(crate) clients: HttpClients,
    /// When the server started (for `uptime`).
    pub started: Instant,
    /// The same moment as wall-clock ms since the epoch: requests stored
    /// before it seed the client budgets.
    pub(crate) started_ms: i64,
    /// `MAX_CONCURRENT_REQUESTS` (None = unlimited). A request that finds no
    /// permit is refused at once: no unbounded queue.
    pub(crate) inflight: Option<Arc<tokio::sync::Semaphore>>,
    /// `ENABLE_RATE_LIMIT` (None = off).
    pub(crate) rate_limiter: Option<RateLimiter>,
    /// Console sessions (signed with a per-process secret) and the login
    /// limiter.
    pub(crate) console: ConsoleAuth,
    /// The request store (`DATA_DIR`): one row per finished request.
    pub store: crate::store::Store,
    /// The fleet's shared state (`REDIS_URL`), or this process's alone.
    pub shared: SharedState,
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
        let clients = HttpClients::new(
            Duration::from_secs(10).min(settings.first_byte_timeout),
            &settings.upstream_proxy,
        )
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let shared = SharedState::from_settings(settings.redis.as_ref(), &access_key);
        let rate_limiter = settings.enable_rate_limit.then(|| {
            RateLimiter::new(settings.rate_limit_window, settings.rate_limit_max_requests)
                .with_shared(&shared)
        });
        Ok(AppState {
            rate_limiter,
            store: crate::store::Store::from_settings(&settings),
            live: ArcSwap::from_pointee(LiveState::build_shared(config, None, &shared)),
            shared,
            settings,
            access_key,
            admin_key,
            clients,
            started: Instant::now(),
            started_ms: crate::time::now_ms(),
            inflight: (settings_max > 0)
                .then(|| Arc::new(tokio::sync::Semaphore::new(settings_max))),
            console: ConsoleAuth::new(),
        })
    }

    /// The record of a request that arrived just now; its row goes to the
    /// store, priced with the running configuration's `prices`.
    pub(crate) fn record(
        &self,
        request_id: String,
        endpoint: &'static str,
        caller: &Caller,
    ) -> RequestRecord {
        let prices = self.live.load().config.prices.clone();
        RequestRecord::new(request_id, endpoint)
            .for_caller(caller)
            .with_store(self.store.sink(prices))
    }

    /// Adds what each client used today and this month before this process
    /// started (from the request store) to its meter, so a restart does not
    /// reset a budget. Without a store, budgets count from zero at start
    /// (said once in the log).
    pub async fn seed_client_meters(&self) {
        let live = self.live.load_full();
        if live.clients.is_empty() {
            return;
        }
        let budgets = live.clients.iter().any(|c| {
            c.config.limits.daily_tokens.is_some() || c.config.limits.monthly_cost_usd.is_some()
        });
        let seeds = match self
            .store
            .client_seeds(self.started_ms, Duration::from_secs(10))
            .await
        {
            Ok(s) => s,
            Err(e) => {
                if budgets {
                    tracing::warn!(error = %e, "client budgets count from zero: the request store cannot say what was used before this start");
                }
                return;
            }
        };
        let now = crate::time::now_ms();
        let mut seeded = 0;
        for s in &seeds {
            if let Some(entry) = live.clients.find(&s.client) {
                entry.meter.seed(s.day_tokens, s.month_cost_usd, now);
                seeded += 1;
            }
        }
        tracing::info!(
            clients = seeded,
            "client budgets seeded from the request store"
        );
    }

    /// What the failover loop needs.
    pub(crate) fn net(&self) -> Net<'_> {
        Net {
            clients: &self.clients,
            settings: &self.settings,
        }
    }

    /// Takes a `MAX_CONCURRENT_REQUESTS` permit, or refuses at once; the
    /// returned value counts the request as in flight until dropped.
    pub(crate) fn admit(&self) -> Result<Held, ApiError> {
        let permit = match &self.inflight {
            None => None,
            Some(sem) => Some(sem.clone().try_acquire_owned().map_err(|_| {
                ApiError::overloaded(format!(
                    "the proxy is at its limit of {} concurrent requests (MAX_CONCURRENT_REQUESTS)",
                    self.settings.max_concurrent_requests
                ))
                .with_retry_after(Some(1))
            })?),
        };
        Ok(Box::new((permit, InflightGuard::new())))
    }

    /// Requests running now (when `MAX_CONCURRENT_REQUESTS` counts them).
    pub(crate) fn running(&self) -> Option<usize> {
        self.inflight.as_ref().map(|s| {
            self.settings
                .max_concurrent_requests
                .saturating_sub(s.available_permits())
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
        let next = Arc::new(LiveState::build_shared(
            config,
            Some(&current),
            &self.shared,
        ));
        self.live.store(next.clone());
        Ok(next)
    }
}

/// Watches config.json and swaps in every valid new version; an invalid one
/// is logged and the running configuration kept. Dropping the guard stops it.
pub fn watch_config_file(state: &Arc<AppState>) -> Option<crate::config::watch::WatchGuard> {
    let st = state.clone();
    let path = state.settings.config_path.clone();
    let watched = crate::config::watch::watch_config(path.clone(), move || match st.reload() {
        Ok(live) => tracing::info!(
            upstreams = live.config.upstreams.len(),
            current = live
                .current()
                .map(|u| u.config.name.as_str())
                .unwrap_or("-"),
            "config file changed; configuration reloaded"
        ),
        Err(e) => tracing::error!(
            error = %e,
            "config file changed but cannot be used; keeping the running configuration"
        ),
    });
    match watched {
        Ok(guard) => Some(guard),
        Err(e) => {
            tracing::warn!(error = %e, path = %path.display(), "hot reload is off: cannot watch the config file");
            None
        }
    }
}
