//! The optional `prices` object of `config.json`: US$ per million tokens,
//! keyed by a glob on the upstream model, for the request store's cost
//! estimates.
//!
//! ```json
//! "prices": {
//!   "gpt-4o": {"input": 2.5, "output": 10, "cacheRead": 1.25, "cacheWrite": 3.125},
//!   "gpt-4o-*": {"input": 0.15, "output": 0.6},
//!   "claude-*": {"input": 3, "output": 15, "cacheRead": 0.3, "cacheWrite": 3.75}
//! }
//! ```
//!
//! A pattern without wildcards is an exact name and wins over any glob;
//! otherwise the first glob that matches, in the order written, decides. A
//! model that matches nothing has no price: its cost is unknown (`null`),
//! never zero.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::field::{compile_glob, did_you_mean};
use super::glob::Glob;
use crate::protocol::anthropic::Usage;

/// One model's price, US$ per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    /// Uncached input tokens.
    pub input: f64,
    /// Output tokens (thinking included).
    pub output: f64,
    /// Cache hits; the input price when not given.
    pub cache_read: f64,
    /// Cache writes; the input price when not given.
    pub cache_write: f64,
}

impl Price {
    /// The cost of `usage` in US$.
    pub fn cost(&self, usage: &Usage) -> f64 {
        let per_token = |tokens: u64, price: f64| tokens as f64 * price;
        (per_token(usage.input_tokens, self.input)
            + per_token(usage.output_tokens, self.output)
            + per_token(usage.cache_read_input_tokens, self.cache_read)
            + per_token(usage.cache_creation_input_tokens, self.cache_write))
            / 1_000_000.0
    }
}

/// The validated `prices` object. Cloning is cheap (shared), so every
/// request can carry the prices of the configuration it started with.
#[derive(Debug, Clone, Default)]
pub struct Prices(Arc<[Entry]>);

#[derive(Debug)]
struct Entry {
    glob: Glob,
    /// No `*`, `?`, `[` or `\`: an exact (case-insensitive) model name.
    exact: bool,
    price: Price,
}

/// The fields a price may have.
const FIELDS: [&str; 4] = ["input", "output", "cacheRead", "cacheWrite"];

impl Prices {
    /// Whether no price is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The price of `model`: an exact entry first, else the first glob that
    /// matches.
    pub fn lookup(&self, model: &str) -> Option<&Price> {
        let exact = self.0.iter().find(|e| e.exact && e.glob.matches(model));
        exact
            .or_else(|| self.0.iter().find(|e| !e.exact && e.glob.matches(model)))
            .map(|e| &e.price)
    }

    /// The estimated cost of a request to `model` that used `usage`; `None`
    /// when the model has no price.
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<f64> {
        self.lookup(model).map(|p| p.cost(usage))
    }

    /// Validates the `prices` object; problems are reported with their
    /// field path (`prices.gpt-4o.input`) and the entry is left out.
    pub(crate) fn validate(raw: &Map<String, Value>, problems: &mut Vec<String>) -> Prices {
        let mut entries = Vec::with_capacity(raw.len());
        for (pattern, value) in raw {
            let at = format!("prices.{pattern}");
            let glob = compile_glob(pattern).map_err(|e| problems.push(format!("{at}: {e}")));
            let price = price(value, &at, problems);
            if let (Ok(glob), Some(price)) = (glob, price) {
                let exact = !pattern.contains(['*', '?', '[', '\\']);
                entries.push(Entry { glob, exact, price });
            }
        }
        Prices(entries.into())
    }
}

/// One entry's price object, or `None` after reporting why it is not one.
fn price(value: &Value, at: &str, problems: &mut Vec<String>) -> Option<Price> {
    let Some(obj) = value.as_object() else {
        problems.push(format!(
            "{at}: expected an object such as {{\"input\": 2.5, \"output\": 10}} (US$ per million tokens)"
        ));
        return None;
    };
    let before = problems.len();
    for key in obj.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
        problems.push(format!(
            "{at}.{key}: unknown key{} (expected input, output, cacheRead or cacheWrite)",
            did_you_mean(key, &FIELDS)
        ));
    }
    let mut field = |name: &str, required: bool| -> Option<f64> {
        match obj.get(name) {
            None if required => {
                problems.push(format!("{at}.{name}: required (US$ per million tokens)"));
                None
            }
            None => None,
            Some(v) => match v.as_f64() {
                Some(n) if n.is_finite() && n >= 0.0 => Some(n),
                _ => {
                    problems.push(format!(
                        "{at}.{name}: must be a non-negative number (US$ per million tokens), got {v}"
                    ));
                    None
                }
            },
        }
    };
    let input = field("input", true);
    let output = field("output", true);
    let cache_read = field("cacheRead", false);
    let cache_write = field("cacheWrite", false);
    if problems.len() > before {
        return None;
    }
    let input = input?;
    Some(Price {
        input,
        output: output?,
        cache_read: cache_read.unwrap_or(input),
        cache_write: cache_write.unwrap_or(input),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn prices(v: Value) -> (Prices, Vec<String>) {
        let mut problems = Vec::new();
        let p = Prices::validate(v.as_object().unwrap(), &mut problems);
        (p, problems)
    }

    fn usage(input: u64, output: u64, read: u64, write: u64) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            cache_read_input_tokens: read,
            cache_creation_input_tokens: write,
        }
    }

    #[test]
    fn exact_names_win_then_the_first_matching_glob() {
        let (p, problems) = prices(json!({
            "gpt-4o*": {"input": 1, "output": 1},
            "gpt-4o-mini": {"input": 0.15, "output": 0.6},
            "gpt-*": {"input": 9, "output": 9},
            "gpt-4o": {"input": 2.5, "output": 10, "cacheRead": 1.25, "cacheWrite": 3.125}
        }));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(p.lookup("gpt-4o").unwrap().input, 2.5);
        assert_eq!(p.lookup("GPT-4o-Mini").unwrap().input, 0.15);
        assert_eq!(p.lookup("gpt-4o-2024-08-06").unwrap().input, 1.0);
        assert_eq!(p.lookup("gpt-5").unwrap().input, 9.0);
        assert!(p.lookup("claude-sonnet-4").is_none());
        assert_eq!(p.cost("claude-sonnet-4", &usage(1, 1, 1, 1)), None);
    }

    #[test]
    fn cost_is_per_million_tokens_and_cache_prices_default_to_input() {
        let (p, _) = prices(json!({
            "gpt-4o": {"input": 2.5, "output": 10, "cacheRead": 1.25, "cacheWrite": 3.125},
            "local-*": {"input": 2, "output": 4}
        }));
        let c = p
            .cost("gpt-4o", &usage(1_000_000, 100_000, 200_000, 10_000))
            .unwrap();
        assert!((c - (2.5 + 1.0 + 0.25 + 0.03125)).abs() < 1e-9, "{c}");
        let local = p.lookup("local-qwen").unwrap();
        assert_eq!((local.cache_read, local.cache_write), (2.0, 2.0));
        assert_eq!(p.cost("local-x", &usage(0, 0, 0, 0)), Some(0.0));
    }

    #[test]
    fn problems_name_their_field() {
        let (p, problems) = prices(json!({
            "ok": {"input": 1, "output": 2},
            "neg": {"input": -1, "output": 2},
            "str": {"input": "1", "output": 2},
            "missing": {"input": 1},
            "typo": {"input": 1, "output": 2, "cacheread": 1},
            "notobj": 3,
            "bad[": {"input": 1, "output": 2}
        }));
        assert_eq!(p.0.len(), 1);
        let want = [
            "prices.neg.input: must be a non-negative number",
            "prices.str.input: must be a non-negative number",
            "prices.missing.output: required",
            "prices.typo.cacheread: unknown key (did you mean \"cacheRead\"?)",
            "prices.notobj: expected an object",
            "prices.bad[: bad glob \"bad[\"",
        ];
        assert_eq!(problems.len(), want.len(), "{problems:?}");
        for (got, want) in problems.iter().zip(want) {
            assert!(got.starts_with(want), "{got} should start with {want}");
        }
    }
}
