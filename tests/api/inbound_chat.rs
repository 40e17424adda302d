//! `POST /v1/chat/completions` against every upstream type: plain, stream
//! (with the usage chunk), tools, the pass-through to OpenAI-type upstreams,
//! structured output elsewhere, reasoning effort, cross-protocol failover.

use serde_json::{json, Value};

use super::inbound_common::*;
use crate::common::*;
use crate::common::{mock_anthropic, mock_openai};

fn chat(stream: bool) -> Value {
    json!({"model": "gpt-x", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"}
    ], "stream": stream})
}

#[tokio::test]
async fn plain_answers_from_every_upstream() {
    for (kind, key) in KINDS {
        let mock = mock_for(kind, hello_script).await;
        let app = app_for(kind, key, &mock).await;
        let resp = post(&app, "/v1/chat/completions", &chat(false)).await;
        assert_eq!(resp.status(), 200, "{kind}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["object"], "chat.completion", "{kind}: {v}");
        assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"), "{v}");
        let m = &v["choices"][0]["message"];
        assert_eq!(m["role"], "assistant");
        assert_eq!(m["content"], "Hello from the mock", "{kind}: {v}");
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        // 21 uncached + 8 cached input tokens, 7 output.
        assert_eq!(v["usage"]["prompt_tokens"], 29, "{kind}: {v}");
        assert_eq!(v["usage"]["completion_tokens"], 7);
        if !kind.starts_with("openai") {
            assert_eq!(v["model"], "gpt-x", "the model the client asked for");
        }
        assert_eq!(mock.count(), 1);
    }
}

#[tokio::test]
async fn streams_from_every_upstream_end_with_usage_and_done() {
    for (kind, key) in KINDS {
        let mock = mock_for(kind, hello_script).await;
        let app = app_for(kind, key, &mock).await;
        let body = chat(true).with("stream_options", json!({"include_usage": true}));
        let resp = post(&app, "/v1/chat/completions", &body).await;
        assert_eq!(resp.status(), 200, "{kind}");
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        let d = data(&resp.bytes().await.unwrap());
        assert_eq!(d.last(), Some(&json!("[DONE]")), "{kind}: {d:?}");
        let chunks = &d[..d.len() - 1];
        let text: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, "Hello from the mock", "{kind}");
        let finish: Vec<_> = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
            .collect();
        assert_eq!(finish, ["stop"], "{kind}");
        let usage = chunks.last().unwrap();
        assert_eq!(usage["choices"], json!([]), "{kind}: {usage}");
        assert_eq!(usage["usage"]["prompt_tokens"], 29, "{kind}: {usage}");
        let ids: std::collections::HashSet<_> =
            chunks.iter().map(|c| c["id"].to_string()).collect();
        assert_eq!(ids.len(), 1, "one id per stream");
        assert!(chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk"));
    }
}

#[tokio::test]
async fn tool_calls_round_trip_through_every_upstream() {
    let tool = json!({"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}});
    for (kind, key) in KINDS {
        for stream in [false, true] {
            let mock = mock_for(kind, weather_script).await;
            let app = app_for(kind, key, &mock).await;
            let body = json!({"model": "gpt-x", "messages": [{"role": "user", "content": "Paris?"}],
                "tools": [tool], "tool_choice": "auto", "stream": stream});
            let resp = post(&app, "/v1/chat/completions", &body).await;
            assert_eq!(resp.status(), 200, "{kind}");
            let (id, name, args, finish) = if stream {
                let d = data(&resp.bytes().await.unwrap());
                let mut id = None;
                let mut name = String::new();
                let mut args = String::new();
                let mut finish = None;
                for c in d.iter().filter(|c| c.is_object()) {
                    let ch = &c["choices"][0];
                    finish = ch["finish_reason"].as_str().map(str::to_owned).or(finish);
                    for tc in ch["delta"]["tool_calls"].as_array().into_iter().flatten() {
                        assert_eq!(tc["index"], 0);
                        id = tc["id"].as_str().map(str::to_owned).or(id);
                        name += tc["function"]["name"].as_str().unwrap_or("");
                        args += tc["function"]["arguments"].as_str().unwrap_or("");
                    }
                }
                (id.unwrap(), name, args, finish.unwrap())
            } else {
                let v: Value = resp.json().await.unwrap();
                let tc = &v["choices"][0]["message"]["tool_calls"][0];
                (
                    tc["id"].as_str().unwrap().to_owned(),
                    tc["function"]["name"].as_str().unwrap().to_owned(),
                    tc["function"]["arguments"].as_str().unwrap().to_owned(),
                    v["choices"][0]["finish_reason"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                )
            };
            assert_eq!(finish, "tool_calls", "{kind} {stream}");
            assert_eq!(name, "get_weather");
            assert_eq!(
                serde_json::from_str::<Value>(&args).unwrap(),
                json!({"city": "Paris"})
            );
            let second = json!({"model": "gpt-x", "tools": [tool], "messages": [
                {"role": "user", "content": "Paris?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": id, "type": "function", "function": {"name": name, "arguments": args}}]},
                {"role": "tool", "tool_call_id": id, "content": "18C and sunny"}
            ]});
            let v: Value = post(&app, "/v1/chat/completions", &second)
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(
                v["choices"][0]["message"]["content"], "It is 18C and sunny",
                "{kind}: {v}"
            );
        }
    }
}

#[tokio::test]
async fn images_reach_every_upstream() {
    for (kind, key) in KINDS {
        let mock = mock_for(kind, hello_script).await;
        let app = app_for(kind, key, &mock).await;
        let body = json!({"model": "gpt-x", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG_1PX}")}}
        ]}]});
        assert_eq!(
            post(&app, "/v1/chat/completions", &body).await.status(),
            200
        );
        let sent = mock.requests()[0].body.to_string();
        assert!(
            sent.contains(PNG_1PX),
            "{kind}: the image reached the upstream"
        );
    }
}

#[tokio::test]
async fn an_openai_upstream_gets_the_clients_own_body_with_the_model_mapped() {
    let mock = mock_for("openai", hello_script).await;
    let mut up = upstream("up", "openai", &mock.url(), &["sk-1"]);
    up["modelMapping"] = json!({"gpt-x": "upstream-model"});
    let app = spawn_app(config_with(vec![up]), &[]).await;
    let body = json!({"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_object"}, "temperature": 0.3, "n": 1, "seed": 7});
    let resp = post(&app, "/v1/chat/completions", &body).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        v["id"], "chatcmpl-mock",
        "the upstream's answer, as it came"
    );
    let rec = &mock.requests()[0];
    let mut expected = body.clone();
    expected["model"] = json!("upstream-model");
    assert_eq!(rec.body, expected);
    assert_eq!(rec.key(), "sk-1", "the upstream key, not the client's");
}

#[tokio::test]
async fn structured_output_becomes_an_instruction_for_other_upstreams() {
    let mock = mock_for("claude", hello_script).await;
    let app = app_for("claude", "sk-ant-1", &mock).await;
    let body = json!({"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "r",
            "schema": {"type": "object", "properties": {"answer": {"type": "string"}}}}}});
    assert_eq!(
        post(&app, "/v1/chat/completions", &body).await.status(),
        200
    );
    let sent = &mock.requests()[0].body;
    let system = sent["system"].to_string();
    assert!(
        system.contains("JSON Schema") && system.contains("answer"),
        "{sent}"
    );
}

#[tokio::test]
async fn reasoning_effort_becomes_a_thinking_budget() {
    let mock = mock_for("claude", hello_script).await;
    let app = app_for("claude", "sk-ant-1", &mock).await;
    let body = json!({"model": "gpt-x", "reasoning_effort": "high", "max_completion_tokens": 20000,
        "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(
        post(&app, "/v1/chat/completions", &body).await.status(),
        200
    );
    let sent = &mock.requests()[0].body;
    assert_eq!(
        sent["thinking"],
        json!({"type": "enabled", "budget_tokens": 16384})
    );
    assert_eq!(sent["max_tokens"], 20000);
}

#[tokio::test]
async fn thinking_comes_back_as_reasoning_content() {
    let mock = spawn_mock(mock_anthropic::validate, |r| {
        mock_anthropic::script_reply(
            r,
            &Script::text(&["42"]).with_thinking("let me see", "sig-1"),
        )
    })
    .await;
    let app = app_for("claude", "sk-ant-1", &mock).await;
    let v: Value = post(&app, "/v1/chat/completions", &chat(false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["choices"][0]["message"]["reasoning_content"],
        "let me see"
    );
    assert_eq!(v["choices"][0]["message"]["content"], "42");
    let d = data(
        &post(&app, "/v1/chat/completions", &chat(true))
            .await
            .bytes()
            .await
            .unwrap(),
    );
    let reasoning: String = d
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["reasoning_content"].as_str())
        .collect();
    assert_eq!(reasoning, "let me see");
}

#[tokio::test]
async fn a_failing_openai_upstream_falls_back_to_a_claude_one_in_anthropic_form() {
    let failing = spawn_mock(mock_openai::validate, |_| {
        Reply::error(500, &mock_openai::error_body(500, "boom"), None)
    })
    .await;
    let claude = mock_for("claude", hello_script).await;
    let mut a = upstream("a", "openai", &failing.url(), &["sk-1"]);
    a["fallback"] = json!(["b"]);
    let b = upstream("b", "claude", &claude.url(), &["sk-ant-1"]);
    let app = spawn_app(config_with(vec![a, b]), &[]).await;
    let resp = post(&app, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "Hello from the mock");
    assert_eq!(failing.count(), 1);
    assert_eq!(claude.requests()[0].body["messages"][0]["role"], "user");
}

#[tokio::test]
async fn requests_are_recorded_under_their_endpoint() {
    let mock = mock_for("gemini", hello_script).await;
    let app = app_for("gemini", "AIza-1", &mock).await;
    assert_eq!(
        post(&app, "/v1/chat/completions", &chat(false))
            .await
            .status(),
        200
    );
    let body = json!({"model": "gpt-x", "input": "hi"});
    assert_eq!(post(&app, "/v1/responses", &body).await.status(), 200);
    let m = app.metrics().await;
    for endpoint in ["chat_completions", "responses"] {
        let n = sum_samples(
            &m,
            "claude_proxy_requests_total",
            &[
                ("endpoint", endpoint),
                ("upstream", "up"),
                ("status", "200"),
            ],
        );
        assert!(n >= 1.0, "{endpoint}: {m}");
    }
    assert!(tokens_total(&m, "up", "output") >= 14.0);
}

#[tokio::test]
async fn a_stream_answered_with_json_is_replayed_as_a_stream() {
    let mock = spawn_mock(mock_openai::validate, |_| {
        Reply::ok(mock_openai::script_json(&Script::tools(vec![
            ToolCall::new(Some("call_1".into()), "f", json!({"a": 1})),
        ])))
    })
    .await;
    let app = app_for("openai", "sk-1", &mock).await;
    let body = chat(true).with("stream_options", json!({"include_usage": true}));
    let resp = post(&app, "/v1/chat/completions", &body).await;
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let d = data(&resp.bytes().await.unwrap());
    assert_eq!(d.last(), Some(&json!("[DONE]")), "{d:?}");
    let call = &d[0]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(
        (call["index"].as_u64(), call["id"].as_str()),
        (Some(0), Some("call_1"))
    );
    assert_eq!(d[0]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(d[1]["usage"]["prompt_tokens"], 29);
}

#[tokio::test]
async fn a_claude_upstreams_max_tokens_caps_what_it_is_sent() {
    let mock = mock_for("claude", hello_script).await;
    let up = upstream("up", "claude", &mock.url(), &["sk-ant-1"]).with("maxTokens", 4096);
    let app = spawn_app(config_with(vec![up]), &[]).await;
    // An OpenAI client: 20000 tokens with a thinking budget of 16384.
    let body = json!({"model": "gpt-x", "reasoning_effort": "high", "max_completion_tokens": 20000,
        "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(
        post(&app, "/v1/chat/completions", &body).await.status(),
        200
    );
    let sent = &mock.requests()[0].body;
    assert_eq!(sent["max_tokens"], 4096, "{sent}");
    assert_eq!(
        sent["thinking"],
        json!({"type": "enabled", "budget_tokens": 4095})
    );
    // An Anthropic client is capped the same way; a smaller request stays.
    for (asked, expected) in [(128_000, 4096), (1000, 1000)] {
        let body = json!({"model": "claude-x", "max_tokens": asked,
            "messages": [{"role": "user", "content": "hi"}]});
        assert_eq!(app.messages(&body).await.status(), 200);
        let sent = mock.requests().last().unwrap().body.clone();
        assert_eq!(sent["max_tokens"], expected, "{sent}");
    }
}
