//! The listener: our own accept loop (TCP_NODELAY, a bounded read buffer
//! per connection) and graceful shutdown.

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

/// Accepts connections until `signal` resolves, then closes the listener
/// (new connections are refused) and waits for the open ones to finish.
/// Each connection's service sees the peer address as `ConnectInfo`.
async fn accept_loop(
    listener: TcpListener,
    app: Router,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;

    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().max_buf_size(MAX_CONN_READ_BUFFER);
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
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // A client that hangs up mid-request is routine, not an error.
            let _ = conn.await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
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
    let server = accept_loop(listener, app, signal);
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
