//! Spans from the `tracing` crate as children of the request's server span (cargo feature
//! `tracing`).
//!
//! Most Rust code is instrumented with the `tracing` crate (`#[tracing::instrument]`,
//! `info_span!`), not with OpenTelemetry's API. [`Octopus::tracing_layer`] is the bridge: a
//! `tracing-opentelemetry` layer over Octopus's *own* tracer provider, so those spans are
//! sampled, batched, exported and flushed with the server spans, and need no global provider.
//!
//! Every adapter except rocket polls the handler with the request's OpenTelemetry context
//! current; the layer parents a new root `tracing` span on that current context, so a span
//! opened anywhere inside a handler becomes a child of the request's server span, and spans
//! opened inside it become its children. Rocket handlers do not run with the context current:
//! take the `octopus_rocket::TraceContext` guard and open the spans inside its
//! `in_scope(future)`, or give a span its parent explicitly with
//! [`OpenTelemetrySpanExt::set_parent`](tracing_opentelemetry::OpenTelemetrySpanExt::set_parent)
//! and run the work with `tracing::Instrument`.

use opentelemetry::InstrumentationScope;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracer;
use tracing::Subscriber;
use tracing_subscriber::registry::LookupSpan;

use crate::Octopus;

/// The layer [`Octopus::tracing_layer`] returns, named so applications can store it or name it
/// in a function's signature without depending on `tracing-opentelemetry` themselves.
pub type TracingLayer<S> = tracing_opentelemetry::OpenTelemetryLayer<S, SdkTracer>;

/// The instrumentation scope of the spans made from `tracing` spans: distinct from the server
/// spans' `octopus`, so a backend can tell the application's own spans from Octopus's.
const SCOPE: &str = "tracing";

impl Octopus {
    /// A `tracing-subscriber` layer that turns `tracing` spans into OpenTelemetry spans of this
    /// instance's tracer provider, or `None` when tracing is off.
    ///
    /// It uses Octopus's provider rather than a global one so the spans share the server spans'
    /// sampler, resource (`service.name`), exporter and [`shutdown`](Octopus::shutdown) flush;
    /// two instances in one process stay apart. A `None` is itself a layer that does nothing,
    /// so the subscriber can be set up the same way whether tracing is on or off.
    ///
    /// A `tracing` span opened with no `tracing` parent takes the current OpenTelemetry context
    /// as its parent: in a handler, the request's server span. It keeps the layer's defaults
    /// (code location, thread and target attributes, the OpenTelemetry context made current
    /// while the span is entered); chain the layer's `with_*` methods to change them, and add a
    /// filter (`Layer::with_filter`) when libraries' spans should stay out of the traces.
    ///
    /// ```
    /// use octopus_core::{Octopus, RequestObserver, RequestView, ResponseView};
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use tracing_subscriber::layer::SubscriberExt as _;
    ///
    /// #[tracing::instrument]
    /// fn load_user(id: u64) {
    ///     let _query = tracing::info_span!("query").entered();
    /// }
    ///
    /// let exporter = InMemorySpanExporter::default();
    /// let octopus = Octopus::builder()
    ///     .service_name("users")
    ///     .span_exporter(exporter.clone())
    ///     .build()?;
    ///
    /// // Once, at start-up (an application calls `tracing::subscriber::set_global_default`):
    /// let subscriber = tracing_subscriber::registry().with(octopus.tracing_layer());
    /// let _default = tracing::subscriber::set_default(subscriber);
    ///
    /// // What an adapter does around each handler: the request's context is current.
    /// let headers: &[(&str, &str)] =
    ///     &[("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")];
    /// let view = RequestView::new("GET", "/users/7", headers).with_route(Some("/users/{id}"));
    /// let request = octopus.observe(&view);
    /// {
    ///     let _current = request.context().clone().attach();
    ///     load_user(7);
    /// }
    /// request.finish(&ResponseView::new(200));
    /// octopus.tracer_provider().unwrap().force_flush().unwrap();
    ///
    /// let spans = exporter.get_finished_spans().unwrap();
    /// let span = |name: &str| spans.iter().find(|s| s.name == name).unwrap();
    /// let server = span("GET /users/{id}").span_context.span_id();
    /// assert_eq!(span("load_user").parent_span_id, server);
    /// assert_eq!(span("query").parent_span_id, span("load_user").span_context.span_id());
    /// assert_eq!(
    ///     span("query").span_context.trace_id().to_string(),
    ///     "4bf92f3577b34da6a3ce929d0e0e4736"
    /// );
    /// # octopus.shutdown().unwrap();
    /// # Ok::<(), octopus_core::ConfigError>(())
    /// ```
    pub fn tracing_layer<S>(&self) -> Option<TracingLayer<S>>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        let provider = self.tracer_provider()?;
        let tracer = provider.tracer_with_scope(InstrumentationScope::builder(SCOPE).build());
        Some(tracing_opentelemetry::layer().with_tracer(tracer))
    }
}
