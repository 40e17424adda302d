//! Anthropic `MessagesRequest` → Responses `ResponsesRequest`
//! (docs/translation.md, "Anthropic → OpenAI Responses").
//!
//! The output borrows from the input wherever it can (tool inputs, schemas,
//! texts). Anthropic-only fields (cache_control, context_management,
//! top_k, stop_sequences — which the response translator enforces — …)
//! have no place in the output types and so are dropped by construction.

use std::borrow::Cow;

use super::reasoning_item;
use crate::protocol::anthropic::{
    Content, ContentBlock, DocumentSource, ImageSource, JsonText, MessagesRequest, Role, Thinking,
    Tool, ToolChoice as AnthropicToolChoice, ToolSpec,
};
use crate::protocol::openai::{EmptyObjectSchema, Parameters};
use crate::protocol::responses::{
    ContentPart, FunctionTool, InputItem, Reasoning, ResponsesRequest, ToolChoice, TypedItem,
    INCLUDE_ENCRYPTED_REASONING,
};
use crate::protocol::text::Text;
use crate::translate::common::content::{
    document_text, flatten_tool_result, system_texts, Piece, BLOCK_SEPARATOR,
};
use crate::translate::common::history::{PendingCalls, INTERRUPTED_TEXT};
use crate::translate::common::request::{
    capped_max_tokens, openai_user, usable_tool_choice, ReasoningLevel,
};

/// The smallest `max_output_tokens` the Responses API accepts.
pub const MIN_OUTPUT_TOKENS: u64 = 16;

/// Output of a function call whose result was empty.
const EMPTY_TOOL_RESULT: &str = "(no output)";
const IMAGE_ONLY_TOOL_RESULT: &str = "(image output follows)";

/// Per-route choices the request alone does not determine.
#[derive(Debug, Clone)]
pub struct ResponsesRequestOptions<'a> {
    /// Upstream model id (after model mapping).
    pub model: &'a str,
    /// The upstream model's output limit, if known.
    pub max_tokens_cap: Option<u64>,
    /// Ask for an event stream.
    pub stream: bool,
}

/// The Responses request for `req`; it borrows from `req`.
pub fn to_responses_request<'a>(
    req: &'a MessagesRequest,
    opts: &ResponsesRequestOptions<'a>,
) -> ResponsesRequest<'a> {
    let tools: Vec<FunctionTool<'a>> = req
        .tools
        .iter()
        .flatten()
        .filter_map(Tool::spec)
        .map(function_tool)
        .collect();
    let tool_choice = usable_tool_choice(req.tool_choice.as_ref(), !tools.is_empty(), |name| {
        tools.iter().any(|t| t.name == name)
    })
    .map(tool_choice);
    let parallel_tool_calls = (!tools.is_empty()
        && req
            .tool_choice
            .as_ref()
            .is_some_and(AnthropicToolChoice::disable_parallel))
    .then_some(false);
    let instructions = req.system.as_ref().and_then(|s| {
        let text = Text::join(system_texts(s).collect(), BLOCK_SEPARATOR);
        (!text.is_empty()).then_some(text)
    });
    ResponsesRequest {
        model: opts.model,
        instructions,
        input: convert_messages(req),
        max_output_tokens: Some(
            capped_max_tokens(req.max_tokens, opts.max_tokens_cap).max(MIN_OUTPUT_TOKENS),
        ),
        temperature: req.temperature,
        top_p: req.top_p,
        stream: opts.stream,
        tools,
        tool_choice,
        parallel_tool_calls,
        reasoning: reasoning(req),
        include: vec![INCLUDE_ENCRYPTED_REASONING],
        store: false,
        user: req
            .metadata
            .as_ref()
            .and_then(|m| m.user_id.as_deref())
            .and_then(openai_user),
    }
}

fn function_tool(spec: ToolSpec<'_>) -> FunctionTool<'_> {
    FunctionTool {
        kind: "function",
        name: spec.name,
        description: spec.description,
        parameters: match spec.schema {
            Some(schema) => Parameters::Schema(schema),
            None => Parameters::Empty(EmptyObjectSchema::default()),
        },
        strict: false,
    }
}

fn tool_choice(choice: &AnthropicToolChoice) -> ToolChoice<'_> {
    match choice {
        AnthropicToolChoice::Auto { .. } => ToolChoice::Mode("auto"),
        AnthropicToolChoice::Any { .. } => ToolChoice::Mode("required"),
        AnthropicToolChoice::None => ToolChoice::Mode("none"),
        AnthropicToolChoice::Tool { name, .. } => ToolChoice::Function {
            kind: "function",
            name,
        },
    }
}

/// `output_config.effort` wins, else an enabled thinking budget is
/// bucketed (no budget: medium). Summaries are asked for whenever the
/// client asked for thinking (enabled or adaptive); with neither an effort
/// nor thinking the model's defaults stand.
fn reasoning(req: &MessagesRequest) -> Option<Reasoning> {
    let effort = req
        .output_config
        .as_ref()
        .and_then(|c| c.effort.as_deref())
        .and_then(ReasoningLevel::for_effort)
        .or(match req.thinking {
            Some(Thinking::Enabled { budget_tokens }) => {
                Some(budget_tokens.map_or(ReasoningLevel::Medium, ReasoningLevel::for_budget))
            }
            _ => None,
        });
    let summary = matches!(
        req.thinking,
        Some(Thinking::Enabled { .. } | Thinking::Adaptive)
    );
    (effort.is_some() || summary).then(|| Reasoning {
        effort: effort.map(ReasoningLevel::as_str),
        summary: summary.then_some("auto"),
    })
}

fn convert_messages(req: &MessagesRequest) -> Vec<InputItem<'_>> {
    let mut b = InputBuilder::default();
    for m in &req.messages {
        match m.role {
            Role::System => b.system_turn(&m.content),
            Role::Assistant => {
                b.answer_orphans();
                b.assistant(&m.content);
            }
            Role::User => b.user(&m.content),
        }
    }
    b.answer_orphans();
    b.out
}

/// Builds the input items with the tool history paired: every
/// `function_call` has exactly one `function_call_output`, right after the
/// assistant turn that made it.
#[derive(Default)]
struct InputBuilder<'a> {
    out: Vec<InputItem<'a>>,
    /// Calls of the last assistant turn that have no output yet.
    pending: PendingCalls<&'a str>,
    /// System turns that arrived while calls were pending; they go after
    /// the outputs so they do not split a call from its answer.
    deferred: Vec<InputItem<'a>>,
}

fn message<'a>(role: &'static str, content: Vec<ContentPart<'a>>) -> InputItem<'a> {
    InputItem::Typed(TypedItem::Message { role, content })
}

impl<'a> InputBuilder<'a> {
    /// A `role: "system"` turn stays a system message in its place.
    fn system_turn(&mut self, content: &'a Content) {
        let parts: Vec<ContentPart<'a>> = system_texts(content)
            .map(|text| ContentPart::InputText { text })
            .collect();
        if parts.is_empty() {
            return;
        }
        let m = message("system", parts);
        if self.pending.is_empty() {
            self.out.push(m);
        } else {
            self.deferred.push(m);
        }
    }

    /// Answers every call still unanswered with an error output.
    fn answer_orphans(&mut self) {
        for id in self.pending.unanswered() {
            self.out
                .push(InputItem::Typed(TypedItem::FunctionCallOutput {
                    call_id: id,
                    output: Text::from(INTERRUPTED_TEXT),
                }));
        }
        self.out.append(&mut self.deferred);
    }

    /// An assistant turn, block by block: texts become `output_text` parts
    /// of assistant messages, `tool_use` blocks `function_call` items, and
    /// thinking blocks signed with a reasoning item that item, in place.
    fn assistant(&mut self, content: &'a Content) {
        let blocks = match content {
            Content::Text(s) => {
                if !s.is_empty() {
                    self.out.push(message("assistant", vec![output_text(s)]));
                }
                return;
            }
            Content::Blocks(blocks) => blocks,
        };
        let start = self.out.len();
        let mut texts: Vec<ContentPart<'a>> = Vec::new();
        for block in blocks {
            match block {
                ContentBlock::Text { text } if !text.is_empty() => texts.push(output_text(text)),
                ContentBlock::ToolUse { id, name, input } => {
                    self.flush_text(&mut texts);
                    self.pending.push(id);
                    self.out.push(InputItem::Typed(TypedItem::FunctionCall {
                        call_id: id,
                        name,
                        arguments: input.get(),
                    }));
                }
                ContentBlock::Thinking { signature, .. } => {
                    if let Some(item) = reasoning_item(signature) {
                        self.flush_text(&mut texts);
                        self.out.push(InputItem::Raw(item));
                    }
                }
                // Other thinking means nothing to this model; server-tool
                // and unknown blocks were not its output.
                _ => {}
            }
        }
        self.flush_text(&mut texts);
        // A reasoning item must be followed by the output it led to; one
        // with nothing after it in its turn is left out.
        while self.out.len() > start && matches!(self.out.last(), Some(InputItem::Raw(_))) {
            self.out.pop();
        }
    }

    fn flush_text(&mut self, texts: &mut Vec<ContentPart<'a>>) {
        if !texts.is_empty() {
            self.out.push(message("assistant", std::mem::take(texts)));
        }
    }

    fn user(&mut self, content: &'a Content) {
        let blocks = match content {
            Content::Text(s) => {
                self.answer_orphans();
                if !s.is_empty() {
                    self.out.push(message(
                        "user",
                        vec![ContentPart::InputText { text: Text::Raw(s) }],
                    ));
                }
                return;
            }
            Content::Blocks(blocks) => blocks,
        };
        let mut tool_media: Vec<ContentPart<'a>> = Vec::new();
        let mut parts: Vec<ContentPart<'a>> = Vec::new();
        for block in blocks {
            match block {
                ContentBlock::ToolResult {
                    tool_use_id,
                    content,
                    is_error,
                } => {
                    // Outputs for calls the previous turn did not make (or
                    // already answered) would be rejected: drop them.
                    let Some(id) = self.pending.answer(tool_use_id) else {
                        continue;
                    };
                    let (output, media) = tool_result_content(content, *is_error);
                    self.out
                        .push(InputItem::Typed(TypedItem::FunctionCallOutput {
                            call_id: id,
                            output,
                        }));
                    if !media.is_empty() {
                        tool_media.push(ContentPart::InputText {
                            text: Text::from(format!("Image output of tool {id}:")),
                        });
                        tool_media.extend(media);
                    }
                }
                other => parts.extend(user_part(other)),
            }
        }
        self.answer_orphans();
        tool_media.append(&mut parts);
        if !tool_media.is_empty() {
            self.out.push(message("user", tool_media));
        }
    }
}

fn output_text(text: &JsonText) -> ContentPart<'_> {
    ContentPart::OutputText {
        text: Text::Raw(text),
        annotations: [],
    }
}

/// The part for a user-turn block; `None` for blocks that carry nothing a
/// model can read (empty text, tool_use, thinking, unknown blocks without
/// text).
fn user_part(block: &ContentBlock) -> Option<ContentPart<'_>> {
    match block {
        ContentBlock::Text { text } => (!text.is_empty()).then_some(ContentPart::InputText {
            text: Text::Raw(text),
        }),
        ContentBlock::Other {
            text: Some(text), ..
        } => (!text.is_empty()).then_some(ContentPart::InputText {
            text: Text::from(text),
        }),
        ContentBlock::Image { source } => Some(ContentPart::InputImage {
            image_url: match source {
                ImageSource::Base64 { media_type, data } => {
                    format!("data:{media_type};base64,{data}")
                }
                ImageSource::Url { url } => url.clone(),
            },
            detail: "auto",
        }),
        ContentBlock::Document { source, title } => document_part(source, title.as_deref()),
        _ => None,
    }
}

fn document_part<'a>(source: &'a DocumentSource, title: Option<&str>) -> Option<ContentPart<'a>> {
    let text = |body: Cow<'a, str>| -> Option<ContentPart<'a>> {
        if body.is_empty() {
            return None;
        }
        Some(ContentPart::InputText {
            text: match title {
                Some(t) if !t.is_empty() => Text::from(format!("Document: {t}\n\n{body}")),
                _ => Text::Plain(body),
            },
        })
    };
    match source {
        DocumentSource::Base64 { media_type, data } => Some(ContentPart::InputFile {
            filename: Some(if media_type == "application/pdf" {
                "document.pdf"
            } else {
                "document"
            }),
            file_data: Some(format!("data:{media_type};base64,{data}")),
            file_url: None,
        }),
        // The Responses API fetches a file by URL itself.
        DocumentSource::Url { url } => Some(ContentPart::InputFile {
            filename: None,
            file_data: None,
            file_url: Some(url),
        }),
        DocumentSource::Text { data, .. } => text(Cow::Borrowed(data)),
        DocumentSource::Content { content } => text(Cow::Owned(document_text(content))),
    }
}

/// Text for the `function_call_output` and the media that must follow in a
/// user message.
fn tool_result_content(content: &Content, is_error: bool) -> (Text<'_>, Vec<ContentPart<'_>>) {
    let (mut text, media) = flatten_tool_result(content, |block| {
        user_part(block).map(|part| match part {
            ContentPart::InputText { text } => Piece::Text(text),
            other => Piece::Media(other),
        })
    });
    if text.is_empty() {
        text = Text::from(if media.is_empty() {
            EMPTY_TOOL_RESULT
        } else {
            IMAGE_ONLY_TOOL_RESULT
        });
    }
    if is_error {
        text = text.prefixed("Error: ");
    }
    (text, media)
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
