//! TLS upstreams for the tests: a fresh self-signed certificate for
//! 127.0.0.1 per server, any ALPN, and a Chat Completions mock behind it.

use std::sync::Arc;

use axum::http::StatusCode;

use super::mock::json_response;
use super::mock_openai::text_completion;

/// A TLS acceptor with a fresh self-signed certificate for 127.0.0.1,
/// offering the ALPN protocols `alpn`.
pub fn self_signed_acceptor(alpn: &[&[u8]]) -> tokio_rustls::TlsAcceptor {
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
    let mut config = config;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// Accepts TLS connections on a free loopback port with a fresh self-signed
/// certificate (ALPN `alpn`) and hands each to `serve`; returns the port.
pub async fn serve_tls<F, Fut>(alpn: &[&[u8]], serve: F) -> u16
where
    F: Fn(tokio_rustls::server::TlsStream<tokio::net::TcpStream>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let acceptor = self_signed_acceptor(alpn);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let serve = Arc::new(serve);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let serve = serve.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    serve(tls).await;
                }
            });
        }
    });
    port
}

/// Serves a Chat Completions answer over TLS (HTTP/1.1).
pub async fn spawn_tls_upstream() -> String {
    let app = axum::Router::new()
        .fallback(|| async { json_response(StatusCode::OK, text_completion("over tls")) });
    let port = serve_tls(&[], move |tls| {
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        async move {
            let _ =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
        }
    })
    .await;
    format!("https://127.0.0.1:{port}/v1")
}
