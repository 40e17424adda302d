use serde_json::{json, Value};

use super::*;
use crate::protocol::anthropic::MessagesRequest;
use crate::translate::responses::reasoning_signature;
use crate::translate::synthetic_signature;

fn translate_with(body: Value, cap: Option<u64>) -> Value {
    let req: MessagesRequest = serde_json::from_value(body).unwrap();
    let opts = ResponsesRequestOptions {
        model: "gpt-5-codex",
        max_tokens_cap: cap,
        stream: req.is_stream(),
    };
    serde_json::to_value(to_responses_request(&req, &opts)).unwrap()
}

fn translate(body: Value) -> Value {
    translate_with(body, None)
}

fn base(messages: Value) -> Value {
    json!({"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": messages})
}

#[test]
fn a_plain_request_is_stateless_and_asks_for_encrypted_reasoning() {
    let r = translate(json!({
        "model": "claude-sonnet-4-5", "max_tokens": 1024, "stream": true,
        "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=1"},
                   {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
                   {"type": "text", "text": "Be kind."}],
        "temperature": 0.5, "top_p": 0.9, "top_k": 5, "stop_sequences": ["END"],
        "context_management": {"edits": []},
        "metadata": {"user_id": "u-1"},
        "messages": [{"role": "user", "content": "hi"}]
    }));
    assert_eq!(
        r,
        json!({
            "model": "gpt-5-codex",
            "instructions": "Be brief.\n\nBe kind.",
            "input": [{"type": "message", "role": "user",
                       "content": [{"type": "input_text", "text": "hi"}]}],
            "max_output_tokens": 1024,
            "temperature": 0.5,
            "top_p": 0.9,
            "stream": true,
            "include": ["reasoning.encrypted_content"],
            "store": false,
            "user": "u-1"
        })
    );
}

#[test]
fn output_tokens_are_capped_and_raised_to_the_minimum() {
    let body = |n: u64| json!({"model": "m", "max_tokens": n, "messages": [{"role": "user", "content": "q"}]});
    assert_eq!(
        translate_with(body(128_000), Some(64_000))["max_output_tokens"],
        64_000
    );
    assert_eq!(translate(body(1))["max_output_tokens"], MIN_OUTPUT_TOKENS);
    assert!(translate(body(1)).get("stream").is_none());
}

#[test]
fn tools_and_tool_choice() {
    let tools = json!([
        {"name": "Read", "description": "Reads", "input_schema": {"type": "object", "properties": {"p": {"type": "string"}}}},
        {"name": "Ping"},
        {"type": "web_search_20250305", "name": "web_search"}
    ]);
    let with = |choice: Value| {
        let mut b = base(json!([{"role": "user", "content": "q"}]));
        b["tools"] = tools.clone();
        b["tool_choice"] = choice;
        translate(b)
    };
    let r = with(json!({"type": "auto", "disable_parallel_tool_use": true}));
    assert_eq!(
        r["tools"],
        json!([
            {"type": "function", "name": "Read", "description": "Reads",
             "parameters": {"type": "object", "properties": {"p": {"type": "string"}}}, "strict": false},
            {"type": "function", "name": "Ping", "parameters": {"type": "object", "properties": {}}, "strict": false}
        ])
    );
    assert_eq!(r["tool_choice"], "auto");
    assert_eq!(r["parallel_tool_calls"], false);
    assert_eq!(with(json!({"type": "any"}))["tool_choice"], "required");
    assert_eq!(with(json!({"type": "none"}))["tool_choice"], "none");
    assert_eq!(
        with(json!({"type": "tool", "name": "Read"}))["tool_choice"],
        json!({"type": "function", "name": "Read"})
    );
    let unknown = with(json!({"type": "tool", "name": "Nope"}));
    assert!(unknown.get("tool_choice").is_none());
    assert!(unknown.get("parallel_tool_calls").is_none());
    let mut no_tools = base(json!([{"role": "user", "content": "q"}]));
    no_tools["tool_choice"] = json!({"type": "any"});
    assert!(translate(no_tools).get("tool_choice").is_none());
}

#[test]
fn reasoning_follows_thinking_and_effort() {
    let with = |extra: Value| {
        let mut b = base(json!([{"role": "user", "content": "q"}]));
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        translate(b)["reasoning"].clone()
    };
    assert_eq!(
        with(json!({"thinking": {"type": "enabled", "budget_tokens": 2048}})),
        json!({"effort": "low", "summary": "auto"})
    );
    assert_eq!(
        with(json!({"thinking": {"type": "enabled", "budget_tokens": 31999}})),
        json!({"effort": "high", "summary": "auto"})
    );
    assert_eq!(
        with(json!({"thinking": {"type": "enabled"}})),
        json!({"effort": "medium", "summary": "auto"})
    );
    assert_eq!(
        with(json!({"thinking": {"type": "adaptive"}, "output_config": {"effort": "max"}})),
        json!({"effort": "high", "summary": "auto"})
    );
    assert_eq!(
        with(json!({"thinking": {"type": "adaptive"}})),
        json!({"summary": "auto"})
    );
    assert_eq!(
        with(json!({"output_config": {"effort": "low"}})),
        json!({"effort": "low"})
    );
    assert_eq!(with(json!({"thinking": {"type": "disabled"}})), Value::Null);
    assert_eq!(with(json!({})), Value::Null);
}

fn reasoning_item(id: &str) -> String {
    format!(
        r#"{{"id":"{id}","type":"reasoning","summary":[{{"type":"summary_text","text":"plan"}}],"encrypted_content":"gAAA{id}"}}"#
    )
}

fn signed(id: &str) -> String {
    let raw = serde_json::value::RawValue::from_string(reasoning_item(id)).unwrap();
    reasoning_signature(&raw)
}

#[test]
fn an_assistant_turn_keeps_its_order_and_replays_reasoning_byte_for_byte() {
    let req: MessagesRequest = serde_json::from_value(base(json!([
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "plan", "signature": signed("rs_1")},
            {"type": "text", "text": "Let me look."},
            {"type": "text", "text": "Both files."},
            {"type": "thinking", "thinking": "x", "signature": "EqQBanthropic"},
            {"type": "thinking", "thinking": "y", "signature": synthetic_signature("gemini", "S")},
            {"type": "redacted_thinking", "data": "zzz"},
            {"type": "tool_use", "id": "call_a", "name": "Read", "input": {"p": "a"}},
            {"type": "thinking", "thinking": "more", "signature": signed("rs_2")},
            {"type": "tool_use", "id": "call_b", "name": "Read", "input": {"p": "b"}},
            {"type": "thinking", "thinking": "dangling", "signature": signed("rs_3")}
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_b", "content": "B"},
            {"type": "tool_result", "tool_use_id": "call_a", "content": [{"type": "text", "text": "A1"}, {"type": "text", "text": "A2"}]},
            {"type": "tool_result", "tool_use_id": "call_zz", "content": "stray"},
            {"type": "text", "text": "go on"}
        ]}
    ])))
    .unwrap();
    let opts = ResponsesRequestOptions {
        model: "m",
        max_tokens_cap: None,
        stream: false,
    };
    let encoded = serde_json::to_string(&to_responses_request(&req, &opts)).unwrap();
    for id in ["rs_1", "rs_2"] {
        assert!(
            encoded.contains(&reasoning_item(id)),
            "{id} verbatim: {encoded}"
        );
    }
    assert!(
        !encoded.contains("rs_3"),
        "a trailing reasoning item is left out"
    );
    let r: Value = serde_json::from_str(&encoded).unwrap();
    let input = r["input"].as_array().unwrap();
    let kinds: Vec<String> = input
        .iter()
        .map(|i| {
            format!(
                "{}:{}",
                i["type"].as_str().unwrap(),
                i["role"]
                    .as_str()
                    .or(i["call_id"].as_str())
                    .unwrap_or(i["id"].as_str().unwrap_or(""))
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "message:user",
            "reasoning:rs_1",
            "message:assistant",
            "function_call:call_a",
            "reasoning:rs_2",
            "function_call:call_b",
            "function_call_output:call_b",
            "function_call_output:call_a",
            "message:user"
        ]
    );
    assert_eq!(
        input[2]["content"],
        json!([{"type": "output_text", "text": "Let me look.", "annotations": []},
               {"type": "output_text", "text": "Both files.", "annotations": []}])
    );
    assert_eq!(input[3]["arguments"], r#"{"p":"a"}"#);
    assert_eq!(input[3]["name"], "Read");
    assert_eq!(input[7]["output"], "A1\nA2");
    assert_eq!(
        input[8]["content"],
        json!([{"type": "input_text", "text": "go on"}])
    );
}

#[test]
fn tool_history_is_paired() {
    let r = translate(base(json!([
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {}},
            {"type": "tool_use", "id": "call_2", "name": "Bash", "input": {}}
        ]},
        {"role": "system", "content": "reminder"},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": "", "is_error": true}
        ]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "call_3", "name": "Bash", "input": {}}]}
    ])));
    let input = r["input"].as_array().unwrap();
    let outputs: Vec<(&str, &str)> = input
        .iter()
        .filter(|i| i["type"] == "function_call_output")
        .map(|i| {
            (
                i["call_id"].as_str().unwrap(),
                i["output"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outputs,
        [
            ("call_1", "Error: (no output)"),
            ("call_2", "Error: tool call was interrupted (no result)"),
            ("call_3", "Error: tool call was interrupted (no result)")
        ]
    );
    // The system turn waits until the calls are answered.
    let system = input.iter().position(|i| i["role"] == "system").unwrap();
    let last_output_of_turn = input
        .iter()
        .position(|i| i["call_id"] == "call_2" && i["type"] == "function_call_output")
        .unwrap();
    assert!(system > last_output_of_turn, "{input:#?}");
    assert_eq!(
        input[system]["content"],
        json!([{"type": "input_text", "text": "reminder"}])
    );
}

#[test]
fn images_and_documents() {
    let r = translate(base(json!([
        {"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAA"}},
            {"type": "image", "source": {"type": "url", "url": "https://x/i.png"}},
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}},
            {"type": "document", "source": {"type": "url", "url": "https://x/d.pdf"}},
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "body"}, "title": "T"},
            {"type": "text", "text": "what?"}
        ]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1", "name": "Shot", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "BBB"}}
            ]}
        ]}
    ])));
    let input = r["input"].as_array().unwrap();
    assert_eq!(
        input[0]["content"],
        json!([
            {"type": "input_image", "image_url": "data:image/png;base64,AAA", "detail": "auto"},
            {"type": "input_image", "image_url": "https://x/i.png", "detail": "auto"},
            {"type": "input_file", "filename": "document.pdf", "file_data": "data:application/pdf;base64,JVBE"},
            {"type": "input_file", "file_url": "https://x/d.pdf"},
            {"type": "input_text", "text": "Document: T\n\nbody"},
            {"type": "input_text", "text": "what?"}
        ])
    );
    assert_eq!(input[2]["output"], "(image output follows)");
    assert_eq!(
        input[3],
        json!({"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "Image output of tool call_1:"},
            {"type": "input_image", "image_url": "data:image/jpeg;base64,BBB", "detail": "auto"}
        ]})
    );
}

#[test]
fn long_user_ids_are_hashed() {
    let mut b = base(json!([{"role": "user", "content": "q"}]));
    b["metadata"] = json!({"user_id": "u".repeat(200)});
    let user = translate(b)["user"].as_str().unwrap().to_owned();
    assert!(user.starts_with("user_") && user.len() <= 64, "{user}");
}

#[test]
fn every_claude_code_fixture_translates_to_well_formed_items() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/claude-code");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".json") || name.contains("headers") {
            continue;
        }
        n += 1;
        let r = translate(serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap());
        let input = r["input"].as_array().unwrap();
        let calls: Vec<&str> = input
            .iter()
            .filter(|i| i["type"] == "function_call")
            .map(|i| i["call_id"].as_str().unwrap())
            .collect();
        let outputs: Vec<&str> = input
            .iter()
            .filter(|i| i["type"] == "function_call_output")
            .map(|i| i["call_id"].as_str().unwrap())
            .collect();
        assert_eq!(calls.len(), outputs.len(), "{name}");
        assert!(outputs.iter().all(|o| calls.contains(o)), "{name}");
        assert!(
            !r.to_string().contains("x-anthropic-billing-header"),
            "{name}"
        );
        assert!(r.get("thinking").is_none() && r.get("context_management").is_none());
        assert_eq!(r["store"], false);
    }
    assert!(n > 0);
}
