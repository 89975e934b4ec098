//! An HTTP/1 accept loop with graceful shutdown (hyper 1), for what has no server of its own:
//! Octopus's separate metrics listener, and frameworks whose own serve loop takes only their
//! own types (warp's takes filters, not the observed service).

use std::convert::Infallible;
use std::future::Future;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

/// Serves `handler` on `listener` until `shutdown` resolves, then stops accepting and waits for
/// the open connections to finish their requests (bound the wait with a timeout around this
/// future if you need to).
///
/// Accept errors (too many open files, a connection reset before it was accepted) are written
/// to stderr, prefixed with `name`, and serving goes on.
pub async fn serve_http1<F, Fut, B>(
    name: &str,
    listener: TcpListener,
    handler: F,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    F: Fn(http::Request<Incoming>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<http::Response<B>, Infallible>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        eprintln!("{name}: accept failed: {error}");
                        continue;
                    }
                };
                let handler = handler.clone();
                let connection = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(handler));
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    // A client that goes away mid-request is an ordinary end of a connection.
                    let _ = connection.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
