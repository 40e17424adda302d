//! `POST /v1/responses`.

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
use crate::protocol::responses_in::ResponsesRequest;
use crate::providers::NativeBody;
use crate::server::extract::{owned_headers, AnthropicBody, RequestId};
use crate::server::state::AppState;
use crate::translate::inbound::anthropic_in::decode_message;
use crate::translate::inbound::responses_out::{self, Echo, ResponsesStream};
use crate::translate::inbound::{responses, OutContext};

/// The handler: every outcome, success or error, is recorded.
pub(crate) async fn create_response(
    State(state): State<Arc<AppState>>,
    Extension(rid): Extension<RequestId>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<AnthropicBody<ResponsesRequest>, ApiError>,
) -> Response {
    let headers = owned_headers(headers);
    let mut record = Some(state.record(rid.0, "responses", &caller));
    let mut route = None;
    let result = handle(&state, &headers, &caller, body, &mut record, &mut route).await;
    finish(result, &mut record, route)
}

async fn handle(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    caller: &Caller,
    body: Result<AnthropicBody<ResponsesRequest>, ApiError>,
    record: &mut Option<RequestRecord>,
    route: &mut Option<&'static str>,
) -> Result<Response, ApiError> {
    let mut held = Some(state.admit()?);
    let AnthropicBody { parsed: req, raw } = body?;
    let anthropic = responses::to_anthropic(&req)?;
    let anthropic = crate::providers::encode(&anthropic, raw.len())?;
    let stream = req.is_stream();
    let echo = Echo::of(&req);
    let inbound = Inbound {
        anthropic,
        raw_len: raw.len(),
        native: Some(NativeBody::Responses(raw)),
    };
    drop(req);
    match run(state, headers, caller, inbound, record, route, &mut held).await? {
        Outcome::PassThrough(answered) => {
            super::passthrough::respond(
                &state.settings,
                *answered,
                Protocol::Responses,
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
                    ResponsesReencode {
                        stream: ResponsesStream::new(ctx, echo),
                        seq: 0,
                    },
                ));
            }
            let bytes = read_answer(response).await?;
            let msg = decode_message(&bytes)?;
            Ok(Json(responses_out::response(&msg, &ctx, &echo)).into_response())
        }
    }
}

struct ResponsesReencode {
    stream: ResponsesStream,
    seq: u64,
}

impl Reencode for ResponsesReencode {
    fn event(&mut self, ev: &StreamEvent, buf: &mut BytesMut) {
        let mut out = Vec::new();
        self.stream.push(ev, &mut out);
        responses_out::encode(&out, &mut self.seq, buf);
    }

    fn end(&mut self, buf: &mut BytesMut) {
        let mut out = Vec::new();
        self.stream.finish(&mut out);
        responses_out::encode(&out, &mut self.seq, buf);
    }

    fn is_done(&self) -> bool {
        self.stream.is_done()
    }
}
