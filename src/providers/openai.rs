//! OpenAI Chat Completions and compatible servers (`serviceType` `openai`
//! and `openaiold`): `POST {baseUrl}/chat/completions` with
//! `Authorization: Bearer`. Request and answer mapping: docs/translation.md;
//! OpenAI's reference: <https://platform.openai.com/docs/api-reference/chat>.

use axum::http::HeaderMap;
use axum::response::Response;

use super::http::parse_upstream_json;
use super::opening::{check_context, Answer};
use super::refused::{Dropped, OptionalParam, ParamNames, Refusals, Retranslate, CHAT_PARAMS};
use super::stream::{json_or_replayed, open_translated, translated_stream};
use super::{encode, endpoint_url, Outgoing, Prepared as AnyPrepared, Respond};
use crate::config::Upstream;
use crate::error::ApiError;
use crate::protocol::anthropic::MessagesRequest;
use crate::protocol::openai::ChatRequest;
use crate::protocol::openai::ChatResponse;
use crate::translate::openai::{
    from_openai_response, to_openai_request, MaxTokensField, OpenAiRequestOptions,
    OpenAiStreamTranslator,
};
use tokio::time::Instant;

/// One Chat Completions upstream.
#[derive(Debug)]
pub(crate) struct OpenAi {
    url: Result<http::Uri, String>,
    max_tokens_field: MaxTokensField,
    /// Parameters the upstream's models refused: later requests leave them
    /// out at once instead of paying a 400.
    refused: Refusals,
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

    fn url(&self) -> Result<http::Uri, ApiError> {
        self.url.clone().map_err(ApiError::api)
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
        let rewrite = crate::translate::anthropic::Rewrite {
            model: Some(model),
            ..Default::default()
        };
        let body = crate::translate::anthropic::rewrite_body(body, rewrite)
            .map_err(ApiError::invalid_request)?
            .map(bytes::Bytes::from)
            .unwrap_or_else(|| body.clone());
        Ok(Outgoing {
            url: self.url()?,
            body,
            headers: HeaderMap::new(),
            upstream_model: model.to_owned(),
            stream,
            state: AnyPrepared::PassThrough,
        })
    }
}

impl Retranslate for OpenAi {
    const NAMES: ParamNames = CHAT_PARAMS;

    fn refusals(&self) -> &Refusals {
        &self.refused
    }

    fn translate(
        &self,
        up: &Upstream,
        req: &MessagesRequest,
        raw_len: usize,
        model: &str,
        dropped: Dropped,
    ) -> Result<Outgoing, ApiError> {
        let opts = OpenAiRequestOptions {
            model,
            max_tokens_field: self.max_tokens_field,
            max_tokens_cap: up.max_tokens,
            stream: req.is_stream(),
        };
        let mut chat = to_openai_request(req, &opts);
        for p in &dropped.0 {
            drop_param(&mut chat, *p);
        }
        Ok(Outgoing {
            url: self.url()?,
            body: encode(&chat, raw_len)?,
            headers: HeaderMap::new(),
            upstream_model: model.to_owned(),
            stream: req.is_stream(),
            state: Self::prepared(dropped),
        })
    }

    fn prepared(dropped: Dropped) -> AnyPrepared {
        AnyPrepared::OpenAi(dropped)
    }
}

/// Leaves out a parameter the upstream model refused.
fn drop_param(chat: &mut ChatRequest<'_>, p: OptionalParam) {
    match p {
        OptionalParam::ReasoningEffort => chat.reasoning_effort = None,
        OptionalParam::Temperature => chat.temperature = None,
        OptionalParam::TopP => chat.top_p = None,
        OptionalParam::StreamOptions => chat.stream_options = None,
        OptionalParam::ParallelToolCalls => chat.parallel_tool_calls = None,
        OptionalParam::User => chat.user = None,
        OptionalParam::Stop => chat.stop = None,
        OptionalParam::MaxTokensAtMost(cap) => {
            for field in [&mut chat.max_tokens, &mut chat.max_completion_tokens] {
                if let Some(n) = field.as_mut() {
                    *n = (*n).min(cap);
                }
            }
        }
        OptionalParam::MaxTokens => {
            if let Some(n) = chat.max_tokens.take() {
                chat.max_completion_tokens = Some(n);
            }
        }
        // Not Chat Completions parameters.
        OptionalParam::ReasoningSummary
        | OptionalParam::Include
        | OptionalParam::ReasoningItems => {}
    }
}

/// A stream's opening, checked before it is committed.
pub(crate) async fn open(
    upstream: &str,
    response: super::client::Response,
    deadline: Instant,
) -> Result<Answer, ApiError> {
    open_translated(
        upstream,
        response,
        deadline,
        OpenAiStreamTranslator::new(check_context()),
    )
    .await
}

/// A Chat Completions answer: SSE translated as it arrives, or JSON.
pub(crate) async fn respond(
    stream: bool,
    answer: Answer,
    r: Respond<'_>,
) -> Result<Response, ApiError> {
    let bytes = match answer {
        Answer::Stream(opened) => {
            let t = OpenAiStreamTranslator::new(r.ctx.clone());
            return Ok(translated_stream(opened, t, r));
        }
        Answer::Whole(whole) => whole.body,
    };
    let resp: ChatResponse = parse_upstream_json(r.upstream, &bytes)?;
    let msg = from_openai_response(resp, &r.ctx)?;
    if let Some(rec) = r.record.as_mut() {
        rec.usage = Some(msg.usage.clone());
    }
    Ok(json_or_replayed(&msg, stream))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::encode;
    use crate::providers::refused::drop_param_in_body;
    use crate::translate::openai::to_openai_request;

    /// A Chat Completions request with every optional parameter set.
    fn chat_request(req: &MessagesRequest) -> ChatRequest<'_> {
        let opts = OpenAiRequestOptions {
            model: "gpt-x",
            max_tokens_field: MaxTokensField::MaxTokens,
            max_tokens_cap: None,
            stream: true,
        };
        let mut chat = to_openai_request(req, &opts);
        chat.temperature = Some(0.7);
        chat.top_p = Some(0.9);
        chat.parallel_tool_calls = Some(false);
        chat.reasoning_effort = Some("high");
        chat.user = Some("u-1".to_owned());
        chat
    }

    /// Patching the encoded body gives what translating again without the
    /// parameter gives, for every parameter an upstream can refuse.
    #[test]
    fn a_refused_parameter_is_left_out_of_the_encoded_body_as_in_translation() {
        let raw = include_bytes!("../../tests/fixtures/claude-code/01-write-turn2.json");
        let req: MessagesRequest = serde_json::from_slice(raw).unwrap();
        let body = encode(&chat_request(&req), raw.len()).unwrap();
        let params = [
            OptionalParam::ReasoningEffort,
            OptionalParam::Temperature,
            OptionalParam::TopP,
            OptionalParam::StreamOptions,
            OptionalParam::ParallelToolCalls,
            OptionalParam::User,
            OptionalParam::MaxTokens,
            OptionalParam::MaxTokensAtMost(1000),
        ];
        for p in params {
            let mut chat = chat_request(&req);
            drop_param(&mut chat, p);
            let expected: serde_json::Value =
                serde_json::from_slice(&encode(&chat, 0).unwrap()).unwrap();
            let patched = drop_param_in_body(CHAT_PARAMS, &body, p)
                .unwrap()
                .expect("body changes");
            let got: serde_json::Value = serde_json::from_slice(&patched).unwrap();
            assert_eq!(got, expected, "{p:?}");
            assert_ne!(patched, body, "{p:?}");
        }
        // Nothing to change: no retry.
        let at_most_more = OptionalParam::MaxTokensAtMost(req.max_tokens + 1);
        assert!(drop_param_in_body(CHAT_PARAMS, &body, at_most_more)
            .unwrap()
            .is_none());
        let without_user = drop_param_in_body(CHAT_PARAMS, &body, OptionalParam::User)
            .unwrap()
            .unwrap();
        assert!(
            drop_param_in_body(CHAT_PARAMS, &without_user, OptionalParam::User)
                .unwrap()
                .is_none()
        );
    }
}
