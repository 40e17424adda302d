//! The `router` object as written in `config.json` (re-exported from
//! [`super::raw`]) and its validation into a [`Router`].

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use super::field::{compile_glob, did_you_mean, positive};
use super::model::DEFAULT_LONG_CONTEXT_THRESHOLD;
use super::model::{resolve_target, RouteTarget, Router, Rule, Scenario, TargetError};
use super::raw_upstream::RawUpstream;

/// The `router` object as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(expecting = "an object")]
pub struct RawRouter {
    /// `default`: where requests no rule or other scenario took go
    /// (absent: the `currentUpstream`). Each scenario's meaning: [`Scenario`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<RawTargets>,
    /// `background`: Claude Code's small-model calls (the haiku family).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<RawTargets>,
    /// `think`: requests with thinking enabled or adaptive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think: Option<RawTargets>,
    /// `longContext`: requests estimated above `longContextThreshold` input
    /// tokens.
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
    /// `webSearch`: requests with a `web_search*` server tool.
    #[serde(default, rename = "webSearch", skip_serializing_if = "Option::is_none")]
    pub web_search: Option<RawTargets>,
    /// `image`: requests whose last user turn holds an image.
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
    /// Unknown keys: kept so a rewrite does not lose them, and reported by
    /// validation.
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

impl RawRouter {
    /// The validated router. Targets name upstreams of `upstreams`
    /// (case-insensitively); without `default`, the default route is the
    /// `current` upstream. Problems carry their path under `router`.
    pub(super) fn validate(
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

/// A rule's header entry: the lower-case name and the exact value, or why it
/// cannot match a real request.
pub(crate) fn header_pair(name: &str, value: &Value) -> Result<(String, String), String> {
    let name = name.trim();
    if http::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(format!("{name:?} is not a valid header name"));
    }
    let Some(value) = value.as_str() else {
        return Err("the value must be a string".to_owned());
    };
    if http::header::HeaderValue::from_str(value).is_err() {
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
) -> Result<RouteTarget, TargetError> {
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
