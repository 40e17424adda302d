//! Process start-up: settings, logging, configuration, binding, the banner,
//! and shutdown on SIGINT/SIGTERM. Returns an exit code instead of panicking.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::cli::{Cli, Command};
use crate::config;
use crate::server::{self, AppState};
use crate::settings::{LogFormat, Settings};

/// Runs what the command line asks for: the server, or a `config` command.
pub fn run(cli: Cli) -> ExitCode {
    let mut settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(path) = &cli.config {
        settings.config_path = path.clone();
    }
    if let Some(port) = cli.port {
        settings.port = port;
    }
    match cli.command {
        Some(Command::Config(args)) => crate::commands::run_config(args, &settings.config_path),
        Some(Command::Health) => crate::health_check::run(&settings),
        None | Some(Command::Serve) => serve(settings),
    }
}

/// Logging goes through a background writer thread: a request never waits
/// for stderr (a slow terminal or pipe) on the async runtime. Lines are
/// never dropped; the guard flushes what is queued when the process ends.
/// The queue holds `LOG_QUEUE_LINES` lines (beyond that a logging thread
/// waits for the writer): the library's default of 128,000 preallocates
/// 4 MB, more than a quarter of an idle proxy's memory.
const LOG_QUEUE_LINES: usize = 8 * 1024;

fn init_tracing(settings: &Settings) -> tracing_appender::non_blocking::WorkerGuard {
    use tracing_subscriber::EnvFilter;
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .finish(std::io::stderr());
    // RUST_LOG, when set, refines LOG_LEVEL (e.g. to silence a dependency).
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{},hyper=warn,hyper_util=warn,rustls=warn",
            settings.log_level
        ))
    });
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    match settings.log_format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Pretty => builder.compact().init(),
    }
    guard
}

fn serve(mut settings: Settings) -> ExitCode {
    let _log_guard = init_tracing(&settings);
    let generated = match settings.ensure_access_key() {
        Ok(g) => g,
        Err(msg) => {
            eprintln!("error: {msg}");
            return ExitCode::from(2);
        }
    };
    let config = match config::load(&settings.config_path, settings.load_balance_strategy) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "error: cannot load {}: {e}\nFix the file (see `claude-proxy config check`) and start again.",
                settings.config_path.display()
            );
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async move {
        let addr = std::net::SocketAddr::new(settings.host, settings.port);
        let listener = match bind(addr) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: cannot listen on {addr}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let config_path: PathBuf = settings.config_path.clone();
        let state = match AppState::new(settings, config) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        print_banner(&listener, &state, &config_path, generated.as_deref());
        log_settings(&state.settings);
        let _watcher = server::watch_config_file(&state);
        reload_on_sighup(&state);
        let deadline = state.settings.shutdown_timeout;
        let store = state.store.clone();
        if let Err(e) = server::serve(listener, state, shutdown_signal(deadline)).await {
            eprintln!("error: server failed: {e}");
            return ExitCode::FAILURE;
        }
        // The last batch of the request store is on the disk before exit.
        let _ = tokio::task::spawn_blocking(move || store.flush(std::time::Duration::from_secs(3)))
            .await;
        tracing::info!("shut down");
        ExitCode::SUCCESS
    });
    // Connections still open after SHUTDOWN_TIMEOUT are cut here rather than
    // waited for.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

fn print_banner(
    listener: &TcpListener,
    state: &AppState,
    config_path: &std::path::Path,
    generated: Option<&str>,
) {
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    let live = state.live.load();
    println!(
        "claude-proxy {} listening on http://{addr}",
        env!("CARGO_PKG_VERSION")
    );
    match live.current() {
        Some(up) => println!(
            "  upstream: {} ({}, {} key(s)) of {} configured in {}",
            up.config.name,
            up.config.service_type,
            up.keys.len(),
            live.upstreams.len(),
            config_path.display()
        ),
        None => {
            println!(
                "  no upstream configured in {} yet. Add one with:",
                config_path.display()
            );
            println!("    claude-proxy config add my-openai openai https://api.openai.com/v1 --key sk-...");
        }
    }
    if let Some(key) = generated {
        println!("  PROXY_ACCESS_KEY was not set; generated for this run: {key}");
        println!("  (set PROXY_ACCESS_KEY in .env to keep a fixed key)");
    }
    println!(
        "  Claude Code: ANTHROPIC_BASE_URL=http://{addr} ANTHROPIC_AUTH_TOKEN=<access key> claude"
    );
    let admin = if state.settings.admin_access_key.is_some() {
        "ADMIN_ACCESS_KEY"
    } else {
        "the access key"
    };
    println!("  Console: http://{addr}/ui (log in with {admin})");
    if let Some(redis) = &state.settings.redis {
        println!(
            "  Fleet: shared state in {} (prefix {}), local state while it is unreachable",
            redis.shown(),
            redis.prefix
        );
    }
}

/// A listener with a deep accept queue: a burst of a thousand clients (a
/// team's agents starting at once) must not overflow the kernel's backlog.
fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// The effective settings, at debug level (`NODE_ENV=development` or
/// `LOG_LEVEL=debug`); secrets masked.
fn log_settings(s: &Settings) {
    let mask = |k: &Option<String>| k.as_deref().map(crate::config::mask_secret);
    tracing::debug!(
        host = %s.host,
        port = s.port,
        config_path = %s.config_path.display(),
        proxy_access_key = ?mask(&s.proxy_access_key),
        admin_access_key = ?mask(&s.admin_access_key),
        log_level = %s.log_level,
        request_timeout_ms = s.request_timeout.as_millis() as u64,
        first_byte_timeout_ms = s.first_byte_timeout.as_millis() as u64,
        stream_idle_timeout_ms = s.stream_idle_timeout.as_millis() as u64,
        max_concurrent_requests = s.max_concurrent_requests,
        enable_cors = s.enable_cors,
        enable_rate_limit = s.enable_rate_limit,
        health_check = s.health_check_enabled.then_some(s.health_check_path.as_str()),
        redis = ?s.redis,
        "settings"
    );
}

/// SIGHUP reloads config.json (systemd's `ExecReload`, `kill -HUP`), like
/// the file watcher and `POST /admin/config/reload` do.
fn reload_on_sighup(state: &Arc<AppState>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "SIGHUP reload is off: cannot listen for the signal");
                return;
            }
        };
        let state = state.clone();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                match state.reload() {
                    Ok(live) => tracing::info!(
                        upstreams = live.config.upstreams.len(),
                        "SIGHUP: configuration reloaded"
                    ),
                    Err(e) => tracing::error!(
                        error = %e,
                        "SIGHUP: config.json cannot be used; keeping the running configuration"
                    ),
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = state;
}

async fn shutdown_signal(deadline: std::time::Duration) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!(
        timeout_ms = deadline.as_millis() as u64,
        "shutdown signal received; refusing new connections, finishing running requests (SHUTDOWN_TIMEOUT)"
    );
}
