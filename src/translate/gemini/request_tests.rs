use serde_json::{json, Value};

use super::{to_gemini_request, GeminiRequestOptions};
use crate::protocol::anthropic::MessagesRequest;
use crate::translate::common::history::INTERRUPTED;
use crate::translate::gemini::contents::CONTINUE_PLACEHOLDER;
use crate::translate::gemini::{sanitize_tool_name, SKIP_SIGNATURE};
use crate::translate::synthetic_signature;

fn gemini(body: Value, model: &str) -> Value {
    let req: MessagesRequest = serde_json::from_value(body).unwrap();
    let opts = GeminiRequestOptions {
        max_tokens_cap: Some(8192),
        model,
    };
    serde_json::to_value(to_gemini_request(&req, &opts)).unwrap()
}

fn convo(messages: Value) -> Value {
    gemini(
        json!({"model": "c", "max_tokens": 100, "messages": messages}),
        "gemini-2.5-flash",
    )
}

fn call(id: &str, name: &str) -> Value {
    json!({"type": "tool_use", "id": id, "name": name, "input": {"x": 1}})
}

fn result(id: &str, content: Value) -> Value {
    json!({"type": "tool_result", "tool_use_id": id, "content": content})
}

#[test]
fn system_prompt_and_system_turns_become_the_system_instruction() {
    let out = gemini(
        json!({"model": "c", "max_tokens": 10,
               "system": [{"type": "text", "text": "A"}, {"type": "text", "text": ""}, {"type": "text", "text": "B"}],
               "messages": [{"role": "user", "content": "hi"},
                            {"role": "system", "content": "C"},
                            {"role": "user", "content": [{"type": "text", "text": "again"}]}]}),
        "gemini-2.5-flash",
    );
    assert_eq!(
        out["systemInstruction"],
        json!({"parts": [{"text": "A"}, {"text": "B"}, {"text": "C"}]})
    );
    // The two user turns around the system turn merge.
    assert_eq!(
        out["contents"],
        json!([{"role": "user", "parts": [{"text": "hi"}, {"text": "again"}]}])
    );
    let out = convo(json!([{"role": "user", "content": "x"}]));
    assert!(out.get("systemInstruction").is_none());
}

#[test]
fn media_blocks_map_to_inline_data_or_text() {
    let out = convo(json!([{"role": "user", "content": [
        {"type": "text", "text": ""},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
        {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc text"}},
        {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "c1"}, {"type": "text", "text": "c2"}]}},
        {"type": "search_result", "content": [{"type": "text", "text": "found"}]},
        {"type": "brand_new"}
    ]}]));
    assert_eq!(
        out["contents"][0]["parts"],
        json!([
            {"inlineData": {"mimeType": "image/png", "data": "iVBO"}},
            {"text": "[image: https://x/y.png]"},
            {"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}},
            {"text": "doc text"},
            {"text": "c1\n\nc2"},
            {"text": "found"}
        ])
    );
}

#[test]
fn tool_results_follow_call_order_and_trailing_text_gets_its_own_turn() {
    let out = convo(json!([
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "text", "text": "ok"}, call("toolu_1", "Read"), call("toolu_2", "Bash")]},
        {"role": "user", "content": [
            result("toolu_2", json!("two")),
            {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": true, "content": [{"type": "text", "text": "boom"}]},
            result("toolu_ghost", json!("dropped")),
            {"type": "text", "text": "and now?"}
        ]}
    ]));
    assert_eq!(
        out["contents"],
        json!([
            {"role": "user", "parts": [{"text": "go"}]},
            {"role": "model", "parts": [
                {"text": "ok"},
                {"functionCall": {"name": "Read", "args": {"x": 1}}},
                {"functionCall": {"name": "Bash", "args": {"x": 1}}}]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "Read", "response": {"error": "boom"}}},
                {"functionResponse": {"name": "Bash", "response": {"output": "two"}}}]},
            {"role": "model", "parts": [{"text": CONTINUE_PLACEHOLDER}]},
            {"role": "user", "parts": [{"text": "and now?"}]}
        ])
    );
}

#[test]
fn missing_results_are_synthesized_and_json_output_is_structured() {
    let out = convo(json!([
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [call("toolu_1", "Read"), call("toolu_2", "Read")]},
        {"role": "user", "content": [result("toolu_2", json!("{\"a\": [1]}"))]}
    ]));
    let parts = &out["contents"][2]["parts"];
    assert_eq!(
        parts[0]["functionResponse"]["response"],
        json!({"error": INTERRUPTED})
    );
    assert_eq!(
        parts[1]["functionResponse"]["response"],
        json!({"output": {"a": [1]}})
    );
    // Results whose call is not in the preceding model turn are dropped.
    let out = convo(json!([
        {"role": "user", "content": [result("toolu_9", json!("x")), {"type": "text", "text": "hi"}]}
    ]));
    assert_eq!(
        out["contents"],
        json!([{"role": "user", "parts": [{"text": "hi"}]}])
    );
}

#[test]
fn tool_result_images_ride_in_function_response_parts() {
    let out = convo(json!([
        {"role": "user", "content": "look"},
        {"role": "assistant", "content": [call("toolu_1", "Read")]},
        {"role": "user", "content": [result("toolu_1", json!([
            {"type": "text", "text": "an image"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
        ]))]}
    ]));
    assert_eq!(
        out["contents"][2]["parts"][0]["functionResponse"],
        json!({"name": "Read", "response": {"output": "an image"},
               "parts": [{"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]})
    );
}

#[test]
fn results_split_over_consecutive_user_messages_are_merged() {
    let out = convo(json!([
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [call("toolu_1", "A")]},
        {"role": "assistant", "content": [call("toolu_2", "B")]},
        {"role": "user", "content": [result("toolu_1", json!("1"))]},
        {"role": "user", "content": [result("toolu_2", json!("2"))]}
    ]));
    assert_eq!(out["contents"][1]["parts"].as_array().unwrap().len(), 2);
    assert_eq!(
        out["contents"][2]["parts"][1]["functionResponse"]["response"]["output"],
        "2"
    );
}

#[test]
fn gemini_ids_are_echoed_and_client_ids_are_not() {
    let out = convo(json!([
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [call("call_abc", "Read")]},
        {"role": "user", "content": [result("call_abc", json!("r"))]}
    ]));
    assert_eq!(
        out["contents"][1]["parts"][0]["functionCall"]["id"],
        "call_abc"
    );
    assert_eq!(
        out["contents"][2]["parts"][0]["functionResponse"]["id"],
        "call_abc"
    );
}

#[test]
fn thinking_blocks_only_contribute_their_gemini_signatures() {
    let sig = |s: &str| synthetic_signature("gemini", s);
    let out = convo(json!([
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "plan", "signature": sig("")},
            {"type": "thinking", "thinking": "real", "signature": "EqQBanthropic"},
            {"type": "redacted_thinking", "data": "xx"},
            {"type": "text", "text": "hi"},
            {"type": "thinking", "thinking": "", "signature": sig("S1")},
            {"type": "thinking", "thinking": "", "signature": sig("S2")},
            {"type": "text", "text": "there"},
            {"type": "thinking", "thinking": "", "signature": sig("S3")}
        ]},
        {"role": "user", "content": "next"}
    ]));
    assert_eq!(
        out["contents"][1]["parts"],
        json!([
            {"text": "hi"},
            {"text": "", "thoughtSignature": "S1"},
            {"text": "there", "thoughtSignature": "S2"},
            {"text": "", "thoughtSignature": "S3"}
        ])
    );
}

#[test]
fn gemini3_sentinel_only_covers_the_current_turn() {
    let body = json!({"model": "c", "max_tokens": 10, "messages": [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": [call("toolu_1", "A")]},
        {"role": "user", "content": [result("toolu_1", json!("r"))]},
        {"role": "assistant", "content": [{"type": "text", "text": "done"}]},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": [call("toolu_2", "A"), call("toolu_3", "A")]},
        {"role": "user", "content": [result("toolu_2", json!("r")), result("toolu_3", json!("r"))]}
    ]});
    let out = gemini(body.clone(), "gemini-3-flash-preview");
    let c = &out["contents"];
    assert!(c[1]["parts"][0].get("thoughtSignature").is_none());
    assert_eq!(c[5]["parts"][0]["thoughtSignature"], SKIP_SIGNATURE);
    assert!(c[5]["parts"][1].get("thoughtSignature").is_none());
    let out = gemini(body, "gemini-2.5-pro");
    assert!(out["contents"][5]["parts"][0]
        .get("thoughtSignature")
        .is_none());
}

#[test]
fn trailing_prefill_becomes_a_continuation_request() {
    let out = convo(json!([
        {"role": "user", "content": "give json"},
        {"role": "assistant", "content": "{\"a\":"}
    ]));
    let c = out["contents"].as_array().unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0]["role"], "user");
    let last = c[0]["parts"][1]["text"].as_str().unwrap();
    assert!(
        last.starts_with("Continue your reply") && last.ends_with("{\"a\":"),
        "{last}"
    );
    // Unanswered calls at the end are answered instead.
    let out = convo(
        json!([{"role": "user", "content": "go"}, {"role": "assistant", "content": [call("toolu_1", "A")]}]),
    );
    assert_eq!(
        out["contents"][2]["parts"][0]["functionResponse"]["response"]["error"],
        INTERRUPTED
    );
}

#[test]
fn tools_choice_and_names() {
    let body = |choice: Value| {
        gemini(
            json!({"model": "c", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}],
                   "tools": [
                       {"name": "Read", "input_schema": {"type": "object", "properties": {"p": {"type": "string"}}}},
                       {"name": "no args", "description": "", "input_schema": {"type": "object", "properties": {}}},
                       {"type": "web_search_20250305", "name": "web_search"},
                       {"type": "function", "function": {"name": "fn", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}
                   ],
                   "tool_choice": choice}),
            "gemini-2.5-flash",
        )
    };
    let out = body(json!({"type": "auto"}));
    let decls = &out["tools"][0]["functionDeclarations"];
    let renamed = sanitize_tool_name("no args").into_owned();
    assert_eq!(decls.as_array().unwrap().len(), 3);
    assert_eq!(decls[1], json!({"name": renamed}));
    assert_eq!(decls[2]["name"], "fn");
    assert_eq!(
        out["toolConfig"],
        json!({"functionCallingConfig": {"mode": "AUTO"}})
    );
    assert_eq!(
        body(json!({"type": "any"}))["toolConfig"]["functionCallingConfig"]["mode"],
        "ANY"
    );
    assert_eq!(
        body(json!({"type": "none"}))["toolConfig"]["functionCallingConfig"]["mode"],
        "NONE"
    );
    assert_eq!(
        body(json!({"type": "tool", "name": "no args"}))["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [renamed]}})
    );
    assert!(body(json!({"type": "tool", "name": "missing"}))
        .get("toolConfig")
        .is_none());
    // History uses the same sanitized names.
    let out = convo(json!([
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [call("toolu_1", "no args")]},
        {"role": "user", "content": [result("toolu_1", json!("r"))]}
    ]));
    assert_eq!(
        out["contents"][1]["parts"][0]["functionCall"]["name"],
        renamed
    );
    assert_eq!(
        out["contents"][2]["parts"][0]["functionResponse"]["name"],
        renamed
    );
}

#[test]
fn generation_config_maps_sampling_limits_and_thinking() {
    let base = json!({"model": "c", "max_tokens": 100000, "messages": [{"role": "user", "content": "x"}],
                      "temperature": 0.5, "top_p": 0.9, "top_k": 40,
                      "stop_sequences": ["a", "", "b", "c", "d", "e", "f"],
                      "thinking": {"type": "enabled", "budget_tokens": 2048}});
    let out = gemini(base.clone(), "gemini-2.5-pro");
    assert_eq!(
        out["generationConfig"],
        json!({"maxOutputTokens": 8192, "temperature": 0.5, "topP": 0.9, "topK": 40,
               "stopSequences": ["a", "b", "c", "d", "e"],
               "thinkingConfig": {"includeThoughts": true, "thinkingBudget": 2048}})
    );
    let out = gemini(base.clone(), "gemini-3-pro-preview");
    assert_eq!(
        out["generationConfig"]["thinkingConfig"],
        json!({"includeThoughts": true, "thinkingLevel": "LOW"})
    );
    let mut b = base.clone();
    b["thinking"] = json!({"type": "enabled", "budget_tokens": 10000});
    assert_eq!(
        gemini(b.clone(), "gemini-3-pro")["generationConfig"]["thinkingConfig"]["thinkingLevel"],
        "MEDIUM"
    );
    b["thinking"] = json!({"type": "disabled"});
    assert!(gemini(b.clone(), "gemini-2.5-flash")["generationConfig"]
        .get("thinkingConfig")
        .is_none());
    b["thinking"] = json!({"type": "adaptive"});
    assert_eq!(
        gemini(b, "gemini-2.5-flash")["generationConfig"]["thinkingConfig"],
        json!({"includeThoughts": true})
    );
}
