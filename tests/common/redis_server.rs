//! A real `redis-server` per test, on a free loopback port, without
//! persistence; stopped by its pid when dropped (or by [`RedisServer::kill`]
//! mid-test), and restartable on the same port.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::wait::wait_until;

/// One running (or stopped) `redis-server`.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    /// More `redis-server` arguments (e.g. `--requirepass`).
    extra: Vec<String>,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("addr").port()
}

fn binary() -> String {
    std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned())
}

impl RedisServer {
    /// Starts one on a free port and waits (at most 10 s) until it answers.
    pub fn start() -> RedisServer {
        let mut server = RedisServer::stopped();
        server.restart();
        server
    }

    /// A free port where no server runs yet ([`RedisServer::restart`]
    /// starts it): Redis down at the gateway's start.
    pub fn stopped() -> RedisServer {
        RedisServer {
            port: free_port(),
            child: None,
            extra: Vec::new(),
        }
    }

    /// [`RedisServer::stopped`] that requires `password` once started.
    pub fn stopped_with_password(password: &str) -> RedisServer {
        let mut server = RedisServer::stopped();
        server.extra = vec!["--requirepass".to_owned(), password.to_owned()];
        server
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it again on the same port (after [`RedisServer::kill`]), empty.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        let child = Command::new(binary())
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ])
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e}. The fleet tests need Debian's redis-server \
                     (`apt-get install redis-server`; .ci/run installs it), or REDIS_SERVER=/path",
                    binary()
                )
            });
        self.child = Some(child);
        let port = self.port;
        assert!(
            wait_until(Duration::from_secs(10), || ping(port)),
            "redis-server on port {port} did not answer PING within 10 s"
        );
    }

    /// Stops it now (SIGKILL by pid, as a crash would) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A client for checks from the test itself.
    pub async fn client(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("connect to the test's redis-server")
    }

    /// Every key in it.
    pub async fn keys(&self) -> Vec<String> {
        let mut c = self.client().await;
        redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut c)
            .await
            .expect("KEYS")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One inline `PING` over a fresh connection: whether the server answers.
fn ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    // A server with `--requirepass` answers, too: with NOAUTH.
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && (&buf == b"+PONG\r\n" || buf.starts_with(b"-NOAUTH"))
}
