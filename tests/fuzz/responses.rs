//! Target group 2: whole (non-streamed) upstream answers. OpenAI
//! `ChatResponse` and Gemini `GenerateContentResponse` bodies — plausible,
//! arbitrary JSON, mutated and raw bytes — and upstream error bodies.
//!
//! Invariants: no panic; a body that parses translates to either a valid
//! Anthropic message (the grammar of `grammar::check_message`) or an error
//! whose client body is Anthropic's error JSON; the message is no larger
//! than a linear function of the body.

use claude_proxy::error::ApiError;
use claude_proxy::protocol::anthropic::MessagesRequest;
use claude_proxy::protocol::gemini::GenerateContentResponse;
use claude_proxy::protocol::openai::ChatResponse;
use claude_proxy::translate::gemini::{
    from_gemini_response, from_gemini_response_with_names, sanitize_tool_name, ToolNameMap,
};
use claude_proxy::translate::openai::from_openai_response;
use claude_proxy::translate::ResponseContext;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;
use serde_json::{json, Value};

use crate::gen::{bytes, fixed, json, json_object, member, mutate, mutation, object, text};
use crate::grammar::{check_error_body, check_message, Block, End};
use crate::harness::{check, fuzz};

/// A translated answer may be this many times larger than the upstream's
/// body (plus the slack): ids, signatures and re-escaped tool input.
const GROWTH_FACTOR: usize = 8;
const GROWTH_SLACK: usize = 4096;

/// The request context: ids the server would make, a model name that needs
/// escaping, and sometimes stop sequences.
pub fn context() -> impl Strategy<Value = ResponseContext> {
    (
        select(vec!["msg_01XFDUDYJgAACzvnptvVoYEL", "msg_X", "msg_"]),
        prop_oneof![Just("claude-sonnet-4-5".to_owned()), text(10)],
        proptest::collection::vec(
            prop_oneof![
                select(vec!["END", "日本", "😀!", "\n\n", "", "a"]).prop_map(str::to_owned),
                text(3),
            ],
            0..3,
        ),
        any::<bool>(),
    )
        .prop_map(|(id, model, stops, use_stops)| ResponseContext {
            message_id: id.to_owned(),
            model,
            stop_sequences: if use_stops { stops } else { Vec::new() },
        })
}

/// Tool arguments as upstreams send them: JSON text (whole, cut short,
/// double-encoded), an object, or anything.
pub fn arguments() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => json_object(2, 6).prop_map(|o| Value::String(o.to_string())),
        1 => (json_object(2, 6), any::<proptest::sample::Index>()).prop_map(|(o, cut)| {
            let s = o.to_string();
            let mut at = cut.index(s.len() + 1);
            while !s.is_char_boundary(at) {
                at -= 1;
            }
            Value::String(s[..at].to_owned())
        }),
        1 => json_object(1, 4).prop_map(|o| Value::String(Value::String(o.to_string()).to_string())),
        1 => json_object(2, 6),
        1 => text(12).prop_map(Value::String),
        1 => json(2, 6),
    ]
    .boxed()
}

fn finish_reason() -> BoxedStrategy<Value> {
    prop_oneof![
        select(vec![
            "stop",
            "length",
            "tool_calls",
            "content_filter",
            "function_call",
            "",
            "eos"
        ])
        .prop_map(Value::from),
        Just(Value::Null),
    ]
    .boxed()
}

pub fn openai_usage() -> BoxedStrategy<Value> {
    object(vec![
        member(
            "prompt_tokens",
            0.9,
            prop_oneof![(0u64..10_000).prop_map(Value::from), Just(json!(u64::MAX))],
        ),
        member(
            "completion_tokens",
            0.9,
            (0u64..10_000).prop_map(Value::from),
        ),
        member("total_tokens", 0.5, (0u64..10_000).prop_map(Value::from)),
        member(
            "prompt_tokens_details",
            0.4,
            object(vec![
                member(
                    "cached_tokens",
                    0.8,
                    prop_oneof![(0u64..20_000).prop_map(Value::from), Just(json!(u64::MAX))],
                ),
                member(
                    "cache_write_tokens",
                    0.3,
                    prop_oneof![(0u64..20_000).prop_map(Value::from), Just(json!(u64::MAX))],
                ),
            ]),
        ),
        member(
            "prompt_cache_hit_tokens",
            0.2,
            (0u64..10_000).prop_map(Value::from),
        ),
        member(
            "prompt_cache_miss_tokens",
            0.2,
            (0u64..10_000).prop_map(Value::from),
        ),
    ])
}

fn openai_tool_call() -> BoxedStrategy<Value> {
    object(vec![
        member(
            "id",
            0.8,
            prop_oneof![
                select(vec![
                    "call_1",
                    "call_1",
                    "functions.Read:0",
                    "",
                    "toolu_X00"
                ])
                .prop_map(Value::from),
                text(8).prop_map(Value::from),
            ],
        ),
        member("type", 0.8, Just(json!("function"))),
        member(
            "function",
            0.95,
            object(vec![
                member(
                    "name",
                    0.9,
                    prop_oneof![
                        select(vec!["Read", "Bash", ""]).prop_map(Value::from),
                        text(8).prop_map(Value::from),
                    ],
                ),
                member("arguments", 0.9, arguments()),
            ]),
        ),
    ])
}

/// A plausible OpenAI Chat Completions answer.
fn openai_response() -> BoxedStrategy<Value> {
    let message = object(vec![
        member("role", 0.9, Just(json!("assistant"))),
        member(
            "content",
            0.7,
            prop_oneof![text(40).prop_map(Value::from), Just(Value::Null)],
        ),
        member("reasoning_content", 0.3, text(30).prop_map(Value::from)),
        member("reasoning", 0.2, text(30).prop_map(Value::from)),
        member("refusal", 0.1, text(20).prop_map(Value::from)),
        member(
            "tool_calls",
            0.4,
            proptest::collection::vec(openai_tool_call(), 0..4).prop_map(Value::Array),
        ),
    ]);
    let choice = object(vec![
        member("index", 0.8, (0u64..2).prop_map(Value::from)),
        member("message", 0.95, message),
        member("finish_reason", 0.8, finish_reason()),
        member(
            "stop_reason",
            0.1,
            prop_oneof![
                select(vec!["END", "日本"]).prop_map(Value::from),
                (0u64..100_000).prop_map(Value::from),
            ],
        ),
    ]);
    object(vec![
        fixed("id", Just(json!("chatcmpl-1"))),
        member("object", 0.8, Just(json!("chat.completion"))),
        member("model", 0.8, text(8).prop_map(Value::from)),
        member(
            "choices",
            0.95,
            proptest::collection::vec(choice, 0..3).prop_map(Value::Array),
        ),
        member("usage", 0.7, openai_usage()),
        member("error", 0.05, json(2, 6)),
    ])
}

fn gemini_part() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => object(vec![
            fixed("text", text(30).prop_map(Value::from)),
            member("thought", 0.3, prop_oneof![any::<bool>().prop_map(Value::from), Just(Value::Null)]),
            member("thoughtSignature", 0.2, prop_oneof![text(12).prop_map(Value::from), Just(json!(""))]),
        ]),
        2 => object(vec![
            fixed("functionCall", object(vec![
                member("name", 0.95, prop_oneof![
                    select(vec!["Read", "Bash", "_1bad_name_0badc0de", ""]).prop_map(Value::from),
                    text(8).prop_map(Value::from),
                ]),
                member("args", 0.85, prop_oneof![3 => json_object(2, 6), 1 => json(2, 6)]),
                member("id", 0.3, text(8).prop_map(Value::from)),
            ])),
            member("thoughtSignature", 0.3, text(12).prop_map(Value::from)),
        ]),
        1 => Just(json!({"executableCode": {"language": "PYTHON", "code": "print(1)"}})),
        1 => Just(json!({"inlineData": {"mimeType": "image/png", "data": "AAAA"}})),
        1 => json_object(2, 6),
    ]
    .boxed()
}

pub fn gemini_finish() -> BoxedStrategy<Value> {
    select(vec![
        "STOP",
        "MAX_TOKENS",
        "SAFETY",
        "RECITATION",
        "LANGUAGE",
        "OTHER",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "MALFORMED_FUNCTION_CALL",
        "IMAGE_SAFETY",
        "UNEXPECTED_TOOL_CALL",
        "TOO_MANY_TOOL_CALLS",
        "FINISH_REASON_UNSPECIFIED",
        "NO_IMAGE",
        "SOMETHING_NEW",
    ])
    .prop_map(Value::from)
    .boxed()
}

pub fn gemini_usage() -> BoxedStrategy<Value> {
    object(vec![
        member(
            "promptTokenCount",
            0.9,
            prop_oneof![(0u64..10_000).prop_map(Value::from), Just(json!(u64::MAX))],
        ),
        member(
            "cachedContentTokenCount",
            0.3,
            prop_oneof![(0u64..20_000).prop_map(Value::from), Just(json!(u64::MAX))],
        ),
        member(
            "candidatesTokenCount",
            0.8,
            prop_oneof![(0u64..10_000).prop_map(Value::from), Just(json!(u64::MAX))],
        ),
        member(
            "thoughtsTokenCount",
            0.3,
            prop_oneof![(0u64..10_000).prop_map(Value::from), Just(json!(u64::MAX))],
        ),
        member(
            "toolUsePromptTokenCount",
            0.1,
            (0u64..10_000).prop_map(Value::from),
        ),
        member("totalTokenCount", 0.5, (0u64..10_000).prop_map(Value::from)),
    ])
}

pub fn gemini_error() -> BoxedStrategy<Value> {
    object(vec![
        member(
            "code",
            0.9,
            select(vec![400u64, 403, 429, 500, 503, 504, 0, 99999]).prop_map(Value::from),
        ),
        member("message", 0.9, text(20).prop_map(Value::from)),
        member(
            "status",
            0.8,
            select(vec![
                "RESOURCE_EXHAUSTED",
                "UNAVAILABLE",
                "INVALID_ARGUMENT",
                "DEADLINE_EXCEEDED",
                "x",
            ])
            .prop_map(Value::from),
        ),
    ])
}

/// A plausible Gemini answer (or streamed payload).
pub fn gemini_response() -> BoxedStrategy<Value> {
    let candidate = object(vec![
        member(
            "content",
            0.9,
            object(vec![
                member("role", 0.8, Just(json!("model"))),
                member(
                    "parts",
                    0.95,
                    prop_oneof![
                        5 => proptest::collection::vec(gemini_part(), 0..5).prop_map(Value::Array),
                        1 => Just(Value::Null),
                    ],
                ),
            ]),
        ),
        member("finishReason", 0.6, gemini_finish()),
        member("finishMessage", 0.1, text(20).prop_map(Value::from)),
        member("index", 0.5, (0u64..2).prop_map(Value::from)),
    ]);
    object(vec![
        member(
            "candidates",
            0.9,
            prop_oneof![
                5 => proptest::collection::vec(candidate, 0..3).prop_map(Value::Array),
                1 => Just(Value::Null),
            ],
        ),
        member(
            "promptFeedback",
            0.1,
            object(vec![
                member(
                    "blockReason",
                    0.8,
                    select(vec!["SAFETY", "OTHER", "BLOCKLIST", ""]).prop_map(Value::from),
                ),
                member("blockReasonMessage", 0.4, text(20).prop_map(Value::from)),
            ]),
        ),
        member("usageMetadata", 0.7, gemini_usage()),
        member("modelVersion", 0.5, Just(json!("gemini-2.5-flash"))),
        member("responseId", 0.5, text(8).prop_map(Value::from)),
        member("error", 0.05, gemini_error()),
    ])
}

/// The client sees either a valid message or an Anthropic error.
fn check_answer(
    answer: Result<claude_proxy::protocol::anthropic::MessagesResponse, ApiError>,
    ctx: &ResponseContext,
    body_len: usize,
) -> Result<Vec<Block>, String> {
    match answer {
        Ok(m) => {
            let out =
                serde_json::to_vec(&m).map_err(|e| format!("message does not serialize: {e}"))?;
            if out.len() > GROWTH_FACTOR * body_len + GROWTH_SLACK {
                return Err(format!(
                    "{}-byte message from a {body_len}-byte body",
                    out.len()
                ));
            }
            let v: Value = serde_json::from_slice(&out).map_err(|e| e.to_string())?;
            let (blocks, end) = check_message(&v, ctx)?;
            if let End::Stop { stop_reason, .. } = &end {
                let tools = blocks
                    .iter()
                    .filter(|b| matches!(b, Block::ToolUse { .. }))
                    .count();
                if stop_reason == "tool_use" && tools == 0 {
                    return Err("stop_reason tool_use without a tool_use block".into());
                }
            }
            Ok(blocks)
        }
        Err(e) => {
            if !(e.status.is_client_error() || e.status.is_server_error()) {
                return Err(format!("error with status {}", e.status));
            }
            check_error_body(&e.body())?;
            Ok(Vec::new())
        }
    }
}

fn exercise_openai(body: &[u8], ctx: &ResponseContext) -> Result<(), TestCaseError> {
    if let Ok(resp) = serde_json::from_slice::<ChatResponse>(body) {
        check(check_answer(from_openai_response(resp, ctx), ctx, body.len()).map(drop))?;
    }
    Ok(())
}

/// A request whose tool names Gemini makes the proxy rename.
fn renamed_tools_request() -> MessagesRequest {
    serde_json::from_value(json!({
        "model": "m", "max_tokens": 1, "messages": [],
        "tools": [{"name": "1bad name", "input_schema": {"type": "object"}},
                  {"name": "名前", "input_schema": {"type": "object"}}]
    }))
    .unwrap()
}

fn exercise_gemini(
    body: &[u8],
    ctx: &ResponseContext,
    names: &ToolNameMap,
) -> Result<(), TestCaseError> {
    for with_names in [false, true] {
        let Ok(resp) = serde_json::from_slice::<GenerateContentResponse>(body) else {
            return Ok(());
        };
        let answer = if with_names {
            from_gemini_response_with_names(resp, ctx, names)
        } else {
            from_gemini_response(resp, ctx)
        };
        check(check_answer(answer, ctx, body.len()).map(drop))?;
    }
    Ok(())
}

/// An upstream error answer, whatever its body.
fn exercise_error(status: u16, body: &[u8]) -> Result<(), TestCaseError> {
    for upstream in ["openai", "gemini", "claude"] {
        let e = ApiError::from_upstream(upstream, status, body, Some(3));
        prop_assert!(
            e.status.is_client_error() || e.status.is_server_error(),
            "status {}",
            e.status
        );
        check(check_error_body(&e.body()))?;
        // Upstream text is cut to a bounded length.
        prop_assert!(
            e.message.len() <= body.len() + 600,
            "message of {} bytes",
            e.message.len()
        );
    }
    Ok(())
}

fn to_bytes(v: &Value) -> Result<Vec<u8>, TestCaseError> {
    serde_json::to_vec(v).map_err(|e| TestCaseError::fail(e.to_string()))
}

#[test]
fn openai_answers() {
    fuzz(
        "responses/openai",
        256,
        (openai_response(), context()),
        |(v, ctx)| exercise_openai(&to_bytes(&v)?, &ctx),
    );
}

#[test]
fn openai_answers_mutated() {
    let s = (
        openai_response(),
        proptest::collection::vec(mutation(), 1..5),
        context(),
    );
    fuzz("responses/openai-mutated", 128, s, |(v, edits, ctx)| {
        exercise_openai(&mutate(to_bytes(&v)?, &edits), &ctx)
    });
}

#[test]
fn gemini_answers() {
    let names = ToolNameMap::from_request(&renamed_tools_request());
    fuzz(
        "responses/gemini",
        256,
        (gemini_response(), context()),
        |(v, ctx)| exercise_gemini(&to_bytes(&v)?, &ctx, &names),
    );
}

#[test]
fn gemini_answers_mutated() {
    let names = ToolNameMap::from_request(&renamed_tools_request());
    let s = (
        gemini_response(),
        proptest::collection::vec(mutation(), 1..5),
        context(),
    );
    fuzz("responses/gemini-mutated", 128, s, |(v, edits, ctx)| {
        exercise_gemini(&mutate(to_bytes(&v)?, &edits), &ctx, &names)
    });
}

#[test]
fn fixed_renamed_gemini_tools_come_back_under_their_own_names() {
    let names = ToolNameMap::from_request(&renamed_tools_request());
    let ctx = ResponseContext {
        message_id: "msg_X".into(),
        model: "m".into(),
        stop_sequences: vec![],
    };
    for original in ["1bad name", "名前"] {
        let body = json!({"candidates": [{"content": {"parts": [
            {"functionCall": {"name": sanitize_tool_name(original), "args": {}}}]}, "finishReason": "STOP"}]});
        let resp: GenerateContentResponse = serde_json::from_value(body).unwrap();
        let m = from_gemini_response_with_names(resp, &ctx, &names).unwrap();
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["content"][0]["name"], original);
    }
}

#[test]
fn arbitrary_json_answers() {
    let names = ToolNameMap::from_request(&renamed_tools_request());
    fuzz(
        "responses/json",
        256,
        (json(4, 40), context()),
        |(v, ctx)| {
            let b = to_bytes(&v)?;
            exercise_openai(&b, &ctx)?;
            exercise_gemini(&b, &ctx, &names)
        },
    );
}

#[test]
fn arbitrary_bytes_answers() {
    let names = ToolNameMap::from_request(&renamed_tools_request());
    fuzz(
        "responses/bytes",
        256,
        (bytes(512), context()),
        |(b, ctx)| {
            exercise_openai(&b, &ctx)?;
            exercise_gemini(&b, &ctx, &names)
        },
    );
}

#[test]
fn upstream_error_bodies() {
    let body = prop_oneof![
        2 => json(3, 20).prop_map(|v| v.to_string().into_bytes()),
        1 => gemini_error().prop_map(|e| json!({"error": e}).to_string().into_bytes()),
        1 => (select(vec!["rate_limit_error", "overloaded_error", "nope", "api_error"]), text(600))
            .prop_map(|(t, m)| json!({"type": "error", "error": {"type": t, "message": m}}).to_string().into_bytes()),
        1 => (text(700), json(1, 4)).prop_map(|(m, c)| json!({"error": {"message": m, "type": c, "code": c}}).to_string().into_bytes()),
        1 => bytes(700),
    ];
    fuzz(
        "responses/errors",
        256,
        (400u16..600, body),
        |(status, b)| exercise_error(status, &b),
    );
}

// ---------------------------------------------------------------------------
// Regressions: minimal inputs of failures the targets found.

fn plain_context() -> ResponseContext {
    ResponseContext {
        message_id: "msg_01XFDUDYJgAACzvnptvVoYEL".into(),
        model: "claude-sonnet-4-5".into(),
        stop_sequences: Vec::new(),
    }
}

#[test]
fn regression_openai_answer_usage_overflow() {
    let body = br#"{"id":"chatcmpl-1","usage":{"prompt_tokens_details":{"cached_tokens":1,"cache_write_tokens":18446744073709551615}}}"#;
    exercise_openai(body, &plain_context()).unwrap();
}

#[test]
fn regression_gemini_answer_usage_overflow() {
    let body = br#"{"usageMetadata":{"candidatesTokenCount":1,"thoughtsTokenCount":18446744073709551615}}"#;
    let names = ToolNameMap::from_request(&renamed_tools_request());
    exercise_gemini(body, &plain_context(), &names).unwrap();
}
