//! What the inbound (OpenAI-compatible endpoint) tests share: one mock
//! upstream per type playing a script, requests with the access key as a
//! bearer token, and OpenAI SSE parsing.

use serde_json::{json, Value};

use crate::common::*;
use crate::common::{mock_anthropic, mock_gemini, mock_openai};

/// Every upstream type, with a key of its form.
pub const KINDS: [(&str, &str); 4] = [
    ("openai", "sk-1"),
    ("openaiold", "sk-1"),
    ("gemini", "AIza-1"),
    ("claude", "sk-ant-1"),
];

/// OpenAI's validator, allowing what the pass-through forwards from the
/// client and the strict mock does not list.
fn validate_openai(rec: &Recorded) -> Result<(), String> {
    let mut rec = rec.clone();
    if let Some(o) = rec.body.as_object_mut() {
        for k in ["response_format", "n", "seed"] {
            o.remove(k);
        }
    }
    mock_openai::validate(&rec)
}

/// A mock upstream of `kind` answering `script(request)` in its protocol.
pub async fn mock_for(kind: &str, script: fn(&Recorded) -> Script) -> Mock {
    match kind {
        "openai" | "openaiold" => {
            spawn_mock(validate_openai, move |r| {
                mock_openai::script_reply(r, &script(r))
            })
            .await
        }
        "gemini" => {
            spawn_mock(mock_gemini::validate, move |r| {
                mock_gemini::script_reply(r, &script(r))
            })
            .await
        }
        _ => {
            spawn_mock(mock_anthropic::validate, move |r| {
                mock_anthropic::script_reply(r, &script(r))
            })
            .await
        }
    }
}

/// The app with one upstream of `kind` in front of `mock`.
pub async fn app_for(kind: &str, key: &str, mock: &Mock) -> TestApp {
    spawn_app(
        config_with(vec![upstream("up", kind, &mock.url(), &[key])]),
        &[],
    )
    .await
}

/// POST `path` with the access key as a bearer token, as OpenAI clients send it.
pub async fn post(app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("authorization", format!("Bearer {ACCESS_KEY}"))
        .json(body)
        .send()
        .await
        .expect("request to the proxy")
}

/// The `data:` payloads of an SSE body (`[DONE]` as the string "[DONE]").
pub fn data(bytes: &[u8]) -> Vec<Value> {
    frames(bytes)
        .into_iter()
        .map(|f| serde_json::from_str(&f.data).unwrap_or(Value::String(f.data)))
        .collect()
}

/// Asserts OpenAI's error shape with `status` and `type`; returns the error.
pub async fn expect_openai_error(resp: reqwest::Response, status: u16, kind: &str) -> Value {
    assert_eq!(resp.status(), status);
    let v: Value = resp.json().await.expect("error json");
    let e = &v["error"];
    assert_eq!(e["type"], kind, "{v}");
    assert!(e["message"].is_string(), "{v}");
    assert!(e.get("param").is_some() && e.get("code").is_some(), "{v}");
    assert!(v.get("type").is_none(), "not Anthropic's shape: {v}");
    e.clone()
}

/// The script every text test plays.
pub fn hello_script(_: &Recorded) -> Script {
    Script::text(&["Hello ", "from ", "the ", "mock"])
}

/// A get_weather call, or text quoting the result once one came back.
pub fn weather_script(rec: &Recorded) -> Script {
    let body = rec.body.to_string();
    if body.contains("18C and sunny") {
        Script::text(&["It is 18C and sunny"])
    } else {
        Script::tools(vec![ToolCall::new(
            Some("call_w1".into()),
            "get_weather",
            json!({"city": "Paris"}),
        )])
    }
}
