//! JSON Schema (what clients put in `input_schema`) → the OpenAPI-3.0 subset
//! Gemini accepts in `functionDeclarations[].parameters`
//! (<https://ai.google.dev/api/caching#Schema>; docs/translation.md, "Gemini
//! tool names and schemas"). Pure.
//!
//! Gemini's protobuf parser rejects the whole request on the first key it does
//! not know, so the output is built from an allow-list rather than by deleting
//! known-bad keys: anything not understood here is dropped. On top of that,
//! Gemini checks shapes: `enum` only on strings, `properties` only on objects
//! and never empty, `format` on strings only `enum`/`date-time`, one `type`
//! per schema, and a `type` on every schema that has no `anyOf`. Keywords are
//! therefore only emitted where they fit the node's type.

use serde_json::{Map, Number, Value};

/// Nesting guard for `$ref` recursion and pathological schemas.
const MAX_DEPTH: usize = 24;

/// Work budget: every schema the cleaner visits costs its own size, and
/// the total may not exceed this multiple of the input's size (plus the
/// slack). `$ref`s and type lists copy what they point at, so without it a
/// 1 KB schema whose definitions each refer to the next from four
/// properties cleans to megabytes (and a few more levels to gigabytes). A
/// plain schema costs its size times its depth; the slack lets real schemas
/// that reuse definitions expand in full. Past the budget a subschema
/// becomes "anything".
const BUDGET_FACTOR: usize = 32;
const BUDGET_SLACK: usize = 256 * 1024;

/// About the length of `v` as JSON text.
fn json_size(v: &Value) -> usize {
    match v {
        Value::Null | Value::Bool(_) | Value::Number(_) => 8,
        Value::String(s) => s.len() + 2,
        Value::Array(a) => a.iter().map(json_size).sum::<usize>() + 2,
        Value::Object(o) => {
            o.iter()
                .map(|(k, v)| k.len() + 3 + json_size(v))
                .sum::<usize>()
                + 2
        }
    }
}

/// Cleans a tool's input schema. `None` means the tool takes no parameters and
/// `parameters` must be omitted (Gemini rejects an object with empty
/// `properties`).
pub fn clean_schema(schema: &Value) -> Option<Value> {
    let root = schema.as_object()?;
    let mut cleaner = Cleaner {
        root: schema,
        expanding: Vec::new(),
        budget: json_size(schema)
            .saturating_mul(BUDGET_FACTOR)
            .saturating_add(BUDGET_SLACK),
    };
    // The root is always an object schema; a root union of object schemas
    // (seen in MCP tools) is flattened into one optional-everything object.
    let mut forced = root.clone();
    forced.insert("type".into(), Value::String("object".into()));
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(variants)) = forced.remove(key) {
            let mut props = match forced.remove("properties") {
                Some(Value::Object(p)) => p,
                _ => Map::new(),
            };
            for v in &variants {
                let variant = Value::Object(cleaner.deref(v, 0));
                if !cleaner.charge(&variant) {
                    break;
                }
                if let Some(Value::Object(p)) = variant.get("properties") {
                    for (k, s) in p {
                        props.entry(k.clone()).or_insert_with(|| s.clone());
                    }
                }
            }
            forced.insert("properties".into(), Value::Object(props));
        }
    }
    let mut out = cleaner.node(&Value::Object(forced), 0);
    out.remove("nullable");
    out.get("properties")?;
    Some(Value::Object(out))
}

struct Cleaner<'s> {
    root: &'s Value,
    /// `$ref`s being expanded right now: meeting one again means recursion.
    expanding: Vec<String>,
    /// What is left of the work budget ([`BUDGET_FACTOR`]).
    budget: usize,
}

impl Cleaner<'_> {
    /// Pays for visiting `v`; false once the budget cannot.
    fn charge(&mut self, v: &Value) -> bool {
        let cost = json_size(v);
        if cost > self.budget {
            self.budget = 0;
            return false;
        }
        self.budget -= cost;
        true
    }

    /// Resolves a local `$ref` (`#`, `#/$defs/X`, `#/definitions/X`, any JSON pointer).
    fn resolve(&self, reference: &str) -> Option<&Value> {
        let pointer = reference.strip_prefix('#')?;
        if pointer.is_empty() {
            Some(self.root)
        } else {
            self.root.pointer(pointer)
        }
    }

    /// The raw (uncleaned) object of `v`, with one level of `$ref` followed;
    /// the `$ref`'s siblings override the target's keys.
    fn deref(&self, v: &Value, depth: usize) -> Map<String, Value> {
        let Some(obj) = v.as_object() else {
            return Map::new();
        };
        match obj.get("$ref").and_then(Value::as_str) {
            Some(r) if depth < MAX_DEPTH => {
                let mut target = self
                    .resolve(r)
                    .map_or_else(Map::new, |t| self.deref(t, depth + 1));
                for (k, v) in obj {
                    if k != "$ref" {
                        target.insert(k.clone(), v.clone());
                    }
                }
                target
            }
            Some(_) => Map::new(),
            None => obj.clone(),
        }
    }

    fn node(&mut self, v: &Value, depth: usize) -> Map<String, Value> {
        let Some(obj) = v.as_object() else {
            // `true` / `{}`-like schemas: anything goes.
            return any_schema(None, false);
        };
        if !self.charge(v) {
            return any_schema(None, false);
        }
        let description = obj.get("description").and_then(Value::as_str);
        if depth > MAX_DEPTH {
            // Only reachable through recursive `$ref`s: stop with "anything".
            return any_schema(description, false);
        }
        if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
            let resolved = self.deref(v, 0);
            if self.expanding.iter().any(|r| r == reference)
                || resolved.contains_key("$ref")
                || resolved.is_empty()
            {
                return any_schema(description, false);
            }
            self.expanding.push(reference.to_owned());
            let out = self.node(&Value::Object(resolved), depth + 1);
            self.expanding.pop();
            return out;
        }
        if let Some(Value::Array(all)) = obj.get("allOf") {
            let mut merged = obj.clone();
            merged.remove("allOf");
            for sub in all {
                merge_schema(&mut merged, self.deref(sub, 0));
            }
            return self.node(&Value::Object(merged), depth + 1);
        }

        let (types, mut nullable) = read_types(obj.get("type"));
        nullable |= obj.get("nullable") == Some(&Value::Bool(true));

        if let Some(Value::Array(variants)) = obj.get("anyOf").or_else(|| obj.get("oneOf")) {
            let mut cleaned = Vec::with_capacity(variants.len());
            for variant in variants {
                if is_null_schema(variant) {
                    nullable = true;
                } else {
                    cleaned.push(Value::Object(self.node(variant, depth + 1)));
                }
            }
            if cleaned.len() == 1 {
                // `anyOf: [X, {type: null}]` → X + nullable (what Google's SDK does).
                let Some(Value::Object(mut single)) = cleaned.pop() else {
                    return any_schema(description, nullable);
                };
                copy_annotations(obj, &mut single);
                if nullable {
                    single.insert("nullable".into(), Value::Bool(true));
                }
                return single;
            }
            if !cleaned.is_empty() {
                let mut out = Map::new();
                copy_annotations(obj, &mut out);
                out.insert("anyOf".into(), Value::Array(cleaned));
                if nullable {
                    out.insert("nullable".into(), Value::Bool(true));
                }
                return out;
            }
        }

        if types.len() > 1 {
            // `type: ["string", "number"]` → one variant per type.
            let variants = types
                .iter()
                .map(|t| {
                    let mut one = obj.clone();
                    one.insert("type".into(), Value::String(t.clone()));
                    for k in ["description", "title", "nullable", "default", "example"] {
                        one.remove(k);
                    }
                    Value::Object(self.node(&Value::Object(one), depth + 1))
                })
                .collect();
            let mut out = Map::new();
            copy_annotations(obj, &mut out);
            out.insert("anyOf".into(), Value::Array(variants));
            if nullable {
                out.insert("nullable".into(), Value::Bool(true));
            }
            return out;
        }

        let Some(ty) = types.into_iter().next().or_else(|| infer_type(obj)) else {
            // No type at all (Claude Code's `Workflow.args`): Gemini demands a
            // type unless `anyOf` is used, so spell "anything" as a union.
            return any_schema(description, nullable);
        };
        self.typed(obj, &ty, nullable, depth)
    }

    fn typed(
        &mut self,
        obj: &Map<String, Value>,
        ty: &str,
        mut nullable: bool,
        depth: usize,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        let ty = match ty {
            "string" | "number" | "integer" | "boolean" | "array" | "object" => ty,
            // A lone `null` type: Gemini's NULL is poorly supported; say
            // "nullable string" instead.
            "null" => {
                nullable = true;
                "string"
            }
            _ => return any_schema(obj.get("description").and_then(Value::as_str), nullable),
        };
        out.insert("type".into(), Value::String(ty.into()));
        copy_annotations(obj, &mut out);

        let enum_values: Option<Vec<Value>> = match (obj.get("enum"), obj.get("const")) {
            (Some(Value::Array(values)), _) => Some(values.clone()),
            (_, Some(c)) => Some(vec![c.clone()]),
            _ => None,
        };
        match ty {
            "string" => {
                if let Some(values) = enum_values {
                    let mut strings = Vec::with_capacity(values.len());
                    for v in values {
                        match v {
                            Value::Null => nullable = true,
                            Value::String(s) => strings.push(Value::String(s)),
                            other => strings.push(Value::String(other.to_string())),
                        }
                    }
                    if !strings.is_empty() {
                        out.insert("enum".into(), Value::Array(strings));
                    }
                }
                if let Some(f @ ("date-time" | "enum")) = obj.get("format").and_then(Value::as_str)
                {
                    out.insert("format".into(), Value::String(f.into()));
                }
                copy_counts(obj, &mut out, &["minLength", "maxLength"]);
                if let Some(p @ Value::String(_)) = obj.get("pattern") {
                    out.insert("pattern".into(), p.clone());
                }
            }
            "number" | "integer" => {
                let integer = ty == "integer";
                let wanted: &[&str] = if integer {
                    &["int32", "int64"]
                } else {
                    &["float", "double"]
                };
                if let Some(f) = obj.get("format").and_then(Value::as_str) {
                    if wanted.contains(&f) {
                        out.insert("format".into(), Value::String(f.into()));
                    }
                }
                if let Some(min) = bound(obj, "minimum", "exclusiveMinimum", integer, true) {
                    out.insert("minimum".into(), min);
                }
                if let Some(max) = bound(obj, "maximum", "exclusiveMaximum", integer, false) {
                    out.insert("maximum".into(), max);
                }
                if let Some(values) = enum_values {
                    hint_allowed_values(&mut out, &values);
                }
            }
            "boolean" => {
                if let Some(values) = enum_values {
                    hint_allowed_values(&mut out, &values);
                }
            }
            "array" => {
                let items = match obj.get("items") {
                    // Draft-4 tuple form: describe the first element.
                    Some(Value::Array(tuple)) => tuple.first().map(|i| self.node(i, depth + 1)),
                    Some(i) => Some(self.node(i, depth + 1)),
                    None => None,
                };
                // Gemini requires `items` on ARRAY.
                let items = items.unwrap_or_else(|| any_schema(None, false));
                out.insert("items".into(), Value::Object(items));
                copy_counts(obj, &mut out, &["minItems", "maxItems"]);
            }
            _ => self.object(obj, &mut out, depth),
        }
        if nullable {
            out.insert("nullable".into(), Value::Bool(true));
        }
        out
    }

    fn object(&mut self, obj: &Map<String, Value>, out: &mut Map<String, Value>, depth: usize) {
        let mut props = Map::new();
        if let Some(Value::Object(p)) = obj.get("properties") {
            for (name, schema) in p {
                props.insert(name.clone(), Value::Object(self.node(schema, depth + 1)));
            }
        }
        // Empty `properties` is a 400 on OBJECT: leave it out.
        if props.is_empty() {
            return;
        }
        let known = |v: &&Value| v.as_str().is_some_and(|s| props.contains_key(s));
        if let Some(Value::Array(req)) = obj.get("required") {
            let req: Vec<Value> = req.iter().filter(known).cloned().collect();
            if !req.is_empty() {
                out.insert("required".into(), Value::Array(req));
            }
        }
        if let Some(Value::Array(order)) = obj.get("propertyOrdering") {
            let order: Vec<Value> = order.iter().filter(known).cloned().collect();
            if !order.is_empty() {
                out.insert("propertyOrdering".into(), Value::Array(order));
            }
        }
        copy_counts(obj, out, &["minProperties", "maxProperties"]);
        out.insert("properties".into(), Value::Object(props));
    }
}

/// "Any JSON value" in a form Gemini accepts.
fn any_schema(description: Option<&str>, nullable: bool) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(d) = description {
        out.insert("description".into(), Value::String(d.into()));
    }
    let t = |t: &str| serde_json::json!({ "type": t });
    out.insert(
        "anyOf".into(),
        Value::Array(vec![
            t("string"),
            t("number"),
            t("boolean"),
            t("object"),
            serde_json::json!({"type": "array", "items": {"type": "string"}}),
        ]),
    );
    if nullable {
        out.insert("nullable".into(), Value::Bool(true));
    }
    out
}

/// Lower-cased non-null types, and whether `null` was among them.
fn read_types(t: Option<&Value>) -> (Vec<String>, bool) {
    match t {
        Some(Value::String(s)) if s.eq_ignore_ascii_case("null") => (vec!["null".into()], false),
        Some(Value::String(s)) => (vec![s.to_ascii_lowercase()], false),
        Some(Value::Array(list)) => {
            let mut nullable = false;
            let mut types = Vec::with_capacity(list.len());
            for s in list.iter().filter_map(Value::as_str) {
                if s.eq_ignore_ascii_case("null") {
                    nullable = true;
                } else {
                    types.push(s.to_ascii_lowercase());
                }
            }
            if types.is_empty() && nullable {
                return (vec!["null".into()], false);
            }
            (types, nullable)
        }
        _ => (Vec::new(), false),
    }
}

fn is_null_schema(v: &Value) -> bool {
    matches!(v.get("type"), Some(Value::String(s)) if s.eq_ignore_ascii_case("null"))
}

/// The type a schema without `type` evidently has.
fn infer_type(obj: &Map<String, Value>) -> Option<String> {
    let t = if obj.contains_key("properties") {
        "object"
    } else if obj.contains_key("items") {
        "array"
    } else if let Some(values) = obj
        .get("enum")
        .and_then(Value::as_array)
        .cloned()
        .or_else(|| obj.get("const").map(|c| vec![c.clone()]))
    {
        let non_null = || values.iter().filter(|v| !v.is_null());
        if non_null().all(Value::is_boolean) && non_null().next().is_some() {
            "boolean"
        } else if non_null().all(|v| v.is_i64() || v.is_u64()) && non_null().next().is_some() {
            "integer"
        } else if non_null().all(Value::is_number) && non_null().next().is_some() {
            "number"
        } else {
            "string"
        }
    } else if ["minLength", "maxLength", "pattern"]
        .iter()
        .any(|k| obj.contains_key(*k))
    {
        "string"
    } else if ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]
        .iter()
        .any(|k| obj.contains_key(*k))
    {
        "number"
    } else {
        return None;
    };
    Some(t.to_owned())
}

/// `title`, `description`, `default`, `example`: accepted on every type.
fn copy_annotations(from: &Map<String, Value>, to: &mut Map<String, Value>) {
    for k in ["title", "description"] {
        if let Some(v @ Value::String(_)) = from.get(k) {
            to.insert(k.into(), v.clone());
        }
    }
    for k in ["default", "example"] {
        if let Some(v) = from.get(k) {
            to.insert(k.into(), v.clone());
        }
    }
}

fn copy_counts(from: &Map<String, Value>, to: &mut Map<String, Value>, keys: &[&str]) {
    for k in keys {
        if let Some(n) = from.get(*k).and_then(Value::as_u64) {
            to.insert((*k).into(), Value::from(n));
        }
    }
}

/// Gemini's `enum` is string-only; for numbers and booleans a stringified
/// enum would make the model answer `"1"` where the client's own schema
/// check wants `1`, so the allowed values move into the description instead.
fn hint_allowed_values(out: &mut Map<String, Value>, values: &[Value]) {
    let list: Vec<String> = values.iter().map(Value::to_string).collect();
    let hint = format!("Allowed values: {}.", list.join(", "));
    let text = match out.get("description").and_then(Value::as_str) {
        Some(d) if !d.is_empty() => format!("{d} ({hint})"),
        _ => hint,
    };
    out.insert("description".into(), Value::String(text));
}

/// `minimum` or `maximum`, folding in the exclusive form (numeric in draft 6+,
/// boolean in draft 4). For integers an exclusive bound moves by one; for
/// numbers it becomes inclusive (the nearest Gemini can say).
fn bound(
    obj: &Map<String, Value>,
    inclusive: &str,
    exclusive: &str,
    integer: bool,
    lower: bool,
) -> Option<Value> {
    let inc = obj.get(inclusive).filter(|v| v.is_number());
    let step = |n: &Number| -> Value {
        match (integer, n.as_i64()) {
            (true, Some(i)) => Value::from(if lower {
                i.saturating_add(1)
            } else {
                i.saturating_sub(1)
            }),
            _ => Value::Number(n.clone()),
        }
    };
    let exc = match obj.get(exclusive) {
        Some(Value::Number(n)) => Some(step(n)),
        Some(Value::Bool(true)) => match inc {
            Some(Value::Number(n)) => Some(step(n)),
            _ => None,
        },
        _ => None,
    };
    match (inc.cloned(), exc) {
        (Some(a), Some(b)) => {
            let (fa, fb) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            let tighter_b = if lower { fb >= fa } else { fb <= fa };
            Some(if tighter_b { b } else { a })
        }
        (a, b) => b.or(a),
    }
}

/// Merges an `allOf` member into `into`: properties and `required` are
/// unions, other keys keep the first value seen (the outer schema wins).
fn merge_schema(into: &mut Map<String, Value>, sub: Map<String, Value>) {
    for (k, v) in sub {
        match (k.as_str(), into.get_mut(&k), v) {
            ("properties", Some(Value::Object(mine)), Value::Object(theirs)) => {
                for (name, s) in theirs {
                    mine.entry(name).or_insert(s);
                }
            }
            ("required", Some(Value::Array(mine)), Value::Array(theirs)) => {
                for r in theirs {
                    if !mine.contains(&r) {
                        mine.push(r);
                    }
                }
            }
            // A nested `allOf` is resolved on the next pass.
            ("allOf", Some(Value::Array(mine)), Value::Array(theirs)) => mine.extend(theirs),
            (_, Some(_), _) => {}
            (_, None, v) => {
                into.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;
