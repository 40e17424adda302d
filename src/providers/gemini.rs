//! Google Gemini (`serviceType` `gemini`):
//! `POST {baseUrl}/models/{model}:generateContent`, or
//! `:streamGenerateContent?alt=sse` for streams, with the key in
//! `x-goog-api-key` (never in the URL). Request and answer mapping:
//! docs/translation.md; Google's reference:
//! <https://ai.google.dev/api/generate-content>.

use std::sync::Mutex;

use axum::http::HeaderMap;
use axum::response::Response;

use super::http::parse_upstream_json;
use super::opening::{check_context, Answer};
use super::stream::{json_or_replayed, open_translated, translated_stream};
use super::{encode, Outgoing, Prepared as AnyPrepared, Respond};
use crate::config::Upstream;
use crate::error::ApiError;
use crate::protocol::anthropic::MessagesRequest;
use crate::protocol::gemini::GenerateContentResponse;
use crate::translate::gemini::{
    from_gemini_response_with_names, to_gemini_request, GeminiRequestOptions,
    GeminiStreamTranslator, ToolNameMap,
};
use tokio::time::Instant;

/// Endpoint URLs remembered per upstream (one per model and mode).
const MAX_CACHED_URLS: usize = 64;

/// One Gemini upstream.
#[derive(Debug)]
pub(crate) struct Gemini {
    /// Parsed endpoint URLs by (upstream model, stream): parsing one per
    /// request showed up in profiles.
    urls: Mutex<Vec<(String, bool, http::Uri)>>,
    /// `{baseUrl}/models/` (with the version segment when needed).
    models: String,
    name: String,
}

/// What a prepared Gemini request remembers: the tool names it had to
/// rename for Gemini, to give the client its own back.
#[derive(Debug)]
pub(crate) struct Prepared {
    names: ToolNameMap,
}

impl Gemini {
    pub(crate) fn new(up: &Upstream) -> Self {
        Gemini {
            urls: Mutex::new(Vec::new()),
            models: up.endpoint("/models/"),
            name: up.name.clone(),
        }
    }

    /// The endpoint for `model` in this mode, parsed once.
    fn url(&self, model: &str, stream: bool) -> Result<http::Uri, ApiError> {
        if let Ok(urls) = self.urls.lock() {
            if let Some((_, _, url)) = urls.iter().find(|(m, s, _)| m == model && *s == stream) {
                return Ok(url.clone());
            }
        }
        let action = if stream {
            "streamGenerateContent?alt=sse"
        } else {
            "generateContent"
        };
        let url = super::uri(&format!("{}{model}:{action}", self.models)).map_err(|e| {
            ApiError::api(format!("upstream {}: invalid endpoint URL: {e}", self.name))
        })?;
        if let Ok(mut urls) = self.urls.lock() {
            if urls.len() >= MAX_CACHED_URLS {
                urls.clear();
            }
            urls.push((model.to_owned(), stream, url.clone()));
        }
        Ok(url)
    }

    pub(crate) fn prepare(
        &self,
        up: &Upstream,
        req: &MessagesRequest,
        raw_len: usize,
        model: &str,
    ) -> Result<Outgoing, ApiError> {
        let opts = GeminiRequestOptions {
            model,
            max_tokens_cap: up.max_tokens,
        };
        let stream = req.is_stream();
        Ok(Outgoing {
            url: self.url(model, stream)?,
            body: encode(&to_gemini_request(req, &opts), raw_len)?,
            headers: HeaderMap::new(),
            upstream_model: model.to_owned(),
            stream,
            state: AnyPrepared::Gemini(Prepared {
                names: ToolNameMap::from_request(req),
            }),
        })
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
        GeminiStreamTranslator::new(check_context()),
    )
    .await
}

/// A Gemini answer: SSE translated as it arrives, or JSON.
pub(crate) async fn respond(
    prep: Prepared,
    stream: bool,
    answer: Answer,
    r: Respond<'_>,
) -> Result<Response, ApiError> {
    let bytes = match answer {
        Answer::Stream(opened) => {
            let t = GeminiStreamTranslator::new(r.ctx.clone()).with_tool_names(prep.names);
            return Ok(translated_stream(opened, t, r));
        }
        Answer::Whole(whole) => whole.body,
    };
    let resp: GenerateContentResponse = parse_upstream_json(r.upstream, &bytes)?;
    let msg = from_gemini_response_with_names(resp, &r.ctx, &prep.names)?;
    if let Some(rec) = r.record.as_mut() {
        rec.usage = Some(msg.usage.clone());
    }
    Ok(json_or_replayed(&msg, stream))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServiceType;

    fn gemini() -> Gemini {
        let service_type = ServiceType::parse("gemini").unwrap();
        Gemini::new(&Upstream::for_tests(
            "http://127.0.0.1:9/v1beta",
            service_type,
        ))
    }

    fn url(g: &Gemini, model: &str, stream: bool) -> String {
        g.url(model, stream).unwrap().to_string()
    }

    #[test]
    fn remembered_urls_match_the_endpoint_of_each_model_and_mode() {
        let g = gemini();
        for _ in 0..2 {
            assert_eq!(
                url(&g, "gemini-a", false),
                "http://127.0.0.1:9/v1beta/models/gemini-a:generateContent"
            );
            assert_eq!(
                url(&g, "gemini-a", true),
                "http://127.0.0.1:9/v1beta/models/gemini-a:streamGenerateContent?alt=sse"
            );
            assert_eq!(
                url(&g, "gemini-b", false),
                "http://127.0.0.1:9/v1beta/models/gemini-b:generateContent"
            );
        }
    }

    #[test]
    fn the_url_memo_stays_bounded() {
        let g = gemini();
        for i in 0..(MAX_CACHED_URLS * 3) {
            assert!(url(&g, &format!("m{i}"), false).ends_with(&format!("/m{i}:generateContent")));
        }
        assert!(g.urls.lock().unwrap().len() <= MAX_CACHED_URLS);
    }
}
