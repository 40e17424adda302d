use serde_json::{json, Value};

use super::clean_schema;

/// Cleans `{type: object, properties: {p: schema}}` and returns the cleaned `p`.
fn prop(schema: Value) -> Value {
    let root = json!({"type": "object", "properties": {"p": schema}});
    clean_schema(&root).unwrap()["properties"]["p"].clone()
}

#[test]
fn drops_meta_keywords_and_additional_properties() {
    let out = clean_schema(&json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "x", "$comment": "c",
        "type": "object",
        "properties": {"a": {"type": "string", "additionalProperties": false}},
        "additionalProperties": false
    }))
    .unwrap();
    assert_eq!(
        out,
        json!({"type": "object", "properties": {"a": {"type": "string"}}})
    );
}

#[test]
fn exclusive_bounds_become_inclusive() {
    assert_eq!(
        prop(json!({"type": "integer", "exclusiveMinimum": 0, "maximum": 9007199254740991_i64})),
        json!({"type": "integer", "minimum": 1, "maximum": 9007199254740991_i64})
    );
    assert_eq!(
        prop(json!({"type": "integer", "exclusiveMaximum": 10, "maximum": 20})),
        json!({"type": "integer", "maximum": 9})
    );
    assert_eq!(
        prop(json!({"type": "number", "exclusiveMinimum": 0.5})),
        json!({"type": "number", "minimum": 0.5})
    );
    // Draft-4 boolean form.
    assert_eq!(
        prop(json!({"type": "integer", "minimum": 3, "exclusiveMinimum": true})),
        json!({"type": "integer", "minimum": 4})
    );
    // The tighter of both bounds wins.
    assert_eq!(
        prop(json!({"type": "integer", "minimum": 5, "exclusiveMinimum": 1})),
        json!({"type": "integer", "minimum": 5})
    );
}

#[test]
fn const_and_enum_become_string_enums() {
    assert_eq!(
        prop(json!({"const": "insert"})),
        json!({"type": "string", "enum": ["insert"]})
    );
    assert_eq!(
        prop(json!({"type": "string", "enum": ["a", 1, true, null]})),
        json!({"type": "string", "enum": ["a", "1", "true"], "nullable": true})
    );
    assert_eq!(
        prop(json!({"enum": ["x", 2]})),
        json!({"type": "string", "enum": ["x", "2"]})
    );
    // Non-string enums: Gemini's enum is string-only, so the values move to
    // the description and the real type stays.
    assert_eq!(
        prop(json!({"type": "integer", "enum": [1, 2], "description": "n"})),
        json!({"type": "integer", "description": "n (Allowed values: 1, 2.)"})
    );
    assert_eq!(
        prop(json!({"enum": [1, 2]})),
        json!({"type": "integer", "description": "Allowed values: 1, 2."})
    );
}

#[test]
fn one_of_becomes_any_of_and_null_variants_become_nullable() {
    assert_eq!(
        prop(json!({"oneOf": [{"type": "string"}, {"type": "integer"}], "description": "d"})),
        json!({"description": "d", "anyOf": [{"type": "string"}, {"type": "integer"}]})
    );
    assert_eq!(
        prop(
            json!({"anyOf": [{"type": "string", "format": "uri"}, {"type": "null"}], "description": "d"})
        ),
        json!({"type": "string", "description": "d", "nullable": true})
    );
}

#[test]
fn all_of_is_merged() {
    assert_eq!(
        prop(
            json!({"type": "string", "allOf": [{"pattern": "^a"}, {"pattern": "^b", "maxLength": 3}]})
        ),
        json!({"type": "string", "pattern": "^a", "maxLength": 3})
    );
    assert_eq!(
        prop(json!({"allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "number"}}, "required": ["b"]}
        ]})),
        json!({"type": "object", "required": ["a", "b"],
               "properties": {"a": {"type": "string"}, "b": {"type": "number"}}})
    );
}

#[test]
fn unsupported_keywords_are_dropped() {
    let out = prop(json!({
        "type": "array", "items": {"type": "number", "multipleOf": 2},
        "uniqueItems": true, "contains": {"type": "number"}, "prefixItems": [],
        "examples": [[1]], "readOnly": true, "writeOnly": false, "deprecated": true,
        "not": {"type": "string"}, "if": {}, "then": {}, "else": {}, "minItems": 1
    }));
    assert_eq!(
        out,
        json!({"type": "array", "items": {"type": "number"}, "minItems": 1})
    );
    let out = prop(json!({
        "type": "object", "properties": {"k": {"type": "string", "contentEncoding": "base64",
                                                "contentMediaType": "image/png"}},
        "dependentSchemas": {}, "patternProperties": {"^x": {}}, "propertyNames": {"maxLength": 3},
        "unevaluatedProperties": false, "minProperties": 1
    }));
    assert_eq!(
        out,
        json!({"type": "object", "minProperties": 1, "properties": {"k": {"type": "string"}}})
    );
}

#[test]
fn string_formats_other_than_enum_and_date_time_are_dropped() {
    assert_eq!(
        prop(json!({"type": "string", "format": "uri"})),
        json!({"type": "string"})
    );
    assert_eq!(
        prop(json!({"type": "string", "format": "email"})),
        json!({"type": "string"})
    );
    assert_eq!(
        prop(json!({"type": "string", "format": "date-time"})),
        json!({"type": "string", "format": "date-time"})
    );
    assert_eq!(
        prop(json!({"type": "integer", "format": "int64"})),
        json!({"type": "integer", "format": "int64"})
    );
    assert_eq!(
        prop(json!({"type": "number", "format": "int64"})),
        json!({"type": "number"})
    );
}

#[test]
fn type_arrays_become_nullable_or_any_of() {
    assert_eq!(
        prop(json!({"type": ["string", "null"]})),
        json!({"type": "string", "nullable": true})
    );
    assert_eq!(
        prop(json!({"type": ["string", "integer"], "description": "d", "minimum": 1})),
        json!({"description": "d", "anyOf": [{"type": "string"}, {"type": "integer", "minimum": 1}]})
    );
    assert_eq!(
        prop(json!({"type": "null"})),
        json!({"type": "string", "nullable": true})
    );
}

#[test]
fn refs_and_defs_are_inlined_with_a_recursion_guard() {
    let out = clean_schema(&json!({
        "type": "object",
        "$defs": {"Point": {"type": "object", "properties": {"x": {"type": "number"}}}},
        "definitions": {"Name": {"type": "string", "minLength": 1}},
        "properties": {
            "p": {"$ref": "#/$defs/Point", "description": "where"},
            "n": {"$ref": "#/definitions/Name"},
            "missing": {"$ref": "#/$defs/Nope"},
            "remote": {"$ref": "https://example.com/s.json"}
        }
    }))
    .unwrap();
    assert_eq!(
        out["properties"]["p"],
        json!({"type": "object", "description": "where", "properties": {"x": {"type": "number"}}})
    );
    assert_eq!(
        out["properties"]["n"],
        json!({"type": "string", "minLength": 1})
    );
    assert!(out["properties"]["missing"]["anyOf"].is_array());
    assert!(out["properties"]["remote"]["anyOf"].is_array());
    assert!(out.get("$defs").is_none() && out.get("definitions").is_none());

    // A tree: node.children[] is a node.
    let tree = clean_schema(&json!({
        "type": "object",
        "properties": {"root": {"$ref": "#/$defs/Node"}},
        "$defs": {"Node": {"type": "object", "properties": {
            "name": {"type": "string"},
            "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}
        }}}
    }))
    .unwrap();
    let node = &tree["properties"]["root"];
    assert_eq!(node["properties"]["name"], json!({"type": "string"}));
    assert!(node["properties"]["children"]["items"]["anyOf"].is_array());
    // Self reference to the root.
    assert!(
        clean_schema(&json!({"type": "object", "properties": {"me": {"$ref": "#"}}})).is_some()
    );
}

#[test]
fn empty_root_properties_mean_no_parameters() {
    assert_eq!(
        clean_schema(&json!({"type": "object", "properties": {}})),
        None
    );
    assert_eq!(clean_schema(&json!({"type": "object"})), None);
    assert_eq!(clean_schema(&json!({})), None);
    assert_eq!(clean_schema(&json!(true)), None);
    assert_eq!(
        clean_schema(
            &json!({"$schema": "x", "type": "object", "properties": {}, "additionalProperties": false})
        ),
        None
    );
    // Nested empty objects keep their type but lose `properties`.
    assert_eq!(
        prop(json!({"type": "object", "properties": {}})),
        json!({"type": "object"})
    );
}

#[test]
fn root_type_is_forced_to_object() {
    let out =
        clean_schema(&json!({"properties": {"a": {"type": "string"}}, "required": ["a", "ghost"]}))
            .unwrap();
    assert_eq!(
        out,
        json!({"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}})
    );
    let out =
        clean_schema(&json!({"type": ["object", "null"], "properties": {"a": {"type": "string"}}}))
            .unwrap();
    assert_eq!(out["type"], "object");
    assert!(out.get("nullable").is_none());
    let out = clean_schema(&json!({"anyOf": [
        {"type": "object", "properties": {"a": {"type": "string"}}},
        {"type": "object", "properties": {"b": {"type": "string"}}}
    ]}))
    .unwrap();
    assert_eq!(
        out["properties"],
        json!({"a": {"type": "string"}, "b": {"type": "string"}})
    );
}

#[test]
fn untyped_properties_get_a_permissive_union() {
    let out = prop(json!({"description": "anything"}));
    assert_eq!(out["description"], "anything");
    assert!(out.get("type").is_none());
    let kinds: Vec<&str> = out["anyOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["string", "number", "boolean", "object", "array"]);
    // Shape implies the type.
    assert_eq!(prop(json!({"items": {"type": "string"}}))["type"], "array");
    assert_eq!(
        prop(json!({"properties": {"a": {"type": "string"}}}))["type"],
        "object"
    );
    assert_eq!(prop(json!({"maxLength": 3}))["type"], "string");
}

#[test]
fn keywords_only_appear_on_types_they_fit() {
    // `properties` only on objects, `enum`/`pattern` only on strings, arrays
    // always have `items`.
    assert_eq!(
        prop(json!({"type": "string", "properties": {"a": {}}, "items": {}, "minimum": 1})),
        json!({"type": "string"})
    );
    assert_eq!(
        prop(json!({"type": "array"})),
        json!({"type": "array", "items": prop(json!({}))})
    );
    assert_eq!(
        prop(json!({"type": "array", "items": [{"type": "string"}, {"type": "number"}]})),
        json!({"type": "array", "items": {"type": "string"}})
    );
}

#[test]
fn accepted_keywords_survive() {
    let schema = json!({
        "type": "object", "title": "T", "description": "D",
        "properties": {
            "s": {"type": "string", "minLength": 1, "maxLength": 9, "pattern": "^a", "default": "a",
                  "example": "ab", "enum": ["a", "ab"], "title": "S"},
            "n": {"type": "number", "minimum": 0, "maximum": 1, "nullable": true},
            "a": {"type": "array", "items": {"type": "boolean"}, "minItems": 1, "maxItems": 2},
            "o": {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"],
                  "minProperties": 1, "maxProperties": 1, "propertyOrdering": ["x", "ghost"]}
        },
        "required": ["s"],
        "propertyOrdering": ["s", "n", "a", "o"]
    });
    let out = clean_schema(&schema).unwrap();
    let mut expected = schema.clone();
    expected["properties"]["o"]["propertyOrdering"] = json!(["x"]);
    assert_eq!(out, expected);
}

#[test]
fn definitions_and_type_lists_that_multiply_stay_linear() {
    // Found by tests/fuzz: each definition refers to the next from four
    // properties, so inlining multiplied the schema by four per level (a
    // 1 KB schema became 2 MB at eight levels, gigabytes at twelve); a type
    // list of four copies a schema four times per level the same way. (Deep
    // enough to fail quickly without the budget, not to exhaust memory.)
    let mut defs = serde_json::Map::new();
    for i in 0..8 {
        let next = json!({"$ref": format!("#/$defs/d{}", i + 1)});
        defs.insert(
            format!("d{i}"),
            json!({"type": "object", "properties": {"a": next, "b": next, "c": next, "d": next}}),
        );
    }
    defs.insert("d8".into(), json!({"type": "string"}));
    let chain =
        json!({"type": "object", "properties": {"x": {"$ref": "#/$defs/d0"}}, "$defs": defs});
    let mut lists = json!({"type": "string"});
    for _ in 0..9 {
        lists =
            json!({"type": ["object", "object", "object", "object"], "properties": {"a": lists}});
    }
    for schema in [chain, lists] {
        let out = clean_schema(&schema).unwrap();
        let (input, output) = (schema.to_string().len(), out.to_string().len());
        assert!(
            output <= 32 * input + 1024 * 1024,
            "{input} bytes cleaned to {output}"
        );
    }
}

#[test]
fn definitions_used_several_times_are_inlined_everywhere() {
    let out = clean_schema(&json!({
        "type": "object",
        "$defs": {"Addr": {"type": "object", "properties": {"city": {"type": "string"}}}},
        "properties": {
            "home": {"$ref": "#/$defs/Addr"},
            "work": {"$ref": "#/$defs/Addr"},
            "billing": {"$ref": "#/$defs/Addr"}
        }
    }))
    .unwrap();
    for p in ["home", "work", "billing"] {
        assert_eq!(
            out["properties"][p]["properties"]["city"]["type"], "string",
            "{p}"
        );
    }
}
