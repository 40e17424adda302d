//! Packaging: the systemd unit passes `systemd-analyze verify`, the
//! container image builds and reports healthy where a container engine
//! runs, and both keep their promises (non-root, hardening, health check by
//! the binary itself, reload by SIGHUP).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::process::run_bounded;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap()
}

fn available(tool: &str, args: &[&str]) -> bool {
    Command::new(tool)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn the_systemd_unit_is_hardened_and_verifies() {
    let unit = read("deploy/claude-proxy.service");
    for line in [
        "User=claude-proxy",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "StateDirectory=claude-proxy",
        "ConfigurationDirectory=claude-proxy",
        "ReadWritePaths=/etc/claude-proxy",
        "Restart=on-failure",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(unit.lines().any(|l| l == line), "missing {line}");
    }
    if !available("systemd-analyze", &["--version"]) {
        println!("skipped systemd-analyze verify: systemd-analyze is not installed here");
        return;
    }
    // Verify the unit as installed, pointing at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("claude-proxy.service");
    std::fs::write(
        &path,
        unit.replace(
            "/usr/local/bin/claude-proxy",
            env!("CARGO_BIN_EXE_claude-proxy"),
        ),
    )
    .unwrap();
    let out = run_bounded(
        Command::new("systemd-analyze").arg("verify").arg(&path),
        Duration::from_secs(30),
    );
    assert_eq!(
        out.code, 0,
        "systemd-analyze verify:\n{}\n{}",
        out.stdout, out.stderr
    );
    assert!(
        !out.stderr.contains("claude-proxy.service:"),
        "warnings about the unit:\n{}",
        out.stderr
    );
}

#[test]
fn the_container_image_runs_as_non_root_and_checks_itself() {
    let docker = read("Dockerfile");
    for needle in [
        "FROM rust:",
        "USER nonroot",
        "EXPOSE 3000",
        "HOST=0.0.0.0",
        "VOLUME [\"/data\"]",
        "CMD [\"/usr/local/bin/claude-proxy\", \"health\"]",
    ] {
        assert!(docker.contains(needle), "Dockerfile lacks {needle}");
    }
    assert!(!docker.contains("curl"), "the health check needs no curl");
    if !available("docker", &["info"]) {
        println!(
            "skipped the image build: no container engine answers `docker info` on this machine"
        );
        return;
    }
    let tag = "claude-proxy:packaging-test";
    let build = run_bounded(
        Command::new("docker").args(["build", "-t", tag, ROOT]),
        Duration::from_secs(1800),
    );
    assert_eq!(
        build.code, 0,
        "docker build:\n{}\n{}",
        build.stdout, build.stderr
    );
    let name = format!("claude-proxy-test-{}", std::process::id());
    let run = run_bounded(
        Command::new("docker").args([
            "run",
            "-d",
            "--rm",
            "--name",
            &name,
            "-e",
            "PROXY_ACCESS_KEY=packaging-key",
            tag,
        ]),
        Duration::from_secs(60),
    );
    assert_eq!(run.code, 0, "docker run: {}", run.stderr);
    let mut healthy = false;
    for _ in 0..30 {
        let h = run_bounded(
            Command::new("docker").args(["exec", &name, "/usr/local/bin/claude-proxy", "health"]),
            Duration::from_secs(20),
        );
        if h.code == 0 {
            healthy = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let _ = run_bounded(
        Command::new("docker").args(["rm", "-f", &name]),
        Duration::from_secs(30),
    );
    assert!(healthy, "the container's own health check never passed");
}

#[test]
fn the_compose_file_is_a_working_fleet_template() {
    let compose = read("docker-compose.yml");
    for needle in [
        "redis:",
        "gateway-1:",
        "gateway-2:",
        "nginx:",
        "REDIS_URL: redis://:${REDIS_PASSWORD",
        "@redis:6379/0",
        "fleet-data:/data",
        "CONFIG_PATH: /data/config.json",
        "DATA_DIR: /data/store-1",
        "DATA_DIR: /data/store-2",
        "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro",
        "PROXY_ACCESS_KEY: ${PROXY_ACCESS_KEY:?",
    ] {
        assert!(
            compose.contains(needle),
            "docker-compose.yml lacks {needle}"
        );
    }
    let nginx = read("deploy/nginx.conf");
    for needle in [
        "server gateway-1:3000",
        "server gateway-2:3000",
        "proxy_buffering off;",
        "client_max_body_size 32m;",
        "ip_hash;",
    ] {
        assert!(nginx.contains(needle), "deploy/nginx.conf lacks {needle}");
    }
    let env = [
        ("PROXY_ACCESS_KEY", "compose-test-key"),
        ("REDIS_PASSWORD", "compose-test-password"),
    ];
    let tool: Option<(&str, &[&str])> = if available("docker", &["compose", "version"]) {
        Some(("docker", &["compose", "config", "-q"]))
    } else if available("docker-compose", &["version"]) {
        Some(("docker-compose", &["config", "-q"]))
    } else {
        None
    };
    let Some((tool, args)) = tool else {
        println!("skipped `docker compose config`: neither `docker compose` nor `docker-compose` is installed here");
        return;
    };
    let out = run_bounded(
        Command::new(tool).args(args).current_dir(ROOT).envs(env),
        Duration::from_secs(60),
    );
    assert_eq!(
        out.code, 0,
        "{tool} config:\n{}\n{}",
        out.stdout, out.stderr
    );
    // Without the required secrets the template refuses to start.
    let out = run_bounded(
        Command::new(tool)
            .args(args)
            .current_dir(ROOT)
            .env_remove("PROXY_ACCESS_KEY")
            .env("REDIS_PASSWORD", "x"),
        Duration::from_secs(60),
    );
    assert_ne!(
        out.code, 0,
        "{tool} config accepted a fleet without PROXY_ACCESS_KEY"
    );
}
