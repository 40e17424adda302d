//! `claude-proxy config …` end to end: the built binary against temp dirs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_claude-proxy");
const KEY_A: &str = "sk-proj-AAAAAAAAAAAAAAAAAAAAAAAA0001";
const KEY_B: &str = "gsk_BBBBBBBBBBBBBBBBBBBBBBBBBBBB0002";
const KEY_C: &str = "sk-CCCCCCCCCCCCCCCCCCCCCCCCCCCC0003";
/// The middles of the keys: if any shows up in output, a key leaked.
const SECRET_PARTS: [&str; 3] = ["AAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBB", "CCCCCCCCCCCCCCCC"];

struct Env {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    Env { _dir: dir, path }
}

fn run_with_stdin(path: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(path)
        .arg("config")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for part in SECRET_PARTS {
        assert!(!all.contains(part), "key leaked by {args:?}:\n{all}");
    }
    out
}

fn run(path: &Path, args: &[&str]) -> Output {
    run_with_stdin(path, args, "")
}

fn ok(path: &Path, args: &[&str]) -> String {
    let out = run(path, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

fn fails(path: &Path, args: &[&str], code: i32) -> String {
    let out = run(path, args);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {out:?}");
    String::from_utf8(out.stderr).unwrap()
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

fn with_two(e: &Env) {
    ok(
        &e.path,
        &[
            "add",
            "OpenAI",
            "openai",
            "https://api.openai.com/v1",
            "--key",
            KEY_A,
        ],
    );
    ok(
        &e.path,
        &[
            "add",
            "groq",
            "https://api.groq.com/openai/v1",
            "openaiold",
            "-k",
            KEY_B,
            "--max-tokens",
            "8192",
        ],
    );
}

#[test]
fn add_in_both_orders_and_show() {
    let e = env();
    with_two(&e);
    let v = json(&e.path);
    assert_eq!(v["upstream"][0]["serviceType"], "openai");
    assert_eq!(v["upstream"][1]["serviceType"], "openaiold");
    assert_eq!(
        v["upstream"][1]["baseUrl"],
        "https://api.groq.com/openai/v1"
    );
    assert_eq!(v["upstream"][1]["maxTokens"], 8192);
    assert_eq!(v["upstream"][0]["apiKeys"][0], KEY_A);
    assert_eq!(v["currentUpstream"], 0);
    let text = fs::read_to_string(&e.path).unwrap();
    assert!(
        text.ends_with("}\n") && text.contains("\n  \"upstream\": [\n    {\n      \"name\""),
        "{text}"
    );

    let show = ok(&e.path, &["show"]);
    assert!(show.contains("sk-proj-…0001"), "{show}");
    let star = show.lines().find(|l| l.starts_with('*')).unwrap();
    assert!(star.contains("OpenAI"), "{show}");
    assert_eq!(ok(&e.path, &[]), show, "show is the default");
    let masked: Value = serde_json::from_str(&ok(&e.path, &["show", "--json"])).unwrap();
    assert_eq!(masked["upstream"][1]["apiKeys"][0], "gsk_BBBB…0002");
}

#[test]
fn add_rejects_bad_input() {
    let e = env();
    with_two(&e);
    let before = fs::read(&e.path).unwrap();
    let err = fails(&e.path, &["add", "GROQ", "openai", "https://x"], 1);
    assert!(err.contains("already exists"), "{err}");
    let err = fails(&e.path, &["add", "x", "opena", "https://x"], 1);
    assert!(err.contains("unknown service type \"opena\""), "{err}");
    let err = fails(&e.path, &["add", "x", "openai", "https://"], 1);
    assert!(err.contains("URL"), "{err}");
    let err = fails(&e.path, &["add", "x", "openai", "api.openai.com"], 1);
    assert!(err.contains("URL"), "{err}");
    fails(&e.path, &["add", "x", "openai"], 2);
    fails(
        &e.path,
        &["add", "x", "openai", "https://x", "--max-tokens", "0"],
        2,
    );
    fails(&e.path, &["frobnicate"], 2);
    assert_eq!(fs::read(&e.path).unwrap(), before);
}

#[test]
fn use_remove_balance_update() {
    let e = env();
    with_two(&e);
    ok(
        &e.path,
        &["add", "third", "claude", "https://api.anthropic.com"],
    );
    assert!(ok(&e.path, &["use", "GROQ"]).contains("#1"));
    assert_eq!(json(&e.path)["currentUpstream"], 1);
    fails(&e.path, &["use", "7"], 1);
    ok(&e.path, &["remove", "openai"]);
    let v = json(&e.path);
    assert_eq!(
        v["currentUpstream"], 0,
        "current follows the upstream it named"
    );
    assert_eq!(v["upstream"][0]["name"], "groq");
    ok(&e.path, &["remove", "0"]);
    let v = json(&e.path);
    assert_eq!(
        (
            v["currentUpstream"].clone(),
            v["upstream"][0]["name"].clone()
        ),
        (0.into(), "third".into())
    );

    ok(&e.path, &["balance", "failover"]);
    assert_eq!(json(&e.path)["loadBalance"], "failover");
    fails(&e.path, &["balance", "fastest"], 2);

    let out = ok(
        &e.path,
        &[
            "update",
            "third",
            "--name",
            "anthropic",
            "--type",
            "openai",
            "--url",
            "https://x.example/v1",
            "--description",
            "d",
        ],
    );
    assert!(out.contains("anthropic"), "{out}");
    ok(
        &e.path,
        &[
            "update",
            "0",
            "--insecureSkipVerify",
            "true",
            "--max-tokens",
            "100",
        ],
    );
    let u = &json(&e.path)["upstream"][0];
    assert_eq!(
        (u["serviceType"].as_str(), u["insecureSkipVerify"].as_bool()),
        (Some("openai"), Some(true))
    );
    assert_eq!(
        (u["maxTokens"].as_u64(), u["description"].as_str()),
        (Some(100), Some("d"))
    );
    ok(
        &e.path,
        &[
            "update",
            "anthropic",
            "--insecure-skip-verify",
            "false",
            "--max-tokens",
            "0",
            "--description",
            "",
        ],
    );
    let u = &json(&e.path)["upstream"][0];
    assert_eq!(u["insecureSkipVerify"], false);
    assert!(
        u.get("maxTokens").is_none() && u.get("description").is_none(),
        "{u}"
    );
    fails(&e.path, &["update", "0"], 1);
    fails(&e.path, &["update", "0", "--url", "nope"], 1);
    fails(&e.path, &["update", "0", "--type", "nope"], 2);
    fails(
        &e.path,
        &["update", "0", "--insecureSkipVerify", "maybe"],
        2,
    );
}

#[test]
fn keys_add_remove_list_masked() {
    let e = env();
    with_two(&e);
    let out = ok(&e.path, &["key", "groq", "add", KEY_C, KEY_B, KEY_C]);
    assert_eq!(out.matches("Skipped").count(), 2, "{out}");
    assert_eq!(
        json(&e.path)["upstream"][1]["apiKeys"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let list = ok(&e.path, &["key", "1", "list"]);
    assert!(
        list.contains("gsk_BBBB…0002") && list.contains("sk-CCCCC…0003"),
        "{list}"
    );
    ok(&e.path, &["key", "1", "remove", KEY_B]);
    ok(&e.path, &["key", "1", "remove", "0"]);
    assert_eq!(
        json(&e.path)["upstream"][1]["apiKeys"],
        Value::Array(vec![])
    );
    let err = fails(&e.path, &["key", "1", "remove", KEY_A], 1);
    assert!(err.contains("no key"), "{err}");
    fails(&e.path, &["key", "9", "list"], 1);
    fails(&e.path, &["key", "0", "add"], 2);

    let out = run_with_stdin(
        &e.path,
        &["key", "groq", "add", "-"],
        &format!("{KEY_B}\n\n{KEY_C}\n"),
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        json(&e.path)["upstream"][1]["apiKeys"],
        serde_json::json!([KEY_B, KEY_C])
    );
}

#[test]
fn model_mapping_set_remove_list_in_order() {
    let e = env();
    with_two(&e);
    for (from, to) in [
        ("sonnet", "gpt-4o"),
        ("haiku", "gpt-4o-mini"),
        ("*", "gpt-4.1"),
        ("opus", "o3"),
    ] {
        ok(&e.path, &["map", "openai", "set", from, to]);
    }
    ok(&e.path, &["map", "0", "set", "haiku", "gpt-5-mini"]);
    ok(&e.path, &["map", "0", "remove", "sonnet"]);
    fails(&e.path, &["map", "0", "remove", "sonnet"], 1);
    let text = fs::read_to_string(&e.path).unwrap();
    let (h, s, o) = (
        text.find("\"haiku\"").unwrap(),
        text.find("\"*\"").unwrap(),
        text.find("\"opus\"").unwrap(),
    );
    assert!(h < s && s < o, "{text}");
    let list = ok(&e.path, &["map", "0", "list"]);
    assert_eq!(
        list.lines().next().unwrap(),
        "haiku  →  gpt-5-mini",
        "{list}"
    );
}

#[test]
fn unknown_fields_and_order_survive_a_write() {
    let e = env();
    let text = r#"{
  "upstream": [
    {"name": "a", "baseUrl": "https://a", "apiKeys": ["k"], "serviceType": "openai",
     "modelMapping": {"zeta": "1", "alpha": "2"}, "headers": {"X-Org": "o"}, "priority": 3}
  ],
  "currentUpstream": 0,
  "comment": "mine",
  "future": {"nested": [1, 2]}
}"#;
    fs::write(&e.path, text).unwrap();
    ok(&e.path, &["key", "a", "add", KEY_A]);
    let v = json(&e.path);
    assert_eq!(v["comment"], "mine");
    assert_eq!(v["future"]["nested"][1], 2);
    assert_eq!(v["upstream"][0]["headers"]["X-Org"], "o");
    assert_eq!(v["upstream"][0]["priority"], 3);
    let text = fs::read_to_string(&e.path).unwrap();
    assert!(
        text.find("\"zeta\"").unwrap() < text.find("\"alpha\"").unwrap(),
        "{text}"
    );
}

#[test]
fn broken_files_are_never_written() {
    let e = env();
    let broken = [
        ("{\n  \"upstream\": [\n    {\"name\": \"a\",}\n  ]\n}", "config.json:3:"),
        ("{\"upstream\": [{\"name\": 5}]}", "upstream[0].name"),
        ("{\"upstream\": [{\"name\": \"a\", \"baseUrl\": \"https://a\", \"serviceType\": \"cobol\"}]}", "serviceType"),
        ("{\"upstream\": [{\"name\": \"a\", \"baseUrl\": \"not a url\", \"serviceType\": \"openai\"}]}", "baseUrl"),
        ("{\"upstream\": [], \"currentUpstream\": 2}", "currentUpstream"),
    ];
    let writes: [&[&str]; 6] = [
        &["add", "b", "openai", "https://b"],
        &["remove", "0"],
        &["use", "0"],
        &["balance", "random"],
        &["key", "0", "add", KEY_A],
        &["map", "0", "set", "a", "b"],
    ];
    for (text, location) in broken {
        fs::write(&e.path, text).unwrap();
        for args in writes {
            let err = fails(&e.path, args, 1);
            assert!(
                err.contains(location) && err.contains("not changed"),
                "{args:?} on {text}: {err}"
            );
            assert_eq!(
                fs::read_to_string(&e.path).unwrap(),
                text,
                "{args:?} modified the file"
            );
        }
        let err = fails(&e.path, &["check"], 1);
        assert!(err.contains(location), "{err}");
    }
    // The syntax error is reported with line and column.
    fs::write(&e.path, broken[0].0).unwrap();
    let err = fails(&e.path, &["use", "0"], 1);
    assert!(err.contains("config.json:3:18"), "{err}");
}

#[test]
fn check_reports_every_problem_or_a_summary() {
    let e = env();
    assert!(ok(&e.path, &["check"]).contains("does not exist"));
    assert!(
        !e.path.exists(),
        "read-only commands do not create the file"
    );
    assert!(ok(&e.path, &["show"]).contains("No upstreams"));
    with_two(&e);
    let out = ok(&e.path, &["check"]);
    assert!(out.contains("is valid: 2 upstream(s), 2 key(s)"), "{out}");
    fs::write(
        &e.path,
        r#"{"upstream":[{"name":"a","baseUrl":"ftp://a","serviceType":"x","maxTokens":0},{"name":"A","baseUrl":"https://b","serviceType":"gemini"}],"loadBalance":"fastest"}"#,
    )
    .unwrap();
    let err = fails(&e.path, &["check"], 1);
    for needle in [
        "upstream[0].baseUrl",
        "upstream[0].serviceType",
        "upstream[0].maxTokens",
        "upstream[1].name",
        "loadBalance",
    ] {
        assert!(err.contains(needle), "missing {needle}: {err}");
    }
    assert!(err.contains("5 problem(s)"), "{err}");
}

#[cfg(unix)]
#[test]
fn new_files_are_private_and_modes_are_kept() {
    use std::os::unix::fs::PermissionsExt;
    let e = env();
    ok(
        &e.path,
        &["add", "a", "openai", "https://a", "--key", KEY_A],
    );
    assert_eq!(
        fs::metadata(&e.path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    fs::set_permissions(&e.path, fs::Permissions::from_mode(0o640)).unwrap();
    ok(&e.path, &["balance", "random"]);
    assert_eq!(
        fs::metadata(&e.path).unwrap().permissions().mode() & 0o777,
        0o640
    );
    // No temp files are left behind.
    let names: Vec<String> = fs::read_dir(e.path.parent().unwrap())
        .unwrap()
        .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n == "config.json" || n == "config.json.lock"),
        "{names:?}"
    );
}

#[test]
fn help_has_examples() {
    for args in [
        &["config", "--help"][..],
        &["config", "add", "--help"],
        &["config", "key", "--help"],
        &["config", "update", "--help"],
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success() && text.contains("Example"),
            "{args:?}: {text}"
        );
    }
}

#[test]
fn parallel_key_adds_all_land() {
    let e = env();
    ok(&e.path, &["add", "a", "openai", "https://a"]);
    const N: usize = 12;
    let children: Vec<_> = (0..N)
        .map(|i| {
            Command::new(BIN)
                .arg("--config")
                .arg(&e.path)
                .args(["config", "key", "0", "add", &format!("key-number-{i:02}")])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let keys = json(&e.path)["upstream"][0]["apiKeys"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(keys, N);
}

#[test]
fn readers_never_see_a_torn_file() {
    use claude_proxy::config::{parse_raw, store};
    let e = env();
    let big = |tag: &str| {
        let mut raw = claude_proxy::config::RawConfig::default();
        for i in 0..400 {
            raw.upstream.push(claude_proxy::config::raw::RawUpstream {
                name: format!("{tag}-{i}"),
                base_url: format!("https://{tag}{i}.example/v1"),
                api_keys: (0..5)
                    .map(|k| format!("sk-{tag}-{i}-{k}-{}", "x".repeat(40)))
                    .collect(),
                service_type: "openai".into(),
                ..Default::default()
            });
        }
        raw
    };
    let (a, b) = (big("a"), big("b"));
    store::save(&e.path, &a).unwrap();
    let path = e.path.clone();
    let writer = std::thread::spawn(move || {
        for n in 0..60 {
            store::save(&path, if n % 2 == 0 { &b } else { &a }).unwrap();
        }
    });
    let mut reads = 0;
    while !writer.is_finished() && reads < 5000 {
        let text = fs::read_to_string(&e.path).unwrap();
        let raw = parse_raw("c", &text).unwrap_or_else(|err| panic!("torn read: {err}"));
        assert_eq!(raw.upstream.len(), 400);
        reads += 1;
    }
    writer.join().unwrap();
    assert!(reads > 0);
    // The CLI reads what the library wrote.
    assert!(ok(&e.path, &["check"]).contains("400 upstream(s)"));
}

/// A writer killed at any moment leaves the old file or the new one, never a
/// torn one (the write goes to a temp file that is renamed into place).
#[test]
fn killed_writers_never_leave_a_torn_file() {
    let e = env();
    ok(
        &e.path,
        &["add", "big", "openai", "https://api.example.com/v1"],
    );
    // A large file makes each write take long enough to be interrupted.
    let keys: Vec<String> = (0..4000)
        .map(|i| format!("sk-bulk-{i:06}-xxxxxxxxxxxxxxxxxxxxxxxx"))
        .collect();
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&e.path)
        .args(["config", "key", "0", "add", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(keys.join("\n").as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    // How long one uninterrupted write takes here (debug build, busy CI):
    // the kills are spread over 0–150 % of it, so every stage gets hit.
    let timer = std::time::Instant::now();
    ok(
        &e.path,
        &["key", "0", "add", "sk-timing-run-zzzzzzzzzzzzzzzzzzzz"],
    );
    let full = timer.elapsed();
    let mut outcomes = std::collections::HashSet::new();
    for round in 0..30u32 {
        let before = fs::read(&e.path).unwrap();
        let new_key = format!("sk-round-{round:04}-yyyyyyyyyyyyyyyyyyyy");
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(&e.path)
            .args(["config", "key", "0", "add", &new_key])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill after a varying delay: before, during or after the write.
        std::thread::sleep(full * round / 20);
        let _ = child.kill();
        child.wait().unwrap();
        let after = fs::read(&e.path).unwrap();
        let v: Value = serde_json::from_slice(&after).expect("the file always parses");
        let has_new = v["upstream"][0]["apiKeys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == new_key.as_str());
        if after == before {
            outcomes.insert("old");
        } else {
            assert!(has_new, "changed file must be the complete new version");
            outcomes.insert("new");
        }
        // No temp files are left behind to confuse anyone.
        let leftovers: Vec<_> = fs::read_dir(e.path.parent().unwrap())
            .unwrap()
            .filter_map(|d| d.ok())
            .map(|d| d.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "config.json" && n != "config.json.lock")
            .collect();
        // A killed writer may leave its temp file; it must never be the config itself.
        for l in &leftovers {
            assert!(
                l.starts_with('.') || l.contains("tmp"),
                "unexpected file {l}"
            );
        }
    }
    assert!(
        outcomes.contains("new"),
        "some writes completed: {outcomes:?}"
    );
}

/// Three upstreams for the router tests: OpenAI, groq and a local one.
fn with_three(e: &Env) {
    with_two(e);
    ok(
        &e.path,
        &["add", "local", "openaiold", "http://localhost:11434/v1"],
    );
}

#[test]
fn router_set_unset_threshold_and_show() {
    let e = env();
    with_three(&e);
    let show = ok(&e.path, &["router"]);
    assert!(show.starts_with("No router"), "{show}");
    assert_eq!(
        ok(&e.path, &["router", "show"]),
        show,
        "show is the default"
    );

    let out = ok(&e.path, &["router", "set", "default", "GROQ"]);
    assert_eq!(out, "router.default: groq\n");
    ok(
        &e.path,
        &["router", "set", "background", "Local,qwen2.5-coder:7b"],
    );
    ok(
        &e.path,
        &[
            "router",
            "set",
            "THINK",
            "openai,o3",
            "groq,deepseek-r1",
            "local",
        ],
    );
    ok(
        &e.path,
        &["router", "set", "long-context", "openai,gpt-4.1"],
    );
    ok(&e.path, &["router", "set", "web_search", "openai"]);
    ok(&e.path, &["router", "set", "Image", "openai,gpt-4o"]);
    let out = ok(&e.path, &["router", "threshold", "100000"]);
    assert_eq!(out, "router.longContextThreshold: 100000 (was 60000)\n");
    let v = json(&e.path);
    assert_eq!(
        v["router"],
        serde_json::json!({
            "default": "groq",
            "background": "local,qwen2.5-coder:7b",
            "think": ["OpenAI,o3", "groq,deepseek-r1", "local"],
            "longContext": "OpenAI,gpt-4.1",
            "longContextThreshold": 100000,
            "webSearch": "OpenAI",
            "image": "OpenAI,gpt-4o"
        })
    );
    // The file keeps its format; the router comes after the other top-level fields.
    let text = fs::read_to_string(&e.path).unwrap();
    assert!(
        text.contains("\n  \"router\": {\n    \"default\": \"groq\",\n"),
        "{text}"
    );
    assert!(text.find("\"currentUpstream\"") < text.find("\"router\""));

    let out = ok(&e.path, &["router", "set", "think", "local"]);
    assert!(
        out.contains("(was OpenAI,o3 → groq,deepseek-r1 → local)"),
        "{out}"
    );
    assert_eq!(json(&e.path)["router"]["think"], "local");

    let show = ok(&e.path, &["router", "show"]);
    for line in [
        "  default:      groq\n",
        "  background:   local,qwen2.5-coder:7b\n",
        "  think:        local\n",
        "  longContext:  OpenAI,gpt-4.1  (above 100000 estimated input tokens)\n",
        "  webSearch:    OpenAI\n",
        "  image:        OpenAI,gpt-4o\n",
        "  rules:        none\n",
    ] {
        assert!(show.contains(line), "missing {line:?}:\n{show}");
    }
    let full = ok(&e.path, &["show"]);
    assert!(
        full.contains(&show),
        "config show prints the router:\n{full}"
    );
    let masked: Value = serde_json::from_str(&ok(&e.path, &["show", "--json"])).unwrap();
    assert_eq!(masked["router"]["default"], "groq");
    let check = ok(&e.path, &["check"]);
    assert!(
        check.contains(
            "router: default, background, think, longContext, webSearch, image; 0 rule(s)"
        ),
        "{check}"
    );

    let out = ok(&e.path, &["router", "unset", "default"]);
    assert!(out.contains("current upstream \"OpenAI\" again"), "{out}");
    assert!(json(&e.path)["router"].get("default").is_none());
    let err = fails(&e.path, &["router", "unset", "default"], 1);
    assert!(err.contains("router.default is not set"), "{err}");
    for s in ["background", "think", "longContext", "webSearch", "image"] {
        ok(&e.path, &["router", "unset", s]);
    }
    // Only the threshold is left, so the router stays.
    assert_eq!(
        json(&e.path)["router"],
        serde_json::json!({ "longContextThreshold": 100000 })
    );
}

#[test]
fn router_rules_add_list_remove() {
    let e = env();
    with_three(&e);
    assert!(ok(&e.path, &["router", "rule", "list"]).contains("No routing rules"));
    let out = ok(
        &e.path,
        &[
            "router",
            "rule",
            "add",
            "--model",
            "claude-opus-*",
            "--to",
            "OPENAI",
        ],
    );
    assert_eq!(out, "Added rule #0: model claude-opus-*: OpenAI\n");
    ok(
        &e.path,
        &[
            "router",
            "rule",
            "add",
            "--header",
            "X-Team=eu",
            "--header",
            "x-tier=a=b",
            "--to",
            "groq,llama-3.3-70b",
            "local",
        ],
    );
    ok(
        &e.path,
        &[
            "router", "rule", "add", "--to", "local", "--model", "*haiku*", "--at", "0",
        ],
    );
    assert_eq!(
        json(&e.path)["router"]["rules"],
        serde_json::json!([
            { "model": "*haiku*", "to": "local" },
            { "model": "claude-opus-*", "to": "OpenAI" },
            { "header": { "x-team": "eu", "x-tier": "a=b" }, "to": ["groq,llama-3.3-70b", "local"] }
        ])
    );
    let list = ok(&e.path, &["router", "rule", "ls"]);
    assert_eq!(
        list,
        "  0  model *haiku*: local\n  1  model claude-opus-*: OpenAI\n  2  header x-team=eu, header x-tier=a=b: groq,llama-3.3-70b → local\n"
    );
    assert!(ok(&e.path, &["router", "show"]).contains("    2  header x-team=eu"));

    let out = ok(&e.path, &["router", "rule", "remove", "0"]);
    assert!(
        out.contains("Removed rule #0: model *haiku*: local"),
        "{out}"
    );
    let err = fails(&e.path, &["router", "rule", "remove", "2"], 1);
    assert!(err.contains("no rule #2 (2 rule(s)"), "{err}");
    ok(&e.path, &["router", "rule", "rm", "1"]);
    let out = ok(&e.path, &["router", "rule", "remove", "0"]);
    assert!(out.contains("router is empty now"), "{out}");
    assert!(
        json(&e.path).get("router").is_none(),
        "an empty router is removed"
    );
}

#[test]
fn router_edits_refuse_bad_input_and_leave_the_file_alone() {
    let e = env();
    with_three(&e);
    ok(&e.path, &["router", "set", "think", "openai"]);
    let before = fs::read(&e.path).unwrap();
    let err = fails(
        &e.path,
        &["router", "set", "default", "groq", "deepseek,chat"],
        1,
    );
    assert_eq!(
        err.trim_end(),
        "error: target \"deepseek,chat\": no upstream is named \"deepseek\" (configured: OpenAI, groq, local)"
    );
    let err = fails(&e.path, &["router", "set", "image", "local,"], 1);
    assert!(
        err.contains("the model after \"local,\" must not be empty"),
        "{err}"
    );
    let err = fails(&e.path, &["router", "set", "thinking", "local"], 2);
    assert!(
        err.contains("unknown scenario \"thinking\" (expected one of: default, background, think, longContext, webSearch, image)"),
        "{err}"
    );
    fails(&e.path, &["router", "set", "think"], 2);
    fails(&e.path, &["router", "threshold", "0"], 2);
    fails(&e.path, &["router", "threshold", "-5"], 2);
    fails(&e.path, &["router", "threshold", "many"], 2);
    let err = fails(&e.path, &["router", "rule", "add", "--to", "local"], 2);
    assert!(err.contains("--model"), "{err}");
    fails(&e.path, &["router", "rule", "add", "--model", "x*"], 2);
    let err = fails(
        &e.path,
        &[
            "router", "rule", "add", "--header", "x-team", "--to", "local",
        ],
        2,
    );
    assert!(err.contains("expected NAME=VALUE"), "{err}");
    let err = fails(
        &e.path,
        &[
            "router", "rule", "add", "--model", "claude-[", "--to", "local",
        ],
        1,
    );
    assert!(err.contains("bad glob \"claude-[\""), "{err}");
    let err = fails(
        &e.path,
        &["router", "rule", "add", "--model", "x*", "--to", "nope"],
        1,
    );
    assert!(err.contains("no upstream is named \"nope\""), "{err}");
    let err = fails(
        &e.path,
        &[
            "router",
            "rule",
            "add",
            "--header",
            "bad name=v",
            "--to",
            "local",
        ],
        1,
    );
    assert!(err.contains("not a valid header name"), "{err}");
    let err = fails(
        &e.path,
        &[
            "router", "rule", "add", "--model", "x", "--to", "local", "--at", "3",
        ],
        1,
    );
    assert!(err.contains("0 to 0"), "{err}");
    let err = fails(&e.path, &["router", "rule", "remove", "0"], 1);
    assert!(err.contains("no routing rules"), "{err}");
    let err = fails(&e.path, &["router", "unset", "image"], 1);
    assert!(err.contains("router.image is not set"), "{err}");
    assert_eq!(fs::read(&e.path).unwrap(), before, "nothing was written");

    // Without any upstream, a target cannot name one and no file is created.
    let empty = env();
    let err = fails(&empty.path, &["router", "set", "default", "x"], 1);
    assert!(err.contains("no upstreams are configured"), "{err}");
    assert!(!empty.path.exists());
}

#[test]
fn remove_refuses_and_rename_follows_router_references() {
    let e = env();
    with_three(&e);
    ok(&e.path, &["router", "set", "default", "groq"]);
    ok(&e.path, &["router", "set", "think", "openai,o3", "groq,r1"]);
    ok(
        &e.path,
        &[
            "router", "rule", "add", "--model", "x*", "--to", "local", "GROQ",
        ],
    );
    let before = fs::read(&e.path).unwrap();
    let err = fails(&e.path, &["remove", "groq"], 1);
    assert!(
        err.contains(
            "cannot remove upstream #1 \"groq\": it is named at router.default, router.think[1], router.rules[0].to[1]"
        ),
        "{err}"
    );
    assert_eq!(fs::read(&e.path).unwrap(), before);

    let out = ok(&e.path, &["update", "groq", "--name", "groq-fast"]);
    assert!(
        out.contains(
            "now named \"groq-fast\" at: router.default, router.think[1], router.rules[0].to[1]"
        ),
        "{out}"
    );
    let v = json(&e.path);
    assert_eq!(v["upstream"][1]["name"], "groq-fast");
    assert_eq!(v["router"]["default"], "groq-fast");
    assert_eq!(
        v["router"]["think"],
        serde_json::json!(["OpenAI,o3", "groq-fast,r1"])
    );
    assert_eq!(
        v["router"]["rules"][0]["to"],
        serde_json::json!(["local", "groq-fast"])
    );
    assert!(ok(&e.path, &["check"]).contains("is valid"));
    let err = fails(&e.path, &["update", "local", "--name", "a,b"], 1);
    assert!(err.contains("must not contain a comma"), "{err}");

    // Once nothing names it, it can go.
    ok(&e.path, &["router", "unset", "default"]);
    ok(&e.path, &["router", "set", "think", "openai,o3"]);
    ok(&e.path, &["router", "rule", "remove", "0"]);
    ok(&e.path, &["remove", "groq-fast"]);
    assert_eq!(json(&e.path)["upstream"][1]["name"], "local");

    // `use` says when router.default overrides it.
    ok(&e.path, &["router", "set", "default", "local"]);
    let out = ok(&e.path, &["use", "openai"]);
    assert!(out.contains("router.default (local) decides"), "{out}");
}

#[test]
fn check_reports_a_bad_router_with_field_paths() {
    let e = env();
    fs::write(
        &e.path,
        r#"{
  "upstream": [
    {"name": "a", "baseUrl": "https://a", "serviceType": "openai", "apiKeys": ["k"],
     "circuitBreaker": {"failures": 0, "openMs": 2000, "maxOpenMs": 1000}}
  ],
  "router": {
    "default": "a",
    "think": ["a", "ghost"],
    "longContextThreshold": 0,
    "webserch": "a",
    "rules": [
      {"model": "claude-[", "to": "a"},
      {"header": {"x-team": "eu"}, "to": ["a", "ghost,m"]},
      {"to": "a"}
    ]
  }
}"#,
    )
    .unwrap();
    let before = fs::read(&e.path).unwrap();
    let err = fails(&e.path, &["check"], 1);
    for needle in [
        "upstream[0].circuitBreaker.failures: must be a positive integer, got 0",
        "upstream[0].circuitBreaker.maxOpenMs: must be at least openMs (2000), got 1000",
        "router.think[1]: no upstream is named \"ghost\" (configured: a)",
        "router.longContextThreshold: must be a positive integer, got 0",
        "router.webserch: unknown key (did you mean \"webSearch\"?)",
        "router.rules[0].model: bad glob \"claude-[\"",
        "router.rules[1].to[1]: no upstream is named \"ghost\"",
        "router.rules[2]: needs \"model\"",
    ] {
        assert!(err.contains(needle), "missing {needle}:\n{err}");
    }
    assert!(err.contains("8 problem(s)"), "{err}");
    // Every write is refused with the same problems; the file stays as it is.
    for args in [
        &["router", "set", "think", "a"][..],
        &["router", "threshold", "5"],
        &["router", "rule", "add", "--model", "x", "--to", "a"],
        &["key", "a", "add", KEY_A],
    ] {
        let err = fails(&e.path, args, 1);
        assert!(
            err.contains("router.think[1]") && err.contains("not changed"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(fs::read(&e.path).unwrap(), before);

    // A wrongly typed router field: line and column, then the rest.
    fs::write(
        &e.path,
        "{\n  \"upstream\": [],\n  \"router\": {\n    \"think\": [\"a\", 5],\n    \"image\": \"ghost\"\n  }\n}",
    )
    .unwrap();
    let err = fails(&e.path, &["check"], 1);
    assert!(
        err.contains("config.json:4:")
            && err.contains("router.think[1]: invalid type: integer `5`, expected a string"),
        "{err}"
    );
    assert!(
        err.contains("router.image: no upstream is named \"ghost\""),
        "{err}"
    );
    assert!(err.contains("2 problem(s)"), "{err}");
}

#[test]
fn update_sets_and_removes_circuit_breaker_values() {
    let e = env();
    with_two(&e);
    let out = ok(
        &e.path,
        &[
            "update",
            "groq",
            "--circuit-failures",
            "3",
            "--circuit-open-ms",
            "10000",
            "--circuit-max-open-ms",
            "120000",
        ],
    );
    assert!(out.contains("circuitBreaker.failures: 3"), "{out}");
    assert_eq!(
        json(&e.path)["upstream"][1]["circuitBreaker"],
        serde_json::json!({ "failures": 3, "openMs": 10000, "maxOpenMs": 120000 })
    );
    assert!(ok(&e.path, &["show"])
        .contains("  circuit:      opens after 3 failures, open 10000 ms, max open 120000 ms\n"));
    let before = fs::read(&e.path).unwrap();
    let err = fails(
        &e.path,
        &["update", "groq", "--circuit-max-open-ms", "5000"],
        1,
    );
    assert!(err.contains("must be at least openMs (10000)"), "{err}");
    fails(&e.path, &["update", "groq", "--circuit-failures", "-1"], 2);
    fails(
        &e.path,
        &["update", "groq", "--circuit-failures", "4294967296"],
        2,
    );
    assert_eq!(fs::read(&e.path).unwrap(), before);
    ok(
        &e.path,
        &[
            "update",
            "groq",
            "--circuit-failures",
            "0",
            "--circuit-open-ms",
            "0",
        ],
    );
    assert_eq!(
        json(&e.path)["upstream"][1]["circuitBreaker"],
        serde_json::json!({ "maxOpenMs": 120000 })
    );
    ok(&e.path, &["update", "groq", "--circuit-max-open-ms", "0"]);
    assert!(json(&e.path)["upstream"][1].get("circuitBreaker").is_none());
}

#[test]
fn router_help_has_examples() {
    for args in [
        &["config", "router", "--help"][..],
        &["config", "router", "set", "--help"],
        &["config", "router", "rule", "--help"],
        &["config", "router", "threshold", "--help"],
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success() && text.contains("Example"),
            "{args:?}: {text}"
        );
    }
    let out = Command::new(BIN).args(["--help"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("CIRCUIT_OPEN_MS"), "{text}");
}

#[test]
fn client_keys_are_printed_once_and_stored_as_digests() {
    let e = env();
    with_two(&e);
    let out = run(
        &e.path,
        &[
            "client",
            "add",
            "bob",
            "--upstreams",
            "groq",
            "--monthly-cost",
            "50",
            "--models",
            "claude-haiku-*",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    // stdout is the key alone, so KEY=$(claude-proxy config client add bob) works.
    let key = String::from_utf8(out.stdout).unwrap();
    let key = key.strip_suffix('\n').unwrap();
    assert!(key.starts_with("cp-") && key.len() == 46, "{key:?}");
    assert!(!key.contains(char::is_whitespace));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("client \"bob\" added"), "{stderr}");
    let text = fs::read_to_string(&e.path).unwrap();
    assert!(!text.contains(key), "the key itself is never written");
    let digest = claude_proxy::config::KeyDigest::of(key.as_bytes()).to_key_hash();
    let c = &json(&e.path)["clients"][0];
    assert_eq!(c["keyHash"], digest.as_str());
    assert_eq!(c["upstreams"], serde_json::json!(["groq"]));
    assert_eq!(c["monthlyCostUsd"], 50.0);

    // The listing names and limits, never a whole digest or the key.
    let list = ok(&e.path, &["client", "list"]);
    assert!(list.contains("bob  key sha256:"), "{list}");
    assert!(list.contains("upstreams: groq"), "{list}");
    assert!(list.contains("monthly cost US$50.00"), "{list}");
    assert!(
        !list.contains(&digest[7..30]) && !list.contains(key),
        "{list}"
    );

    // Rotate: a new key on stdout, a new digest in the file.
    let rotated = ok(&e.path, &["client", "rotate", "bob"]);
    let new_key = rotated.trim_end();
    assert_ne!(new_key, key);
    assert_eq!(
        json(&e.path)["clients"][0]["keyHash"],
        claude_proxy::config::KeyDigest::of(new_key.as_bytes())
            .to_key_hash()
            .as_str()
    );
    // Updates, refusals with their field, disable, remove.
    assert_eq!(
        ok(
            &e.path,
            &[
                "client",
                "update",
                "bob",
                "--rpm",
                "60",
                "--monthly-cost",
                "none"
            ]
        ),
        ""
    );
    let c = &json(&e.path)["clients"][0];
    assert_eq!(
        (c["rpm"].as_i64(), c.get("monthlyCostUsd")),
        (Some(60), None)
    );
    let err = fails(
        &e.path,
        &["client", "update", "bob", "--upstreams", "nope"],
        1,
    );
    assert!(
        err.contains("upstreams: no upstream is named \"nope\""),
        "{err}"
    );
    let err = fails(&e.path, &["client", "add", "bob"], 1);
    assert!(err.contains("exists already"), "{err}");
    let err = fails(&e.path, &["client", "add", "x", "--expires", "someday"], 1);
    assert!(
        err.contains("expires: \"someday\" is not an RFC 3339 date"),
        "{err}"
    );
    ok(&e.path, &["client", "disable", "bob"]);
    assert_eq!(json(&e.path)["clients"][0]["disabled"], true);
    ok(&e.path, &["client", "enable", "bob"]);
    ok(&e.path, &["client", "remove", "bob"]);
    assert!(json(&e.path).get("clients").is_none());
}
