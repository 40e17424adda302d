//! A real browser for the console tests: Debian's headless Chromium driven
//! over WebDriver by its chromedriver, which the test starts on a free
//! loopback port and kills (by pid) when done. Missing browser packages
//! fail the test with what to install; they are never a silent skip.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// Bound of every wait for the page.
pub const WAIT: Duration = Duration::from_secs(15);

fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// `chromium` and `chromedriver`, or a panic saying how to get them
/// (`CHROMIUM` / `CHROMEDRIVER` name other binaries).
fn tools() -> (PathBuf, PathBuf) {
    let from_env = |var: &str| std::env::var_os(var).map(PathBuf::from);
    let chromium = from_env("CHROMIUM").or_else(|| which(&["chromium", "chromium-browser"]));
    let driver = from_env("CHROMEDRIVER").or_else(|| which(&["chromedriver"]));
    match (chromium, driver) {
        (Some(c), Some(d)) => (c, d),
        (c, d) => panic!(
            "the browser tests need Chromium and its WebDriver (missing: {}{}). \
             Install them with `apt-get install -y chromium chromium-driver` (.ci/run does this), \
             or point CHROMIUM and CHROMEDRIVER at them.",
            if c.is_none() { "chromium " } else { "" },
            if d.is_none() { "chromedriver" } else { "" },
        ),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// chromedriver on a loopback port; killed by pid on drop.
pub struct Driver {
    child: Child,
    port: u16,
    chromium: PathBuf,
    _profile: tempfile::TempDir,
    profile: PathBuf,
}

impl Driver {
    pub fn start() -> Driver {
        let (chromium, driver) = tools();
        let port = free_port();
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver.display()));
        let profile_dir = tempfile::tempdir().expect("profile dir");
        let profile = profile_dir.path().to_path_buf();
        let mut d = Driver {
            child,
            port,
            chromium,
            _profile: profile_dir,
            profile,
        };
        let deadline = Instant::now() + WAIT;
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = d.child.try_wait() {
                panic!("chromedriver exited at once ({status})");
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen within {WAIT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    /// A new headless browser session with a fresh profile.
    pub async fn browser(&self, width: u32, height: u32) -> Browser {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--disable-extensions",
            "--hide-scrollbars",
            &format!("--window-size={width},{height}"),
            &format!("--user-data-dir={}", self.profile.display()),
        ];
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": self.chromium.display().to_string(), "args": args},
            // An alert must stay open for the test to see it.
            "unhandledPromptBehavior": "ignore",
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = tokio::time::timeout(
            Duration::from_secs(30),
            ClientBuilder::new(connector)
                .capabilities(caps)
                .connect(&format!("http://127.0.0.1:{}", self.port)),
        )
        .await
        .expect("a browser session within 30 s")
        .expect("a browser session");
        Browser {
            client: Some(client),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // By pid: Child::kill signals exactly this process.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser session; closed (the browser quits) on drop, also when the
/// test failed.
pub struct Browser {
    client: Option<Client>,
}

impl std::ops::Deref for Browser {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client.as_ref().expect("open session")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(async {
                    let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
                })
            });
        }
    }
}

impl Browser {
    /// The element matching `css`, once it is there (bounded).
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} within {WAIT:?}: {e}"))
    }

    /// Polls `f` until it yields `Some` (bounded).
    pub async fn until<T, F, Fut>(&self, what: &str, mut f: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(v) = f().await {
                return v;
            }
            assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The text of the first element matching `css`, once it contains
    /// `want` (bounded).
    pub async fn text_containing(&self, css: &str, want: &str) -> String {
        let what = format!("{css} containing {want:?}");
        self.until(&what, || async {
            let el = self.find(Locator::Css(css)).await.ok()?;
            let text = el.text().await.ok()?;
            text.contains(want).then_some(text)
        })
        .await
    }

    /// Types into the field matching `css` (cleared first).
    pub async fn fill(&self, css: &str, text: &str) {
        let el = self.wait_for(css).await;
        el.clear().await.expect("clear");
        el.send_keys(text).await.expect("type");
    }

    pub async fn click_on(&self, css: &str) {
        self.wait_for(css).await.click().await.expect("click");
    }

    /// Runs `script` in the page and returns what it returns.
    pub async fn js(&self, script: &str) -> Value {
        self.execute(script, vec![]).await.expect("script")
    }

    /// Saves a PNG of the window as target/ui-screenshots/`name`.png.
    pub async fn screenshot_as(&self, name: &str) {
        let png = self.screenshot().await.expect("screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Whether a JavaScript dialog is open (an `alert` that ran).
    pub async fn alert_open(&self) -> bool {
        self.get_alert_text().await.is_ok()
    }
}

pub fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ui-screenshots")
}
