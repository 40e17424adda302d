//! Which upstreams a request may use, in order, and why (its route).
//!
//! First match wins: an explicit choice (a `model` of `"upstream,model"`,
//! or the `x-claude-proxy-upstream` header), then the router's rules in
//! order, then its scenarios (`longContext`, `background`, `think`,
//! `webSearch`, `image`), then `default`. Without a `router` the plan is
//! the current upstream. Each target is followed by its upstream's
//! `fallback` list; the failover loop tries them in turn. See
//! docs/routing.md.

use std::sync::Arc;

use axum::http::HeaderMap;

use super::live::{LiveState, UpstreamRuntime};
use super::scenario::{self, SizeVerdict};
use crate::config::{Route, RouteTarget, Router, Scenario};
use crate::error::ApiError;
use crate::protocol::anthropic::MessagesRequest;

/// The header that names the upstream explicitly.
pub(crate) const UPSTREAM_HEADER: &str = "x-claude-proxy-upstream";

/// One place the request may go.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The upstream.
    pub upstream: Arc<UpstreamRuntime>,
    /// The model to send; `None`: the upstream's `modelMapping` picks.
    pub model: Option<String>,
}

impl Planned {
    /// The model this target sends for a request that asked for `requested`.
    pub fn upstream_model<'a>(&'a self, requested: &'a str) -> &'a str {
        match &self.model {
            Some(m) => m,
            None => self.upstream.config.model_mapping.resolve(requested),
        }
    }
}

/// Where a request goes.
#[derive(Debug)]
pub struct Plan {
    /// The route it took (`explicit`, `rule`, a scenario).
    pub route: Route,
    /// Targets in priority order, each followed by its fallbacks.
    pub targets: Vec<Planned>,
}

/// What choosing a route needs to know about the request's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongContext {
    /// Not known yet: decide from byte bounds, or ask for a count.
    Unknown,
    /// Counted: above the threshold or not.
    Known(bool),
}

/// The plan, or the need to count the request's tokens first (the caller
/// counts off the async runtime and asks again with the answer).
#[derive(Debug)]
pub enum Choice {
    /// Where the request goes.
    Plan(Plan),
    /// Count the request's input tokens, then choose again.
    NeedsCount {
        /// The threshold to compare the count with.
        threshold: u64,
    },
}

/// Chooses the route of `req`.
pub fn choose(
    live: &LiveState,
    req: &MessagesRequest,
    headers: &HeaderMap,
    long: LongContext,
) -> Result<Choice, ApiError> {
    if let Some(target) = explicit(live, &req.model, headers)? {
        return Ok(Choice::Plan(expand(live, Route::Explicit, &[target])));
    }
    let Some(router) = &live.config.router else {
        let targets = live
            .current()
            .map(|_| vec![RouteTarget::for_upstream(live.config.current_upstream)])
            .unwrap_or_default();
        return Ok(Choice::Plan(expand(
            live,
            Route::Scenario(Scenario::Default),
            &targets,
        )));
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some((i, rule)) = router.matching_rule(&req.model, header) {
        return Ok(Choice::Plan(expand(live, Route::Rule(i), rule.targets())));
    }
    for s in Scenario::PRECEDENCE {
        let Some(targets) = router.scenario(s) else {
            continue;
        };
        let applies = match s {
            Scenario::LongContext => match long_context(router, req, long) {
                Some(applies) => applies,
                None => {
                    return Ok(Choice::NeedsCount {
                        threshold: router.long_context_threshold(),
                    })
                }
            },
            Scenario::Background => scenario::is_background(req),
            Scenario::Think => scenario::wants_thinking(req),
            Scenario::WebSearch => scenario::uses_web_search(req),
            Scenario::Image => scenario::has_image(req),
            Scenario::Default => true,
        };
        if applies {
            return Ok(Choice::Plan(expand(live, Route::Scenario(s), targets)));
        }
    }
    Ok(Choice::Plan(Plan {
        route: Route::Scenario(Scenario::Default),
        targets: Vec::new(),
    }))
}

fn long_context(router: &Router, req: &MessagesRequest, long: LongContext) -> Option<bool> {
    match long {
        LongContext::Known(v) => Some(v),
        LongContext::Unknown => {
            match scenario::size_verdict(req, router.long_context_threshold()) {
                SizeVerdict::Below => Some(false),
                SizeVerdict::Above => Some(true),
                SizeVerdict::Count => None,
            }
        }
    }
}

/// The target a request names itself: `model` `"upstream,model"`, or the
/// `x-claude-proxy-upstream` header (with the model mapped by that
/// upstream). A name that is not configured is the client's error.
fn explicit(
    live: &LiveState,
    model: &str,
    headers: &HeaderMap,
) -> Result<Option<RouteTarget>, ApiError> {
    let bad = |what: &str, e: crate::config::TargetError| {
        ApiError::invalid_request(format!("{what}: {e}"))
    };
    if model.contains(',') {
        return live
            .config
            .parse_target(model)
            .map(Some)
            .map_err(|e| bad("model", e));
    }
    let Some(value) = headers.get(UPSTREAM_HEADER) else {
        return Ok(None);
    };
    let name = value.to_str().map_err(|_| {
        ApiError::invalid_request(format!("{UPSTREAM_HEADER}: the value must be plain text"))
    })?;
    live.config
        .parse_target(name)
        .map(Some)
        .map_err(|e| bad(UPSTREAM_HEADER, e))
}

/// Where `POST /v1/messages/count_tokens` asks: the explicit choice, else
/// the first target of the default route (the current upstream without a
/// router). `None` without any upstream.
pub(crate) fn count_target(
    live: &LiveState,
    model: &str,
    headers: &HeaderMap,
) -> Result<Option<Planned>, ApiError> {
    let target = match explicit(live, model, headers)? {
        Some(t) => Some(t),
        None => match &live.config.router {
            Some(router) => router
                .scenario(Scenario::Default)
                .and_then(|t| t.first())
                .cloned(),
            None => live
                .current()
                .map(|_| RouteTarget::for_upstream(live.config.current_upstream)),
        },
    };
    Ok(target.and_then(|t| {
        live.upstreams.get(t.upstream()).map(|up| Planned {
            upstream: up.clone(),
            model: t.model().map(str::to_owned),
        })
    }))
}

/// The targets in order, each followed by its upstream's `fallback` list;
/// a target already planned (same upstream and model) comes once.
pub(super) fn expand(live: &LiveState, route: Route, targets: &[RouteTarget]) -> Plan {
    let mut out: Vec<Planned> = Vec::with_capacity(targets.len() + 1);
    let mut push = |upstream: &Arc<UpstreamRuntime>, model: Option<&str>| {
        let dup = out
            .iter()
            .any(|p| Arc::ptr_eq(&p.upstream, upstream) && p.model.as_deref() == model);
        if !dup {
            out.push(Planned {
                upstream: upstream.clone(),
                model: model.map(str::to_owned),
            });
        }
    };
    for t in targets {
        let Some(up) = live.upstreams.get(t.upstream()) else {
            continue;
        };
        push(up, t.model());
        for name in &up.config.fallback {
            if let Some(fb) = live.find(name) {
                push(fb, None);
            }
        }
    }
    Plan {
        route,
        targets: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, LoadBalance};

    fn live(json: serde_json::Value) -> LiveState {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, json.to_string()).unwrap();
        let cfg = config::load(&path, LoadBalance::RoundRobin).unwrap();
        LiveState::build(cfg, None)
    }

    fn up(name: &str, t: &str) -> serde_json::Value {
        serde_json::json!({"name": name, "serviceType": t, "baseUrl": "http://127.0.0.1:9/v1", "apiKeys": ["k"]})
    }

    fn req(v: serde_json::Value) -> MessagesRequest {
        let mut base = serde_json::json!({"model": "claude-sonnet-4-5", "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"}]});
        if let (Some(b), Some(o)) = (base.as_object_mut(), v.as_object()) {
            for (k, v) in o {
                b.insert(k.clone(), v.clone());
            }
        }
        serde_json::from_value(base).unwrap()
    }

    fn plan_of(
        live: &LiveState,
        r: &MessagesRequest,
        headers: &HeaderMap,
    ) -> (String, Vec<String>) {
        let plan = match choose(live, r, headers, LongContext::Unknown).unwrap() {
            Choice::Plan(p) => p,
            Choice::NeedsCount { .. } => {
                match choose(live, r, headers, LongContext::Known(true)).unwrap() {
                    Choice::Plan(p) => p,
                    Choice::NeedsCount { .. } => panic!("asked twice"),
                }
            }
        };
        let targets = plan
            .targets
            .iter()
            .map(|p| match &p.model {
                Some(m) => format!("{},{m}", p.upstream.config.name),
                None => p.upstream.config.name.clone(),
            })
            .collect();
        (plan.route.as_str().to_owned(), targets)
    }

    fn routed() -> LiveState {
        let mut fast = up("fast", "openai");
        fast["fallback"] = serde_json::json!(["big"]);
        live(serde_json::json!({
            "upstream": [up("main", "openai"), fast, up("big", "gemini"), up("think", "openai"), up("eye", "openai"), up("web", "gemini"), up("opus", "claude"), up("eu", "openai")],
            "router": {
                "default": "main",
                "background": "fast,small-model",
                "think": ["think,reasoner", "main"],
                "longContext": "big,gemini-long",
                "longContextThreshold": 5000,
                "webSearch": "web",
                "image": "eye,vision",
                "rules": [
                    {"model": "claude-opus-*", "to": "opus"},
                    {"header": {"x-team": "eu"}, "to": ["eu", "main"]}
                ]
            }
        }))
    }

    #[test]
    fn each_scenario_lands_on_its_target_in_precedence_order() {
        let l = routed();
        let h = HeaderMap::new();
        let p = |v| plan_of(&l, &req(v), &h);
        assert_eq!(
            p(serde_json::json!({})),
            ("default".into(), vec!["main".into()])
        );
        assert_eq!(
            p(serde_json::json!({"model": "claude-haiku-4-5"})),
            (
                "background".into(),
                vec!["fast,small-model".into(), "big".into()]
            )
        );
        assert_eq!(
            p(serde_json::json!({"thinking": {"type": "enabled", "budget_tokens": 1024}})),
            ("think".into(), vec!["think,reasoner".into(), "main".into()])
        );
        assert_eq!(
            p(
                serde_json::json!({"tools": [{"type": "web_search_20250305", "name": "web_search"}]})
            ),
            ("webSearch".into(), vec!["web".into()])
        );
        let image = serde_json::json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}});
        assert_eq!(
            p(serde_json::json!({"messages": [{"role": "user", "content": [image]}]})),
            ("image".into(), vec!["eye,vision".into()])
        );
        let long = "word ".repeat(20_000);
        assert_eq!(
            p(
                serde_json::json!({"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": long}]})
            ),
            ("longContext".into(), vec!["big,gemini-long".into()])
        );
        // Rules come before scenarios; background loses to a rule.
        assert_eq!(
            p(serde_json::json!({"model": "claude-opus-4-1", "thinking": {"type": "adaptive"}})),
            ("rule".into(), vec!["opus".into()])
        );
        let mut eu = HeaderMap::new();
        eu.insert("x-team", "eu".parse().unwrap());
        assert_eq!(
            plan_of(
                &l,
                &req(serde_json::json!({"model": "claude-haiku-4-5"})),
                &eu
            ),
            ("rule".into(), vec!["eu".into(), "main".into()])
        );
    }

    #[test]
    fn explicit_choices_come_first_and_unknown_names_are_the_clients_error() {
        let l = routed();
        let h = HeaderMap::new();
        assert_eq!(
            plan_of(
                &l,
                &req(serde_json::json!({"model": "BIG,gemini-2.5-pro"})),
                &h
            ),
            ("explicit".into(), vec!["big,gemini-2.5-pro".into()])
        );
        let mut named = HeaderMap::new();
        named.insert(UPSTREAM_HEADER, "fast".parse().unwrap());
        assert_eq!(
            plan_of(
                &l,
                &req(serde_json::json!({"model": "claude-opus-4-1"})),
                &named
            ),
            ("explicit".into(), vec!["fast".into(), "big".into()])
        );
        let e = choose(
            &l,
            &req(serde_json::json!({"model": "nope,m"})),
            &h,
            LongContext::Unknown,
        )
        .unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        assert!(
            e.message.contains("\"nope\"") && e.message.contains("main, fast"),
            "{}",
            e.message
        );
        named.insert(UPSTREAM_HEADER, "nope".parse().unwrap());
        let e = choose(
            &l,
            &req(serde_json::json!({})),
            &named,
            LongContext::Unknown,
        )
        .unwrap_err();
        assert!(e.message.starts_with(UPSTREAM_HEADER), "{}", e.message);
    }

    #[test]
    fn without_a_router_the_current_upstream_and_its_fallbacks_serve() {
        let mut a = up("a", "openai");
        a["fallback"] = serde_json::json!(["c", "b"]);
        let l = live(
            serde_json::json!({"upstream": [up("b", "openai"), a, up("c", "openai")], "currentUpstream": 1}),
        );
        let h = HeaderMap::new();
        assert_eq!(
            plan_of(
                &l,
                &req(serde_json::json!({"model": "claude-haiku-4-5"})),
                &h
            ),
            ("default".into(), vec!["a".into(), "c".into(), "b".into()])
        );
    }

    #[test]
    fn a_request_too_close_to_call_asks_for_a_count() {
        let l = routed();
        // ~10 KB of text: between the threshold (5000 tokens) and 8x it.
        let text = "abcd ".repeat(2_000);
        let r = req(serde_json::json!({"messages": [{"role": "user", "content": text}]}));
        assert!(matches!(
            choose(&l, &r, &HeaderMap::new(), LongContext::Unknown).unwrap(),
            Choice::NeedsCount { threshold: 5000 }
        ));
        match choose(&l, &r, &HeaderMap::new(), LongContext::Known(false)).unwrap() {
            Choice::Plan(p) => assert_eq!(p.route.as_str(), "default"),
            other => panic!("{other:?}"),
        }
    }
}
