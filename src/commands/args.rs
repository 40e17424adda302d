//! The clap shape of `claude-proxy config …` (re-exported from
//! [`super`]): every subcommand, its arguments, their help and examples,
//! and the value parsers that check arguments before anything is read.

use clap::{ArgAction, ArgGroup, Args, Subcommand};

use super::clients;
use crate::config::{LoadBalance, Scenario, ServiceType};

const CONFIG_EXAMPLES: &str = "\
Upstreams are chosen by index (as shown by `config show`) or by name (case-insensitive).

Examples:
  claude-proxy config show
  claude-proxy config add openai openai https://api.openai.com/v1 --key sk-...
  claude-proxy config add local http://localhost:11434/v1 openaiold
  claude-proxy config use openai
  claude-proxy config key openai add sk-aaa sk-bbb
  claude-proxy config map 0 set sonnet gpt-4o
  claude-proxy config balance failover
  claude-proxy config router set background local,qwen2.5-coder:7b
  claude-proxy config test openai --deep
  claude-proxy config check
  claude-proxy --config /etc/claude-proxy/config.json config show";

/// `claude-proxy config …`: the subcommand to run (none: `show`).
#[derive(Debug, Args)]
#[command(after_help = CONFIG_EXAMPLES)]
pub struct ConfigArgs {
    /// What to do (default: show).
    #[command(subcommand)]
    pub command: Option<ConfigCommand>,
}

/// The `config` subcommands; each edits or reads `config.json`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Show the whole configuration, keys masked.
    #[command(
        after_help = "Examples:\n  claude-proxy config show\n  claude-proxy config show --json | jq '.upstream[].name'"
    )]
    Show {
        /// Print JSON (keys still masked) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Add an upstream (TYPE and URL may come in either order).
    #[command(after_help = "\
Types: openai (Chat Completions), openaiold (OpenAI-compatible servers that only know max_tokens), responses (OpenAI's Responses API), gemini, claude.

Examples:
  claude-proxy config add openai openai https://api.openai.com/v1 --key sk-...
  claude-proxy config add groq https://api.groq.com/openai/v1 openaiold --key gsk_a --key gsk_b
  claude-proxy config add gemini gemini https://generativelanguage.googleapis.com --max-tokens 65536")]
    Add(AddArgs),
    /// Remove an upstream.
    #[command(
        visible_alias = "rm",
        after_help = "Examples:\n  claude-proxy config remove 1\n  claude-proxy config remove groq"
    )]
    Remove {
        /// Index or name of the upstream.
        upstream: String,
    },
    /// Make an upstream the current one.
    #[command(
        after_help = "Examples:\n  claude-proxy config use 0\n  claude-proxy config use gemini"
    )]
    Use {
        /// Index or name of the upstream.
        upstream: String,
    },
    /// Set how keys of an upstream are taken turns with.
    #[command(after_help = "\
round-robin: each request uses the next key; random: a random key; failover: the first key until it fails.

Example:
  claude-proxy config balance failover")]
    Balance {
        /// round-robin, random or failover.
        #[arg(value_parser = parse_balance, value_name = "STRATEGY")]
        strategy: LoadBalance,
    },
    /// Change fields of an upstream.
    #[command(after_help = "\
Examples:
  claude-proxy config update 0 --url https://api.openai.com/v1 --type openai
  claude-proxy config update groq --name groq-fast --description \"cheap and fast\"
  claude-proxy config update local --insecureSkipVerify true --max-tokens 8192
  claude-proxy config update local --max-tokens 0   (removes the cap)
  claude-proxy config update deepseek --circuit-failures 3 --circuit-open-ms 10000
  claude-proxy config update deepseek --circuit-failures 0   (back to CIRCUIT_FAILURES)

A new name is also written wherever the router or a fallback list names the upstream.")]
    Update(UpdateArgs),
    /// Add, remove or list the API keys of an upstream.
    #[command(after_help = "\
Examples:
  claude-proxy config key 0 add sk-aaa sk-bbb
  pass show openai | claude-proxy config key openai add -   (keys from stdin, one per line)
  claude-proxy config key openai remove 1
  claude-proxy config key openai list")]
    Key {
        /// Index or name of the upstream.
        upstream: String,
        /// What to do with its keys.
        #[command(subcommand)]
        action: KeyAction,
    },
    /// Set, remove or list the model mapping of an upstream.
    #[command(after_help = "\
A requested model is matched exactly first, then by the family words opus, sonnet and haiku, then by \"*\".

Examples:
  claude-proxy config map 0 set sonnet gpt-4o
  claude-proxy config map 0 set '*' gpt-4o-mini
  claude-proxy config map openai remove sonnet
  claude-proxy config map openai list")]
    Map {
        /// Index or name of the upstream.
        upstream: String,
        /// What to do with its mapping.
        #[command(subcommand)]
        action: MapAction,
    },
    /// Route requests to other upstreams and models by scenario or rule.
    #[command(after_help = ROUTER_HELP)]
    Router {
        /// What to do (default: show).
        #[command(subcommand)]
        action: Option<RouterAction>,
    },
    /// Send a tiny real request through each key of an upstream; --deep also
    /// probes which Claude Code features work through it.
    #[command(after_help = "\
Each key gets one request with max_tokens 1 (exit 1 when any key fails). With --deep, the first key
that passed also sends: plain text, a stream, one tool call, parallel tool calls, an image and
extended thinking; each is reported as works, unsupported (refused, or answered without the
feature) or fails (with the upstream's error). Keys are shown masked; their state is not changed.

Examples:
  claude-proxy config test openai
  claude-proxy config test 0 --deep
  claude-proxy config test groq --model llama-3.3-70b-versatile")]
    Test {
        /// Index or name of the upstream.
        upstream: String,
        /// Also run the conformance probe.
        #[arg(long)]
        deep: bool,
        /// The model to ask for (mapped by the upstream's modelMapping; default claude-sonnet-4-5).
        #[arg(long)]
        model: Option<String>,
    },
    /// Check the file and list every problem with its location.
    #[command(
        after_help = "Exits 0 when the file is valid (or missing), 1 otherwise.\n\nExample:\n  claude-proxy config check"
    )]
    Check,
    /// Named client keys with their own models, upstreams, limits and
    /// budgets (keys are printed once, on standard output).
    #[command(after_help = "\
Examples:
  KEY=$(claude-proxy config client add alice --upstreams deepseek --monthly-cost 50)
  claude-proxy config client list
  claude-proxy config client update alice --rpm 60 --tpm 400000
  claude-proxy config client rotate alice
  claude-proxy config client disable alice")]
    Client {
        /// What to do with the client keys.
        #[command(subcommand)]
        action: clients::ClientAction,
    },
}

const ROUTER_HELP: &str = "\
A target is `upstream` (its modelMapping picks the model) or `upstream,model` (that model is sent as
given); several targets form a priority list, tried in order. Upstream names are case-insensitive.

A request takes the first route that applies: an explicit `upstream,model` model or
x-claude-proxy-upstream header, then the rules in order, then longContext, background, think,
webSearch, image, and default. A scenario without targets falls through to the next.

Examples:
  claude-proxy config router show
  claude-proxy config router set default deepseek
  claude-proxy config router set background local,qwen2.5-coder:7b
  claude-proxy config router set think deepseek,deepseek-reasoner anthropic
  claude-proxy config router set long-context gemini,gemini-2.5-pro
  claude-proxy config router threshold 100000
  claude-proxy config router unset image
  claude-proxy config router rule add --model 'claude-opus-*' --to anthropic
  claude-proxy config router rule add --header x-team=eu --to eu-openai deepseek
  claude-proxy config router rule list
  claude-proxy config router rule remove 0";

/// `config router …`: the scenarios, threshold and rules of the `router` object.
#[derive(Debug, Subcommand)]
pub enum RouterAction {
    /// Show each scenario's targets, the long-context threshold and the rules.
    Show,
    /// Send a scenario to a target, or to a priority list of targets.
    #[command(after_help = "\
Scenarios: default, background, think, longContext (long-context), webSearch (web-search), image.

Examples:
  claude-proxy config router set default deepseek
  claude-proxy config router set think deepseek,deepseek-reasoner anthropic")]
    Set {
        /// default, background, think, longContext, webSearch or image.
        #[arg(value_parser = parse_scenario)]
        scenario: Scenario,
        /// `upstream` or `upstream,model`; several are tried in the order given.
        #[arg(required = true, value_name = "TARGET")]
        targets: Vec<String>,
    },
    /// Remove a scenario's targets: its requests take the next route that applies.
    #[command(after_help = "Example:\n  claude-proxy config router unset background")]
    Unset {
        /// default, background, think, longContext, webSearch or image.
        #[arg(value_parser = parse_scenario)]
        scenario: Scenario,
    },
    /// Set the estimated input tokens above which a request is longContext.
    #[command(
        after_help = "Default: 60000.\n\nExample:\n  claude-proxy config router threshold 100000"
    )]
    Threshold {
        /// A positive number of tokens.
        #[arg(value_parser = clap::value_parser!(i64).range(1..), value_name = "TOKENS")]
        tokens: i64,
    },
    /// Add, remove or list the routing rules (tried in order, first match wins).
    #[command(after_help = "\
Examples:
  claude-proxy config router rule add --model 'claude-opus-*' --to anthropic
  claude-proxy config router rule add --header x-team=eu --header x-tier=gold --to eu-openai deepseek
  claude-proxy config router rule add --model '*haiku*' --to local,qwen2.5-coder:7b --at 0
  claude-proxy config router rule list
  claude-proxy config router rule remove 1")]
    Rule {
        /// What to do with the rules.
        #[command(subcommand)]
        action: RuleAction,
    },
}

/// `config router rule …`.
#[derive(Debug, Subcommand)]
pub enum RuleAction {
    /// Add a rule matching the requested model (glob) and/or exact header values.
    Add(RuleAddArgs),
    /// Remove the rule at an index (as shown by `rule list`).
    #[command(visible_alias = "rm")]
    Remove {
        /// Index of the rule, from 0.
        index: usize,
    },
    /// List the rules in the order they are tried.
    #[command(visible_alias = "ls")]
    List,
}

/// `config router rule add`: what to match and where matching requests go.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("condition").required(true).multiple(true).args(["model", "headers"])))]
pub struct RuleAddArgs {
    /// Glob on the requested model: `*`, `?`, `[a-z]`, `[!a-z]`; ASCII case is ignored.
    #[arg(long, value_name = "GLOB")]
    pub model: Option<String>,
    /// A request header and its exact value (repeat: all must match).
    #[arg(long = "header", value_name = "NAME=VALUE", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
    /// Where matching requests go: `upstream` or `upstream,model`, several in priority order.
    #[arg(long, required = true, num_args = 1.., value_name = "TARGET")]
    pub to: Vec<String>,
    /// Insert the rule at this index instead of last.
    #[arg(long, value_name = "INDEX")]
    pub at: Option<usize>,
}

/// `config add`: a new upstream.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Name of the new upstream (unique, case-insensitive).
    pub name: String,
    /// Service type (openai, openaiold, responses, gemini, claude) or base URL.
    #[arg(value_name = "TYPE|URL")]
    pub first: String,
    /// Base URL or service type, whichever FIRST was not.
    #[arg(value_name = "URL|TYPE")]
    pub second: String,
    /// An API key (repeat for several).
    #[arg(
        long = "key",
        short = 'k',
        value_name = "KEY",
        allow_hyphen_values = true
    )]
    pub keys: Vec<String>,
    /// Free-form note shown by `config show`.
    #[arg(long)]
    pub description: Option<String>,
    /// Accept invalid TLS certificates from this upstream.
    #[arg(long, alias = "insecureSkipVerify")]
    pub insecure_skip_verify: bool,
    /// Cap on max_tokens sent to this upstream.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_tokens: Option<u64>,
}

/// `config update`: the fields of an upstream to change.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Index or name of the upstream.
    pub upstream: String,
    /// New name.
    #[arg(long)]
    pub name: Option<String>,
    /// New base URL.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// New service type (openai, openaiold, responses, gemini, claude).
    #[arg(long = "type", value_name = "TYPE", value_parser = parse_service_type)]
    pub service_type: Option<ServiceType>,
    /// New description ("" removes it).
    #[arg(long)]
    pub description: Option<String>,
    /// Accept invalid TLS certificates (true or false).
    #[arg(long, alias = "insecureSkipVerify", value_name = "BOOL", action = ArgAction::Set)]
    pub insecure_skip_verify: Option<bool>,
    /// Cap on max_tokens sent upstream (0 removes the cap).
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u64>,
    /// Consecutive failed attempts that open this upstream's circuit (0: use CIRCUIT_FAILURES).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=u64::from(u32::MAX)))]
    pub circuit_failures: Option<u64>,
    /// Ms an open circuit waits before a probe request (0: use CIRCUIT_OPEN_MS).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=i64::MAX as u64))]
    pub circuit_open_ms: Option<u64>,
    /// Longest open time after failed probes, ms (0: use CIRCUIT_MAX_OPEN_MS).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=i64::MAX as u64))]
    pub circuit_max_open_ms: Option<u64>,
}

/// `config key <upstream> …`.
#[derive(Debug, Subcommand)]
pub enum KeyAction {
    /// Add keys ("-" reads them from stdin, one per line); duplicates are skipped.
    Add {
        /// The keys to add ("-" reads them from stdin, one per line).
        #[arg(required = true, value_name = "KEY", allow_hyphen_values = true)]
        keys: Vec<String>,
    },
    /// Remove a key, given as the key itself or its index in `key list`.
    #[command(visible_alias = "rm")]
    Remove {
        /// The key itself, or its index in `key list`.
        #[arg(value_name = "KEY|INDEX", allow_hyphen_values = true)]
        key: String,
    },
    /// List the keys (masked).
    #[command(visible_alias = "ls")]
    List,
}

/// `config map <upstream> …`.
#[derive(Debug, Subcommand)]
pub enum MapAction {
    /// Map a requested model (or opus/sonnet/haiku, or "*") to an upstream model.
    Set {
        /// The requested model (or opus/sonnet/haiku, or "*").
        from: String,
        /// The upstream model it becomes.
        to: String,
    },
    /// Remove a mapping.
    #[command(visible_alias = "rm")]
    Remove {
        /// The requested model whose mapping goes.
        from: String,
    },
    /// List the mappings in the order they are written.
    #[command(visible_alias = "ls")]
    List,
}

fn parse_balance(s: &str) -> Result<LoadBalance, String> {
    LoadBalance::parse(s)
        .ok_or_else(|| format!("unknown strategy {s:?} (expected round-robin, random or failover)"))
}

fn parse_service_type(s: &str) -> Result<ServiceType, String> {
    ServiceType::parse(s).ok_or_else(|| unknown_type(s))
}

fn parse_scenario(s: &str) -> Result<Scenario, String> {
    Scenario::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.as_str()).collect();
        format!(
            "unknown scenario {s:?} (expected one of: {})",
            names.join(", ")
        )
    })
}

/// `NAME=VALUE`; the name is checked again with the value when the rule is
/// added.
fn parse_header(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("expected NAME=VALUE, got {s:?}")),
    }
}

/// The error for a service type no upstream can have, listing the known ones.
pub(crate) fn unknown_type(s: &str) -> String {
    let known: Vec<&str> = ServiceType::ALL.iter().map(|t| t.as_str()).collect();
    format!(
        "unknown service type {s:?} (expected one of: {})",
        known.join(", ")
    )
}
