//! Gemini translation against real Claude Code bodies and a strict stand-in
//! for Gemini's own request validation.
// Test helpers outside `#[test]` functions panic on purpose, like the tests.
#![allow(clippy::unwrap_used, clippy::panic)]

#[path = "support/gemini_validator.rs"]
mod gemini_validator;

use claude_proxy::protocol::anthropic::{MessagesRequest, ResponseBlock};
use claude_proxy::protocol::gemini::GenerateContentResponse;
use claude_proxy::translate::gemini::{
    from_gemini_response, to_gemini_request, GeminiRequestOptions, SKIP_SIGNATURE,
};
use claude_proxy::translate::ResponseContext;
use gemini_validator::validate_gemini_request;
use serde_json::{json, Value};

fn fixtures() -> Vec<(String, Value)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/claude-code");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".json") && !name.ends_with(".headers.json") {
            out.push((
                name,
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap(),
            ));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn translate(body: &Value, model: &str) -> Value {
    let req: MessagesRequest = serde_json::from_value(body.clone()).unwrap();
    let opts = GeminiRequestOptions {
        max_tokens_cap: Some(65_536),
        model,
    };
    serde_json::to_value(to_gemini_request(&req, &opts)).unwrap()
}

#[test]
fn every_claude_code_fixture_translates_to_a_valid_gemini_request() {
    let all = fixtures();
    assert_eq!(all.len(), 12);
    for model in ["gemini-2.5-flash", "gemini-2.5-pro", "gemini-3-pro-preview"] {
        for (name, body) in &all {
            let out = translate(body, model);
            if let Err(e) = validate_gemini_request(&out) {
                panic!(
                    "{name} for {model}: {e}\n{}",
                    serde_json::to_string_pretty(&out).unwrap()
                );
            }
            // Every client tool is declared (DeferredToolPlaceholder without parameters).
            let tools = body["tools"].as_array().unwrap();
            let decls = out["tools"][0]["functionDeclarations"].as_array().unwrap();
            assert_eq!(decls.len(), tools.len(), "{name}");
            let placeholder = decls
                .iter()
                .find(|d| d["name"] == "DeferredToolPlaceholder")
                .unwrap();
            assert!(placeholder.get("parameters").is_none(), "{name}");
            // Claude Code's system blocks, minus its per-request billing header.
            let parts = out["systemInstruction"]["parts"].as_array().unwrap();
            assert!(parts.len() >= 2, "{name}");
            assert!(
                !out["systemInstruction"]
                    .to_string()
                    .contains("x-anthropic-billing-header"),
                "{name}"
            );
            assert!(out["generationConfig"]["maxOutputTokens"].as_u64().unwrap() <= 65_536);
        }
    }
}

#[test]
fn toolsearch_turn2_declares_all_23_tools_and_answers_the_call() {
    let (_, body) = fixtures()
        .into_iter()
        .find(|(n, _)| n == "07-toolsearch-turn2.json")
        .unwrap();
    let out = translate(&body, "gemini-2.5-pro");
    validate_gemini_request(&out).unwrap();
    let decls = out["tools"][0]["functionDeclarations"].as_array().unwrap();
    assert_eq!(decls.len(), 23);
    let read = decls.iter().find(|d| d["name"] == "Read").unwrap();
    assert_eq!(read["parameters"]["properties"]["limit"]["minimum"], 1);
    let fetch = decls.iter().find(|d| d["name"] == "WebFetch").unwrap();
    assert!(fetch["parameters"]["properties"]["url"]
        .get("format")
        .is_none());
    let workflow = decls.iter().find(|d| d["name"] == "Workflow").unwrap();
    assert!(workflow["parameters"]["properties"]["args"]["anyOf"].is_array());

    let contents = out["contents"].as_array().unwrap();
    let roles: Vec<&str> = contents
        .iter()
        .map(|c| c["role"].as_str().unwrap())
        .collect();
    // user prompt, model call, user response, placeholder, user "Tool loaded."
    assert_eq!(roles, ["user", "model", "user", "model", "user"]);
    let response = &contents[2]["parts"][0]["functionResponse"];
    assert_eq!(response["name"], "ToolSearch");
    assert!(response["response"]["output"]
        .as_str()
        .unwrap()
        .contains("Tool loaded: WebFetch"));
    assert_eq!(contents[4]["parts"][0]["text"], "Tool loaded.");
    // Adaptive thinking on 2.5: dynamic.
    assert_eq!(
        out["generationConfig"]["thinkingConfig"],
        json!({"includeThoughts": true})
    );
}

#[test]
fn gemini3_gets_levels_and_signature_sentinels() {
    let (_, body) = fixtures()
        .into_iter()
        .find(|(n, _)| n == "03-parallel-turn2.json")
        .unwrap();
    let out = translate(&body, "gemini-3-pro-preview");
    validate_gemini_request(&out).unwrap();
    // Opus fixture: adaptive thinking with effort "medium".
    assert_eq!(
        out["generationConfig"]["thinkingConfig"],
        json!({"includeThoughts": true, "thinkingLevel": "MEDIUM"})
    );
    let model = out["contents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["role"] == "model")
        .unwrap();
    let calls: Vec<&Value> = model["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p.get("functionCall").is_some())
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["thoughtSignature"], SKIP_SIGNATURE);
    assert!(calls[1].get("thoughtSignature").is_none());

    let (_, haiku) = fixtures()
        .into_iter()
        .find(|(n, _)| n == "05-haiku-turn2.json")
        .unwrap();
    let out = translate(&haiku, "gemini-3-flash-preview");
    assert_eq!(
        out["generationConfig"]["thinkingConfig"]["thinkingLevel"],
        "HIGH"
    );
    let out = translate(&haiku, "gemini-2.5-flash");
    assert_eq!(
        out["generationConfig"]["thinkingConfig"],
        json!({"includeThoughts": true, "thinkingBudget": 24576})
    );
}

#[test]
fn thought_signature_round_trips_through_the_client() {
    let ctx = ResponseContext {
        message_id: "msg_abc".into(),
        model: "claude-sonnet-4-5".into(),
        stop_sequences: vec![],
    };
    let upstream: GenerateContentResponse = serde_json::from_str(
        r#"{"candidates":[{"content":{"role":"model","parts":[
            {"text":"Reading both.","thought":true},
            {"functionCall":{"name":"Read","args":{"file_path":"/a"}},"thoughtSignature":"Q2lRQi9hYg=="},
            {"functionCall":{"name":"Read","args":{"file_path":"/b"}}}]},
          "finishReason":"STOP"}]}"#,
    )
    .unwrap();
    let reply = from_gemini_response(upstream, &ctx).unwrap();
    // The client keeps the assistant content verbatim and answers both calls.
    let ids: Vec<String> = reply
        .content
        .iter()
        .filter_map(|b| match b {
            ResponseBlock::ToolUse { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect();
    let next = json!({
        "model": "claude-sonnet-4-5", "max_tokens": 1000,
        "messages": [
            {"role": "user", "content": "read a and b"},
            {"role": "assistant", "content": serde_json::to_value(&reply.content).unwrap()},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": ids[1], "content": "B"},
                {"type": "tool_result", "tool_use_id": ids[0], "content": "A"}
            ]}
        ],
        "tools": [{"name": "Read", "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}}}]
    });
    for model in ["gemini-2.5-flash", "gemini-3-pro-preview"] {
        let out = translate(&next, model);
        validate_gemini_request(&out).unwrap();
        let model_parts = out["contents"][1]["parts"].as_array().unwrap();
        assert_eq!(
            model_parts.len(),
            2,
            "thinking is never sent as text: {model_parts:?}"
        );
        assert_eq!(model_parts[0]["thoughtSignature"], "Q2lRQi9hYg==");
        assert_eq!(
            model_parts[0]["functionCall"]["args"],
            json!({"file_path": "/a"})
        );
        assert!(model_parts[1].get("thoughtSignature").is_none());
        let responses = out["contents"][2]["parts"].as_array().unwrap();
        assert_eq!(
            responses[0]["functionResponse"]["response"],
            json!({"output": "A"})
        );
        assert_eq!(
            responses[1]["functionResponse"]["response"],
            json!({"output": "B"})
        );
    }
}

#[test]
fn validator_rejects_what_gemini_rejects() {
    let ok = json!({
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"output": 1}}}]}
        ],
        "tools": [{"functionDeclarations": [{"name": "f", "parameters":
            {"type": "object", "properties": {"a": {"type": "string", "enum": ["x"]}}}}]}],
        "generationConfig": {"thinkingConfig": {"thinkingBudget": 10}}
    });
    validate_gemini_request(&ok).unwrap();
    let broken = |pointer: &str, value: Value| {
        let mut b = ok.clone();
        *b.pointer_mut(pointer).unwrap() = value;
        validate_gemini_request(&b).unwrap_err()
    };
    let a = "/tools/0/functionDeclarations/0/parameters/properties/a";
    broken(a, json!({"type": "string", "additionalProperties": false}));
    broken(a, json!({"type": "integer", "exclusiveMinimum": 0}));
    broken(a, json!({"type": "string", "enum": [1]}));
    broken(a, json!({"type": "string", "format": "uri"}));
    broken(a, json!({"type": ["string", "null"]}));
    broken(a, json!({"type": "object", "properties": {}}));
    broken(a, json!({"description": "no type"}));
    broken("/contents/0/role", json!("system"));
    broken("/contents/2/role", json!("model"));
    broken("/contents/0/parts", json!([]));
    broken("/contents/2/parts", json!([{"text": "no response"}]));
    broken("/contents/2/parts/0/functionResponse/name", json!("g"));
    broken(
        "/generationConfig/thinkingConfig",
        json!({"thinkingBudget": 1, "thinkingLevel": "LOW"}),
    );
    let mut ends_with_model = ok.clone();
    ends_with_model["contents"]
        .as_array_mut()
        .unwrap()
        .push(json!({"role": "model", "parts": [{"text": "x"}]}));
    validate_gemini_request(&ends_with_model).unwrap_err();
}
