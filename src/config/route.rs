//! The validated `router` object: scenarios, routes, targets and rules
//! (re-exported from [`super::model`], where the rest of the validated
//! configuration lives).

use std::fmt;

use super::glob::Glob;
#[cfg(doc)]
use super::model::Config;
use super::model::Upstream;

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

    pub(super) fn index(self) -> usize {
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
