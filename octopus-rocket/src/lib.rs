//! Octopus for rocket 0.5.
//!
//! Two lines, as with the original plugins: build [`Octopus`] once, attach the fairing and
//! mount `GET /metrics`.
//!
//! ```
//! use octopus_core::{Octopus, OctopusConfig};
//! use octopus_rocket::{OctopusFairing, metrics_route};
//!
//! #[rocket::get("/hello/<name>")]
//! fn hello(name: &str) -> String {
//!     format!("hello, {name}")
//! }
//!
//! # fn main() -> Result<(), octopus_core::ConfigError> {
//! let octopus = Octopus::new(OctopusConfig::prometheus(
//!     "users",
//!     ["latency", "request_count", "processing_requests"],
//! )?)?;
//! let rocket = rocket::build()
//!     .mount("/", rocket::routes![hello])
//!     .mount("/", vec![metrics_route(&octopus)])    // GET /metrics
//!     .attach(OctopusFairing::new(octopus.clone())); // every route, with its template
//! // To stack your own observer after Octopus: OctopusFairing::new((octopus, access_log)).
//! // rocket.launch().await; then octopus.shutdown() to flush queued spans.
//! # drop(rocket);
//! # Ok(()) }
//! ```
//!
//! One observer, any [`RequestObserver`](octopus_core::RequestObserver): [`Octopus`], your own, or
//! a stack of them — `OctopusFairing::new((octopus, access_log))` starts your observer after
//! Octopus (with the request's context, server span included) and ends it first;
//! `OctopusFairing::new(())` observes nothing.
//!
//! What each request gets:
//! - the matched route's URI (`/hello/<name>`, with its mount point) as the `http_route` label
//!   and in the span name; requests no route answered (404s) share one label value;
//! - forwards, catchers and errors are recorded with the status of the response finally sent;
//!   a handler that panics — rocket catches it and answers 500 — is a 500 with an Error span
//!   (`error.type=500`: rocket does not tell fairings that the 500 came from a panic);
//! - a request dropped before its response is recorded as cancelled: the in-flight gauge comes
//!   back down and its span ends (`octopus.cancelled=true`). Rocket drops a request when its
//!   connection fails or the shutdown grace period runs out; over HTTP/1 it does not notice a
//!   client that hung up until it writes the response, so that request is recorded when its
//!   handler returns.
//!
//! Body sizes (`request_size`, `response_size`): a response's from its sized body, a streamed
//! one counted as rocket sends it and recorded at its end (never for a stream that does not
//! end). A request's from `Content-Length`; without TLS (HTTP/1: rocket speaks HTTP/2 only over
//! TLS) 0 with neither a length nor chunks. Rocket hands the request body to handlers only,
//! never to fairings, so a **chunked request body is not recorded**.
//!
//! # The trace context in handlers
//!
//! A fairing sees a request before and after its handler, but cannot wrap the handler's
//! future, so the request's context is **not** current inside a rocket handler: child spans and
//! traced-client calls must be given it. Take the [`TraceContext`] request guard:
//!
//! ```
//! use octopus_core::client::TracedClient;
//! use octopus_rocket::TraceContext;
//!
//! #[rocket::get("/call")]
//! async fn call(trace: TraceContext, client: &rocket::State<TracedClient>) -> String {
//!     // The client span is a child of this request's server span.
//!     let response = client
//!         .get("http://127.0.0.1:9/")
//!         .with_extension(trace.parent())
//!         .send()
//!         .await;
//!     format!("{}", response.is_ok())
//! }
//! ```
//!
//! or run work with it current: `trace.in_scope(async { ... }).await`.
//!
//! Rocket routes the request after the request fairings ran, so the route is known when the
//! response comes back — or earlier, when a handler takes the [`TraceContext`] guard. Until then
//! `http_server_active_requests` counts the request under the unmatched label. Latency and the
//! span end at the response fairing, before the body is written to the client.

#![warn(missing_docs)]

mod fairing;
mod headers;
mod metrics;
mod trace_context;

pub use fairing::OctopusFairing;
pub use headers::RocketHeaders;
pub use metrics::{MetricsHandler, metrics_route};
pub use trace_context::TraceContext;

pub use octopus_core::Octopus;
