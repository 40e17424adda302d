//! Child processes: the proxy binary started the way a user starts it (in a
//! directory, with an otherwise empty environment), and bounded runs of any
//! command. Every wait has a deadline; a started proxy is killed (by its
//! pid, through `Child::kill`) when its handle is dropped.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The binary under test, as cargo built it for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_claude-proxy");

/// How long a proxy may take to print where it listens.
const START_LIMIT: Duration = Duration::from_secs(20);

type Buffer = Arc<Mutex<Vec<u8>>>;

/// Collects everything `r` yields on a thread of its own.
fn capture(mut r: impl Read + Send + 'static) -> Buffer {
    let buf: Buffer = Arc::default();
    let b = buf.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(n) = r.read(&mut chunk) {
            if n == 0 {
                break;
            }
            b.lock().expect("lock").extend_from_slice(&chunk[..n]);
        }
    });
    buf
}

/// Waits (at most 2 s) until the reader threads have seen the pipes close.
fn drain(out: &Buffer, err: &Buffer) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while (Arc::strong_count(out) > 1 || Arc::strong_count(err) > 1) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn text(buf: &Buffer) -> String {
    String::from_utf8_lossy(&buf.lock().expect("lock")).into_owned()
}

/// A proxy command: `dir` as working directory, an empty environment
/// except `PATH` and what the test adds, stdin closed.
pub struct ProxyCommand {
    cmd: Command,
}

impl ProxyCommand {
    pub fn new(dir: &Path) -> Self {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null());
        ProxyCommand { cmd }
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.cmd.env(key, value);
        self
    }

    pub fn envs(mut self, vars: &[(&str, &str)]) -> Self {
        for (k, v) in vars {
            self.cmd.env(k, v);
        }
        self
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.cmd.args(args);
        self
    }

    /// Starts the proxy and waits (bounded) for its "listening on" line,
    /// then for the rest of the banner (stdout quiet for 300 ms).
    pub fn start(mut self) -> Proxy {
        let mut child = self
            .cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the binary");
        let out = capture(child.stdout.take().expect("stdout"));
        let err = capture(child.stderr.take().expect("stderr"));
        let mut p = Proxy {
            child,
            addr: String::new(),
            out,
            err,
        };
        let deadline = Instant::now() + START_LIMIT;
        p.addr = loop {
            let stdout = text(&p.out);
            if let Some(rest) = stdout.split("listening on http://").nth(1) {
                if let Some(addr) = rest
                    .split_whitespace()
                    .next()
                    .filter(|_| rest.contains('\n'))
                {
                    break addr.to_owned();
                }
            }
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!(
                    "the binary exited early ({status}):\n{}\n{}",
                    stdout,
                    text(&p.err)
                );
            }
            assert!(
                Instant::now() < deadline,
                "no banner within {START_LIMIT:?}: {stdout}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let quiet_deadline = Instant::now() + Duration::from_secs(3);
        let mut seen = p.out.lock().expect("lock").len();
        while Instant::now() < quiet_deadline {
            std::thread::sleep(Duration::from_millis(300));
            let now = p.out.lock().expect("lock").len();
            if now == seen {
                break;
            }
            seen = now;
        }
        p
    }

    /// Runs the binary to completion (it must exit by itself within
    /// `limit`).
    pub fn run(mut self, limit: Duration) -> Output {
        run_bounded(&mut self.cmd, limit)
    }
}

/// A running proxy; killed on drop.
pub struct Proxy {
    pub child: Child,
    /// `127.0.0.1:port`, from its banner.
    pub addr: String,
    out: Buffer,
    err: Buffer,
}

impl Proxy {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn stdout(&self) -> String {
        text(&self.out)
    }

    pub fn stderr(&self) -> String {
        text(&self.err)
    }

    /// Sends SIGTERM (by pid).
    #[cfg(unix)]
    pub fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -TERM {}", self.child.id());
    }

    /// Whether the process has exited (without waiting).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Waits (at most `limit`) for the process to exit; panics (after
    /// killing it) if it does not.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exited() {
                drain(&self.out, &self.err);
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the process did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// [`Proxy::wait_exit`] from async code (the runtime's other tasks,
    /// mock upstreams included, keep running meanwhile).
    pub async fn wait_exit_async(&mut self, limit: Duration) -> ExitStatus {
        tokio::task::block_in_place(|| self.wait_exit(limit))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a finished command said.
#[derive(Debug)]
pub struct Output {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Panics with everything the command said unless it succeeded.
    pub fn success(self, what: &str) -> Self {
        assert!(
            self.code == 0,
            "{what} failed ({}):\n{}\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Runs `cmd` to completion with captured output; kills it and panics if
/// it runs longer than `limit`.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let out = capture(child.stdout.take().expect("stdout"));
    let err = capture(child.stderr.take().expect("stderr"));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not finish within {limit:?}:\n{}\n{}",
                text(&out),
                text(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drain(&out, &err);
    Output {
        code: status.code().unwrap_or(-1),
        stdout: text(&out),
        stderr: text(&err),
    }
}

/// Runs a future to completion on a fresh single-threaded runtime (for
/// tests that are not async themselves).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}
