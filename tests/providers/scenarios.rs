//! The scenarios, each generic over the provider. The client side is
//! always the same Anthropic request; the upstream side is the provider's
//! validating mock answering a [`Script`] in its own wire format.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::*;
use crate::provider::Provider;

const KEY: &str = "battery-key";
/// What a read of a stream may take at most before the test gives up.
const READ_LIMIT: Duration = Duration::from_secs(10);

/// The app in front of `P`'s mock: one upstream named `{scenario}-{P}`,
/// every model mapped to `P::MODEL`, keys tried in order.
async fn bench<P: Provider>(
    scenario: &str,
    keys: &[&str],
    env: &[(&str, &str)],
    handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
) -> (TestApp, Mock, String) {
    let mock = spawn_mock(P::validate, handler).await;
    let name = format!("{scenario}-{}", P::NAME);
    let mut up = upstream(&name, P::SERVICE_TYPE, &mock.url(), keys);
    up["modelMapping"] = json!({"*": P::MODEL});
    let mut cfg = config_with(vec![up]);
    cfg["loadBalance"] = json!("failover");
    (spawn_app(cfg, env).await, mock, name)
}

/// The message of a 200 answer, JSON or folded from its stream.
async fn answer(resp: reqwest::Response, stream: bool) -> Value {
    let status = resp.status();
    if status != 200 {
        panic!("status {status}: {}", resp.text().await.unwrap_or_default());
    }
    if stream {
        fold_ok(&read_events(resp).await)
    } else {
        resp.json().await.expect("JSON message")
    }
}

fn text_of(message: &Value) -> String {
    message["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect()
}

fn last_request(mock: &Mock) -> Recorded {
    mock.requests().pop().expect("the upstream was called")
}

/// The usage every script reports, as the client must see it.
fn assert_usage(message: &Value) {
    let u = &message["usage"];
    assert_eq!(u["input_tokens"], TOKENS.input, "{message}");
    assert_eq!(u["output_tokens"], TOKENS.output, "{message}");
    assert_eq!(u["cache_read_input_tokens"], TOKENS.cached, "{message}");
}

/// The stream's pieces up to the one carrying `text` (inclusive).
fn pieces_through<P: Provider>(s: &Script, text: &str) -> Vec<String> {
    let pieces = P::stream(s);
    let n = pieces
        .iter()
        .position(|p| p.contains(text))
        .expect("the text is in the stream");
    pieces[..=n].to_vec()
}

// ---------------------------------------------------------------------------

/// A plain JSON answer.
pub async fn text<P: Provider>() {
    let script = Script::text(&["Hello from ", "the battery"]);
    let s = script.clone();
    let (app, mock, _) = bench::<P>("text", &[KEY], &[], move |r| P::answer(r, &s)).await;
    let v = answer(app.messages(&hello()).await, false).await;
    assert_eq!(v["type"], "message", "{v}");
    assert_eq!(v["role"], "assistant", "{v}");
    assert!(
        v["id"].as_str().is_some_and(|id| id.starts_with("msg_")),
        "{v}"
    );
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "Hello from the battery"}])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert_usage(&v);
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 1);
    let rec = &reqs[0];
    assert!(!P::wants_stream(rec));
    assert_eq!(P::model_of(rec), P::MODEL, "the model is mapped");
    assert_eq!(rec.key(), KEY);
    assert_eq!(P::user_texts(rec), ["hi"]);
    assert!(
        !format!("{:?}", rec.headers).contains(ACCESS_KEY),
        "the client's credential stays with the proxy"
    );
}

/// A streamed answer: valid grammar, text passed on as it arrives.
pub async fn stream<P: Provider>() {
    let script = Script::text(&["Hel", "lo", " world"]);
    let s = script.clone();
    let (app, mock, _) = bench::<P>("stream", &[KEY], &[], move |r| P::answer(r, &s)).await;
    let resp = app.messages(&hello_stream()).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let bytes = resp.bytes().await.expect("body");
    let events = events(&bytes);
    assert_eq!(events[0]["type"], "message_start", "{events:#?}");
    let msg = fold_ok(&events);
    assert_eq!(
        msg["content"],
        json!([{"type": "text", "text": "Hello world"}])
    );
    assert_eq!(msg["stop_reason"], "end_turn");
    assert_usage(&msg);
    let text_deltas = events
        .iter()
        .filter(|e| e["delta"]["type"] == "text_delta")
        .count();
    assert_eq!(text_deltas, 3, "one delta per upstream piece");
    if P::PASS_THROUGH {
        assert_eq!(
            String::from_utf8_lossy(&bytes),
            P::stream(&script).concat(),
            "byte for byte"
        );
    }
    let rec = last_request(&mock);
    assert!(P::wants_stream(&rec));
    assert_eq!(P::model_of(&rec), P::MODEL);
}

fn weather_tool() -> Value {
    json!({"name": "get_weather", "description": "Weather for a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}})
}

fn weather(city: &str) -> String {
    match city {
        "Paris" => "sunny, 18C".into(),
        "Rome" => "rain, 12C".into(),
        other => format!("no data for {other}"),
    }
}

/// Two turns: the upstream calls `get_weather` for each city; the client
/// answers with the results (last call first); the upstream sees every
/// result paired with its call and answers with them.
async fn tool_round_trip<P: Provider>(scenario: &str, cities: &[&str]) {
    let calls: Vec<ToolCall> = cities
        .iter()
        .enumerate()
        .map(|(n, c)| ToolCall::new(P::upstream_tool_id(n), "get_weather", json!({"city": c})))
        .collect();
    let c = calls.clone();
    let (app, mock, _) = bench::<P>(scenario, &[KEY], &[], move |r| {
        let results = P::tool_results(r);
        if results.is_empty() {
            P::answer(r, &Script::tools(c.clone()))
        } else {
            let text: Vec<&str> = results.iter().map(|(_, t)| t.as_str()).collect();
            P::answer(r, &Script::text(&[&text.join(" | ")]))
        }
    })
    .await;
    let question = format!("Weather in {}?", cities.join(" and "));
    for stream in [false, true] {
        let turn1 = json!({"model": "claude-sonnet-4-5", "max_tokens": 300, "stream": stream,
                           "tools": [weather_tool()], "messages": [{"role": "user", "content": question}]});
        let first = answer(app.messages(&turn1).await, stream).await;
        assert_eq!(first["stop_reason"], "tool_use", "stream={stream}: {first}");
        let uses: Vec<Value> = first["content"]
            .as_array()
            .expect("content")
            .iter()
            .filter(|b| b["type"] == "tool_use")
            .cloned()
            .collect();
        assert_eq!(uses.len(), calls.len(), "stream={stream}: {first}");
        for (n, (u, call)) in uses.iter().zip(&calls).enumerate() {
            assert_eq!(u["name"], "get_weather", "{u}");
            assert_eq!(u["input"], call.input, "{u}");
            P::check_client_id(call, n, u["id"].as_str().expect("id"));
        }
        let ids: HashSet<&str> = uses.iter().filter_map(|u| u["id"].as_str()).collect();
        assert_eq!(ids.len(), uses.len(), "distinct tool ids: {uses:?}");
        let rec1 = last_request(&mock);
        assert_eq!(P::declared_tools(&rec1), ["get_weather"]);
        assert_eq!(P::user_texts(&rec1), std::slice::from_ref(&question));

        let results: Vec<Value> = uses
            .iter()
            .zip(cities)
            .rev()
            .map(|(u, city)| json!({"type": "tool_result", "tool_use_id": u["id"], "content": weather(city)}))
            .collect();
        let turn2 = turn1.clone().with(
            "messages",
            json!([
                {"role": "user", "content": question},
                {"role": "assistant", "content": first["content"]},
                {"role": "user", "content": results}
            ]),
        );
        let second = answer(app.messages(&turn2).await, stream).await;
        assert_eq!(second["stop_reason"], "end_turn", "{second}");
        let rec2 = last_request(&mock);
        let want_calls: Vec<(String, Value)> = calls
            .iter()
            .map(|c| (c.name.clone(), c.input.clone()))
            .collect();
        assert_eq!(
            P::history_calls(&rec2),
            want_calls,
            "the calls are in the history"
        );
        let mut got = P::tool_results(&rec2);
        got.sort();
        let mut want: Vec<(String, String)> = cities
            .iter()
            .enumerate()
            .map(|(n, city)| (P::call_ref(&calls, n), weather(city)))
            .collect();
        want.sort();
        assert_eq!(got, want, "every result reaches the upstream with its call");
        let text = text_of(&second);
        for city in cities {
            assert!(text.contains(&weather(city)), "{text}");
        }
    }
    assert_eq!(mock.count(), 4);
}

pub async fn tools<P: Provider>() {
    tool_round_trip::<P>("tools", &["Paris"]).await;
}

pub async fn parallel_tools<P: Provider>() {
    tool_round_trip::<P>("parallel-tools", &["Paris", "Rome"]).await;
}

/// A base64 image in the user turn reaches the upstream in its form.
pub async fn images<P: Provider>() {
    let (app, mock, _) = bench::<P>("images", &[KEY], &[], |r| {
        P::answer(r, &Script::text(&["a red pixel"]))
    })
    .await;
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_1PX}},
        {"type": "text", "text": "What is this?"}
    ]}]});
    for stream in [false, true] {
        let v = answer(
            app.messages(&body.clone().with("stream", stream)).await,
            stream,
        )
        .await;
        assert_eq!(text_of(&v), "a red pixel");
        let rec = last_request(&mock);
        assert_eq!(
            P::images(&rec),
            [("image/png".to_owned(), PNG_1PX.to_owned())],
            "{}",
            rec.body
        );
        assert_eq!(P::user_texts(&rec), ["What is this?"]);
    }
}

/// Reasoning becomes a thinking block (Claude: passes through), and the
/// block can go back in the history.
pub async fn thinking<P: Provider>() {
    let script = Script::text(&["4"]).with_thinking("2 + 2 makes 4.", "c2lnLWJhdHRlcnk=");
    let s = script.clone();
    let (app, mock, _) = bench::<P>("thinking", &[KEY], &[], move |r| {
        if P::user_texts(r).len() > 1 {
            P::answer(r, &Script::text(&["6"]))
        } else {
            P::answer(r, &s)
        }
    })
    .await;
    for stream in [false, true] {
        let turn1 = json!({"model": "claude-sonnet-4-5", "max_tokens": 4096, "stream": stream,
                           "thinking": {"type": "enabled", "budget_tokens": 2048},
                           "messages": [{"role": "user", "content": "2+2?"}]});
        let v = answer(app.messages(&turn1).await, stream).await;
        let content = v["content"].as_array().expect("content").clone();
        assert_eq!(content.len(), 2, "stream={stream}: {v}");
        assert_eq!(content[0]["type"], "thinking", "{v}");
        assert_eq!(content[0]["thinking"], "2 + 2 makes 4.", "{v}");
        P::assert_signature(
            content[0]["signature"].as_str().expect("signature"),
            &script,
        );
        assert_eq!(content[1], json!({"type": "text", "text": "4"}));
        P::assert_thinking_requested(&last_request(&mock), 2048);

        let turn2 = turn1.clone().with(
            "messages",
            json!([
                {"role": "user", "content": "2+2?"},
                {"role": "assistant", "content": content},
                {"role": "user", "content": "and 3+3?"}
            ]),
        );
        let v = answer(app.messages(&turn2).await, stream).await;
        assert_eq!(text_of(&v), "6", "the history with thinking is accepted");
        if P::PASS_THROUGH {
            let rec = last_request(&mock);
            assert_eq!(
                rec.body["messages"][1]["content"][0], content[0],
                "Anthropic's own thinking goes back unchanged"
            );
        }
    }
}

/// The upstream cuts the connection mid-stream: the client gets what came
/// and then an `error` event, never a clean-looking end.
pub async fn cut_stream<P: Provider>() {
    let script = Script::text(&["partial ", "answer ", "never finished"]);
    let pieces = pieces_through::<P>(&script, "partial ");
    let (app, _mock, _) = bench::<P>("cut-stream", &[KEY], &[], move |_| Reply::Sse {
        pieces: pieces.clone(),
        delay: Duration::from_millis(5),
        cut: true,
    })
    .await;
    let mut resp = app.messages(&hello_stream()).await;
    assert_eq!(resp.status(), 200);
    let (bytes, end) = read_to_end(&mut resp, READ_LIMIT).await;
    assert!(
        !matches!(end, BodyEnd::TimedOut),
        "the client's stream did not end within {READ_LIMIT:?}"
    );
    let events = events(&bytes);
    assert_eq!(
        events.first().map(|e| &e["type"]),
        Some(&json!("message_start"))
    );
    assert!(
        events.iter().any(|e| e["delta"]["text"] == "partial "),
        "what came before the cut is passed on: {events:#?}"
    );
    assert!(
        !events.iter().any(|e| e["type"] == "message_stop"),
        "no fake clean end: {events:#?}"
    );
    assert_eq!(
        last_type(&events),
        Some("error"),
        "the stream ends with an error event (body end: {end:?}): {events:#?}"
    );
    let error = &events.last().expect("an event")["error"];
    assert!(
        error["type"].as_str().is_some_and(|t| !t.is_empty())
            && error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{error}"
    );
}

/// The upstream sends its headers and a first event, then nothing: after
/// STREAM_IDLE_TIMEOUT the client gets a `timeout_error` event and the
/// upstream request is dropped.
pub async fn idle_timeout<P: Provider>() {
    const IDLE: Duration = Duration::from_millis(700);
    let script = Script::text(&["partial ", "too late"]);
    let pieces = pieces_through::<P>(&script, "partial ");
    let (app, mock, _) = bench::<P>(
        "idle-timeout",
        &[KEY],
        &[("STREAM_IDLE_TIMEOUT", "700")],
        move |_| Reply::Stall(pieces.clone()),
    )
    .await;
    let started = Instant::now();
    let mut resp = app.messages(&hello_stream()).await;
    assert_eq!(resp.status(), 200);
    let (bytes, end) = read_to_end(&mut resp, READ_LIMIT).await;
    let elapsed = started.elapsed();
    assert!(
        !matches!(end, BodyEnd::TimedOut),
        "the stream did not end within {READ_LIMIT:?} although STREAM_IDLE_TIMEOUT is {IDLE:?}; received:\n{}",
        String::from_utf8_lossy(&bytes)
    );
    let events = events(&bytes);
    assert_eq!(
        events.first().map(|e| &e["type"]),
        Some(&json!("message_start"))
    );
    assert!(
        events.iter().any(|e| e["delta"]["text"] == "partial "),
        "{events:#?}"
    );
    assert!(!events.iter().any(|e| e["type"] == "message_stop"));
    assert_eq!(last_type(&events), Some("error"), "{events:#?} ({end:?})");
    assert_eq!(
        events.last().expect("an event")["error"]["type"],
        "timeout_error",
        "{events:#?}"
    );
    assert!(
        elapsed >= IDLE,
        "ended after {elapsed:?}, before the idle time"
    );
    assert!(
        mock.wait_aborted(Duration::from_secs(5)).await,
        "the stalled upstream request was not dropped"
    );
}

/// The client hangs up mid-stream: the upstream request is dropped.
pub async fn client_disconnect<P: Provider>() {
    let words: Vec<String> = (0..300).map(|i| format!("w{i} ")).collect();
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    let pieces = P::stream(&Script::text(&refs));
    let (app, mock, _) = bench::<P>("client-disconnect", &[KEY], &[], move |_| Reply::Sse {
        pieces: pieces.clone(),
        delay: Duration::from_millis(20),
        cut: false,
    })
    .await;
    let mut resp = app.messages(&hello_stream()).await;
    assert_eq!(resp.status(), 200);
    let mut got = Vec::new();
    let first_text = async {
        while let Some(c) = resp.chunk().await.expect("chunk") {
            got.extend_from_slice(&c);
            if String::from_utf8_lossy(&got).contains("w0 ") {
                return;
            }
        }
        panic!("the stream ended early");
    };
    tokio::time::timeout(READ_LIMIT, first_text)
        .await
        .expect("the first text arrives");
    drop(resp);
    assert!(
        mock.wait_aborted(Duration::from_secs(5)).await,
        "the upstream request was not cancelled within 5 s of the client hanging up"
    );
    assert_eq!(mock.count(), 1, "no retry after the client left");
}

/// The upstream's token counts reach `/metrics`: input (with cached) and
/// output, for a JSON and a streamed answer.
pub async fn usage<P: Provider>() {
    let script = Script::text(&["counted ", "tokens"]);
    let s = script.clone();
    let (app, _mock, name) = bench::<P>("usage", &[KEY], &[], move |r| P::answer(r, &s)).await;
    let before = app.metrics().await;
    let input0 = tokens_total(&before, &name, "input");
    let output0 = tokens_total(&before, &name, "output");
    let per_request = ((TOKENS.input + TOKENS.cached) as f64, TOKENS.output as f64);
    for (n, stream) in [(1.0, false), (2.0, true)] {
        let v = answer(app.messages(&hello().with("stream", stream)).await, stream).await;
        assert_usage(&v);
        let want = (input0 + n * per_request.0, output0 + n * per_request.1);
        let deadline = Instant::now() + Duration::from_secs(5);
        let got = loop {
            let m = app.metrics().await;
            let got = (
                tokens_total(&m, &name, "input"),
                tokens_total(&m, &name, "output"),
            );
            if (got.0 >= want.0 && got.1 >= want.1) || Instant::now() > deadline {
                break got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(
            got,
            want,
            "claude_proxy_tokens_total{{upstream=\"{name}\"}} (input, output) after the {} request",
            if stream { "streaming" } else { "non-streaming" }
        );
    }
}

/// 401 on the first key: the next key answers, the rejected one rests.
pub async fn errors_401_next_key<P: Provider>() {
    let (app, mock, _) = bench::<P>("errors-401", &["key-rejected", "key-good"], &[], |r| {
        if r.key() == "key-rejected" {
            Reply::error(401, &P::error_body(401, "invalid x-api-key"), None)
        } else {
            P::answer(r, &Script::text(&["from the good key"]))
        }
    })
    .await;
    let v = answer(app.messages(&hello()).await, false).await;
    assert_eq!(text_of(&v), "from the good key");
    assert_eq!(mock.keys(), ["key-rejected", "key-good"]);
    let v = answer(app.messages(&hello_stream()).await, true).await;
    assert_eq!(text_of(&v), "from the good key");
    assert_eq!(
        mock.keys(),
        ["key-rejected", "key-good", "key-good"],
        "the rejected key rests"
    );
    let health = app.health().await;
    assert_eq!(
        health["config"]["upstreams"][0]["restingKeys"], 1,
        "{health}"
    );
}

/// 429 with Retry-After: the next key answers and the limited one rests;
/// with one key the client gets the 429 with its Retry-After.
pub async fn errors_429_retry_after<P: Provider>() {
    let handler = |r: &Recorded| {
        if r.key() == "key-limited" {
            Reply::error(429, &P::error_body(429, "slow down"), Some("30"))
        } else {
            P::answer(r, &Script::text(&["from the other key"]))
        }
    };
    let (app, mock, _) = bench::<P>("errors-429", &["key-limited", "key-good"], &[], handler).await;
    let v = answer(app.messages(&hello()).await, false).await;
    assert_eq!(text_of(&v), "from the other key");
    assert_eq!(mock.keys(), ["key-limited", "key-good"]);
    let v = answer(app.messages(&hello_stream()).await, true).await;
    assert_eq!(text_of(&v), "from the other key");
    assert_eq!(
        mock.keys(),
        ["key-limited", "key-good", "key-good"],
        "the limited key rests for its Retry-After"
    );

    let (app, mock, _) = bench::<P>("errors-429-only", &["key-limited"], &[], handler).await;
    let resp = app.messages(&hello()).await;
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap()),
        Some("30")
    );
    expect_error(resp, 429, "rate_limit_error").await;
    // Resting: refused by the proxy itself, the upstream is not asked.
    let resp = app.messages(&hello()).await;
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("seconds");
    assert!((1..=30).contains(&retry), "retry-after {retry}");
    expect_error(resp, 429, "rate_limit_error").await;
    assert_eq!(mock.count(), 1);
}

/// 500 on the first key: the next key answers.
pub async fn errors_500_next_key<P: Provider>() {
    for stream in [false, true] {
        let (app, mock, _) = bench::<P>("errors-500", &["key-flaky", "key-good"], &[], |r| {
            if r.key() == "key-flaky" {
                Reply::error(500, &P::error_body(500, "internal error"), None)
            } else {
                P::answer(r, &Script::text(&["from the good key"]))
            }
        })
        .await;
        let v = answer(app.messages(&hello().with("stream", stream)).await, stream).await;
        assert_eq!(text_of(&v), "from the good key");
        assert_eq!(mock.keys(), ["key-flaky", "key-good"], "stream={stream}");
    }
}

/// 400: the client gets an Anthropic `invalid_request_error` with status
/// 400 and the upstream's words; no other key is tried.
pub async fn errors_400_invalid_request<P: Provider>() {
    let (app, mock, _) = bench::<P>("errors-400", &["key-1", "key-2"], &[], |_| {
        Reply::error(
            400,
            &P::error_body(400, "messages.0.content: the battery refuses this"),
            None,
        )
    })
    .await;
    for stream in [false, true] {
        let msg = expect_error(
            app.messages(&hello().with("stream", stream)).await,
            400,
            "invalid_request_error",
        )
        .await;
        assert!(msg.contains("the battery refuses this"), "{msg}");
    }
    assert_eq!(
        mock.count(),
        2,
        "a request error is not retried with another key"
    );
}
