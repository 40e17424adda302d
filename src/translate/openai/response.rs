//! OpenAI `ChatResponse` → Anthropic `MessagesResponse` (PROTOCOLS D.2, D.6,
//! D.7). The stream translator must reach the same message from the same
//! pieces; the shared rules live in the parent module.

use serde_json::{Map, Value};

use super::{
    find_stop_sequence, map_usage, non_empty, stop_reason, thinking_signature,
    upstream_stop_sequence,
};
use crate::protocol::anthropic::{MessagesResponse, ResponseBlock, StopReason};
use crate::protocol::openai::ChatResponse;
use crate::translate::common::emit::ToolIds;
use crate::translate::tool_args::normalize_tool_arguments_value;
use crate::translate::ResponseContext;

pub fn from_openai_response(resp: ChatResponse, ctx: &ResponseContext) -> MessagesResponse {
    let mut msg = MessagesResponse::new(ctx.message_id.clone(), ctx.model.clone());
    msg.usage = resp.usage.as_ref().map(map_usage).unwrap_or_default();
    msg.stop_reason = Some(StopReason::EndTurn);
    // Only choice 0: the proxy never asks for `n > 1`.
    let Some(choice) = resp.choices.into_iter().next() else {
        return msg;
    };
    let m = choice.message;

    let reasoning = non_empty(m.reasoning_content).or_else(|| non_empty(m.reasoning));
    if let Some(thinking) = reasoning {
        msg.content.push(ResponseBlock::Thinking {
            thinking,
            signature: thinking_signature(),
        });
    }

    let refusal = non_empty(m.refusal);
    let mut text = m.content.unwrap_or_default();
    if let Some(r) = &refusal {
        text.push_str(r);
    }
    let stop =
        find_stop_sequence(&text, &ctx.stop_sequences).map(|(start, seq)| (start, seq.to_owned()));
    if let Some((start, _)) = &stop {
        text.truncate(*start);
    }
    if !text.is_empty() {
        msg.content.push(ResponseBlock::Text { text });
    }
    // A stop sequence ends the message where it matched; tool calls come
    // after the text, so none of them was "before" the stop.
    let stop = stop
        .map(|(_, seq)| seq)
        .or_else(|| upstream_stop_sequence(choice.stop_reason.as_ref(), ctx));
    if let Some(seq) = stop {
        msg.stop_reason = Some(StopReason::StopSequence);
        msg.stop_sequence = Some(seq);
        return msg;
    }

    let mut ids = ToolIds::default();
    let mut tool_uses = 0;
    for call in m.tool_calls.unwrap_or_default() {
        // A call without a name cannot be run by any client.
        let Some(name) = non_empty(call.function.name) else {
            continue;
        };
        let json = normalize_tool_arguments_value(
            call.function.arguments.as_ref().unwrap_or(&Value::Null),
        );
        let input = serde_json::from_str(&json).unwrap_or_else(|_| Value::Object(Map::new()));
        msg.content.push(ResponseBlock::ToolUse {
            id: ids.assign(call.id.as_deref(), ctx),
            name,
            input,
        });
        tool_uses += 1;
    }
    msg.stop_reason = Some(stop_reason(
        choice.finish_reason.as_deref(),
        tool_uses,
        refusal.is_some(),
    ));
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::anthropic::Usage;
    use serde_json::json;

    fn ctx(stops: &[&str]) -> ResponseContext {
        ResponseContext {
            message_id: "msg_T".into(),
            model: "claude-x".into(),
            stop_sequences: stops.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn translate(body: Value, stops: &[&str]) -> MessagesResponse {
        let resp: ChatResponse = serde_json::from_value(body).unwrap();
        from_openai_response(resp, &ctx(stops))
    }

    #[test]
    fn text_reasoning_tools_and_usage() {
        let m = translate(
            json!({"id":"chatcmpl-1","choices":[{"index":0,"message":{"role":"assistant",
                "reasoning_content":"think","reasoning":"ignored","content":"Let me check.",
                "tool_calls":[
                  {"id":"call_A","type":"function","function":{"name":"get","arguments":"{\"city\":\"Paris\"}"}},
                  {"id":"functions.Read:1","type":"function","function":{"name":"Read","arguments":{"p":1}}},
                  {"type":"function","function":{"name":"Noargs","arguments":""}},
                  {"id":"call_X","type":"function","function":{"arguments":"{}"}}
                ]},"finish_reason":"stop"}],
              "usage":{"prompt_tokens":120,"completion_tokens":30,"total_tokens":150,
                       "prompt_tokens_details":{"cached_tokens":64}}}),
            &[],
        );
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(
            v,
            json!({"id":"msg_T","type":"message","role":"assistant","model":"claude-x",
              "content":[
                {"type":"thinking","thinking":"think","signature":thinking_signature()},
                {"type":"text","text":"Let me check."},
                {"type":"tool_use","id":"call_A","name":"get","input":{"city":"Paris"}},
                {"type":"tool_use","id":"functions_Read_1","name":"Read","input":{"p":1}},
                {"type":"tool_use","id":"toolu_T02","name":"Noargs","input":{}}
              ],
              "stop_reason":"tool_use","stop_sequence":null,
              "usage":{"input_tokens":56,"output_tokens":30,"cache_creation_input_tokens":0,"cache_read_input_tokens":64}})
        );
    }

    #[test]
    fn vllm_reasoning_field_and_empty_content() {
        let m = translate(
            json!({"choices":[{"message":{"content":"","reasoning":"r"},"finish_reason":"length"}]}),
            &[],
        );
        assert_eq!(m.content.len(), 1);
        assert!(
            matches!(&m.content[0], ResponseBlock::Thinking { thinking, .. } if thinking == "r")
        );
        assert_eq!(m.stop_reason, Some(StopReason::MaxTokens));
        assert_eq!(m.usage, Usage::default());
    }

    #[test]
    fn refusal_becomes_text_and_refusal_stop() {
        let m = translate(
            json!({"choices":[{"message":{"content":null,"refusal":"I can't."},"finish_reason":"stop"}]}),
            &[],
        );
        assert_eq!(
            m.content,
            vec![ResponseBlock::Text {
                text: "I can't.".into()
            }]
        );
        assert_eq!(m.stop_reason, Some(StopReason::Refusal));
        let m = translate(
            json!({"choices":[{"message":{},"finish_reason":"content_filter"}]}),
            &[],
        );
        assert!(m.content.is_empty());
        assert_eq!(m.stop_reason, Some(StopReason::Refusal));
    }

    #[test]
    fn finish_reasons() {
        let stop = |f: Value| {
            translate(
                json!({"choices":[{"message":{"content":"x"},"finish_reason":f}]}),
                &[],
            )
            .stop_reason
        };
        assert_eq!(stop(json!("stop")), Some(StopReason::EndTurn));
        assert_eq!(stop(json!("length")), Some(StopReason::MaxTokens));
        assert_eq!(stop(json!(null)), Some(StopReason::EndTurn));
        assert_eq!(stop(json!("eos")), Some(StopReason::EndTurn));
        let m = translate(
            json!({"choices":[{"message":{"tool_calls":[{"id":"c","function":{"name":"f","arguments":"{\"a\":"}}]},"finish_reason":"length"}]}),
            &[],
        );
        assert_eq!(m.stop_reason, Some(StopReason::MaxTokens));
        assert!(
            matches!(&m.content[0], ResponseBlock::ToolUse { input, .. } if input == &json!({}))
        );
    }

    #[test]
    fn stop_sequence_cuts_text_and_drops_tools() {
        let m = translate(
            json!({"choices":[{"message":{"content":"one two STOP three",
                "tool_calls":[{"id":"c","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}),
            &["STOP", "three"],
        );
        assert_eq!(
            m.content,
            vec![ResponseBlock::Text {
                text: "one two ".into()
            }]
        );
        assert_eq!(m.stop_reason, Some(StopReason::StopSequence));
        assert_eq!(m.stop_sequence.as_deref(), Some("STOP"));
        let m = translate(
            json!({"choices":[{"message":{"content":"STOP"},"finish_reason":"stop"}]}),
            &["STOP"],
        );
        assert!(m.content.is_empty());
    }

    #[test]
    fn vllm_stop_reason_names_the_sequence() {
        let m = translate(
            json!({"choices":[{"message":{"content":"abc"},"finish_reason":"stop","stop_reason":"END"}]}),
            &["END"],
        );
        assert_eq!(m.stop_reason, Some(StopReason::StopSequence));
        assert_eq!(m.stop_sequence.as_deref(), Some("END"));
        let m = translate(
            json!({"choices":[{"message":{"content":"abc"},"finish_reason":"stop","stop_reason":151643}]}),
            &["END"],
        );
        assert_eq!(m.stop_reason, Some(StopReason::EndTurn));
    }

    #[test]
    fn no_choices_is_an_empty_end_turn() {
        let m = translate(json!({"choices":null}), &[]);
        assert!(m.content.is_empty());
        assert_eq!(m.stop_reason, Some(StopReason::EndTurn));
        let v = serde_json::to_value(&m).unwrap();
        assert!(v.as_object().unwrap().contains_key("stop_sequence"));
    }
}
