//! `POST /v1/responses` against every upstream type: plain, stream
//! (event grammar and sequence numbers), function tools, reasoning items
//! that carry thinking blocks across turns, stateless refusals.

use serde_json::{json, Value};

use super::inbound_common::*;
use crate::common::mock_anthropic;
use crate::common::*;

/// Checks the Responses stream grammar this gateway keeps and returns the
/// events: `event:` names equal `type`, sequence numbers count from 0,
/// `response.created` first, one terminal event last, every output item
/// added before its deltas and done after them, the same response id
/// throughout.
fn responses_events(bytes: &[u8]) -> Vec<Value> {
    let frames = frames(bytes);
    let mut out = Vec::new();
    let mut open: std::collections::HashSet<u64> = Default::default();
    for (i, f) in frames.iter().enumerate() {
        let v: Value = serde_json::from_str(&f.data).unwrap();
        assert_eq!(f.event.as_deref(), v["type"].as_str(), "{v}");
        assert_eq!(v["sequence_number"], i as u64, "{v}");
        let t = v["type"].as_str().unwrap();
        let idx = v["output_index"].as_u64();
        match t {
            "response.output_item.added" => assert!(open.insert(idx.unwrap()), "{v}"),
            "response.output_item.done" => assert!(open.remove(&idx.unwrap()), "{v}"),
            _ if idx.is_some() => assert!(open.contains(&idx.unwrap()), "{v}"),
            _ => {}
        }
        out.push(v);
    }
    assert_eq!(out[0]["type"], "response.created");
    let last = out.last().unwrap()["type"].as_str().unwrap();
    assert!(
        [
            "response.completed",
            "response.incomplete",
            "response.failed"
        ]
        .contains(&last),
        "{last}"
    );
    assert!(open.is_empty(), "items left open: {open:?}");
    let ids: std::collections::HashSet<_> = out
        .iter()
        .filter_map(|e| e["response"]["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    out
}

fn text_of(response: &Value) -> String {
    response["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == "message")
        .flat_map(|o| o["content"].as_array().unwrap().iter())
        .filter_map(|c| c["text"].as_str())
        .collect()
}

#[tokio::test]
async fn plain_and_streamed_answers_from_every_upstream() {
    for (kind, key) in KINDS {
        let mock = mock_for(kind, hello_script).await;
        let app = app_for(kind, key, &mock).await;
        let body =
            json!({"model": "gpt-x", "instructions": "be brief", "input": "hi", "store": false});
        let resp = post(&app, "/v1/responses", &body).await;
        assert_eq!(resp.status(), 200, "{kind}");
        let r: Value = resp.json().await.unwrap();
        assert_eq!(
            (r["object"].as_str(), r["status"].as_str()),
            (Some("response"), Some("completed"))
        );
        assert!(r["id"].as_str().unwrap().starts_with("resp_"));
        assert_eq!(r["model"], "gpt-x");
        assert_eq!(text_of(&r), "Hello from the mock", "{kind}: {r}");
        assert_eq!(r["usage"]["input_tokens"], 29, "{kind}: {r}");
        assert_eq!(r["usage"]["input_tokens_details"]["cached_tokens"], 8);
        assert_eq!(r["usage"]["output_tokens"], 7);
        assert_eq!(r["store"], false);

        let resp = post(&app, "/v1/responses", &body.clone().with("stream", true)).await;
        assert_eq!(resp.status(), 200);
        let events = responses_events(&resp.bytes().await.unwrap());
        let deltas: String = events
            .iter()
            .filter(|e| e["type"] == "response.output_text.delta")
            .filter_map(|e| e["delta"].as_str())
            .collect();
        assert_eq!(deltas, "Hello from the mock", "{kind}");
        let done = events.last().unwrap();
        assert_eq!(done["type"], "response.completed");
        assert_eq!(text_of(&done["response"]), "Hello from the mock");
        assert_eq!(done["response"]["usage"]["input_tokens"], 29, "{kind}");
    }
}

#[tokio::test]
async fn function_tools_round_trip_through_every_upstream() {
    let tool = json!({"type": "function", "name": "get_weather", "strict": false,
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}});
    for (kind, key) in KINDS {
        for stream in [false, true] {
            let mock = mock_for(kind, weather_script).await;
            let app = app_for(kind, key, &mock).await;
            let user =
                json!({"role": "user", "content": [{"type": "input_text", "text": "Paris?"}]});
            let body = json!({"model": "gpt-x", "input": [user], "stream": stream,
                "tools": [tool, {"type": "web_search"}], "parallel_tool_calls": false});
            let resp = post(&app, "/v1/responses", &body).await;
            assert_eq!(resp.status(), 200, "{kind}");
            let r = if stream {
                let events = responses_events(&resp.bytes().await.unwrap());
                events.last().unwrap()["response"].clone()
            } else {
                resp.json().await.unwrap()
            };
            let call = r["output"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["type"] == "function_call")
                .unwrap_or_else(|| panic!("{kind}: {r}"))
                .clone();
            assert_eq!(call["name"], "get_weather");
            let args: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
            assert_eq!(args, json!({"city": "Paris"}));
            let sent = mock.requests()[0].body.to_string();
            assert!(
                !sent.contains("web_search"),
                "hosted tools stay out: {sent}"
            );
            let mut input = vec![user.clone()];
            input.extend(r["output"].as_array().unwrap().iter().cloned());
            input.push(json!({"type": "function_call_output", "call_id": call["call_id"], "output": "18C and sunny"}));
            let second = json!({"model": "gpt-x", "input": input, "tools": [tool]});
            let r2: Value = post(&app, "/v1/responses", &second)
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(text_of(&r2), "It is 18C and sunny", "{kind}: {r2}");
        }
    }
}

#[tokio::test]
async fn reasoning_items_carry_the_thinking_block_into_the_next_turn() {
    let mock = spawn_mock(mock_anthropic::validate, |r| {
        mock_anthropic::script_reply(
            r,
            &Script::text(&["42"]).with_thinking("let me see", "sig-Abc/+="),
        )
    })
    .await;
    let app = app_for("claude", "sk-ant-1", &mock).await;
    for stream in [false, true] {
        let body = json!({"model": "gpt-x", "input": "hi", "store": false, "stream": stream,
            "include": ["reasoning.encrypted_content"], "reasoning": {"effort": "medium", "summary": "auto"}});
        let resp = post(&app, "/v1/responses", &body).await;
        let r = if stream {
            responses_events(&resp.bytes().await.unwrap())
                .last()
                .unwrap()["response"]
                .clone()
        } else {
            resp.json().await.unwrap()
        };
        let reasoning = &r["output"][0];
        assert_eq!(reasoning["type"], "reasoning", "{r}");
        assert_eq!(reasoning["summary"][0]["text"], "let me see");
        assert!(reasoning["encrypted_content"].is_string());
        let input = json!([{"role": "user", "content": "hi"}, r["output"][0], r["output"][1],
            {"role": "user", "content": "and again?"}]);
        let next = json!({"model": "gpt-x", "input": input, "store": false});
        assert_eq!(post(&app, "/v1/responses", &next).await.status(), 200);
        let sent = mock.requests().last().unwrap().body.clone();
        assert_eq!(
            sent["messages"][1],
            json!({"role": "assistant", "content": [
                {"type": "thinking", "thinking": "let me see", "signature": "sig-Abc/+="},
                {"type": "text", "text": "42"}]}),
            "{sent}"
        );
    }
}

#[tokio::test]
async fn state_on_the_server_is_a_clear_400() {
    let mock = mock_for("openai", hello_script).await;
    let app = app_for("openai", "sk-1", &mock).await;
    for body in [
        json!({"model": "gpt-x", "input": "hi", "previous_response_id": "resp_1"}),
        json!({"model": "gpt-x", "input": [{"type": "item_reference", "id": "msg_1"}]}),
        json!({"model": "gpt-x", "input": "hi", "background": true}),
    ] {
        let e = expect_openai_error(
            post(&app, "/v1/responses", &body).await,
            400,
            "invalid_request_error",
        )
        .await;
        assert!(
            e["message"].as_str().unwrap().contains("stateless")
                || e["message"].as_str().unwrap().contains("stores no"),
            "{e}"
        );
    }
    assert_eq!(mock.count(), 0);
}

/// A call of Codex's `multi_agent_v1` namespace, or text once its output
/// came back.
fn namespace_script(rec: &Recorded) -> Script {
    if rec.body.to_string().contains("agent-7 started") {
        Script::text(&["The agent runs"])
    } else {
        Script::tools(vec![ToolCall::new(
            Some("call_ns1".into()),
            "multi_agent_v1__spawn_agent",
            json!({"task": "tests"}),
        )])
    }
}

#[tokio::test]
async fn namespace_tools_reach_every_upstream_and_their_calls_come_back_namespaced() {
    // The shape Codex CLI sends (a `namespace` tool grouping functions).
    let namespace = json!({"type": "namespace", "name": "multi_agent_v1",
        "description": "Tools for spawning and managing sub-agents.",
        "tools": [{"type": "function", "name": "spawn_agent", "description": "Spawn a sub-agent",
            "strict": false, "parameters": {"type": "object",
                "properties": {"task": {"type": "string"}}, "required": ["task"]}}]});
    for (kind, key) in KINDS {
        for stream in [false, true] {
            let mock = mock_for(kind, namespace_script).await;
            let app = app_for(kind, key, &mock).await;
            let user = json!({"role": "user", "content": "spawn one"});
            let body = json!({"model": "gpt-x", "input": [user], "stream": stream,
                "tools": [namespace]});
            let resp = post(&app, "/v1/responses", &body).await;
            assert_eq!(resp.status(), 200, "{kind}");
            let r = if stream {
                let events = responses_events(&resp.bytes().await.unwrap());
                let added = events
                    .iter()
                    .find(|e| e["type"] == "response.output_item.added")
                    .unwrap();
                assert_eq!(added["item"]["namespace"], "multi_agent_v1", "{kind}");
                events.last().unwrap()["response"].clone()
            } else {
                resp.json().await.unwrap()
            };
            let call = r["output"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["type"] == "function_call")
                .unwrap_or_else(|| panic!("{kind}: {r}"))
                .clone();
            assert_eq!(
                (call["namespace"].as_str(), call["name"].as_str()),
                (Some("multi_agent_v1"), Some("spawn_agent")),
                "{kind}: {call}"
            );
            let sent = mock.requests()[0].body.to_string();
            assert!(
                sent.contains("multi_agent_v1__spawn_agent"),
                "{kind}: {sent}"
            );
            let mut input = vec![user.clone()];
            input.extend(r["output"].as_array().unwrap().iter().cloned());
            input.push(
                json!({"type": "function_call_output", "call_id": call["call_id"],
                "output": "agent-7 started"}),
            );
            let second = json!({"model": "gpt-x", "input": input, "tools": [namespace]});
            let r2: Value = post(&app, "/v1/responses", &second)
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(text_of(&r2), "The agent runs", "{kind}: {r2}");
        }
    }
}
