//! `config router …`: the `router` object, as pure edits of a [`RawConfig`]
//! that return the message to print or why they refuse. Every target is
//! checked against the configured upstreams before anything changes and is
//! written with the upstream's own spelling (`DeepSeek,x` → `deepseek,x`).
//!
//! Also what renaming or removing an upstream does to the places that name
//! it ([`references`], [`rename_references`]).

use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::upstreams::{current_index, label};
use crate::config::model::split_target;
use crate::config::raw::{compile_glob, header_pair, resolve_raw_target, RawRouter, RawRule};
use crate::config::raw::{RawTargets, RawUpstream};
use crate::config::{RawConfig, Scenario, DEFAULT_LONG_CONTEXT_THRESHOLD};

/// The router section of `config show` and `config router show`.
pub(crate) fn show(raw: &RawConfig) -> String {
    let Some(router) = &raw.router else {
        let mut out = "No router: every request goes to the current upstream".to_owned();
        if let Some(u) = raw.upstream.get(current_index(raw)) {
            let _ = write!(out, " {} (then its fallback list)", quoted(&u.name));
        }
        out.push_str(
            ".\nRoute scenarios elsewhere with `claude-proxy config router set <scenario> <target>…`.\n",
        );
        return out;
    };
    let mut out = String::from("Router (a → b: b when a is unavailable)\n");
    let width = Scenario::ALL
        .iter()
        .map(|s| s.as_str().len())
        .max()
        .unwrap_or(0)
        + 1;
    for scenario in Scenario::ALL {
        let name = format!("{scenario}:");
        let value = match (router.targets(scenario), scenario) {
            (Some(t), _) => targets_text(t),
            (None, Scenario::Default) => match raw.upstream.get(current_index(raw)) {
                Some(u) => format!("{} (currentUpstream)", u.name),
                None => "-".to_owned(),
            },
            (None, _) => "-".to_owned(),
        };
        let value = if scenario == Scenario::LongContext {
            format!(
                "{value}  (above {} estimated input tokens)",
                threshold_of(router)
            )
        } else {
            value
        };
        let _ = writeln!(out, "  {name:<width$}  {value}");
    }
    let rules = router.rules.as_deref().unwrap_or_default();
    if rules.is_empty() {
        out.push_str("  rules:        none\n");
    } else {
        out.push_str("  rules (first match wins):\n");
        for line in rule_lines(rules).lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    for key in router.extra.keys() {
        let _ = writeln!(out, "  unknown key:  {key} (`config check` explains)");
    }
    out
}

/// `config router rule list`.
pub(crate) fn rule_list(raw: &RawConfig) -> String {
    let rules = raw
        .router
        .as_ref()
        .and_then(|r| r.rules.as_deref())
        .unwrap_or_default();
    if rules.is_empty() {
        return "No routing rules. Add one with `claude-proxy config router rule add --model GLOB --to TARGET`.\n".to_owned();
    }
    rule_lines(rules)
}

/// `config router set <scenario> <target>…`.
pub(crate) fn set(
    raw: &mut RawConfig,
    scenario: Scenario,
    targets: &[String],
) -> Result<String, String> {
    let targets = normalise(&raw.upstream, targets)?;
    let new = RawTargets::from_vec(targets);
    let text = targets_text(&new);
    let router = raw.router.get_or_insert_with(RawRouter::default);
    let old = router.targets_mut(scenario).replace(new);
    Ok(match old {
        Some(old) if targets_text(&old) == text => {
            format!("router.{scenario}: {text} (unchanged)\n")
        }
        Some(old) => format!("router.{scenario}: {text} (was {})\n", targets_text(&old)),
        None => format!("router.{scenario}: {text}\n"),
    })
}

/// `config router unset <scenario>`. A router left with nothing in it is
/// removed, so the file reads as before routing was set up.
pub(crate) fn unset(raw: &mut RawConfig, scenario: Scenario) -> Result<String, String> {
    let old = raw
        .router
        .as_mut()
        .and_then(|r| r.targets_mut(scenario).take())
        .ok_or_else(|| format!("router.{scenario} is not set"))?;
    let mut out = format!("Removed router.{scenario} (was {})\n", targets_text(&old));
    out.push_str(&match scenario {
        Scenario::Default => match raw.upstream.get(current_index(raw)) {
            Some(u) => format!(
                "The default route is the current upstream {} again.\n",
                quoted(&u.name)
            ),
            None => "The default route is the current upstream again.\n".to_owned(),
        },
        _ => format!("{scenario} requests take the next route that applies.\n"),
    });
    drop_if_empty(raw, &mut out);
    Ok(out)
}

/// `config router threshold <n>` (`n` is at least 1).
pub(crate) fn threshold(raw: &mut RawConfig, tokens: i64) -> String {
    let router = raw.router.get_or_insert_with(RawRouter::default);
    let old = threshold_of(router);
    router.long_context_threshold = Some(tokens);
    if old == tokens {
        format!("router.longContextThreshold: {tokens} (unchanged)\n")
    } else {
        format!("router.longContextThreshold: {tokens} (was {old})\n")
    }
}

/// `config router rule add`: a rule on the requested model's glob and/or
/// exact header values, inserted at `at` (default: last).
pub(crate) fn rule_add(
    raw: &mut RawConfig,
    model: Option<&str>,
    headers: &[(String, String)],
    to: &[String],
    at: Option<usize>,
) -> Result<String, String> {
    if model.is_none() && headers.is_empty() {
        return Err("a rule needs --model GLOB or --header NAME=VALUE to match on".into());
    }
    let model = match model {
        Some(m) => {
            compile_glob(m).map_err(|e| format!("--model: {e}"))?;
            Some(m.trim().to_owned())
        }
        None => None,
    };
    let mut header = Map::new();
    for (name, value) in headers {
        let (name, value) = header_pair(name, &Value::String(value.clone()))
            .map_err(|e| format!("--header {name}={value}: {e}"))?;
        if header.contains_key(&name) {
            return Err(format!(
                "--header {name} is given twice (header names are case-insensitive)"
            ));
        }
        header.insert(name, Value::String(value));
    }
    let to = RawTargets::from_vec(normalise(&raw.upstream, to)?);
    let rule = RawRule {
        model,
        header: (!header.is_empty()).then_some(header),
        to: Some(to),
        extra: Map::new(),
    };
    let rules = raw
        .router
        .get_or_insert_with(RawRouter::default)
        .rules
        .get_or_insert_with(Vec::new);
    let index = match at {
        Some(i) if i > rules.len() => {
            return Err(format!(
                "--at {i}: there are {} rule(s), so a new one can go at 0 to {}",
                rules.len(),
                rules.len()
            ))
        }
        Some(i) => i,
        None => rules.len(),
    };
    let text = rule_text(&rule);
    rules.insert(index, rule);
    let mut out = format!("Added rule #{index}: {text}\n");
    if index + 1 < rules.len() {
        out.push_str("The rules after it moved down by one.\n");
    }
    Ok(out)
}

/// `config router rule remove <index>`.
pub(crate) fn rule_remove(raw: &mut RawConfig, index: usize) -> Result<String, String> {
    let rules = raw
        .router
        .as_mut()
        .and_then(|r| r.rules.as_mut())
        .filter(|r| !r.is_empty())
        .ok_or_else(|| "there are no routing rules".to_owned())?;
    if index >= rules.len() {
        return Err(format!(
            "no rule #{index} ({} rule(s): `claude-proxy config router rule list` shows them)",
            rules.len()
        ));
    }
    let rule = rules.remove(index);
    let moved = index < rules.len();
    if rules.is_empty() {
        if let Some(router) = raw.router.as_mut() {
            router.rules = None;
        }
    }
    let mut out = format!("Removed rule #{index}: {}\n", rule_text(&rule));
    if moved {
        out.push_str("The rules after it moved up by one.\n");
    }
    drop_if_empty(raw, &mut out);
    Ok(out)
}

/// Every place that names upstream `i`: router targets and other upstreams'
/// `fallback` entries, as field paths.
pub(crate) fn references(raw: &RawConfig, i: usize) -> Vec<String> {
    let Some(name) = raw.upstream.get(i).map(|u| u.name.trim()) else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    visit_targets(raw, |path, target| {
        if names(target, name) {
            paths.push(path);
        }
    });
    for (j, u) in raw.upstream.iter().enumerate() {
        for (k, f) in u.fallback.iter().flatten().enumerate() {
            if j != i && f.trim().eq_ignore_ascii_case(name) {
                paths.push(format!("upstream[{j}].fallback[{k}]"));
            }
        }
    }
    paths
}

/// Points every reference to the upstream called `old` at `new` (a model
/// after the comma is kept); returns the field paths changed.
pub(crate) fn rename_references(raw: &mut RawConfig, old: &str, new: &str) -> Vec<String> {
    let old = old.trim();
    let mut changed = Vec::new();
    if let Some(router) = raw.router.as_mut() {
        let mut fields: Vec<(String, &mut RawTargets)> = Vec::new();
        let RawRouter {
            default,
            background,
            think,
            long_context,
            web_search,
            image,
            rules,
            ..
        } = router;
        for (scenario, field) in [
            (Scenario::Default, default),
            (Scenario::Background, background),
            (Scenario::Think, think),
            (Scenario::LongContext, long_context),
            (Scenario::WebSearch, web_search),
            (Scenario::Image, image),
        ] {
            if let Some(t) = field.as_mut() {
                fields.push((format!("router.{scenario}"), t));
            }
        }
        for (k, rule) in rules.iter_mut().flatten().enumerate() {
            if let Some(t) = rule.to.as_mut() {
                fields.push((format!("router.rules[{k}].to"), t));
            }
        }
        for (at, targets) in fields {
            let paths: Vec<String> = (0..targets.items().len())
                .map(|n| targets.item_path(&at, n))
                .collect();
            for (path, item) in paths.into_iter().zip(targets.items_mut()) {
                if names(item, old) {
                    *item = match split_target(item) {
                        Ok((_, Some(model))) => format!("{new},{model}"),
                        _ => new.to_owned(),
                    };
                    changed.push(path);
                }
            }
        }
    }
    for (j, u) in raw.upstream.iter_mut().enumerate() {
        for (k, f) in u.fallback.iter_mut().flatten().enumerate() {
            if f.trim().eq_ignore_ascii_case(old) {
                *f = new.to_owned();
                changed.push(format!("upstream[{j}].fallback[{k}]"));
            }
        }
    }
    changed
}

/// Whether the target string `target` names the upstream `name`.
fn names(target: &str, name: &str) -> bool {
    split_target(target).is_ok_and(|(upstream, _)| upstream.eq_ignore_ascii_case(name))
}

/// Calls `f` with (field path, target string) for every router target.
fn visit_targets(raw: &RawConfig, mut f: impl FnMut(String, &str)) {
    let Some(router) = &raw.router else { return };
    let mut visit = |at: String, targets: &RawTargets| {
        for (n, item) in targets.items().iter().enumerate() {
            f(targets.item_path(&at, n), item);
        }
    };
    for scenario in Scenario::ALL {
        if let Some(t) = router.targets(scenario) {
            visit(format!("router.{scenario}"), t);
        }
    }
    for (k, rule) in router.rules.iter().flatten().enumerate() {
        if let Some(t) = &rule.to {
            visit(format!("router.rules[{k}].to"), t);
        }
    }
}

/// Resolves each target, returning them with the upstream's configured
/// spelling; refuses the first that names no upstream.
fn normalise(upstreams: &[RawUpstream], targets: &[String]) -> Result<Vec<String>, String> {
    if targets.is_empty() {
        return Err("give at least one target (`upstream` or `upstream,model`)".into());
    }
    targets
        .iter()
        .map(|text| {
            let target = resolve_raw_target(text, upstreams).map_err(|e| {
                let hint = if upstreams.is_empty() {
                    "; add one with `claude-proxy config add`"
                } else {
                    ""
                };
                format!("target {text:?}: {e}{hint}")
            })?;
            let name = upstreams[target.upstream()].name.trim();
            Ok(match target.model() {
                Some(model) => format!("{name},{model}"),
                None => name.to_owned(),
            })
        })
        .collect()
}

fn drop_if_empty(raw: &mut RawConfig, out: &mut String) {
    if raw.router.as_ref().is_some_and(RawRouter::is_empty) {
        raw.router = None;
        out.push_str("The router is empty now and was removed.\n");
    }
}

fn threshold_of(router: &RawRouter) -> i64 {
    router
        .long_context_threshold
        .unwrap_or(DEFAULT_LONG_CONTEXT_THRESHOLD as i64)
}

/// `a`, or `a → b,model → c` for a priority list.
fn targets_text(targets: &RawTargets) -> String {
    match targets.items() {
        [] => "(empty list)".to_owned(),
        items => items.join(" → "),
    }
}

/// `model claude-opus-*, header x-team=eu: anthropic → deepseek`
fn rule_text(rule: &RawRule) -> String {
    let mut conditions = Vec::new();
    if let Some(m) = &rule.model {
        conditions.push(format!("model {m}"));
    }
    for (name, value) in rule.header.iter().flatten() {
        let value = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned);
        conditions.push(format!("header {name}={value}"));
    }
    if conditions.is_empty() {
        conditions.push("(no condition)".to_owned());
    }
    let to = rule
        .to
        .as_ref()
        .map_or_else(|| "(no target)".to_owned(), targets_text);
    format!("{}: {to}", conditions.join(", "))
}

fn rule_lines(rules: &[RawRule]) -> String {
    rules
        .iter()
        .enumerate()
        .map(|(k, rule)| format!("{k:>3}  {}\n", rule_text(rule)))
        .collect()
}

fn quoted(name: &str) -> String {
    format!("{name:?}")
}

/// `#1 "groq"` and the field paths that name it, for refusing a removal.
pub(crate) fn still_referenced(raw: &RawConfig, i: usize, paths: &[String]) -> String {
    format!(
        "cannot remove upstream {}: it is named at {}. Point those elsewhere first \
         (`claude-proxy config router …`, or the fallback lists in config.json)",
        label(raw, i),
        paths.join(", ")
    )
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
