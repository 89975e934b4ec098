//! Octopus for axum 0.8 — and any tower service over `http::Request` (tonic, plain hyper).
//!
//! Two lines, as with the original plugins: build [`Octopus`] once, add the layer.
//!
//! ```
//! use axum::{Router, routing::get};
//! use octopus_axum::{OctopusLayer, metrics_router};
//! use octopus_core::{Octopus, OctopusConfig};
//!
//! # fn main() -> Result<(), octopus_core::ConfigError> {
//! let octopus = Octopus::new(OctopusConfig::prometheus(
//!     "users",
//!     ["latency", "request_count", "processing_requests"],
//! )?)?;
//! let app: Router = Router::new()
//!     .route("/hello/{name}", get(|| async { "hello" }))
//!     .merge(metrics_router(&octopus))          // GET /metrics
//!     .layer(OctopusLayer::new(octopus.clone())); // every route, with its template
//! // axum::serve(listener, app).await; then octopus.shutdown() to flush spans.
//! # Ok(()) }
//! ```
//!
//! One observer, any [`RequestObserver`](octopus_core::RequestObserver): [`Octopus`], your own, or
//! a stack of them — `OctopusLayer::new((octopus, access_log))` starts your observer after Octopus
//! (with the request's context, server span included) and ends it first; `OctopusLayer::new(())`
//! observes nothing.
//!
//! With other layers, add them in the same `layer` call — a tuple, outermost first, as
//! `.layer((OctopusLayer::new(octopus), CatchPanicLayer::new()))`, or a `tower::ServiceBuilder`:
//! every `Router::layer` call wraps each route in one more boxed service, which axum clones
//! and whose future it boxes on every request (two allocations). Under `wrk` on 2 cores the
//! axum demo with metrics served 0.926 / 0.937 of the uninstrumented demo's throughput with
//! two calls and 0.947 / 0.948 with one (2026-11-30, two runs of 10 and 12 rounds).
//!
//! axum clones each route's service for every request, and the observer with it: an owned
//! [`Octopus`] is then one reference-count increment per request on memory all worker threads
//! share; `OctopusLayer::new(&*Box::leak(Box::new(octopus)))` (a `&'static Octopus`, for an
//! instance that lives as long as the process) copies a pointer instead.
//!
//! What each request gets:
//! - the route template from axum's [`MatchedPath`] (`/hello/{name}`) as the `http_route` label
//!   and in the span name; requests that matched no route (404s) share one label value;
//! - the handler runs with the request's trace context current, so child spans and the traced
//!   client join the trace; handlers can also take it explicitly with the [`TraceContext`]
//!   extractor;
//! - a handler that panics is recorded as a 500 with an Error span — put
//!   `tower_http::catch_panic::CatchPanicLayer` inside this layer so the client gets a 500
//!   too; without it the panic still reaches hyper after being recorded;
//! - a request dropped before it ends (client gone, timeout) is recorded as cancelled: the
//!   in-flight gauge comes back down and its span ends.
//!
//! Latency and the span end when the handler returns the response head: a streaming body is
//! not included (the same as `tower-http`'s trace layer on-response).
//!
//! Body sizes (`request_size`, `response_size`): from the bodies' size hints (`Content-Length`,
//! a full body); a body of unknown length is wrapped in a [`CountedBody`], counted as it streams
//! and recorded at its end. Bodies that never end are not recorded. The inner service sees
//! `http::Request<axum::body::Body>` and the response body is a `Body`: axum's own body passes
//! through unchanged, without the allocation axum makes to box any other body type.
//!
//! [`CountedBody`]: octopus_core::body::CountedBody
//!
//! Outside axum, [`OctopusLayer`] wraps any `Service<http::Request<axum::body::Body>>` (a
//! service generic over its request body, as tonic's and most tower services are; the request's
//! own body type `B` only needs to be an `http_body::Body` of `Bytes`); without axum's
//! routing no template is known and requests share the unmatched label unless an inner
//! layer inserts a [`MatchedPath`]-like template — see [`RouteTemplate`].

#![warn(missing_docs)]

mod layer;
mod metrics;
mod trace_context;

pub use layer::{IntoAxumBody, OctopusLayer, OctopusService, ResponseFuture, RouteTemplate};
pub use metrics::{metrics_handler, metrics_router};
pub use trace_context::TraceContext;

pub use axum::extract::MatchedPath;
pub use octopus_core::Octopus;
