//! `insecureSkipVerify`: an upstream with a self-signed certificate is
//! refused by default and reached when the flag is set for that upstream.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::json;

use crate::common::mock_openai::text_completion;
use crate::common::*;

/// Serves `app` over TLS with a fresh self-signed certificate for 127.0.0.1.
async fn spawn_tls_upstream() -> String {
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let key =
        tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .fallback(|| async { json_response(StatusCode::OK, text_completion("over tls")) });
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
            });
        }
    });
    format!("https://127.0.0.1:{}/v1", addr.port())
}

#[tokio::test]
async fn self_signed_upstream_needs_insecure_skip_verify() {
    let url = spawn_tls_upstream().await;
    let strict = upstream("strict", "openai", &url, &["k"]);
    let mut lax = upstream("lax", "openai", &url, &["k"]);
    lax["insecureSkipVerify"] = json!(true);

    let app = spawn_app(
        json!({"upstream": [strict.clone(), lax.clone()], "currentUpstream": 0}),
        &[],
    )
    .await;
    let resp = app.messages(&hello()).await;
    assert!(
        resp.status().is_server_error(),
        "certificate must be checked by default"
    );

    let app = spawn_app(
        json!({"upstream": [strict, lax], "currentUpstream": 1}),
        &[],
    )
    .await;
    let resp = app.messages(&hello()).await;
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["content"][0]["text"], "over tls");
}
