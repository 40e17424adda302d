//! A mock LLM upstream built for load tests of claude-proxy, not for
//! correctness: every answer is rendered once at start and served as shared
//! `Bytes` (a reference-count bump per request), and request bodies are read
//! fully but only searched for `"stream":true`.
//!
//! Routes (any method but GET answers the same; unknown paths get 404):
//! * `POST …/chat/completions` — OpenAI Chat Completions, JSON or SSE
//!   (SSE when the body has `"stream":true`)
//! * `POST …/models/{model}:generateContent` — Gemini JSON
//! * `POST …/models/{model}:streamGenerateContent?alt=sse` — Gemini SSE (CRLF framed)
//! * `POST …/messages` — Anthropic Messages, JSON or SSE
//! * `GET /health` — `ok`
//!
//! Options (flags, or the environment variable in brackets):
//! `--port N` [MOCK_PORT] (0 = any free port; the chosen one is printed),
//! `--chunks N` [MOCK_CHUNKS] text deltas per stream (default 100),
//! `--delay-ms N` [MOCK_DELAY_MS] wait before the response headers,
//! `--chunk-delay-ms N` [MOCK_CHUNK_DELAY_MS] wait between stream chunks,
//! `--threads N` [MOCK_THREADS] runtime worker threads (default: one per core).
//! It binds 127.0.0.1 only.

use std::convert::Infallible;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::time::Sleep;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    port: u16,
    chunks: usize,
    delay: Duration,
    chunk_delay: Duration,
    threads: Option<usize>,
}

const USAGE: &str = "usage: mock-upstream [--port N] [--chunks N] [--delay-ms N] [--chunk-delay-ms N] [--threads N]";

impl Options {
    fn parse(args: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        fn num<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("{name}: expected a number, got {v:?}"))
        }
        let mut o = Options {
            port: 0,
            chunks: 100,
            delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            threads: None,
        };
        let mut set = |name: &str, v: &str| -> Result<(), String> {
            match name {
                "--port" => o.port = num(name, v)?,
                "--chunks" => o.chunks = num(name, v)?,
                "--delay-ms" => o.delay = Duration::from_millis(num(name, v)?),
                "--chunk-delay-ms" => o.chunk_delay = Duration::from_millis(num(name, v)?),
                "--threads" => o.threads = Some(num::<usize>(name, v)?.max(1)),
                _ => return Err(format!("unknown option {name}\n{USAGE}")),
            }
            Ok(())
        };
        for (var, flag) in [
            ("MOCK_PORT", "--port"),
            ("MOCK_CHUNKS", "--chunks"),
            ("MOCK_DELAY_MS", "--delay-ms"),
            ("MOCK_CHUNK_DELAY_MS", "--chunk-delay-ms"),
            ("MOCK_THREADS", "--threads"),
        ] {
            if let Some(v) = env(var) {
                set(flag, &v)?;
            }
        }
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if a == "-h" || a == "--help" {
                return Err(USAGE.to_owned());
            }
            let (name, value) = match a.split_once('=') {
                Some((n, v)) => (n, v.to_owned()),
                None => (
                    a.as_str(),
                    it.next()
                        .cloned()
                        .ok_or_else(|| format!("{a} needs a value\n{USAGE}"))?,
                ),
            };
            set(name, &value)?;
        }
        Ok(o)
    }
}

/// Every answer, rendered once.
struct Bodies {
    openai_json: Bytes,
    openai_sse: Arc<[Bytes]>,
    gemini_json: Bytes,
    gemini_sse: Arc<[Bytes]>,
    anthropic_json: Bytes,
    anthropic_sse: Arc<[Bytes]>,
}

/// Token-sized pieces of text, cycled through for the deltas.
const WORDS: [&str; 10] = [
    "The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ".",
];
const PROMPT_TOKENS: usize = 12_000;

impl Bodies {
    fn render(chunks: usize) -> Self {
        let words: Vec<&str> = (0..chunks).map(|i| WORDS[i % WORDS.len()]).collect();
        let text = words.concat();
        let n = chunks;
        let total = PROMPT_TOKENS + n;

        let oa_head = r#"{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1735689600,"model":"gpt-4o","system_fingerprint":"fp_bench","choices":"#;
        let mut openai_sse = Vec::with_capacity(n + 4);
        openai_sse.push(format!(
            "data: {oa_head}[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"
        ));
        for w in &words {
            openai_sse.push(format!(
                "data: {oa_head}[{{\"index\":0,\"delta\":{{\"content\":\"{w}\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"
            ));
        }
        openai_sse.push(format!(
            "data: {oa_head}[{{\"index\":0,\"delta\":{{}},\"logprobs\":null,\"finish_reason\":\"stop\"}}]}}\n\n"
        ));
        openai_sse.push(format!(
            "data: {oa_head}[],\"usage\":{{\"prompt_tokens\":{PROMPT_TOKENS},\"completion_tokens\":{n},\"total_tokens\":{total}}}}}\n\n"
        ));
        openai_sse.push("data: [DONE]\n\n".to_owned());
        let openai_json = format!(
            r#"{{"id":"chatcmpl-bench","object":"chat.completion","created":1735689600,"model":"gpt-4o","choices":[{{"index":0,"message":{{"role":"assistant","content":"{text}","refusal":null}},"logprobs":null,"finish_reason":"stop"}}],"usage":{{"prompt_tokens":{PROMPT_TOKENS},"completion_tokens":{n},"total_tokens":{total}}},"system_fingerprint":"fp_bench"}}"#
        );

        let gm_tail = r#""modelVersion":"gemini-2.5-flash","responseId":"bench"}"#;
        let mut gemini_sse = Vec::with_capacity(n);
        for (i, w) in words.iter().enumerate() {
            let last = i + 1 == n;
            let finish = if last {
                r#","finishReason":"STOP""#
            } else {
                ""
            };
            let out = i + 1;
            gemini_sse.push(format!(
                "data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\"{w}\"}}],\"role\":\"model\"}}{finish},\"index\":0}}],\"usageMetadata\":{{\"promptTokenCount\":{PROMPT_TOKENS},\"candidatesTokenCount\":{out},\"totalTokenCount\":{}}},{gm_tail}\r\n\r\n",
                PROMPT_TOKENS + out
            ));
        }
        let gemini_json = format!(
            r#"{{"candidates":[{{"content":{{"parts":[{{"text":"{text}"}}],"role":"model"}},"finishReason":"STOP","index":0}}],"usageMetadata":{{"promptTokenCount":{PROMPT_TOKENS},"candidatesTokenCount":{n},"totalTokenCount":{total}}},{gm_tail}"#
        );

        let an_usage = format!(
            r#""usage":{{"input_tokens":{PROMPT_TOKENS},"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":"#
        );
        let mut anthropic_sse = Vec::with_capacity(n + 5);
        anthropic_sse.push(format!(
            "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"id\":\"msg_bench\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,{an_usage}1}}}}}}\n\n\
             event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{{\"type\":\"text\",\"text\":\"\"}}}}\n\n\
             event: ping\ndata: {{\"type\":\"ping\"}}\n\n"
        ));
        for w in &words {
            anthropic_sse.push(format!(
                "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"{w}\"}}}}\n\n"
            ));
        }
        anthropic_sse.push(format!(
            "event: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":0}}\n\n\
             event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"end_turn\",\"stop_sequence\":null}},\"usage\":{{\"output_tokens\":{n}}}}}\n\n\
             event: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n"
        ));
        let anthropic_json = format!(
            r#"{{"id":"msg_bench","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{{"type":"text","text":"{text}"}}],"stop_reason":"end_turn","stop_sequence":null,{an_usage}{n}}}}}"#
        );

        let frames = |v: Vec<String>| -> Arc<[Bytes]> { v.into_iter().map(Bytes::from).collect() };
        Bodies {
            openai_json: Bytes::from(openai_json),
            openai_sse: frames(openai_sse),
            gemini_json: Bytes::from(gemini_json),
            gemini_sse: frames(gemini_sse),
            anthropic_json: Bytes::from(anthropic_json),
            anthropic_sse: frames(anthropic_sse),
        }
    }
}

/// A whole body, or pre-rendered stream frames sent one by one (optionally
/// spaced by a delay), which hyper writes with chunked transfer encoding
/// like a real SSE upstream.
enum MockBody {
    Full(Option<Bytes>),
    Chunks {
        frames: Arc<[Bytes]>,
        next: usize,
        gap: Duration,
        sleep: Option<Pin<Box<Sleep>>>,
    },
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            MockBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            MockBody::Chunks {
                frames,
                next,
                gap,
                sleep,
            } => {
                if *next >= frames.len() {
                    return Poll::Ready(None);
                }
                if *next > 0 && !gap.is_zero() {
                    let s = sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(*gap)));
                    if s.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    *sleep = None;
                }
                let f = frames[*next].clone();
                *next += 1;
                Poll::Ready(Some(Ok(Frame::data(f))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            MockBody::Full(b) => b.is_none(),
            MockBody::Chunks { frames, next, .. } => *next >= frames.len(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            MockBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            MockBody::Full(None) => SizeHint::with_exact(0),
            MockBody::Chunks { .. } => SizeHint::default(),
        }
    }
}

struct Mock {
    bodies: Bodies,
    delay: Duration,
    chunk_delay: Duration,
}

fn json() -> HeaderValue {
    HeaderValue::from_static("application/json")
}

fn sse() -> HeaderValue {
    HeaderValue::from_static("text/event-stream")
}

/// Reads the whole body; `Some(true)` when it asks for a stream.
async fn read_body(mut body: Incoming) -> Result<bool, hyper::Error> {
    // Searched in a buffer that keeps the previous frame's tail, so a key
    // split across two frames is still found; the body itself is not kept.
    const KEYS: [&[u8]; 2] = [b"\"stream\":true", b"\"stream\": true"];
    let mut found = false;
    let mut window: Vec<u8> = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        if found {
            continue;
        }
        let tail = window.len().min(16);
        window.drain(..window.len() - tail);
        window.extend_from_slice(&data);
        found = KEYS
            .iter()
            .any(|k| memchr::memmem::rfind(&window, k).is_some());
    }
    Ok(found)
}

fn respond(status: StatusCode, ct: HeaderValue, body: MockBody) -> Response<MockBody> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, ct);
    r
}

async fn handle(
    mock: Arc<Mock>,
    req: Request<Incoming>,
) -> Result<Response<MockBody>, hyper::Error> {
    enum Api {
        OpenAi,
        GeminiJson,
        GeminiSse,
        Anthropic,
    }
    let path = req.uri().path();
    let api = if path.ends_with("/chat/completions") {
        Api::OpenAi
    } else if path.ends_with(":streamGenerateContent") {
        Api::GeminiSse
    } else if path.ends_with(":generateContent") {
        Api::GeminiJson
    } else if path.ends_with("/messages") {
        Api::Anthropic
    } else if path == "/health" {
        return Ok(respond(
            StatusCode::OK,
            json(),
            MockBody::Full(Some(Bytes::from_static(b"ok"))),
        ));
    } else {
        return Ok(respond(
            StatusCode::NOT_FOUND,
            json(),
            MockBody::Full(Some(Bytes::from_static(
                b"{\"error\":{\"message\":\"no such route\"}}",
            ))),
        ));
    };
    let stream = read_body(req.into_body()).await?;
    if !mock.delay.is_zero() {
        tokio::time::sleep(mock.delay).await;
    }
    let b = &mock.bodies;
    let chunks = |frames: &Arc<[Bytes]>| MockBody::Chunks {
        frames: frames.clone(),
        next: 0,
        gap: mock.chunk_delay,
        sleep: None,
    };
    let full = |b: &Bytes| MockBody::Full(Some(b.clone()));
    Ok(match api {
        Api::OpenAi if stream => respond(StatusCode::OK, sse(), chunks(&b.openai_sse)),
        Api::OpenAi => respond(StatusCode::OK, json(), full(&b.openai_json)),
        Api::GeminiSse => respond(StatusCode::OK, sse(), chunks(&b.gemini_sse)),
        Api::GeminiJson => respond(StatusCode::OK, json(), full(&b.gemini_json)),
        Api::Anthropic if stream => respond(StatusCode::OK, sse(), chunks(&b.anthropic_sse)),
        Api::Anthropic => respond(StatusCode::OK, json(), full(&b.anthropic_json)),
    })
}

async fn serve(listener: TcpListener, mock: Arc<Mock>) {
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: back off, keep serving.
                eprintln!("mock-upstream: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let mock = mock.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(mock.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(tcp), svc)
                .await;
        });
    }
}

/// Binds with a deep accept queue: a burst of 1,000 new connections would
/// overflow tokio's default backlog of 1,024 on a busy 2-core machine, and
/// the load tool would report connection errors that are not the proxy's.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(8192)
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match Options::parse(&args, |k| std::env::var(k).ok()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = opts.threads {
        rt.worker_threads(n);
    }
    let rt = match rt.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mock-upstream: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mock = Arc::new(Mock {
        bodies: Bodies::render(opts.chunks.max(1)),
        delay: opts.delay,
        chunk_delay: opts.chunk_delay,
    });
    rt.block_on(async move {
        let addr = SocketAddr::from(([127, 0, 0, 1], opts.port));
        let listener = match listen(addr) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("mock-upstream: cannot listen on {addr}: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let local = listener.local_addr().unwrap_or(addr);
        println!(
            "mock-upstream listening on {local} (chunks {}, delay {} ms, chunk delay {} ms)",
            opts.chunks,
            opts.delay.as_millis(),
            opts.chunk_delay.as_millis()
        );
        let _ = std::io::stdout().flush();
        serve(listener, mock).await;
        std::process::ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_rendered_streams() {
        let args: Vec<String> = ["--chunks", "3", "--delay-ms=5"].map(String::from).to_vec();
        let o = Options::parse(&args, |k| (k == "MOCK_PORT").then(|| "7".to_owned()));
        assert_eq!(
            o,
            Ok(Options {
                port: 7,
                chunks: 3,
                delay: Duration::from_millis(5),
                chunk_delay: Duration::ZERO,
                threads: None,
            })
        );
        let b = Bodies::render(3);
        assert_eq!(b.openai_sse.len(), 3 + 4);
        assert_eq!(b.gemini_sse.len(), 3);
        assert!(b
            .openai_sse
            .iter()
            .all(|f| f.starts_with(b"data: {") || &f[..] == b"data: [DONE]\n\n"));
        assert!(
            b.gemini_sse[2].ends_with(b"}\r\n\r\n")
                && b.gemini_sse[2].windows(6).any(|w| w == b"\"STOP\"")
        );
        assert!(std::str::from_utf8(&b.anthropic_json).is_ok_and(|s| s.contains("The quick brown")));
    }
}
