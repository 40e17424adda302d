use super::*;

fn chat(b: &str) -> Option<OptionalParam> {
    rejected_param(CHAT_PARAMS, 400, b.as_bytes())
}

fn responses(b: &str) -> Option<OptionalParam> {
    rejected_param(RESPONSES_PARAMS, 400, b.as_bytes())
}

#[test]
fn recognises_refused_optional_parameters() {
    let r = chat;
    assert_eq!(
        r(
            r#"{"error":{"message":"Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.","type":"invalid_request_error","param":"max_tokens","code":"unsupported_parameter"}}"#
        ),
        Some(OptionalParam::MaxTokens)
    );
    assert_eq!(
        r(
            r#"{"error":{"message":"Unsupported value: 'temperature' does not support 0.2 with this model. Only the default (1) value is supported.","param":"temperature","code":"unsupported_value"}}"#
        ),
        Some(OptionalParam::Temperature)
    );
    assert_eq!(
        r(r#"{"error":{"message":"Unrecognized request argument supplied: reasoning_effort"}}"#),
        Some(OptionalParam::ReasoningEffort)
    );
    assert_eq!(
        r(r#"{"error":{"message":"messages: bad role","param":"messages"}}"#),
        None
    );
    assert_eq!(
        r(r#"{"error":{"message":"temperature must be <= 2"}}"#),
        None
    );
    assert_eq!(
        rejected_param(
            CHAT_PARAMS,
            401,
            br#"{"error":{"message":"unsupported 'user'"}}"#
        ),
        None
    );
}

#[test]
fn recognises_refusals_in_responses_terms() {
    let r = responses;
    assert_eq!(
        r(
            r#"{"error":{"message":"Unsupported parameter: 'reasoning.effort' is not supported with this model.","type":"invalid_request_error","param":"reasoning.effort","code":"unsupported_parameter"}}"#
        ),
        Some(OptionalParam::ReasoningEffort)
    );
    assert_eq!(
        r(
            r#"{"error":{"message":"Your organization must be verified to generate reasoning summaries.","type":"invalid_request_error","param":"reasoning.summary","code":"unsupported_value"}}"#
        ),
        Some(OptionalParam::ReasoningSummary)
    );
    assert_eq!(
        r(
            r#"{"error":{"message":"Unsupported parameter: 'temperature' is not supported with this model.","param":"temperature","code":"unsupported_parameter"}}"#
        ),
        Some(OptionalParam::Temperature)
    );
    assert_eq!(
        r(
            r#"{"error":{"message":"Encrypted content is not supported with this model.","param":"include","code":"unsupported_parameter"}}"#
        ),
        Some(OptionalParam::Include)
    );
    assert_eq!(
        r(
            r#"{"error":{"message":"The encrypted content for item rs_1 could not be verified.","param":null,"code":"invalid_encrypted_content"}}"#
        ),
        Some(OptionalParam::ReasoningItems)
    );
    assert_eq!(
        r(
            r#"{"error":{"message":"Item with id 'rs_03ed' not found. Items are not persisted when `store` is set to false. Try again with `store` set to true, or remove this item from your input.","type":"invalid_request_error","param":"input"}}"#
        ),
        Some(OptionalParam::ReasoningItems)
    );
    assert_eq!(
        r(
            r#"{"error":{"message":"max_output_tokens is too large: 128000. This model supports at most 64000 output tokens.","param":"max_output_tokens"}}"#
        ),
        Some(OptionalParam::MaxTokensAtMost(64000))
    );
    // Chat names mean nothing here, and the other way round.
    assert_eq!(
        r(r#"{"error":{"message":"Unrecognized request argument supplied: reasoning_effort"}}"#),
        None
    );
    assert_eq!(
        chat(
            r#"{"error":{"message":"Encrypted content is not supported with this model.","param":"include"}}"#
        ),
        None
    );
    assert!(!OptionalParam::ReasoningItems.holds_for_model());
    assert!(OptionalParam::Include.holds_for_model());
}

#[test]
fn recognises_output_token_limits() {
    let r = chat;
    assert_eq!(
        r(
            r#"{"error":{"message":"max_tokens is too large: 128000. This model supports at most 16384 completion tokens, whereas you provided 128000.","param":"max_tokens","code":"invalid_value"}}"#
        ),
        Some(OptionalParam::MaxTokensAtMost(16384))
    );
    assert_eq!(
        r(
            r#"{"error":{"message":"Invalid max_tokens value, the valid range of max_tokens is [1, 8192]","type":"invalid_request_error"}}"#
        ),
        Some(OptionalParam::MaxTokensAtMost(8192))
    );
    assert_eq!(
        r(
            r#"{"object":"error","message":"'max_tokens' or 'max_completion_tokens' is too large: 128000. This model's maximum context length is 32768 tokens and your request has 1500 input tokens (128000 > 32768 - 1500).","type":"BadRequestError","code":400}"#
        ),
        Some(OptionalParam::MaxTokensAtMost(31268))
    );
    assert_eq!(
        r(r#"{"error":{"message":"prompt is too long: 300000 tokens > 200000 maximum"}}"#),
        None
    );
}

fn patched(
    names: ParamNames,
    body: serde_json::Value,
    p: OptionalParam,
) -> Option<serde_json::Value> {
    let bytes = serde_json::to_vec(&body).unwrap();
    drop_param_in_body(names, &bytes, p)
        .unwrap()
        .map(|b| serde_json::from_slice(&b).unwrap())
}

#[test]
fn responses_bodies_lose_nested_fields_and_reasoning_items() {
    use serde_json::json;
    let body = json!({"model": "m", "reasoning": {"effort": "low", "summary": "auto"},
        "max_output_tokens": 128000, "include": ["reasoning.encrypted_content"],
        "input": [{"type": "reasoning", "id": "rs_1"}, {"type": "message", "role": "user", "content": []}]});
    let r = RESPONSES_PARAMS;
    let p = |b: &serde_json::Value, q| patched(r, b.clone(), q);
    let no_summary = p(&body, OptionalParam::ReasoningSummary).unwrap();
    assert_eq!(no_summary["reasoning"], json!({"effort": "low"}));
    let bare = p(&no_summary, OptionalParam::ReasoningEffort).unwrap();
    assert!(bare.get("reasoning").is_none());
    assert_eq!(
        p(&body, OptionalParam::MaxTokensAtMost(64000)).unwrap()["max_output_tokens"],
        64000
    );
    assert!(p(&body, OptionalParam::Include)
        .unwrap()
        .get("include")
        .is_none());
    let items = p(&body, OptionalParam::ReasoningItems).unwrap();
    assert_eq!(items["input"].as_array().unwrap().len(), 1);
    assert_eq!(
        p(&items, OptionalParam::ReasoningItems),
        None,
        "nothing left to drop"
    );
    assert_eq!(
        p(&body, OptionalParam::StreamOptions),
        None,
        "not a Responses parameter"
    );
    assert_eq!(p(&bare, OptionalParam::ReasoningSummary), None);
}

#[test]
fn refusals_are_remembered_per_model_and_bounded() {
    let r = Refusals::default();
    r.remember("a", OptionalParam::Temperature);
    r.remember("a", OptionalParam::Temperature);
    r.remember("b", OptionalParam::User);
    assert_eq!(r.for_model("a"), vec![OptionalParam::Temperature]);
    assert_eq!(r.for_model("b"), vec![OptionalParam::User]);
    assert!(r.for_model("c").is_empty());
    for i in 0..(MAX_REFUSALS as u64 * 2) {
        r.remember("m", OptionalParam::MaxTokensAtMost(i));
    }
    assert!(r.0.lock().unwrap().len() <= MAX_REFUSALS);
}
