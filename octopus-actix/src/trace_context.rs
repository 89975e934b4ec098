//! The [`TraceContext`] extractor.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};

octopus_core::adapter_trace_context! {
    /// The request's trace context, for handlers that want it explicitly (to pass to a spawned
    /// task, to the traced client with [`parent`](octopus_core::TraceContext::parent), or to log
    /// the trace id). Dereferences to [`octopus_core::TraceContext`].
    ///
    /// ```
    /// use octopus_actix::TraceContext;
    ///
    /// async fn handler(trace: TraceContext) -> String {
    ///     format!("trace {}", trace.trace_id())
    /// }
    /// # let _ = actix_web::web::get().to(handler);
    /// ```
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
        ready(Ok(TraceContext(octopus_core::TraceContext::current())))
    }
}
