//! The validated configuration: what the rest of the proxy reads.
//!
//! `config.json` is parsed into [`super::raw`] types first (lenient, keeps
//! unknown fields) and turned into these once ("parse, don't validate"); code
//! that holds a [`Config`] never re-checks it.

use std::fmt;
use std::time::Duration;

use reqwest::Url;

pub(crate) use super::route::{resolve_target, split_target};
pub use super::route::{
    Route, RouteTarget, Router, Rule, Scenario, TargetError, DEFAULT_LONG_CONTEXT_THRESHOLD,
};

/// An upstream API key. `Debug`/`Display` print it masked, so a key can only
/// reach a log line or a response through an explicit [`ApiKey::expose`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Masked form for humans: first 8 and last 4 characters at most; short
    /// keys are mostly hidden.
    pub fn masked(&self) -> String {
        mask_secret(&self.0)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.masked())
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Masks a secret for display: `sk-proj-…wxyz`. Keys of 16 characters or
/// fewer show at most their first 2 and last 2 characters.
pub fn mask_secret(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    let (head, tail) = match n {
        0 => return String::new(),
        1..=6 => return "*".repeat(n.min(6)),
        7..=16 => (2, 2),
        _ => (8, 4),
    };
    let head: String = chars[..head].iter().collect();
    let tail: String = chars[n - tail..].iter().collect();
    format!("{head}…{tail}")
}

/// The protocol an upstream speaks (`serviceType` in config.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceType {
    /// OpenAI Chat Completions with `max_completion_tokens`.
    OpenAi,
    /// OpenAI-compatible servers that only know `max_tokens`.
    OpenAiOld,
    /// OpenAI's Responses API (`POST /responses`).
    Responses,
    /// Google Gemini `generateContent`.
    Gemini,
    /// Anthropic's Messages API (a pass-through).
    Claude,
}

impl ServiceType {
    /// Every service type, in the order help texts list them.
    pub const ALL: [ServiceType; 5] = [
        ServiceType::OpenAi,
        ServiceType::OpenAiOld,
        ServiceType::Responses,
        ServiceType::Gemini,
        ServiceType::Claude,
    ];

    /// The `serviceType` word.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::OpenAi => "openai",
            ServiceType::OpenAiOld => "openaiold",
            ServiceType::Responses => "responses",
            ServiceType::Gemini => "gemini",
            ServiceType::Claude => "claude",
        }
    }

    /// The service type named `s` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        ServiceType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Path segment added when `baseUrl` has no path of its own.
    pub fn default_version_path(self) -> &'static str {
        match self {
            ServiceType::Gemini => "/v1beta",
            _ => "/v1",
        }
    }
}

impl fmt::Display for ServiceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum LoadBalance {
    #[default]
    RoundRobin,
    Random,
    Failover,
}

impl LoadBalance {
    pub const ALL: [LoadBalance; 3] = [
        LoadBalance::RoundRobin,
        LoadBalance::Random,
        LoadBalance::Failover,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LoadBalance::RoundRobin => "round-robin",
            LoadBalance::Random => "random",
            LoadBalance::Failover => "failover",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        LoadBalance::ALL.into_iter().find(|t| {
            t.as_str().eq_ignore_ascii_case(s)
                || t.as_str().replace('-', "_").eq_ignore_ascii_case(s)
        })
    }
}

impl fmt::Display for LoadBalance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `modelMapping`: exact names first, then the family words `opus`, `sonnet`,
/// `haiku` as case-insensitive substrings, then `"*"`; unmapped names pass
/// through unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelMapping {
    entries: Vec<(String, String)>,
}

const FAMILIES: [&str; 3] = ["opus", "sonnet", "haiku"];

impl ModelMapping {
    pub fn new(entries: Vec<(String, String)>) -> Self {
        ModelMapping { entries }
    }

    pub fn entries(&self) -> &[(String, String)] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The upstream model for the model a client asked for.
    pub fn resolve<'a>(&'a self, requested: &'a str) -> &'a str {
        if let Some((_, to)) = self.entries.iter().find(|(from, _)| from == requested) {
            return to;
        }
        let lower = requested.to_ascii_lowercase();
        for family in FAMILIES {
            if lower.contains(family) {
                if let Some((_, to)) = self
                    .entries
                    .iter()
                    .find(|(from, _)| from.eq_ignore_ascii_case(family))
                {
                    return to;
                }
            }
        }
        if let Some((_, to)) = self.entries.iter().find(|(from, _)| from == "*") {
            return to;
        }
        requested
    }
}

#[derive(Debug, Clone)]
pub struct Upstream {
    pub name: String,
    pub base_url: Url,
    pub api_keys: Vec<ApiKey>,
    pub service_type: ServiceType,
    pub insecure_skip_verify: bool,
    pub model_mapping: ModelMapping,
    /// Cap on `max_tokens` sent upstream (many models accept less than the
    /// 128,000 Claude Code asks for).
    pub max_tokens: Option<u64>,
    pub description: Option<String>,
    /// Upstreams (by name) that take over when every key of this one
    /// failed, in order. Empty: no cross-upstream fallback.
    pub fallback: Vec<String>,
    /// Key order for this upstream; `None` uses the global `loadBalance`.
    pub load_balance: Option<LoadBalance>,
    /// How the key is sent to a `claude` upstream.
    pub auth_header: AuthHeader,
    /// This upstream's own `circuitBreaker` values; `None` (or a missing
    /// field) takes the `CIRCUIT_*` settings, see
    /// [`Upstream::circuit_breaker`].
    pub circuit_breaker: Option<CircuitBreakerConfig>,
}

/// Where a `claude` upstream's key goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuthHeader {
    /// `x-api-key` for API keys, `Authorization: Bearer` for OAuth tokens
    /// (`sk-ant-oat…`).
    #[default]
    Auto,
    XApiKey,
    Bearer,
}

impl AuthHeader {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(AuthHeader::Auto),
            "x-api-key" | "x_api_key" | "apikey" => Some(AuthHeader::XApiKey),
            "bearer" | "authorization" => Some(AuthHeader::Bearer),
            _ => None,
        }
    }
}

impl Upstream {
    /// `baseUrl` joined with `path`, adding the protocol's version segment
    /// (`/v1`, `/v1beta`) when `baseUrl` has no path of its own.
    pub fn endpoint(&self, path: &str) -> String {
        let base = self.base_url.as_str().trim_end_matches('/');
        if self.base_url.path() == "/" || self.base_url.path().is_empty() {
            format!("{base}{}{path}", self.service_type.default_version_path())
        } else {
            format!("{base}{path}")
        }
    }

    /// The circuit breaker limits that apply to this upstream: its own
    /// `circuitBreaker` values over `defaults` (the `CIRCUIT_*` settings).
    pub fn circuit_breaker(&self, defaults: &CircuitBreakerSettings) -> CircuitBreakerSettings {
        match &self.circuit_breaker {
            Some(own) => own.resolve(defaults),
            None => *defaults,
        }
    }
}

#[cfg(test)]
impl Upstream {
    /// A keyless upstream named `u` with defaults everywhere else.
    pub(crate) fn for_tests(base_url: &str, service_type: ServiceType) -> Upstream {
        Upstream {
            name: "u".into(),
            base_url: Url::parse(base_url).unwrap(),
            api_keys: vec![],
            service_type,
            insecure_skip_verify: false,
            model_mapping: ModelMapping::default(),
            max_tokens: None,
            description: None,
            fallback: Vec::new(),
            load_balance: None,
            auth_header: AuthHeader::Auto,
            circuit_breaker: None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub upstreams: Vec<Upstream>,
    /// `currentUpstream` as written (0 when absent). With a [`Router`], its
    /// `default` route decides instead (which is this upstream unless
    /// `router.default` is set).
    pub current_upstream: usize,
    pub load_balance: LoadBalance,
    /// The `router` object; `None` when the file has none, and then requests
    /// go to the current upstream and its `fallback` list exactly as without
    /// routing.
    pub router: Option<Router>,
    /// The `prices` object (empty when absent): cost estimates of the
    /// request store.
    pub prices: super::prices::Prices,
    /// The `clients` section: named client keys (empty when absent).
    pub clients: Vec<super::clients::Client>,
}

impl Config {
    pub fn current(&self) -> Option<&Upstream> {
        self.upstreams.get(self.current_upstream)
    }

    /// The index of the upstream called `name` (trimmed, ASCII
    /// case-insensitive).
    pub fn find_upstream(&self, name: &str) -> Option<usize> {
        let name = name.trim();
        self.upstreams
            .iter()
            .position(|u| u.name.eq_ignore_ascii_case(name))
    }

    /// Resolves a target written as `upstream` or `upstream,model` (the
    /// config's syntax, also a request's explicit `model` or the
    /// `x-claude-proxy-upstream` header) against the configured upstreams.
    pub fn parse_target(&self, text: &str) -> Result<RouteTarget, TargetError> {
        resolve_target(
            text,
            |name| self.find_upstream(name),
            || self.upstreams.iter().map(|u| u.name.clone()).collect(),
        )
    }

    /// `name` or `name,model`, how logs and messages show a target.
    pub fn target_label(&self, target: &RouteTarget) -> String {
        let name = self
            .upstreams
            .get(target.upstream())
            .map_or("?", |u| u.name.as_str());
        match target.model() {
            Some(model) => format!("{name},{model}"),
            None => name.to_owned(),
        }
    }
}

/// Effective circuit breaker limits of one upstream.
///
/// After `failures` consecutive failed attempts against the upstream the
/// circuit opens for `open`; then one probe request is let through, and each
/// failed probe doubles the open time, up to `max_open`. Built by the
/// settings (all fields at least 1, `max_open >= open`) and by
/// [`CircuitBreakerConfig::resolve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitBreakerSettings {
    pub failures: u32,
    pub open: Duration,
    pub max_open: Duration,
}

impl CircuitBreakerSettings {
    /// `CIRCUIT_FAILURES=5`, `CIRCUIT_OPEN_MS=30000`,
    /// `CIRCUIT_MAX_OPEN_MS=600000`.
    pub const DEFAULT: CircuitBreakerSettings = CircuitBreakerSettings {
        failures: 5,
        open: Duration::from_millis(30_000),
        max_open: Duration::from_millis(600_000),
    };
}

impl Default for CircuitBreakerSettings {
    fn default() -> Self {
        CircuitBreakerSettings::DEFAULT
    }
}

/// An upstream's `circuitBreaker` object: each field overrides the setting
/// of the same meaning. Present values are positive, and `max_open >= open`
/// when both are given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CircuitBreakerConfig {
    /// `failures`
    pub failures: Option<u32>,
    /// `openMs`
    pub open: Option<Duration>,
    /// `maxOpenMs`
    pub max_open: Option<Duration>,
}

impl CircuitBreakerConfig {
    /// These values over `defaults`. When a value given here conflicts with a
    /// default (an `openMs` above the default maximum, or a `maxOpenMs` below
    /// the default open time), the given one wins and the default gives way,
    /// so `max_open >= open` always holds.
    pub fn resolve(&self, defaults: &CircuitBreakerSettings) -> CircuitBreakerSettings {
        let failures = self.failures.unwrap_or(defaults.failures);
        let (open, max_open) = match (self.open, self.max_open) {
            (Some(open), Some(max)) => (open, max.max(open)),
            (Some(open), None) => (open, defaults.max_open.max(open)),
            (None, Some(max)) => (defaults.open.min(max), max),
            (None, None) => (defaults.open, defaults.max_open),
        };
        CircuitBreakerSettings {
            failures,
            open,
            max_open,
        }
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
