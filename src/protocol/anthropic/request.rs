//! Request bodies: `POST /v1/messages` and `/v1/messages/count_tokens`,
//! their messages, settings and tools.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Content, JsonText};

/// `POST /v1/messages` body. `model`, `max_tokens` and `messages` are required,
/// like on Anthropic's API.
#[derive(Debug, Deserialize)]
pub struct MessagesRequest {
    /// The model the client asked for.
    pub model: String,
    /// Output limit.
    pub max_tokens: u64,
    /// The conversation.
    pub messages: Vec<Message>,
    /// System prompt: a string or text blocks.
    #[serde(default)]
    pub system: Option<Content>,
    /// Strings that end the answer when generated.
    #[serde(default)]
    pub stop_sequences: Option<Vec<String>>,
    /// Answer as an event stream.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Sampling temperature.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Top-k sampling.
    #[serde(default)]
    pub top_k: Option<u64>,
    /// Request metadata.
    #[serde(default)]
    pub metadata: Option<Metadata>,
    /// Tools the model may call.
    #[serde(default)]
    pub tools: Option<Vec<Tool>>,
    /// Whether and which tool the model must call.
    #[serde(default)]
    pub tool_choice: Option<ToolChoice>,
    /// Extended thinking.
    #[serde(default)]
    pub thinking: Option<Thinking>,
    /// Output settings (`effort`).
    #[serde(default)]
    pub output_config: Option<OutputConfig>,
}

impl MessagesRequest {
    /// True when the client asked for a stream.
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }
}

/// `POST /v1/messages/count_tokens` body: the create body minus `max_tokens`.
#[derive(Debug, Deserialize)]
pub struct CountTokensRequest {
    /// The model the count is for.
    pub model: String,
    /// The conversation.
    pub messages: Vec<Message>,
    /// System prompt.
    #[serde(default)]
    pub system: Option<Content>,
    /// Tools.
    #[serde(default)]
    pub tools: Option<Vec<Tool>>,
}

/// Who a message is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The user (tool results included).
    User,
    /// The model.
    Assistant,
    /// Claude Code sends `role: "system"` turns inside `messages`.
    System,
}

/// One turn of the conversation.
#[derive(Debug, Deserialize)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: Content,
}

/// `metadata`.
#[derive(Debug, Default, Deserialize)]
pub struct Metadata {
    /// An opaque id of the end user.
    #[serde(default)]
    pub user_id: Option<String>,
}

/// `output_config`.
#[derive(Debug, Deserialize)]
pub struct OutputConfig {
    /// `low`, `medium`, `high`, `xhigh` or `max`.
    #[serde(default)]
    pub effort: Option<String>,
}

/// `thinking`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Thinking {
    /// Think, within a budget.
    Enabled {
        /// Thinking tokens allowed.
        #[serde(default)]
        budget_tokens: Option<u64>,
    },
    /// Let the model decide how much to think.
    Adaptive,
    /// No thinking.
    Disabled,
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides.
    Auto {
        /// At most one tool call per answer.
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    /// The model must call some tool.
    Any {
        /// At most one tool call per answer.
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    /// The model must call this tool.
    Tool {
        /// The tool's name.
        name: String,
        /// At most one tool call per answer.
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    /// The model must not call tools.
    None,
}

impl ToolChoice {
    /// True when the client allows at most one tool call per answer.
    pub(crate) fn disable_parallel(&self) -> bool {
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
    /// `custom`, a dated server-tool type, or `function`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Tool name (Anthropic form).
    #[serde(default)]
    pub name: Option<String>,
    /// What the tool does, kept raw.
    #[serde(default)]
    pub description: Option<JsonText>,
    /// JSON Schema of the input, kept raw.
    #[serde(default)]
    pub input_schema: Option<Box<RawValue>>,
    /// The tool in OpenAI form.
    #[serde(default)]
    pub function: Option<FunctionTool>,
}

/// `function` of an OpenAI-form tool.
#[derive(Debug, Deserialize)]
pub struct FunctionTool {
    /// Tool name.
    pub name: String,
    /// What the tool does, kept raw.
    #[serde(default)]
    pub description: Option<JsonText>,
    /// JSON Schema of the input, kept raw.
    #[serde(default)]
    pub parameters: Option<Box<RawValue>>,
}

/// A client tool reduced to what every upstream needs.
#[derive(Debug, Clone, Copy)]
pub struct ToolSpec<'a> {
    /// Tool name.
    pub name: &'a str,
    /// What the tool does.
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
