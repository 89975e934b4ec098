//! The [`TraceContext`] request guard.

use std::convert::Infallible;

use rocket::Request;
use rocket::request::{FromRequest, Outcome};

use crate::fairing::RequestState;

octopus_core::adapter_trace_context! {
    /// The request's trace context: the server span and the inbound baggage.
    ///
    /// Rocket handlers do not run with it current (see the crate docs); take this guard to pass
    /// it on. Dereferences to [`octopus_core::TraceContext`] (`trace_id()`, `parent()` for the
    /// traced client, `in_scope(future)`).
    ///
    /// ```
    /// use octopus_rocket::TraceContext;
    ///
    /// #[rocket::get("/whoami")]
    /// fn whoami(trace: TraceContext) -> String {
    ///     format!("trace {}", trace.trace_id())
    /// }
    /// ```
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for TraceContext {
    type Error = Infallible;

    /// The context the [`OctopusFairing`](crate::OctopusFairing) started, or the current one
    /// when the fairing is not attached. Guards run after routing, so this also tells the
    /// fairing the route early: the in-flight gauge then carries it.
    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Infallible> {
        let state = request.local_cache(RequestState::absent);
        if let Some(route) = request.route() {
            state.set_route(route);
        }
        Outcome::Success(TraceContext(octopus_core::TraceContext::new(
            state.context().clone(),
        )))
    }
}
