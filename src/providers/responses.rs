//! OpenAI's Responses API (`serviceType` `responses`):
//! `POST {baseUrl}/responses` with `Authorization: Bearer`, always
//! stateless (`store: false`). Request and answer mapping:
//! docs/translation.md, "Anthropic → OpenAI Responses"; OpenAI's reference:
//! <https://platform.openai.com/docs/api-reference/responses>.

use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use tokio::time::Instant;

use super::http::parse_upstream_json;
use super::opening::{check_context, Answer};
use super::refused::{Dropped, OptionalParam, ParamNames, Refusals, Retranslate, RESPONSES_PARAMS};
use super::stream::{json_or_replayed, open_translated, translated_stream};
use super::{encode, endpoint_url, Outgoing, Prepared as AnyPrepared, Respond};
use crate::config::Upstream;
use crate::error::ApiError;
use crate::protocol::anthropic::MessagesRequest;
use crate::protocol::responses::{InputItem, ResponseObject, ResponsesRequest};
use crate::translate::inbound::responses::pass_through_body;
use crate::translate::responses::{
    from_responses_response, to_responses_request, ResponsesRequestOptions,
    ResponsesStreamTranslator,
};

/// One Responses API upstream.
#[derive(Debug)]
pub(crate) struct Responses {
    url: Result<http::Uri, String>,
    /// Parameters the upstream's models refused: later requests leave them
    /// out at once instead of paying a 400.
    refused: Refusals,
}

impl Responses {
    pub(crate) fn new(up: &Upstream) -> Self {
        Responses {
            url: endpoint_url(up, "/responses"),
            refused: Refusals::default(),
        }
    }
}

impl Responses {
    /// The client's own Responses `body` for this upstream
    /// (docs/openai-inbound.md, "Pass-through"): the model mapped and the
    /// gateway's own reasoning items turned back into the upstream's
    /// ([`pass_through_body`]); nothing else changes.
    pub(crate) fn pass_through(
        &self,
        body: &Bytes,
        stream: bool,
        model: &str,
    ) -> Result<Outgoing, ApiError> {
        let body = pass_through_body(body, model).map_err(ApiError::invalid_request)?;
        Ok(Outgoing {
            url: self.url.clone().map_err(ApiError::api)?,
            body: Bytes::from(body),
            headers: HeaderMap::new(),
            upstream_model: model.to_owned(),
            stream,
            state: AnyPrepared::PassThrough,
        })
    }
}

impl Retranslate for Responses {
    const NAMES: ParamNames = RESPONSES_PARAMS;

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
        let opts = ResponsesRequestOptions {
            model,
            max_tokens_cap: up.max_tokens,
            stream: req.is_stream(),
        };
        let mut body = to_responses_request(req, &opts);
        for p in &dropped.0 {
            drop_param(&mut body, *p);
        }
        Ok(Outgoing {
            url: self.url.clone().map_err(ApiError::api)?,
            body: encode(&body, raw_len)?,
            headers: HeaderMap::new(),
            upstream_model: model.to_owned(),
            stream: req.is_stream(),
            state: Self::prepared(dropped),
        })
    }

    fn prepared(dropped: Dropped) -> AnyPrepared {
        AnyPrepared::Responses(dropped)
    }
}

/// Leaves out a parameter the upstream refused.
fn drop_param(r: &mut ResponsesRequest<'_>, p: OptionalParam) {
    match p {
        OptionalParam::ReasoningEffort => r.reasoning = None,
        OptionalParam::ReasoningSummary => {
            if let Some(reasoning) = r.reasoning.as_mut() {
                reasoning.summary = None;
                if reasoning.effort.is_none() {
                    r.reasoning = None;
                }
            }
        }
        OptionalParam::Temperature => r.temperature = None,
        OptionalParam::TopP => r.top_p = None,
        OptionalParam::ParallelToolCalls => r.parallel_tool_calls = None,
        OptionalParam::User => r.user = None,
        OptionalParam::Include => r.include.clear(),
        OptionalParam::ReasoningItems => r.input.retain(|i| !matches!(i, InputItem::Raw(_))),
        OptionalParam::MaxTokensAtMost(cap) => {
            if let Some(n) = r.max_output_tokens.as_mut() {
                *n = (*n).min(cap);
            }
        }
        // Not Responses parameters.
        OptionalParam::StreamOptions | OptionalParam::MaxTokens | OptionalParam::Stop => {}
    }
}

/// A stream's opening, checked before it is committed: a
/// `response.failed` or `error` event before any content fails the attempt
/// like a 5xx.
pub(crate) async fn open(
    upstream: &str,
    response: super::client::Response,
    deadline: Instant,
) -> Result<Answer, ApiError> {
    open_translated(
        upstream,
        response,
        deadline,
        ResponsesStreamTranslator::new(check_context()),
    )
    .await
}

/// A Responses answer: SSE translated as it arrives, or JSON.
pub(crate) async fn respond(
    stream: bool,
    answer: Answer,
    r: Respond<'_>,
) -> Result<Response, ApiError> {
    let bytes = match answer {
        Answer::Stream(opened) => {
            let t = ResponsesStreamTranslator::new(r.ctx.clone());
            return Ok(translated_stream(opened, t, r));
        }
        Answer::Whole(whole) => whole.body,
    };
    let resp: ResponseObject = parse_upstream_json(r.upstream, &bytes)?;
    let msg = from_responses_response(resp, &r.ctx)
        .map_err(|e| ApiError::new(e.kind, format!("upstream {}: {}", r.upstream, e.message)))?;
    if let Some(rec) = r.record.as_mut() {
        rec.usage = Some(msg.usage.clone());
    }
    Ok(json_or_replayed(&msg, stream))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::responses::Reasoning;
    use crate::providers::encode;
    use crate::providers::refused::drop_param_in_body;

    /// A Responses request with every optional parameter set and a
    /// reasoning item in its input.
    fn request(req: &MessagesRequest) -> ResponsesRequest<'_> {
        let opts = ResponsesRequestOptions {
            model: "gpt-x",
            max_tokens_cap: None,
            stream: true,
        };
        let mut r = to_responses_request(req, &opts);
        r.temperature = Some(0.7);
        r.top_p = Some(0.9);
        r.parallel_tool_calls = Some(false);
        r.reasoning = Some(Reasoning {
            effort: Some("high"),
            summary: Some("auto"),
        });
        r.user = Some("u-1".to_owned());
        let item = serde_json::value::RawValue::from_string(
            r#"{"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":"e"}"#.into(),
        )
        .unwrap();
        r.input.insert(0, InputItem::Raw(item));
        r
    }

    /// Patching the encoded body gives what translating again without the
    /// parameter gives, for every parameter a Responses upstream can refuse.
    #[test]
    fn a_refused_parameter_is_left_out_of_the_encoded_body_as_in_translation() {
        let raw = include_bytes!("../../tests/fixtures/claude-code/01-write-turn2.json");
        let req: MessagesRequest = serde_json::from_slice(raw).unwrap();
        let body = encode(&request(&req), raw.len()).unwrap();
        let params = [
            OptionalParam::ReasoningEffort,
            OptionalParam::ReasoningSummary,
            OptionalParam::Temperature,
            OptionalParam::TopP,
            OptionalParam::ParallelToolCalls,
            OptionalParam::User,
            OptionalParam::Include,
            OptionalParam::ReasoningItems,
            OptionalParam::MaxTokensAtMost(1000),
        ];
        for p in params {
            let mut r = request(&req);
            drop_param(&mut r, p);
            let expected: serde_json::Value =
                serde_json::from_slice(&encode(&r, 0).unwrap()).unwrap();
            let patched = drop_param_in_body(RESPONSES_PARAMS, &body, p)
                .unwrap()
                .expect("body changes");
            let got: serde_json::Value = serde_json::from_slice(&patched).unwrap();
            assert_eq!(got, expected, "{p:?}");
        }
        for p in [OptionalParam::StreamOptions, OptionalParam::MaxTokens] {
            assert!(drop_param_in_body(RESPONSES_PARAMS, &body, p)
                .unwrap()
                .is_none());
        }
    }

    #[test]
    fn the_endpoint_gets_the_version_segment_only_without_a_path() {
        use crate::config::ServiceType;
        let url = |base: &str| {
            let up = Upstream::for_tests(base, ServiceType::Responses);
            Responses::new(&up).url.unwrap().to_string()
        };
        assert_eq!(
            url("https://api.openai.com"),
            "https://api.openai.com/v1/responses"
        );
        assert_eq!(
            url("http://127.0.0.1:9/v1"),
            "http://127.0.0.1:9/v1/responses"
        );
    }
}
