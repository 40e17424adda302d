//! Upstream providers: the only code that talks HTTP to an upstream.
//!
//! One file per protocol ([`openai`], [`responses`], [`gemini`],
//! [`claude`]) owns its
//! endpoint and auth header, builds the upstream request (through its pure
//! translator in `translate/`), recognises what its errors mean, and reads
//! its JSON answer and its stream. [`Provider`] is the one enum over them,
//! built once per configured upstream (so endpoint URLs are parsed once);
//! its methods delegate to the variant's file. It is the only `match` on
//! `ServiceType` outside `config/`: a new provider is one new file plus one
//! arm here.
//!
//! What every provider shares lives beside them: the classification of
//! error statuses ([`errors`]), bounded body reads ([`http`]), the
//! translated SSE relay ([`stream`]) and the retry without a parameter a
//! model refuses ([`refused`], for both OpenAI protocols).

mod claude;
pub(crate) mod client;
mod connect;
pub(crate) mod errors;
mod gemini;
pub(crate) mod held_body;
pub(crate) mod http;
mod openai;
pub(crate) mod opening;
pub(crate) mod refused;
mod relay;
mod responses;
pub(crate) mod stream;

use std::pin::Pin;

use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use futures_util::Stream;
use tokio::time::Instant;

use crate::config::{ApiKey, ServiceType, Upstream};
use crate::error::ApiError;
use crate::observe::RequestRecord;
use crate::protocol::anthropic::{CountTokensRequest, MessagesRequest};
use crate::settings::Settings;
use crate::translate::ResponseContext;

pub(crate) use opening::Answer;

/// An upstream body as it arrives.
pub(crate) type ByteStream =
    Pin<Box<dyn Stream<Item = Result<Bytes, crate::providers::client::Error>> + Send>>;

/// What is held for as long as the response lasts (a stream: until it ends):
/// the concurrency permit and the in-flight gauge.
pub(crate) type Held = Box<dyn Send + Sync>;

/// One configured upstream's protocol, with what it prepared once.
#[derive(Debug)]
pub(crate) enum Provider {
    /// OpenAI Chat Completions and compatible servers.
    OpenAi(openai::OpenAi),
    /// OpenAI's Responses API.
    Responses(responses::Responses),
    /// Google Gemini `generateContent`.
    Gemini(gemini::Gemini),
    /// Anthropic itself: a pass-through.
    Claude(claude::Claude),
}

/// The client's request, as parsed and as sent.
pub(crate) struct ClientRequest<'a> {
    /// The parsed request; `None` once it was dropped to save memory (it is
    /// only needed again to translate for another upstream).
    pub parsed: Option<MessagesRequest>,
    /// The client's bytes; empty unless a pass-through may need them.
    pub raw: Bytes,
    /// Length of the client's body (sizes the upstream body's buffer).
    pub raw_len: usize,
    /// The client's headers (a pass-through forwards `anthropic-*`).
    pub headers: &'a HeaderMap,
    /// The client's own body in an OpenAI protocol, when it came in as one
    /// (`POST /v1/chat/completions`, `POST /v1/responses`): an upstream of
    /// that protocol is sent it as it is, with only the model mapped
    /// (docs/openai-inbound.md, "Pass-through"). `None` for Anthropic
    /// requests.
    pub native: Option<NativeBody>,
}

/// A client's request body in an upstream protocol other than Anthropic's.
#[derive(Debug, Clone)]
pub(crate) enum NativeBody {
    /// A Chat Completions body, for `openai` / `openaiold` upstreams.
    Chat(Bytes),
    /// A Responses body, for `responses` upstreams.
    Responses(Bytes),
}

/// A request ready to be sent to one upstream.
#[derive(Debug)]
pub(crate) struct Outgoing {
    /// Endpoint for this request.
    pub url: ::http::Uri,
    /// Encoded upstream body.
    pub body: Bytes,
    /// Protocol headers (the key is added per attempt).
    pub headers: HeaderMap,
    /// Upstream model name (after mapping).
    pub upstream_model: String,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// What the provider needs again to read the answer.
    state: Prepared,
}

/// Provider-specific leftovers of preparing a request.
#[derive(Debug)]
enum Prepared {
    OpenAi(refused::Dropped),
    Responses(refused::Dropped),
    Gemini(gemini::Prepared),
    Claude,
    /// A client's own body for an upstream of its protocol ([`NativeBody`]):
    /// its answer is the client's as it is, read by the endpoint's handler.
    PassThrough,
}

impl Outgoing {
    /// True for a pass-through of the client's own body, whose answer is
    /// already in the client's protocol.
    pub(crate) fn is_pass_through(&self) -> bool {
        matches!(self.state, Prepared::PassThrough)
    }
}

/// A 400 that names an optional parameter the model refuses: the provider
/// can send the request again without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal(refused::OptionalParam);

/// Everything reading an answer needs besides the upstream's response.
pub(crate) struct Respond<'a> {
    pub settings: &'a Settings,
    /// Upstream name, for errors and logs.
    pub upstream: &'a str,
    pub ctx: ResponseContext,
    /// Taken by streaming responses, which finish it when they end.
    pub record: &'a mut Option<RequestRecord>,
    pub held: &'a mut Option<Held>,
}

impl Provider {
    /// The provider for `up`'s `serviceType`.
    pub(crate) fn new(up: &Upstream) -> Self {
        match up.service_type {
            ServiceType::OpenAi => Provider::OpenAi(openai::OpenAi::new(up, false)),
            ServiceType::OpenAiOld => Provider::OpenAi(openai::OpenAi::new(up, true)),
            ServiceType::Responses => Provider::Responses(responses::Responses::new(up)),
            ServiceType::Gemini => Provider::Gemini(gemini::Gemini::new(up)),
            ServiceType::Claude => Provider::Claude(claude::Claude::new(up)),
        }
    }

    /// True when this provider sends a client's `body` as it is (the
    /// upstream speaks the body's protocol), so it must be kept until the
    /// upstream answered.
    pub(crate) fn passes_through(&self, body: &NativeBody) -> bool {
        matches!(
            (self, body),
            (Provider::OpenAi(_), NativeBody::Chat(_))
                | (Provider::Responses(_), NativeBody::Responses(_))
        )
    }

    /// True when requests go out as the client's own bytes, so the raw body
    /// must be kept until the upstream answered.
    pub(crate) fn forwards_client_body(&self) -> bool {
        matches!(self, Provider::Claude(_))
    }

    /// Builds the upstream request for `req`, to be answered as `model`.
    pub(crate) fn prepare(
        &self,
        up: &Upstream,
        req: &ClientRequest<'_>,
        model: &str,
    ) -> Result<Outgoing, ApiError> {
        let parsed = req.parsed.as_ref().ok_or_else(|| {
            ApiError::api("internal error: the request was released before it was translated")
        })?;
        match self {
            Provider::OpenAi(p) => match &req.native {
                Some(NativeBody::Chat(body)) => p.pass_through(body, parsed.is_stream(), model),
                _ => refused::prepare(p, up, parsed, req.raw_len, model),
            },
            Provider::Responses(p) => match &req.native {
                Some(NativeBody::Responses(body)) => {
                    p.pass_through(body, parsed.is_stream(), model)
                }
                _ => refused::prepare(p, up, parsed, req.raw_len, model),
            },
            Provider::Gemini(p) => p.prepare(up, parsed, req.raw_len, model),
            Provider::Claude(p) => p.prepare(parsed, &req.raw, req.headers, model),
        }
    }

    /// Puts `key` in the header this protocol reads it from.
    pub(crate) fn authorize(&self, key: &ApiKey, headers: &mut HeaderMap) {
        match self {
            Provider::OpenAi(_) | Provider::Responses(_) => http::bearer(key, headers),
            Provider::Gemini(_) => http::header_key("x-goog-api-key", key, headers),
            Provider::Claude(p) => p.authorize(key, headers),
        }
    }

    /// Whether a refused request (a 400-class `status` with `body`) names an
    /// optional parameter this provider can leave out.
    pub(crate) fn refusal(&self, status: u16, body: &[u8]) -> Option<Refusal> {
        match self {
            Provider::OpenAi(_) => refused::rejected_param(refused::CHAT_PARAMS, status, body),
            Provider::Responses(_) => {
                refused::rejected_param(refused::RESPONSES_PARAMS, status, body)
            }
            Provider::Gemini(_) | Provider::Claude(_) => None,
        }
        .map(Refusal)
    }

    /// `out` again without what `refusal` names, or `None` when there is
    /// nothing (more) to leave out. Remembers the refusal for the model.
    pub(crate) fn without(
        &self,
        up: &Upstream,
        out: &Outgoing,
        req: &ClientRequest<'_>,
        refusal: Refusal,
    ) -> Result<Option<Outgoing>, ApiError> {
        let parsed = req.parsed.as_ref();
        match (self, &out.state) {
            (Provider::OpenAi(p), Prepared::OpenAi(dropped)) => {
                refused::without(p, up, out, dropped, parsed, req.raw_len, refusal.0)
            }
            (Provider::Responses(p), Prepared::Responses(dropped)) => {
                refused::without(p, up, out, dropped, parsed, req.raw_len, refusal.0)
            }
            _ => Ok(None),
        }
    }

    /// Reads a 2xx answer's opening: a stream is checked (see [`opening`])
    /// and a JSON answer read whole before it is committed, so a failure
    /// before the client saw anything can still go to the next key or
    /// upstream.
    pub(crate) async fn open(
        &self,
        upstream: &str,
        stream: bool,
        response: crate::providers::client::Response,
        deadline: Instant,
    ) -> Result<Answer, ApiError> {
        if !stream {
            return match self {
                Provider::Claude(_) => claude::read_whole(upstream, response).await,
                Provider::OpenAi(_) | Provider::Gemini(_) | Provider::Responses(_) => {
                    opening::Whole::read(upstream, response)
                        .await
                        .map(Answer::Whole)
                }
            };
        }
        match self {
            Provider::OpenAi(_) => openai::open(upstream, response, deadline).await,
            Provider::Responses(_) => responses::open(upstream, response, deadline).await,
            Provider::Gemini(_) => gemini::open(upstream, response, deadline).await,
            Provider::Claude(_) => claude::open(upstream, response, deadline).await,
        }
    }

    /// Turns the upstream's 2xx answer into the client's response.
    pub(crate) async fn respond(
        &self,
        out: Outgoing,
        answer: Answer,
        r: Respond<'_>,
    ) -> Result<Response, ApiError> {
        match out.state {
            Prepared::OpenAi(_) => openai::respond(out.stream, answer, r).await,
            Prepared::Responses(_) => responses::respond(out.stream, answer, r).await,
            Prepared::Gemini(prep) => gemini::respond(prep, out.stream, answer, r).await,
            Prepared::Claude => claude::respond(out.stream, answer, r).await,
            Prepared::PassThrough => Err(ApiError::api(
                "internal error: a pass-through is answered by its endpoint's handler",
            )),
        }
    }

    /// The upstream request for `POST /v1/messages/count_tokens`, for
    /// providers that count for themselves (`None`: count locally).
    pub(crate) fn count_tokens(
        &self,
        req: &CountTokensRequest,
        raw: &Bytes,
        headers: &HeaderMap,
        model: &str,
    ) -> Option<Result<Outgoing, ApiError>> {
        match self {
            Provider::Claude(p) => Some(p.count_tokens(req, raw, headers, model)),
            Provider::OpenAi(_) | Provider::Responses(_) | Provider::Gemini(_) => None,
        }
    }
}

/// Serialises into a buffer sized for the result up front (`size_hint`: the
/// client's body length), so a large request is not copied on every doubling.
pub(crate) fn encode<T: serde::Serialize>(v: &T, size_hint: usize) -> Result<Bytes, ApiError> {
    let mut buf = Vec::with_capacity(size_hint.clamp(1024, 16 << 20));
    serde_json::to_writer(&mut buf, v)
        .map(|()| Bytes::from(buf))
        .map_err(|e| ApiError::api(format!("cannot encode upstream request: {e}")))
}

/// An endpoint of `up` as a URL, or the error that names the upstream.
pub(crate) fn endpoint_url(up: &Upstream, path: &str) -> Result<::http::Uri, String> {
    uri(&up.endpoint(path)).map_err(|e| format!("upstream {}: invalid endpoint URL: {e}", up.name))
}

/// `s` as a request target, read as a URL first so whatever a URL allows
/// (a space in a model name, say) arrives percent-encoded.
pub(crate) fn uri(s: &str) -> Result<::http::Uri, String> {
    let url = url::Url::parse(s).map_err(|e| e.to_string())?;
    ::http::Uri::try_from(url.as_str()).map_err(|e| e.to_string())
}
