//! Serving an observed filter: `warp::serve` takes only filters, so this is its counterpart for
//! services — the same hyper 1 HTTP/1 connection loop, with graceful shutdown.

use std::convert::Infallible;
use std::future::Future;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower_service::Service;

/// Serves `service` on `listener` until `shutdown` resolves, then stops accepting and waits
/// for the open connections to finish their requests (bound the wait with a timeout around
/// this future if you need to).
///
/// Accept errors (too many open files, a connection reset before it was accepted) are written
/// to stderr and serving goes on.
pub async fn serve<S, B>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    S: Service<http::Request<Incoming>, Response = http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
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
                        eprintln!("octopus-warp: accept failed: {error}");
                        continue;
                    }
                };
                let service = service.clone();
                let connection = http1::Builder::new().serve_connection(
                    TokioIo::new(stream),
                    service_fn(move |request| service.clone().call(request)),
                );
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
