//! Serving an observed filter: `warp::serve` takes only filters, so this is its counterpart for
//! services — the core's hyper 1 HTTP/1 connection loop, with graceful shutdown.

use std::convert::Infallible;
use std::future::Future;

use hyper::body::Incoming;
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
    octopus_core::serve::serve_http1(
        "octopus-warp",
        listener,
        move |request| service.clone().call(request),
        shutdown,
    )
    .await
}
