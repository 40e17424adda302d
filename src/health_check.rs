//! `claude-proxy health`: asks the running server's health route and exits
//! 0 when it answers healthy, 1 otherwise — a container `HEALTHCHECK` with
//! nothing but the binary. It finds the server the way the server finds its
//! address: `--port`, `PORT` from the environment or `.env`, `HOST`.
//!
//! A plain blocking HTTP/1.1 GET with short timeouts: it runs as its own
//! short-lived process, never inside the server.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use crate::settings::Settings;

/// Longest the whole check may take, per step.
const TIMEOUT: Duration = Duration::from_secs(3);
/// Most of the answer that is read.
const MAX_ANSWER: u64 = 64 * 1024;

/// Runs the check and prints one line about it.
pub fn run(settings: &Settings) -> ExitCode {
    if !settings.health_check_enabled {
        eprintln!("health: the health route is off (HEALTH_CHECK_ENABLED=false)");
        return ExitCode::FAILURE;
    }
    let addr = SocketAddr::new(reachable(settings.host), settings.port);
    match check(addr, &settings.health_check_path) {
        Ok(()) => {
            println!("healthy: http://{addr}{}", settings.health_check_path);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "unhealthy: http://{addr}{}: {e}",
                settings.health_check_path
            );
            ExitCode::FAILURE
        }
    }
}

/// The address to dial for a server bound to `host`: a wildcard bind is
/// reached on loopback.
fn reachable(host: IpAddr) -> IpAddr {
    match host {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    }
}

fn check(addr: SocketAddr, path: &str) -> Result<(), String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("cannot connect: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let request =
        format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\naccept: application/json\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("cannot send the request: {e}"))?;
    let mut answer = Vec::new();
    stream
        .take(MAX_ANSWER)
        .read_to_end(&mut answer)
        .map_err(|e| format!("no answer: {e}"))?;
    let text = String::from_utf8_lossy(&answer);
    let status = text.split(' ').nth(1).unwrap_or("");
    if status != "200" {
        let line = text.lines().next().unwrap_or("no status line");
        return Err(format!("answered {line}"));
    }
    if !text.contains("\"healthy\"") {
        return Err("answered 200 without \"status\":\"healthy\"".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_bind_is_reached_on_loopback() {
        assert_eq!(
            reachable("0.0.0.0".parse().unwrap()),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
        assert_eq!(
            reachable("::".parse().unwrap()),
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        );
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        assert_eq!(reachable(ip), ip);
    }

    #[test]
    fn nothing_listening_is_unhealthy() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        assert!(check(addr, "/health")
            .unwrap_err()
            .contains("cannot connect"));
    }
}
