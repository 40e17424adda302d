//! Target group 1: client requests. Arbitrary JSON, arbitrary bytes and
//! mutated near-valid bodies are parsed as `MessagesRequest` and
//! `CountTokensRequest`; whatever parses is translated to OpenAI and Gemini
//! and serialized, rewritten for the Claude pass-through, and counted.
//!
//! Invariants: no panic; every translation serializes to a JSON object of
//! at most a linear function of the input's size; a pass-through rewrite
//! is valid JSON that still parses as the same kind of request, with the
//! requested change made.

use claude_proxy::protocol::anthropic::{CountTokensRequest, ImageSource, MessagesRequest};
use claude_proxy::translate::anthropic::{
    has_openai_tools, has_synthetic_thinking, rewrite_body, Rewrite,
};
use claude_proxy::translate::gemini::{to_gemini_request, GeminiRequestOptions, ToolNameMap};
use claude_proxy::translate::openai::{to_openai_request, MaxTokensField, OpenAiRequestOptions};
use claude_proxy::translate::synthetic_signature;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;
use serde_json::{json, Value};

use crate::gen::{
    bytes, fixed, json, json_leaf, json_object, member, mutate, mutation, object, text,
};
use crate::harness::{check, fuzz};

/// Translated requests may grow by this factor over the client's body
/// (plus [`GROWTH_SLACK`] bytes): per-block framing, the few fixed texts the
/// translators add, and re-escaping. Anything beyond is amplification.
pub const GROWTH_FACTOR: usize = 8;
pub const GROWTH_SLACK: usize = 16 * 1024;

fn tool_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(vec!["Read", "Bash", "get_weather", "mcp__srv__tool", "a.b:c-d", "_x"])
            .prop_map(str::to_owned),
        1 => select(vec!["1bad name", "", "naïve", "名前", "a/b"]).prop_map(str::to_owned),
        1 => Just("x".repeat(130)),
        1 => text(10),
    ]
}

fn tool_id() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(vec!["toolu_01", "call_abc", "functions.Read:0", "toolu_X01"]).prop_map(str::to_owned),
        1 => text(8),
    ]
}

fn signature() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => text(12),
        2 => text(12).prop_map(|p| synthetic_signature("gemini", &p)),
        1 => Just(synthetic_signature("openai", "")),
        1 => Just(synthetic_signature("gemini", "")),
    ]
}

/// Base64 image data: real headers of every format the token counter reads,
/// cut short, or junk.
fn image_data() -> impl Strategy<Value = String> {
    use base64::Engine;
    let headers: Vec<&'static [u8]> = vec![
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x01\0\0\0\x02\0",
        b"GIF89a\x10\x00\x20\x00",
        b"RIFF\0\0\0\0WEBPVP8X\0\0\0\0\0\0\0\0\x10\0\0\x20\0\0",
        b"RIFF\0\0\0\0WEBPVP8L\0\0\0\0\x2f\xff\xff\xff\xff",
        b"RIFF\0\0\0\0WEBPVP8 \0\0\0\0\0\0\0\x9d\x01\x2a\x10\0\x20\0",
        b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0\xff\xc0\0\x11\x08\x01\0\x02\0",
        b"\xff\xd8\xff\xff\xff\xe1\0\x02\xff\xc2\0\x11\x08\xff\xff\xff\xff",
        b"\xff\xd8\xff\x01\xff\xd0\xff\xda",
    ];
    prop_oneof![
        3 => (select(headers), bytes(24), any::<proptest::sample::Index>()).prop_map(|(h, tail, cut)| {
            let mut b = h.to_vec();
            b.extend(tail);
            let at = cut.index(b.len() + 1);
            b.truncate(at);
            base64::engine::general_purpose::STANDARD.encode(b)
        }),
        1 => text(16),
    ]
}

fn media_type() -> impl Strategy<Value = Value> {
    select(vec![
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
        "text/plain",
        "",
    ])
    .prop_map(Value::from)
}

fn image_source() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => (media_type(), image_data())
            .prop_map(|(m, d)| json!({"type": "base64", "media_type": m, "data": d})),
        1 => text(20).prop_map(|u| json!({"type": "url", "url": u})),
        1 => text(8).prop_map(|f| json!({"type": "file", "file_id": f})),
    ]
    .boxed()
}

fn document_source() -> BoxedStrategy<Value> {
    prop_oneof![
        image_source(),
        text(40).prop_map(|d| json!({"type": "text", "media_type": "text/plain", "data": d})),
        json(2, 6).prop_map(|c| json!({"type": "content", "content": c})),
    ]
    .boxed()
}

fn cache_control() -> BoxedStrategy<Option<(String, Value)>> {
    member("cache_control", 0.2, Just(json!({"type": "ephemeral"})))
}

fn text_block() -> BoxedStrategy<Value> {
    object(vec![
        fixed("type", Just(json!("text"))),
        member("text", 0.95, text(40).prop_map(Value::from)),
        cache_control(),
    ])
}

/// Blocks a `tool_result` may hold.
fn result_block() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => text_block(),
        1 => image_source().prop_map(|s| json!({"type": "image", "source": s})),
        1 => document_source().prop_map(|s| json!({"type": "document", "source": s})),
    ]
    .boxed()
}

fn block() -> BoxedStrategy<Value> {
    prop_oneof![
        6 => text_block(),
        1 => object(vec![
            fixed("type", Just(json!("image"))),
            member("source", 0.95, image_source()),
        ]),
        1 => object(vec![
            fixed("type", Just(json!("document"))),
            member("source", 0.95, document_source()),
            member("title", 0.5, text(10).prop_map(Value::from)),
        ]),
        3 => object(vec![
            fixed("type", Just(json!("tool_use"))),
            member("id", 0.95, tool_id().prop_map(Value::from)),
            member("name", 0.95, tool_name().prop_map(Value::from)),
            member("input", 0.9, json_object(2, 8)),
        ]),
        3 => object(vec![
            fixed("type", Just(json!("tool_result"))),
            member("tool_use_id", 0.95, tool_id().prop_map(Value::from)),
            member("content", 0.8, prop_oneof![
                text(40).prop_map(Value::from),
                proptest::collection::vec(result_block(), 0..3).prop_map(Value::Array),
            ]),
            member("is_error", 0.3, any::<bool>().prop_map(Value::from)),
            cache_control(),
        ]),
        2 => object(vec![
            fixed("type", Just(json!("thinking"))),
            member("thinking", 0.9, text(30).prop_map(Value::from)),
            member("signature", 0.9, signature().prop_map(Value::from)),
        ]),
        1 => object(vec![
            fixed("type", Just(json!("redacted_thinking"))),
            member("data", 0.9, text(20).prop_map(Value::from)),
        ]),
        1 => object(vec![
            fixed("type", Just(json!("tool_reference"))),
            member("tool_name", 0.9, tool_name().prop_map(Value::from)),
        ]),
        1 => object(vec![
            fixed("type", select(vec!["search_result", "server_tool_use", "web_search_tool_result", "mid_conv_system"]).prop_map(Value::from)),
            member("text", 0.3, text(20).prop_map(Value::from)),
            member("content", 0.5, proptest::collection::vec(text_block(), 0..3).prop_map(Value::Array)),
            member("id", 0.3, tool_id().prop_map(Value::from)),
            member("input", 0.3, json_object(1, 4)),
        ]),
        1 => json_object(2, 8).prop_map(|mut o| {
            if let Some(m) = o.as_object_mut() {
                m.entry("type").or_insert_with(|| json!("made_up"));
            }
            o
        }),
    ]
    .boxed()
}

fn content() -> BoxedStrategy<Value> {
    prop_oneof![
        2 => text(60).prop_map(Value::from),
        5 => proptest::collection::vec(block(), 0..5).prop_map(Value::Array),
        1 => Just(Value::Null),
    ]
    .boxed()
}

fn message() -> BoxedStrategy<Value> {
    object(vec![
        member(
            "role",
            0.97,
            select(vec!["user", "assistant", "system", "tool", "User"]).prop_map(Value::from),
        ),
        member("content", 0.97, content()),
    ])
}

/// JSON Schemas: every keyword the Gemini cleaner reads, `$ref`s to
/// `$defs`, unions, type lists, and arbitrary values.
pub fn schema() -> BoxedStrategy<Value> {
    let types = || {
        select(vec![
            "object", "string", "number", "integer", "boolean", "array", "null", "Any", "STRING",
        ])
    };
    let leaf = prop_oneof![
        3 => types().prop_map(|t| json!({"type": t})),
        1 => proptest::collection::vec(types(), 0..4).prop_map(|t| json!({"type": t})),
        1 => select(vec!["#", "#/$defs/A", "#/$defs/B", "#/definitions/C", "#/properties/p", "http://x", "#/nope"])
            .prop_map(|r| json!({"$ref": r})),
        1 => proptest::collection::vec(json_leaf(), 0..4).prop_map(|e| json!({"enum": e})),
        1 => json_leaf().prop_map(|c| json!({"const": c})),
        1 => (json_leaf(), json_leaf(), any::<bool>()).prop_map(|(a, b, x)| {
            json!({"type": "integer", "minimum": a, "exclusiveMaximum": if x { b } else { json!(true) }, "maximum": 10})
        }),
        1 => (text(10), json_leaf()).prop_map(|(d, e)| {
            json!({"type": "string", "description": d, "default": e, "format": "date-time", "minLength": 1, "pattern": "^a"})
        }),
        1 => Just(json!(true)),
        1 => json(2, 6),
    ];
    let node = leaf.prop_recursive(4, 24, 4, |inner| {
        let props = proptest::collection::vec((select(vec!["p", "q", "r", "名", ""]).prop_map(str::to_owned), inner.clone()), 0..4);
        prop_oneof![
            3 => (props, proptest::collection::vec(select(vec!["p", "q", "z"]), 0..3), any::<bool>())
                .prop_map(|(p, req, typed)| {
                    let mut o = json!({"properties": p.into_iter().collect::<serde_json::Map<_, _>>(), "required": req});
                    if typed {
                        o["type"] = json!("object");
                    }
                    o
                }),
            1 => inner.clone().prop_map(|i| json!({"type": "array", "items": i, "minItems": 1})),
            1 => proptest::collection::vec(inner.clone(), 1..3).prop_map(|v| json!({"items": v})),
            1 => proptest::collection::vec(inner.clone(), 0..4).prop_map(|v| json!({"anyOf": v})),
            1 => proptest::collection::vec(inner.clone(), 0..3).prop_map(|v| json!({"oneOf": v, "description": "u"})),
            1 => proptest::collection::vec(inner.clone(), 0..3).prop_map(|v| json!({"allOf": v})),
            1 => (inner.clone(), inner).prop_map(|(a, b)| json!({"type": "object", "$defs": {"A": a, "B": b}, "properties": {"p": {"$ref": "#/$defs/A"}}})),
        ]
    });
    (
        node,
        proptest::option::of((schema_defs_leaf(), schema_defs_leaf())),
    )
        .prop_map(|(mut root, defs)| {
            if let (Some((a, b)), Some(obj)) = (defs, root.as_object_mut()) {
                obj.insert("$defs".into(), json!({"A": a, "B": b}));
                obj.insert("definitions".into(), json!({"C": {"$ref": "#/$defs/A"}}));
            }
            root
        })
        .boxed()
}

fn schema_defs_leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(json!({"type": "object", "properties": {"a": {"$ref": "#/$defs/B"}, "b": {"type": "string"}}})),
        Just(json!({"type": "object", "properties": {"again": {"$ref": "#/$defs/A"}}})),
        Just(json!({"anyOf": [{"$ref": "#/$defs/A"}, {"type": "null"}]})),
        Just(json!({"$ref": "#/$defs/B"})),
        Just(json!({"type": ["string", "integer", "null"], "enum": ["a", 1, null]})),
        json(2, 6),
    ]
    .boxed()
}

fn tool() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => object(vec![
            member("name", 0.97, tool_name().prop_map(Value::from)),
            member("description", 0.7, text(40).prop_map(Value::from)),
            member("input_schema", 0.9, schema()),
            cache_control(),
        ]),
        1 => object(vec![
            fixed("type", select(vec!["web_search_20250305", "custom", "bash_20250124", "text_editor_20250728"]).prop_map(Value::from)),
            member("name", 0.9, tool_name().prop_map(Value::from)),
            member("max_uses", 0.3, (0u64..10).prop_map(Value::from)),
        ]),
        2 => object(vec![
            member("type", 0.9, Just(json!("function"))),
            fixed("function", object(vec![
                member("name", 0.97, tool_name().prop_map(Value::from)),
                member("description", 0.6, prop_oneof![text(30).prop_map(Value::from), Just(Value::Null)]),
                member("parameters", 0.8, schema()),
            ])),
        ]),
    ]
    .boxed()
}

fn tool_choice() -> BoxedStrategy<Value> {
    prop_oneof![
        (
            select(vec!["auto", "any", "none"]),
            proptest::option::of(any::<bool>())
        )
            .prop_map(|(t, d)| {
                let mut o = json!({"type": t});
                if let Some(d) = d {
                    o["disable_parallel_tool_use"] = json!(d);
                }
                o
            }),
        (tool_name(), any::<bool>())
            .prop_map(|(n, d)| json!({"type": "tool", "name": n, "disable_parallel_tool_use": d})),
    ]
    .boxed()
}

fn thinking() -> BoxedStrategy<Value> {
    prop_oneof![
        prop_oneof![Just(0u64), 1u64..40_000, any::<u64>()]
            .prop_map(|b| json!({"type": "enabled", "budget_tokens": b})),
        Just(json!({"type": "enabled"})),
        Just(json!({"type": "adaptive"})),
        Just(json!({"type": "disabled"})),
    ]
    .boxed()
}

fn stop_sequences() -> BoxedStrategy<Value> {
    proptest::collection::vec(
        prop_oneof![
            select(vec!["END", "\n\nHuman:", "", "日本"]).prop_map(str::to_owned),
            text(6)
        ],
        0..7,
    )
    .prop_map(|v| json!(v))
    .boxed()
}

fn number() -> BoxedStrategy<Value> {
    prop_oneof![
        (0.0f64..2.0).prop_map(Value::from),
        Just(json!(-1.5)),
        Just(json!(1e308)),
        (0u64..100).prop_map(Value::from),
    ]
    .boxed()
}

/// An Anthropic Messages request body, plausible but with any field now and
/// then missing or of the wrong type.
pub fn request() -> BoxedStrategy<Value> {
    object(vec![
        member(
            "model",
            0.97,
            prop_oneof![
                select(vec![
                    "claude-sonnet-4-5",
                    "gpt-4o",
                    "gemini-2.5-flash",
                    "gemini-3-pro-preview",
                    ""
                ])
                .prop_map(Value::from),
                text(12).prop_map(Value::from),
            ],
        ),
        member(
            "max_tokens",
            0.97,
            prop_oneof![
                (1u64..70_000).prop_map(Value::from),
                Just(json!(0)),
                any::<u64>().prop_map(Value::from)
            ],
        ),
        member(
            "messages",
            0.97,
            proptest::collection::vec(message(), 0..6).prop_map(Value::Array),
        ),
        member(
            "system",
            0.4,
            prop_oneof![
                text(40).prop_map(Value::from),
                proptest::collection::vec(block(), 0..3).prop_map(Value::Array),
            ],
        ),
        member(
            "tools",
            0.5,
            proptest::collection::vec(tool(), 0..4).prop_map(Value::Array),
        ),
        member("tool_choice", 0.3, tool_choice()),
        member("thinking", 0.3, thinking()),
        member("stop_sequences", 0.3, stop_sequences()),
        member("stream", 0.5, any::<bool>().prop_map(Value::from)),
        member("temperature", 0.3, number()),
        member("top_p", 0.2, number()),
        member("top_k", 0.2, (0u64..500).prop_map(Value::from)),
        member(
            "metadata",
            0.2,
            text(80).prop_map(|u| json!({"user_id": u})),
        ),
        member(
            "output_config",
            0.2,
            select(vec!["low", "medium", "high", "xhigh", "max", "?"])
                .prop_map(|e| json!({"effort": e})),
        ),
        member("context_management", 0.1, json_object(2, 6)),
        member("service_tier", 0.1, Just(json!("auto"))),
    ])
}

/// Everything the proxy does with a parsed create request, checked.
fn exercise_request(body: &[u8], req: &MessagesRequest) -> Result<(), String> {
    let bound = GROWTH_FACTOR * body.len() + GROWTH_SLACK;
    let _ = req.is_stream();
    // Every renamed tool maps back to its own name.
    let names = ToolNameMap::from_request(req);
    let mut seen = Vec::new();
    for t in req.tools.iter().flatten().filter_map(|t| t.spec()) {
        let sanitized = claude_proxy::translate::gemini::sanitize_tool_name(t.name);
        if !seen.contains(&sanitized) && sanitized != t.name && names.original(&sanitized) != t.name
        {
            return Err(format!(
                "tool {:?} came back as {:?}",
                t.name,
                names.original(&sanitized)
            ));
        }
        seen.push(sanitized);
    }
    for (model, field, cap, stream) in [
        ("gpt-4o", MaxTokensField::MaxTokens, None, true),
        ("o3", MaxTokensField::MaxCompletionTokens, Some(1000), false),
    ] {
        let opts = OpenAiRequestOptions {
            model,
            max_tokens_field: field,
            max_tokens_cap: cap,
            stream,
        };
        let out = serde_json::to_vec(&to_openai_request(req, &opts))
            .map_err(|e| format!("OpenAI request does not serialize: {e}"))?;
        let v: Value =
            serde_json::from_slice(&out).map_err(|e| format!("OpenAI request is not JSON: {e}"))?;
        if v["model"] != model || !v["messages"].is_array() {
            return Err(format!("OpenAI request shape: {v}"));
        }
        if out.len() > bound {
            return Err(format!(
                "OpenAI request of {} bytes from a {}-byte body",
                out.len(),
                body.len()
            ));
        }
    }
    for (model, cap) in [
        ("gemini-2.5-flash", None),
        ("gemini-3-pro-preview", Some(8192)),
    ] {
        let opts = GeminiRequestOptions {
            max_tokens_cap: cap,
            model,
        };
        let out = serde_json::to_vec(&to_gemini_request(req, &opts))
            .map_err(|e| format!("Gemini request does not serialize: {e}"))?;
        let v: Value =
            serde_json::from_slice(&out).map_err(|e| format!("Gemini request is not JSON: {e}"))?;
        if !v["contents"].is_array() || !v["generationConfig"].is_object() {
            return Err(format!("Gemini request shape: {v}"));
        }
        if out.len() > bound {
            return Err(format!(
                "Gemini request of {} bytes from a {}-byte body",
                out.len(),
                body.len()
            ));
        }
    }
    Ok(())
}

/// What a rewrite may do with `body`: it must succeed on a JSON object, and
/// its output must be as valid as its input. serde's typed parse skips
/// fields it ignores without checking their strings (invalid UTF-8, lone
/// surrogates) or number ranges, and accepts a struct written as an array,
/// so a body may parse as a request and still not be strict JSON; such a
/// body may fail to rewrite (the client gets a 400) or keep its flaw.
fn check_rewritten(body: &[u8], rewrite: Rewrite<'_>) -> Result<Option<(Value, Vec<u8>)>, String> {
    let strict = serde_json::from_slice::<Value>(body).ok();
    let out = match (rewrite_body(body, rewrite), &strict) {
        (Ok(Some(out)), _) => out,
        (Ok(None), _) => return Err("a rewrite that changes something produced nothing".into()),
        (Err(e), Some(Value::Object(_))) => {
            return Err(format!("rewrite of a JSON object failed: {e}"))
        }
        (Err(_), _) => return Ok(None),
    };
    match strict {
        Some(_) => serde_json::from_slice::<Value>(&out)
            .map(|v| Some((v, out)))
            .map_err(|e| format!("rewrite of a JSON body is not JSON: {e}")),
        None => serde_json::from_slice::<serde::de::IgnoredAny>(&out)
            .map(|_| None)
            .map_err(|e| format!("rewrite is not even lax JSON: {e}")),
    }
}

/// The pass-through rewrite of a body that parsed as `T`.
fn exercise_rewrite<T: serde::de::DeserializeOwned>(
    body: &[u8],
    synthetic: bool,
    openai_tools: bool,
    reparse: impl Fn(&T) -> (bool, bool),
) -> Result<(), String> {
    if rewrite_body(body, Rewrite::default()) != Ok(None) {
        return Err("a rewrite that changes nothing produced a body".into());
    }
    for (model, strip, convert) in [
        (Some("claude-y\"é"), false, false),
        (None, synthetic, openai_tools),
        (Some("m"), true, true),
    ] {
        if model.is_none() && !strip && !convert {
            continue;
        }
        let cap = strip.then_some(2000);
        let rewrite = Rewrite {
            model,
            strip_synthetic: strip,
            convert_tools: convert,
            max_tokens: cap,
        };
        let Some((v, out)) = check_rewritten(body, rewrite)? else {
            continue;
        };
        if let Some(m) = model {
            if v["model"] != m {
                return Err(format!("rewrite kept model {}", v["model"]));
            }
        }
        if let (Some(cap), Some(budget)) = (cap, v["thinking"]["budget_tokens"].as_u64()) {
            if budget >= cap {
                return Err(format!(
                    "a thinking budget of {budget} with max_tokens {cap}"
                ));
            }
        }
        let again: T = serde_json::from_slice(&out)
            .map_err(|e| format!("rewritten body no longer parses: {e}"))?;
        let (still_synthetic, still_openai) = reparse(&again);
        if strip && still_synthetic {
            return Err("synthetic thinking survived the rewrite".into());
        }
        if convert && still_openai {
            return Err("OpenAI-form tools survived the rewrite".into());
        }
    }
    Ok(())
}

/// One client body, whatever it is (failures quote it).
pub fn exercise_body(body: &[u8]) -> Result<(), TestCaseError> {
    exercise(body).map_err(|e| match e {
        TestCaseError::Fail(why) => {
            TestCaseError::fail(format!("{why}\nbody: {:?}", String::from_utf8_lossy(body)))
        }
        other => other,
    })
}

fn exercise(body: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(req) = serde_json::from_slice::<MessagesRequest>(body) {
        check(exercise_request(body, &req))?;
        check(exercise_rewrite::<MessagesRequest>(
            body,
            has_synthetic_thinking(&req.messages),
            has_openai_tools(req.tools.as_deref()),
            |r| {
                (
                    has_synthetic_thinking(&r.messages),
                    has_openai_tools(r.tools.as_deref()),
                )
            },
        ))?;
    }
    if let Ok(req) = serde_json::from_slice::<CountTokensRequest>(body) {
        let _ = claude_proxy::tokens::count_request_tokens(
            req.system.as_ref(),
            &req.messages,
            req.tools.as_deref(),
        );
        check(exercise_rewrite::<CountTokensRequest>(
            body,
            has_synthetic_thinking(&req.messages),
            has_openai_tools(req.tools.as_deref()),
            |r| {
                (
                    has_synthetic_thinking(&r.messages),
                    has_openai_tools(r.tools.as_deref()),
                )
            },
        ))?;
    }
    // Any other body: the rewrite either fails or yields JSON.
    let rewrite = Rewrite {
        model: Some("m"),
        strip_synthetic: true,
        convert_tools: true,
        max_tokens: Some(1000),
    };
    check(check_rewritten(body, rewrite).map(drop))
}

#[test]
fn plausible_requests() {
    fuzz("requests/plausible", 192, request(), |v| {
        exercise_body(&serde_json::to_vec(&v).map_err(|e| TestCaseError::fail(e.to_string()))?)
    });
}

#[test]
fn arbitrary_json_requests() {
    fuzz("requests/json", 192, json(4, 40), |v| {
        exercise_body(&serde_json::to_vec(&v).map_err(|e| TestCaseError::fail(e.to_string()))?)
    });
}

#[test]
fn mutated_requests() {
    let s = (request(), proptest::collection::vec(mutation(), 1..6));
    fuzz("requests/mutated", 192, s, |(v, edits)| {
        let body = serde_json::to_vec(&v).map_err(|e| TestCaseError::fail(e.to_string()))?;
        exercise_body(&mutate(body, &edits))
    });
}

#[test]
fn arbitrary_bytes_requests() {
    fuzz("requests/bytes", 256, bytes(512), |b| exercise_body(&b));
}

#[test]
fn image_headers() {
    fuzz(
        "requests/image-tokens",
        256,
        (media_type(), image_data()),
        |(m, data)| {
            let n = claude_proxy::tokens::image_tokens(&ImageSource::Base64 {
                media_type: m.as_str().unwrap_or_default().to_owned(),
                data,
            });
            prop_assert!((1..=claude_proxy::tokens::IMAGE_FALLBACK_TOKENS).contains(&n));
            Ok(())
        },
    );
}

/// Schemas built to multiply when inlined: definitions that refer to the
/// next one several times, and nested type lists.
fn multiplying_schema() -> BoxedStrategy<Value> {
    let chain = (1usize..10, 1usize..6, any::<bool>()).prop_map(|(levels, fan_out, described)| {
        let mut defs = serde_json::Map::new();
        for i in 0..levels {
            let next = json!({"$ref": format!("#/$defs/d{}", i + 1)});
            let props: serde_json::Map<String, Value> = (0..fan_out)
                .map(|k| (format!("p{k}"), next.clone()))
                .collect();
            let mut d = json!({"type": "object", "properties": props});
            if described {
                d["description"] = json!("x".repeat(40));
            }
            defs.insert(format!("d{i}"), d);
        }
        defs.insert(format!("d{levels}"), json!({"type": "string"}));
        json!({"type": "object", "properties": {"x": {"$ref": "#/$defs/d0"}}, "$defs": defs})
    });
    let lists = (1usize..10, 1usize..5).prop_map(|(levels, width)| {
        let mut s = json!({"type": "string"});
        for _ in 0..levels {
            s = json!({"type": vec!["object"; width], "properties": {"a": s, "b": {"$ref": "#/properties/p"}}});
        }
        json!({"type": "object", "properties": {"p": s}})
    });
    prop_oneof![chain, lists].boxed()
}

#[test]
fn gemini_schemas() {
    fuzz("requests/gemini-schema", 256, schema(), |s| {
        check_schema(&s, GROWTH_FACTOR, GROWTH_SLACK)
    });
}

#[test]
fn gemini_schemas_that_multiply() {
    // Inlining may copy a definition wherever it is used, within the
    // cleaner's work budget: linear, with a larger factor.
    fuzz(
        "requests/gemini-schema-multiply",
        48,
        multiplying_schema(),
        |s| check_schema(&s, 64, 2 << 20),
    );
}

fn check_schema(s: &Value, factor: usize, slack: usize) -> Result<(), TestCaseError> {
    let input = serde_json::to_vec(s).map_err(|e| TestCaseError::fail(e.to_string()))?;
    if let Some(out) = claude_proxy::translate::gemini::clean_schema(s) {
        prop_assert_eq!(&out["type"], "object");
        prop_assert!(out["properties"].is_object(), "no properties: {}", out);
        let len = serde_json::to_vec(&out)
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .len();
        prop_assert!(
            len <= factor * input.len() + slack,
            "schema of {} bytes cleaned to {} bytes",
            input.len(),
            len
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Regressions: minimal inputs of failures the targets found.

#[test]
fn regression_schema_definitions_multiply() {
    // Definitions that each refer to the next from several properties: a
    // few hundred bytes cleaned to megabytes before the cleaner had a budget.
    let mut defs = serde_json::Map::new();
    for i in 0..8 {
        let next = json!({"$ref": format!("#/$defs/d{}", i + 1)});
        defs.insert(
            format!("d{i}"),
            json!({"type": "object", "properties": {"p0": next, "p1": next, "p2": next, "p3": next}}),
        );
    }
    defs.insert("d8".into(), json!({"type": "string"}));
    let schema =
        json!({"type": "object", "properties": {"x": {"$ref": "#/$defs/d0"}}, "$defs": defs});
    check_schema(&schema, 32, 1 << 20).unwrap();
}
