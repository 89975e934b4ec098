//! The [`TraceContext`] request guard.

use std::convert::Infallible;
use std::future::Future;

use octopus_core::ParentContext;
use octopus_core::opentelemetry::Context;
use octopus_core::opentelemetry::context::{FutureExt as _, WithContext};
use octopus_core::opentelemetry::trace::{TraceContextExt, TraceId};
use rocket::Request;
use rocket::request::{FromRequest, Outcome};

use crate::fairing::RequestState;

/// The request's trace context: the server span and the inbound baggage.
///
/// Rocket handlers do not run with it current (see the crate docs); take this guard to pass
/// it on.
///
/// ```
/// use octopus_rocket::TraceContext;
///
/// #[rocket::get("/whoami")]
/// fn whoami(trace: TraceContext) -> String {
///     format!("trace {}", trace.trace_id())
/// }
/// ```
#[derive(Clone, Debug)]
pub struct TraceContext(Context);

impl TraceContext {
    /// The OpenTelemetry context.
    pub fn context(&self) -> &Context {
        &self.0
    }

    /// The trace id (all zeros when the request is not traced).
    pub fn trace_id(&self) -> TraceId {
        self.0.span().span_context().trace_id()
    }

    /// The context as the traced client's explicit parent:
    /// `client.get(url).with_extension(trace.parent())`.
    pub fn parent(&self) -> ParentContext {
        ParentContext(self.0.clone())
    }

    /// Runs `future` with this context current, so child spans and traced-client calls inside
    /// it join the request's trace without being handed the context.
    pub fn in_scope<F: Future>(&self, future: F) -> WithContext<F> {
        future.with_context(self.0.clone())
    }
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
        Outcome::Success(TraceContext(state.context().clone()))
    }
}
