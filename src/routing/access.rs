//! A client key's `upstreams` applied to a route (docs/clients.md).
//!
//! - An explicit choice (`"upstream,model"` or the upstream header) of an
//!   upstream the client may not use is refused: 403 `permission_error`
//!   naming what it may use.
//! - Otherwise the route's targets (with their fallbacks) are kept in order
//!   where the client may use them. When none is left, the client's own
//!   list is the route: its upstreams in the order written, each with its
//!   allowed fallbacks, models mapped by each upstream. A key that "only
//!   reaches the cheap upstream" therefore works from Claude Code without
//!   the user naming that upstream in every request.

use super::live::LiveState;
use super::plan::{expand, Plan};
use crate::clients::Caller;
use crate::config::{Route, RouteTarget};
use crate::error::ApiError;

/// `plan` narrowed to what `caller` may use.
pub fn restrict(live: &LiveState, mut plan: Plan, caller: &Caller) -> Result<Plan, ApiError> {
    let Some(allowed) = caller.client().and_then(|c| c.config.upstreams.as_ref()) else {
        return Ok(plan);
    };
    if plan.route == Route::Explicit {
        // The named upstream itself must be allowed (its fallbacks are
        // narrowed like any route's).
        if let Some(first) = plan.targets.first() {
            let name = &first.upstream.config.name;
            if !caller.allows_upstream(name) {
                return Err(caller.upstream_refusal(&[name.as_str()]));
            }
        }
    }
    plan.targets
        .retain(|t| caller.allows_upstream(&t.upstream.config.name));
    if !plan.targets.is_empty() || plan.route == Route::Explicit {
        return Ok(plan);
    }
    let own: Vec<RouteTarget> = allowed
        .iter()
        .filter_map(|name| live.config.find_upstream(name))
        .map(RouteTarget::for_upstream)
        .collect();
    let mut own_plan = expand(live, plan.route, &own);
    own_plan
        .targets
        .retain(|t| caller.allows_upstream(&t.upstream.config.name));
    Ok(own_plan)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::http::HeaderMap;

    use super::*;
    use crate::clients::ClientEntry;
    use crate::config::{self, KeyDigest, LoadBalance};
    use crate::protocol::anthropic::MessagesRequest;
    use crate::routing::plan::{choose, Choice, LongContext};

    fn live() -> LiveState {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let json = serde_json::json!({
            "upstream": [
                {"name": "main", "baseUrl": "https://a.example", "serviceType": "openai", "fallback": ["backup"]},
                {"name": "backup", "baseUrl": "https://b.example", "serviceType": "openai"},
                {"name": "cheap", "baseUrl": "https://c.example", "serviceType": "openai", "fallback": ["main"]},
            ],
            "router": {"think": "backup"}
        });
        std::fs::write(&path, json.to_string()).unwrap();
        LiveState::build(config::load(&path, LoadBalance::RoundRobin).unwrap(), None)
    }

    fn caller(live: &LiveState, upstreams: Option<&[&str]>) -> Caller {
        let mut c = config::Client {
            name: "alice".into(),
            key_digest: KeyDigest::of(b"k"),
            models: Vec::new(),
            upstreams: upstreams.map(|u| u.iter().map(|s| s.to_string()).collect()),
            limits: Default::default(),
            expires_ms: None,
            disabled: false,
            created: None,
        };
        c.upstreams = c.upstreams.map(|list| {
            list.into_iter()
                .filter(|n| live.find(n).is_some())
                .collect()
        });
        Caller::Client(Arc::new(ClientEntry {
            config: c,
            meter: Arc::default(),
            fleet: None,
        }))
    }

    fn plan_for(live: &LiveState, model: &str, thinking: bool) -> Plan {
        let mut body = serde_json::json!({"model": model, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
        if thinking {
            body["thinking"] = serde_json::json!({"type": "enabled", "budget_tokens": 1024});
        }
        let req: MessagesRequest = serde_json::from_value(body).unwrap();
        match choose(live, &req, &HeaderMap::new(), LongContext::Known(false)).unwrap() {
            Choice::Plan(p) => p,
            Choice::NeedsCount { .. } => panic!("counted"),
        }
    }

    fn names(p: &Plan) -> Vec<&str> {
        p.targets
            .iter()
            .map(|t| t.upstream.config.name.as_str())
            .collect()
    }

    #[test]
    fn all_access_and_unrestricted_clients_keep_the_route() {
        let live = live();
        let p = plan_for(&live, "claude-sonnet-4-5", false);
        assert_eq!(names(&p), ["main", "backup"]);
        let p = restrict(&live, p, &Caller::AllAccess).unwrap();
        assert_eq!(names(&p), ["main", "backup"]);
        let p = restrict(&live, p, &caller(&live, None)).unwrap();
        assert_eq!(names(&p), ["main", "backup"]);
    }

    #[test]
    fn disallowed_targets_are_dropped_in_order() {
        let live = live();
        let p = plan_for(&live, "claude-sonnet-4-5", false);
        let p = restrict(&live, p, &caller(&live, Some(&["backup"]))).unwrap();
        assert_eq!(names(&p), ["backup"]);
    }

    #[test]
    fn a_route_with_nothing_allowed_goes_to_the_clients_own_upstreams() {
        let live = live();
        let p = plan_for(&live, "claude-sonnet-4-5", true);
        assert_eq!(p.route.as_str(), "think");
        // `cheap` falls back to `main`, which this client may not use.
        let p = restrict(&live, p, &caller(&live, Some(&["cheap"]))).unwrap();
        assert_eq!(names(&p), ["cheap"]);
        assert_eq!(p.route.as_str(), "think");
    }

    #[test]
    fn an_explicit_disallowed_upstream_is_a_403_naming_the_allowed_ones() {
        let live = live();
        let p = plan_for(&live, "main,gpt-4o", false);
        let e = restrict(&live, p, &caller(&live, Some(&["cheap", "backup"]))).unwrap_err();
        assert_eq!(e.status.as_u16(), 403);
        assert_eq!(e.kind.as_str(), "permission_error");
        assert!(
            e.message.contains("may not use upstream main"),
            "{}",
            e.message
        );
        assert!(e.message.contains("cheap, backup"), "{}", e.message);
        // An explicit allowed one is kept.
        let p = plan_for(&live, "cheap,gpt-4o", false);
        let p = restrict(&live, p, &caller(&live, Some(&["cheap"]))).unwrap();
        assert_eq!(names(&p), ["cheap"]);
    }
}
