//! `POST /v1/responses` to a `responses` upstream: the client's own body
//! with only the model mapped, the upstream's answer as it came (JSON and
//! stream), key failover, usage in the metrics, and this gateway's
//! `response.failed` when the upstream's stream is cut or goes silent.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::inbound_common::*;
use crate::common::*;
use crate::common::{mock_anthropic, mock_responses};

fn hello() -> Script {
    Script::text(&["Hello ", "from ", "the ", "mock"])
}

/// A strict Responses mock playing `hello()` in the form asked for.
async fn responses_mock() -> Mock {
    spawn_mock(mock_responses::validate, |r| {
        mock_responses::script_reply(r, &hello())
    })
    .await
}

fn body(stream: bool) -> Value {
    json!({"model": "gpt-x", "stream": stream, "store": false, "instructions": "be brief",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}]})
}

/// The payloads of a Responses SSE body, checking `event:` = `type`.
fn events(bytes: &[u8]) -> Vec<Value> {
    frames(bytes)
        .into_iter()
        .map(|f| {
            let v: Value = serde_json::from_str(&f.data).unwrap();
            assert_eq!(f.event.as_deref(), v["type"].as_str(), "{v}");
            v
        })
        .collect()
}

#[tokio::test]
async fn a_responses_upstream_gets_the_clients_own_body_with_the_model_mapped() {
    let mock = responses_mock().await;
    // Metrics are per process: a name of its own keeps the counts exact.
    let mut up = upstream("pt-json", "responses", &mock.url(), &["sk-1"]);
    up["modelMapping"] = json!({"gpt-x": "upstream-model"});
    let app = spawn_app(config_with(vec![up]), &[]).await;
    let tool = json!({"type": "function", "name": "get_weather", "strict": true,
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
            "required": ["city"], "additionalProperties": false}});
    // Fields the translation would drop or reshape reach the upstream as
    // sent: a hosted tool, text.format, truncation, the cache key.
    let sent = body(false)
        .with("tools", json!([tool, {"type": "web_search"}]))
        .with("text", json!({"format": {"type": "json_object"}}))
        .with("truncation", "auto")
        .with("prompt_cache_key", "conv-1")
        .with("include", json!(["reasoning.encrypted_content"]))
        .with("reasoning", json!({"effort": "low", "summary": "auto"}));
    let resp = post(&app, "/v1/responses", &sent).await;
    assert_eq!(resp.status(), 200);
    let r: Value = resp.json().await.unwrap();
    assert_eq!(r, mock_responses::script_json(&hello()), "as it came");
    let rec = &mock.requests()[0];
    assert_eq!(rec.body, sent.clone().with("model", "upstream-model"));
    assert_eq!(rec.key(), "sk-1", "the upstream key, not the client's");
    let m = app.metrics().await;
    assert_eq!(tokens_total(&m, "pt-json", "output"), 7.0, "{m}");
    // Every input token, the 8 cached ones included.
    assert_eq!(tokens_total(&m, "pt-json", "input"), 29.0, "{m}");
}

#[tokio::test]
async fn a_stream_is_relayed_byte_for_byte_and_its_usage_recorded() {
    let mock = responses_mock().await;
    let up = upstream("pt-stream", "responses", &mock.url(), &["sk-1"]);
    let app = spawn_app(config_with(vec![up]), &[]).await;
    let resp = post(&app, "/v1/responses", &body(true)).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        mock_responses::script_stream(&hello()).concat()
    );
    let m = app.metrics().await;
    assert_eq!(tokens_total(&m, "pt-stream", "output"), 7.0, "{m}");
    let n = sum_samples(
        &m,
        "claude_proxy_requests_total",
        &[
            ("upstream", "pt-stream"),
            ("endpoint", "responses"),
            ("status", "200"),
        ],
    );
    assert_eq!(n, 1.0, "{m}");
}

#[tokio::test]
async fn a_refused_key_or_a_failed_opening_fails_over_to_the_next_key() {
    for stream in [false, true] {
        let mock = spawn_mock(mock_responses::validate, |r| {
            match (r.key().as_str(), r.body["stream"] == json!(true)) {
                ("sk-bad", _) => Reply::error(
                    401,
                    &mock_responses::error_body(401, "Incorrect API key provided"),
                    None,
                ),
                ("sk-failing", true) => {
                    Reply::sse(mock_responses::failed_stream("server_error", "boom"))
                }
                ("sk-failing", false) => {
                    Reply::error(500, &mock_responses::error_body(500, "boom"), None)
                }
                _ => mock_responses::script_reply(r, &hello()),
            }
        })
        .await;
        let up = upstream(
            "up",
            "responses",
            &mock.url(),
            &["sk-bad", "sk-failing", "sk-good"],
        )
        .with("loadBalance", "failover");
        let app = spawn_app(config_with(vec![up]), &[]).await;
        let resp = post(&app, "/v1/responses", &body(stream)).await;
        assert_eq!(resp.status(), 200, "stream {stream}");
        let bytes = resp.bytes().await.unwrap();
        let last = if stream {
            events(&bytes).pop().unwrap()["response"].clone()
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        assert_eq!(last["status"], "completed", "{last}");
        assert_eq!(mock.keys(), ["sk-bad", "sk-failing", "sk-good"]);
    }
}

#[tokio::test]
async fn a_cut_stream_ends_with_response_failed() {
    let pieces = mock_responses::script_stream(&hello());
    let head = pieces[..5].to_vec();
    for cut in [true, false] {
        let head = head.clone();
        let mock = spawn_mock(mock_responses::validate, move |_| Reply::Sse {
            pieces: head.clone(),
            delay: Duration::from_millis(1),
            cut,
        })
        .await;
        let app = app_for("responses", "sk-1", &mock).await;
        let resp = post(&app, "/v1/responses", &body(true)).await;
        let evs = events(&resp.bytes().await.unwrap());
        assert_eq!(evs.len(), 6, "cut {cut}: the head, then the failure");
        let failed = evs.last().unwrap();
        assert_eq!(failed["type"], "response.failed", "{failed}");
        assert_eq!(failed["sequence_number"], 5);
        assert_eq!(failed["response"]["id"], "resp_mock");
        assert_eq!(failed["response"]["status"], "failed");
        assert_eq!(failed["response"]["error"]["code"], "server_error");
    }
}

#[tokio::test]
async fn a_silent_stream_is_ended_by_the_idle_timeout() {
    // The opening (through the first text delta) at once, then silence.
    let all = mock_responses::script_stream(&hello());
    let mut pieces = vec![all[..5].concat()];
    pieces.extend(all[5..].iter().cloned());
    let mock = spawn_mock(mock_responses::validate, move |_| Reply::Sse {
        pieces: pieces.clone(),
        delay: Duration::from_secs(30),
        cut: false,
    })
    .await;
    let app = spawn_app(
        config_with(vec![upstream("up", "responses", &mock.url(), &["sk-1"])]),
        &[("STREAM_IDLE_TIMEOUT", "700")],
    )
    .await;
    let started = Instant::now();
    let resp = post(&app, "/v1/responses", &body(true)).await;
    let evs = events(&resp.bytes().await.unwrap());
    assert_eq!(evs.len(), 6, "{evs:?}");
    let failed = evs.last().unwrap();
    assert_eq!(failed["type"], "response.failed", "{evs:?}");
    let message = failed["response"]["error"]["message"].as_str().unwrap();
    assert!(message.contains("sent nothing"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test]
async fn a_stream_answered_with_json_is_replayed_as_events() {
    let mock = spawn_mock(mock_responses::validate, |_| {
        Reply::ok(mock_responses::script_json(&hello()))
    })
    .await;
    let app = app_for("responses", "sk-1", &mock).await;
    let evs = events(
        &post(&app, "/v1/responses", &body(true))
            .await
            .bytes()
            .await
            .unwrap(),
    );
    assert_eq!(evs[0]["type"], "response.created");
    let last = evs.last().unwrap();
    assert_eq!(last["type"], "response.completed");
    assert_eq!(last["response"], mock_responses::script_json(&hello()));
    for (i, e) in evs.iter().enumerate() {
        assert_eq!(e["sequence_number"], i as u64, "{e}");
    }
}

#[tokio::test]
async fn another_upstreams_reasoning_item_is_left_out_of_the_pass_through() {
    // Turn 1 on a Claude upstream (translated): its thinking comes back as
    // this gateway's reasoning item. Turn 2 on the Responses upstream: that
    // item carries nothing OpenAI could verify (the strict mock refuses any
    // reasoning item it did not emit), so it is left out.
    let claude = spawn_mock(mock_anthropic::validate, |r| {
        mock_anthropic::script_reply(r, &hello().with_thinking("let me see", "sig-1"))
    })
    .await;
    let responses = responses_mock().await;
    let app = spawn_app(
        config_with(vec![
            upstream("claude", "claude", &claude.url(), &["sk-ant-1"]),
            upstream("resp", "responses", &responses.url(), &["sk-1"]),
        ]),
        &[],
    )
    .await;
    let first = body(false)
        .with("model", "claude,claude-x")
        .with("include", json!(["reasoning.encrypted_content"]));
    let r: Value = post(&app, "/v1/responses", &first)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["output"][0]["type"], "reasoning", "{r}");
    let mut input = first["input"].as_array().unwrap().clone();
    input.extend(r["output"].as_array().unwrap().iter().cloned());
    input.push(json!({"role": "user", "content": "and now?"}));
    let second = first
        .clone()
        .with("model", "resp,gpt-x")
        .with("input", Value::Array(input));
    let resp = post(&app, "/v1/responses", &second).await;
    assert_eq!(resp.status(), 200);
    let sent = &responses.requests()[0].body;
    let kinds: Vec<&str> = sent["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap_or("message"))
        .collect();
    assert_eq!(kinds, ["message", "message", "message"], "{sent}");
    assert_eq!(sent["model"], "gpt-x");
}
