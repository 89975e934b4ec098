//! The [`TraceContext`] extractor.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use octopus_core::ParentContext;
use octopus_core::opentelemetry::Context;
use octopus_core::opentelemetry::trace::{TraceContextExt, TraceId};

/// The request's trace context, for handlers that want it explicitly (to pass to a spawned
/// task, to a [`ParentContext`], or to log the trace id).
///
/// ```
/// use octopus_actix::TraceContext;
///
/// async fn handler(trace: TraceContext) -> String {
///     format!("trace {}", trace.trace_id())
/// }
/// # let _ = actix_web::web::get().to(handler);
/// ```
#[derive(Clone, Debug)]
pub struct TraceContext(Context);

impl TraceContext {
    /// The OpenTelemetry context: the server span and the inbound baggage.
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
}

impl FromRequest for TraceContext {
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Self, Self::Error>>;

    /// Extractors run inside the handler's future, which [`OctopusMiddleware`] polls with the
    /// request's context current: reading the current context costs nothing per request, where
    /// storing it in the request's extensions would allocate.
    ///
    /// [`OctopusMiddleware`]: crate::OctopusMiddleware
    fn from_request(_: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(TraceContext(Context::current())))
    }
}
