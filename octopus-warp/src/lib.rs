//! Octopus for warp 0.4.
//!
//! Two lines, as with the original plugins: build [`Octopus`] once, then observe your filter
//! and serve it. Routes name themselves with [`route`]; `/metrics` is a ready filter.
//!
//! ```
//! use octopus_core::{Octopus, OctopusConfig};
//! use warp::Filter;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let octopus = Octopus::new(OctopusConfig::prometheus(
//!     "users",
//!     ["latency", "request_count", "processing_requests"],
//! )?)?;
//! let hello = warp::path!("hello" / String)
//!     .and(octopus_warp::route("/hello/{name}")) // the label and span name
//!     .map(|name: String| format!("hello, {name}"));
//! let routes = hello.or(octopus_warp::metrics_filter(&octopus)); // GET /metrics
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let address = listener.local_addr()?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let service = octopus_warp::observe(octopus.clone(), warp::service(routes)); // metrics + spans
//! let server = tokio::spawn(octopus_warp::serve(listener, service, async {
//!     stopped.await.ok(); // your shutdown signal (SIGTERM, ...)
//! }));
//!
//! let body = reqwest::get(format!("http://{address}/hello/bob")).await?.text().await?;
//! assert_eq!(body, "hello, bob");
//! let metrics = reqwest::get(format!("http://{address}/metrics")).await?.text().await?;
//! assert!(metrics.contains(r#"http_route="/hello/{name}""#));
//!
//! stop.send(()).ok();
//! server.await??;
//! octopus.shutdown()?; // flush queued spans
//! # Ok(()) }
//! ```
//!
//! Why a service around `warp::service(filter)` and not a `Filter::with` wrapper like
//! `warp::log`: warp 0.4 seals both `Filter` and its wrapper trait, so a wrapper from outside
//! warp can only combine filters, and combinators never let it poll the inner filter's future.
//! Running the filter with the request's trace context current, and answering a panicking
//! handler with a 500, both need exactly that; a service can do both.
//!
//! One observer, any [`RequestObserver`]: [`Octopus`], your own, or
//! a stack of them — `octopus_warp::observe((octopus, access_log), service)` starts your observer
//! after Octopus (with the request's context, server span included) and ends it first;
//! `octopus_warp::observe((), service)` observes nothing.
//!
//! The serve loop clones the service for every request, and the observer with it: an owned
//! [`Octopus`] is then one reference-count increment per request on memory all worker threads
//! share; a `&'static Octopus` (`Box::leak`, for an instance that lives as long as the process)
//! copies a pointer instead.
//!
//! What each request gets:
//! - the name of the [`route`] that matched as the `http_route` label and in the span name;
//!   unnamed routes and unmatched requests (404s) share the unmatched label, never the raw path;
//! - the filter runs with the request's trace context current, so child spans and the traced
//!   client join the trace; [`trace_context`] extracts it for handlers that pass it on;
//! - rejections are recorded with the status of the reply they end as: warp's own (404, 405,
//!   …), or what your `recover` answers;
//! - a handler that panics is answered with a 500 and recorded with an Error span
//!   (`error.type=panic`); the server keeps serving;
//! - a request dropped before it ends (the client went away) is recorded as cancelled: the
//!   in-flight gauge comes back down and its span ends.
//!
//! [`serve`] serves as `warp::serve` does — HTTP/1 and HTTP/2, WebSocket upgrades — and closes
//! connections that take longer than 30 s to send a request head ([`serve_with`] sets another
//! limit). Read the client's address with [`remote`]: `warp::addr::remote()` is `None` there.
//!
//! The route is known only once the filter matched it, so the in-flight gauge counts a request
//! under the unmatched label while it runs. Latency and the span end when the filter's reply is
//! ready: a streaming body is not included.
//!
//! Body sizes (`request_size`, `response_size`): from the bodies' size hints; a request body of
//! unknown length is counted as the filter reads it (the filter's service receives
//! `CountedBody<B>`), a streamed reply as it is sent, and recorded at its end. Bodies that never
//! end (server-sent events, upgrades, a client gone) are not recorded.

#![warn(missing_docs)]

mod metrics;
mod route;
mod server;
mod service;
mod trace_context;

pub use metrics::metrics_filter;
pub use route::route;
pub use server::{remote, serve, serve_with};
pub use service::{OctopusService, ResponseFuture};
pub use trace_context::{TraceContext, trace_context};

pub use octopus_core::Octopus;
pub use octopus_core::ServeOptions;

use octopus_core::RequestObserver;

/// `service` — `warp::service(filter)` — observed by `observer`: the second of the quick
/// start's two lines. The observer is [`Octopus`], a stack (`(octopus, access_log)`), or `()`.
///
/// Serve it with [`serve`]: that is where upgrades (`warp::ws()`), HTTP/2 and the header read
/// timeout come from. `warp::addr::remote()` yields `None` under it (warp fills it only in its
/// own server); [`remote`] yields the client's address.
pub fn observe<O: RequestObserver, S>(observer: O, service: S) -> OctopusService<S, O> {
    OctopusService::new(observer, service)
}
