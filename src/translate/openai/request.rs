//! Anthropic `MessagesRequest` → OpenAI `ChatRequest` (docs/translation.md,
//! "Anthropic → OpenAI Chat").
//!
//! The output borrows from the input wherever it can (tool inputs, schemas,
//! texts), so a large Claude Code request is not copied. Anthropic-only
//! fields (cache_control, context_management, output_config, top_k, …) have
//! no place in the output types and so are dropped by construction.

use crate::protocol::anthropic::{
    Content, ContentBlock, DocumentSource, ImageSource, MessagesRequest, Role, Thinking, Tool,
    ToolChoice, ToolSpec,
};
use crate::protocol::openai::{
    ChatFunction, ChatMessage, ChatRequest, ChatTool, ChatToolChoice, EmptyObjectSchema, FileData,
    ImageUrl, NamedFunction, Parameters, StreamOptions, ToolCall, ToolCallFunction, UserContent,
    UserPart,
};
use crate::protocol::text::Text;
use crate::translate::common::content::{
    document_text, flatten_tool_result, system_texts, Piece, BLOCK_SEPARATOR,
};
use crate::translate::common::history::{PendingCalls, INTERRUPTED_TEXT};
use crate::translate::common::request::{
    capped_max_tokens, openai_user, usable_tool_choice, ReasoningLevel,
};

/// Chat Completions takes at most four stop strings.
const MAX_STOP_SEQUENCES: usize = 4;

/// Which field carries the output limit: OpenAI's reasoning models accept
/// only `max_completion_tokens`, many compatible servers only `max_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxTokensField {
    /// `max_completion_tokens`.
    MaxCompletionTokens,
    /// `max_tokens`.
    MaxTokens,
}

/// Per-route choices the request alone does not determine.
#[derive(Debug, Clone)]
pub struct OpenAiRequestOptions<'a> {
    /// Upstream model id (after model mapping).
    pub model: &'a str,
    /// Which field carries the output limit.
    pub max_tokens_field: MaxTokensField,
    /// The upstream model's output limit, if known.
    pub max_tokens_cap: Option<u64>,
    /// Ask for a chunk stream.
    pub stream: bool,
}

/// Content of a tool message whose result was empty; some servers reject "".
pub(super) const EMPTY_TOOL_RESULT: &str = "(no output)";
const IMAGE_ONLY_TOOL_RESULT: &str = "(image output follows)";

/// The OpenAI request for `req`; it borrows from `req`.
pub fn to_openai_request<'a>(
    req: &'a MessagesRequest,
    opts: &OpenAiRequestOptions<'a>,
) -> ChatRequest<'a> {
    let tools: Vec<ChatTool<'a>> = req
        .tools
        .iter()
        .flatten()
        .filter_map(Tool::spec)
        .map(chat_tool)
        .collect();
    let tool_choice = usable_tool_choice(req.tool_choice.as_ref(), !tools.is_empty(), |name| {
        tools.iter().any(|t| t.function.name == name)
    })
    .map(tool_choice);
    let parallel_tool_calls = (!tools.is_empty()
        && req
            .tool_choice
            .as_ref()
            .is_some_and(ToolChoice::disable_parallel))
    .then_some(false);
    let max_tokens = capped_max_tokens(req.max_tokens, opts.max_tokens_cap);
    let (max_tokens, max_completion_tokens) = match opts.max_tokens_field {
        MaxTokensField::MaxTokens => (Some(max_tokens), None),
        MaxTokensField::MaxCompletionTokens => (None, Some(max_tokens)),
    };
    ChatRequest {
        model: opts.model,
        messages: convert_messages(req),
        max_tokens,
        max_completion_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        // Sent so the upstream stops generating (and billing) there; the
        // response translators still enforce every sequence, including
        // those beyond OpenAI's limit (docs/translation.md, "Stop reasons").
        stop: req
            .stop_sequences
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| &s[..s.len().min(MAX_STOP_SEQUENCES)]),
        stream: opts.stream,
        stream_options: opts.stream.then_some(StreamOptions {
            include_usage: true,
        }),
        tools,
        tool_choice,
        parallel_tool_calls,
        reasoning_effort: reasoning_effort(req),
        user: req
            .metadata
            .as_ref()
            .and_then(|m| m.user_id.as_deref())
            .and_then(openai_user),
    }
}

fn chat_tool(spec: ToolSpec<'_>) -> ChatTool<'_> {
    ChatTool {
        kind: "function",
        function: ChatFunction {
            name: spec.name,
            description: spec.description,
            parameters: match spec.schema {
                Some(schema) => Parameters::Schema(schema),
                None => Parameters::Empty(EmptyObjectSchema::default()),
            },
        },
    }
}

fn tool_choice(choice: &ToolChoice) -> ChatToolChoice<'_> {
    match choice {
        ToolChoice::Auto { .. } => ChatToolChoice::Mode("auto"),
        ToolChoice::Any { .. } => ChatToolChoice::Mode("required"),
        ToolChoice::None => ChatToolChoice::Mode("none"),
        ToolChoice::Tool { name, .. } => ChatToolChoice::Function {
            kind: "function",
            function: NamedFunction { name },
        },
    }
}

/// `output_config.effort` is already in OpenAI's vocabulary and wins; else a
/// thinking budget is bucketed. Adaptive/disabled thinking leaves the
/// provider's default.
fn reasoning_effort(req: &MessagesRequest) -> Option<&str> {
    let effort = req.output_config.as_ref().and_then(|c| c.effort.as_deref());
    if let Some(e) = effort.filter(|e| ReasoningLevel::for_effort(e).is_some()) {
        return Some(e);
    }
    match req.thinking {
        Some(Thinking::Enabled { budget_tokens }) => Some(
            budget_tokens
                .map_or(ReasoningLevel::Medium, ReasoningLevel::for_budget)
                .as_str(),
        ),
        _ => None,
    }
}

fn convert_messages(req: &MessagesRequest) -> Vec<ChatMessage<'_>> {
    let mut b = MessagesBuilder::default();
    if let Some(system) = &req.system {
        if let Some(m) = system_message(system) {
            b.out.push(m);
        }
    }
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

/// Builds the message list while keeping OpenAI's ordering rule: an
/// assistant turn with `tool_calls` is followed at once by one `tool`
/// message per call.
#[derive(Default)]
struct MessagesBuilder<'a> {
    out: Vec<ChatMessage<'a>>,
    /// Calls of the last assistant turn that have no tool message yet.
    pending: PendingCalls<&'a str>,
    /// System turns that arrived while calls were pending; they go after
    /// the tool messages so they do not split the call/answer pair.
    deferred: Vec<ChatMessage<'a>>,
}

impl<'a> MessagesBuilder<'a> {
    fn system_turn(&mut self, content: &'a Content) {
        if let Some(m) = system_message(content) {
            if self.pending.is_empty() {
                self.out.push(m);
            } else {
                self.deferred.push(m);
            }
        }
    }

    /// Synthesizes an error result for every call still unanswered.
    fn answer_orphans(&mut self) {
        for id in self.pending.unanswered() {
            self.out.push(ChatMessage::Tool {
                tool_call_id: id,
                content: Text::from(INTERRUPTED_TEXT),
            });
        }
        self.out.append(&mut self.deferred);
    }

    fn assistant(&mut self, content: &'a Content) {
        let blocks = match content {
            Content::Text(s) => {
                if !s.is_empty() {
                    self.out.push(ChatMessage::Assistant {
                        content: Some(Text::Raw(s)),
                        tool_calls: Vec::new(),
                    });
                }
                return;
            }
            Content::Blocks(blocks) => blocks,
        };
        let mut texts = Vec::new();
        let mut tool_calls = Vec::new();
        for block in blocks {
            match block {
                ContentBlock::Text { text } if !text.is_empty() => texts.push(Text::Raw(text)),
                ContentBlock::ToolUse { id, name, input } => {
                    self.pending.push(id);
                    tool_calls.push(ToolCall {
                        id,
                        kind: "function",
                        function: ToolCallFunction {
                            name,
                            arguments: input.get(),
                        },
                    });
                }
                // Thinking (and its signature) means nothing to another
                // model; server-tool and unknown blocks were not its output.
                _ => {}
            }
        }
        if texts.is_empty() && tool_calls.is_empty() {
            return;
        }
        self.out.push(ChatMessage::Assistant {
            content: (!texts.is_empty()).then(|| Text::join(texts, BLOCK_SEPARATOR)),
            tool_calls,
        });
    }

    fn user(&mut self, content: &'a Content) {
        let blocks = match content {
            Content::Text(s) => {
                self.answer_orphans();
                if !s.is_empty() {
                    self.out.push(ChatMessage::User {
                        content: UserContent::Text(Text::Raw(s)),
                    });
                }
                return;
            }
            Content::Blocks(blocks) => blocks,
        };
        let mut tool_media: Vec<UserPart<'a>> = Vec::new();
        let mut parts: Vec<UserPart<'a>> = Vec::new();
        for block in blocks {
            match block {
                ContentBlock::ToolResult {
                    tool_use_id,
                    content,
                    is_error,
                } => {
                    // Results for calls the previous turn did not make (or
                    // already answered) would be rejected: drop them.
                    let Some(id) = self.pending.answer(tool_use_id) else {
                        continue;
                    };
                    let (text, media) = tool_result_content(content, *is_error);
                    self.out.push(ChatMessage::Tool {
                        tool_call_id: id,
                        content: text,
                    });
                    if !media.is_empty() {
                        tool_media.push(UserPart::Text {
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
        if let Some(m) = user_message(tool_media) {
            self.out.push(m);
        }
    }
}

fn system_message(content: &Content) -> Option<ChatMessage<'_>> {
    let texts = system_texts(content).collect();
    let text = Text::join(texts, BLOCK_SEPARATOR);
    (!text.is_empty()).then_some(ChatMessage::System { content: text })
}

/// A user message from parts: plain text when there is only text (the most
/// portable form), `None` when there is nothing to send.
fn user_message(parts: Vec<UserPart<'_>>) -> Option<ChatMessage<'_>> {
    if parts.is_empty() {
        return None;
    }
    if !parts.iter().all(|p| matches!(p, UserPart::Text { .. })) {
        return Some(ChatMessage::User {
            content: UserContent::Parts(parts),
        });
    }
    let texts = parts
        .into_iter()
        .filter_map(|p| match p {
            UserPart::Text { text } => Some(text),
            _ => None,
        })
        .collect();
    Some(ChatMessage::User {
        content: UserContent::Text(Text::join(texts, BLOCK_SEPARATOR)),
    })
}

/// The OpenAI part for a user-turn block; `None` for blocks that carry
/// nothing a model can read (empty text, tool_use, thinking, unknown blocks
/// without text).
fn user_part(block: &ContentBlock) -> Option<UserPart<'_>> {
    match block {
        ContentBlock::Text { text } => (!text.is_empty()).then_some(UserPart::Text {
            text: Text::Raw(text),
        }),
        ContentBlock::Other {
            text: Some(text), ..
        } => (!text.is_empty()).then_some(UserPart::Text {
            text: Text::from(text),
        }),
        ContentBlock::Image { source } => Some(UserPart::ImageUrl {
            image_url: ImageUrl {
                url: match source {
                    ImageSource::Base64 { media_type, data } => {
                        format!("data:{media_type};base64,{data}")
                    }
                    ImageSource::Url { url } => url.clone(),
                },
            },
        }),
        ContentBlock::Document { source, title } => document_part(source, title.as_deref()),
        _ => None,
    }
}

fn document_part<'a>(source: &'a DocumentSource, title: Option<&str>) -> Option<UserPart<'a>> {
    let text = |body: Text<'a>| -> Option<UserPart<'a>> {
        if body.is_empty() {
            return None;
        }
        Some(UserPart::Text {
            text: match title {
                Some(t) if !t.is_empty() => body.prefixed(&format!("Document: {t}\n\n")),
                _ => body,
            },
        })
    };
    match source {
        DocumentSource::Base64 { media_type, data } => Some(UserPart::File {
            file: FileData {
                filename: if media_type == "application/pdf" {
                    "document.pdf".to_owned()
                } else {
                    "document".to_owned()
                },
                file_data: format!("data:{media_type};base64,{data}"),
            },
        }),
        // Chat Completions cannot fetch a document; the model at least
        // learns where it is.
        DocumentSource::Url { url } => text(Text::from(format!("(document at {url})"))),
        DocumentSource::Text { data, .. } => text(Text::from(data)),
        DocumentSource::Content { content } => text(Text::from(document_text(content))),
    }
}

/// Text for the `tool` message (which accepts text only) and the media that
/// must follow in a user message.
fn tool_result_content(content: &Content, is_error: bool) -> (Text<'_>, Vec<UserPart<'_>>) {
    let (mut text, media) = flatten_tool_result(content, |block| {
        user_part(block).map(|part| match part {
            UserPart::Text { text } => Piece::Text(text),
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
