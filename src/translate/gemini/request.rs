//! `MessagesRequest` → `GenerateContentRequest` (docs/translation.md,
//! "Anthropic → Gemini"). Pure.
//!
//! History shaping lives in [`super::contents`], schema cleaning in
//! [`super::schema`]; this module assembles the request around them:
//! system instruction, tools, tool choice and generation settings.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use serde_json::value::RawValue;
use serde_json::Value;

use super::contents::{system_turn_parts, to_contents};
use super::schema::clean_schema;
use super::{is_gemini3, sanitize_tool_name};
use crate::protocol::anthropic::{MessagesRequest, Thinking, ToolChoice};
use crate::protocol::gemini::{
    Content, FunctionCallingConfig, FunctionCallingMode, FunctionDeclaration,
    GenerateContentRequest, GenerationConfig, Part, ThinkingConfig, ThinkingLevel, Tool,
    ToolConfig,
};
use crate::translate::common::content::system_texts;
use crate::translate::common::request::{capped_max_tokens, usable_tool_choice, ReasoningLevel};

/// Gemini's documented cap on `stopSequences`.
const MAX_STOP_SEQUENCES: usize = 5;

/// Per-route choices the request alone does not determine.
#[derive(Debug, Clone, Copy)]
pub struct GeminiRequestOptions<'a> {
    /// Upper limit for `maxOutputTokens` (the upstream model's own limit).
    pub max_tokens_cap: Option<u64>,
    /// Upstream model id (`gemini-2.5-flash`, `gemini-3-pro-preview`, …):
    /// decides between `thinkingBudget` and `thinkingLevel`.
    pub model: &'a str,
}

/// The Gemini request for `req`; it borrows from `req`.
pub fn to_gemini_request<'a>(
    req: &'a MessagesRequest,
    opts: &GeminiRequestOptions<'a>,
) -> GenerateContentRequest<'a> {
    let gemini3 = is_gemini3(opts.model);
    let declarations = function_declarations(req);
    let tool_config = tool_config(req.tool_choice.as_ref(), &declarations);
    let tools = if declarations.is_empty() {
        Vec::new()
    } else {
        vec![Tool {
            function_declarations: declarations,
        }]
    };
    GenerateContentRequest {
        contents: to_contents(&req.messages, gemini3),
        system_instruction: system_instruction(req),
        tools,
        tool_config,
        generation_config: generation_config(req, opts, gemini3),
    }
}

/// `system` (string or text blocks, one part each) followed by the text of any
/// `role:"system"` turns inside `messages`.
fn system_instruction(req: &MessagesRequest) -> Option<Content<'_>> {
    let parts: Vec<Part<'_>> = req
        .system
        .iter()
        .flat_map(system_texts)
        .map(Part::text)
        .chain(system_turn_parts(&req.messages))
        .collect();
    (!parts.is_empty()).then_some(Content { role: None, parts })
}

/// Client tools as declarations; Anthropic server tools (no schema, dated
/// type) are dropped, and so is a repeated name (Gemini rejects duplicates).
fn function_declarations(req: &MessagesRequest) -> Vec<FunctionDeclaration<'_>> {
    let mut out: Vec<FunctionDeclaration<'_>> = Vec::new();
    for spec in req.tools.iter().flatten().filter_map(|t| t.spec()) {
        let name = sanitize_tool_name(spec.name);
        if out.iter().any(|d| d.name == name) {
            continue;
        }
        let parameters = spec.schema.and_then(cleaned_schema);
        out.push(FunctionDeclaration {
            name,
            description: spec.description.filter(|d| !d.is_empty()),
            parameters,
        });
    }
    out
}

/// Cleaned schemas by their raw text. Cleaning parses and rebuilds the whole
/// schema, several times the cost of translating the rest of a request, and
/// clients resend identical tool lists on every turn. A memo, so this module
/// stays pure: the same input always gives the same output.
type SchemaMemo = HashMap<Box<str>, Option<Arc<RawValue>>>;

static CLEANED: LazyLock<Mutex<SchemaMemo>> = LazyLock::new(Default::default);

/// Bound on [`CLEANED`]: the memo is dropped whole when full (distinct
/// schemas are few in practice; this only guards against a client that
/// invents a new one per request).
const CLEANED_CAPACITY: usize = 2048;

fn cleaned_schema(raw: &RawValue) -> Option<Arc<RawValue>> {
    if let Ok(memo) = CLEANED.lock() {
        if let Some(hit) = memo.get(raw.get()) {
            return hit.clone();
        }
    }
    let cleaned = serde_json::from_str::<Value>(raw.get())
        .ok()
        .and_then(|schema| clean_schema(&schema))
        .and_then(|v| serde_json::value::to_raw_value(&v).ok())
        .map(Arc::from);
    if let Ok(mut memo) = CLEANED.lock() {
        if memo.len() >= CLEANED_CAPACITY {
            memo.clear();
        }
        memo.insert(raw.get().into(), cleaned.clone());
    }
    cleaned
}

/// `tool_choice` as `toolConfig`; dropped when there is nothing to choose
/// from or the named tool is not declared (docs/translation.md, "Tools").
fn tool_config<'a>(
    choice: Option<&'a ToolChoice>,
    declared: &[FunctionDeclaration<'a>],
) -> Option<ToolConfig<'a>> {
    let choice = usable_tool_choice(choice, !declared.is_empty(), |name| {
        let name = sanitize_tool_name(name);
        declared.iter().any(|d| d.name == name)
    })?;
    let (mode, allowed) = match choice {
        ToolChoice::Auto { .. } => (FunctionCallingMode::Auto, None),
        ToolChoice::Any { .. } => (FunctionCallingMode::Any, None),
        ToolChoice::None => (FunctionCallingMode::None, None),
        ToolChoice::Tool { name, .. } => (
            FunctionCallingMode::Any,
            Some(vec![sanitize_tool_name(name)]),
        ),
    };
    Some(ToolConfig {
        function_calling_config: FunctionCallingConfig {
            mode,
            allowed_function_names: allowed,
        },
    })
}

fn generation_config<'a>(
    req: &'a MessagesRequest,
    opts: &GeminiRequestOptions<'_>,
    gemini3: bool,
) -> GenerationConfig<'a> {
    GenerationConfig {
        max_output_tokens: Some(capped_max_tokens(req.max_tokens, opts.max_tokens_cap)),
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.top_k,
        // Passed through; Gemini reports a matched stop sequence as a plain
        // STOP, so the reply says `end_turn` (docs/translation.md, "Stop
        // reasons").
        stop_sequences: req
            .stop_sequences
            .iter()
            .flatten()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .take(MAX_STOP_SEQUENCES)
            .collect(),
        thinking_config: thinking_config(req, opts.model, gemini3),
    }
}

/// Thinking (docs/translation.md, "Gemini thinking and settings"). Gemini 3 takes a level, 2.x a token budget — never
/// both. `disabled` sends nothing: some models (2.5 Pro, 3.x) cannot turn
/// thinking off and reject a zero budget.
fn thinking_config(req: &MessagesRequest, model: &str, gemini3: bool) -> Option<ThinkingConfig> {
    let include = Some(true);
    match req.thinking.as_ref()? {
        Thinking::Disabled => None,
        Thinking::Enabled { budget_tokens } if gemini3 => Some(ThinkingConfig {
            include_thoughts: include,
            thinking_level: budget_tokens.map(|b| level(ReasoningLevel::for_budget(b))),
            ..ThinkingConfig::default()
        }),
        Thinking::Enabled { budget_tokens } => Some(ThinkingConfig {
            include_thoughts: include,
            thinking_budget: budget_tokens.map(|b| clamp_budget(model, b)),
            ..ThinkingConfig::default()
        }),
        // Adaptive thinking is Gemini's dynamic default; on Gemini 3 the
        // client's `output_config.effort` still picks a level.
        Thinking::Adaptive => Some(ThinkingConfig {
            include_thoughts: include,
            thinking_level: if gemini3 {
                req.output_config
                    .as_ref()
                    .and_then(|o| o.effort.as_deref())
                    .and_then(ReasoningLevel::for_effort)
                    .map(level)
            } else {
                None
            },
            ..ThinkingConfig::default()
        }),
    }
}

fn level(level: ReasoningLevel) -> ThinkingLevel {
    match level {
        ReasoningLevel::Low => ThinkingLevel::Low,
        ReasoningLevel::Medium => ThinkingLevel::Medium,
        ReasoningLevel::High => ThinkingLevel::High,
    }
}

/// Budgets outside a model's range are a 400
/// (<https://ai.google.dev/gemini-api/docs/thinking>): 2.5 Pro takes
/// 128–32768, Flash-Lite 512–24576, Flash 1–24576. Unknown models get the
/// widest range.
fn clamp_budget(model: &str, budget: u64) -> i64 {
    let m = model.to_ascii_lowercase();
    let (lo, hi) = if m.contains("flash-lite") {
        (512, 24_576)
    } else if m.contains("flash") {
        (1, 24_576)
    } else if m.contains("pro") {
        (128, 32_768)
    } else {
        (1, 32_768)
    };
    i64::try_from(budget).unwrap_or(i64::MAX).clamp(lo, hi)
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
