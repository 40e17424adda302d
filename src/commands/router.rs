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
mod tests {
    use super::*;
    use crate::config::parse_raw;
    use crate::config::LoadBalance;

    fn config() -> RawConfig {
        parse_raw(
            "c",
            r#"{"upstream":[
                {"name":"DeepSeek","baseUrl":"https://api.deepseek.com","serviceType":"openaiold"},
                {"name":"anthropic","baseUrl":"https://api.anthropic.com","serviceType":"claude","fallback":["deepseek"]},
                {"name":"local","baseUrl":"http://localhost:11434/v1","serviceType":"openaiold"}
            ],"currentUpstream":2}"#,
        )
        .unwrap()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn valid(raw: &RawConfig) {
        raw.validate(LoadBalance::default()).unwrap();
    }

    #[test]
    fn set_normalises_names_and_refuses_unknown_upstreams() {
        let mut raw = config();
        let out = set(
            &mut raw,
            Scenario::Think,
            &strings(&["deepseek , deepseek-reasoner", "ANTHROPIC"]),
        )
        .unwrap();
        assert_eq!(
            out,
            "router.think: DeepSeek,deepseek-reasoner → anthropic\n"
        );
        let router = raw.router.as_ref().unwrap();
        assert_eq!(
            router.think,
            Some(RawTargets::List(strings(&[
                "DeepSeek,deepseek-reasoner",
                "anthropic"
            ])))
        );
        valid(&raw);
        let out = set(&mut raw, Scenario::Think, &strings(&["local"])).unwrap();
        assert!(
            out.contains("(was DeepSeek,deepseek-reasoner → anthropic)"),
            "{out}"
        );
        assert_eq!(
            raw.router.as_ref().unwrap().think,
            Some(RawTargets::One("local".into()))
        );
        assert!(set(&mut raw, Scenario::Think, &strings(&["local"]))
            .unwrap()
            .contains("unchanged"));

        let before = raw.clone();
        let err = set(
            &mut raw,
            Scenario::Image,
            &strings(&["local", "openai,gpt-4o"]),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "target \"openai,gpt-4o\": no upstream is named \"openai\" (configured: DeepSeek, anthropic, local)"
        );
        assert!(set(&mut raw, Scenario::Image, &strings(&["local,"]))
            .unwrap_err()
            .contains("model after"));
        assert!(set(&mut raw, Scenario::Image, &[]).is_err());
        assert_eq!(raw.router, before.router, "a refused edit changes nothing");
        let err = set(
            &mut RawConfig::default(),
            Scenario::Default,
            &strings(&["x"]),
        )
        .unwrap_err();
        assert!(err.contains("config add"), "{err}");
    }

    #[test]
    fn unset_removes_and_drops_an_empty_router() {
        let mut raw = config();
        set(&mut raw, Scenario::Default, &strings(&["deepseek"])).unwrap();
        set(&mut raw, Scenario::Background, &strings(&["local,qwen"])).unwrap();
        let out = unset(&mut raw, Scenario::Background).unwrap();
        assert!(
            out.contains("Removed router.background (was local,qwen)"),
            "{out}"
        );
        assert!(!out.contains("empty"), "{out}");
        assert!(unset(&mut raw, Scenario::Background)
            .unwrap_err()
            .contains("not set"));
        let out = unset(&mut raw, Scenario::Default).unwrap();
        assert!(out.contains("current upstream \"local\" again"), "{out}");
        assert!(out.contains("router is empty now"), "{out}");
        assert!(raw.router.is_none());
        assert!(unset(&mut raw, Scenario::Think).is_err());
    }

    #[test]
    fn threshold_keeps_the_router() {
        let mut raw = config();
        assert_eq!(
            threshold(&mut raw, 100_000),
            "router.longContextThreshold: 100000 (was 60000)\n"
        );
        assert!(threshold(&mut raw, 100_000).contains("unchanged"));
        assert_eq!(
            raw.router.as_ref().unwrap().long_context_threshold,
            Some(100_000)
        );
        valid(&raw);
    }

    #[test]
    fn rules_add_list_remove() {
        let mut raw = config();
        assert!(rule_list(&raw).contains("No routing rules"));
        let out = rule_add(
            &mut raw,
            Some(" claude-opus-* "),
            &[],
            &strings(&["Anthropic"]),
            None,
        )
        .unwrap();
        assert_eq!(out, "Added rule #0: model claude-opus-*: anthropic\n");
        let headers = [
            ("X-Team".to_owned(), "eu".to_owned()),
            ("x-tier".to_owned(), "gold".to_owned()),
        ];
        rule_add(
            &mut raw,
            None,
            &headers,
            &strings(&["local", "deepseek"]),
            None,
        )
        .unwrap();
        let out = rule_add(
            &mut raw,
            Some("*haiku*"),
            &[],
            &strings(&["local,qwen"]),
            Some(0),
        )
        .unwrap();
        assert!(out.contains("#0") && out.contains("moved down"), "{out}");
        valid(&raw);
        assert_eq!(
            rule_list(&raw),
            "  0  model *haiku*: local,qwen\n  1  model claude-opus-*: anthropic\n  2  header x-team=eu, header x-tier=gold: local → DeepSeek\n"
        );
        let rules = raw.router.as_ref().unwrap().rules.as_ref().unwrap();
        assert_eq!(rules[2].header.as_ref().unwrap()["x-team"], "eu");
        assert_eq!(
            rules[2].to,
            Some(RawTargets::List(strings(&["local", "DeepSeek"])))
        );

        let before = raw.clone();
        assert!(rule_add(&mut raw, None, &[], &strings(&["local"]), None)
            .unwrap_err()
            .contains("--model"));
        assert!(
            rule_add(&mut raw, Some("claude-["), &[], &strings(&["local"]), None)
                .unwrap_err()
                .contains("bad glob")
        );
        assert!(
            rule_add(&mut raw, Some("x"), &[], &strings(&["nope"]), None)
                .unwrap_err()
                .contains("no upstream is named \"nope\"")
        );
        let bad_header = [("bad name".to_owned(), "v".to_owned())];
        assert!(
            rule_add(&mut raw, None, &bad_header, &strings(&["local"]), None)
                .unwrap_err()
                .contains("not a valid header name")
        );
        let twice = [
            ("A".to_owned(), "1".to_owned()),
            ("a".to_owned(), "2".to_owned()),
        ];
        assert!(rule_add(&mut raw, None, &twice, &strings(&["local"]), None)
            .unwrap_err()
            .contains("twice"));
        assert!(
            rule_add(&mut raw, Some("x"), &[], &strings(&["local"]), Some(9))
                .unwrap_err()
                .contains("0 to 3")
        );
        assert_eq!(raw.router, before.router);

        let out = rule_remove(&mut raw, 1).unwrap();
        assert!(
            out.contains("Removed rule #1: model claude-opus-*") && out.contains("moved up"),
            "{out}"
        );
        assert!(rule_remove(&mut raw, 2)
            .unwrap_err()
            .contains("no rule #2 (2 rule(s)"));
        rule_remove(&mut raw, 1).unwrap();
        let out = rule_remove(&mut raw, 0).unwrap();
        assert!(out.contains("router is empty now"), "{out}");
        assert!(raw.router.is_none());
        assert!(rule_remove(&mut raw, 0)
            .unwrap_err()
            .contains("no routing rules"));
    }

    #[test]
    fn show_lists_every_scenario_and_rule() {
        let mut raw = config();
        assert!(show(&raw)
            .starts_with("No router: every request goes to the current upstream \"local\""));
        set(
            &mut raw,
            Scenario::Think,
            &strings(&["deepseek,r1", "anthropic"]),
        )
        .unwrap();
        rule_add(
            &mut raw,
            Some("claude-opus-*"),
            &[],
            &strings(&["anthropic"]),
            None,
        )
        .unwrap();
        let out = show(&raw);
        assert!(
            out.contains("  default:      local (currentUpstream)\n"),
            "{out}"
        );
        assert!(
            out.contains("  think:        DeepSeek,r1 → anthropic\n"),
            "{out}"
        );
        assert!(out.contains("  image:        -\n"), "{out}");
        assert!(
            out.contains("longContext:  -  (above 60000 estimated input tokens)"),
            "{out}"
        );
        assert!(
            out.contains("    0  model claude-opus-*: anthropic\n"),
            "{out}"
        );
    }

    #[test]
    fn references_and_renames_cover_router_and_fallback() {
        let mut raw = config();
        set(&mut raw, Scenario::Default, &strings(&["deepseek"])).unwrap();
        set(
            &mut raw,
            Scenario::Think,
            &strings(&["local", "deepseek,r1"]),
        )
        .unwrap();
        rule_add(
            &mut raw,
            Some("x*"),
            &[],
            &strings(&["anthropic", "DEEPSEEK"]),
            None,
        )
        .unwrap();
        assert_eq!(
            references(&raw, 0),
            [
                "router.default",
                "router.think[1]",
                "router.rules[0].to[1]",
                "upstream[1].fallback[0]"
            ]
        );
        assert_eq!(references(&raw, 2), ["router.think[0]"]);
        assert!(references(&raw, 9).is_empty());

        let changed = rename_references(&mut raw, "deepseek", "ds");
        assert_eq!(
            changed,
            [
                "router.default",
                "router.think[1]",
                "router.rules[0].to[1]",
                "upstream[1].fallback[0]"
            ]
        );
        let router = raw.router.as_ref().unwrap();
        assert_eq!(router.default, Some(RawTargets::One("ds".into())));
        assert_eq!(
            router.think,
            Some(RawTargets::List(strings(&["local", "ds,r1"])))
        );
        let to = router.rules.as_ref().unwrap()[0].to.clone();
        assert_eq!(to, Some(RawTargets::List(strings(&["anthropic", "ds"]))));
        assert_eq!(raw.upstream[1].fallback, Some(strings(&["ds"])));
    }
}
