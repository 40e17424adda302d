//! Request bodies: `POST /v1/messages` and `/v1/messages/count_tokens`,
//! their messages, settings and tools.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Content, JsonText};

/// `POST /v1/messages` body. `model`, `max_tokens` and `messages` are required,
/// like on Anthropic's API.
#[derive(Debug, Deserialize)]
pub struct MessagesRequest {
    pub model: String,
    pub max_tokens: u64,
    pub messages: Vec<Message>,
    #[serde(default)]
    pub system: Option<Content>,
    #[serde(default)]
    pub stop_sequences: Option<Vec<String>>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub top_k: Option<u64>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
    #[serde(default)]
    pub tools: Option<Vec<Tool>>,
    #[serde(default)]
    pub tool_choice: Option<ToolChoice>,
    #[serde(default)]
    pub thinking: Option<Thinking>,
    #[serde(default)]
    pub output_config: Option<OutputConfig>,
}

impl MessagesRequest {
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }
}

/// `POST /v1/messages/count_tokens` body: the create body minus `max_tokens`.
#[derive(Debug, Deserialize)]
pub struct CountTokensRequest {
    pub model: String,
    pub messages: Vec<Message>,
    #[serde(default)]
    pub system: Option<Content>,
    #[serde(default)]
    pub tools: Option<Vec<Tool>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
    /// Claude Code sends `role: "system"` turns inside `messages`.
    System,
}

#[derive(Debug, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Content,
}

#[derive(Debug, Default, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub user_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct OutputConfig {
    #[serde(default)]
    pub effort: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Thinking {
    Enabled {
        #[serde(default)]
        budget_tokens: Option<u64>,
    },
    Adaptive,
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolChoice {
    Auto {
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    Any {
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    Tool {
        name: String,
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    None,
}

impl ToolChoice {
    pub fn disable_parallel(&self) -> bool {
        match self {
            ToolChoice::Auto {
                disable_parallel_tool_use,
            }
            | ToolChoice::Any {
                disable_parallel_tool_use,
            }
            | ToolChoice::Tool {
                disable_parallel_tool_use,
                ..
            } => disable_parallel_tool_use.unwrap_or(false),
            ToolChoice::None => false,
        }
    }
}

/// A tool as a client sends it: Anthropic form (`name`, `description`,
/// `input_schema`), an Anthropic server tool (dated `type`, no schema), or the
/// OpenAI form `{"type":"function","function":{…}}` that the seed documents.
#[derive(Debug, Deserialize)]
pub struct Tool {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<JsonText>,
    #[serde(default)]
    pub input_schema: Option<Box<RawValue>>,
    #[serde(default)]
    pub function: Option<FunctionTool>,
}

#[derive(Debug, Deserialize)]
pub struct FunctionTool {
    pub name: String,
    #[serde(default)]
    pub description: Option<JsonText>,
    #[serde(default)]
    pub parameters: Option<Box<RawValue>>,
}

/// A client tool reduced to what every upstream needs.
#[derive(Debug, Clone, Copy)]
pub struct ToolSpec<'a> {
    pub name: &'a str,
    pub description: Option<&'a JsonText>,
    /// JSON Schema of the input; `None` means "no parameters".
    pub schema: Option<&'a RawValue>,
}

impl Tool {
    /// The client-tool view of this tool, or `None` for Anthropic server tools
    /// (web search, code execution, …) that no other provider can run.
    pub fn spec(&self) -> Option<ToolSpec<'_>> {
        if let Some(f) = &self.function {
            return Some(ToolSpec {
                name: &f.name,
                description: f.description.as_ref(),
                schema: f.parameters.as_deref(),
            });
        }
        let name = self.name.as_deref()?;
        match (&self.input_schema, self.kind.as_deref()) {
            (Some(schema), _) => Some(ToolSpec {
                name,
                description: self.description.as_ref(),
                schema: Some(schema),
            }),
            (None, None | Some("custom")) => Some(ToolSpec {
                name,
                description: self.description.as_ref(),
                schema: None,
            }),
            // Dated server tool without a schema.
            (None, Some(_)) => None,
        }
    }
}
