//! The `claude-proxy config …` subcommands: clap types here, the pure edits
//! of a [`RawConfig`] in `upstreams`, `keys`, `mapping`, `router` and
//! [`clients`], the read-only views in `show` and `check`, and the real
//! requests of `config test` in `test`. Only `run_config` does I/O: it reads
//! or locks-and-rewrites the file through [`crate::config::store`] and
//! prints. The admin API (`server::admin`) makes its changes through the
//! same edit functions and the same writer.
//!
//! No key is ever printed unmasked, not even in error messages.

mod args;
pub(crate) mod check;
pub mod clients;
pub(crate) mod keys;
pub(crate) mod mapping;
pub(crate) mod router;
mod select;
pub(crate) mod show;
pub(crate) mod test;
pub(crate) mod upstreams;

use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;

use crate::config::{store, ConfigError, LoadBalance, RawConfig};
pub use args::{
    AddArgs, ConfigArgs, ConfigCommand, KeyAction, MapAction, RouterAction, RuleAction,
    RuleAddArgs, UpdateArgs,
};

/// Runs one `config` subcommand against the file at `path`: output on stdout,
/// errors on stderr, exit code 1 on failure.
pub(crate) fn run_config(args: ConfigArgs, path: &Path) -> ExitCode {
    if let Some(ConfigCommand::Test {
        upstream,
        deep,
        model,
    }) = &args.command
    {
        return run_test(
            path,
            upstream,
            test::TestOptions {
                deep: *deep,
                model: model.clone(),
            },
        );
    }
    if let Some(ConfigCommand::Client { action }) = args.command {
        return run_client(action, path);
    }
    match execute(
        args.command.unwrap_or(ConfigCommand::Show { json: false }),
        path,
    ) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {}", message.trim_end());
            ExitCode::FAILURE
        }
    }
}

fn execute(command: ConfigCommand, path: &Path) -> Result<String, String> {
    match command {
        ConfigCommand::Show { json } => {
            let raw = read(path)?;
            if let Err(e) = raw.validate(LoadBalance::default()) {
                eprintln!(
                    "warning: {}: {e}\n(run `claude-proxy config check`)",
                    path.display()
                );
            }
            if json {
                show::json(&raw)
            } else {
                Ok(show::table(&raw, path))
            }
        }
        ConfigCommand::Check => check::run(path),
        // Handled by `run_config` (it has its own exit code).
        ConfigCommand::Test { upstream, .. } => Err(format!("cannot test {upstream:?} here")),
        ConfigCommand::Client { .. } => Err("client commands have their own runner".to_owned()),
        ConfigCommand::Add(a) => write(path, |raw| upstreams::add(raw, &a)),
        ConfigCommand::Remove { upstream } => write(path, |raw| upstreams::remove(raw, &upstream)),
        ConfigCommand::Use { upstream } => write(path, |raw| upstreams::select(raw, &upstream)),
        ConfigCommand::Balance { strategy } => {
            write(path, |raw| Ok(upstreams::balance(raw, strategy)))
        }
        ConfigCommand::Update(u) => write(path, |raw| upstreams::update(raw, &u)),
        ConfigCommand::Key { upstream, action } => match action {
            KeyAction::Add { keys } => {
                let keys = expand_stdin(keys)?;
                write(path, |raw| keys::add(raw, &upstream, &keys))
            }
            KeyAction::Remove { key } => write(path, |raw| keys::remove(raw, &upstream, &key)),
            KeyAction::List => keys::list(&read(path)?, &upstream),
        },
        ConfigCommand::Map { upstream, action } => match action {
            MapAction::Set { from, to } => {
                write(path, |raw| mapping::set(raw, &upstream, &from, &to))
            }
            MapAction::Remove { from } => write(path, |raw| mapping::remove(raw, &upstream, &from)),
            MapAction::List => mapping::list(&read(path)?, &upstream),
        },
        ConfigCommand::Router { action } => match action.unwrap_or(RouterAction::Show) {
            RouterAction::Show => Ok(router::show(&read(path)?)),
            RouterAction::Set { scenario, targets } => {
                write(path, |raw| router::set(raw, scenario, &targets))
            }
            RouterAction::Unset { scenario } => write(path, |raw| router::unset(raw, scenario)),
            RouterAction::Threshold { tokens } => {
                write(path, |raw| Ok(router::threshold(raw, tokens)))
            }
            RouterAction::Rule { action } => match action {
                RuleAction::Add(a) => write(path, |raw| {
                    router::rule_add(raw, a.model.as_deref(), &a.headers, &a.to, a.at)
                }),
                RuleAction::Remove { index } => write(path, |raw| router::rule_remove(raw, index)),
                RuleAction::List => Ok(router::rule_list(&read(path)?)),
            },
        },
    }
}

/// What a `config client` command says: a new key goes alone to stdout
/// (so `$(…)` captures it) with its message on stderr; a listing is the
/// command's output (stdout); a confirmation is a message (stderr).
enum ClientOutput {
    Key { key: String, message: String },
    Listing(String),
    Message(String),
}

fn run_client(action: clients::ClientAction, path: &Path) -> ExitCode {
    use clients::ClientAction as A;
    use ClientOutput as O;
    let created = crate::time::rfc3339(crate::time::now_ms());
    let message = |r: Result<String, String>| r.map(O::Message);
    let outcome = match action {
        A::List => read(path).map(|raw| O::Listing(clients::list(&raw))),
        A::Add { name, limits } => write_with(path, |raw| {
            let key = clients::add(raw, &name, &limits, &created)?;
            let message = format!(
                "client {:?} added; its key is on standard output and is shown only now\n",
                name.trim()
            );
            Ok(O::Key { key, message })
        }),
        A::Rotate { name } => write_with(path, |raw| {
            let key = clients::rotate(raw, &name)?;
            let message = format!(
                "client {:?} has a new key, on standard output and shown only now; the old key no longer works\n",
                name.trim()
            );
            Ok(O::Key { key, message })
        }),
        A::Update { name, limits } => {
            write_with(path, |raw| message(clients::update(raw, &name, &limits)))
        }
        A::Disable { name } => {
            write_with(path, |raw| message(clients::set_disabled(raw, &name, true)))
        }
        A::Enable { name } => write_with(path, |raw| {
            message(clients::set_disabled(raw, &name, false))
        }),
        A::Remove { name } => write_with(path, |raw| message(clients::remove(raw, &name))),
    };
    match outcome {
        Ok(O::Key { key, message }) => {
            eprint!("{message}");
            println!("{key}");
            ExitCode::SUCCESS
        }
        Ok(O::Listing(text)) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Ok(O::Message(text)) => {
            eprint!("{text}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {}", message.trim_end());
            ExitCode::FAILURE
        }
    }
}

/// `config test`: the report on stdout; exit 1 when a key failed or the
/// upstream cannot be tested at all.
fn run_test(path: &Path, sel: &str, options: test::TestOptions) -> ExitCode {
    match test_report(path, sel, &options) {
        Ok(report) => {
            print!("{}", report.text());
            if report.all_keys_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(message) => {
            eprintln!("error: {}", message.trim_end());
            ExitCode::FAILURE
        }
    }
}

fn test_report(
    path: &Path,
    sel: &str,
    options: &test::TestOptions,
) -> Result<test::Report, String> {
    let settings = crate::settings::Settings::from_env().map_err(|e| e.to_string())?;
    let raw = read(path)?;
    let i = upstreams::find(&raw, sel)?;
    let config = raw
        .validate(settings.load_balance_strategy)
        .map_err(|e| describe(&e, path))?;
    let live = crate::routing::LiveState::build(config, None);
    let up = live
        .upstreams
        .get(i)
        .ok_or_else(|| format!("no upstream #{i}"))?;
    let clients = crate::providers::http::HttpClients::new(
        std::time::Duration::from_secs(10).min(settings.first_byte_timeout),
        &settings.upstream_proxy,
    )
    .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let net = crate::routing::failover::Net {
        clients: &clients,
        settings: &settings,
    };
    Ok(runtime.block_on(test::run(net, up, options)))
}

fn read(path: &Path) -> Result<RawConfig, String> {
    store::load_raw(path).map_err(|e| describe(&e, path))
}

fn write(
    path: &Path,
    edit: impl FnOnce(&mut RawConfig) -> Result<String, String>,
) -> Result<String, String> {
    write_with(path, edit)
}

/// [`write`] for edits that return more than a message.
fn write_with<T>(
    path: &Path,
    edit: impl FnOnce(&mut RawConfig) -> Result<T, String>,
) -> Result<T, String> {
    store::update(path, edit).map_err(|e| match e {
        ConfigError::Syntax { .. } | ConfigError::Invalid(_) => format!(
            "{}\n{} was not changed; fix it by hand (`claude-proxy config check` lists every problem)",
            describe(&e, path),
            path.display()
        ),
        other => describe(&other, path),
    })
}

fn describe(e: &ConfigError, path: &Path) -> String {
    match e {
        ConfigError::Invalid(_) => format!("{}: {e}", path.display()),
        _ => e.to_string(),
    }
}

/// `-` among the keys means "read keys from stdin", which keeps them out of
/// the shell history and the process list.
fn expand_stdin(keys: Vec<String>) -> Result<Vec<String>, String> {
    if !keys.iter().any(|k| k == "-") {
        return Ok(keys);
    }
    let mut out = Vec::new();
    for key in keys {
        if key != "-" {
            out.push(key);
            continue;
        }
        for line in std::io::stdin().lock().lines() {
            let line = line.map_err(|e| format!("cannot read keys from stdin: {e}"))?;
            out.push(line);
        }
    }
    Ok(out)
}
