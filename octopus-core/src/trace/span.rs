//! The server span as Octopus records it: fields owned by the request, handed to the span
//! pipeline when the span ends, turned into [`SpanData`] only on the export thread, for the
//! exporters that take it (the Jaeger agent exporter encodes the record itself).
//!
//! # Why not the SDK's span
//!
//! An SDK span built with `SdkTracer::build_with_context` costs, on the request thread, a
//! `SpanBuilder`, an attribute vector of `KeyValue`s formatted one by one, a clone of the
//! tracer (an `Arc` whose count every worker thread writes), and at the end a `SpanData` sent
//! through the batch processor's shared channel (two shared atomics and the channel's own). The
//! export thread then frees memory the request thread allocated. Criterion single-thread:
//! 1.44 µs a sampled request, 510 ns an unsampled one.
//!
//! [`ServerSpan`] keeps the request's attributes as typed fields (an interned `&'static str`
//! for the name and route, the capped copies of path, host and user agent that a request
//! carries anyway, numbers as numbers) and its end moves that record into the ending thread's
//! buffer of the pipeline ([`super::pipeline`]); `KeyValue`s and `SpanData` are made by the
//! export thread (for SDK exporters; the Jaeger agent's thrift is written from the record),
//! which also frees everything.
//!
//! The one lock left on the request path is the OpenTelemetry `Context`'s: a span put in a
//! context sits behind a `Mutex` (`SynchronizedSpan`), so handlers can add attributes and
//! events through `Context::current().span()`. Only this request touches it: uncontended.

use std::borrow::Cow;
use std::cell::Cell;
use std::sync::Arc;
use std::time::SystemTime;

use arrayvec::ArrayString;
use opentelemetry::trace::{Event, Link, SpanContext, SpanId, SpanKind, Status};
use opentelemetry::{InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLimits, SpanLinks};

use super::pipeline::{Finished, ThreadBuffer};
use crate::HttpMethod;

// The attribute keys of a server span, for its `SpanData` and for the exporters that read the
// record directly.
const METHOD: &str = "http.request.method";
const METHOD_ORIGINAL: &str = "http.request.method_original";
const ROUTE: &str = "http.route";
const PATH: &str = "url.path";
const SCHEME: &str = "url.scheme";
const ADDRESS: &str = "server.address";
const PORT: &str = "server.port";
const PROTOCOL_VERSION: &str = "network.protocol.version";
const USER_AGENT: &str = "user_agent.original";
const REQUEST_BODY_SIZE: &str = "http.request.body.size";
const STATUS_CODE: &str = "http.response.status_code";
const ERROR_TYPE: &str = "error.type";
const RESPONSE_BODY_SIZE: &str = "http.response.body.size";

/// The request attributes of a server span, as the request gave them (capped copies of what
/// the client sent), in the order they are exported.
#[derive(Debug)]
pub(crate) struct RequestAttributes {
    /// `http.request.method`.
    pub(crate) method: HttpMethod,
    /// `http.route`, when known at start.
    pub(crate) route: Option<&'static str>,
    /// `url.path`, `server.address`, `user_agent.original` and
    /// `http.request.method_original` (for methods outside the known set).
    pub(crate) text: RequestText,
    /// `url.scheme`.
    pub(crate) scheme: CommonText,
    /// `server.port`.
    pub(crate) port: Option<u16>,
    /// `network.protocol.version`.
    pub(crate) protocol_version: CommonText,
    /// `http.request.body.size`, when known at start.
    pub(crate) body_size: Option<u64>,
}

/// The text a request's span copies from it, each piece capped, one after the other: inline
/// in the record up to [`INLINE_TEXT`] bytes, in one allocation beyond.
///
/// A `String` per piece cost the request thread three allocations and the export thread three
/// frees per sampled request; one allocation for all (`core/tracing`: 4 396 → 4 192
/// instructions, about 600 → 480–550 ns) still went through the allocator's slow path on both
/// threads, since a block the export thread frees never returns to the request thread's
/// cache: `_int_malloc` alone was 6 % of the request thread in `core/tracing` (perf), and the
/// free takes the request thread's arena lock. A service's usual path, host and user agent
/// (`/users/42`, `users.internal:8080`, `Go-http-client/1.1`) fit inline.
#[derive(Debug)]
pub(crate) struct RequestText {
    /// The pieces, one after the other: path, address, user agent, method, and a scheme and
    /// protocol version other than the common ones (see [`CommonText`]).
    text: Text,
    /// Where each piece ends in `text` (an absent piece ends where the one before it did).
    ends: [u16; RequestText::PIECES],
    /// Which pieces are there, a bit each (the path always is).
    present: u8,
}

/// A request's text: inline when it fits, else in one allocation.
#[derive(Debug)]
enum Text {
    Inline(ArrayString<INLINE_TEXT>),
    Heap(Box<str>),
}

/// The request text kept inline: 72 bytes make [`RequestText`] 96 bytes (48 before, with its
/// text on the heap).
pub(crate) const INLINE_TEXT: usize = 72;

impl RequestText {
    const PATH: usize = 0;
    const ADDRESS: usize = 1;
    const USER_AGENT: usize = 2;
    const METHOD: usize = 3;
    const SCHEME: usize = 4;
    const PROTOCOL_VERSION: usize = 5;
    const PIECES: usize = 6;

    /// [`with_pieces`](Self::with_pieces) without a scheme or protocol version of the
    /// request's own.
    #[cfg(test)]
    pub(crate) fn new(
        path: &str,
        address: Option<&str>,
        user_agent: Option<&str>,
        method_original: Option<&str>,
    ) -> Self {
        RequestText::with_pieces([Some(path), address, user_agent, method_original, None, None])
    }

    /// The pieces — path, address, user agent, method, then a scheme and a protocol version of
    /// the request's own (those [`CommonText`] does not know) — copied, each already capped by
    /// the caller: `MAX_PATH_LEN` + `MAX_HOST_LEN` + `MAX_USER_AGENT_LEN` + 3 ×
    /// `MAX_METHOD_LEN` is 3 519 bytes, so every end fits a `u16`.
    pub(crate) fn with_pieces(pieces: [Option<&str>; RequestText::PIECES]) -> Self {
        let mut ends = [0u16; RequestText::PIECES];
        let mut present = 0u8;
        let mut end = 0usize;
        for (index, piece) in pieces.iter().enumerate() {
            if let Some(piece) = piece {
                end += piece.len();
                present |= 1 << index;
            }
            ends[index] = u16::try_from(end).unwrap_or(u16::MAX);
        }
        let text = if end <= INLINE_TEXT {
            let mut inline = ArrayString::new();
            for piece in pieces.into_iter().flatten() {
                // Fits: `end` is the sum of the pieces' lengths.
                inline.push_str(piece);
            }
            Text::Inline(inline)
        } else {
            let mut heap = String::with_capacity(end);
            for piece in pieces.into_iter().flatten() {
                heap.push_str(piece);
            }
            Text::Heap(heap.into_boxed_str())
        };
        RequestText {
            text,
            ends,
            present,
        }
    }

    fn piece(&self, index: usize) -> Option<&str> {
        if self.present & (1 << index) == 0 {
            return None;
        }
        let start = if index == 0 { 0 } else { self.ends[index - 1] };
        let text = match &self.text {
            Text::Inline(inline) => inline.as_str(),
            Text::Heap(heap) => heap,
        };
        text.get(usize::from(start)..usize::from(self.ends[index]))
    }

    pub(crate) fn path(&self) -> &str {
        self.piece(Self::PATH).unwrap_or_default()
    }

    pub(crate) fn address(&self) -> Option<&str> {
        self.piece(Self::ADDRESS)
    }

    pub(crate) fn user_agent(&self) -> Option<&str> {
        self.piece(Self::USER_AGENT)
    }

    pub(crate) fn method_original(&self) -> Option<&str> {
        self.piece(Self::METHOD)
    }

    fn scheme(&self) -> Option<&str> {
        self.piece(Self::SCHEME)
    }

    fn protocol_version(&self) -> Option<&str> {
        self.piece(Self::PROTOCOL_VERSION)
    }
}

/// A request value that is nearly always one of a few texts (`url.scheme`,
/// `network.protocol.version`): one of those kept by its index, any other copied into the
/// request's [`RequestText`]. Two bytes in the record where a `StringValue` took 24 (and an
/// allocation for a value outside the few).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CommonText {
    Absent,
    Known(u8),
    InText,
}

/// The `url.scheme` values kept as an index ([`scheme_index`]).
pub(crate) const SCHEMES: &[&str] = &["http", "https"];
/// The `network.protocol.version` values kept as an index ([`protocol_version_index`]).
pub(crate) const PROTOCOL_VERSIONS: &[&str] = &["1.1", "2", "1.0", "3"];

/// Where `value` is in [`SCHEMES`]. A `match` on the texts, which compiles to a comparison
/// of the length and of the bytes as one integer: a search of the list compared through
/// `memcmp` calls (86 instructions a request for both values against 34; callgrind,
/// `core/tracing`, twelfth session).
pub(crate) fn scheme_index(value: &str) -> Option<u8> {
    match value {
        "http" => Some(0),
        "https" => Some(1),
        _ => None,
    }
}

/// Where `value` is in [`PROTOCOL_VERSIONS`] (as [`scheme_index`]).
pub(crate) fn protocol_version_index(value: &str) -> Option<u8> {
    match value {
        "1.1" => Some(0),
        "2" => Some(1),
        "1.0" => Some(2),
        "3" => Some(3),
        _ => None,
    }
}

impl CommonText {
    /// `value` as a common one (`index` tells where it is in its list), or as text to copy
    /// (returned).
    #[inline]
    pub(crate) fn of(
        value: Option<&str>,
        index: impl Fn(&str) -> Option<u8>,
    ) -> (CommonText, Option<&str>) {
        match value {
            None => (CommonText::Absent, None),
            Some(value) => match index(value) {
                Some(index) => (CommonText::Known(index), None),
                None => (CommonText::InText, Some(value)),
            },
        }
    }

    /// The value: one of `common`, or the `copied` text.
    #[inline]
    fn get<'a>(self, common: &[&'static str], copied: Option<&'a str>) -> Option<AttributeRef<'a>> {
        match self {
            CommonText::Absent => None,
            CommonText::Known(index) => Some(AttributeRef::Static(common[usize::from(index)])),
            CommonText::InText => copied.map(AttributeRef::Str),
        }
    }
}

impl RequestAttributes {
    /// How many attributes these are.
    fn count(&self) -> u32 {
        let text = &self.text;
        1 + u32::from(text.method_original().is_some())
            + u32::from(self.route.is_some())
            + 1
            + u32::from(self.scheme != CommonText::Absent)
            + u32::from(text.address().is_some())
            + u32::from(self.port.is_some())
            + u32::from(self.protocol_version != CommonText::Absent)
            + u32::from(text.user_agent().is_some())
            + u32::from(self.body_size.is_some())
    }

    /// Calls `f` with each attribute, borrowed, in the order they are exported: the one list
    /// behind both the `SpanData` of SDK exporters and the Jaeger agent's encoding.
    #[inline(always)]
    fn visit(&self, f: &mut impl FnMut(&'static str, AttributeRef<'_>)) {
        let text = &self.text;
        f(METHOD, AttributeRef::Static(self.method.as_str()));
        if let Some(original) = text.method_original() {
            f(METHOD_ORIGINAL, AttributeRef::Str(original));
        }
        if let Some(route) = self.route {
            f(ROUTE, AttributeRef::Static(route));
        }
        f(PATH, AttributeRef::Str(text.path()));
        if let Some(scheme) = self.scheme.get(SCHEMES, text.scheme()) {
            f(SCHEME, scheme);
        }
        if let Some(address) = text.address() {
            f(ADDRESS, AttributeRef::Str(address));
        }
        if let Some(port) = self.port {
            f(PORT, AttributeRef::I64(i64::from(port)));
        }
        if let Some(version) = self
            .protocol_version
            .get(PROTOCOL_VERSIONS, text.protocol_version())
        {
            f(PROTOCOL_VERSION, version);
        }
        if let Some(agent) = text.user_agent() {
            f(USER_AGENT, AttributeRef::Str(agent));
        }
        if let Some(size) = self.body_size {
            f(REQUEST_BODY_SIZE, AttributeRef::I64(saturating_i64(size)));
        }
    }
}

/// An attribute of a server span as an exporter reads it from the record, borrowed: what
/// [`ServerFinished::into_span_data`] would make a `KeyValue` of.
#[derive(Clone, Copy, Debug)]
pub(crate) enum AttributeRef<'a> {
    /// Text of the program's (a method name, an interned route): no copy in a `KeyValue`.
    Static(&'static str),
    /// Text of the request's (its path, host, user agent): copied into a `KeyValue`.
    Str(&'a str),
    /// A value the record keeps as a `StringValue` (scheme, protocol version, error type).
    Text(&'a StringValue),
    I64(i64),
    Bool(bool),
    /// An attribute added as a `KeyValue` (a handler's, the sampler's).
    Value(&'a Value),
}

/// A visitor appending each attribute to `attributes` as a `KeyValue`.
fn push_to(attributes: &mut Vec<KeyValue>) -> impl FnMut(&'static str, AttributeRef<'_>) + '_ {
    move |key, value| attributes.push(KeyValue::new(key, value.to_value()))
}

impl AttributeRef<'_> {
    /// The value as a `KeyValue` holds it.
    fn to_value(self) -> Value {
        match self {
            AttributeRef::Static(text) => Value::from(text),
            AttributeRef::Str(text) => Value::from(text.to_owned()),
            AttributeRef::Text(text) => Value::String(text.clone()),
            AttributeRef::I64(value) => Value::I64(value),
            AttributeRef::Bool(value) => Value::Bool(value),
            AttributeRef::Value(value) => value.clone(),
        }
    }
}

/// A size as an attribute value (OpenTelemetry integers are `i64`).
pub(crate) fn saturating_i64(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

/// How a request ended, as the observation hands it to the span's `end`.
#[derive(Debug, Default)]
pub(crate) struct ResponseFields {
    /// `http.response.status_code`.
    pub(crate) status_code: Option<u16>,
    /// `error.type`.
    pub(crate) error_type: Option<StringValue>,
    /// `http.response.body.size`, when known at the end.
    pub(crate) body_size: Option<u64>,
    /// The status the observation sets (Error for 5xx and panics).
    pub(crate) status: Option<Status>,
    /// [`super::CANCELLED_ATTRIBUTE`]: the request's future was dropped before it ended.
    pub(crate) cancelled: bool,
}

/// The response attributes a record keeps: [`ResponseFields`] without the status, which goes
/// into the record's own (24 bytes of every span handed to the export thread otherwise).
#[derive(Debug, Default)]
struct RecordedResponse {
    status_code: Option<u16>,
    error_type: Option<StringValue>,
    body_size: Option<u64>,
    cancelled: bool,
}

impl RecordedResponse {
    /// Calls `f` with each response attribute the record kept, in the order they are
    /// exported.
    #[inline(always)]
    fn visit(&self, f: &mut impl FnMut(&'static str, AttributeRef<'_>)) {
        if let Some(status) = self.status_code {
            f(STATUS_CODE, AttributeRef::I64(i64::from(status)));
        }
        if let Some(error_type) = &self.error_type {
            f(ERROR_TYPE, AttributeRef::Text(error_type));
        }
        if let Some(size) = self.body_size {
            f(RESPONSE_BODY_SIZE, AttributeRef::I64(saturating_i64(size)));
        }
        if self.cancelled {
            f(super::CANCELLED_ATTRIBUTE, AttributeRef::Bool(true));
        }
    }
}

thread_local! {
    /// The observation's response fields, read by the `end` it calls right after setting them.
    ///
    /// Why a thread-local: the observation reaches its span only through the `Context`
    /// (`SpanRef`), which offers the `Span` trait's methods and nothing else. Handing over
    /// typed fields this way costs no `KeyValue`s and no shared state; `end` runs
    /// synchronously on this thread, inside the `SpanRef` call, and always takes the slot.
    static RESPONSE: Cell<Option<ResponseFields>> = const { Cell::new(None) };
    /// The route of a [`set_route`](crate::Observation::set_route), read by the
    /// `update_name` the observation calls right after setting it (see [`RESPONSE`]).
    static LATE_ROUTE: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// Hands `fields` to the `end` the caller makes next on this thread.
pub(crate) fn hand_over_response(fields: ResponseFields) {
    let _ = RESPONSE.try_with(|slot| slot.set(Some(fields)));
}

/// Hands `route` to the `update_name` the caller makes next on this thread.
pub(crate) fn hand_over_route(route: &'static str) {
    let _ = LATE_ROUTE.try_with(|slot| slot.set(Some(route)));
}

/// Clears what a handed-over call did not take (the span was locked out by a poisoned mutex):
/// the next span on this thread must not find it.
pub(crate) fn clear_hand_over() {
    let _ = RESPONSE.try_with(Cell::take);
    let _ = LATE_ROUTE.try_with(Cell::take);
}

/// What a sampled server span recorded; moved into the pipeline when it ends.
///
/// Kept small (what every request has, inline; what only some handlers add, behind
/// [`Extras`]): the record is moved into the context's box, out of it and into the thread's
/// buffer, and each move copies it. At about 700 bytes those copies were a tenth of the
/// request thread's time in `core/tracing` (perf: `memmove` 9.8 %).
#[derive(Debug)]
pub(crate) struct ServerRecord {
    parent_span_id: SpanId,
    parent_span_is_remote: bool,
    name: Cow<'static, str>,
    start_time: SystemTime,
    end_time: SystemTime,
    request: RequestAttributes,
    /// `http.route` named after start, when no attribute was added before it (warp and
    /// rocket name every route this way: inline, not in the extras).
    late_route: Option<&'static str>,
    response: RecordedResponse,
    /// The provider's span limits (the SDK's defaults, or `OTEL_SPAN_*_COUNT_LIMIT`): the
    /// server span drops, and counts as dropped, what an SDK span of the provider would.
    limits: SpanLimits,
    /// Attributes kept so far, against the limit.
    attribute_count: u32,
    dropped_attributes_count: u32,
    status: Status,
    /// What only some requests have; allocated when the first of it comes.
    extras: Option<Box<Extras>>,
}

/// The parts of a server span most requests never have: a handler's attributes, events and
/// links, the sampler's attributes, the link of a restarted trace.
#[derive(Debug, Default)]
struct Extras {
    /// Attributes of the sampling decision (none of Octopus's samplers adds any): first, as
    /// the SDK puts them.
    sampler_attributes: Vec<KeyValue>,
    /// Attributes added after start, in order (a handler's, a late `http.route` after them).
    added: Vec<KeyValue>,
    events: Vec<Event>,
    dropped_events: u32,
    /// With [`InboundTrace::Restart`](crate::config::InboundTrace::Restart): the inbound
    /// parent, linked.
    restart_link: Option<SpanContext>,
    links: Vec<Link>,
    dropped_links: u32,
}

/// A server span that ended, as it waits in a buffer.
#[derive(Debug)]
pub(crate) struct ServerFinished {
    span_context: SpanContext,
    record: ServerRecord,
}

impl ServerFinished {
    /// The `SpanData` an SDK span with the same calls would have ended with. Runs on the
    /// export thread.
    pub(crate) fn into_span_data(self, scope: &InstrumentationScope) -> SpanData {
        self.record.into_span_data(self.span_context, scope)
    }

    // What follows reads the span as its `SpanData` would have it, without making it: the
    // Jaeger agent exporter encodes server spans from these (its byte-for-byte test compares
    // the two ways).

    pub(crate) fn span_context(&self) -> &SpanContext {
        &self.span_context
    }

    pub(crate) fn parent_span_id(&self) -> SpanId {
        self.record.parent_span_id
    }

    pub(crate) fn name(&self) -> &str {
        &self.record.name
    }

    pub(crate) fn start_time(&self) -> SystemTime {
        self.record.start_time
    }

    pub(crate) fn end_time(&self) -> SystemTime {
        self.record.end_time
    }

    pub(crate) fn status(&self) -> &Status {
        &self.record.status
    }

    /// How many attributes the span data keeps (see [`for_each_attribute`]).
    ///
    /// [`for_each_attribute`]: Self::for_each_attribute
    pub(crate) fn attribute_count(&self) -> usize {
        let record = &self.record;
        (record.attribute_count as usize).min(record.limits.max_attributes_per_span as usize)
    }

    /// The span data's `dropped_attributes_count`.
    pub(crate) fn dropped_attributes_count(&self) -> u32 {
        let record = &self.record;
        let cut = (record.attribute_count as usize).saturating_sub(self.attribute_count());
        record.dropped_attributes_count + cut as u32
    }

    /// Calls `f` with each attribute the span data keeps, in its order.
    #[inline(always)]
    pub(crate) fn for_each_attribute(&self, mut f: impl FnMut(&str, AttributeRef<'_>)) {
        let record = &self.record;
        if record.extras.is_none()
            && record.attribute_count <= record.limits.max_attributes_per_span
        {
            // What almost every server span is: its request's and response's attributes, all
            // kept. Visited without the limit's counting closure in between.
            record.request.visit(&mut f);
            if let Some(route) = record.late_route {
                f(ROUTE, AttributeRef::Static(route));
            }
            record.response.visit(&mut f);
            return;
        }
        let mut left = self.attribute_count();
        let mut kept = |key: &str, value: AttributeRef<'_>| {
            if left > 0 {
                left -= 1;
                f(key, value);
            }
        };
        let extras = record.extras.as_deref();
        let added = |kv: &KeyValue, kept: &mut dyn FnMut(&str, AttributeRef<'_>)| {
            kept(kv.key.as_str(), AttributeRef::Value(&kv.value))
        };
        for kv in extras.map_or(&[][..], |e| &e.sampler_attributes) {
            added(kv, &mut kept);
        }
        // In `into_span_data`'s order.
        record.request.visit(&mut kept);
        if let Some(route) = record.late_route {
            kept(ROUTE, AttributeRef::Static(route));
        }
        for kv in extras.map_or(&[][..], |e| &e.added) {
            added(kv, &mut kept);
        }
        record.response.visit(&mut kept);
    }

    /// The span data's events.
    pub(crate) fn events(&self) -> &[Event] {
        self.record.extras.as_deref().map_or(&[], |e| &e.events)
    }

    /// How many links the span data has.
    pub(crate) fn link_count(&self) -> usize {
        self.record
            .extras
            .as_deref()
            .map_or(0, |e| usize::from(e.restart_link.is_some()) + e.links.len())
    }

    /// Calls `f` with the span context of each link, in the span data's order (a restarted
    /// trace's inbound parent first).
    pub(crate) fn for_each_link(&self, mut f: impl FnMut(&SpanContext)) {
        let Some(extras) = self.record.extras.as_deref() else {
            return;
        };
        if let Some(remote) = &extras.restart_link {
            f(remote);
        }
        for link in &extras.links {
            f(&link.span_context);
        }
    }
}

/// What a server span starts with.
#[derive(Debug)]
pub(crate) struct ServerStart {
    /// The span's own context (ids, sampled flag, trace state).
    pub(crate) span_context: SpanContext,
    /// The parent's span id (invalid for a root).
    pub(crate) parent: SpanId,
    /// Whether the parent came from the request's headers.
    pub(crate) parent_is_remote: bool,
    /// `{METHOD} {route}`, interned.
    pub(crate) name: &'static str,
    /// When the request was received (or the span started).
    pub(crate) start_time: SystemTime,
    /// What the sampler added.
    pub(crate) sampler_attributes: Vec<KeyValue>,
    /// The request's attributes.
    pub(crate) request: RequestAttributes,
    /// The inbound parent, linked, with [`InboundTrace::Restart`](crate::config::InboundTrace::Restart).
    pub(crate) restart_link: Option<SpanContext>,
    /// The provider's span limits.
    pub(crate) limits: SpanLimits,
}

/// The server span of a sampled request, in the request's context.
#[derive(Debug)]
pub(crate) struct ServerSpan {
    span_context: SpanContext,
    /// `None` once ended.
    record: Option<ServerRecord>,
    /// Where the record goes when the span ends: the starting thread's buffer (an `Arc` only
    /// that thread clones); `None` when spans are not exported.
    sink: Option<Arc<ThreadBuffer>>,
}

impl ServerSpan {
    /// A recording span.
    #[inline]
    pub(crate) fn new(start: ServerStart, sink: Option<Arc<ThreadBuffer>>) -> Self {
        let attribute_count = start.sampler_attributes.len() as u32 + start.request.count();
        let extras =
            (!start.sampler_attributes.is_empty() || start.restart_link.is_some()).then(|| {
                Box::new(Extras {
                    sampler_attributes: start.sampler_attributes,
                    restart_link: start.restart_link,
                    ..Extras::default()
                })
            });
        ServerSpan {
            span_context: start.span_context,
            record: Some(ServerRecord {
                parent_span_id: start.parent,
                parent_span_is_remote: start.parent_is_remote,
                name: Cow::Borrowed(start.name),
                start_time: start.start_time,
                end_time: start.start_time,
                request: start.request,
                late_route: None,
                response: RecordedResponse::default(),
                limits: start.limits,
                attribute_count,
                dropped_attributes_count: 0,
                status: Status::Unset,
                extras,
            }),
            sink,
        }
    }

    /// Ends the record where it is: the response handed over, the end time. `false` if it
    /// ended before.
    fn end_record(&mut self, timestamp: Option<SystemTime>) -> bool {
        let response = RESPONSE.try_with(Cell::take).ok().flatten();
        let Some(record) = &mut self.record else {
            return false;
        };
        if let Some(response) = response {
            record.set_response(response);
        }
        record.end_time = match timestamp {
            Some(timestamp) => timestamp,
            None if record.end_time == record.start_time => opentelemetry::time::now(),
            None => record.end_time,
        };
        true
    }

    /// The span ended at `timestamp`, as the pipeline would get it (for tests of exporters).
    #[cfg(test)]
    pub(crate) fn ended(mut self, timestamp: SystemTime) -> ServerFinished {
        assert!(self.end_record(Some(timestamp)), "not ended before");
        ServerFinished {
            span_context: self.span_context.clone(),
            record: self.record.take().expect("ended just now"),
        }
    }

    fn end_now(&mut self, timestamp: Option<SystemTime>) {
        if !self.end_record(timestamp) {
            return;
        }
        // Unsampled-but-recorded spans (a `RecordOnly` decision) are not exported.
        if self.span_context.is_sampled()
            && let Some(sink) = self.sink.take()
        {
            // The `Context` keeps its own copy of the span context and never asks the span
            // for it again: this one can go with the record.
            let span_context = std::mem::replace(&mut self.span_context, SpanContext::NONE);
            let record = &mut self.record;
            sink.push_with(|| {
                Some(Finished::Server(ServerFinished {
                    span_context,
                    record: record.take()?,
                }))
            });
        }
        // Ended: whatever was not handed over goes.
        self.record = None;
    }
}

impl ServerRecord {
    /// Whether one more attribute fits; counts it as dropped otherwise.
    fn admit(&mut self) -> bool {
        if self.attribute_count < self.limits.max_attributes_per_span {
            self.attribute_count += 1;
            true
        } else {
            self.dropped_attributes_count += 1;
            false
        }
    }

    fn set_response(&mut self, response: ResponseFields) {
        // In the order the SDK span got them: status code, error type, body size, cancelled.
        if let Some(status) = response.status_code
            && self.admit()
        {
            self.response.status_code = Some(status);
        }
        if let Some(error_type) = response.error_type
            && self.admit()
        {
            self.response.error_type = Some(error_type);
        }
        if let Some(size) = response.body_size
            && self.admit()
        {
            self.response.body_size = Some(size);
        }
        if let Some(status) = response.status {
            self.merge_status(status);
        }
        if response.cancelled && self.admit() {
            self.response.cancelled = true;
        }
    }

    /// The SDK's rule: Ok over Error over Unset.
    fn merge_status(&mut self, status: Status) {
        if status > self.status {
            self.status = status;
        }
    }

    /// The extras, made on first use.
    fn extras(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Box::default)
    }

    fn into_span_data(self, span_context: SpanContext, scope: &InstrumentationScope) -> SpanData {
        let extras = self.extras.map(|extras| *extras).unwrap_or_default();
        let mut attributes = Vec::with_capacity(self.attribute_count as usize);
        // The record's own attributes as `KeyValue`s (the request's text copied out of its one
        // allocation, here on the export thread); the sampler's and a handler's moved.
        attributes.extend(extras.sampler_attributes);
        self.request.visit(&mut push_to(&mut attributes));
        if let Some(route) = self.late_route {
            attributes.push(KeyValue::new(ROUTE, route));
        }
        attributes.extend(extras.added);
        self.response.visit(&mut push_to(&mut attributes));
        // Request attributes past a limit below their number (`OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`
        // of a few): the SDK span would have refused them one by one.
        let limit = self.limits.max_attributes_per_span as usize;
        let mut dropped_attributes_count = self.dropped_attributes_count;
        if attributes.len() > limit {
            dropped_attributes_count += (attributes.len() - limit) as u32;
            attributes.truncate(limit);
        }
        let mut links = extras.links;
        if let Some(remote) = extras.restart_link {
            links.insert(0, Link::with_context(remote));
        }
        // Both are `#[non_exhaustive]`: filled field by field.
        let mut events = SpanEvents::default();
        events.events = extras.events;
        events.dropped_count = extras.dropped_events;
        let mut span_links = SpanLinks::default();
        span_links.links = links;
        span_links.dropped_count = extras.dropped_links;
        SpanData {
            span_context,
            parent_span_id: self.parent_span_id,
            parent_span_is_remote: self.parent_span_is_remote,
            span_kind: SpanKind::Server,
            name: self.name,
            start_time: self.start_time,
            end_time: self.end_time,
            attributes,
            dropped_attributes_count,
            events,
            links: span_links,
            status: self.status,
            instrumentation_scope: scope.clone(),
        }
    }
}

impl opentelemetry::trace::Span for ServerSpan {
    fn add_event_with_timestamp<T>(
        &mut self,
        name: T,
        timestamp: SystemTime,
        mut attributes: Vec<KeyValue>,
    ) where
        T: Into<Cow<'static, str>>,
    {
        let Some(record) = &mut self.record else {
            return;
        };
        let limits = record.limits;
        let extras = record.extras();
        if extras.events.len() < limits.max_events_per_span as usize {
            let limit = limits.max_attributes_per_event as usize;
            let dropped = attributes.len().saturating_sub(limit);
            attributes.truncate(limit);
            extras
                .events
                .push(Event::new(name, timestamp, attributes, dropped as u32));
        } else {
            extras.dropped_events += 1;
        }
    }

    fn span_context(&self) -> &SpanContext {
        &self.span_context
    }

    fn is_recording(&self) -> bool {
        self.record.is_some()
    }

    fn set_attribute(&mut self, attribute: KeyValue) {
        if let Some(record) = &mut self.record
            && record.admit()
        {
            record.extras().added.push(attribute);
        }
    }

    fn set_status(&mut self, status: Status) {
        if let Some(record) = &mut self.record {
            record.merge_status(status);
        }
    }

    fn update_name<T>(&mut self, new_name: T)
    where
        T: Into<Cow<'static, str>>,
    {
        let late_route = LATE_ROUTE.try_with(Cell::take).ok().flatten();
        let Some(record) = &mut self.record else {
            return;
        };
        record.name = new_name.into();
        if let Some(route) = late_route
            && record.admit()
        {
            // Where the SDK span had it: after every attribute added so far.
            let nothing_added = record.extras.as_ref().is_none_or(|e| e.added.is_empty());
            if nothing_added && record.late_route.is_none() {
                record.late_route = Some(route);
            } else {
                record.extras().added.push(KeyValue::new(ROUTE, route));
            }
        }
    }

    fn add_link(&mut self, span_context: SpanContext, mut attributes: Vec<KeyValue>) {
        let Some(record) = &mut self.record else {
            return;
        };
        let limits = record.limits;
        let extras = record.extras();
        let links = extras.links.len() + usize::from(extras.restart_link.is_some());
        if links < limits.max_links_per_span as usize {
            let limit = limits.max_attributes_per_link as usize;
            let dropped = attributes.len().saturating_sub(limit);
            attributes.truncate(limit);
            extras
                .links
                .push(Link::new(span_context, attributes, dropped as u32));
        } else {
            extras.dropped_links += 1;
        }
    }

    fn end_with_timestamp(&mut self, timestamp: SystemTime) {
        self.end_now(Some(timestamp));
    }
}

impl Drop for ServerSpan {
    /// Ends the span if nothing did, as an SDK span does.
    fn drop(&mut self) {
        if self.record.is_some() {
            self.end_now(None);
        }
    }
}

/// Server spans with everything a record can hold, for the exporters' tests: each call makes
/// the same spans (fixed ids and times).
#[cfg(test)]
pub(crate) fn varied_server_spans() -> Vec<ServerFinished> {
    use std::time::Duration;

    use opentelemetry::trace::{Span as _, TraceFlags, TraceId, TraceState};

    let at = |micros: u64| {
        SystemTime::UNIX_EPOCH + Duration::from_micros(1_700_000_000_000_000 + micros)
    };
    let context = |id: u64, flags: TraceFlags| {
        SpanContext::new(
            TraceId::from(0x4bf92f3577b34da6a3ce929d0e0e4736),
            SpanId::from(id),
            flags,
            false,
            TraceState::default(),
        )
    };
    // A method outside the known set comes with a scheme and a protocol version outside the
    // common ones too, kept in the request's text.
    let request = |method: HttpMethod, route: Option<&'static str>| {
        let other = method == HttpMethod::Other;
        let (scheme, scheme_text) =
            CommonText::of(Some(if other { "wss" } else { "http" }), scheme_index);
        let (protocol_version, protocol_text) = CommonText::of(
            Some(if other { "0.9" } else { "1.1" }),
            protocol_version_index,
        );
        RequestAttributes {
            method,
            route,
            text: RequestText::with_pieces([
                Some("/users/42"),
                Some("127.0.0.1"),
                Some("curl/8.5.0"),
                other.then_some("BREW"),
                scheme_text,
                protocol_text,
            ]),
            scheme,
            port: Some(10999),
            protocol_version,
            body_size: Some(12),
        }
    };
    let start =
        |id: u64, parent: u64, request: RequestAttributes, limits: SpanLimits| ServerStart {
            span_context: context(id, TraceFlags::SAMPLED),
            parent: SpanId::from(parent),
            parent_is_remote: parent != 0,
            name: "GET /users/{id}",
            start_time: at(id),
            sampler_attributes: Vec::new(),
            request,
            restart_link: None,
            limits,
        };
    let limits = SpanLimits::default();
    let mut spans = Vec::new();

    // Every request attribute, a response with a body size: no extras.
    let span = ServerSpan::new(
        start(
            1,
            0x00f067aa0ba902b7,
            request(HttpMethod::Get, Some("/users/{id}")),
            limits,
        ),
        None,
    );
    hand_over_response(ResponseFields {
        status_code: Some(200),
        body_size: Some(2_000_000),
        ..ResponseFields::default()
    });
    spans.push(span.ended(at(900)));

    // An unknown method, the route named late, a handler's attribute, event and link, a
    // restarted trace's link, the sampler's attribute, a 5xx, cancelled.
    let mut first = start(2, 0, request(HttpMethod::Other, None), limits);
    first.sampler_attributes = vec![KeyValue::new("sampler.rule", "always")];
    first.restart_link = Some(context(0x77, TraceFlags::default()));
    let mut span = ServerSpan::new(first, None);
    hand_over_route("/users/{id}");
    span.update_name("BREW /users/{id}");
    span.set_attribute(KeyValue::new("user.tier", "gold"));
    span.set_attribute(KeyValue::new("retries", 2_i64));
    span.set_attribute(KeyValue::new("ratio", 0.5));
    span.add_event_with_timestamp("cache miss", at(50), vec![KeyValue::new("key", "u42")]);
    span.add_link(context(0x88, TraceFlags::SAMPLED), Vec::new());
    hand_over_response(ResponseFields {
        status_code: Some(503),
        error_type: Some("503".into()),
        status: Some(Status::error("upstream down")),
        cancelled: true,
        ..ResponseFields::default()
    });
    spans.push(span.ended(at(1_500)));

    // A route named late with a handler's attribute before it; status Ok set by the handler.
    let mut span = ServerSpan::new(
        start(3, 0x99, request(HttpMethod::Post, None), limits),
        None,
    );
    span.set_attribute(KeyValue::new("first", true));
    hand_over_route("/orders");
    span.update_name("POST /orders");
    span.set_status(Status::Ok);
    spans.push(span.ended(at(2_000)));

    // A limit below the request's own attributes: they are cut, and counted as dropped.
    let tight = SpanLimits {
        max_attributes_per_span: 3,
        ..limits
    };
    let mut span = ServerSpan::new(
        start(4, 0, request(HttpMethod::Get, Some("/users/{id}")), tight),
        None,
    );
    span.set_attribute(KeyValue::new("refused", 1_i64));
    hand_over_response(ResponseFields {
        status_code: Some(404),
        ..ResponseFields::default()
    });
    spans.push(span.ended(at(2_500)));

    // The route named late and nothing else (as warp and rocket name every route): the
    // attributes' short way, the late route among them.
    let mut span = ServerSpan::new(start(5, 0, request(HttpMethod::Get, None), limits), None);
    hand_over_route("/users/{id}");
    span.update_name("GET /users/{id}");
    hand_over_response(ResponseFields {
        status_code: Some(200),
        body_size: Some(12),
        ..ResponseFields::default()
    });
    spans.push(span.ended(at(3_000)));

    // Cut by the limit with nothing added: the long way without extras.
    let span = ServerSpan::new(
        start(6, 0, request(HttpMethod::Put, Some("/users/{id}")), tight),
        None,
    );
    hand_over_response(ResponseFields {
        status_code: Some(204),
        ..ResponseFields::default()
    });
    spans.push(span.ended(at(3_500)));
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `match`es that find common values agree with the lists the exporters read.
    #[test]
    fn common_values_are_found_where_their_lists_have_them() {
        for (list, index) in [
            (SCHEMES, scheme_index as fn(&str) -> Option<u8>),
            (PROTOCOL_VERSIONS, protocol_version_index),
        ] {
            for (at, value) in list.iter().enumerate() {
                assert_eq!(index(value), Some(at as u8), "{value}");
                assert_eq!(
                    CommonText::of(Some(value), index),
                    (CommonText::Known(at as u8), None)
                );
            }
            for other in ["", "HTTP", "http2", "1", "wss", "0.9"] {
                assert_eq!(index(other), None, "{other}");
                assert_eq!(
                    CommonText::of(Some(other), index),
                    (CommonText::InText, Some(other))
                );
            }
            assert_eq!(CommonText::of(None, index), (CommonText::Absent, None));
        }
    }

    #[test]
    fn request_text_gives_back_each_piece_present_or_absent() {
        let all = RequestText::new(
            "/users/42",
            Some("example.com"),
            Some("curl/8.5.0"),
            Some("BREW"),
        );
        assert_eq!(all.path(), "/users/42");
        assert_eq!(all.address(), Some("example.com"));
        assert_eq!(all.user_agent(), Some("curl/8.5.0"));
        assert_eq!(all.method_original(), Some("BREW"));
        let gaps = RequestText::new("", None, Some("é-agent"), None);
        assert_eq!(gaps.path(), "");
        assert_eq!(gaps.address(), None);
        assert_eq!(gaps.user_agent(), Some("é-agent"));
        assert_eq!(gaps.method_original(), None);
        let last = RequestText::new("/", None, None, Some("PURGE"));
        assert_eq!((last.path(), last.method_original()), ("/", Some("PURGE")));
        assert_eq!(last.address().or(last.user_agent()), None);
        assert!(
            matches!(last.text, Text::Inline(_)),
            "short text stays inline"
        );

        // Every piece at its cap, with multi-byte characters: on the heap, each piece whole.
        use crate::trace::{MAX_HOST_LEN, MAX_METHOD_LEN, MAX_PATH_LEN, MAX_USER_AGENT_LEN};
        let path = format!("/{}", "é".repeat((MAX_PATH_LEN - 1) / 2));
        let host = "h".repeat(MAX_HOST_LEN);
        let agent = "ü".repeat(MAX_USER_AGENT_LEN / 2);
        let method = "M".repeat(MAX_METHOD_LEN);
        let longest = RequestText::new(&path, Some(&host), Some(&agent), Some(&method));
        assert!(matches!(longest.text, Text::Heap(_)));
        assert_eq!(longest.path(), path);
        assert_eq!(longest.address(), Some(host.as_str()));
        assert_eq!(longest.user_agent(), Some(agent.as_str()));
        assert_eq!(longest.method_original(), Some(method.as_str()));
    }

    /// The size the inline text's documentation gives (it decides how much each move of a
    /// record copies).
    #[test]
    fn request_text_is_ninety_six_bytes() {
        assert_eq!(std::mem::size_of::<RequestText>(), 96);
    }
}
