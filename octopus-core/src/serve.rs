//! An accept loop with graceful shutdown (hyper 1), for what has no server of its own:
//! Octopus's separate metrics listener, and frameworks whose own serve loop takes only their
//! own types (warp's takes filters, not the observed service).
//!
//! It serves the way warp's and axum's own loops do, so adopting Octopus changes nothing a
//! client sees: HTTP/1 and HTTP/2 on one port (hyper-util's auto builder: HTTP/2 with prior
//! knowledge, as gRPC clients and proxies speak it without TLS), protocol upgrades (WebSocket),
//! and a pause after accept errors. Unlike theirs, it also bounds how long a client may take to
//! send a request head ([`ServeOptions::header_read_timeout`]).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// hyper's own default for HTTP/1 header reads, which it applies only when given a timer.
const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The pause after an accept error that is not one connection's (see [`accept_backoff`]): what
/// hyper 0.14's server and warp do.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_secs(1);

/// How the metrics listener ([`Octopus::serve_metrics_with`](crate::Octopus::serve_metrics_with))
/// and octopus-warp's `serve_with` treat connections.
///
/// ```
/// use std::time::Duration;
///
/// let options = octopus_core::ServeOptions::new()
///     .header_read_timeout(Duration::from_secs(10));
/// # let _ = options;
/// ```
#[derive(Clone, Debug)]
pub struct ServeOptions {
    header_read_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
        }
    }
}

impl ServeOptions {
    /// The defaults: a 30 s header read timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long a client may take to send a request head (default 30 s, hyper's): a new
    /// connection its first request's (whether HTTP/1 or HTTP/2), an HTTP/1 keep-alive
    /// connection each next one, counted from the end of the previous response. A connection
    /// that takes longer — idle, or sending half a request — is closed, so slow or stalled
    /// clients cannot hold connections (and file descriptors) forever. Once an HTTP/2
    /// connection has sent a request, its streams are HTTP/2's own business.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }
}

/// The peer address of the connection a request came on: [`serve`] inserts it into every
/// request's extensions (`request.extensions().get::<RemoteAddr>()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteAddr(pub SocketAddr);

/// Serves `handler` on `listener` until `shutdown` resolves, then stops accepting and waits for
/// the open connections to finish their requests (bound the wait with a timeout around this
/// future if you need to). Upgraded connections (WebSocket) are the handler's from the moment
/// it answered 101, and are not waited for.
///
/// Accept errors of one connection (reset or aborted before it was accepted) are skipped. Any
/// other (too many open files, out of memory) is written to stderr, prefixed with `name`, once,
/// and accepting pauses for a second: retrying at once would fail the same way, spinning a core
/// and flooding the log, while the pause lets open connections finish and free descriptors.
/// Serving goes on either way: this returns `Ok` once `shutdown` resolved and the connections
/// finished.
pub async fn serve<F, Fut, B>(
    name: &str,
    listener: TcpListener,
    handler: F,
    options: &ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    F: Fn(http::Request<Incoming>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<http::Response<B>, Infallible>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper enforces the header read timeout only with a timer to measure it.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let header_read_timeout = options.header_read_timeout;
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    if let Some(pause) = accept_backoff(&error) {
                        eprintln!(
                            "{name}: accept failed: {error}; retrying in {} s",
                            pause.as_secs()
                        );
                        tokio::select! {
                            () = tokio::time::sleep(pause) => {}
                            () = &mut shutdown => break,
                        }
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Signalled by every request; the connection task waits for the first.
        let requested = Arc::new(Notify::new());
        let service = {
            let handler = handler.clone();
            let requested = requested.clone();
            service_fn(move |mut request: http::Request<Incoming>| {
                requested.notify_one();
                request.extensions_mut().insert(RemoteAddr(remote));
                handler(request)
            })
        };
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let mut connection = pin!(connection);
            // hyper's HTTP/1 timer starts only once the auto builder has seen the first bytes
            // and chosen the protocol, and HTTP/2 has none: without this, a client that
            // connects and sends nothing (or half the HTTP/2 preface) holds the connection
            // forever. Dropping the connection before any request started loses nothing.
            tokio::select! {
                // A client that goes away mid-request is an ordinary end of a connection.
                _ = &mut connection => return,
                first = tokio::time::timeout(header_read_timeout, requested.notified()) => {
                    if first.is_err() {
                        return;
                    }
                }
            }
            let _ = connection.await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// How long to pause accepting after `error`: not at all for an error of one connection (it
/// was refused, reset or aborted before it was accepted; the next one is unaffected), a second
/// for the rest, which are the process's or the system's (out of file descriptors or memory)
/// and would fail again at once.
fn accept_backoff(error: &io::Error) -> Option<Duration> {
    match error.kind() {
        io::ErrorKind::ConnectionRefused
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset => None,
        _ => Some(ACCEPT_ERROR_BACKOFF),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_beyond_one_connection_pause_accepting() {
        for kind in [
            io::ErrorKind::ConnectionRefused,
            io::ErrorKind::ConnectionAborted,
            io::ErrorKind::ConnectionReset,
        ] {
            assert_eq!(accept_backoff(&io::Error::from(kind)), None, "{kind:?}");
        }
        // EMFILE, ENFILE, ENOMEM, ENOBUFS as the OS reports them.
        for errno in [24, 23, 12, 105] {
            assert_eq!(
                accept_backoff(&io::Error::from_raw_os_error(errno)),
                Some(Duration::from_secs(1)),
                "errno {errno}"
            );
        }
    }
}
