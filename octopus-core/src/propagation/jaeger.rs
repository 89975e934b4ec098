//! Jaeger's native propagation: `uber-trace-id` and `uberctx-*` baggage.
//!
//! `uber-trace-id: {trace-id}:{span-id}:{parent-span-id}:{flags}` — ids in hex, which Jaeger
//! clients write without leading zeros; a 64-bit trace id is the low half of the 128-bit one.
//! The parent span id is deprecated and ignored. Flags: bit 1 sampled, bit 2 debug (debug
//! implies sampled). Some clients URL-encode the value (`%3A` for `:`).
//!
//! The upstream `opentelemetry-jaeger-propagator` crate follows its own release line; this
//! one is small and tied to the `opentelemetry` version Octopus uses, so it is written here.

use std::sync::OnceLock;

use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use super::hex::{self, Case};
use super::{MAX_ID_HEADER_LEN, is_hex, remote_context, strip_prefix_ignore_case};

const TRACE_HEADER: &str = "uber-trace-id";
pub(crate) const BAGGAGE_PREFIX: &str = "uberctx-";
const FLAG_SAMPLED: u8 = 0x01;
const FLAG_DEBUG: u8 = 0x02;

/// Characters escaped in `uberctx-*` values: controls, space and the separators that would
/// break the header or Jaeger clients' decoding.
const BAGGAGE_VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'%')
    .add(b',')
    .add(b';')
    .add(b'=')
    .add(b'\\');

/// The Jaeger propagator (`jaeger` in `OTEL_PROPAGATORS`).
///
/// ```
/// use octopus_core::propagation::JaegerPropagator;
/// use octopus_core::opentelemetry::propagation::TextMapPropagator;
/// use octopus_core::opentelemetry::trace::TraceContextExt;
/// use std::collections::HashMap;
///
/// let headers = HashMap::from([("uber-trace-id".to_string(), "a3ce929d0e0e4736:f067aa0ba902b7:0:1".to_string())]);
/// let context = JaegerPropagator::new().extract(&headers);
/// let span = context.span();
/// assert_eq!(span.span_context().trace_id().to_string(), "0000000000000000a3ce929d0e0e4736");
/// assert_eq!(span.span_context().span_id().to_string(), "00f067aa0ba902b7");
/// assert!(span.span_context().is_sampled());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct JaegerPropagator;

impl JaegerPropagator {
    /// The propagator.
    pub const fn new() -> Self {
        JaegerPropagator
    }
}

/// Parses an `uber-trace-id` value; `None` for anything malformed.
pub(crate) fn parse_trace_header(value: &str) -> Option<SpanContext> {
    if value.len() > MAX_ID_HEADER_LEN {
        return None;
    }
    let decoded;
    let value = if value.contains('%') {
        decoded = percent_decode_str(value).decode_utf8().ok()?;
        &*decoded
    } else {
        value
    };
    let mut parts = value.split(':');
    let (trace, span, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !is_hex(parent, 16) || flags.len() > 2 {
        return None;
    }
    let flags = hex::parse_u64(flags.as_bytes(), Case::Any)?;
    remote_context(
        trace,
        span,
        Case::Any,
        flags & u64::from(FLAG_SAMPLED | FLAG_DEBUG) != 0,
    )
}

impl TextMapPropagator for JaegerPropagator {
    fn inject_context(&self, context: &Context, injector: &mut dyn Injector) {
        let span = context.span();
        let span_context = span.span_context();
        if span_context.is_valid() {
            let flags = if span_context.is_sampled() {
                FLAG_SAMPLED
            } else {
                0
            };
            injector.set(
                TRACE_HEADER,
                format!(
                    "{}:{}:0:{flags:x}",
                    span_context.trace_id(),
                    span_context.span_id()
                ),
            );
        }
        for (key, (value, _metadata)) in context.baggage() {
            injector.set(
                &format!("{BAGGAGE_PREFIX}{key}"),
                utf8_percent_encode(value.as_str(), BAGGAGE_VALUE).to_string(),
            );
        }
    }

    fn extract_with_context(&self, context: &Context, extractor: &dyn Extractor) -> Context {
        let mut context = match extractor.get(TRACE_HEADER).and_then(parse_trace_header) {
            Some(remote) => context.with_remote_span_context(remote),
            None => context.clone(),
        };
        let baggage: Vec<KeyValue> = extractor
            .keys()
            .into_iter()
            .filter_map(|name| {
                let key =
                    strip_prefix_ignore_case(name, BAGGAGE_PREFIX).filter(|key| !key.is_empty())?;
                let value = percent_decode_str(extractor.get(name)?)
                    .decode_utf8()
                    .ok()?;
                Some(KeyValue::new(key.to_ascii_lowercase(), value.into_owned()))
            })
            .collect();
        if !baggage.is_empty() {
            // `with_baggage` replaces the context's baggage: keep what an earlier format (W3C
            // `baggage`) read, then add these; the SDK enforces the W3C limits on the whole.
            let earlier = context
                .baggage()
                .iter()
                .map(|(key, (value, _))| KeyValue::new(key.clone(), value.clone()))
                .collect::<Vec<_>>();
            context = context.with_baggage(earlier.into_iter().chain(baggage));
        }
        context
    }

    fn fields(&self) -> FieldIter<'_> {
        static FIELDS: OnceLock<[String; 1]> = OnceLock::new();
        FieldIter::new(FIELDS.get_or_init(|| [TRACE_HEADER.to_owned()]))
    }
}
