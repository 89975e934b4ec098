//! Octopus for actix-web 4.
//!
//! Two lines, as with the original plugins: build [`Octopus`] once — outside the
//! `HttpServer::new` closure, which runs once per worker — then wrap the app and mount
//! `/metrics`.
//!
//! ```
//! use actix_web::{App, HttpServer, web};
//! use octopus_actix::{OctopusMiddleware, metrics_resource};
//! use octopus_core::{Octopus, OctopusConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let octopus = Octopus::new(OctopusConfig::prometheus(
//!     "users",
//!     ["latency", "request_count", "processing_requests"],
//! )?)?;
//! let server = HttpServer::new({
//!     let octopus = octopus.clone();
//!     move || {
//!         App::new()
//!             .route("/hello/{name}", web::get().to(|| async { "hello" }))
//!             .service(metrics_resource(&octopus))        // GET /metrics
//!             .wrap(OctopusMiddleware::new(octopus.clone())) // every route, with its template
//!     }
//! })
//! .workers(1)
//! .bind(("127.0.0.1", 0))?;
//! // server.run().await?; then octopus.shutdown() to flush queued spans.
//! # drop(server);
//! # Ok(()) }
//! ```
//!
//! One observer, any [`RequestObserver`](octopus_core::RequestObserver): [`Octopus`], your own, or
//! a stack of them — `OctopusMiddleware::new((octopus, access_log))` starts your observer after
//! Octopus (with the request's context, server span included) and ends it first;
//! `OctopusMiddleware::new(())` observes nothing.
//!
//! What each request gets:
//! - the route template from actix's `match_pattern()` (`/hello/{name}`, scopes included) as
//!   the `http_route` label and in the span name; requests that matched no resource (404s)
//!   share one label value. It is matched before routing, so only for an observer that reads
//!   it ([`uses_route`](octopus_core::RequestObserver::uses_route)): `()` and an [`Octopus`]
//!   with no metrics and no tracing skip the second match. Each worker remembers the template
//!   of the last 512 or so paths it saw (up to 128 bytes long), so a repeated path is not
//!   matched again;
//! - the handler runs with the request's trace context current, so child spans and the traced
//!   client join the trace; handlers can also take it explicitly with the [`TraceContext`]
//!   extractor;
//! - a handler error (`Err(actix_web::Error)`, whether the handler's own or a middleware's) is
//!   recorded with the status of the response actix renders for it;
//! - a handler that panics is recorded as a 500 with an Error span, and the middleware answers
//!   500 instead of letting the panic take the worker down;
//! - a request whose future is dropped before it ends is recorded as cancelled: the in-flight
//!   gauge comes back down and its span ends (`octopus.cancelled=true`).
//!
//! When does actix drop a request's future? Over HTTP/1, actix-web by default lets a client
//! half-close its connection and still wait for the response
//! (`HttpServer::h1_allow_half_closed(true)`), so a client that hangs up does not stop the
//! handler: the request stays in flight until the handler returns and is then recorded with
//! its status. With `HttpServer::h1_allow_half_closed(false)` actix drops the request as soon as
//! it reads the client's EOF, and Octopus records it as cancelled at once — what the demo does.
//!
//! Latency and the span end when the handler returns the response head, as in every Octopus
//! adapter: the time spent streaming a body to the client is not included. (actix-web-prom
//! measures to the last body byte; for a streaming response the two differ by the streaming
//! time, for an ordinary one by the time to write it to the socket.)
//!
//! Body sizes (`request_size`, `response_size`): a request's from `Content-Length` (0 when it
//! has no payload), a response's from its `MessageBody::size()`. When unknown and recorded, a
//! chunked request's payload is replaced by a counted one as the handler reads it, and a
//! streamed response body is counted in its [`CountedMessageBody`] (the middleware's response
//! body type); both are recorded at the end of the stream, never for a body that does not end.

#![warn(missing_docs)]

mod body;
mod header_map;
mod metrics;
mod middleware;
mod route_cache;
mod trace_context;

pub use body::CountedMessageBody;
pub use header_map::ActixHeaders;
pub use metrics::{metrics_handler, metrics_resource};
pub use middleware::{OctopusMiddleware, OctopusMiddlewareService, ResponseFuture};
pub use trace_context::TraceContext;

pub use octopus_core::Octopus;
