//! The server span of each request: [`TracingObserver`].

use std::sync::Arc;

use opentelemetry::trace::{
    Link, Span as _, SpanBuilder, SpanContext, SpanId, SpanKind, Status, TraceContextExt,
    TraceFlags, TraceId, Tracer,
};
use opentelemetry::{Context, KeyValue, StringValue};
use opentelemetry_sdk::trace::{
    IdGenerator, RandomIdGenerator, SamplingDecision, SamplingResult, SdkTracer, ShouldSample,
    SpanLimits,
};

use super::pipeline::SpanPipeline;
use super::sampling::ServerSampler;
use super::span::{
    self, CommonText, PROTOCOL_VERSIONS, RequestAttributes, RequestText, ResponseFields, SCHEMES,
    ServerSpan, ServerStart,
};
use super::span_names::{route_names, span_method};
use crate::clock::Moment;
use crate::config::InboundTrace;
use crate::propagation::{HeaderCodec, Inbound};
use crate::request::ByteScan;
use crate::{
    HeaderSink, HeaderSource, HttpMethod, Observation, RequestObserver, RequestView, ResponseView,
};

/// Attribute set on the span of a request whose future was dropped before it ended (client
/// gone, timeout): not an error, but findable (`octopus.cancelled=true`).
pub const CANCELLED_ATTRIBUTE: &str = "octopus.cancelled";

/// One server span per request, following the OpenTelemetry HTTP semantic conventions.
///
/// - parent: the trace context extracted from the request headers by the [`HeaderCodec`]
///   (or, with [`InboundTrace::Restart`], a new trace linked to it);
/// - name `{METHOD} {route}`, just `{METHOD}` without a route, `HTTP` for unknown methods;
/// - kind server; attributes `http.request.method` (and `http.request.method_original`),
///   `http.route`, `url.path`, `url.scheme`, `server.address`, `server.port`,
///   `network.protocol.version`, `user_agent.original`, `http.request.body.size` (when known at
///   start), `http.response.status_code`, `error.type`, `http.response.body.size` (when known
///   at the end: a streamed body's is not);
/// - status Error for 5xx and panics, unset otherwise; a cancelled request's span ends with
///   [`CANCELLED_ATTRIBUTE`].
///
/// The span goes into the request's context, which adapters make current while the handler
/// runs, so child spans and traced client calls join the trace.
///
/// The observer of an [`Octopus`](crate::Octopus) records the span itself (see
/// `trace/span.rs`) into its span pipeline; one made with [`TracingObserver::new`] builds SDK
/// spans with the tracer it is given.
#[derive(Clone, Debug)]
pub struct TracingObserver {
    engine: Engine,
    codec: HeaderCodec,
    inbound: InboundTrace,
}

/// How the observer makes spans.
#[derive(Clone, Debug)]
enum Engine {
    /// SDK spans of a tracer the caller gave ([`TracingObserver::new`]).
    Sdk(SdkTracer),
    /// Octopus's own server span, into an Octopus instance's pipeline.
    Native(Arc<Native>),
}

/// What the native engine decides and records with.
#[derive(Debug)]
struct Native {
    /// The configured sampler, built from the configuration as the provider's is.
    sampler: ServerSampler,
    /// The span limits of the provider's spans.
    limits: SpanLimits,
    pipeline: Arc<SpanPipeline>,
}

impl TracingObserver {
    /// An observer starting SDK spans with `tracer`, reading parents with `codec`.
    ///
    /// [`InboundTrace::IgnoreSampledFlag`] is a sampling policy: it takes effect through the
    /// sampler of the tracer's provider ([`crate::trace::sampler`]). An [`Octopus`](crate::Octopus)
    /// does not use this constructor: its observer records server spans without the SDK's
    /// span machinery, at a fraction of the cost, and exports them through the same pipeline
    /// as its provider's spans.
    pub fn new(tracer: SdkTracer, codec: HeaderCodec, inbound: InboundTrace) -> Self {
        crate::clock::calibrate();
        TracingObserver {
            engine: Engine::Sdk(tracer),
            codec,
            inbound,
        }
    }

    /// The observer of an Octopus instance: samples with `sampler` (the configuration's, which
    /// decides as the provider's sampler does, sharing it for Jaeger remote sampling) and hands
    /// spans to `pipeline`.
    pub(crate) fn native(
        sampler: ServerSampler,
        pipeline: Arc<SpanPipeline>,
        codec: HeaderCodec,
        inbound: InboundTrace,
    ) -> Self {
        // What the provider's builder starts from: the SDK's defaults, or the
        // `OTEL_SPAN_*_COUNT_LIMIT` variables, which the SDK reads itself.
        let limits = opentelemetry_sdk::trace::Config::default().span_limits;
        TracingObserver {
            engine: Engine::Native(Arc::new(Native {
                sampler,
                limits,
                pipeline,
            })),
            codec,
            inbound,
        }
    }

    /// The header codec, shared with the traced client.
    pub fn codec(&self) -> &HeaderCodec {
        &self.codec
    }
}

impl RequestObserver for TracingObserver {
    type Observation = TracingObservation;

    fn start<H: HeaderSource + ?Sized>(
        &self,
        request: &RequestView<'_, H>,
        context: &mut Context,
    ) -> TracingObservation {
        self.start_at(request, context, request.received_at().map(Moment::Given))
    }
}

impl TracingObserver {
    /// [`start`](RequestObserver::start), the request received at `started` when known (an
    /// [`Octopus`](crate::Octopus) with metrics reads the clock once for both); otherwise a
    /// recorded span reads the request clock (see `crate::clock`), and an unrecorded one no clock
    /// at all.
    #[inline]
    pub(crate) fn start_at<H: HeaderSource + ?Sized>(
        &self,
        request: &RequestView<'_, H>,
        context: &mut Context,
        started: Option<Moment>,
    ) -> TracingObservation {
        let carried = self.codec.extract_inbound(context, request.headers());
        let mode = match &self.engine {
            Engine::Native(native) => {
                native.start(self.inbound, request, carried, started, context)
            }
            Engine::Sdk(tracer) => {
                let extracted = carried.into_context(context);
                let names = names(request.method(), request.route());
                self.start_sdk(tracer, request, extracted, names, started, context);
                Mode::Sdk
            }
        };
        // An unrecorded request keeps only its ids (for `traceresponse`), not a clone of the
        // context: the clone and its drop were an atomic increment and decrement of the span's
        // reference count on every unsampled request.
        let (context, unrecorded) = match mode {
            Mode::Unrecorded => (None, SpanIds::of(context.span().span_context())),
            Mode::Sdk | Mode::Recording => (Some(context.clone()), None),
        };
        TracingObservation {
            context,
            unrecorded,
            method: request.method(),
            mode,
        }
    }
}

impl Native {
    /// Decides, and puts the server span (or, unsampled, just its span context) into
    /// `context`, the caller's context to which the request's headers add `carried`. On the
    /// request thread: the sampler's decision, two ids from this thread's generator, the
    /// capped copies of path, host and user agent ([`RequestText`]: inline in the record up to
    /// 72 bytes, one allocation beyond), and the context's own allocations.
    fn start<H: HeaderSource + ?Sized>(
        &self,
        inbound: InboundTrace,
        request: &RequestView<'_, H>,
        mut carried: Inbound,
        started: Option<Moment>,
        context: &mut Context,
    ) -> Mode {
        // As an SDK tracer after its provider shut down, or inside an exporter: an invalid,
        // non-recording span.
        if self.pipeline.is_closed() || context.is_telemetry_suppressed() {
            *context = carried
                .into_context(context)
                .with_remote_span_context(SpanContext::empty_context());
            return Mode::Unrecorded;
        }
        if let ServerSampler::Sdk(_) = self.sampler {
            // The SDK's sampler reads the parent from a context: build it.
            carried = Inbound::Context(carried.into_context(context));
        }
        // The context the server span goes into (the remote parent, if any, is replaced), and
        // the parent's span context.
        let parent_span;
        let (base, parent): (&Context, &SpanContext) = match &carried {
            Inbound::Parent(Some(remote)) => (context, remote),
            Inbound::Parent(None) => {
                parent_span = context.span();
                (context, parent_span.span_context())
            }
            Inbound::Context(extracted) => {
                parent_span = extracted.span();
                (extracted, parent_span.span_context())
            }
        };
        let (parent, restart_link) = match inbound {
            InboundTrace::Accept | InboundTrace::IgnoreSampledFlag => (parent, None),
            InboundTrace::Restart => (
                &SpanContext::NONE,
                parent.is_valid().then(|| parent.clone()),
            ),
        };
        // The SDK's random generator keeps its RNG in a thread-local: nothing shared.
        let ids = RandomIdGenerator::default();
        let trace_id = if parent.is_valid() {
            parent.trace_id()
        } else {
            ids.new_trace_id()
        };
        let span_id = ids.new_span_id();
        let result = match &self.sampler {
            ServerSampler::Native(sampler) => SamplingResult {
                decision: sampler.decide(parent, trace_id),
                // The SDK's samplers add none, and pass the parent's `tracestate` on.
                attributes: Vec::new(),
                trace_state: parent.trace_state().clone(),
            },
            ServerSampler::Sdk(sampler) => sdk_decision(
                sampler.as_ref(),
                base,
                restart_link.as_ref(),
                trace_id,
                names(request.method(), request.route()).0,
            ),
        };
        let sampled = match result.decision {
            SamplingDecision::Drop => {
                let span_context = SpanContext::new(
                    trace_id,
                    span_id,
                    TraceFlags::default(),
                    false,
                    result.trace_state,
                );
                // No span object at all: the context carries the span context for propagation
                // and child spans, and reports "not recording", as the SDK's dropped span did.
                *context = base.with_remote_span_context(span_context);
                return Mode::Unrecorded;
            }
            SamplingDecision::RecordOnly => false,
            SamplingDecision::RecordAndSample => true,
        };
        // Named only now: an unrecorded request needs no name (the interned lookup was about
        // 100 instructions of `core/tracing_unsampled`'s 1 721; callgrind).
        let (name, route) = names(request.method(), request.route());
        let span_context = SpanContext::new(
            trace_id,
            span_id,
            parent.trace_flags().with_sampled(sampled),
            false,
            result.trace_state,
        );
        let start = ServerStart {
            span_context,
            parent: parent.span_id(),
            parent_is_remote: parent.is_valid() && parent.is_remote(),
            name,
            start_time: started.unwrap_or_else(Moment::now).wall_time(),
            sampler_attributes: result.attributes,
            request: request_attributes(request, route),
            restart_link,
            limits: self.limits,
        };
        let sink = if sampled { self.pipeline.local() } else { None };
        *context = base.with_span(ServerSpan::new(start, sink));
        Mode::Recording
    }
}

/// The SDK sampler's decision (see [`ServerSampler::Sdk`]): its parent is the extracted context
/// `extracted`, or none when the trace restarts (linked to `restart_link`).
fn sdk_decision(
    sampler: &dyn ShouldSample,
    extracted: &Context,
    restart_link: Option<&SpanContext>,
    trace_id: TraceId,
    name: &str,
) -> SamplingResult {
    match restart_link {
        None => sampler.should_sample(Some(extracted), trace_id, name, &SpanKind::Server, &[], &[]),
        Some(remote) => sampler.should_sample(
            Some(&Context::new()),
            trace_id,
            name,
            &SpanKind::Server,
            &[],
            &[Link::with_context(remote.clone())],
        ),
    }
}

impl TracingObserver {
    /// The server span as an SDK span of `tracer`.
    fn start_sdk<H: HeaderSource + ?Sized>(
        &self,
        tracer: &SdkTracer,
        request: &RequestView<'_, H>,
        extracted: Context,
        (name, route): (&'static str, Option<&'static str>),
        started: Option<Moment>,
        context: &mut Context,
    ) {
        // Attributes are added once the sampler said yes: none of the configured samplers reads
        // them, and an unsampled request should not pay for formatting and allocating them.
        // An empty vector with room for every attribute a request span gets: the SDK adopts
        // the builder's vector as the span's, so the attributes added below and at the end
        // never make it grow (a reallocation and copy per request otherwise).
        let mut builder = SpanBuilder::from_name(name)
            .with_kind(SpanKind::Server)
            .with_attributes(Vec::with_capacity(MAX_SPAN_ATTRIBUTES));
        if let Some(started) = started {
            builder = builder.with_start_time(started.wall_time());
        }
        let mut span = match self.inbound {
            InboundTrace::Accept | InboundTrace::IgnoreSampledFlag => {
                tracer.build_with_context(builder, &extracted)
            }
            InboundTrace::Restart => {
                let remote = extracted.span().span_context().clone();
                if remote.is_valid() {
                    builder = builder.with_links(vec![Link::with_context(remote)]);
                }
                tracer.build_with_context(builder, &Context::new())
            }
        };
        if span.is_recording() {
            set_request_attributes(&mut span, request, route.map(StringValue::from));
        }
        // The handler's context keeps what the headers carried (baggage) plus the server span.
        *context = extracted.with_span(span);
    }
}

/// The request attributes of a native server span: the same values
/// [`set_request_attributes`] sets on an SDK span, kept typed.
#[inline]
fn request_attributes<H: HeaderSource + ?Sized>(
    request: &RequestView<'_, H>,
    route: Option<&'static str>,
) -> RequestAttributes {
    let method = request.method();
    let (address, port) = match request.host() {
        Some(host) => {
            let (address, port) = split_host(host);
            let port = port.or_else(|| default_port(request.scheme()));
            (Some(cap(address, MAX_HOST_LEN)), port)
        }
        None => (None, None),
    };
    // Another scheme or protocol version than the usual ones is the framework's, not the
    // client's; capped all the same, as the method is.
    let (scheme, scheme_text) = CommonText::of(request.scheme(), span::scheme_index);
    let (protocol_version, protocol_text) =
        CommonText::of(request.protocol_version(), span::protocol_version_index);
    RequestAttributes {
        method,
        route,
        text: RequestText::with_pieces([
            Some(cap(request.path(), MAX_PATH_LEN)),
            address,
            request
                .user_agent()
                .map(|agent| cap(agent, MAX_USER_AGENT_LEN)),
            (method == HttpMethod::Other).then(|| cap(request.method_original(), MAX_METHOD_LEN)),
            scheme_text.map(|scheme| cap(scheme, MAX_METHOD_LEN)),
            protocol_text.map(|version| cap(version, MAX_METHOD_LEN)),
        ]),
        scheme,
        port,
        protocol_version,
        body_size: request.body_size(),
    }
}

/// The span name and `http.route` value of a request: `{METHOD} {route}` (or `{METHOD}` with no
/// route; `HTTP` for methods outside the known set), both interned per route template (see
/// [`super::span_names`]; past the cap, [`OVERFLOW_ROUTE`](crate::OVERFLOW_ROUTE)'s) and looked
/// up once.
fn names(method: HttpMethod, route: Option<&str>) -> (&'static str, Option<&'static str>) {
    match route {
        Some(route) => {
            let names = route_names(route);
            (names.span_name(method), Some(names.route))
        }
        None => (span_method(method), None),
    }
}

#[cfg(test)]
fn span_name(method: HttpMethod, route: Option<&str>) -> &'static str {
    names(method, route).0
}

/// Request attributes (at most 10) plus `http.response.status_code`, `error.type`,
/// `http.response.body.size` and `octopus.cancelled`.
const MAX_SPAN_ATTRIBUTES: usize = 14;

/// Sets the request's attributes on `span` one by one, straight into the span's own vector.
fn set_request_attributes<H: HeaderSource + ?Sized>(
    span: &mut impl opentelemetry::trace::Span,
    request: &RequestView<'_, H>,
    route: Option<StringValue>,
) {
    let method = request.method();
    span.set_attribute(KeyValue::new("http.request.method", method.as_str()));
    if method == HttpMethod::Other {
        span.set_attribute(KeyValue::new(
            "http.request.method_original",
            capped(request.method_original(), MAX_METHOD_LEN),
        ));
    }
    if let Some(route) = route {
        span.set_attribute(KeyValue::new("http.route", route));
    }
    span.set_attribute(KeyValue::new(
        "url.path",
        capped(request.path(), MAX_PATH_LEN),
    ));
    if let Some(scheme) = request.scheme() {
        span.set_attribute(KeyValue::new(
            "url.scheme",
            common_or_capped(scheme, SCHEMES, span::scheme_index),
        ));
    }
    if let Some(host) = request.host() {
        let (address, port) = split_host(host);
        span.set_attribute(KeyValue::new(
            "server.address",
            capped(address, MAX_HOST_LEN),
        ));
        let port = port.or_else(|| default_port(request.scheme()));
        if let Some(port) = port {
            span.set_attribute(KeyValue::new("server.port", i64::from(port)));
        }
    }
    if let Some(version) = request.protocol_version() {
        span.set_attribute(KeyValue::new(
            "network.protocol.version",
            common_or_capped(version, PROTOCOL_VERSIONS, span::protocol_version_index),
        ));
    }
    if let Some(agent) = request.user_agent() {
        span.set_attribute(KeyValue::new(
            "user_agent.original",
            capped(agent, MAX_USER_AGENT_LEN),
        ));
    }
    if let Some(size) = request.body_size() {
        span.set_attribute(KeyValue::new(
            "http.request.body.size",
            span::saturating_i64(size),
        ));
    }
}

/// Attribute values taken from what a client sends are cut at these lengths (bytes, on a
/// character boundary), so no request can make a span — queued, encoded, exported — larger than
/// a few kilobytes. Real values are far shorter.
pub const MAX_PATH_LEN: usize = 2_048;
/// See [`MAX_PATH_LEN`]; 255 is the longest DNS name.
pub const MAX_HOST_LEN: usize = 255;
/// See [`MAX_PATH_LEN`].
pub const MAX_USER_AGENT_LEN: usize = 1_024;
/// See [`MAX_PATH_LEN`].
pub const MAX_METHOD_LEN: usize = 64;

/// `value`, cut to at most `max` bytes on a character boundary.
fn cap(value: &str, max: usize) -> &str {
    if value.len() <= max {
        return value;
    }
    let mut end = max;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

/// [`cap`], owned.
fn capped(value: &str, max: usize) -> String {
    cap(value, max).to_owned()
}

/// `server.port` when the `Host` header names none: the scheme's default port, as the
/// semantic conventions say (the native and the SDK span alike).
fn default_port(scheme: Option<&str>) -> Option<u16> {
    match scheme {
        Some("http") => Some(80),
        Some("https") => Some(443),
        _ => None,
    }
}

/// `value` (a scheme or protocol version) as an attribute value: one of `common` without an
/// allocation, any other capped as the method is (the same values as the native span keeps,
/// see [`CommonText`]).
fn common_or_capped(
    value: &str,
    common: &[&'static str],
    index: impl Fn(&str) -> Option<u8>,
) -> StringValue {
    match index(value) {
        Some(index) => common[usize::from(index)].into(),
        None => capped(value, MAX_METHOD_LEN).into(),
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port` → (address, port). A port that is not a number
/// (RFC 3986: digits only, here at most 65535) is treated as absent: the header is client input.
fn split_host(host: &str) -> (&str, Option<u16>) {
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((address, tail)) => (address, tail.strip_prefix(':').and_then(port)),
            None => (host, None),
        };
    }
    // The last colon, and whether there are others, found eight bytes a step (see `ByteScan`):
    // `rsplit_once` goes through `memrchr`, 110 instructions a call before the first byte.
    match ByteScan::of(host.as_bytes(), b':') {
        ByteScan {
            last: Some(colon),
            several: false,
        } => (&host[..colon], port(&host[colon + 1..])),
        // No colon; or two or more without brackets: an IPv6 address, no port.
        _ => (host, None),
    }
}

/// A port's digits → its number. Not `u16::from_str`, which takes a leading `+`; with this
/// loop and the one in [`split_host`], splitting the bench's host costs 168 instructions
/// instead of 217 (callgrind, `core/tracing`).
fn port(digits: &str) -> Option<u16> {
    if digits.is_empty() {
        return None;
    }
    let mut value = 0u32;
    for &byte in digits.as_bytes() {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value * 10 + u32::from(digit);
        if value > u32::from(u16::MAX) {
            return None;
        }
    }
    Some(value as u16)
}

/// One request's span. Ends it exactly once: on finish, on cancel, or when dropped.
#[derive(Debug)]
pub struct TracingObservation {
    /// The request's context, holding the span to end; `None` once ended, and for an
    /// unrecorded request, which has nothing to end.
    context: Option<Context>,
    /// An unrecorded request's ids, for its `traceresponse`.
    unrecorded: Option<SpanIds>,
    method: HttpMethod,
    mode: Mode,
}

/// The ids a `traceresponse` header carries, copied out of a valid span context.
///
/// As bytes: `TraceId` is a `u128`, aligned to 16, which made `Option<SpanIds>` 48 bytes and
/// the observation (moved several times a request) aligned to 16; as bytes it is 26 (see
/// `SampledTrace` for what the smaller observation measured).
#[derive(Clone, Copy, Debug)]
struct SpanIds {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    flags: u8,
}

impl SpanIds {
    /// The ids of `span_context`, if it is valid.
    fn of(span_context: &SpanContext) -> Option<SpanIds> {
        span_context.is_valid().then(|| SpanIds {
            trace_id: span_context.trace_id().to_bytes(),
            span_id: span_context.span_id().to_bytes(),
            flags: span_context.trace_flags().to_u8(),
        })
    }

    /// Writes them as the W3C `traceresponse` header: `00-{trace-id}-{span-id}-{flags}`.
    fn write_trace_response<S: HeaderSink + ?Sized>(self, sink: &mut S) {
        sink.set_header(
            "traceresponse",
            crate::propagation::tracecontext::version_00_value(
                TraceId::from_bytes(self.trace_id),
                SpanId::from_bytes(self.span_id),
                self.flags,
            ),
        );
    }
}

/// What the observation holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// An SDK span ([`TracingObserver::new`]).
    Sdk,
    /// A recording [`ServerSpan`].
    Recording,
    /// No span (unsampled, or after shutdown): only its ids, for `traceresponse`; nothing to end.
    Unrecorded,
}

impl TracingObservation {
    /// [`finish`](Observation::finish), the request ended at `finished` when known (an
    /// [`Octopus`](crate::Octopus) with metrics reads the clock once for both); otherwise a
    /// recorded span reads it, and an unrecorded one no clock at all.
    /// In place, as the metrics observation's: nothing is left for the drop to end.
    #[inline]
    pub(crate) fn finish_at(&mut self, response: &ResponseView<'_>, finished: Option<Moment>) {
        let Some(context) = self.context.take() else {
            return;
        };
        match self.mode {
            Mode::Sdk => TracingObservation::finish_sdk(&context, response, finished),
            Mode::Recording => TracingObservation::finish_native(&context, response, finished),
            Mode::Unrecorded => {}
        }
    }

    /// Writes the `traceresponse` header of this request's span (see [`inject_trace_response`]).
    pub(crate) fn write_trace_response<S: HeaderSink + ?Sized>(&self, sink: &mut S) {
        if let Some(context) = &self.context {
            inject_trace_response(context, sink);
        } else if let Some(ids) = self.unrecorded {
            ids.write_trace_response(sink);
        }
    }

    fn end_cancelled(context: &Context, mode: Mode) {
        match mode {
            Mode::Sdk => {
                let span = context.span();
                span.set_attribute(KeyValue::new(CANCELLED_ATTRIBUTE, true));
                span.end();
            }
            Mode::Recording => {
                span::hand_over_response(ResponseFields {
                    cancelled: true,
                    ..ResponseFields::default()
                });
                context.span().end();
                span::clear_hand_over();
            }
            Mode::Unrecorded => {}
        }
    }

    fn finish_sdk(context: &Context, response: &ResponseView<'_>, finished: Option<Moment>) {
        let span = context.span();
        if span.is_recording() {
            span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(response.status()),
            ));
            if response.is_panic() {
                span.set_attribute(KeyValue::new("error.type", "panic"));
                span.set_status(Status::error("the handler panicked"));
            } else if response.is_server_error() {
                let error_type = match response.error_kind() {
                    Some(kind) => kind.to_owned(),
                    None => response.status().to_string(),
                };
                span.set_attribute(KeyValue::new("error.type", error_type));
                span.set_status(Status::error(""));
            }
            if let Some(size) = response.body_size() {
                span.set_attribute(KeyValue::new(
                    "http.response.body.size",
                    span::saturating_i64(size),
                ));
            }
        }
        match finished.or(response.finished_at().map(Moment::Given)) {
            Some(finished) => span.end_with_timestamp(finished.wall_time()),
            None => span.end(),
        }
    }

    /// The same fields as [`finish_sdk`](Self::finish_sdk), handed to the native span's `end`
    /// as values: the `KeyValue`s are made on the export thread.
    fn finish_native(context: &Context, response: &ResponseView<'_>, finished: Option<Moment>) {
        let mut fields = ResponseFields {
            status_code: Some(response.status()),
            body_size: response.body_size(),
            ..ResponseFields::default()
        };
        if response.is_panic() {
            fields.error_type = Some("panic".into());
            fields.status = Some(Status::error("the handler panicked"));
        } else if response.is_server_error() {
            fields.error_type = Some(match response.error_kind() {
                Some(kind) => kind.to_owned().into(),
                None => response.status().to_string().into(),
            });
            fields.status = Some(Status::error(""));
        }
        span::hand_over_response(fields);
        let end = finished
            .unwrap_or_else(|| Moment::given_or_now(response.finished_at()))
            .wall_time();
        context.span().end_with_timestamp(end);
        span::clear_hand_over();
    }
}

impl Observation for TracingObservation {
    fn finish(mut self, response: &ResponseView<'_>) {
        self.finish_at(response, None);
    }

    fn cancel(mut self) {
        if let Some(context) = self.context.take() {
            TracingObservation::end_cancelled(&context, self.mode);
        }
    }

    fn set_route(&mut self, route: &str) {
        let Some(context) = &self.context else {
            return;
        };
        match self.mode {
            Mode::Sdk => {
                let span = context.span();
                if span.is_recording() {
                    let (name, route) = names(self.method, Some(route));
                    span.update_name(name);
                    if let Some(route) = route {
                        span.set_attribute(KeyValue::new("http.route", route));
                    }
                }
            }
            Mode::Recording => {
                let (name, route) = names(self.method, Some(route));
                if let Some(route) = route {
                    span::hand_over_route(route);
                }
                context.span().update_name(name);
                span::clear_hand_over();
            }
            Mode::Unrecorded => {}
        }
    }
}

impl Drop for TracingObservation {
    fn drop(&mut self) {
        if let Some(context) = self.context.take() {
            TracingObservation::end_cancelled(&context, self.mode);
        }
    }
}

/// Writes the W3C `traceresponse` header (`00-{trace-id}-{span-id}-{flags}`) for the server span
/// in `context`, if it has a valid one.
pub fn inject_trace_response<S: HeaderSink + ?Sized>(context: &Context, sink: &mut S) {
    if let Some(ids) = SpanIds::of(context.span().span_context()) {
        ids.write_trace_response(sink);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_names_follow_the_conventions() {
        assert_eq!(
            span_name(HttpMethod::Get, Some("/users/{id}")),
            "GET /users/{id}"
        );
        assert_eq!(span_name(HttpMethod::Post, None), "POST");
        assert_eq!(span_name(HttpMethod::Other, Some("/x")), "HTTP /x");
        assert_eq!(span_name(HttpMethod::Other, None), "HTTP");
    }

    #[test]
    fn client_supplied_values_are_capped_on_character_boundaries() {
        assert_eq!(capped("short", 10), "short");
        assert_eq!(capped(&"a".repeat(3000), MAX_PATH_LEN).len(), MAX_PATH_LEN);
        // 'é' is two bytes: a cut inside it steps back to the boundary.
        assert_eq!(capped("aé", 2), "a");
        assert_eq!(capped("aé", 3), "aé");
    }

    #[test]
    fn hosts_split_into_address_and_port() {
        assert_eq!(split_host("example.com"), ("example.com", None));
        assert_eq!(split_host("example.com:8080"), ("example.com", Some(8080)));
        assert_eq!(split_host("example.com:x"), ("example.com", None));
        assert_eq!(split_host("[::1]:10999"), ("::1", Some(10999)));
        assert_eq!(split_host("[::1]"), ("::1", None));
        assert_eq!(split_host("::1"), ("::1", None));
        assert_eq!(split_host("example.com:"), ("example.com", None));
        assert_eq!(split_host("example.com:+80"), ("example.com", None));
        assert_eq!(
            split_host("example.com:65535"),
            ("example.com", Some(65535))
        );
        assert_eq!(split_host("example.com:65536"), ("example.com", None));
        assert_eq!(split_host("example.com:0080"), ("example.com", Some(80)));
        assert_eq!(split_host("[::1]:99999999999"), ("::1", None));
        assert_eq!(split_host("[::1"), ("[::1", None));
    }
}
