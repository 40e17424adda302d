//! The web console in a real browser (headless Chromium over WebDriver)
//! against the real binary on a random loopback port, with a mock upstream
//! in this process. Each test saves screenshots of the pages it visits
//! under target/ui-screenshots/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../common/mod.rs"]
mod common;

mod browser;

use std::time::Duration;

use axum::http::StatusCode;
use fantoccini::Locator;
use serde_json::{json, Value};

use browser::{Browser, Driver};
use common::mock_openai::{self, text_completion};
use common::process::{Proxy, ProxyCommand};
use common::*;

const ADMIN_KEY: &str = "console-admin-key-0123456789";
const KEY_1: &str = "sk-proj-111111111111111111111111aaaa";
const KEY_2: &str = "sk-proj-222222222222222222222222bbbb";
const KEY_3: &str = "sk-proj-333333333333333333333333cccc";
/// Every secret of these tests: none may reach the page.
const SECRETS: &[&str] = &[KEY_1, KEY_2, KEY_3, ADMIN_KEY, ACCESS_KEY];
const XSS: &str = "<img src=x onerror=alert(1)>";

/// The binary, started the way a user starts it, with `config` in a fresh
/// directory (its working directory: the request store, when there is one,
/// goes to ./data there).
struct Setup {
    proxy: Proxy,
    dir: tempfile::TempDir,
}

/// The proxy with its request store off (`DATA_DIR=off`): what every test
/// but the live one expects.
fn start_proxy(config: Value) -> Setup {
    start_proxy_with(config, &[("DATA_DIR", "off")])
}

fn start_proxy_with(config: Value, env: &[(&str, &str)]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let proxy = tokio::task::block_in_place(|| {
        ProxyCommand::new(dir.path())
            .envs(&[
                ("HOST", "127.0.0.1"),
                ("PORT", "0"),
                ("PROXY_ACCESS_KEY", ACCESS_KEY),
                ("ADMIN_ACCESS_KEY", ADMIN_KEY),
                ("CONFIG_PATH", &path.display().to_string()),
            ])
            .envs(env)
            .start()
    });
    Setup { proxy, dir }
}

async fn mock() -> Mock {
    spawn_mock(mock_openai::validate, |_| {
        Reply::Json(StatusCode::OK, text_completion("hello from the mock"))
    })
    .await
}

/// Opens the console and logs in with the admin key.
async fn logged_in(b: &Browser, setup: &Setup) {
    b.goto(&setup.proxy.url("/ui")).await.unwrap();
    b.fill("#admin-key", ADMIN_KEY).await;
    b.click_on("#login-submit").await;
    b.wait_for("nav.tabs a[aria-current=page]").await;
}

async fn open(b: &Browser, setup: &Setup, page: &str) {
    b.goto(&setup.proxy.url(&format!("/ui#/{page}")))
        .await
        .unwrap();
    b.wait_for(&format!("nav.tabs a[data-page={page}][aria-current=page]"))
        .await;
}

fn assert_no_secret(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} contains a secret: {s}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_fails_with_a_wrong_key_and_works_with_the_right_one() {
    let setup = start_proxy(config_with(vec![]));
    let driver = Driver::start();
    let b = driver.browser(1280, 900).await;
    b.goto(&setup.proxy.url("/ui")).await.unwrap();
    b.wait_for("#login-form").await;
    b.screenshot_as("login").await;

    b.fill("#admin-key", "not-the-admin-key").await;
    b.click_on("#login-submit").await;
    b.text_containing("#login-form .message.error", "wrong admin key")
        .await;
    assert!(
        b.find(Locator::Css("nav.tabs")).await.is_err(),
        "still logged out"
    );
    let cookies = b.get_all_cookies().await.unwrap();
    assert!(
        cookies.is_empty(),
        "no session for a wrong key: {cookies:?}"
    );
    assert_eq!(
        b.find(Locator::Css("#admin-key"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some(""),
        "the typed key does not stay in the field"
    );

    b.fill("#admin-key", ADMIN_KEY).await;
    b.click_on("#login-submit").await;
    b.wait_for("nav.tabs a[data-page=overview][aria-current=page]")
        .await;
    b.text_containing("#card-store", "request store is").await;
    let cookies = b.get_all_cookies().await.unwrap();
    let session = cookies
        .iter()
        .find(|c| c.name() == "claude_proxy_session")
        .expect("the session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(format!("{:?}", session.same_site()), "Some(Strict)");
    // HttpOnly: the page's scripts cannot read it.
    assert_eq!(b.js("return document.cookie").await, json!(""));

    // A reload keeps the session; logging out ends it.
    b.refresh().await.unwrap();
    b.wait_for("nav.tabs").await;
    b.click_on("#logout").await;
    b.wait_for("#login-form").await;
    let status = reqwest::Client::new()
        .get(setup.proxy.url("/admin/api/status"))
        .header(
            "cookie",
            format!("claude_proxy_session={}", session.value()),
        )
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401, "logout ended the session on the server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_and_a_key_added_through_the_forms_show_masked() {
    let upstream_mock = mock().await;
    let setup = start_proxy(config_with(vec![]));
    let driver = Driver::start();
    let b = driver.browser(1280, 1000).await;
    logged_in(&b, &setup).await;
    open(&b, &setup, "upstreams").await;
    b.wait_for("#no-upstreams").await;

    b.fill("#new-name", "mock").await;
    b.wait_for("#new-type")
        .await
        .select_by_value("openai")
        .await
        .unwrap();
    b.fill("#new-url", &upstream_mock.url()).await;
    b.fill("#new-key", KEY_1).await;
    b.fill("#new-description", "added from the console").await;
    b.click_on("#add-upstream-submit").await;
    b.text_containing("#upstreams-message", "Added upstream #0 \"mock\"")
        .await;
    let panel = "article.upstream[data-name=mock]";
    b.text_containing(&format!("{panel} td.key"), "sk-proj-…aaaa")
        .await;
    assert_eq!(
        b.find(Locator::Css("#new-key"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some(""),
        "the key field is emptied"
    );

    b.fill(&format!("{panel} input.new-key"), KEY_2).await;
    b.click_on(&format!("{panel} button.add-key")).await;
    b.until("two keys", || async {
        let cells = b
            .find_all(Locator::Css(&format!("{panel} td.key")))
            .await
            .ok()?;
        let mut texts = Vec::new();
        for c in cells {
            texts.push(c.text().await.ok()?);
        }
        (texts == ["sk-proj-…aaaa", "sk-proj-…bbbb"]).then_some(())
    })
    .await;
    b.screenshot_as("upstreams-add").await;
    assert_no_secret("the page", &b.source().await.unwrap());

    // Written where the CLI reads it, and applied: a request goes there.
    let file: Value =
        serde_json::from_slice(&std::fs::read(setup.dir.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(file["upstream"][0]["apiKeys"], json!([KEY_1, KEY_2]));
    let resp = reqwest::Client::new()
        .post(setup.proxy.url("/v1/messages"))
        .header("x-api-key", ACCESS_KEY)
        .json(&hello())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(upstream_mock.count(), 1);

    // The deep test reports each feature (this mock only ever answers text).
    b.click_on(&format!("{panel} button.deep-test-upstream"))
        .await;
    let probes = b
        .until("six feature verdicts", || async {
            let rows = b
                .find_all(Locator::Css(&format!("{panel} .test-report tr.probe")))
                .await
                .ok()?;
            (rows.len() == 6).then_some(rows)
        })
        .await;
    let first = probes[0].text().await.unwrap();
    assert!(
        first.starts_with("text") && first.contains("works"),
        "{first}"
    );
    let tool = probes[2].text().await.unwrap();
    assert!(tool.contains("unsupported"), "{tool}");

    // A phone-width view of the same page.
    b.set_window_size(390, 844).await.unwrap();
    b.wait_for(panel).await;
    b.screenshot_as("upstreams-phone").await;
}

/// Needs the request store (its `requests` and `requests/live` routes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_through_the_proxy_appears_in_the_live_requests_view() {
    let upstream_mock = mock().await;
    let data = tempfile::tempdir().unwrap();
    let setup = start_proxy_with(
        config_with(vec![upstream(
            "mock",
            "openai",
            &upstream_mock.url(),
            &[KEY_1],
        )]),
        &[("DATA_DIR", &data.path().display().to_string())],
    );
    let driver = Driver::start();
    let b = driver.browser(1280, 900).await;
    logged_in(&b, &setup).await;
    b.until("the store is on", || async {
        let text = b
            .find(Locator::Css("#card-store"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        (text.contains("request store is") && !text.contains("off")).then_some(())
    })
    .await;
    open(&b, &setup, "requests").await;
    b.text_containing("#live-state", "Live: on").await;

    let resp = reqwest::Client::new()
        .post(setup.proxy.url("/v1/messages"))
        .header("x-api-key", ACCESS_KEY)
        .json(&hello().with("model", XSS))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // The row arrives by the live tail (no search ran after the request);
    // its model, shown as text, is how it is recognised.
    let id = b
        .until("the request in the live tail", || async {
            for row in b.find_all(Locator::Css("#request-rows tr")).await.ok()? {
                let model = row
                    .find(Locator::Css(".requested-model"))
                    .await
                    .ok()?
                    .text()
                    .await
                    .ok()?;
                if model == XSS {
                    return row.attr("data-id").await.ok()?;
                }
            }
            None
        })
        .await;
    let row = format!("#request-rows tr[data-id=\"{id}\"]");
    b.text_containing(&format!("{row} td.upstream"), "mock")
        .await;
    assert!(!b.alert_open().await, "nothing ran");
    assert_eq!(
        b.js("return document.querySelectorAll('main img').length")
            .await,
        json!(0)
    );
    // The detail view.
    b.click_on(&format!("{row} button.link")).await;
    b.text_containing("#request-detail dd[data-field=upstream]", "mock")
        .await;
    let model = b.wait_for("#request-detail dd[data-field=model]").await;
    assert_eq!(model.text().await.unwrap(), XSS);
    b.text_containing("#request-detail dd[data-field=key]", "sk-proj-…aaaa")
        .await;
    b.screenshot_as("requests-live").await;
    assert_no_secret("the page", &b.source().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_name_with_markup_shows_as_text_and_runs_nothing() {
    let upstream_mock = mock().await;
    let mut up = upstream("mock", "openai", &upstream_mock.url(), &[KEY_1]);
    up["modelMapping"] = json!({ XSS: "<script>alert(2)</script>" });
    up["description"] = json!("<b>bold</b><img src=y onerror=alert(3)>");
    let setup = start_proxy(config_with(vec![up]));
    // The same string as a requested model, through the proxy.
    let resp = reqwest::Client::new()
        .post(setup.proxy.url("/v1/messages"))
        .header("x-api-key", ACCESS_KEY)
        .json(&hello().with("model", XSS))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        upstream_mock.requests()[0].body["model"],
        "<script>alert(2)</script>"
    );

    let driver = Driver::start();
    let b = driver.browser(1280, 900).await;
    logged_in(&b, &setup).await;
    open(&b, &setup, "upstreams").await;
    let from = b.wait_for("article.upstream td.map-from").await;
    assert_eq!(from.text().await.unwrap(), XSS);
    let to = b.wait_for("article.upstream td.map-to").await;
    assert_eq!(to.text().await.unwrap(), "<script>alert(2)</script>");
    let desc = b.wait_for("article.upstream .description").await;
    assert_eq!(
        desc.text().await.unwrap(),
        "<b>bold</b><img src=y onerror=alert(3)>"
    );
    // The editor shows it as a field's value.
    b.click_on("article.upstream button.edit-mapping").await;
    let input = b.wait_for("input.map-from-input").await;
    assert_eq!(input.prop("value").await.unwrap().as_deref(), Some(XSS));
    // Nothing was parsed as markup: no <img>, <b> or <script> from data.
    let made = b
        .js("return document.querySelectorAll('main img, main b, main script').length")
        .await;
    assert_eq!(made, json!(0));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!b.alert_open().await, "no alert ran");
    for page in ["overview", "requests", "usage"] {
        open(&b, &setup, page).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!b.alert_open().await, "no alert ran on {page}");
    }
}

/// Every admin API answer the page gets, recorded from now on (the
/// recorder is the test's, installed through WebDriver, not the page's).
const RECORD_RESPONSES: &str = r#"
if (!window.__seen) {
  window.__seen = [];
  const real = window.fetch;
  window.fetch = async (...args) => {
    const resp = await real(...args);
    try { window.__seen.push(String(args[0]) + "\n" + await resp.clone().text()); } catch (e) {}
    return resp;
  };
}
return true;
"#;

/// Fetches again every same-origin resource the page loaded (but the live
/// event stream, which never ends) and returns the answers.
const REFETCH_RESOURCES: &str = r#"
const done = arguments[arguments.length - 1];
const urls = [location.href.split('#')[0], ...performance.getEntriesByType('resource').map(e => e.name)]
  .filter(u => u.startsWith(location.origin) && !u.includes('/requests/live'));
Promise.all([...new Set(urls)].map(u => fetch(u, {credentials: 'same-origin'})
    .then(r => r.text()).then(t => u + "\n" + t).catch(e => u + "\n" + e)))
  .then(texts => done(texts.concat(window.__seen || [])));
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_configured_key_appears_in_the_dom_or_in_any_response_the_page_loads() {
    let upstream_mock = mock().await;
    let mut config = config_with(vec![
        upstream("first", "openai", &upstream_mock.url(), &[KEY_1, KEY_2]),
        upstream("second", "openai", &upstream_mock.url(), &[KEY_3]),
    ]);
    // One client with every limit, one with none.
    config["clients"] = json!([
        {"name": "ci", "keyHash": format!("sha256:{}", "ab".repeat(32)), "models": ["claude-*"],
         "upstreams": ["second"], "rpm": 10, "tpm": 2000, "dailyTokens": 1000, "monthlyCostUsd": 2.5,
         "expires": "2099-01-01", "created": "2026-01-01T00:00:00Z"},
        {"name": "plain", "keyHash": format!("sha256:{}", "cd".repeat(32))},
    ]);
    let setup = start_proxy(config);
    let driver = Driver::start();
    let b = driver.browser(1280, 1000).await;
    logged_in(&b, &setup).await;
    b.js(RECORD_RESPONSES).await;
    let mut seen = 0;
    for page in ["overview", "upstreams", "clients", "requests", "usage"] {
        // Navigating by hash keeps the document and the recorder.
        b.js(&format!("location.hash = '#/{page}'; return true"))
            .await;
        b.wait_for(&format!("nav.tabs a[data-page={page}][aria-current=page]"))
            .await;
        match page {
            "overview" => {
                b.text_containing("#card-store", "request store is").await;
            }
            "upstreams" => {
                b.text_containing("article.upstream[data-name=first] td.key", "sk-proj-…aaaa")
                    .await;
                // A test sends real requests through every key; its report
                // names the keys too.
                b.click_on("article.upstream[data-name=first] button.test-upstream")
                    .await;
                b.text_containing(
                    "article.upstream[data-name=first] .test-report",
                    "sk-proj-…bbbb",
                )
                .await;
            }
            "clients" => {
                b.text_containing("#client-list tr[data-name=ci] td.day", "1,000 left")
                    .await;
                b.text_containing("#client-list tr[data-name=plain] td.day", "no cap")
                    .await;
            }
            // Without the store these pages say so (and do not break).
            "requests" => {
                b.wait_for("#requests-table").await;
                b.text_containing("main", "request store is off").await;
            }
            _ => {
                b.wait_for("#u-group").await;
                b.text_containing("main", "request store is off").await;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        b.screenshot_as(page).await;
        let source = b.source().await.unwrap();
        assert_no_secret(&format!("the {page} page"), &source);
        let text = b
            .find(Locator::Css("main"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            !text.contains("undefined") && !text.contains("null") && !text.contains("NaN"),
            "the {page} page shows a missing value: {text}"
        );
        let texts = b.execute_async(REFETCH_RESOURCES, vec![]).await.unwrap();
        let texts: Vec<String> = serde_json::from_value(texts).unwrap();
        assert!(texts.iter().any(|t| t.contains("/ui/app.js")), "{texts:?}");
        for t in &texts {
            assert_no_secret(t.lines().next().unwrap_or_default(), t);
        }
        seen = seen.max(texts.len());
    }
    assert!(seen > 10, "the check saw the page's answers ({seen})");
    // The test report answered; the keys were masked in it.
    let report = b
        .js("return (window.__seen || []).filter(t => t.includes('/test')).join('\\n')")
        .await;
    let report = report.as_str().unwrap();
    assert!(report.contains("sk-proj-…aaaa"), "{report}");
    assert_eq!(upstream_mock.count(), 2, "one test request per key");
}

/// Clicks the button `class` of client `name`'s row: found afresh each try,
/// since a refresh may redraw the table between finding and clicking.
async fn click_client(b: &Browser, name: &str, class: &str) {
    let css = format!("#client-list tr[data-name=\"{name}\"] button.{class}");
    b.until(&format!("a click on {css}"), || async {
        b.find(Locator::Css(&css)).await.ok()?.click().await.ok()
    })
    .await;
}

/// A request through the proxy with `key`; its status.
async fn send_with(setup: &Setup, key: &str) -> u16 {
    reqwest::Client::new()
        .post(setup.proxy.url("/v1/messages"))
        .header("x-api-key", key)
        .json(&hello())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Whether `text` is anywhere in the document: its markup, its text, or a
/// field's value.
async fn in_dom(b: &Browser, text: &str) -> bool {
    let found = b
        .execute(
            "const t = arguments[0];
             return document.documentElement.outerHTML.includes(t)
               || document.body.textContent.includes(t)
               || [...document.querySelectorAll('input, textarea')].some(e => e.value.includes(t));",
            vec![json!(text)],
        )
        .await
        .unwrap();
    found == json!(true)
}

/// The key shown in the one-time box.
async fn shown_key(b: &Browser) -> String {
    b.wait_for("#key-box").await;
    let text = b.text_containing("#key-box", "Shown only now").await;
    assert!(text.contains("SHA-256 digest"), "{text}");
    let key = b.wait_for("#new-client-key").await.text().await.unwrap();
    assert!(key.starts_with("cp-") && key.len() > 20, "{key}");
    key
}

/// Needs the request store for the Usage and Requests checks at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_made_on_the_clients_page_calls_the_proxy_and_its_usage_shows() {
    let upstream_mock = mock().await;
    let data = tempfile::tempdir().unwrap();
    let mut config = config_with(vec![upstream(
        "mock",
        "openai",
        &upstream_mock.url(),
        &[KEY_1],
    )]);
    config["prices"] = json!({"claude-*": {"input": 1000, "output": 2000}});
    let setup = start_proxy_with(config, &[("DATA_DIR", &data.path().display().to_string())]);
    let config_file = setup.dir.path().join("config.json");
    let driver = Driver::start();
    let b = driver.browser(1280, 1000).await;
    logged_in(&b, &setup).await;
    open(&b, &setup, "clients").await;
    b.wait_for("#no-clients").await;

    // A name with markup is refused by the server, and said so inline.
    b.fill("#new-client-name", "<b>x</b>").await;
    b.click_on("#create-client-submit").await;
    let refused = b
        .text_containing("#create-client-message.error", "name:")
        .await;
    assert!(refused.contains("<b>x</b>"), "{refused}");
    assert_eq!(
        b.js("return document.querySelectorAll('main b').length")
            .await,
        json!(0)
    );
    let file: Value = serde_json::from_slice(&std::fs::read(&config_file).unwrap()).unwrap();
    assert!(
        file.get("clients").is_none_or(|c| c == &json!([])),
        "{file}"
    );
    assert!(b.find(Locator::Css("#key-box")).await.is_err());

    b.fill("#new-client-name", "ci-bot").await;
    b.fill("#new-client-models", "claude-haiku-*, claude-sonnet-*")
        .await;
    b.fill("#new-client-upstreams", "mock").await;
    b.fill("#new-client-rpm", "60").await;
    b.fill("#new-client-daily-tokens", "1000").await;
    b.fill("#new-client-monthly-cost", "5").await;
    b.click_on("#create-client-submit").await;
    let key = shown_key(&b).await;
    b.text_containing("#clients-message", "shown only now")
        .await;
    let row = "#client-list tr[data-name=\"ci-bot\"]";
    b.text_containing(
        &format!("{row} td.models"),
        "claude-haiku-*, claude-sonnet-*",
    )
    .await;
    b.text_containing(&format!("{row} td.upstreams"), "mock")
        .await;
    b.text_containing(&format!("{row} .state"), "active").await;
    b.text_containing(&format!("{row} td.key"), "sha256:").await;
    b.screenshot_as("clients-key").await;
    // Copy puts it on the clipboard, or (without the clipboard API)
    // selects it.
    b.click_on("#copy-key").await;
    let copied = b
        .until("the copy's outcome", || async {
            let text = b
                .find(Locator::Css("#copy-state"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            (!text.is_empty()).then_some(text)
        })
        .await;
    assert!(
        copied == "Copied." || copied.starts_with("Selected"),
        "{copied}"
    );
    let file: Value = serde_json::from_slice(&std::fs::read(&config_file).unwrap()).unwrap();
    assert_eq!(file["clients"][0]["name"], "ci-bot");
    assert!(
        !std::fs::read_to_string(&config_file)
            .unwrap()
            .contains(&key),
        "only the key's digest is written"
    );
    // Dismissed, the key is nowhere in the page (not in a field either).
    b.click_on("#dismiss-key").await;
    assert!(b.find(Locator::Css("#key-box")).await.is_err());
    assert!(!in_dom(&b, &key).await, "the key left the page");

    // The key works; the usage shows at the next refresh, unprompted.
    assert_eq!(send_with(&setup, &key).await, 200);
    assert_eq!(upstream_mock.count(), 1);
    b.text_containing(&format!("{row} td.day"), "17").await;
    b.text_containing(&format!("{row} td.day"), "983 left")
        .await;
    b.text_containing(&format!("{row} td.month"), "$0.02").await;
    b.text_containing(&format!("{row} td.month"), "$4.98 left")
        .await;
    let minute = b.text_containing(&format!("{row} td.num"), "1 req").await;
    assert!(minute.contains("17 tok"), "{minute}");
    b.screenshot_as("clients-usage").await;
    // At a phone's width the table scrolls inside its panel; the page does not.
    b.set_window_size(390, 844).await.unwrap();
    b.wait_for(row).await;
    b.screenshot_as("clients-phone").await;
    assert_eq!(
        b.js("return document.documentElement.scrollWidth <= window.innerWidth")
            .await,
        json!(true),
        "no sideways scroll of the page"
    );
    b.set_window_size(1280, 1000).await.unwrap();

    // Editing the limits: an emptied field removes the limit; a models
    // glob with markup is shown as text.
    click_client(&b, "ci-bot", "edit-client").await;
    b.fill("#edit-rpm", "").await;
    b.fill("#edit-tpm", "5000").await;
    b.fill("#edit-models", &format!("claude-*, {XSS}")).await;
    b.click_on("#edit-client-submit").await;
    b.text_containing("#edit-client .message.ok", "updated")
        .await;
    b.text_containing(&format!("{row} td.limits"), "5,000 tok/min")
        .await;
    let models = b.wait_for(&format!("{row} td.models")).await;
    assert_eq!(models.text().await.unwrap(), format!("claude-*, {XSS}"));
    assert_eq!(
        b.js("return document.querySelectorAll('main img, main b, main script').length")
            .await,
        json!(0),
        "nothing parsed as markup"
    );
    let file: Value = serde_json::from_slice(&std::fs::read(&config_file).unwrap()).unwrap();
    assert_eq!(file["clients"][0]["tpm"], 5000);
    assert_eq!(file["clients"][0]["models"], json!(["claude-*", XSS]));
    assert!(
        file["clients"][0].get("rpm").is_none_or(Value::is_null),
        "{file}"
    );
    b.click_on("#close-edit").await;

    // Rotating asks first, then shows the new key once; the old one is refused.
    let digest = b
        .wait_for(&format!("{row} td.key"))
        .await
        .text()
        .await
        .unwrap();
    click_client(&b, "ci-bot", "rotate-client").await;
    b.text_containing("#clients-message", "old key stops working")
        .await;
    assert!(b.find(Locator::Css("#key-box")).await.is_err(), "not yet");
    b.text_containing(&format!("{row} button.rotate-client"), "Confirm rotation")
        .await;
    click_client(&b, "ci-bot", "rotate-client").await;
    let new_key = shown_key(&b).await;
    assert_ne!(new_key, key);
    b.until("a new digest", || async {
        let now = b.find(Locator::Css(&format!("{row} td.key"))).await.ok()?;
        (now.text().await.ok()? != digest).then_some(())
    })
    .await;
    assert_eq!(send_with(&setup, &key).await, 401, "the old key");
    assert_eq!(send_with(&setup, &new_key).await, 200, "the new key");
    // Leaving the page (by its navigation) takes the box and the key away.
    b.click_on("nav.tabs a[data-page=overview]").await;
    b.wait_for("nav.tabs a[data-page=overview][aria-current=page]")
        .await;
    assert!(!in_dom(&b, &new_key).await, "the key left with the page");
    open(&b, &setup, "clients").await;
    b.wait_for(row).await;
    assert!(b.find(Locator::Css("#key-box")).await.is_err());

    // Disabling shows, and refuses the key; enabling lets it in again.
    click_client(&b, "ci-bot", "disable-client").await;
    b.text_containing(&format!("{row} .state"), "disabled")
        .await;
    b.text_containing("#clients-message", "disabled").await;
    assert_eq!(send_with(&setup, &new_key).await, 401);
    click_client(&b, "ci-bot", "enable-client").await;
    b.text_containing(&format!("{row} .state"), "active").await;
    assert_eq!(send_with(&setup, &new_key).await, 200);

    // The Usage page groups by client, from the store.
    open(&b, &setup, "usage").await;
    b.wait_for("#u-group")
        .await
        .select_by_value("client")
        .await
        .unwrap();
    b.text_containing("#usage-out", "ci-bot").await;
    // The Requests page shows the client and filters by it.
    open(&b, &setup, "requests").await;
    b.text_containing("#request-rows td.client", "ci-bot").await;
    b.fill("#f-client", "nobody").await;
    b.click_on("#request-search button[type=submit]").await;
    b.text_containing("main", "No stored request matches").await;
    b.fill("#f-client", "ci-bot").await;
    b.click_on("#request-search button[type=submit]").await;
    b.text_containing("#request-rows td.client", "ci-bot").await;

    // Removing asks first.
    open(&b, &setup, "clients").await;
    click_client(&b, "ci-bot", "remove-client").await;
    b.text_containing(&format!("{row} button.remove-client"), "Confirm removal")
        .await;
    click_client(&b, "ci-bot", "remove-client").await;
    b.wait_for("#no-clients").await;
    assert_eq!(send_with(&setup, &new_key).await, 401);
    assert!(!b.alert_open().await, "no alert ran");
    let source = b.source().await.unwrap();
    assert_no_secret("the clients page", &source);
    assert!(!source.contains(&key) && !source.contains(&new_key));
}
