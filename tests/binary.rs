//! The release-style binary started the way a user starts it: in a directory
//! with (or without) `.env` and `config.json`. Checks start-up, settings and
//! their effects, and refusal of bad input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::process::{block_on, Output, Proxy, ProxyCommand};

/// Starts the proxy in `dir` and waits (bounded) for its banner.
fn start(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Proxy {
    ProxyCommand::new(dir).envs(env).args(args).start()
}

/// Runs the binary to completion (it must exit by itself).
fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    ProxyCommand::new(dir)
        .envs(env)
        .args(args)
        .run(Duration::from_secs(20))
}

fn get(url: &str, key: Option<&str>) -> (u16, String) {
    block_on(async {
        let mut req = reqwest::Client::new().get(url);
        if let Some(k) = key {
            req = req.header("x-api-key", k);
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    })
}

fn post_messages(addr: &str, key: &str) -> (u16, String) {
    block_on(async {
        let resp = reqwest::Client::new()
            .post(format!("http://{addr}/v1/messages"))
            .header("x-api-key", key)
            // No content-type: the body is read as JSON anyway.
            .body(r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    })
}

#[test]
fn starts_with_nothing_configured_and_prints_a_generated_key() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path(), &[("PORT", "0")], &[]);
    assert!(p.addr.starts_with("127.0.0.1:"), "{}", p.addr);
    let banner = p.stdout();
    assert!(
        banner.contains("config add"),
        "explains how to add an upstream: {banner}"
    );
    let key = banner
        .split_whitespace()
        .find(|w| w.starts_with("cp-"))
        .expect("generated key printed")
        .to_owned();
    assert_eq!(banner.matches(&key).count(), 1, "printed once");
    let (status, body) = post_messages(&p.addr, &key);
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("\"type\":\"error\"") && body.contains("config add"),
        "{body}"
    );
    let (status, _) = post_messages(&p.addr, "wrong");
    assert_eq!(status, 401);
    let (status, body) = get(&format!("http://{}/health", p.addr), None);
    assert_eq!(status, 200);
    assert!(body.contains("\"upstreamCount\":0"), "{body}");
}

#[test]
fn dotenv_is_read_and_the_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "PORT=0\nPROXY_ACCESS_KEY=from-dotenv-key\nHEALTH_CHECK_PATH=/healthz\n",
    )
    .unwrap();
    let p = start(dir.path(), &[], &[]);
    assert!(
        !p.stdout().contains("from-dotenv-key"),
        "a configured key is never printed"
    );
    assert_eq!(post_messages(&p.addr, "from-dotenv-key").0, 503);
    assert_eq!(get(&format!("http://{}/healthz", p.addr), None).0, 200);
    drop(p);
    let p = start(dir.path(), &[("PROXY_ACCESS_KEY", "from-env-key")], &[]);
    assert_eq!(post_messages(&p.addr, "from-env-key").0, 503);
    assert_eq!(post_messages(&p.addr, "from-dotenv-key").0, 401);
}

#[test]
fn invalid_settings_stop_startup_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value) in [
        ("PORT", "abc"),
        ("LOAD_BALANCE_STRATEGY", "fastest"),
        ("LOG_LEVEL", "loud"),
        ("REQUEST_TIMEOUT", "soon"),
        ("ENABLE_CORS", "perhaps"),
        ("MAX_CONCURRENT_REQUESTS", "-1"),
    ] {
        let Output { code, stderr, .. } = run(dir.path(), &[(var, value)], &[]);
        assert_ne!(code, 0, "{var}={value} must stop start-up");
        assert!(stderr.contains(var), "{var}: {stderr}");
    }
}

#[test]
fn non_loopback_host_without_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let Output { code, stderr, .. } = run(dir.path(), &[("HOST", "0.0.0.0"), ("PORT", "0")], &[]);
    assert_ne!(code, 0);
    assert!(stderr.contains("PROXY_ACCESS_KEY"), "{stderr}");
}

#[test]
fn broken_config_stops_startup_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let text = "{\n  \"upstream\": [\n    {\"name\": \"a\",}\n  ]\n}\n";
    std::fs::write(dir.path().join("config.json"), text).unwrap();
    let Output { code, stderr, .. } =
        run(dir.path(), &[("PORT", "0"), ("PROXY_ACCESS_KEY", "k")], &[]);
    assert_ne!(code, 0);
    assert!(stderr.contains("config.json:3:"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("config.json")).unwrap(),
        text
    );
}

#[test]
fn config_path_and_flag_choose_the_file_and_strategy_default_applies() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = r#"{"upstream":[{"name":"one","baseUrl":"http://127.0.0.1:9","apiKeys":["k1"],"serviceType":"openai"}]}"#;
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    std::fs::write(dir.path().join("conf/proxy.json"), cfg).unwrap();
    let env = [
        ("PORT", "0"),
        ("PROXY_ACCESS_KEY", "k"),
        ("CONFIG_PATH", "conf/proxy.json"),
        ("LOAD_BALANCE_STRATEGY", "failover"),
    ];
    let p = start(dir.path(), &env, &[]);
    let (_, body) = get(&format!("http://{}/health", p.addr), None);
    assert!(body.contains("\"upstreamCount\":1"), "{body}");
    assert!(body.contains("\"loadBalance\":\"failover\""), "{body}");
    drop(p);
    // --config wins over CONFIG_PATH.
    let p = start(dir.path(), &env, &["--config", "missing.json"]);
    let (_, body) = get(&format!("http://{}/health", p.addr), None);
    assert!(body.contains("\"upstreamCount\":0"), "{body}");
}

#[test]
fn help_lists_the_settings() {
    let dir = tempfile::tempdir().unwrap();
    let Output { code, stdout, .. } = run(dir.path(), &[], &["--help"]);
    assert_eq!(code, 0);
    for var in [
        "PORT",
        "HOST",
        "NODE_ENV",
        "PROXY_ACCESS_KEY",
        "LOAD_BALANCE_STRATEGY",
        "LOG_LEVEL",
        "ENABLE_REQUEST_LOGS",
        "ENABLE_RESPONSE_LOGS",
        "REQUEST_TIMEOUT",
        "MAX_CONCURRENT_REQUESTS",
        "ENABLE_CORS",
        "CORS_ORIGIN",
        "ENABLE_RATE_LIMIT",
        "RATE_LIMIT_WINDOW",
        "RATE_LIMIT_MAX_REQUESTS",
        "HEALTH_CHECK_ENABLED",
        "HEALTH_CHECK_PATH",
        "CONFIG_PATH",
    ] {
        assert!(stdout.contains(var), "--help lists {var}");
    }
    assert!(stdout.contains("config"), "--help lists the config command");
}

#[test]
fn development_mode_serves_dev_info_behind_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("PORT", "0"),
        ("PROXY_ACCESS_KEY", "dev-key-123456789"),
        ("NODE_ENV", "development"),
    ];
    let p = start(dir.path(), &env, &[]);
    let url = format!("http://{}/admin/dev/info", p.addr);
    assert_eq!(get(&url, None).0, 401);
    let (status, body) = get(&url, Some("dev-key-123456789"));
    assert_eq!(status, 200);
    assert!(!body.contains("dev-key-123456789"), "masked: {body}");
    drop(p);
    let p = start(dir.path(), &[("PORT", "0"), ("PROXY_ACCESS_KEY", "k")], &[]);
    assert_eq!(
        get(&format!("http://{}/admin/dev/info", p.addr), Some("k")).0,
        404
    );
}

#[cfg(unix)]
#[test]
fn sigterm_shuts_down_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = start(dir.path(), &[("PORT", "0"), ("PROXY_ACCESS_KEY", "k")], &[]);
    p.sigterm();
    let status = p.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
}

/// Runs the proxy with `env`, makes one failing request, stops it with
/// SIGTERM and returns everything it logged.
#[cfg(unix)]
fn logs_of(env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut full_env = vec![("PORT", "0"), ("PROXY_ACCESS_KEY", "log-test-key-123456")];
    full_env.extend_from_slice(env);
    let mut p = start(dir.path(), &full_env, &[]);
    assert_eq!(post_messages(&p.addr, "log-test-key-123456").0, 503);
    p.sigterm();
    p.wait_exit(Duration::from_secs(10));
    p.stderr()
}

#[cfg(unix)]
#[test]
fn log_level_and_node_env_change_what_is_logged() {
    let info = logs_of(&[("LOG_LEVEL", "info")]);
    assert!(
        info.contains("shutdown signal received"),
        "info lines at info: {info}"
    );
    assert!(!info.contains("settings"), "no debug lines at info: {info}");

    let error = logs_of(&[("LOG_LEVEL", "error")]);
    assert!(
        !error.contains("shutdown signal received"),
        "no info lines at error: {error}"
    );
    assert!(!error.contains("WARN"), "no warnings at error: {error}");

    let dev = logs_of(&[("NODE_ENV", "development")]);
    assert!(dev.contains("settings"), "development logs at debug: {dev}");
    assert!(
        !dev.contains("log-test-key-123456"),
        "keys stay masked: {dev}"
    );

    let json = logs_of(&[("LOG_FORMAT", "json")]);
    let line = json
        .lines()
        .find(|l| l.contains("\"message\":\"request\""))
        .expect("a JSON request line");
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["status"], 503);
}

/// `claude-proxy health` finds the server the way the server finds its
/// port (here `.env`, and `--port` overriding it) and exits 0 only when the
/// health route answers healthy; `--version` names the commit.
#[test]
fn health_subcommand_checks_the_running_server_and_version_names_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = start(
        dir.path(),
        &[("PROXY_ACCESS_KEY", "k-health"), ("PORT", "0")],
        &[],
    );
    let port = proxy.addr.rsplit(':').next().unwrap().to_owned();
    std::fs::write(dir.path().join(".env"), format!("PORT={port}\n")).unwrap();
    let ok = run(dir.path(), &[], &["health"]).success("health against the running server");
    assert!(
        ok.stdout.starts_with("healthy: http://127.0.0.1:"),
        "{}",
        ok.stdout
    );
    // --port wins over .env: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port().to_string();
    drop(closed);
    let bad = run(dir.path(), &[], &["health", "--port", &closed_port]);
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    assert!(bad.stderr.contains("unhealthy"), "{}", bad.stderr);
    drop(proxy);
    let gone = run(dir.path(), &[], &["health"]);
    assert_eq!(gone.code, 1, "the server stopped");

    let v = run(dir.path(), &[], &["--version"]).success("--version");
    let line = v.stdout.trim();
    assert!(
        line.starts_with(&format!("claude-proxy {}", env!("CARGO_PKG_VERSION"))),
        "{line}"
    );
    // Built from a git checkout: the short commit follows in parentheses.
    if std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.git")).exists() {
        assert!(line.ends_with(')') && line.contains(" ("), "{line}");
    }
}
