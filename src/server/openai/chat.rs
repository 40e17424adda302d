//! `POST /v1/chat/completions`.

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::BytesMut;

use super::passthrough::Protocol;
use super::relay::{reencode, Reencode};
use super::{finish, is_event_stream, now_secs, read_answer, run, Inbound, Outcome};
use crate::clients::Caller;
use crate::error::ApiError;
use crate::observe::RequestRecord;
use crate::protocol::anthropic::StreamEvent;
use crate::protocol::chat_in::ChatCompletionRequest;
use crate::providers::NativeBody;
use crate::server::extract::{owned_headers, AnthropicBody, RequestId};
use crate::server::state::AppState;
use crate::translate::inbound::anthropic_in::decode_message;
use crate::translate::inbound::chat_out::{self, ChatSse, ChatStream};
use crate::translate::inbound::{chat, OutContext};

/// The handler: every outcome, success or error, is recorded.
pub(crate) async fn chat_completions(
    State(state): State<Arc<AppState>>,
    Extension(rid): Extension<RequestId>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<AnthropicBody<ChatCompletionRequest>, ApiError>,
) -> Response {
    let headers = owned_headers(headers);
    let mut record = Some(state.record(rid.0, "chat_completions", &caller));
    let mut route = None;
    let result = handle(&state, &headers, &caller, body, &mut record, &mut route).await;
    finish(result, &mut record, route)
}

async fn handle(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    caller: &Caller,
    body: Result<AnthropicBody<ChatCompletionRequest>, ApiError>,
    record: &mut Option<RequestRecord>,
    route: &mut Option<&'static str>,
) -> Result<Response, ApiError> {
    let mut held = Some(state.admit()?);
    let AnthropicBody { parsed: req, raw } = body?;
    let anthropic = chat::to_anthropic(&req)?;
    let anthropic = crate::providers::encode(&anthropic, raw.len())?;
    let stream = req.is_stream();
    let include_usage = req
        .stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    let inbound = Inbound {
        anthropic,
        raw_len: raw.len(),
        native: Some(NativeBody::Chat(raw)),
    };
    drop(req);
    match run(state, headers, caller, inbound, record, route, &mut held).await? {
        Outcome::PassThrough(answered) => {
            super::passthrough::respond(
                &state.settings,
                *answered,
                Protocol::Chat { include_usage },
                record,
                &mut held,
            )
            .await
        }
        Outcome::Anthropic {
            response,
            message_id,
            model,
        } => {
            let ctx = OutContext::new(&message_id, now_secs(), &model);
            if stream && is_event_stream(&response) {
                return Ok(reencode(
                    response.into_body(),
                    ChatReencode(ChatStream::new(ctx, include_usage)),
                ));
            }
            let bytes = read_answer(response).await?;
            let msg = decode_message(&bytes)?;
            Ok(Json(chat_out::completion(&msg, &ctx)).into_response())
        }
    }
}

struct ChatReencode(ChatStream);

impl Reencode for ChatReencode {
    fn event(&mut self, ev: &StreamEvent, buf: &mut BytesMut) {
        let mut out = Vec::new();
        self.0.push(ev, &mut out);
        chat_out::encode(&out, buf);
    }

    fn end(&mut self, buf: &mut BytesMut) {
        let mut out: Vec<ChatSse> = Vec::new();
        self.0.finish(&mut out);
        chat_out::encode(&out, buf);
    }

    fn is_done(&self) -> bool {
        self.0.is_done()
    }
}
