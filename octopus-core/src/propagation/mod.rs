//! The header codec: reading and writing trace context in HTTP headers.
//!
//! [`HeaderCodec`] composes OpenTelemetry `TextMapPropagator`s chosen by name
//! ([`PropagatorKind`], the `OTEL_PROPAGATORS` convention) and works directly on the seam's
//! [`HeaderSource`] (inbound) and [`HeaderSink`] (outbound), so every adapter and the traced
//! client share one codec. It never uses a global propagator.
//!
//! | name | headers |
//! |---|---|
//! | `tracecontext` | W3C `traceparent`, `tracestate` ([`TraceContextPropagator`]) |
//! | `baggage` | W3C `baggage` ([`BaggagePropagator`], the SDK's parser over every `baggage` line) |
//! | `jaeger` | `uber-trace-id`, `uberctx-{key}` ([`JaegerPropagator`]) |
//! | `b3` | `b3` single header written ([`B3Propagator`]); both encodings read |
//! | `b3multi` | `x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled` written; both encodings read (`x-b3-parentspanid`, `x-b3-flags` too) |
//! | `none` | nothing |
//!
//! Inbound headers are untrusted: a malformed, oversized or contradictory value is ignored
//! (the request starts a new root trace), never an error. One pass over the header names
//! finds the formats whose headers are present; those propagators run in the configured
//! order, each on the previous result, so when several trace headers are valid the last
//! configured format wins. Baggage is capped by the SDK at the W3C limits
//! (64 entries, 8 192 bytes), whichever format it arrives in.
//!
//! A header sent as several lines is read as the W3C says: `tracestate` and `baggage` lines
//! are one comma-joined list, in order; two `traceparent` headers are invalid (a new trace).
//! The other formats read the first line of each header.
//!
//! Inbound size limits, before any parsing: id headers (`traceparent`, `uber-trace-id`, `b3`,
//! `x-b3-*`) at most 256 bytes a line, `baggage` (all lines joined) and each `uberctx-*`
//! value at most 8 192 bytes. A header over its limit is treated as absent. `tracestate` has
//! no length limit on the way in — the W3C sets none, and its parser stops at the 33rd member
//! or the first invalid one, and copies only what it keeps: at most 32 members and 512
//! characters, truncated as the W3C says (see [`TraceContextPropagator`]).
//!
//! ```
//! use octopus_core::{HeaderCodec, PropagatorKind};
//! use octopus_core::opentelemetry::trace::TraceContextExt;
//!
//! let codec = HeaderCodec::new(&PropagatorKind::parse_list("tracecontext,baggage,jaeger").unwrap());
//! let inbound: &[(&str, &str)] = &[("uber-trace-id", "4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:1")];
//! let context = codec.extract(inbound);
//! assert_eq!(
//!     context.span().span_context().trace_id().to_string(),
//!     "4bf92f3577b34da6a3ce929d0e0e4736"
//! );
//!
//! let mut outbound: Vec<(String, String)> = Vec::new();
//! codec.inject(&context, &mut outbound);
//! assert!(outbound.contains(&(
//!     "traceparent".into(),
//!     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()
//! )));
//! ```

mod b3;
mod baggage;
mod hex;
mod jaeger;
pub(crate) mod tracecontext;

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Context, KeyValue};

pub use self::b3::{B3Encoding, B3Propagator};
pub use self::baggage::BaggagePropagator;
use self::hex::Case;
pub use self::jaeger::JaegerPropagator;
pub use self::tracecontext::TraceContextPropagator;
pub use crate::config::PropagatorKind;
use crate::headers::same_header_name;
use crate::{ConfigError, HeaderSink, HeaderSource, NoHeaders};

/// The longest trace-id header value any propagator here parses; longer ones are ignored
/// unread. Real values are under 100 bytes.
pub(crate) const MAX_ID_HEADER_LEN: usize = 256;

impl PropagatorKind {
    /// The default of the demo contract: `tracecontext,baggage,jaeger`.
    pub const DEFAULT: [PropagatorKind; 3] = [
        PropagatorKind::TraceContext,
        PropagatorKind::Baggage,
        PropagatorKind::Jaeger,
    ];

    /// Parses an `OTEL_PROPAGATORS` list: comma-separated names, duplicates removed; `none`
    /// (alone) means no propagation.
    ///
    /// ```
    /// use octopus_core::PropagatorKind;
    ///
    /// assert_eq!(PropagatorKind::parse_list(" b3, tracecontext ,b3").unwrap(),
    ///            [PropagatorKind::B3, PropagatorKind::TraceContext]);
    /// assert!(PropagatorKind::parse_list("none").unwrap().is_empty());
    /// assert_eq!(
    ///     PropagatorKind::parse_list("tracecontext,xray").unwrap_err().to_string(),
    ///     r#"propagators: invalid value "xray"; expected one of tracecontext, baggage, jaeger, b3, b3multi, none"#
    /// );
    /// ```
    pub fn parse_list(list: &str) -> Result<Vec<PropagatorKind>, ConfigError> {
        let mut kinds = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let kind: PropagatorKind = name.parse()?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        if kinds.contains(&PropagatorKind::None) {
            if kinds.len() > 1 {
                return Err(ConfigError::InvalidValue {
                    field: "propagators".into(),
                    value: list.into(),
                    expected: "\"none\" alone, or a list without it".into(),
                });
            }
            kinds.clear();
        }
        Ok(kinds)
    }

    fn propagator(self) -> Option<Box<dyn TextMapPropagator + Send + Sync>> {
        Some(match self {
            PropagatorKind::TraceContext => Box::new(TraceContextPropagator::new()),
            PropagatorKind::Baggage => Box::new(BaggagePropagator::new()),
            PropagatorKind::Jaeger => Box::new(JaegerPropagator::new()),
            PropagatorKind::B3 => Box::new(B3Propagator::new(B3Encoding::Single)),
            PropagatorKind::B3Multi => Box::new(B3Propagator::new(B3Encoding::Multi)),
            PropagatorKind::None => return None,
        })
    }
}

/// The longest `tracestate` kept and sent, joined with commas: the W3C asks propagators to
/// carry at least 512 characters, and truncates a longer list by whole members (see
/// [`TraceContextPropagator`]). It bounds what one request's trace state holds in memory.
pub(crate) const MAX_TRACESTATE_LEN: usize = 512;
/// The most `tracestate` list members: W3C says a longer list is discarded whole.
pub(crate) const MAX_TRACESTATE_MEMBERS: usize = 32;
/// The longest `baggage` (all lines joined) and `uberctx-*` value read: the W3C baggage limit
/// for the whole header. The SDK caps what it keeps at the same size, but would parse any
/// length first.
pub(crate) const MAX_BAGGAGE_LEN: usize = 8_192;

/// Presents a [`HeaderSource`] as an OpenTelemetry `Extractor`.
///
/// It is also where inbound size limits are enforced, once for every propagator: an oversized
/// trace header reads as absent, so parsing an id header costs at most a few hundred bytes of
/// work whatever a client sends. (`tracestate` is left to its parser, which copies at most
/// what it keeps; see [`MAX_TRACESTATE_LEN`].)
struct SourceExtractor<'a, H: ?Sized> {
    headers: &'a H,
    /// Whether the codec's pre-pass saw a name with a trigger prefix (`uberctx-`). Only
    /// Jaeger's baggage scan asks for [`keys`](Extractor::keys) (the W3C propagators
    /// never do); when no such name exists, it gets none, without collecting every header name
    /// into a `Vec` — which every hop between two Octopus services (`traceparent` and
    /// `uber-trace-id`, no baggage) would otherwise pay.
    list_names: bool,
}

/// How much of a header is read, by name.
enum Limit {
    /// Every line at most this long.
    Line(usize),
    /// All lines, joined with commas, at most this long.
    Joined(usize),
    /// Left to the propagator.
    None,
}

fn limit(key: &str) -> Limit {
    match key {
        "tracestate" => Limit::None,
        "baggage" => Limit::Joined(MAX_BAGGAGE_LEN),
        key if key.starts_with(jaeger::BAGGAGE_PREFIX) => Limit::Line(MAX_BAGGAGE_LEN),
        _ => Limit::Line(MAX_ID_HEADER_LEN),
    }
}

impl<H: HeaderSource + ?Sized> Extractor for SourceExtractor<'_, H> {
    fn get(&self, key: &str) -> Option<&str> {
        let value = self.headers.header(key)?;
        let within_limits = match limit(key) {
            Limit::Line(max) | Limit::Joined(max) => value.len() <= max,
            Limit::None => true,
        };
        within_limits.then_some(value)
    }

    /// Every line of `key`; `None` (absent) when there is none, when one is not text (the
    /// header cannot be read whole), or when the header is over its limit.
    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let mut values = Vec::new();
        let mut all_text = true;
        self.headers.header_values(key, &mut |value| match value {
            Some(value) => values.push(value),
            None => all_text = false,
        });
        let within_limits = match limit(key) {
            Limit::Line(max) => values.iter().all(|value| value.len() <= max),
            Limit::Joined(max) => {
                values.iter().map(|value| value.len()).sum::<usize>()
                    + values.len().saturating_sub(1)
                    <= max
            }
            Limit::None => true,
        };
        (all_text && within_limits && !values.is_empty()).then_some(values)
    }

    fn keys(&self) -> Vec<&str> {
        if self.list_names {
            self.headers.header_names()
        } else {
            Vec::new()
        }
    }
}

/// Presents a [`HeaderSink`] as an OpenTelemetry `Injector`.
struct SinkInjector<'a, S: ?Sized>(&'a mut S);

impl<S: HeaderSink + ?Sized> Injector for SinkInjector<'_, S> {
    fn set(&mut self, key: &str, value: String) {
        self.0.set_header(key, value);
    }
}

/// The configured propagators, composed. Cheap to clone.
#[derive(Clone)]
pub struct HeaderCodec {
    inner: Arc<CodecInner>,
}

struct CodecInner {
    kinds: Vec<PropagatorKind>,
    propagators: Vec<Box<dyn TextMapPropagator + Send + Sync>>,
    fields: Vec<String>,
    /// For each propagator, in order: the header names (and name prefix) without which it
    /// extracts nothing (see [`PropagatorKind::trigger_headers`]).
    triggers: Vec<Triggers>,
    /// Every trigger name with its propagator's bit, flattened from `triggers` for the
    /// pre-pass (see [`HeaderCodec::extract_with_context`]).
    trigger_names: Vec<(&'static str, u32)>,
    /// Every trigger prefix with its propagator's bit and [`PREFIXED_NAME`].
    trigger_prefixes: Vec<(&'static str, u32)>,
    /// For each name length, which of `trigger_names` have it (bit `i` for the `i`th; the
    /// last entry stands for every length from 63 up): a header name is compared only with
    /// the trigger names of its length, and most are passed over on their length alone.
    triggers_by_length: [u16; 64],
    /// For each first letter of a name (see [`first_letter`]), which of `trigger_names` start
    /// with it: with the length, this passes over an ordinary name (`user-agent`, `accept`)
    /// without comparing it to anything — most share a length with some trigger name.
    triggers_by_first_letter: [u16; 32],
    /// Bit [`first_letter`] of each trigger prefix: a name's prefixes are compared only when
    /// its first letter could start one.
    prefix_first_letters: u32,
    /// The pre-pass's bit set once everything has been seen: a bit per propagator, and
    /// [`PREFIXED_NAME`] when one of them has a name prefix. Known at construction.
    all_seen: u32,
    /// The W3C trace context's bit in the pre-pass's set (0 when it is not configured).
    trace_context: u32,
}

/// The headers whose presence makes one propagator worth running.
struct Triggers {
    /// The format, for those the codec reads without an `Extractor`.
    kind: PropagatorKind,
    names: &'static [&'static str],
    prefix: Option<&'static str>,
}

/// The first byte of `name` as an index below 32, the same for both cases of a letter: its
/// low five bits (ASCII's upper and lower case differ in bit 5), so `b'T'` and `b't'` both
/// give 20. Other bytes share indices with letters (`4` with `t`), which only means a
/// comparison that fails; an empty name gives 0, which no trigger has.
#[inline(always)]
fn first_letter(name: &str) -> usize {
    name.as_bytes()
        .first()
        .map_or(0, |&byte| usize::from(byte & 31))
}

/// `name` without `prefix`, compared case-insensitively (header names are).
#[inline]
pub(crate) fn strip_prefix_ignore_case<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    // Compared as bytes: an ASCII prefix that matches ends on a character boundary.
    let head = name.as_bytes().get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix.as_bytes())
        .then(|| &name[prefix.len()..])
}

/// What a request's headers carry, as [`HeaderCodec::extract_inbound`] reads them.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// Nothing but, at most, a W3C parent (with its `tracestate`): the context is the
    /// caller's, with this remote parent.
    Parent(Option<SpanContext>),
    /// The context the propagators built on the caller's (other formats, baggage).
    Context(Context),
}

impl Inbound {
    /// The extracted context, built on `base` (the context extraction started from).
    pub(crate) fn into_context(self, base: &Context) -> Context {
        match self {
            Inbound::Parent(None) => base.clone(),
            Inbound::Parent(Some(remote)) => base.with_remote_span_context(remote),
            Inbound::Context(context) => context,
        }
    }
}

/// In the pre-pass's bit set: a header name with a trigger prefix was seen. (Formats take
/// the low bits, one each; there are at most five.)
const PREFIXED_NAME: u32 = 1 << 31;

/// In the pre-pass's bit set: a `tracestate` header is present (noted only when the W3C trace
/// context is configured). Without one, reading the parent skips the lookup: a hash lookup in
/// an `http::HeaderMap`, a scan of a list of pairs.
const TRACESTATE_SEEN: u32 = 1 << 30;

impl PropagatorKind {
    /// The headers whose absence means this format extracts nothing: the id header (a
    /// `tracestate` or `x-b3-sampled` alone carries no parent), W3C `baggage`, and Jaeger's
    /// `uberctx-*` baggage. Both B3 kinds read both encodings (they differ in what they write).
    fn trigger_headers(self) -> Triggers {
        let (names, prefix): (&'static [&'static str], _) = match self {
            PropagatorKind::TraceContext => (&["traceparent"], None),
            PropagatorKind::Baggage => (&["baggage"], None),
            PropagatorKind::Jaeger => (&["uber-trace-id"], Some(jaeger::BAGGAGE_PREFIX)),
            PropagatorKind::B3 | PropagatorKind::B3Multi => (&["b3", "x-b3-traceid"], None),
            PropagatorKind::None => (&[], None),
        };
        Triggers {
            kind: self,
            names,
            prefix,
        }
    }
}

impl fmt::Debug for HeaderCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HeaderCodec")
            .field(&self.inner.kinds)
            .finish()
    }
}

impl HeaderCodec {
    /// A codec reading and writing these formats, in this order (a repeated format counts
    /// once, where it first appears; `None` adds nothing).
    pub fn new(kinds: &[PropagatorKind]) -> Self {
        let mut unique: Vec<PropagatorKind> = Vec::with_capacity(kinds.len());
        for kind in kinds {
            if !unique.contains(kind) {
                unique.push(*kind);
            }
        }
        let kinds = &unique[..];
        let propagators: Vec<_> = kinds.iter().filter_map(|k| k.propagator()).collect();
        let fields = propagators
            .iter()
            .flat_map(|p| p.fields().map(str::to_owned))
            .collect();
        let triggers: Vec<Triggers> = kinds
            .iter()
            .filter(|k| **k != PropagatorKind::None)
            .map(|k| k.trigger_headers())
            .collect();
        let mut all_seen = (1u32 << triggers.len()) - 1;
        if triggers.iter().any(|t| t.prefix.is_some()) {
            all_seen |= PREFIXED_NAME;
        }
        let bits = || triggers.iter().enumerate().map(|(i, t)| (t, 1u32 << i));
        let trace_context = bits()
            .find(|(t, _)| t.kind == PropagatorKind::TraceContext)
            .map_or(0, |(_, bit)| bit);
        let mut trigger_names: Vec<(&'static str, u32)> = bits()
            .flat_map(|(t, bit)| t.names.iter().map(move |name| (*name, bit)))
            .collect();
        if trace_context != 0 {
            // Not a trigger, but noted: without it the W3C read skips its lookup.
            trigger_names.push((tracecontext::TRACESTATE, TRACESTATE_SEEN));
            all_seen |= TRACESTATE_SEEN;
        }
        let trigger_prefixes: Vec<(&'static str, u32)> = bits()
            .filter_map(|(t, bit)| Some((t.prefix?, bit | PREFIXED_NAME)))
            .collect();
        // At most 8 names (both B3 kinds, every other format, `tracestate`): a `u16` holds them.
        let mut triggers_by_length = [0u16; 64];
        let mut triggers_by_first_letter = [0u16; 32];
        for (i, (name, _)) in trigger_names.iter().enumerate() {
            triggers_by_length[name.len().min(63)] |= 1 << i;
            triggers_by_first_letter[first_letter(name)] |= 1 << i;
        }
        let prefix_first_letters = trigger_prefixes.iter().fold(0u32, |letters, (prefix, _)| {
            letters | 1 << first_letter(prefix)
        });
        HeaderCodec {
            inner: Arc::new(CodecInner {
                kinds: kinds.to_vec(),
                propagators,
                fields,
                triggers,
                trigger_names,
                trigger_prefixes,
                triggers_by_length,
                triggers_by_first_letter,
                prefix_first_letters,
                all_seen,
                trace_context,
            }),
        }
    }

    /// The formats, in order.
    pub fn kinds(&self) -> &[PropagatorKind] {
        &self.inner.kinds
    }

    /// The trace context carried by `headers`, on an empty context.
    pub fn extract<H: HeaderSource + ?Sized>(&self, headers: &H) -> Context {
        self.extract_with_context(&Context::new(), headers)
    }

    /// The trace context carried by `headers`, on top of `parent`.
    pub fn extract_with_context<H: HeaderSource + ?Sized>(
        &self,
        parent: &Context,
        headers: &H,
    ) -> Context {
        self.extract_inbound(parent, headers).into_context(parent)
    }

    /// What `headers` carry on top of `parent`, without building a context when they carry
    /// nothing but a W3C parent (a request inside a fleet): the server span's path, which
    /// makes its own context from `parent` anyway (an extracted context costs an allocation,
    /// its release and reference counting: 350 instructions of `core/tracing_unsampled`'s
    /// 2 300, callgrind).
    pub(crate) fn extract_inbound<H: HeaderSource + ?Sized>(
        &self,
        parent: &Context,
        headers: &H,
    ) -> Inbound {
        // One pass over the names finds which formats have their headers here; only those
        // run. A request without any trace header (an edge's usual traffic) skips extraction
        // entirely, and one with just `traceparent` (inside a fleet) runs only the W3C
        // propagator: each format skipped saves its header lookups, Jaeger's scan for
        // `uberctx-*` names and a context clone — what running it would have returned anyway.
        let inner = &self.inner;
        let present = self.formats_present(headers);
        let tracestate = present & TRACESTATE_SEEN != 0;
        match present & !TRACESTATE_SEEN {
            0 => Inbound::Parent(None),
            only_w3c if only_w3c == inner.trace_context => {
                Inbound::Parent(tracecontext::parent_from_headers(headers, tracestate))
            }
            _ => {
                let extractor = SourceExtractor {
                    headers,
                    list_names: present & PREFIXED_NAME != 0,
                };
                Inbound::Context(self.extract_formats(parent, &extractor, present, Some(headers)))
            }
        }
    }

    /// The pre-pass of [`extract_inbound`](Self::extract_inbound): a bit per configured
    /// format whose trigger header (or name prefix, then with [`PREFIXED_NAME`]) is among
    /// `headers`' names, and [`TRACESTATE_SEEN`] for a `tracestate`.
    #[inline]
    fn formats_present<H: HeaderSource + ?Sized>(&self, headers: &H) -> u32 {
        let inner = &self.inner;
        let present = Cell::new(0u32);
        // Only the trigger names of the header name's length and first letter are compared:
        // looping per propagator through each one's names and prefix cost 80 instructions per
        // header name, one flat list of every name 100 (callgrind). By length alone,
        // `user-agent` was still compared with `tracestate` and every name with the
        // `uberctx-` prefix: 247 instructions for `core/tracing_unsampled`'s two names, where
        // an ordinary name now costs a few (see docs/benchmarks.md, twelfth session).
        headers.any_header_name(&|name| {
            let mut found = present.get();
            let letter = first_letter(name);
            let mut candidates = inner.triggers_by_length[name.len().min(63)]
                & inner.triggers_by_first_letter[letter];
            while candidates != 0 {
                let (trigger, bit) = inner.trigger_names[candidates.trailing_zeros() as usize];
                candidates &= candidates - 1;
                if same_header_name(name, trigger) {
                    found |= bit;
                }
            }
            if inner.prefix_first_letters >> letter & 1 != 0 {
                for &(prefix, bits) in &inner.trigger_prefixes {
                    if strip_prefix_ignore_case(name, prefix).is_some() {
                        found |= bits;
                    }
                }
            }
            present.set(found);
            found == inner.all_seen // stop early once there is nothing left to learn
        });
        present.get()
    }

    /// Runs the propagators whose bit is set in `formats`, in order, each on the previous
    /// result, keeping what an earlier format read that a later one would drop.
    /// With `headers`, the W3C trace context is read from them directly
    /// ([`tracecontext::parent_from_headers`], which allocates nothing for a lone
    /// `traceparent`); the other formats always go through `extractor`.
    fn extract_formats<H: HeaderSource + ?Sized>(
        &self,
        parent: &Context,
        extractor: &dyn Extractor,
        formats: u32,
        headers: Option<&H>,
    ) -> Context {
        let inner = &self.inner;
        inner
            .propagators
            .iter()
            .zip(&inner.triggers)
            .enumerate()
            .filter(|(i, _)| formats & (1 << i) != 0)
            .fold(parent.clone(), |cx, (_, (propagator, triggers))| {
                match headers {
                    // Only adds the parent, with its own `tracestate`, to `cx`: nothing of
                    // `cx` to keep (each check costs context lookups: 190 instructions).
                    Some(headers) if triggers.kind == PropagatorKind::TraceContext => {
                        let tracestate = formats & TRACESTATE_SEEN != 0;
                        match tracecontext::parent_from_headers(headers, tracestate) {
                            Some(remote) => cx.with_remote_span_context(remote),
                            None => cx,
                        }
                    }
                    _ => {
                        let next = propagator.extract_with_context(&cx, extractor);
                        keep_baggage(&cx, keep_trace_state(&cx, next))
                    }
                }
            })
    }

    /// Writes the headers of every configured format for `context`'s span and baggage.
    pub fn inject<S: HeaderSink + ?Sized>(&self, context: &Context, sink: &mut S) {
        self.inject_context(context, &mut SinkInjector(sink));
    }

    /// The header names the codec writes.
    pub fn header_names(&self) -> &[String] {
        &self.inner.fields
    }
}

impl TextMapPropagator for HeaderCodec {
    fn inject_context(&self, context: &Context, injector: &mut dyn Injector) {
        for propagator in &self.inner.propagators {
            propagator.inject_context(context, injector);
        }
    }

    fn extract_with_context(&self, context: &Context, extractor: &dyn Extractor) -> Context {
        // Through the plain OpenTelemetry interface nothing is known of the headers: every
        // configured format runs.
        self.extract_formats(context, extractor, u32::MAX, None::<&NoHeaders>)
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.inner.fields)
    }
}

/// When a later format carries the same parent as an earlier one (a hop that wrote both
/// `traceparent` and `uber-trace-id`), it must not drop the W3C `tracestate` the earlier one
/// read: only W3C carries it, and vendors' entries would vanish after one hop.
fn keep_trace_state(previous: &Context, next: Context) -> Context {
    // Borrowed, not cloned: a span context's clone copies its `tracestate` entries.
    let restored = {
        let (before_span, after_span) = (previous.span(), next.span());
        let (before, after) = (before_span.span_context(), after_span.span_context());
        let same_parent = after.is_valid()
            && after.trace_id() == before.trace_id()
            && after.span_id() == before.span_id();
        (same_parent
            && after.trace_state().header().is_empty()
            && !before.trace_state().header().is_empty())
        .then(|| {
            SpanContext::new(
                after.trace_id(),
                after.span_id(),
                after.trace_flags(),
                true,
                before.trace_state().clone(),
            )
        })
    };
    match restored {
        Some(span_context) => next.with_remote_span_context(span_context),
        None => next,
    }
}

/// Baggage read by an earlier format survives a later one: the SDK's W3C propagator replaces
/// the context's baggage wholesale. Later formats win for a key both carry.
fn keep_baggage(previous: &Context, next: Context) -> Context {
    let (earlier, later) = (previous.baggage(), next.baggage());
    let missing: Vec<KeyValue> = earlier
        .iter()
        .filter(|(key, _)| later.get(key.as_str()).is_none())
        .map(|(key, (value, _))| KeyValue::new(key.clone(), value.clone()))
        .collect();
    if missing.is_empty() {
        return next;
    }
    let merged: Vec<KeyValue> = later
        .iter()
        .map(|(key, (value, _))| KeyValue::new(key.clone(), value.clone()))
        .chain(missing)
        .collect();
    next.with_baggage(merged)
}

/// Whether `value` is 1 to `max` ASCII hex digits of either case.
pub(crate) fn is_hex(value: &str, max: usize) -> bool {
    value.len() <= max && hex::parse_u128(value.as_bytes(), Case::Any).is_some()
}

/// Whether `value` is exactly `len` (at most 32) lower-case hex digits.
pub(crate) fn is_lower_hex(value: &str, len: usize) -> bool {
    value.len() == len && hex::parse_u128(value.as_bytes(), Case::Lower).is_some()
}

/// A remote span context from a trace id of up to 32 and a span id of up to 16 hex digits of
/// `case`; `None` for anything else and for zero ids.
pub(crate) fn remote_context(
    trace: &str,
    span: &str,
    case: Case,
    sampled: bool,
) -> Option<SpanContext> {
    let trace_id = hex::parse_u128(trace.as_bytes(), case)?;
    let span_id = hex::parse_u64(span.as_bytes(), case)?;
    remote_ids(trace_id, span_id, sampled)
}

/// A remote span context from ids already read; `None` for zero ids, which no format allows.
pub(crate) fn remote_ids(trace_id: u128, span_id: u64, sampled: bool) -> Option<SpanContext> {
    if trace_id == 0 || span_id == 0 {
        return None;
    }
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    Some(SpanContext::new(
        TraceId::from(trace_id),
        SpanId::from(span_id),
        flags,
        true,
        TraceState::default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    /// The pre-pass (by length and first letter) against a plain scan that compares every
    /// name with every trigger name and prefix, for each format alone and all together, over
    /// every set of up to three names from a pool of triggers in any case and decoys that
    /// share a trigger's length and first letter (or a first byte that folds to the same
    /// index: `4` for `t`).
    #[test]
    fn the_pre_pass_finds_what_comparing_every_name_finds() {
        let pool = [
            "traceparent",
            "TraceParent",
            "TRACESTATE",
            "tracestate",
            "baggage",
            "Baggage",
            "uber-trace-id",
            "UBER-TRACE-ID",
            "uberctx-tenant",
            "UberCtx-x",
            "uberctx-",
            "b3",
            "B3",
            "x-b3-traceid",
            "X-B3-TraceId",
            "tracepareny",
            "tracestatf",
            "baggagf",
            "uber-trace-ie",
            "uberctx",
            "ubercty-tenant",
            "b4",
            "x-b3-traceie",
            "4raceparent",
            "user-agent",
            "accept",
            "",
            "t",
            "u",
            "traceparentt",
            "\u{e9}raceparent",
        ];
        let formats = [
            "tracecontext",
            "baggage",
            "jaeger",
            "b3",
            "b3multi",
            "tracecontext,baggage,jaeger,b3,b3multi",
            "b3,jaeger",
        ];
        let mut sets = 0;
        for list in formats {
            let codec = HeaderCodec::new(&PropagatorKind::parse_list(list).unwrap());
            let inner = &codec.inner;
            let expected = |names: &[&str]| {
                let mut found = 0;
                for name in names {
                    for (trigger, bit) in &inner.trigger_names {
                        if name.eq_ignore_ascii_case(trigger) {
                            found |= bit;
                        }
                    }
                    for (prefix, bits) in &inner.trigger_prefixes {
                        if name.len() >= prefix.len()
                            && name.as_bytes()[..prefix.len()]
                                .eq_ignore_ascii_case(prefix.as_bytes())
                        {
                            found |= bits;
                        }
                    }
                }
                found
            };
            for a in 0..pool.len() {
                for b in a..pool.len() {
                    for c in b..pool.len() {
                        for names in [
                            &[pool[a]][..],
                            &[pool[a], pool[b]],
                            &[pool[a], pool[b], pool[c]],
                        ] {
                            let pairs: Vec<(&str, &str)> =
                                names.iter().map(|n| (*n, "v")).collect();
                            assert_eq!(
                                codec.formats_present(&pairs[..]),
                                expected(names),
                                "{list}: {names:?}"
                            );
                            sets += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(sets, 7 * 3 * 5_456);
        // And apart from the codec's own lists: every format's header, in any case, is found by
        // a codec of every format; an ordinary name by none.
        let all = HeaderCodec::new(
            &PropagatorKind::parse_list("tracecontext,baggage,jaeger,b3").unwrap(),
        );
        for name in [
            "traceparent",
            "TRACESTATE",
            "baggage",
            "Uber-Trace-Id",
            "uberctx-k",
            "B3",
            "x-b3-traceid",
        ] {
            assert_ne!(all.formats_present(&[(name, "v")][..]), 0, "{name}");
        }
        for name in ["user-agent", "accept", "uberctx", "x-b3-spanid-", "b"] {
            assert_eq!(all.formats_present(&[(name, "v")][..]), 0, "{name}");
        }
    }

    /// The server span's read: a lone W3C parent comes without a context, with its
    /// `tracestate` whatever the case of the names and wherever the header is; anything else
    /// builds the context.
    #[test]
    fn a_lone_w3c_parent_is_read_without_a_context_and_keeps_its_tracestate() {
        let codec =
            HeaderCodec::new(&PropagatorKind::parse_list("tracecontext,baggage,jaeger").unwrap());
        let base = Context::new();
        let state = |inbound: Inbound| match inbound {
            Inbound::Parent(Some(parent)) => {
                assert!(parent.is_remote() && parent.is_sampled());
                assert_eq!(parent.span_id().to_string(), "b7ad6b7169203331");
                parent.trace_state().header()
            }
            other => panic!("expected a lone parent, got {other:?}"),
        };
        let pairs: &[(&str, &str)] = &[
            ("TraceState", "congo=t61rcWkgMzE"),
            ("user-agent", "x"),
            ("TRACEPARENT", TRACEPARENT),
        ];
        assert_eq!(
            state(codec.extract_inbound(&base, pairs)),
            "congo=t61rcWkgMzE"
        );
        let mut map = http::HeaderMap::new();
        map.insert("traceparent", TRACEPARENT.parse().unwrap());
        assert_eq!(state(codec.extract_inbound(&base, &map)), "");
        map.append("tracestate", "a=1".parse().unwrap());
        map.append("tracestate", "b=2".parse().unwrap());
        assert_eq!(state(codec.extract_inbound(&base, &map)), "a=1,b=2");
        // Nothing, or an unusable parent: the caller's context as it is.
        assert!(matches!(
            codec.extract_inbound(&base, &[("accept", "*/*")][..]),
            Inbound::Parent(None)
        ));
        assert!(matches!(
            codec.extract_inbound(&base, &[("traceparent", "00-bad")][..]),
            Inbound::Parent(None)
        ));
        // Baggage beside it: the propagators build the context.
        let with_baggage: &[(&str, &str)] = &[("traceparent", TRACEPARENT), ("baggage", "k=v")];
        assert!(matches!(
            codec.extract_inbound(&base, with_baggage),
            Inbound::Context(_)
        ));
    }
}
