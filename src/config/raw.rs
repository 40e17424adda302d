//! `config.json` exactly as it is on disk: lenient serde types that keep
//! fields they do not know (written back unchanged) and are turned into the
//! validated [`super::model::Config`] by [`RawConfig::validate`].

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use super::glob::Glob;
use super::model::{
    resolve_target, ApiKey, AuthHeader, CircuitBreakerConfig, Config, LoadBalance, ModelMapping,
    RouteTarget, Router, Rule, Scenario, ServiceType, Upstream, DEFAULT_LONG_CONTEXT_THRESHOLD,
};
use super::prices::Prices;
use super::ConfigError;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawConfig {
    #[serde(default)]
    pub upstream: Vec<RawUpstream>,
    #[serde(
        default,
        rename = "currentUpstream",
        skip_serializing_if = "Option::is_none"
    )]
    pub current_upstream: Option<i64>,
    #[serde(
        default,
        rename = "loadBalance",
        skip_serializing_if = "Option::is_none"
    )]
    pub load_balance: Option<String>,
    /// Scenario and rule routing; absent = the current upstream serves all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<RawRouter>,
    /// Model glob → US$ per million tokens (see [`super::prices`]); kept as
    /// a JSON map so the user's order, which decides between globs, survives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prices: Option<Map<String, Value>>,
    /// Named client keys with their limits (see [`super::clients`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<super::clients::RawClient>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawUpstream {
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "baseUrl")]
    pub base_url: String,
    #[serde(default, rename = "apiKeys")]
    pub api_keys: Vec<String>,
    #[serde(default, rename = "serviceType")]
    pub service_type: String,
    #[serde(
        default,
        rename = "insecureSkipVerify",
        skip_serializing_if = "Option::is_none"
    )]
    pub insecure_skip_verify: Option<bool>,
    /// Kept as a JSON map so the user's key order survives a rewrite.
    #[serde(
        default,
        rename = "modelMapping",
        skip_serializing_if = "Option::is_none"
    )]
    pub model_mapping: Option<Map<String, Value>>,
    #[serde(default, rename = "maxTokens", skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Names of upstreams that take over when every key of this one failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Vec<String>>,
    /// Per-upstream key strategy (overrides the top-level `loadBalance`).
    #[serde(
        default,
        rename = "loadBalance",
        skip_serializing_if = "Option::is_none"
    )]
    pub load_balance: Option<String>,
    /// `claude` upstreams: `auto` (default), `x-api-key` or `bearer`.
    #[serde(
        default,
        rename = "authHeader",
        skip_serializing_if = "Option::is_none"
    )]
    pub auth_header: Option<String>,
    /// Overrides of the `CIRCUIT_*` settings for this upstream.
    #[serde(
        default,
        rename = "circuitBreaker",
        skip_serializing_if = "Option::is_none"
    )]
    pub circuit_breaker: Option<RawCircuitBreaker>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An upstream's `circuitBreaker` object. Numbers are signed here so that a
/// zero or negative value is reported by validation with its field path.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(expecting = "an object")]
pub struct RawCircuitBreaker {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<i64>,
    #[serde(default, rename = "openMs", skip_serializing_if = "Option::is_none")]
    pub open_ms: Option<i64>,
    #[serde(default, rename = "maxOpenMs", skip_serializing_if = "Option::is_none")]
    pub max_open_ms: Option<i64>,
    /// Unknown keys: kept so a rewrite does not lose them, and reported by
    /// validation (a misspelt limit must not be silently ignored).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl RawCircuitBreaker {
    /// Whether no field is set at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.failures.is_none()
            && self.open_ms.is_none()
            && self.max_open_ms.is_none()
            && self.extra.is_empty()
    }
}

/// The `router` object as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(expecting = "an object")]
pub struct RawRouter {
    /// The targets of each scenario (see [`Scenario`]); absent = none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<RawTargets>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<RawTargets>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think: Option<RawTargets>,
    #[serde(
        default,
        rename = "longContext",
        skip_serializing_if = "Option::is_none"
    )]
    pub long_context: Option<RawTargets>,
    /// Signed, so that a zero or negative value is a validation error with
    /// its field path rather than a type error.
    #[serde(
        default,
        rename = "longContextThreshold",
        skip_serializing_if = "Option::is_none"
    )]
    pub long_context_threshold: Option<i64>,
    #[serde(default, rename = "webSearch", skip_serializing_if = "Option::is_none")]
    pub web_search: Option<RawTargets>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<RawTargets>,
    /// Tried in order before the scenarios.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<RawRule>>,
    /// Unknown keys: kept so a rewrite does not lose them, and reported by
    /// validation (a misspelt scenario must not be silently ignored).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The keys a `router` object may have.
const ROUTER_KEYS: [&str; 8] = [
    "default",
    "background",
    "think",
    "longContext",
    "longContextThreshold",
    "webSearch",
    "image",
    "rules",
];

impl RawRouter {
    /// The targets written for `scenario`.
    pub(crate) fn targets(&self, scenario: Scenario) -> Option<&RawTargets> {
        match scenario {
            Scenario::Default => self.default.as_ref(),
            Scenario::Background => self.background.as_ref(),
            Scenario::Think => self.think.as_ref(),
            Scenario::LongContext => self.long_context.as_ref(),
            Scenario::WebSearch => self.web_search.as_ref(),
            Scenario::Image => self.image.as_ref(),
        }
    }

    /// The field holding `scenario`'s targets.
    pub(crate) fn targets_mut(&mut self, scenario: Scenario) -> &mut Option<RawTargets> {
        match scenario {
            Scenario::Default => &mut self.default,
            Scenario::Background => &mut self.background,
            Scenario::Think => &mut self.think,
            Scenario::LongContext => &mut self.long_context,
            Scenario::WebSearch => &mut self.web_search,
            Scenario::Image => &mut self.image,
        }
    }

    /// Whether nothing at all is set (an empty `router` object).
    pub(crate) fn is_empty(&self) -> bool {
        Scenario::ALL.iter().all(|s| self.targets(*s).is_none())
            && self.long_context_threshold.is_none()
            && self.rules.is_none()
            && self.extra.is_empty()
    }
}

/// One entry of `router.rules`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(expecting = "an object")]
pub struct RawRule {
    /// Glob on the requested model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Header name → exact value; kept as a JSON map so the order survives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<Map<String, Value>>,
    /// Where a matching request goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<RawTargets>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A route's targets as written: one `"upstream"` / `"upstream,model"`
/// string, or a list of them in priority order. Written back in the form it
/// was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawTargets {
    /// `"deepseek"` or `"local,qwen2.5-coder:7b"`.
    One(String),
    /// `["deepseek,deepseek-reasoner", "anthropic"]`, tried in order.
    List(Vec<String>),
}

impl RawTargets {
    /// A list of one is written as a plain string.
    pub(crate) fn from_vec(mut targets: Vec<String>) -> RawTargets {
        if targets.len() == 1 {
            RawTargets::One(targets.remove(0))
        } else {
            RawTargets::List(targets)
        }
    }

    /// The target strings in order.
    pub(crate) fn items(&self) -> &[String] {
        match self {
            RawTargets::One(t) => std::slice::from_ref(t),
            RawTargets::List(list) => list,
        }
    }

    /// The target strings in order, for in-place edits.
    pub(crate) fn items_mut(&mut self) -> &mut [String] {
        match self {
            RawTargets::One(t) => std::slice::from_mut(t),
            RawTargets::List(list) => list,
        }
    }

    /// The field path of item `i` under `at`: `router.think[1]`, or `at`
    /// itself for a single string.
    pub(crate) fn item_path(&self, at: &str, i: usize) -> String {
        match self {
            RawTargets::One(_) => at.to_owned(),
            RawTargets::List(_) => format!("{at}[{i}]"),
        }
    }
}

impl Serialize for RawTargets {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            RawTargets::One(t) => serializer.serialize_str(t),
            RawTargets::List(list) => list.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for RawTargets {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TargetsVisitor;

        impl<'de> Visitor<'de> for TargetsVisitor {
            type Value = RawTargets;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"upstream\", \"upstream,model\" or a list of them")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawTargets, E> {
                Ok(RawTargets::One(v.to_owned()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawTargets, A::Error> {
                let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(item) = seq.next_element::<String>()? {
                    list.push(item);
                }
                Ok(RawTargets::List(list))
            }
        }

        deserializer.deserialize_any(TargetsVisitor)
    }
}

impl RawConfig {
    /// Checks every field and returns the validated configuration, or every
    /// problem found, each with its field path.
    pub fn validate(&self, default_balance: LoadBalance) -> Result<Config, ConfigError> {
        let mut problems = Vec::new();
        let mut upstreams = Vec::with_capacity(self.upstream.len());
        for (i, raw) in self.upstream.iter().enumerate() {
            let at = |field: &str| format!("upstream[{i}].{field}");
            let name = raw.name.trim().to_owned();
            if name.is_empty() {
                problems.push(format!("{}: must not be empty", at("name")));
            } else if self.upstream[..i]
                .iter()
                .any(|u| u.name.trim().eq_ignore_ascii_case(&name))
            {
                problems.push(format!("{}: duplicate upstream name {name:?}", at("name")));
            }
            let service_type = ServiceType::parse(&raw.service_type);
            if service_type.is_none() {
                problems.push(format!(
                    "{}: unknown serviceType {:?} (expected one of: openai, openaiold, responses, gemini, claude)",
                    at("serviceType"),
                    raw.service_type
                ));
            }
            let base_url = match parse_base_url(&raw.base_url) {
                Ok(u) => Some(u),
                Err(e) => {
                    problems.push(format!("{}: {e}", at("baseUrl")));
                    None
                }
            };
            let mut mapping = Vec::new();
            for (from, to) in raw.model_mapping.iter().flatten() {
                match to.as_str() {
                    Some(to) if !to.trim().is_empty() => {
                        mapping.push((from.clone(), to.to_owned()))
                    }
                    _ => problems.push(format!(
                        "{}: must be a non-empty string",
                        at(&format!("modelMapping.{from}"))
                    )),
                }
            }
            if raw.max_tokens == Some(0) {
                problems.push(format!("{}: must be at least 1", at("maxTokens")));
            }
            let load_balance = raw.load_balance.as_deref().and_then(|lb| {
                let parsed = LoadBalance::parse(lb);
                if parsed.is_none() {
                    problems.push(format!(
                        "{}: unknown strategy {lb:?} (expected round-robin, random or failover)",
                        at("loadBalance")
                    ));
                }
                parsed
            });
            let auth_header = match raw.auth_header.as_deref() {
                None => AuthHeader::Auto,
                Some(a) => AuthHeader::parse(a).unwrap_or_else(|| {
                    problems.push(format!(
                        "{}: unknown value {a:?} (expected auto, x-api-key or bearer)",
                        at("authHeader")
                    ));
                    AuthHeader::Auto
                }),
            };
            let fallback: Vec<String> = raw
                .fallback
                .iter()
                .flatten()
                .map(|f| f.trim().to_owned())
                .collect();
            for (j, f) in fallback.iter().enumerate() {
                let known = self
                    .upstream
                    .iter()
                    .any(|u| u.name.trim().eq_ignore_ascii_case(f));
                if !known {
                    problems.push(format!(
                        "{}: no upstream is named {f:?}",
                        at(&format!("fallback[{j}]"))
                    ));
                } else if f.eq_ignore_ascii_case(&name) {
                    problems.push(format!(
                        "{}: an upstream cannot fall back to itself",
                        at(&format!("fallback[{j}]"))
                    ));
                }
            }
            let api_keys = raw
                .api_keys
                .iter()
                .map(|k| k.trim())
                .filter(|k| !k.is_empty())
                .map(ApiKey::new)
                .collect();
            let circuit_breaker = raw
                .circuit_breaker
                .as_ref()
                .map(|cb| cb.validate(&at("circuitBreaker"), &mut problems));
            if let (Some(base_url), Some(service_type)) = (base_url, service_type) {
                upstreams.push(Upstream {
                    name,
                    base_url,
                    api_keys,
                    service_type,
                    insecure_skip_verify: raw.insecure_skip_verify.unwrap_or(false),
                    model_mapping: ModelMapping::new(mapping),
                    max_tokens: raw.max_tokens,
                    description: raw.description.clone(),
                    fallback,
                    load_balance,
                    auth_header,
                    circuit_breaker,
                });
            }
        }
        let current_upstream = match self.current_upstream {
            None => 0,
            Some(n) if n >= 0 && (n as usize) < self.upstream.len().max(1) => n as usize,
            Some(n) => {
                problems.push(format!(
                    "currentUpstream: {n} is out of range ({} upstream(s) configured)",
                    self.upstream.len()
                ));
                0
            }
        };
        let load_balance = match &self.load_balance {
            None => default_balance,
            Some(s) => LoadBalance::parse(s).unwrap_or_else(|| {
                problems.push(format!(
                    "loadBalance: unknown strategy {s:?} (expected round-robin, random or failover)"
                ));
                default_balance
            }),
        };
        let router = self
            .router
            .as_ref()
            .map(|r| r.validate(&self.upstream, current_upstream, &mut problems));
        let prices = self
            .prices
            .as_ref()
            .map(|p| Prices::validate(p, &mut problems))
            .unwrap_or_default();
        let clients = super::clients::validate(&self.clients, &self.upstream, &mut problems);
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        Ok(Config {
            upstreams,
            current_upstream,
            load_balance,
            router,
            prices,
            clients,
        })
    }
}

impl RawCircuitBreaker {
    /// The validated values; problems are reported under `at`
    /// (`upstream[2].circuitBreaker`).
    fn validate(&self, at: &str, problems: &mut Vec<String>) -> CircuitBreakerConfig {
        for key in self.extra.keys() {
            problems.push(format!(
                "{at}.{key}: unknown key{} (expected failures, openMs or maxOpenMs)",
                did_you_mean(key, &["failures", "openMs", "maxOpenMs"])
            ));
        }
        let failures = positive(self.failures, &format!("{at}.failures"), problems).and_then(|n| {
            match u32::try_from(n) {
                Ok(n) => Some(n),
                Err(_) => {
                    problems.push(format!("{at}.failures: must be at most {}", u32::MAX));
                    None
                }
            }
        });
        let open = positive(self.open_ms, &format!("{at}.openMs"), problems);
        let max_open = positive(self.max_open_ms, &format!("{at}.maxOpenMs"), problems);
        if let (Some(open), Some(max)) = (open, max_open) {
            if max < open {
                problems.push(format!(
                    "{at}.maxOpenMs: must be at least openMs ({open}), got {max}"
                ));
            }
        }
        CircuitBreakerConfig {
            failures,
            open: open.map(Duration::from_millis),
            max_open: max_open.map(Duration::from_millis),
        }
    }
}

/// `value` when it is at least 1; otherwise a problem at `path`.
fn positive(value: Option<i64>, path: &str, problems: &mut Vec<String>) -> Option<u64> {
    let v = value?;
    match u64::try_from(v) {
        Ok(n) if n > 0 => Some(n),
        _ => {
            problems.push(format!("{path}: must be a positive integer, got {v}"));
            None
        }
    }
}

/// ` (did you mean "longContext"?)` when `key` is one of `known` written with
/// another case, with `-`/`_`, or with a typo or two (the closest one).
pub(crate) fn did_you_mean(key: &str, known: &[&str]) -> String {
    let fold = |s: &str| -> Vec<char> {
        s.chars()
            .filter(|c| !matches!(c, '-' | '_'))
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let folded = fold(key);
    let allowed = if folded.len() <= 4 { 1 } else { 2 };
    known
        .iter()
        .map(|k| (edit_distance(&fold(k), &folded), k))
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| format!(" (did you mean {k:?}?)"))
        .unwrap_or_default()
}

/// Levenshtein distance (insertions, deletions, substitutions).
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

impl RawRouter {
    /// The validated router. Targets name upstreams of `upstreams`
    /// (case-insensitively); without `default`, the default route is the
    /// `current` upstream. Problems carry their path under `router`.
    fn validate(
        &self,
        upstreams: &[RawUpstream],
        current: usize,
        problems: &mut Vec<String>,
    ) -> Router {
        for key in self.extra.keys() {
            problems.push(format!(
                "router.{key}: unknown key{} (expected one of: {})",
                did_you_mean(key, &ROUTER_KEYS),
                ROUTER_KEYS.join(", ")
            ));
        }
        let scenarios = Scenario::ALL.map(|scenario| match self.targets(scenario) {
            Some(targets) => {
                validate_targets(targets, &format!("router.{scenario}"), upstreams, problems)
            }
            None if scenario == Scenario::Default && !upstreams.is_empty() => {
                vec![RouteTarget::for_upstream(current)]
            }
            None => Vec::new(),
        });
        let threshold = match self.long_context_threshold {
            None => DEFAULT_LONG_CONTEXT_THRESHOLD,
            Some(n) => positive(Some(n), "router.longContextThreshold", problems)
                .unwrap_or(DEFAULT_LONG_CONTEXT_THRESHOLD),
        };
        let rules = self
            .rules
            .iter()
            .flatten()
            .enumerate()
            .filter_map(|(k, rule)| {
                rule.validate(&format!("router.rules[{k}]"), upstreams, problems)
            })
            .collect();
        Router::new(scenarios, threshold, rules)
    }
}

impl RawRule {
    /// The validated rule, or `None` after reporting why it is not one.
    fn validate(
        &self,
        at: &str,
        upstreams: &[RawUpstream],
        problems: &mut Vec<String>,
    ) -> Option<Rule> {
        let before = problems.len();
        for key in self.extra.keys() {
            problems.push(format!(
                "{at}.{key}: unknown key{} (expected model, header or to)",
                did_you_mean(key, &["model", "header", "to"])
            ));
        }
        let model = self.model.as_deref().and_then(|m| match compile_glob(m) {
            Ok(glob) => Some(glob),
            Err(e) => {
                problems.push(format!("{at}.model: {e}"));
                None
            }
        });
        let mut headers: Vec<(String, String)> = Vec::new();
        if let Some(map) = &self.header {
            if map.is_empty() {
                problems.push(format!("{at}.header: must name at least one header"));
            }
            for (name, value) in map {
                let path = format!("{at}.header.{name}");
                match header_pair(name, value) {
                    Err(e) => problems.push(format!("{path}: {e}")),
                    Ok((name, _)) if headers.iter().any(|(n, _)| *n == name) => problems.push(
                        format!("{path}: listed twice (header names are case-insensitive)"),
                    ),
                    Ok(pair) => headers.push(pair),
                }
            }
        }
        if self.model.is_none() && self.header.is_none() {
            problems.push(format!(
                "{at}: needs \"model\" (a glob on the requested model) or \"header\" to match on"
            ));
        }
        let to = match &self.to {
            Some(targets) => validate_targets(targets, &format!("{at}.to"), upstreams, problems),
            None => {
                problems.push(format!(
                    "{at}.to: required (\"upstream\", \"upstream,model\" or a list of them)"
                ));
                Vec::new()
            }
        };
        (problems.len() == before).then(|| Rule::new(model, headers, to))
    }
}

/// A rule's model glob, trimmed; the error text names the pattern.
pub(crate) fn compile_glob(pattern: &str) -> Result<Glob, String> {
    let trimmed = pattern.trim();
    Glob::new(trimmed).map_err(|e| match trimmed {
        "" => format!("the glob {e}"),
        _ => format!("bad glob {pattern:?}: {e}"),
    })
}

/// A rule's header entry: the lower-case name and the exact value, or why it
/// cannot match a real request.
pub(crate) fn header_pair(name: &str, value: &Value) -> Result<(String, String), String> {
    let name = name.trim();
    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(format!("{name:?} is not a valid header name"));
    }
    let Some(value) = value.as_str() else {
        return Err("the value must be a string".to_owned());
    };
    if reqwest::header::HeaderValue::from_str(value).is_err() {
        return Err(format!("{value:?} is not a valid header value"));
    }
    Ok((name.to_ascii_lowercase(), value.to_owned()))
}

/// Resolves each target against `upstreams`, reporting problems at the
/// target's path (`router.think[1]`, `router.rules[0].to`).
fn validate_targets(
    targets: &RawTargets,
    at: &str,
    upstreams: &[RawUpstream],
    problems: &mut Vec<String>,
) -> Vec<RouteTarget> {
    if targets.items().is_empty() {
        problems.push(format!("{at}: must list at least one target"));
    }
    targets
        .items()
        .iter()
        .enumerate()
        .filter_map(|(i, text)| match resolve_raw_target(text, upstreams) {
            Ok(target) => Some(target),
            Err(e) => {
                problems.push(format!("{}: {e}", targets.item_path(at, i)));
                None
            }
        })
        .collect()
}

/// A target string resolved against the upstreams as written in the file.
pub(crate) fn resolve_raw_target(
    text: &str,
    upstreams: &[RawUpstream],
) -> Result<RouteTarget, super::model::TargetError> {
    resolve_target(
        text,
        |name| {
            upstreams
                .iter()
                .position(|u| u.name.trim().eq_ignore_ascii_case(name))
        },
        || upstreams.iter().map(|u| u.name.trim().to_owned()).collect(),
    )
}

/// Parses an upstream `baseUrl`: absolute http(s), with a host.
pub fn parse_base_url(s: &str) -> Result<reqwest::Url, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    let url = reqwest::Url::parse(s).map_err(|e| format!("invalid URL {s:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("invalid URL {s:?}: scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("invalid URL {s:?}: no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "invalid URL {s:?}: must not have a query or fragment"
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::super::{parse_raw, CircuitBreakerSettings, Route, TargetError};
    use super::*;

    const UPSTREAMS: &str = r#"[
        {"name":"deepseek","baseUrl":"https://api.deepseek.com","serviceType":"openaiold","apiKeys":["k"],"modelMapping":{"*":"deepseek-chat"}},
        {"name":"Anthropic","baseUrl":"https://api.anthropic.com","serviceType":"claude","apiKeys":["k"]},
        {"name":"local","baseUrl":"http://localhost:11434/v1","serviceType":"openaiold","apiKeys":[]},
        {"name":"gemini","baseUrl":"https://generativelanguage.googleapis.com","serviceType":"gemini","apiKeys":["k"]}
    ]"#;

    fn config(router: serde_json::Value) -> Result<Config, ConfigError> {
        let text = format!(r#"{{"upstream":{UPSTREAMS},"currentUpstream":2,"router":{router}}}"#);
        parse_raw("c", &text)?.validate(LoadBalance::RoundRobin)
    }

    fn problems(router: serde_json::Value) -> Vec<String> {
        match config(router) {
            Err(ConfigError::Invalid(p)) => p,
            other => panic!("expected validation problems, got {other:?}"),
        }
    }

    /// The problem at `path`: exactly one, whose text contains `needle`.
    fn assert_problem(router: serde_json::Value, path: &str, needle: &str) {
        let p = problems(router);
        let at: Vec<&String> = p
            .iter()
            .filter(|l| l.starts_with(&format!("{path}: ")))
            .collect();
        assert_eq!(at.len(), 1, "want one problem at {path}: {p:?}");
        assert!(at[0].contains(needle), "{path}: want {needle:?} in {p:?}");
    }

    fn targets(cfg: &Config, scenario: Scenario) -> Vec<String> {
        let router = cfg.router.as_ref().unwrap();
        router
            .scenario(scenario)
            .unwrap_or_default()
            .iter()
            .map(|t| cfg.target_label(t))
            .collect()
    }

    #[test]
    fn the_issue_example_validates_into_targets_and_rules() {
        let cfg = config(json!({
            "default": "deepseek",
            "background": "local,qwen2.5-coder:7b",
            "think": ["deepseek,deepseek-reasoner", "anthropic"],
            "longContext": "GEMINI, gemini-2.5-pro",
            "longContextThreshold": 100000,
            "webSearch": "gemini,gemini-2.5-flash",
            "rules": [
                { "model": "claude-opus-*", "to": "anthropic" },
                { "header": { "X-Team": "eu" }, "to": ["local", "deepseek"] }
            ]
        }))
        .unwrap();
        let router = cfg.router.as_ref().unwrap();
        assert_eq!(targets(&cfg, Scenario::Default), ["deepseek"]);
        assert_eq!(
            targets(&cfg, Scenario::Background),
            ["local,qwen2.5-coder:7b"]
        );
        // Names match case-insensitively and resolve to the configured one.
        assert_eq!(
            targets(&cfg, Scenario::Think),
            ["deepseek,deepseek-reasoner", "Anthropic"]
        );
        assert_eq!(
            targets(&cfg, Scenario::LongContext),
            ["gemini,gemini-2.5-pro"]
        );
        assert!(router.scenario(Scenario::Image).is_none());
        assert_eq!(router.long_context_threshold(), 100_000);
        let think = router.scenario(Scenario::Think).unwrap();
        assert_eq!(
            (think[0].upstream(), think[0].model()),
            (0, Some("deepseek-reasoner"))
        );
        assert_eq!((think[1].upstream(), think[1].model()), (1, None));

        let rules = router.rules();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].model().map(Glob::as_str), Some("claude-opus-*"));
        assert_eq!(rules[1].headers(), [("x-team".to_owned(), "eu".to_owned())]);
        assert_eq!(rules[1].targets().len(), 2);
        let no_headers = |_: &str| None;
        assert_eq!(
            router
                .matching_rule("claude-opus-4-1", no_headers)
                .map(|(i, _)| i),
            Some(0)
        );
        assert!(router
            .matching_rule("claude-sonnet-4-5", no_headers)
            .is_none());
        let eu = |name: &str| (name == "x-team").then_some("eu");
        assert_eq!(
            router
                .matching_rule("claude-sonnet-4-5", eu)
                .map(|(i, _)| i),
            Some(1)
        );
        let us = |name: &str| (name == "x-team").then_some("EU");
        assert!(
            router.matching_rule("claude-sonnet-4-5", us).is_none(),
            "header values match exactly"
        );
        assert_eq!(Route::Rule(1).as_str(), "rule");
    }

    #[test]
    fn default_comes_from_current_upstream_and_threshold_has_a_default() {
        let cfg = config(json!({ "think": "deepseek" })).unwrap();
        assert_eq!(cfg.current_upstream, 2);
        assert_eq!(targets(&cfg, Scenario::Default), ["local"]);
        let router = cfg.router.as_ref().unwrap();
        assert_eq!(router.long_context_threshold(), 60_000);
        assert!(router.rules().is_empty());
        // An empty router object is valid too.
        let cfg = config(json!({})).unwrap();
        assert_eq!(targets(&cfg, Scenario::Default), ["local"]);
        for s in [
            Scenario::Background,
            Scenario::Think,
            Scenario::LongContext,
            Scenario::WebSearch,
            Scenario::Image,
        ] {
            assert!(cfg.router.as_ref().unwrap().scenario(s).is_none(), "{s}");
        }
        // No upstreams, no default.
        let cfg = parse_raw("c", r#"{"router":{"longContextThreshold":5}}"#)
            .unwrap()
            .validate(LoadBalance::RoundRobin)
            .unwrap();
        assert!(cfg.router.unwrap().scenario(Scenario::Default).is_none());
    }

    #[test]
    fn no_router_and_unknown_root_fields_load_as_before() {
        let text = format!(r#"{{"upstream":{UPSTREAMS},"currentUpstream":1}}"#);
        let raw = parse_raw("c", &text).unwrap();
        let cfg = raw.validate(LoadBalance::Failover).unwrap();
        assert!(cfg.router.is_none());
        assert!(cfg.upstreams.iter().all(|u| u.circuit_breaker.is_none()));
        let back = serde_json::to_value(&raw).unwrap();
        assert!(back.get("router").is_none(), "{back}");
        assert!(
            back["upstream"][0].get("circuitBreaker").is_none(),
            "{back}"
        );
    }

    #[test]
    fn target_errors_carry_their_field_path() {
        assert_problem(
            json!({ "think": ["deepseek", "nope"] }),
            "router.think[1]",
            "no upstream is named \"nope\" (configured: deepseek, Anthropic, local, gemini)",
        );
        assert_problem(
            json!({ "background": "nope,x" }),
            "router.background",
            "\"nope\"",
        );
        assert_problem(
            json!({ "image": [] }),
            "router.image",
            "at least one target",
        );
        assert_problem(
            json!({ "default": "" }),
            "router.default",
            "must not be empty",
        );
        assert_problem(
            json!({ "webSearch": ["gemini", " "] }),
            "router.webSearch[1]",
            "must not be empty",
        );
        assert_problem(
            json!({ "longContext": "gemini," }),
            "router.longContext",
            "model after \"gemini,\"",
        );
        assert_problem(
            json!({ "longContext": ",x" }),
            "router.longContext",
            "upstream name before the comma",
        );
        assert_problem(
            json!({ "rules": [{ "model": "a*", "to": ["local", "x"] }] }),
            "router.rules[0].to[1]",
            "no upstream is named \"x\"",
        );
        assert_problem(
            json!({ "rules": [{ "model": "a*", "to": "x" }] }),
            "router.rules[0].to",
            "no upstream is named \"x\"",
        );
    }

    #[test]
    fn threshold_must_be_positive() {
        for bad in [0, -1] {
            assert_problem(
                json!({ "longContextThreshold": bad }),
                "router.longContextThreshold",
                &format!("must be a positive integer, got {bad}"),
            );
        }
        assert_eq!(
            config(json!({ "longContextThreshold": 1 }))
                .unwrap()
                .router
                .unwrap()
                .long_context_threshold(),
            1
        );
    }

    #[test]
    fn unknown_keys_are_errors_with_a_suggestion() {
        assert_problem(
            json!({ "longcontext": "gemini" }),
            "router.longcontext",
            "unknown key (did you mean \"longContext\"?)",
        );
        assert_problem(
            json!({ "webserch": "gemini" }),
            "router.webserch",
            "did you mean \"webSearch\"?",
        );
        assert_problem(
            json!({ "Long_Context_Treshold": 5 }),
            "router.Long_Context_Treshold",
            "did you mean \"longContextThreshold\"?",
        );
        let p = problems(json!({ "fast": "gemini" }));
        assert_eq!(
            p,
            ["router.fast: unknown key (expected one of: default, background, think, longContext, longContextThreshold, webSearch, image, rules)"]
        );
        assert_problem(
            json!({ "rules": [{ "model": "x", "to": "local", "headers": {"a": "b"} }] }),
            "router.rules[0].headers",
            "did you mean \"header\"?",
        );
    }

    #[test]
    fn rule_errors_carry_their_field_path() {
        assert_problem(
            json!({ "rules": [{ "to": "local" }] }),
            "router.rules[0]",
            "needs \"model\"",
        );
        assert_problem(
            json!({ "rules": [{ "model": "a", "to": "local" }, { "model": "claude-[", "to": "local" }] }),
            "router.rules[1].model",
            "bad glob \"claude-[\"",
        );
        assert_problem(
            json!({ "rules": [{ "model": " ", "to": "local" }] }),
            "router.rules[0].model",
            "must not be empty",
        );
        assert_problem(
            json!({ "rules": [{ "model": "a" }] }),
            "router.rules[0].to",
            "required",
        );
        assert_problem(
            json!({ "rules": [{ "model": "a", "to": [] }] }),
            "router.rules[0].to",
            "at least one target",
        );
        assert_problem(
            json!({ "rules": [{ "header": {}, "to": "local" }] }),
            "router.rules[0].header",
            "at least one header",
        );
        assert_problem(
            json!({ "rules": [{ "header": { "x-team": 5 }, "to": "local" }] }),
            "router.rules[0].header.x-team",
            "must be a string",
        );
        assert_problem(
            json!({ "rules": [{ "header": { "bad name": "v" }, "to": "local" }] }),
            "router.rules[0].header.bad name",
            "not a valid header name",
        );
        assert_problem(
            json!({ "rules": [{ "header": { "x-a": "line\nbreak" }, "to": "local" }] }),
            "router.rules[0].header.x-a",
            "not a valid header value",
        );
        assert_problem(
            json!({ "rules": [{ "header": { "X-Team": "a", "x-team": "b" }, "to": "local" }] }),
            "router.rules[0].header.x-team",
            "listed twice",
        );
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        let d = |a: &str, b: &str| {
            edit_distance(
                &a.chars().collect::<Vec<_>>(),
                &b.chars().collect::<Vec<_>>(),
            )
        };
        assert_eq!(d("kitten", "sitting"), 3);
        assert_eq!(d("", "abc"), 3);
        assert_eq!(d("abc", "abc"), 0);
        assert_eq!(d("websearch", "webserch"), 1);
    }

    #[test]
    fn every_router_problem_is_reported_at_once() {
        let p = problems(json!({
            "think": "nope",
            "longContextThreshold": 0,
            "rules": [{ "model": "[", "to": "nope2" }],
            "extra": 1
        }));
        assert_eq!(p.len(), 5, "{p:?}");
    }

    #[test]
    fn parse_target_resolves_against_the_config() {
        let cfg = config(json!({})).unwrap();
        let t = cfg.parse_target(" DeepSeek , deepseek-chat ").unwrap();
        assert_eq!((t.upstream(), t.model()), (0, Some("deepseek-chat")));
        assert_eq!(cfg.target_label(&t), "deepseek,deepseek-chat");
        // Only the first comma separates.
        let t = cfg.parse_target("local,a,b").unwrap();
        assert_eq!(t.model(), Some("a,b"));
        let t = cfg.parse_target("anthropic").unwrap();
        assert_eq!(t.upstream_model(&cfg.upstreams[1], "claude-x"), "claude-x");
        let t = cfg.parse_target("deepseek").unwrap();
        assert_eq!(
            t.upstream_model(&cfg.upstreams[0], "claude-x"),
            "deepseek-chat"
        );
        let t = cfg.parse_target("deepseek,deepseek-reasoner").unwrap();
        assert_eq!(
            t.upstream_model(&cfg.upstreams[0], "claude-x"),
            "deepseek-reasoner"
        );
        let err = cfg.parse_target("openai,gpt-4o").unwrap_err();
        assert!(
            matches!(&err, TargetError::UnknownUpstream { name, known } if name == "openai" && known.len() == 4)
        );
        assert_eq!(
            err.to_string(),
            "no upstream is named \"openai\" (configured: deepseek, Anthropic, local, gemini)"
        );
        assert_eq!(cfg.find_upstream("GEMINI"), Some(3));
        assert_eq!(
            Config::default().parse_target("x").unwrap_err().to_string(),
            "no upstream is named \"x\" (no upstreams are configured)"
        );
    }

    fn with_circuit(cb: serde_json::Value) -> Result<Config, ConfigError> {
        let mut upstreams: serde_json::Value = serde_json::from_str(UPSTREAMS).unwrap();
        upstreams[1]["circuitBreaker"] = cb;
        let text = json!({ "upstream": upstreams }).to_string();
        parse_raw("c", &text)?.validate(LoadBalance::RoundRobin)
    }

    #[test]
    fn circuit_breaker_validates_and_resolves_against_settings() {
        let cfg =
            with_circuit(json!({ "failures": 3, "openMs": 1000, "maxOpenMs": 8000 })).unwrap();
        let own = cfg.upstreams[1].circuit_breaker.unwrap();
        assert_eq!(own.failures, Some(3));
        assert_eq!(own.open, Some(Duration::from_millis(1000)));
        assert_eq!(own.max_open, Some(Duration::from_millis(8000)));
        let defaults = CircuitBreakerSettings::DEFAULT;
        let eff = cfg.upstreams[1].circuit_breaker(&defaults);
        assert_eq!(
            (eff.failures, eff.open, eff.max_open),
            (3, Duration::from_secs(1), Duration::from_secs(8))
        );
        assert_eq!(cfg.upstreams[0].circuit_breaker(&defaults), defaults);

        let cfg = with_circuit(json!({ "failures": 2 })).unwrap();
        let eff = cfg.upstreams[1].circuit_breaker(&defaults);
        assert_eq!(
            (eff.failures, eff.open, eff.max_open),
            (2, Duration::from_secs(30), Duration::from_secs(600))
        );
        // A given value wins over a conflicting default.
        let cfg = with_circuit(json!({ "openMs": 900000 })).unwrap();
        let eff = cfg.upstreams[1].circuit_breaker(&defaults);
        assert_eq!(
            (eff.open, eff.max_open),
            (Duration::from_secs(900), Duration::from_secs(900))
        );
        let cfg = with_circuit(json!({ "maxOpenMs": 10000 })).unwrap();
        let eff = cfg.upstreams[1].circuit_breaker(&defaults);
        assert_eq!(
            (eff.open, eff.max_open),
            (Duration::from_secs(10), Duration::from_secs(10))
        );
        assert!(with_circuit(json!({})).unwrap().upstreams[1]
            .circuit_breaker
            .is_some());
    }

    #[test]
    fn circuit_breaker_errors_carry_their_field_path() {
        let cases = [
            (
                json!({ "failures": 0 }),
                "upstream[1].circuitBreaker.failures: must be a positive integer, got 0",
            ),
            (
                json!({ "openMs": -5 }),
                "upstream[1].circuitBreaker.openMs: must be a positive integer, got -5",
            ),
            (
                json!({ "maxOpenMs": 0 }),
                "upstream[1].circuitBreaker.maxOpenMs: must be a positive integer",
            ),
            (
                json!({ "failures": 5_000_000_000_i64 }),
                "upstream[1].circuitBreaker.failures: must be at most",
            ),
            (
                json!({ "openMs": 2000, "maxOpenMs": 1000 }),
                "upstream[1].circuitBreaker.maxOpenMs: must be at least openMs (2000), got 1000",
            ),
            (
                json!({ "openMS": 2000 }),
                "upstream[1].circuitBreaker.openMS: unknown key (did you mean \"openMs\"?)",
            ),
        ];
        for (cb, want) in cases {
            let Err(ConfigError::Invalid(p)) = with_circuit(cb.clone()) else {
                panic!("{cb} should be invalid")
            };
            assert_eq!(p.len(), 1, "{cb}: {p:?}");
            assert!(p[0].starts_with(want), "{cb}: {p:?}");
        }
    }

    #[test]
    fn targets_keep_their_written_form() {
        let text = format!(
            r#"{{"upstream":{UPSTREAMS},"router":{{"default":"local","think":["deepseek"],"rules":[{{"model":"x","to":"local","note":1}}]}}}}"#
        );
        let raw = parse_raw("c", &text).unwrap();
        let back = serde_json::to_value(&raw).unwrap();
        assert_eq!(back["router"]["default"], "local");
        assert_eq!(back["router"]["think"], json!(["deepseek"]));
        assert_eq!(back["router"]["rules"][0]["note"], 1);
        assert_eq!(
            RawTargets::from_vec(vec!["a".into()]),
            RawTargets::One("a".into())
        );
        assert_eq!(
            RawTargets::from_vec(vec!["a".into(), "b".into()]).item_path("router.think", 1),
            "router.think[1]"
        );
        assert_eq!(
            RawTargets::One("a".into()).item_path("router.image", 0),
            "router.image"
        );
    }

    #[test]
    fn wrongly_typed_router_fields_have_path_line_and_column() {
        let text = "{\n  \"router\": {\n    \"think\": [\"a\", 5]\n  }\n}";
        let err = parse_raw("c.json", text).unwrap_err().to_string();
        assert!(err.starts_with("c.json:3:"), "{err}");
        assert!(
            err.contains("router.think[1]: invalid type: integer `5`, expected a string"),
            "{err}"
        );
        let err = parse_raw("c.json", r#"{"router":{"image":{"a":1}}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("router.image: invalid type: map, expected \"upstream\""),
            "{err}"
        );
        let err = parse_raw("c.json", r#"{"router":{"longContextThreshold":"big"}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("router.longContextThreshold: invalid type"),
            "{err}"
        );
    }
}
