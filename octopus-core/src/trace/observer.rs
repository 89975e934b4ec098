//! The server span of each request: [`TracingObserver`].

use std::time::{Instant, SystemTime};

use opentelemetry::trace::{
    Link, Span as _, SpanBuilder, SpanKind, Status, TraceContextExt, Tracer,
};
use opentelemetry::{Context, KeyValue, StringValue};
use opentelemetry_sdk::trace::SdkTracer;

use super::span_names::{route_names, span_method};
use crate::config::InboundTrace;
use crate::propagation::HeaderCodec;
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
///   `network.protocol.version`, `user_agent.original`, `http.response.status_code`,
///   `error.type`;
/// - status Error for 5xx and panics, unset otherwise; a cancelled request's span ends with
///   [`CANCELLED_ATTRIBUTE`].
///
/// The span goes into the request's context, which adapters make current while the handler
/// runs, so child spans and traced client calls join the trace.
#[derive(Clone, Debug)]
pub struct TracingObserver {
    tracer: SdkTracer,
    codec: HeaderCodec,
    inbound: InboundTrace,
}

impl TracingObserver {
    /// An observer starting spans with `tracer`, reading parents with `codec`.
    ///
    /// [`InboundTrace::IgnoreSampledFlag`] is a sampling policy: it takes effect through the
    /// sampler of the tracer's provider ([`crate::trace::sampler`]).
    pub fn new(tracer: SdkTracer, codec: HeaderCodec, inbound: InboundTrace) -> Self {
        TracingObserver {
            tracer,
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
        let extracted = self.codec.extract_with_context(context, request.headers());
        // Attributes are added once the sampler said yes: none of the configured samplers reads
        // them, and an unsampled request should not pay for formatting and allocating them.
        let (name, route) = names(request.method(), request.route());
        // An empty vector with room for every attribute a request span gets: the SDK adopts
        // the builder's vector as the span's, so the attributes added below and at the end
        // never make it grow (a reallocation and copy per request otherwise).
        let mut builder = SpanBuilder::from_name(name)
            .with_kind(SpanKind::Server)
            .with_attributes(Vec::with_capacity(MAX_SPAN_ATTRIBUTES));
        if let Some(received_at) = request.received_at() {
            builder = builder.with_start_time(system_time(received_at));
        }
        let mut span = match self.inbound {
            InboundTrace::Accept | InboundTrace::IgnoreSampledFlag => {
                self.tracer.build_with_context(builder, &extracted)
            }
            InboundTrace::Restart => {
                let remote = extracted.span().span_context().clone();
                if remote.is_valid() {
                    builder = builder.with_links(vec![Link::with_context(remote)]);
                }
                self.tracer.build_with_context(builder, &Context::new())
            }
        };
        if span.is_recording() {
            set_request_attributes(&mut span, request, route);
        }
        // The handler's context keeps what the headers carried (baggage) plus the server span.
        *context = extracted.with_span(span);
        TracingObservation {
            context: Some(context.clone()),
            method: request.method(),
        }
    }
}

/// The span name and `http.route` value of a request: `{METHOD} {route}` (or `{METHOD}` with no
/// route; `HTTP` for methods outside the known set), both interned per route template (see
/// [`super::span_names`]; past the cap, [`OVERFLOW_ROUTE`](crate::OVERFLOW_ROUTE)'s) and looked
/// up once.
fn names(method: HttpMethod, route: Option<&str>) -> (&'static str, Option<StringValue>) {
    match route {
        Some(route) => {
            let names = route_names(route);
            (names.span_name(method), Some(names.route.into()))
        }
        None => (span_method(method), None),
    }
}

#[cfg(test)]
fn span_name(method: HttpMethod, route: Option<&str>) -> &'static str {
    names(method, route).0
}

/// Request attributes (at most 9) plus `http.response.status_code`, `error.type` and
/// `octopus.cancelled`.
const MAX_SPAN_ATTRIBUTES: usize = 12;

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
        span.set_attribute(KeyValue::new("url.scheme", static_or_owned(scheme)));
    }
    if let Some(host) = request.host() {
        let (address, port) = split_host(host);
        span.set_attribute(KeyValue::new(
            "server.address",
            capped(address, MAX_HOST_LEN),
        ));
        let port = port.or(match request.scheme() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        });
        if let Some(port) = port {
            span.set_attribute(KeyValue::new("server.port", i64::from(port)));
        }
    }
    if let Some(version) = request.protocol_version() {
        span.set_attribute(KeyValue::new(
            "network.protocol.version",
            static_or_owned(version),
        ));
    }
    if let Some(agent) = request.user_agent() {
        span.set_attribute(KeyValue::new(
            "user_agent.original",
            capped(agent, MAX_USER_AGENT_LEN),
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
fn capped(value: &str, max: usize) -> String {
    if value.len() <= max {
        return value.to_owned();
    }
    let mut end = max;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end].to_owned()
}

/// Common values without an allocation.
fn static_or_owned(value: &str) -> StringValue {
    match value {
        "http" => "http".into(),
        "https" => "https".into(),
        "1.0" => "1.0".into(),
        "1.1" => "1.1".into(),
        "2" => "2".into(),
        "3" => "3".into(),
        other => other.to_owned().into(),
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port` → (address, port). A port that is not a number
/// is treated as absent: the header is client input.
fn split_host(host: &str) -> (&str, Option<u16>) {
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((address, tail)) => (address, tail.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (host, None),
        };
    }
    match host.rsplit_once(':') {
        Some((address, port)) if !address.contains(':') => (address, port.parse().ok()),
        _ => (host, None),
    }
}

/// The wall-clock time of a monotonic instant in the past.
fn system_time(instant: Instant) -> SystemTime {
    SystemTime::now() - Instant::now().saturating_duration_since(instant)
}

/// One request's span. Ends it exactly once: on finish, on cancel, or when dropped.
#[derive(Debug)]
pub struct TracingObservation {
    context: Option<Context>,
    method: HttpMethod,
}

impl TracingObservation {
    /// Writes the `traceresponse` header of this request's span (see [`inject_trace_response`]).
    pub(crate) fn write_trace_response<S: HeaderSink + ?Sized>(&self, sink: &mut S) {
        if let Some(context) = &self.context {
            inject_trace_response(context, sink);
        }
    }

    fn end_cancelled(context: &Context) {
        let span = context.span();
        span.set_attribute(KeyValue::new(CANCELLED_ATTRIBUTE, true));
        span.end();
    }
}

impl Observation for TracingObservation {
    fn finish(mut self, response: &ResponseView<'_>) {
        let Some(context) = self.context.take() else {
            return;
        };
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
        }
        match response.finished_at() {
            Some(finished_at) => span.end_with_timestamp(system_time(finished_at)),
            None => span.end(),
        }
    }

    fn cancel(mut self) {
        if let Some(context) = self.context.take() {
            TracingObservation::end_cancelled(&context);
        }
    }

    fn set_route(&mut self, route: &str) {
        let Some(context) = &self.context else {
            return;
        };
        let span = context.span();
        if span.is_recording() {
            let (name, route) = names(self.method, Some(route));
            span.update_name(name);
            if let Some(route) = route {
                span.set_attribute(KeyValue::new("http.route", route));
            }
        }
    }
}

impl Drop for TracingObservation {
    fn drop(&mut self) {
        if let Some(context) = self.context.take() {
            TracingObservation::end_cancelled(&context);
        }
    }
}

/// Writes the W3C `traceresponse` header (`00-{trace-id}-{span-id}-{flags}`) for the server span
/// in `context`, if it has a valid one.
pub fn inject_trace_response<S: HeaderSink + ?Sized>(context: &Context, sink: &mut S) {
    let span = context.span();
    let span_context = span.span_context();
    if span_context.is_valid() {
        sink.set_header(
            "traceresponse",
            format!(
                "00-{}-{}-{:02x}",
                span_context.trace_id(),
                span_context.span_id(),
                span_context.trace_flags().to_u8()
            ),
        );
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
        assert_eq!(split_host("[::1"), ("[::1", None));
    }
}
