//! Serving an observed filter: `warp::serve` takes only filters, so this is its counterpart for
//! services — the core's accept loop (`octopus_core::serve`), which serves as warp's does.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;

use hyper::body::Incoming;
use octopus_core::ServeOptions;
use octopus_core::serve::RemoteAddr;
use tokio::net::TcpListener;
use tower_service::Service;
use warp::Filter;

/// Serves `service` on `listener` until `shutdown` resolves, then stops accepting and waits
/// for the open connections to finish their requests (bound the wait with a timeout around
/// this future if you need to). [`serve_with`] with the default [`ServeOptions`].
///
/// As `warp::serve` does: HTTP/1 and HTTP/2 (prior knowledge) on the one port; upgrades, so
/// `warp::ws()` routes work; after an accept error that is not one connection's (too many open
/// files), one line on stderr and a second's pause before accepting again. Beyond it: a client
/// has 30 s to send a request head, or its connection is closed.
///
/// `warp::addr::remote()` yields `None` here: warp fills it only in its own server, from a type
/// it keeps private. Use [`remote`] instead, which yields the peer address under this server,
/// and warp's when the filter runs under `warp::test`.
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
    serve_with(listener, service, &ServeOptions::default(), shutdown).await
}

/// [`serve`] with `options`: a shorter or longer header read timeout.
///
/// ```
/// use std::time::Duration;
///
/// # async fn run(octopus: octopus_core::Octopus) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let service = octopus_warp::observe(octopus, warp::service(warp::any().map(|| "ok")));
/// let options = octopus_warp::ServeOptions::new().header_read_timeout(Duration::from_secs(5));
/// octopus_warp::serve_with(listener, service, &options, std::future::pending()).await
/// # }
/// # use warp::Filter;
/// ```
pub async fn serve_with<S, B>(
    listener: TcpListener,
    service: S,
    options: &ServeOptions,
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
    octopus_core::serve::serve(
        "octopus-warp",
        listener,
        move |request| service.clone().call(request),
        options,
        shutdown,
    )
    .await
}

/// The client's address, like `warp::addr::remote()`, for filters served by [`serve`]: the
/// peer address of the connection, which the serve loop puts in each request's extensions.
/// Under `warp::test` (whose `remote_addr` sets warp's own), warp's. `None` when neither is
/// there: another server, or a request built by hand.
///
/// ```
/// use std::net::SocketAddr;
/// use warp::Filter;
///
/// let whoami = warp::path!("whoami")
///     .and(octopus_warp::remote())
///     .map(|peer: Option<SocketAddr>| format!("{peer:?}"));
/// # let _ = whoami;
/// ```
pub fn remote() -> impl Filter<Extract = (Option<SocketAddr>,), Error = Infallible> + Copy {
    warp::ext::optional::<RemoteAddr>()
        .and(warp::addr::remote())
        .map(|ours: Option<RemoteAddr>, warps: Option<SocketAddr>| {
            ours.map(|RemoteAddr(peer)| peer).or(warps)
        })
}
