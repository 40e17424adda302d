//! A Chat Completions request as an Anthropic request
//! (docs/openai-inbound.md, "Chat Completions").

use serde_json::{json, Value};

use super::draft::{self, Draft, Settings, Turn};
use crate::error::ApiError;
use crate::protocol::chat_in::{ChatCompletionRequest, ChatInContent, ChatInPart, StringOrList};

/// OpenAI's limit on stop sequences.
const MAX_STOP: usize = 4;

/// The Anthropic request body for `req`, or the 400 that names what this
/// gateway cannot serve.
pub(crate) fn to_anthropic(req: &ChatCompletionRequest) -> Result<Value, ApiError> {
    if req.n.is_some_and(|n| n != 1) {
        return Err(ApiError::invalid_request(
            "n: only n=1 is supported (one answer per request)",
        ));
    }
    if req.messages.is_empty() {
        return Err(ApiError::invalid_request(
            "messages: at least one message is required",
        ));
    }
    let mut d = Draft::default();
    for (i, m) in req.messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        match m.role.as_str() {
            "system" | "developer" => d.system(&text_of(m.content.as_ref(), &at)?),
            "user" => user(&mut d, m.content.as_ref(), &at)?,
            "assistant" => {
                match &m.content {
                    Some(ChatInContent::Text(t)) => d.text(Turn::Assistant, t),
                    Some(ChatInContent::Parts(parts)) => {
                        for p in parts {
                            let t = p.text.as_deref().or(p.refusal.as_deref()).unwrap_or("");
                            d.text(Turn::Assistant, t);
                        }
                    }
                    None => {}
                }
                if let Some(r) = m.refusal.as_deref() {
                    d.text(Turn::Assistant, r);
                }
                for (j, c) in m.tool_calls.iter().flatten().enumerate() {
                    let f = c.function.as_ref().ok_or_else(|| {
                        ApiError::invalid_request(format!(
                            "{at}.tool_calls[{j}]: only function tool calls are supported"
                        ))
                    })?;
                    d.tool_use(&c.id, &f.name, f.arguments.as_deref().unwrap_or(""));
                }
            }
            "tool" => {
                let id = m.tool_call_id.as_deref().ok_or_else(|| {
                    ApiError::invalid_request(format!("{at}.tool_call_id: required"))
                })?;
                let content = text_of(m.content.as_ref(), &at)?;
                d.push(
                    Turn::User,
                    json!({"type": "tool_result", "tool_use_id": id, "content": content}),
                );
            }
            "function" => {
                return Err(ApiError::invalid_request(format!(
                    "{at}.role: the deprecated function role is not supported; use tool messages"
                )))
            }
            other => {
                return Err(ApiError::invalid_request(format!(
                    "{at}.role: unknown role {other:?}"
                )))
            }
        }
    }
    let mut tools = Vec::new();
    for (i, t) in req.tools.iter().flatten().enumerate() {
        match (t.kind.as_str(), &t.function) {
            ("function", Some(f)) => tools.push(draft::tool(
                &f.name,
                f.description.as_deref(),
                f.parameters.as_ref(),
            )),
            _ => {
                return Err(ApiError::invalid_request(format!(
                    "tools[{i}]: only function tools are supported"
                )))
            }
        }
    }
    let stop = match &req.stop {
        None => Vec::new(),
        Some(StringOrList::One(s)) => vec![s.clone()],
        Some(StringOrList::Many(v)) => v.clone(),
    };
    if stop.len() > MAX_STOP {
        return Err(ApiError::invalid_request(format!(
            "stop: at most {MAX_STOP} sequences"
        )));
    }
    let format_instruction = req.response_format.as_ref().and_then(|f| {
        let schema = f.json_schema.as_ref().and_then(|s| s.get("schema"));
        draft::format_instruction(&f.kind, schema)
    });
    d.finish(Settings {
        model: req.model.clone(),
        max_tokens: req.max_completion_tokens.or(req.max_tokens),
        effort: req.reasoning_effort.clone(),
        temperature: req.temperature,
        top_p: req.top_p,
        stop: stop.into_iter().filter(|s| !s.is_empty()).collect(),
        stream: req.is_stream(),
        tools,
        tool_choice: req
            .tool_choice
            .as_ref()
            .and_then(|c| draft::tool_choice(c, |c| c["function"]["name"].as_str())),
        parallel_tool_calls: req.parallel_tool_calls,
        user: req.safety_identifier.clone().or_else(|| req.user.clone()),
        format_instruction,
    })
}

/// A user message's content as blocks.
fn user(d: &mut Draft, content: Option<&ChatInContent>, at: &str) -> Result<(), ApiError> {
    match content {
        Some(ChatInContent::Text(t)) => d.text(Turn::User, t),
        Some(ChatInContent::Parts(parts)) => {
            for (j, p) in parts.iter().enumerate() {
                user_part(d, p, &format!("{at}.content[{j}]"))?;
            }
        }
        None => return Err(ApiError::invalid_request(format!("{at}.content: required"))),
    }
    Ok(())
}

fn user_part(d: &mut Draft, p: &ChatInPart, at: &str) -> Result<(), ApiError> {
    match p.kind.as_str() {
        "text" => d.text(Turn::User, p.text.as_deref().unwrap_or("")),
        "image_url" => {
            let url =
                p.image_url.as_ref().map(|u| u.url()).ok_or_else(|| {
                    ApiError::invalid_request(format!("{at}.image_url: required"))
                })?;
            d.push(Turn::User, draft::image(url, at)?);
        }
        "file" => {
            let f = p
                .file
                .as_ref()
                .ok_or_else(|| ApiError::invalid_request(format!("{at}.file: required")))?;
            d.push(
                Turn::User,
                draft::file(
                    f.file_data.as_deref(),
                    None,
                    f.file_id.as_deref(),
                    f.filename.as_deref(),
                    at,
                )?,
            );
        }
        "input_audio" => {
            return Err(ApiError::invalid_request(format!(
                "{at}: audio input is not supported"
            )))
        }
        other => {
            return Err(ApiError::invalid_request(format!(
                "{at}.type: unknown content part type {other:?}"
            )))
        }
    }
    Ok(())
}

/// The text of a system, developer or tool message (text parts joined by
/// newlines).
fn text_of(content: Option<&ChatInContent>, at: &str) -> Result<String, ApiError> {
    match content {
        None => Ok(String::new()),
        Some(ChatInContent::Text(t)) => Ok(t.clone()),
        Some(ChatInContent::Parts(parts)) => {
            if let Some(p) = parts.iter().find(|p| p.kind != "text") {
                return Err(ApiError::invalid_request(format!(
                    "{at}.content: only text parts are allowed here, not {:?}",
                    p.kind
                )));
            }
            Ok(draft::joined(
                parts.iter().filter_map(|p| p.text.as_deref()),
            ))
        }
    }
}
