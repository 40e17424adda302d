//! Responses stream events → Anthropic SSE events (docs/translation.md,
//! "Responses streams").
//!
//! The upstream's output items become content blocks in output order, one
//! at a time: the item first in order streams live (text and reasoning
//! summaries as they arrive, only the few characters that might begin a
//! stop sequence held back); items behind it — parallel function calls
//! whose arguments interleave, say — are gathered per `output_index` /
//! `item_id` and follow when it is done. Function calls are emitted whole
//! once their item is done, so their arguments can be normalised to a JSON
//! object. A reasoning item's thinking block is signed with the item itself
//! (see the module docs). The terminal response (`response.completed`,
//! `.incomplete`) completes whatever the deltas left out, so a server that
//! sends only whole items, or only the final response, reads the same.

use serde_json::value::RawValue;
use serde_json::Value;

use super::{empty_signature, error_kind, map_usage, reasoning_signature, stop_reason, Ending};
use crate::error::ErrorKind;
use crate::protocol::anthropic::{StopReason, StreamEvent};
use crate::protocol::responses::{
    OutputContent, OutputItem, ResponseObject, ResponsesEvent, TextPart,
};
use crate::translate::common::emit::Emitter;
use crate::translate::common::stop::{Scanned, StopScan};
use crate::translate::tool_args::normalize_tool_arguments;
use crate::translate::ResponseContext;

/// Separator between the parts of a reasoning summary (each part is a
/// paragraph with its own heading).
const SUMMARY_SEPARATOR: &str = "\n\n";

/// Translates one Responses event stream (or, through
/// [`from_responses_response`](super::from_responses_response), one whole
/// answer) into Anthropic stream events.
#[derive(Debug)]
pub struct ResponsesStreamTranslator {
    emit: Emitter,
    /// Output items in the order they appeared.
    items: Vec<Item>,
    /// `items[..next]` have been emitted whole.
    next: usize,
    /// Text not yet sent because it may be the start of a stop sequence.
    scan: StopScan,
    /// A refusal part was seen.
    refusal: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Message,
    Reasoning,
    FunctionCall,
    Other,
}

#[derive(Debug)]
struct Item {
    output_index: Option<u32>,
    id: Option<String>,
    kind: Kind,
    done: bool,
    /// A message's text, or a reasoning item's thinking text.
    text: String,
    /// Bytes of `text` already emitted.
    sent: usize,
    /// The part (`content_index` / `summary_index`) of the last delta.
    part: Option<u32>,
    call_id: Option<String>,
    name: String,
    args: String,
    /// A reasoning item as the upstream sent it, when it can be replayed.
    raw: Option<Box<RawValue>>,
}

impl Item {
    fn new(output_index: Option<u32>, id: Option<String>, kind: Kind) -> Self {
        Item {
            output_index,
            id,
            kind,
            done: false,
            text: String::new(),
            sent: 0,
            part: None,
            call_id: None,
            name: String::new(),
            args: String::new(),
            raw: None,
        }
    }
}

fn kind_of(item: &OutputItem) -> Kind {
    match item {
        OutputItem::Message { .. } => Kind::Message,
        OutputItem::Reasoning { .. } => Kind::Reasoning,
        OutputItem::FunctionCall { .. } => Kind::FunctionCall,
        OutputItem::Other => Kind::Other,
    }
}

fn id_of(item: &OutputItem) -> Option<&str> {
    match item {
        OutputItem::Message { id, .. }
        | OutputItem::Reasoning { id, .. }
        | OutputItem::FunctionCall { id, .. } => id.as_deref(),
        OutputItem::Other => None,
    }
}

fn argument_text(arguments: &Value) -> String {
    match arguments {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn joined(parts: &[TextPart], sep: &str) -> String {
    let texts: Vec<&str> = parts
        .iter()
        .map(|p| p.text.as_str())
        .filter(|t| !t.is_empty())
        .collect();
    texts.join(sep)
}

impl ResponsesStreamTranslator {
    /// A translator for the answer to the request `ctx` describes.
    pub fn new(ctx: ResponseContext) -> Self {
        ResponsesStreamTranslator {
            emit: Emitter::new(ctx, empty_signature()),
            items: Vec::new(),
            next: 0,
            scan: StopScan::default(),
            refusal: false,
        }
    }

    /// Emits `message_start` (the token counts follow in `message_delta`).
    /// Idempotent.
    pub fn start(&mut self, out: &mut Vec<StreamEvent>) {
        self.emit.start(out);
    }

    /// One SSE `data:` payload from the upstream.
    pub fn push(&mut self, data: &str, out: &mut Vec<StreamEvent>) {
        if self.emit.is_done() {
            return;
        }
        self.start(out);
        // Malformed events are skipped: one bad line should not end an
        // otherwise good answer. There is no `[DONE]`; one is ignored.
        if let Ok(ev) = serde_json::from_str::<ResponsesEvent>(data.trim()) {
            self.event(ev, out);
        }
    }

    /// The upstream body ended: without a terminal event the answer is not
    /// complete, and the client gets an `api_error`.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        self.fail(
            ErrorKind::Api,
            "upstream stream ended before the response was complete",
            out,
        );
    }

    /// Transport failure or timeout mid-stream: one `error` event, nothing after.
    pub fn fail(&mut self, kind: ErrorKind, message: &str, out: &mut Vec<StreamEvent>) {
        self.emit.fail(out, kind, message);
    }

    /// True once `message_stop` or `error` was emitted.
    pub fn is_done(&self) -> bool {
        self.emit.is_done()
    }

    fn event(&mut self, ev: ResponsesEvent, out: &mut Vec<StreamEvent>) {
        match ev.kind.as_str() {
            "response.output_item.added" => {
                if let Some(raw) = &ev.item {
                    self.item_added(ev.output_index, raw);
                }
            }
            "response.output_item.done" => {
                if let Some(raw) = ev.item {
                    self.item_done(ev.output_index, raw, out);
                }
            }
            "response.output_text.delta" => self.text_delta(&ev, Kind::Message, None, out),
            "response.refusal.delta" => {
                self.refusal |= ev.delta.as_deref().is_some_and(|d| !d.is_empty());
                self.text_delta(&ev, Kind::Message, None, out);
            }
            "response.reasoning_summary_text.delta" => {
                self.text_delta(&ev, Kind::Reasoning, ev.summary_index, out)
            }
            "response.reasoning_text.delta" => {
                self.text_delta(&ev, Kind::Reasoning, ev.content_index, out)
            }
            "response.function_call_arguments.delta" => {
                if let Some(delta) = ev.delta.as_deref() {
                    let i = self.slot(ev.output_index, ev.item_id.as_deref(), Kind::FunctionCall);
                    self.items[i].args.push_str(delta);
                }
            }
            "response.function_call_arguments.done" => {
                if let Some(args) = ev.arguments.filter(|a| !a.is_empty()) {
                    let i = self.slot(ev.output_index, ev.item_id.as_deref(), Kind::FunctionCall);
                    self.items[i].args = args;
                }
            }
            "response.completed" => self.complete(ev.response, false, out),
            "response.incomplete" => self.complete(ev.response, true, out),
            "response.failed" => self.failed(ev.response.as_ref(), out),
            "error" => self.error_event(&ev, out),
            _ => {}
        }
    }

    /// The item an event is about: by `output_index`, else by `item_id`,
    /// else the last unfinished item of the event's kind; a new one when
    /// none matches.
    fn slot(&mut self, output_index: Option<u32>, id: Option<&str>, kind: Kind) -> usize {
        let found = match (output_index, id) {
            (Some(oi), _) => self.items.iter().position(|it| it.output_index == Some(oi)),
            (None, Some(id)) => self
                .items
                .iter()
                .position(|it| it.id.as_deref() == Some(id)),
            (None, None) => self
                .items
                .iter()
                .rposition(|it| it.kind == kind && !it.done),
        };
        let found = found.or_else(|| {
            let id = id?;
            self.items
                .iter()
                .position(|it| it.id.as_deref() == Some(id))
        });
        match found {
            Some(i) => {
                let item = &mut self.items[i];
                if item.output_index.is_none() {
                    item.output_index = output_index;
                }
                if item.id.is_none() {
                    item.id = id.map(str::to_owned);
                }
                i
            }
            None => {
                self.items
                    .push(Item::new(output_index, id.map(str::to_owned), kind));
                self.items.len() - 1
            }
        }
    }

    fn item_added(&mut self, output_index: Option<u32>, raw: &RawValue) {
        let Ok(item) = serde_json::from_str::<OutputItem>(raw.get()) else {
            return;
        };
        let i = self.slot(output_index, id_of(&item), kind_of(&item));
        let slot = &mut self.items[i];
        if slot.kind == Kind::Other {
            slot.kind = kind_of(&item);
        }
        if let OutputItem::FunctionCall { call_id, name, .. } = item {
            slot.call_id = slot.call_id.take().or(call_id);
            if slot.name.is_empty() {
                slot.name = name;
            }
        }
    }

    /// A finished item: what the deltas did not bring is taken from it.
    fn item_done(
        &mut self,
        output_index: Option<u32>,
        raw: Box<RawValue>,
        out: &mut Vec<StreamEvent>,
    ) {
        let item = serde_json::from_str::<OutputItem>(raw.get()).unwrap_or(OutputItem::Other);
        let i = self.slot(output_index, id_of(&item), kind_of(&item));
        let slot = &mut self.items[i];
        if slot.done {
            return;
        }
        slot.done = true;
        if slot.kind == Kind::Other {
            slot.kind = kind_of(&item);
        }
        match item {
            OutputItem::Message { content, .. } => {
                let mut text = String::new();
                for part in content {
                    match part {
                        OutputContent::OutputText { text: t } => text.push_str(&t),
                        OutputContent::Refusal { refusal } if !refusal.is_empty() => {
                            self.refusal = true;
                            text.push_str(&refusal);
                        }
                        _ => {}
                    }
                }
                if slot.text.is_empty() {
                    slot.text = text;
                }
            }
            OutputItem::FunctionCall {
                call_id,
                name,
                arguments,
                ..
            } => {
                slot.call_id = call_id.or(slot.call_id.take());
                if !name.is_empty() {
                    slot.name = name;
                }
                let args = arguments.as_ref().map(argument_text).unwrap_or_default();
                if !args.is_empty() {
                    slot.args = args;
                }
            }
            OutputItem::Reasoning {
                summary,
                content,
                encrypted_content,
                ..
            } => {
                if slot.text.is_empty() {
                    slot.text = joined(&summary, SUMMARY_SEPARATOR);
                }
                if slot.text.is_empty() {
                    slot.text = joined(&content, SUMMARY_SEPARATOR);
                }
                if encrypted_content.is_some_and(|e| !e.is_empty()) {
                    slot.raw = Some(raw);
                }
            }
            OutputItem::Other => {}
        }
        self.advance(out);
    }

    fn text_delta(
        &mut self,
        ev: &ResponsesEvent,
        kind: Kind,
        part: Option<u32>,
        out: &mut Vec<StreamEvent>,
    ) {
        let Some(delta) = ev.delta.as_deref().filter(|d| !d.is_empty()) else {
            return;
        };
        let i = self.slot(ev.output_index, ev.item_id.as_deref(), kind);
        let slot = &mut self.items[i];
        if slot.done {
            return;
        }
        // A new summary part is a new paragraph.
        if kind == Kind::Reasoning && part != slot.part && !slot.text.is_empty() {
            slot.text.push_str(SUMMARY_SEPARATOR);
        }
        slot.part = part;
        slot.text.push_str(delta);
        self.advance(out);
    }

    /// Emits what is ready: the first unfinished item's new content, and
    /// every item before it whole.
    fn advance(&mut self, out: &mut Vec<StreamEvent>) {
        while self.next < self.items.len() && !self.emit.is_done() {
            self.emit_pending(self.next, out);
            if self.emit.is_done() || !self.items[self.next].done {
                return;
            }
            self.finish_item(self.next, out);
            self.next += 1;
        }
    }

    fn emit_pending(&mut self, i: usize, out: &mut Vec<StreamEvent>) {
        let item = &mut self.items[i];
        if item.sent >= item.text.len() {
            return;
        }
        let pending = item.text[item.sent..].to_owned();
        item.sent = item.text.len();
        match item.kind {
            Kind::Message => self.text(&pending, out),
            Kind::Reasoning => {
                self.flush_held(out);
                self.emit.blocks().thinking(out, &pending);
            }
            Kind::FunctionCall | Kind::Other => {}
        }
    }

    fn finish_item(&mut self, i: usize, out: &mut Vec<StreamEvent>) {
        match self.items[i].kind {
            Kind::Message | Kind::Other => {}
            Kind::Reasoning => {
                self.flush_held(out);
                let item = &self.items[i];
                match &item.raw {
                    // Its own block, signed with the item (an empty one
                    // when the item has no summary).
                    Some(raw) => {
                        let signature = reasoning_signature(raw);
                        self.emit.blocks().thinking_signature(out, signature);
                        self.emit.blocks().close(out);
                    }
                    // Nothing to replay: the thinking text, if any, keeps
                    // the default signature.
                    None if !item.text.is_empty() => self.emit.blocks().close(out),
                    None => {}
                }
            }
            Kind::FunctionCall => {
                self.flush_held(out);
                let item = &self.items[i];
                if item.name.is_empty() {
                    return;
                }
                let (call_id, name) = (item.call_id.clone(), item.name.clone());
                let input = normalize_tool_arguments(&item.args);
                self.emit.tool_use(out, call_id.as_deref(), name, input);
            }
        }
    }

    fn text(&mut self, text: &str, out: &mut Vec<StreamEvent>) {
        match self.scan.push(text, &self.emit.ctx().stop_sequences) {
            Scanned::Text(ready) => self.emit.blocks().text(out, &ready),
            Scanned::Stop { before, sequence } => {
                self.emit.blocks().text(out, &before);
                // Nothing after the match is the answer's.
                self.emit
                    .end(out, StopReason::StopSequence, Some(sequence), None);
            }
        }
    }

    /// Releases held-back text: what follows is not text.
    fn flush_held(&mut self, out: &mut Vec<StreamEvent>) {
        let held = self.scan.flush();
        self.emit.blocks().text(out, &held);
    }

    /// `response.completed` / `.incomplete`, or a whole answer: the items
    /// the deltas left unfinished are completed from the response's
    /// `output`, then the message ends.
    fn complete(
        &mut self,
        response: Option<ResponseObject>,
        incomplete: bool,
        out: &mut Vec<StreamEvent>,
    ) {
        let response = response.unwrap_or_default();
        for (n, raw) in response.output.into_iter().enumerate() {
            let Ok(index) = u32::try_from(n) else {
                break;
            };
            let seen = self
                .items
                .iter()
                .any(|it| it.done && it.output_index == Some(index));
            if !seen {
                self.item_done(Some(index), raw, out);
            }
        }
        for item in &mut self.items {
            item.done = true;
        }
        self.advance(out);
        if self.emit.is_done() {
            return;
        }
        self.flush_held(out);
        let reason = response
            .incomplete_details
            .as_ref()
            .and_then(|d| d.reason.as_deref());
        let ending = if incomplete {
            Ending::Incomplete(reason)
        } else {
            Ending::Completed
        };
        let reason = stop_reason(ending, self.emit.tool_use_count(), self.refusal);
        let usage = response.usage.as_ref().map(map_usage);
        self.emit.end(out, reason, None, usage);
    }

    /// A whole (non-streamed) answer, ended by its `status`.
    pub(super) fn whole(&mut self, response: ResponseObject, out: &mut Vec<StreamEvent>) {
        self.start(out);
        match response.status.as_deref() {
            Some("failed") => self.failed(Some(&response), out),
            Some("incomplete") => self.complete(Some(response), true, out),
            _ => self.complete(Some(response), false, out),
        }
    }

    fn failed(&mut self, response: Option<&ResponseObject>, out: &mut Vec<StreamEvent>) {
        let error = response.and_then(|r| r.error.as_ref());
        let code = error.and_then(|e| e.code.as_deref());
        let message = error
            .and_then(|e| e.message.as_deref())
            .unwrap_or("the response failed");
        let kind = error_kind(&code.into_iter().collect::<Vec<_>>());
        self.fail(kind, &format!("upstream error: {message}"), out);
    }

    /// An `error` event: `code` / `message` at the top, or inside `error`.
    fn error_event(&mut self, ev: &ResponsesEvent, out: &mut Vec<StreamEvent>) {
        let nested = ev.error.as_ref();
        let field = |key: &str| nested.and_then(|e| e.get(key)).and_then(Value::as_str);
        let mut codes: Vec<&str> = Vec::new();
        codes.extend(ev.code.as_ref().and_then(Value::as_str));
        codes.extend(field("code"));
        codes.extend(field("type"));
        let message = ev
            .message
            .as_deref()
            .or_else(|| field("message"))
            .unwrap_or("error event");
        self.fail(
            error_kind(&codes),
            &format!("upstream error: {message}"),
            out,
        );
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
