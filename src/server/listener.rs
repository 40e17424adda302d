//! The listener: our own accept loop and graceful shutdown. Hostile or slow
//! clients stay harmless: each connection reads into a bounded buffer
//! (which also caps the request head's size), has a bounded number of
//! headers, must send its headers within `HEADER_READ_TIMEOUT` (also the
//! idle limit between requests on a kept-alive connection), and at most
//! `MAX_CONNECTIONS` are open at once.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;

use super::state::AppState;

/// Largest read buffer of a client connection. hyper grows a connection's
/// buffer to fit what arrives (up to ~400 KB) and, while a response is
/// pending, keeps reading into a buffer of that size to notice a client that
/// hangs up: a 55 KB Claude Code body left ~100 KB per connection held for as
/// long as the upstream took to answer. Larger bodies take more reads.
const MAX_CONN_READ_BUFFER: usize = 8 * 1024;
/// Most headers one request may carry (Claude Code sends about 20).
const MAX_HEADERS: usize = 100;
/// Longest a refused connection's 503 may take to write.
const REFUSAL_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Limits of the accept loop, from the settings.
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_connections: usize,
    header_read_timeout: std::time::Duration,
}

/// Accepts connections until `signal` resolves, then closes the listener
/// (new connections are refused) and waits for the open ones to finish.
/// Each connection's service sees the peer address as `ConnectInfo`.
async fn accept_loop(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;

    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .max_buf_size(MAX_CONN_READ_BUFFER)
        .max_headers(MAX_HEADERS)
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let connections = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(signal);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of descriptors or similar: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        // Small SSE writes must leave at once: with Nagle's algorithm on, a
        // write that follows an unacknowledged one waits for the client's
        // delayed ACK (40 ms on Linux).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                let mut app = app.clone();
                async move {
                    use tower::Service;
                    app.call(req.map(axum::body::Body::new)).await
                }
            });
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        // A client that hangs up mid-request is routine, not an error. (A
        // map, not `async move { conn.await; … }`: such a block keeps the
        // 1.7 KB connection future twice, as the captured value and as the
        // awaited one, for every open connection.)
        let conn = futures_util::FutureExt::map(graceful.watch(conn), move |_| drop(permit));
        tokio::spawn(conn);
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Answers a connection beyond `MAX_CONNECTIONS` with a 503 in Anthropic's
/// error shape and closes it, without reading what it sent.
async fn refuse(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    let body = crate::error::ApiError::overloaded(
        "the proxy is at its limit of open connections (MAX_CONNECTIONS); retry shortly",
    )
    .body();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, write).await;
}

/// Serves until `shutdown` resolves, then stops accepting (the listener is
/// closed, so new connections are refused) and lets running requests finish
/// for up to `SHUTDOWN_TIMEOUT`; after that it returns anyway.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The tokenizer tables (~40 MB) are built on the first count_tokens
    // request, on the blocking pool: a proxy nobody asks to count stays small.
    let deadline = state.settings.shutdown_timeout;
    // Client budgets continue from what the store holds; the first requests
    // wait for that a moment (the store opens in milliseconds), not longer.
    let seeding = tokio::spawn({
        let state = state.clone();
        async move { state.seed_client_meters().await }
    });
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), seeding).await;
    let app = super::router::router(state.clone());
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let store = state.store.clone();
    let signal = async move {
        shutdown.await;
        // Live feeds never end by themselves; they must not hold shutdown
        // up until SHUTDOWN_TIMEOUT.
        store.close_live();
        let _ = signalled_tx.send(());
    };
    let limits = Limits {
        max_connections: state.settings.max_connections,
        header_read_timeout: state.settings.header_read_timeout,
    };
    let server = accept_loop(listener, app, limits, signal);
    // Resolves only once the signal came and the deadline passed.
    let give_up = async move {
        if signalled_rx.await.is_err() {
            // The server ended before any signal: nothing to wait for.
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(deadline).await;
    };
    tokio::select! {
        done = server => done,
        () = give_up => {
            let running = state.running();
            tracing::warn!(
                running_requests = running,
                timeout_ms = deadline.as_millis() as u64,
                "SHUTDOWN_TIMEOUT passed with requests still running; exiting anyway"
            );
            Ok(())
        }
    }
}
