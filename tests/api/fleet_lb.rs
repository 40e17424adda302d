//! The fleet template for real: `deploy/nginx.conf` (the one
//! docker-compose.yml mounts, only its gateway addresses and port rewritten
//! to loopback) in front of two gateway instances that share a real
//! `redis-server`. Requests and streams pass through, spread over both
//! gateways, and the shared round-robin holds behind the balancer. Skipped,
//! saying why, where `nginx` is not installed (`.ci/run` installs it).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::common::mock_openai::{self, text_completion};
use crate::common::redis_server::RedisServer;
use crate::common::*;

/// nginx started by the test, stopped by its pid: SIGTERM, so that the
/// master stops its workers too (a SIGKILLed master leaves them running),
/// then SIGKILL if it has not exited within 5 s.
struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let exited = wait_until(Duration::from_secs(5), || {
            self.0.try_wait().is_ok_and(|s| s.is_some())
        });
        if !exited {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `NGINX`, else `nginx` on the PATH, else Debian's `/usr/sbin/nginx`.
fn nginx_binary() -> Option<String> {
    let candidates = match std::env::var("NGINX") {
        Ok(bin) => vec![bin],
        Err(_) => vec!["nginx".to_owned(), "/usr/sbin/nginx".to_owned()],
    };
    candidates.into_iter().find(|bin| {
        Command::new(bin)
            .arg("-v")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

#[tokio::test]
async fn the_compose_nginx_config_spreads_a_fleet_that_shares_its_state() {
    let Some(bin) = nginx_binary() else {
        println!("skipped: nginx is not installed here (`apt-get install nginx`; .ci/run does)");
        return;
    };
    let redis = RedisServer::start();
    let mock = spawn_mock(mock_openai::validate, |r| {
        if r.body["stream"] == json!(true) {
            Reply::sse(mock_openai::text_stream(&["via ", "nginx"]))
        } else {
            Reply::ok(text_completion("ok"))
        }
    })
    .await;
    let keys = ["sk-lb-aaaaaaaaaaaa0001", "sk-lb-bbbbbbbbbbbb0002"];
    let cfg = config_with(vec![upstream("oa", "openai", &mock.url(), &keys)]);
    let url = redis.url();
    let env = [("REDIS_URL", url.as_str()), ("REDIS_TIMEOUT_MS", "500")];
    let one = spawn_app(cfg.clone(), &env).await;
    let two = spawn_app(cfg, &env).await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            for app in [&one, &two] {
                if !app
                    .metrics()
                    .await
                    .contains("claude_proxy_shared_state_up 1")
                {
                    return false;
                }
            }
            true
        })
        .await
    );

    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let conf = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx.conf"))
        .unwrap()
        .replace("gateway-1:3000", &one.addr.to_string())
        .replace("gateway-2:3000", &two.addr.to_string())
        .replace("listen 8080;", &format!("listen 127.0.0.1:{port};"))
        .replace(
            "worker_processes auto;",
            &format!(
                "worker_processes 1;\npid {}/nginx.pid;\nerror_log stderr warn;",
                dir.path().display()
            ),
        )
        .replace(
            "http {",
            &format!(
                "http {{\n    access_log off;\n    client_body_temp_path {0}/body;\n    \
                 proxy_temp_path {0}/proxy;\n    fastcgi_temp_path {0}/fastcgi;\n    \
                 uwsgi_temp_path {0}/uwsgi;\n    scgi_temp_path {0}/scgi;",
                dir.path().display()
            ),
        );
    let conf_path = dir.path().join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let nginx = Nginx(
        Command::new(&bin)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    assert!(
        eventually(Duration::from_secs(10), || async {
            client
                .get(format!("{base}/health"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await,
        "nginx answers"
    );
    let start = mock.count();
    for _ in 0..8 {
        let resp = client
            .post(format!("{base}/v1/messages"))
            .header("x-api-key", ACCESS_KEY)
            .json(&hello())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let stream = client
        .post(format!("{base}/v1/messages"))
        .header("x-api-key", ACCESS_KEY)
        .json(&hello_stream())
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let msg = serde_json::to_value(accumulate(&read_sse(stream).await)).unwrap();
    assert_eq!(msg["content"][0]["text"], "via nginx");
    // Both gateways served (nginx spreads: each one's own request store
    // has rows), and the keys alternate strictly across them: the
    // round-robin turn is the fleet's.
    let stored = |app: &TestApp| {
        let req = app
            .client
            .get(app.url("/admin/api/requests?limit=50"))
            .header("x-api-key", ACCESS_KEY);
        async move {
            let v: serde_json::Value = req.send().await.unwrap().json().await.unwrap();
            v["data"].as_array().map_or(0, Vec::len)
        }
    };
    assert!(
        eventually(Duration::from_secs(5), || async {
            let (a, b) = (stored(&one).await, stored(&two).await);
            a >= 1 && b >= 1 && a + b == 9
        })
        .await,
        "both gateways served, 9 requests in all: {} and {}",
        stored(&one).await,
        stored(&two).await
    );
    let used: Vec<String> = mock.keys()[start..].to_vec();
    assert_eq!(used.len(), 9);
    for pair in used.windows(2) {
        assert_ne!(
            pair[0], pair[1],
            "keys alternate across the fleet: {used:?}"
        );
    }
    drop(nginx);
}
