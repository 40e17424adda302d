//! OpenAI Chat Completions and compatible servers (`serviceType` `openai`
//! and `openaiold`): `POST {baseUrl}/chat/completions` with
//! `Authorization: Bearer`. Request and answer mapping: docs/translation.md;
//! OpenAI's reference: <https://platform.openai.com/docs/api-reference/chat>.

mod refused;

use axum::http::HeaderMap;
use axum::response::Response;

use super::http::{is_json, json_or_replayed, parse_upstream_json, read_body};
use super::opening::{self, check_context, Answer};
use super::stream::{translated_stream, TranslatedOpening};
use super::{encode, endpoint_url, Outgoing, Prepared as AnyPrepared, Respond};
use crate::config::Upstream;
use crate::error::ApiError;
use crate::protocol::anthropic::MessagesRequest;
use crate::protocol::openai::ChatResponse;
use crate::translate::openai::{
    from_openai_response, to_openai_request, MaxTokensField, OpenAiRequestOptions,
    OpenAiStreamTranslator,
};
pub(crate) use refused::OptionalParam;
use refused::{drop_param, drop_param_in_body, Refusals};
use tokio::time::Instant;

/// How many refused optional parameters one request may drop.
const MAX_DROPPED_PARAMS: usize = 4;

/// One Chat Completions upstream.
#[derive(Debug)]
pub(crate) struct OpenAi {
    url: Result<reqwest::Url, String>,
    max_tokens_field: MaxTokensField,
    /// Parameters the upstream's models refused: later requests leave them
    /// out at once instead of paying a 400.
    refused: Refusals,
}

/// What a prepared Chat Completions request remembers.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// Parameters this request already goes without.
    dropped: Vec<OptionalParam>,
}

impl OpenAi {
    /// `openaiold` sends `max_tokens` instead of `max_completion_tokens`.
    pub(crate) fn new(up: &Upstream, old: bool) -> Self {
        OpenAi {
            url: endpoint_url(up, "/chat/completions"),
            max_tokens_field: if old {
                MaxTokensField::MaxTokens
            } else {
                MaxTokensField::MaxCompletionTokens
            },
            refused: Refusals::default(),
        }
    }

    fn url(&self) -> Result<reqwest::Url, ApiError> {
        self.url.clone().map_err(ApiError::api)
    }

    pub(crate) fn prepare(
        &self,
        up: &Upstream,
        req: &MessagesRequest,
        raw_len: usize,
        model: &str,
    ) -> Result<Outgoing, ApiError> {
        let dropped = self.refused.for_model(model);
        self.prepare_without(up, req, raw_len, model, dropped)
    }

    fn prepare_without(
        &self,
        up: &Upstream,
        req: &MessagesRequest,
        raw_len: usize,
        model: &str,
        dropped: Vec<OptionalParam>,
    ) -> Result<Outgoing, ApiError> {
        let opts = OpenAiRequestOptions {
            model,
            max_tokens_field: self.max_tokens_field,
            max_tokens_cap: up.max_tokens,
            stream: req.is_stream(),
        };
        let mut chat = to_openai_request(req, &opts);
        for p in &dropped {
            drop_param(&mut chat, *p);
        }
        Ok(Outgoing {
            url: self.url()?,
            body: encode(&chat, raw_len)?,
            headers: HeaderMap::new(),
            upstream_model: model.to_owned(),
            stream: req.is_stream(),
            state: AnyPrepared::OpenAi(Prepared { dropped }),
        })
    }

    /// The client's own Chat Completions `body` with only `model` mapped
    /// (docs/openai-inbound.md, "Pass-through"): no translation, no
    /// parameter dropped or added.
    pub(crate) fn pass_through(
        &self,
        body: &bytes::Bytes,
        stream: bool,
        model: &str,
    ) -> Result<Outgoing, ApiError> {
        let body = crate::translate::anthropic::rewrite_body(body, Some(model), false)
            .map_err(ApiError::invalid_request)?
            .map(bytes::Bytes::from)
            .unwrap_or_else(|| body.clone());
        Ok(Outgoing {
            url: self.url()?,
            body,
            headers: HeaderMap::new(),
            upstream_model: model.to_owned(),
            stream,
            state: AnyPrepared::ChatPassThrough,
        })
    }

    /// `out` again without `param`: translated anew when the parsed request
    /// is still there, else patched in the encoded body. `None` when the
    /// parameter was already left out, too many were, or the body would not
    /// change.
    pub(crate) fn without(
        &self,
        up: &Upstream,
        out: &Outgoing,
        prep: &Prepared,
        parsed: Option<&MessagesRequest>,
        raw_len: usize,
        param: OptionalParam,
    ) -> Result<Option<Outgoing>, ApiError> {
        if prep.dropped.contains(&param) || prep.dropped.len() >= MAX_DROPPED_PARAMS {
            return Ok(None);
        }
        let mut dropped = prep.dropped.clone();
        dropped.push(param);
        let next = match parsed {
            Some(req) => {
                let next = self.prepare_without(up, req, raw_len, &out.upstream_model, dropped)?;
                (next.body != out.body).then_some(next)
            }
            None => drop_param_in_body(&out.body, param)
                .map_err(|e| ApiError::api(format!("cannot re-encode the upstream request: {e}")))?
                .map(|body| Outgoing {
                    url: out.url.clone(),
                    body,
                    headers: out.headers.clone(),
                    upstream_model: out.upstream_model.clone(),
                    stream: out.stream,
                    state: AnyPrepared::OpenAi(Prepared { dropped }),
                }),
        };
        if next.is_some() {
            tracing::info!(
                upstream = %up.name,
                model = %out.upstream_model,
                ?param,
                "upstream model refuses a parameter; sending again without it"
            );
            self.refused.remember(&out.upstream_model, param);
        }
        Ok(next)
    }
}

/// The optional parameter a refused request names, if any.
pub(crate) fn refusal(status: u16, body: &[u8]) -> Option<OptionalParam> {
    refused::rejected_param(status, body)
}

/// A stream's opening, checked before it is committed.
pub(crate) async fn open(
    upstream: &str,
    response: reqwest::Response,
    deadline: Instant,
) -> Result<Answer, ApiError> {
    if is_json(&response) {
        return Ok(Answer::Whole(response));
    }
    let check = TranslatedOpening::new(upstream, OpenAiStreamTranslator::new(check_context()));
    opening::open(upstream, response, deadline, check)
        .await
        .map(Answer::Stream)
}

/// A Chat Completions answer: SSE translated as it arrives, or JSON.
pub(crate) async fn respond(
    stream: bool,
    answer: Answer,
    r: Respond<'_>,
) -> Result<Response, ApiError> {
    let response = match answer {
        Answer::Stream(opened) => {
            let t = OpenAiStreamTranslator::new(r.ctx.clone());
            return Ok(translated_stream(opened, t, r));
        }
        Answer::Whole(response) => response,
    };
    let bytes = read_body(r.upstream, response).await?;
    let resp: ChatResponse = parse_upstream_json(r.upstream, &bytes)?;
    let msg = from_openai_response(resp, &r.ctx)?;
    if let Some(rec) = r.record.as_mut() {
        rec.usage = Some(msg.usage.clone());
    }
    Ok(json_or_replayed(&msg, stream))
}
