//! The validated configuration: what the rest of the proxy reads.
//!
//! `config.json` is parsed into [`super::raw`] types first (lenient, keeps
//! unknown fields) and turned into these once ("parse, don't validate"); code
//! that holds a [`Config`] never re-checks it.

use std::fmt;

use url::Url;

pub use super::circuit::{CircuitBreakerConfig, CircuitBreakerSettings};
pub(crate) use super::route::{resolve_target, split_target};
pub use super::route::{
    Route, RouteTarget, Router, Rule, Scenario, TargetError, DEFAULT_LONG_CONTEXT_THRESHOLD,
};

/// An upstream API key. `Debug`/`Display` print it masked, so a key can only
/// reach a log line or a response through an explicit `ApiKey::expose`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ApiKey(String);

impl ApiKey {
    /// A key as written in `config.json` (already trimmed by validation).
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    pub(crate) fn expose(&self) -> &str {
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
    pub(crate) const ALL: [ServiceType; 5] = [
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
    pub(crate) fn default_version_path(self) -> &'static str {
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

/// How the keys of one upstream take turns (`loadBalance`, or `LOAD_BALANCE_STRATEGY` as the
/// default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum LoadBalance {
    /// `round-robin` (the default): each request starts at the next key.
    #[default]
    RoundRobin,
    /// `random`: each request starts at a random key.
    Random,
    /// `failover`: always the first key, the next ones only when it fails or rests.
    Failover,
}

impl LoadBalance {
    pub(crate) const ALL: [LoadBalance; 3] = [
        LoadBalance::RoundRobin,
        LoadBalance::Random,
        LoadBalance::Failover,
    ];

    /// The name as `config.json` writes it: `round-robin`, `random`, `failover`.
    pub fn as_str(self) -> &'static str {
        match self {
            LoadBalance::RoundRobin => "round-robin",
            LoadBalance::Random => "random",
            LoadBalance::Failover => "failover",
        }
    }

    /// A strategy name, case-insensitive, with `_` for `-` accepted; `None` for anything else.
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
    /// A mapping from (requested model, upstream model) pairs in the file's order.
    pub fn new(entries: Vec<(String, String)>) -> Self {
        ModelMapping { entries }
    }

    pub(crate) fn entries(&self) -> &[(String, String)] {
        &self.entries
    }

    /// Whether the upstream has no `modelMapping` at all (every model passes through).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The upstream model for the model a client asked for.
    pub(crate) fn resolve<'a>(&'a self, requested: &'a str) -> &'a str {
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

/// One validated entry of `upstream`: where requests go, with which keys and protocol.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Unique name (case-insensitively), as routes, logs and metrics name the upstream.
    pub name: String,
    /// `baseUrl`: absolute http(s) with a host, no query; endpoint paths are appended to it.
    pub base_url: Url,
    /// `apiKeys`, trimmed, blanks dropped; may be empty (then the upstream cannot serve).
    pub api_keys: Vec<ApiKey>,
    /// `serviceType`: the protocol spoken to this upstream.
    pub service_type: ServiceType,
    /// `insecureSkipVerify`: accept any TLS certificate from this upstream (default false).
    pub insecure_skip_verify: bool,
    /// `modelMapping`: which upstream model serves a requested one.
    pub model_mapping: ModelMapping,
    /// Cap on `max_tokens` sent upstream (many models accept less than the
    /// 128,000 Claude Code asks for).
    pub max_tokens: Option<u64>,
    /// `description`: free text for people (shown by `config show` and the console).
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
    /// `Upstream::circuit_breaker`.
    pub circuit_breaker: Option<CircuitBreakerConfig>,
}

/// Where a `claude` upstream's key goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuthHeader {
    /// `x-api-key` for API keys, `Authorization: Bearer` for OAuth tokens
    /// (`sk-ant-oat…`).
    #[default]
    Auto,
    /// `x-api-key: <key>`.
    XApiKey,
    /// `Authorization: Bearer <key>`.
    Bearer,
}

impl AuthHeader {
    /// `auto`, `x-api-key` (or `apikey`) or `bearer` (or `authorization`), case-insensitive.
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
    /// The model to send to this upstream (the one `target` names) for a
    /// request that asked for `requested`: the target's own model, else this
    /// upstream's `modelMapping` of `requested`.
    pub fn model_for<'a>(&'a self, target: &'a RouteTarget, requested: &'a str) -> &'a str {
        match target.model() {
            Some(model) => model,
            None => self.model_mapping.resolve(requested),
        }
    }

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
    pub(crate) fn circuit_breaker(
        &self,
        defaults: &CircuitBreakerSettings,
    ) -> CircuitBreakerSettings {
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

/// The validated `config.json`: what the server reads for every request (one snapshot per request).
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The upstreams in file order.
    pub upstreams: Vec<Upstream>,
    /// `currentUpstream` as written (0 when absent). With a [`Router`], its
    /// `default` route decides instead (which is this upstream unless
    /// `router.default` is set).
    pub current_upstream: usize,
    /// The key strategy of upstreams without their own `loadBalance`.
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
    /// The `currentUpstream`, or `None` without any upstream.
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

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
