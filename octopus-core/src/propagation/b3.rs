//! Zipkin B3 propagation, single (`b3`) and multi (`x-b3-*`) header.
//!
//! Single: `b3: {TraceId}-{SpanId}[-{SamplingState}[-{ParentSpanId}]]`, or `b3: {SamplingState}`
//! alone. Multi: `X-B3-TraceId`, `X-B3-SpanId`, `X-B3-ParentSpanId`, `X-B3-Sampled`
//! (`1`/`0`, or `true`/`false` from old clients), `X-B3-Flags: 1` (debug). Trace ids are 16 or
//! 32 lower-hex characters, span ids 16.
//!
//! Both encodings are read (the single header wins when both are present, as the B3
//! specification says); the configured one is written.
//!
//! Two B3 cases have no OpenTelemetry equivalent, and are documented choices:
//! - a sampling decision without ids (`b3: 0`, `b3: 1`, `b3: d`) carries no parent, so the
//!   request starts a new root trace decided by the local sampler;
//! - ids without a sampling state mean "the receiver decides"; the remote parent is taken as
//!   sampled, so with the default parent-based sampler the trace is recorded.

use std::sync::OnceLock;

use opentelemetry::Context;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt};

use super::hex::Case;
use super::{MAX_ID_HEADER_LEN, is_lower_hex, remote_context};

const SINGLE: &str = "b3";
const TRACE_ID: &str = "x-b3-traceid";
const SPAN_ID: &str = "x-b3-spanid";
const PARENT_SPAN_ID: &str = "x-b3-parentspanid";
const SAMPLED: &str = "x-b3-sampled";
const FLAGS: &str = "x-b3-flags";

/// Which B3 encoding is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum B3Encoding {
    /// One `b3` header.
    Single,
    /// `x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled`.
    Multi,
}

/// The B3 propagator (`b3` / `b3multi` in `OTEL_PROPAGATORS`).
///
/// ```
/// use octopus_core::propagation::{B3Encoding, B3Propagator};
/// use octopus_core::opentelemetry::propagation::TextMapPropagator;
/// use octopus_core::opentelemetry::trace::TraceContextExt;
/// use std::collections::HashMap;
///
/// let headers = HashMap::from([(
///     "b3".to_string(),
///     "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90".to_string(),
/// )]);
/// let context = B3Propagator::new(B3Encoding::Single).extract(&headers);
/// let span = context.span();
/// assert_eq!(span.span_context().trace_id().to_string(), "80f198ee56343ba864fe8b2a57d3eff7");
/// assert_eq!(span.span_context().span_id().to_string(), "e457b5a2e4d86bd1");
/// assert!(span.span_context().is_sampled());
/// ```
#[derive(Clone, Copy, Debug)]
pub struct B3Propagator {
    encoding: B3Encoding,
}

impl B3Propagator {
    /// A propagator writing `encoding` (and reading both).
    pub const fn new(encoding: B3Encoding) -> Self {
        B3Propagator { encoding }
    }
}

/// `Some(sampled)` for a valid sampling state; deferred (absent) is `Some(true)`.
fn sampling_state(value: Option<&str>) -> Option<bool> {
    match value {
        None => Some(true),
        Some("1" | "d") => Some(true),
        Some("0") => Some(false),
        Some(_) => None,
    }
}

fn span_context(trace: &str, span: &str, sampled: bool) -> Option<SpanContext> {
    if !matches!(trace.len(), 16 | 32) || span.len() != 16 {
        return None;
    }
    remote_context(trace, span, Case::Lower, sampled)
}

/// Parses a single `b3` header; `None` when malformed or when it carries no ids.
pub(crate) fn parse_single(value: &str) -> Option<SpanContext> {
    if value.len() > MAX_ID_HEADER_LEN {
        return None;
    }
    let mut parts = value.split('-');
    let (trace, span) = (parts.next()?, parts.next()?);
    let sampled = sampling_state(parts.next())?;
    if let Some(parent) = parts.next()
        && !is_lower_hex(parent, 16)
    {
        return None;
    }
    if parts.next().is_some() {
        return None;
    }
    span_context(trace, span, sampled)
}

/// Parses the multi-header form; `None` when malformed or incomplete.
fn parse_multi(extractor: &dyn Extractor) -> Option<SpanContext> {
    let get = |name| extractor.get(name).filter(|v| v.len() <= MAX_ID_HEADER_LEN);
    let (trace, span) = (get(TRACE_ID)?, get(SPAN_ID)?);
    if let Some(parent) = get(PARENT_SPAN_ID)
        && !is_lower_hex(parent, 16)
    {
        return None;
    }
    let debug = match get(FLAGS) {
        None => false,
        Some("1") => true,
        Some(_) => return None,
    };
    let sampled = match get(SAMPLED) {
        None => true,
        Some("1" | "true") => true,
        Some("0" | "false") => false,
        Some(_) => return None,
    };
    span_context(trace, span, sampled || debug)
}

impl TextMapPropagator for B3Propagator {
    fn inject_context(&self, context: &Context, injector: &mut dyn Injector) {
        let span = context.span();
        let span_context = span.span_context();
        if !span_context.is_valid() {
            return;
        }
        let sampled = if span_context.is_sampled() { "1" } else { "0" };
        match self.encoding {
            B3Encoding::Single => injector.set(
                SINGLE,
                format!(
                    "{}-{}-{sampled}",
                    span_context.trace_id(),
                    span_context.span_id()
                ),
            ),
            B3Encoding::Multi => {
                injector.set(TRACE_ID, span_context.trace_id().to_string());
                injector.set(SPAN_ID, span_context.span_id().to_string());
                injector.set(SAMPLED, sampled.to_owned());
            }
        }
    }

    fn extract_with_context(&self, context: &Context, extractor: &dyn Extractor) -> Context {
        let remote = match extractor.get(SINGLE) {
            // A present single header is authoritative, even when it is unusable.
            Some(single) => parse_single(single),
            None => parse_multi(extractor),
        };
        match remote {
            Some(remote) => context.with_remote_span_context(remote),
            None => context.clone(),
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        static SINGLE_FIELDS: OnceLock<[String; 1]> = OnceLock::new();
        static MULTI_FIELDS: OnceLock<[String; 3]> = OnceLock::new();
        match self.encoding {
            B3Encoding::Single => FieldIter::new(SINGLE_FIELDS.get_or_init(|| [SINGLE.to_owned()])),
            B3Encoding::Multi => FieldIter::new(
                MULTI_FIELDS
                    .get_or_init(|| [TRACE_ID.to_owned(), SPAN_ID.to_owned(), SAMPLED.to_owned()]),
            ),
        }
    }
}
