//! Tests of the request translation: each rule of docs/translation.md,
//! "Anthropic → OpenAI Chat", and every recorded
//! Claude Code request checked against OpenAI's structural rules.

use serde_json::{json, Value};

use super::*;
use crate::protocol::anthropic::MessagesRequest;
use crate::translate::common::history::INTERRUPTED_TEXT;

fn opts(field: MaxTokensField, stream: bool) -> OpenAiRequestOptions<'static> {
    OpenAiRequestOptions {
        model: "gpt-x",
        max_tokens_field: field,
        max_tokens_cap: None,
        stream,
    }
}

fn translate_with(body: Value, o: &OpenAiRequestOptions<'_>) -> Value {
    // From text, as the server parses it: tool inputs stay raw JSON.
    let req: MessagesRequest = serde_json::from_str(&body.to_string()).unwrap();
    let out = to_openai_request(&req, o);
    // Through the string form, as it goes on the wire (RawValue included).
    serde_json::from_str(&serde_json::to_string(&out).unwrap()).unwrap()
}

fn translate(body: Value) -> Value {
    translate_with(body, &opts(MaxTokensField::MaxCompletionTokens, false))
}

fn base(messages: Value) -> Value {
    json!({"model":"claude-x","max_tokens":100,"messages":messages})
}

#[test]
fn system_string_blocks_and_system_turns() {
    let v = translate(json!({"model":"c","max_tokens":5,
        "system":[{"type":"text","text":"A","cache_control":{"type":"ephemeral"}},{"type":"text","text":""},{"type":"text","text":"B"}],
        "messages":[{"role":"user","content":"hi"},{"role":"system","content":"mid"},{"role":"system","content":[]}]}));
    assert_eq!(
        v["messages"],
        json!([{"role":"system","content":"A\n\nB"},{"role":"user","content":"hi"},{"role":"system","content":"mid"}])
    );
    let v = translate(
        json!({"model":"c","max_tokens":5,"system":"S","messages":[{"role":"user","content":"hi"}]}),
    );
    assert_eq!(v["messages"][0], json!({"role":"system","content":"S"}));
}

#[test]
fn user_text_images_and_documents() {
    let v = translate(base(json!([{"role":"user","content":[
        {"type":"text","text":"look"},
        {"type":"text","text":""},
        {"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAA"}},
        {"type":"image","source":{"type":"url","url":"https://x/y.png"}},
        {"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBE"}},
        {"type":"document","title":"T","source":{"type":"text","media_type":"text/plain","data":"plain"}},
        {"type":"document","source":{"type":"content","content":[{"type":"text","text":"c1"},{"type":"text","text":"c2"}]}},
        {"type":"search_result","source":"s","title":"t","content":[{"type":"text","text":"found"}]},
        {"type":"brand_new"}
    ]}])));
    assert_eq!(
        v["messages"][0]["content"],
        json!([
            {"type":"text","text":"look"},
            {"type":"image_url","image_url":{"url":"data:image/png;base64,AAA"}},
            {"type":"image_url","image_url":{"url":"https://x/y.png"}},
            {"type":"file","file":{"filename":"document.pdf","file_data":"data:application/pdf;base64,JVBE"}},
            {"type":"text","text":"Document: T\n\nplain"},
            {"type":"text","text":"c1\n\nc2"},
            {"type":"text","text":"found"}
        ])
    );
}

#[test]
fn text_only_user_blocks_become_a_string_and_empty_messages_vanish() {
    let v = translate(base(json!([
        {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
        {"role":"user","content":[{"type":"text","text":""}]},
        {"role":"user","content":""},
        {"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"sig"},{"type":"redacted_thinking","data":"x"}]},
        {"role":"assistant","content":""},
        {"role":"user","content":"c"}
    ])));
    assert_eq!(
        v["messages"],
        json!([{"role":"user","content":"a\n\nb"},{"role":"user","content":"c"}])
    );
    assert!(!v.to_string().contains("sig"));
}

#[test]
fn tool_use_and_results_in_order_before_user_text() {
    let v = translate(base(json!([
        {"role":"user","content":"go"},
        {"role":"assistant","content":[
            {"type":"thinking","thinking":"hmm","signature":"SIG"},
            {"type":"text","text":"Reading."},
            {"type":"tool_use","id":"t1","name":"Read","input":{"path":"/a"}},
            {"type":"tool_use","id":"t2","name":"Read","input":{}}
        ]},
        {"role":"user","content":[
            {"type":"text","text":"after"},
            {"type":"tool_result","tool_use_id":"t2","content":[{"type":"text","text":"B1"},{"type":"text","text":"B2"}]},
            {"type":"tool_result","tool_use_id":"t1","content":"A","is_error":true},
            {"type":"tool_result","tool_use_id":"nope","content":"stray"}
        ]}
    ])));
    assert_eq!(
        v["messages"],
        json!([
            {"role":"user","content":"go"},
            {"role":"assistant","content":"Reading.","tool_calls":[
                {"id":"t1","type":"function","function":{"name":"Read","arguments":"{\"path\":\"/a\"}"}},
                {"id":"t2","type":"function","function":{"name":"Read","arguments":"{}"}}
            ]},
            {"role":"tool","tool_call_id":"t2","content":"B1\nB2"},
            {"role":"tool","tool_call_id":"t1","content":"Error: A"},
            {"role":"user","content":"after"}
        ])
    );
    assert!(!v.to_string().contains("stray") && !v.to_string().contains("SIG"));
}

#[test]
fn tool_arguments_are_the_raw_input_text() {
    let body = r#"{"model":"c","max_tokens":5,"messages":[{"role":"user","content":"go"},
        {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"F","input":{"n": 1.50, "s":"\u00e9"}}]}]}"#;
    let req: MessagesRequest = serde_json::from_str(body).unwrap();
    let o = opts(MaxTokensField::MaxTokens, false);
    let out = to_openai_request(&req, &o);
    let v: Value = serde_json::from_str(&serde_json::to_string(&out).unwrap()).unwrap();
    assert_eq!(
        v["messages"][1]["tool_calls"][0]["function"]["arguments"],
        r#"{"n": 1.50, "s":"\u00e9"}"#
    );
    // A trailing unanswered call is answered too (OpenAI would reject it).
    assert_eq!(v["messages"][2]["content"], INTERRUPTED_TEXT);
}

#[test]
fn assistant_with_only_tool_calls_has_null_content() {
    let v = translate(base(json!([
        {"role":"user","content":"go"},
        {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Bash","input":{"c":"ls"}}]},
        {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":""}]}
    ])));
    let a = &v["messages"][1];
    assert!(a.as_object().unwrap().contains_key("content"));
    assert_eq!(a["content"], Value::Null);
    assert_eq!(v["messages"][2]["content"], EMPTY_TOOL_RESULT);
    assert_eq!(v["messages"].as_array().unwrap().len(), 3);
}

#[test]
fn images_in_tool_results_follow_as_a_user_message() {
    let v = translate(base(json!([
        {"role":"user","content":"go"},
        {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Read","input":{}}]},
        {"role":"user","content":[
            {"type":"tool_result","tool_use_id":"t1","content":[
                {"type":"image","source":{"type":"base64","media_type":"image/png","data":"PNG"}}]},
            {"type":"text","text":"describe"}
        ]}
    ])));
    let m = v["messages"].as_array().unwrap();
    assert_eq!(m.len(), 4);
    assert_eq!(m[2]["role"], "tool");
    assert!(!m[2]["content"].as_str().unwrap().is_empty());
    assert_eq!(
        m[3],
        json!({"role":"user","content":[
            {"type":"text","text":"Image output of tool t1:"},
            {"type":"image_url","image_url":{"url":"data:image/png;base64,PNG"}},
            {"type":"text","text":"describe"}
        ]})
    );
}

#[test]
fn orphaned_tool_calls_get_an_interrupted_result() {
    let v = translate(base(json!([
        {"role":"user","content":"go"},
        {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"A","input":{}},{"type":"tool_use","id":"t2","name":"B","input":{}}]},
        {"role":"system","content":"note"},
        {"role":"user","content":[{"type":"tool_result","tool_use_id":"t2","content":"ok"},{"type":"text","text":"stop"}]},
        {"role":"assistant","content":[{"type":"tool_use","id":"t3","name":"C","input":{}}]},
        {"role":"user","content":"never mind"},
        {"role":"assistant","content":[{"type":"tool_use","id":"t4","name":"D","input":{}}]}
    ])));
    let roles: Vec<(&str, &str)> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap(),
                m["tool_call_id"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        roles,
        vec![
            ("user", ""),
            ("assistant", ""),
            ("tool", "t2"),
            ("tool", "t1"),
            ("system", ""),
            ("user", ""),
            ("assistant", ""),
            ("tool", "t3"),
            ("user", ""),
            ("assistant", ""),
            ("tool", "t4"),
        ]
    );
    assert_eq!(v["messages"][3]["content"], INTERRUPTED_TEXT);
}

#[test]
fn tools_in_both_forms_and_server_tools_dropped() {
    let v = translate(
        json!({"model":"c","max_tokens":5,"messages":[{"role":"user","content":"x"}],
        "tools":[
            {"name":"Read","description":"d","input_schema":{"type":"object","properties":{"p":{"type":"string"}}},"cache_control":{"type":"ephemeral"}},
            {"type":"function","function":{"name":"F","parameters":{"type":"object"}}},
            {"type":"web_search_20250305","name":"web_search","max_uses":5},
            {"name":"NoSchema"}
        ],
        "tool_choice":{"type":"any","disable_parallel_tool_use":true}}),
    );
    assert_eq!(
        v["tools"],
        json!([
            {"type":"function","function":{"name":"Read","description":"d","parameters":{"type":"object","properties":{"p":{"type":"string"}}}}},
            {"type":"function","function":{"name":"F","parameters":{"type":"object"}}},
            {"type":"function","function":{"name":"NoSchema","parameters":{"type":"object","properties":{}}}}
        ])
    );
    assert_eq!(v["tool_choice"], "required");
    assert_eq!(v["parallel_tool_calls"], false);
}

#[test]
fn tool_choice_mapping() {
    let choice = |tc: Value, tools: bool| {
        let mut body = base(json!([{"role":"user","content":"x"}]));
        body["tool_choice"] = tc;
        if tools {
            body["tools"] = json!([{"name":"T","input_schema":{"type":"object"}}]);
        }
        translate(body)
    };
    assert_eq!(choice(json!({"type":"auto"}), true)["tool_choice"], "auto");
    assert_eq!(choice(json!({"type":"none"}), true)["tool_choice"], "none");
    assert_eq!(
        choice(json!({"type":"tool","name":"T"}), true)["tool_choice"],
        json!({"type":"function","function":{"name":"T"}})
    );
    let absent = choice(json!({"type":"tool","name":"Other"}), true);
    assert!(absent.get("tool_choice").is_none());
    let no_tools = choice(
        json!({"type":"auto","disable_parallel_tool_use":true}),
        false,
    );
    assert!(no_tools.get("tool_choice").is_none());
    assert!(no_tools.get("parallel_tool_calls").is_none());
    assert!(no_tools.get("tools").is_none());
    assert!(choice(json!({"type":"auto"}), true)
        .get("parallel_tool_calls")
        .is_none());
}

#[test]
fn sampling_stop_and_stream_fields() {
    let mut body = base(json!([{"role":"user","content":"x"}]));
    body["temperature"] = json!(0.25);
    body["top_p"] = json!(0.9);
    body["top_k"] = json!(40);
    body["stop_sequences"] = json!(["END"]);
    body["service_tier"] = json!("auto");
    let v = translate_with(body, &opts(MaxTokensField::MaxTokens, true));
    assert_eq!(v["model"], "gpt-x");
    assert_eq!(v["temperature"], 0.25);
    assert_eq!(v["top_p"], 0.9);
    assert_eq!(v["max_tokens"], 100);
    assert_eq!(v["stream"], true);
    assert_eq!(v["stream_options"], json!({"include_usage":true}));
    assert_eq!(v["stop"], json!(["END"]));
    for absent in [
        "top_k",
        "service_tier",
        "max_completion_tokens",
        "reasoning_effort",
        "user",
    ] {
        assert!(v.get(absent).is_none(), "{absent}");
    }
    let v = translate(base(json!([{"role":"user","content":"x"}])));
    assert!(v.get("stream").is_none() && v.get("stream_options").is_none());
}

#[test]
fn max_tokens_is_capped() {
    let mut o = opts(MaxTokensField::MaxCompletionTokens, false);
    o.max_tokens_cap = Some(64);
    let v = translate_with(base(json!([{"role":"user","content":"x"}])), &o);
    assert_eq!(v["max_completion_tokens"], 64);
    assert!(v.get("max_tokens").is_none());
    o.max_tokens_cap = Some(1000);
    let v = translate_with(base(json!([{"role":"user","content":"x"}])), &o);
    assert_eq!(v["max_completion_tokens"], 100);
}

#[test]
fn reasoning_effort_from_thinking_and_output_config() {
    let effort = |thinking: Value, oc: Value| {
        let mut body = base(json!([{"role":"user","content":"x"}]));
        body["thinking"] = thinking;
        body["output_config"] = oc;
        translate(body).get("reasoning_effort").cloned()
    };
    let enabled = |b: u64| json!({"type":"enabled","budget_tokens":b});
    assert_eq!(effort(enabled(1024), Value::Null), Some(json!("low")));
    assert_eq!(effort(enabled(4096), Value::Null), Some(json!("medium")));
    assert_eq!(effort(enabled(16383), Value::Null), Some(json!("medium")));
    assert_eq!(effort(enabled(16384), Value::Null), Some(json!("high")));
    assert_eq!(effort(json!({"type":"adaptive"}), Value::Null), None);
    assert_eq!(effort(json!({"type":"disabled"}), Value::Null), None);
    assert_eq!(
        effort(json!({"type":"adaptive"}), json!({"effort":"xhigh"})),
        Some(json!("xhigh"))
    );
    assert_eq!(
        effort(enabled(1024), json!({"effort":"max"})),
        Some(json!("max"))
    );
    assert_eq!(
        effort(enabled(1024), json!({"effort":"bogus"})),
        Some(json!("low"))
    );
}

#[test]
fn long_user_ids_are_hashed_stably() {
    let user = |id: &str| {
        let mut body = base(json!([{"role":"user","content":"x"}]));
        body["metadata"] = json!({"user_id": id});
        translate(body)["user"].clone()
    };
    assert_eq!(user("short"), "short");
    let long = "x".repeat(65);
    let h = user(&long);
    let h = h.as_str().unwrap();
    assert!(h.starts_with("user_") && h.len() <= 64, "{h}");
    assert_eq!(user(&long), h);
    assert_ne!(user(&"y".repeat(65)), h);
}

fn for_each_key(v: &Value, f: &mut dyn FnMut(&str)) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                f(k);
                for_each_key(v, f);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| for_each_key(v, f)),
        _ => {}
    }
}

/// OpenAI's rules: an assistant turn with tool_calls is followed at once by
/// exactly one tool message per call; tool messages appear nowhere else;
/// arguments are JSON object text; no message is empty.
fn check_openai_structure(name: &str, v: &Value) {
    let msgs = v["messages"].as_array().unwrap();
    let mut i = 0;
    while i < msgs.len() {
        let m = &msgs[i];
        let role = m["role"].as_str().unwrap();
        assert_ne!(
            role, "tool",
            "{name}: tool message {i} without a preceding call"
        );
        match role {
            "assistant" => {
                let calls = m["tool_calls"].as_array().cloned().unwrap_or_default();
                assert!(
                    m["content"].as_str().is_some_and(|s| !s.is_empty()) || !calls.is_empty(),
                    "{name}: empty assistant {i}"
                );
                for (k, call) in calls.iter().enumerate() {
                    let args = call["function"]["arguments"].as_str().unwrap();
                    let parsed: Value = serde_json::from_str(args).unwrap();
                    assert!(parsed.is_object(), "{name}: {args}");
                    let answer = &msgs[i + 1 + k];
                    assert_eq!(answer["role"], "tool", "{name}");
                    assert_eq!(answer["tool_call_id"], call["id"], "{name}");
                    assert!(!answer["content"].as_str().unwrap().is_empty());
                }
                i += 1 + calls.len();
                continue;
            }
            "user" | "system" => match &m["content"] {
                Value::String(s) => assert!(!s.is_empty(), "{name}: empty {role} {i}"),
                Value::Array(a) => assert!(!a.is_empty(), "{name}: empty {role} {i}"),
                other => panic!("{name}: content {other}"),
            },
            other => panic!("{name}: role {other}"),
        }
        i += 1;
    }
}

#[test]
fn every_claude_code_fixture_translates_to_a_valid_openai_request() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/claude-code");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".json") || name.ends_with(".headers.json") {
            continue;
        }
        let body: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let v = translate(body.clone());
        check_openai_structure(&name, &v);
        for_each_key(&v, &mut |k| {
            assert!(
                ![
                    "cache_control",
                    "context_management",
                    "output_config",
                    "metadata",
                    "thinking",
                    "signature"
                ]
                .contains(&k),
                "{name}: {k}"
            );
        });
        assert_eq!(v["max_completion_tokens"], body["max_tokens"], "{name}");
        assert_eq!(v["messages"][0]["role"], "system", "{name}");
        assert!(v["user"].as_str().unwrap().len() <= 64, "{name}");
        assert!(!v["tools"].as_array().unwrap().is_empty(), "{name}");
        let calls: usize = v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["tool_calls"].as_array().map_or(0, Vec::len))
            .sum();
        let tool_msgs = v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "tool")
            .count();
        assert_eq!(calls, tool_msgs, "{name}");
        if name.contains("turn2") {
            assert!(calls > 0, "{name}");
        }
        if name.starts_with("02-read-image-turn2") {
            let text = v["messages"].to_string();
            assert!(
                text.contains("Image output of tool") && text.contains("data:image/png;base64,")
            );
        }
        n += 1;
    }
    assert_eq!(n, 12);
}

#[test]
fn at_most_four_stop_sequences_go_upstream() {
    let mut body = base(json!([{"role":"user","content":"x"}]));
    body["stop_sequences"] = json!(["a", "b", "c", "d", "e", "f"]);
    let v = translate(body);
    assert_eq!(v["stop"], json!(["a", "b", "c", "d"]));
    let mut body = base(json!([{"role":"user","content":"x"}]));
    body["stop_sequences"] = json!([]);
    assert!(translate(body).get("stop").is_none());
}
