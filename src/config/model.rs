//! The validated configuration: what the rest of the proxy reads.
//!
//! `config.json` is parsed into [`super::raw`] types first (lenient, keeps
//! unknown fields) and turned into these once ("parse, don't validate"); code
//! that holds a [`Config`] never re-checks it.

use std::fmt;
use std::time::Duration;

use reqwest::Url;

use super::glob::Glob;

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
            .get(target.upstream)
            .map_or("?", |u| u.name.as_str());
        match &target.model {
            Some(model) => format!("{name},{model}"),
            None => name.to_owned(),
        }
    }
}

/// A scenario of the router: a kind of request that can go somewhere else
/// than the `default` route. The names are the keys in `config.json`'s
/// `router` object and the route labels of requests that took them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// Every request no rule or other scenario took.
    Default,
    /// Claude Code's small/fast model calls (the haiku family): titles,
    /// summaries, checks.
    Background,
    /// Requests with `thinking` enabled or adaptive.
    Think,
    /// Requests whose estimated input tokens exceed
    /// [`Router::long_context_threshold`].
    LongContext,
    /// Requests with a server tool whose `type` starts with `web_search`.
    WebSearch,
    /// Requests whose last user turn holds an image.
    Image,
}

impl Scenario {
    /// Every scenario, in the order `config.json` and `config router show`
    /// list them.
    pub const ALL: [Scenario; 6] = [
        Scenario::Default,
        Scenario::Background,
        Scenario::Think,
        Scenario::LongContext,
        Scenario::WebSearch,
        Scenario::Image,
    ];

    /// The order in which a request is checked against the scenarios (after
    /// the explicit route and the rules): the first that applies and has a
    /// target wins, [`Scenario::Default`] last.
    pub const PRECEDENCE: [Scenario; 6] = [
        Scenario::LongContext,
        Scenario::Background,
        Scenario::Think,
        Scenario::WebSearch,
        Scenario::Image,
        Scenario::Default,
    ];

    /// The `config.json` key and route label: `default`, `background`,
    /// `think`, `longContext`, `webSearch`, `image`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Default => "default",
            Scenario::Background => "background",
            Scenario::Think => "think",
            Scenario::LongContext => "longContext",
            Scenario::WebSearch => "webSearch",
            Scenario::Image => "image",
        }
    }

    /// A scenario name as a person types it: case-insensitive, and `-` or
    /// `_` between the words may be given or left out (`long-context`,
    /// `web_search`, `LONGCONTEXT`).
    pub fn parse(s: &str) -> Option<Scenario> {
        let folded: String = s
            .trim()
            .chars()
            .filter(|c| !matches!(c, '-' | '_'))
            .collect();
        Scenario::ALL
            .into_iter()
            .find(|sc| sc.as_str().eq_ignore_ascii_case(&folded))
    }

    fn index(self) -> usize {
        match self {
            Scenario::Default => 0,
            Scenario::Background => 1,
            Scenario::Think => 2,
            Scenario::LongContext => 3,
            Scenario::WebSearch => 4,
            Scenario::Image => 5,
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The route a request took, first match wins: an explicit choice, a rule, or
/// a scenario. Its label goes into the request's log line (`route=think`),
/// the `route` metrics label and the `x-claude-proxy-route` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// The request named its upstream: a `model` of `"upstream,model"` or the
    /// `x-claude-proxy-upstream` header.
    Explicit,
    /// The rule at this index of [`Router::rules`] matched.
    Rule(usize),
    /// A scenario (including [`Scenario::Default`]).
    Scenario(Scenario),
}

impl Route {
    /// `explicit`, `rule`, or the scenario's [`Scenario::as_str`].
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Explicit => "explicit",
            Route::Rule(_) => "rule",
            Route::Scenario(s) => s.as_str(),
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One place a route can send a request: an upstream, and the model to ask
/// it for. A route holds a priority list of these; the next one is used when
/// the previous one's keys all failed or rest, or its circuit is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTarget {
    upstream: usize,
    model: Option<String>,
}

impl RouteTarget {
    /// The upstream at `index`, its `modelMapping` picking the model.
    pub(crate) fn for_upstream(index: usize) -> RouteTarget {
        RouteTarget {
            upstream: index,
            model: None,
        }
    }

    /// The upstream's index in [`Config::upstreams`].
    pub fn upstream(&self) -> usize {
        self.upstream
    }

    /// The model written after the comma (`"gemini,gemini-2.5-pro"`), sent as
    /// given; `None` for a bare upstream name, whose `modelMapping` picks.
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// The model to send to `upstream` (the one this target names) for a
    /// request that asked for `requested`: the target's own model, else the
    /// upstream's `modelMapping` of `requested`.
    pub fn upstream_model<'a>(&'a self, upstream: &'a Upstream, requested: &'a str) -> &'a str {
        match &self.model {
            Some(model) => model,
            None => upstream.model_mapping.resolve(requested),
        }
    }
}

/// Why a target string does not name a configured upstream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("must not be empty (expected \"upstream\" or \"upstream,model\")")]
    Empty,
    #[error("the upstream name before the comma must not be empty")]
    EmptyUpstream,
    #[error("the model after \"{0},\" must not be empty")]
    EmptyModel(String),
    /// `known` lists the configured names, for the error a user sees.
    #[error("no upstream is named {name:?} ({})", known_names(.known))]
    UnknownUpstream { name: String, known: Vec<String> },
}

fn known_names(known: &[String]) -> String {
    if known.is_empty() {
        "no upstreams are configured".to_owned()
    } else {
        format!("configured: {}", known.join(", "))
    }
}

/// Splits a target into its trimmed upstream name and model, at the first
/// comma: `"local,qwen2.5-coder:7b"` → (`local`, `qwen2.5-coder:7b`).
pub(crate) fn split_target(text: &str) -> Result<(&str, Option<&str>), TargetError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(TargetError::Empty);
    }
    match text.split_once(',') {
        None => Ok((text, None)),
        Some((name, model)) => {
            let (name, model) = (name.trim(), model.trim());
            if name.is_empty() {
                Err(TargetError::EmptyUpstream)
            } else if model.is_empty() {
                Err(TargetError::EmptyModel(name.to_owned()))
            } else {
                Ok((name, Some(model)))
            }
        }
    }
}

/// [`split_target`], then the name looked up with `find`; `known` lists the
/// names for the error (called only on failure).
pub(crate) fn resolve_target(
    text: &str,
    find: impl FnOnce(&str) -> Option<usize>,
    known: impl FnOnce() -> Vec<String>,
) -> Result<RouteTarget, TargetError> {
    let (name, model) = split_target(text)?;
    let upstream = find(name).ok_or_else(|| TargetError::UnknownUpstream {
        name: name.to_owned(),
        known: known(),
    })?;
    Ok(RouteTarget {
        upstream,
        model: model.map(str::to_owned),
    })
}

/// Default of `router.longContextThreshold`, in estimated input tokens.
pub const DEFAULT_LONG_CONTEXT_THRESHOLD: u64 = 60_000;

/// The validated `router` object: a priority list of targets per scenario,
/// the long-context threshold and the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Router {
    /// Indexed by `Scenario::index`; empty = not configured.
    scenarios: [Vec<RouteTarget>; 6],
    long_context_threshold: u64,
    rules: Vec<Rule>,
}

impl Router {
    pub(crate) fn new(
        scenarios: [Vec<RouteTarget>; 6],
        long_context_threshold: u64,
        rules: Vec<Rule>,
    ) -> Router {
        Router {
            scenarios,
            long_context_threshold,
            rules,
        }
    }

    /// The targets of a scenario in priority order (never an empty slice), or
    /// `None` when it has none and the request falls through to the next
    /// scenario. [`Scenario::Default`] is `router.default`, else the
    /// `currentUpstream`; it is `None` only without any upstream.
    pub fn scenario(&self, scenario: Scenario) -> Option<&[RouteTarget]> {
        let targets = &self.scenarios[scenario.index()];
        (!targets.is_empty()).then_some(targets.as_slice())
    }

    /// `router.longContextThreshold`: a request whose estimated input tokens
    /// exceed it takes the `longContext` route. Always at least 1.
    pub fn long_context_threshold(&self) -> u64 {
        self.long_context_threshold
    }

    /// The rules in the order they are tried.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The first rule matching a request for `model` whose headers `header`
    /// looks up (see [`Rule::matches`]), with its index.
    pub fn matching_rule<'h>(
        &self,
        model: &str,
        mut header: impl FnMut(&str) -> Option<&'h str>,
    ) -> Option<(usize, &Rule)> {
        self.rules
            .iter()
            .enumerate()
            .find(|(_, rule)| rule.matches(model, &mut header))
    }
}

/// A routing rule: when a request matches, its targets serve it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    model: Option<Glob>,
    /// Lower-case names, exact values.
    headers: Vec<(String, String)>,
    to: Vec<RouteTarget>,
}

impl Rule {
    /// `model` and `headers` are never both empty, `to` never empty; header
    /// names are lower-case.
    pub(crate) fn new(
        model: Option<Glob>,
        headers: Vec<(String, String)>,
        to: Vec<RouteTarget>,
    ) -> Rule {
        Rule { model, headers, to }
    }

    /// Whether a request for `model` matches: the glob (if any) matches the
    /// requested model, and every listed header has exactly the listed value.
    /// `header` is asked for a header's value by lower-case name (an
    /// `http::HeaderMap` lookup fits: `|n| map.get(n)?.to_str().ok()`).
    pub fn matches<'h>(
        &self,
        model: &str,
        mut header: impl FnMut(&str) -> Option<&'h str>,
    ) -> bool {
        self.model.as_ref().is_none_or(|glob| glob.matches(model))
            && self
                .headers
                .iter()
                .all(|(name, value)| header(name) == Some(value.as_str()))
    }

    /// The glob on the requested model, if the rule has one.
    pub fn model(&self) -> Option<&Glob> {
        self.model.as_ref()
    }

    /// The headers that must match: (lower-case name, exact value).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// Where a matching request goes, in priority order (never empty).
    pub fn targets(&self) -> &[RouteTarget] {
        &self.to
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
mod tests {
    use super::*;

    fn mapping(pairs: &[(&str, &str)]) -> ModelMapping {
        ModelMapping::new(
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    }

    #[test]
    fn mapping_order_exact_family_star_passthrough() {
        let m = mapping(&[
            ("claude-opus-5-5", "exact"),
            ("sonnet", "fam-sonnet"),
            ("haiku", "fam-haiku"),
            ("*", "default"),
        ]);
        assert_eq!(m.resolve("claude-opus-5-5"), "exact");
        assert_eq!(m.resolve("claude-sonnet-4-5-20250929"), "fam-sonnet");
        assert_eq!(m.resolve("claude-HAIKU-4-5"), "fam-haiku");
        assert_eq!(m.resolve("claude-opus-4"), "default");
        assert_eq!(mapping(&[]).resolve("gpt-4o"), "gpt-4o");
        assert_eq!(mapping(&[("haiku", "x")]).resolve("gpt-4o"), "gpt-4o");
    }

    #[test]
    fn endpoint_adds_version_only_without_path() {
        let up = Upstream::for_tests;
        assert_eq!(
            up("https://api.openai.com", ServiceType::OpenAi).endpoint("/chat/completions"),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            up("https://api.openai.com/v1/", ServiceType::OpenAi).endpoint("/chat/completions"),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            up("https://x.ai/api/openai", ServiceType::OpenAiOld).endpoint("/chat/completions"),
            "https://x.ai/api/openai/chat/completions"
        );
        assert_eq!(
            up("https://api.openai.com", ServiceType::Responses).endpoint("/responses"),
            "https://api.openai.com/v1/responses"
        );
        assert_eq!(
            up("https://gw.example/openai/v1", ServiceType::Responses).endpoint("/responses"),
            "https://gw.example/openai/v1/responses"
        );
        assert_eq!(
            up(
                "https://generativelanguage.googleapis.com",
                ServiceType::Gemini
            )
            .endpoint("/models/g:generateContent"),
            "https://generativelanguage.googleapis.com/v1beta/models/g:generateContent"
        );
    }

    #[test]
    fn scenario_names_and_route_labels() {
        let labels: Vec<&str> = Scenario::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            labels,
            [
                "default",
                "background",
                "think",
                "longContext",
                "webSearch",
                "image"
            ]
        );
        for s in Scenario::ALL {
            assert_eq!(Scenario::parse(s.as_str()), Some(s));
            assert_eq!(Route::Scenario(s).as_str(), s.as_str());
            assert_eq!(Scenario::ALL[s.index()], s);
        }
        for (text, want) in [
            ("LONGCONTEXT", Scenario::LongContext),
            ("long-context", Scenario::LongContext),
            ("long_context", Scenario::LongContext),
            (" web-search ", Scenario::WebSearch),
            ("WebSearch", Scenario::WebSearch),
            ("Think", Scenario::Think),
        ] {
            assert_eq!(Scenario::parse(text), Some(want), "{text}");
        }
        assert_eq!(Scenario::parse("thinking"), None);
        assert_eq!(Scenario::parse(""), None);
        assert_eq!(Route::Explicit.as_str(), "explicit");
        assert_eq!(Route::Rule(3).to_string(), "rule");
        assert_eq!(Scenario::PRECEDENCE.last(), Some(&Scenario::Default));
        assert_eq!(Scenario::PRECEDENCE[0], Scenario::LongContext);
        let mut sorted = Scenario::PRECEDENCE.map(Scenario::index);
        sorted.sort_unstable();
        assert_eq!(sorted, [0, 1, 2, 3, 4, 5], "every scenario once");
    }

    #[test]
    fn rules_need_the_glob_and_every_header() {
        let to = vec![RouteTarget::for_upstream(0)];
        let headers = vec![
            ("x-team".to_owned(), "eu".to_owned()),
            ("x-tier".to_owned(), "gold".to_owned()),
        ];
        let both = Rule::new(
            Some(Glob::new("claude-*").unwrap()),
            headers.clone(),
            to.clone(),
        );
        let lookup = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
        };
        let all = lookup(&[("x-team", "eu"), ("x-tier", "gold")]);
        assert!(both.matches("claude-opus-4", all));
        assert!(!both.matches("gpt-4o", all), "the glob must match too");
        assert!(!both.matches("claude-opus-4", lookup(&[("x-team", "eu")])));
        assert!(!both.matches(
            "claude-opus-4",
            lookup(&[("x-team", "eu"), ("x-tier", "Gold")])
        ));
        let headers_only = Rule::new(None, headers, to.clone());
        assert!(headers_only.matches("anything", all));
        let model_only = Rule::new(Some(Glob::new("*haiku*").unwrap()), Vec::new(), to);
        assert!(model_only.matches("claude-3-5-haiku", |_| None));
        assert!(!model_only.matches("claude-sonnet-4", |_| None));
    }

    #[test]
    fn circuit_resolution_keeps_max_at_least_open() {
        let d = CircuitBreakerSettings {
            failures: 4,
            open: Duration::from_secs(10),
            max_open: Duration::from_secs(100),
        };
        let ms = |n| Some(Duration::from_millis(n));
        let r = |open, max_open| {
            let eff = CircuitBreakerConfig {
                failures: None,
                open,
                max_open,
            }
            .resolve(&d);
            assert_eq!(eff.failures, 4);
            (eff.open.as_millis(), eff.max_open.as_millis())
        };
        assert_eq!(r(None, None), (10_000, 100_000));
        assert_eq!(r(ms(5_000), None), (5_000, 100_000));
        assert_eq!(r(ms(200_000), None), (200_000, 200_000));
        assert_eq!(r(None, ms(50_000)), (10_000, 50_000));
        assert_eq!(r(None, ms(2_000)), (2_000, 2_000));
        assert_eq!(r(ms(1_000), ms(3_000)), (1_000, 3_000));
        assert_eq!(CircuitBreakerSettings::default().failures, 5);
    }

    #[test]
    fn masking() {
        assert_eq!(
            mask_secret("sk-proj-abcdefghijklmnopqrstuvwxyz"),
            "sk-proj-…wxyz"
        );
        assert_eq!(mask_secret("abcdefghij"), "ab…ij");
        assert_eq!(mask_secret("abc"), "***");
        let k = ApiKey::new("sk-1234567890abcdefghij");
        assert!(!format!("{k:?}{k}").contains("567890abcdef"));
    }
}
