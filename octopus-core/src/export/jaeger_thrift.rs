//! The Jaeger data model of `jaeger.thrift` and its compact-protocol encoding.
//!
//! Field ids and types follow Jaeger's IDL (`jaeger-idl/thrift/jaeger.thrift`, and
//! `agent.thrift` for the `emitBatch` envelope) exactly; the structs are written by hand because
//! no thrift compiler is part of the build. Spans (with their tags, logs and references) are
//! encoded by the hand-written compact protocol of [`jaeger_compact`](super::jaeger_compact),
//! for speed; the `thrift` crate writes the envelope around them, and its field-by-field
//! encoding of spans stays here (`reference`, tests only) as what those bytes are proven equal
//! to. Decoding (for test receivers, compiled only for tests and the `testing` feature) lives
//! beside encoding so the two cannot drift apart.

use std::cell::{RefCell, RefMut};
use std::rc::Rc;

use thrift::protocol::{
    TCompactOutputProtocol, TFieldIdentifier, TListIdentifier, TMessageIdentifier, TMessageType,
    TOutputProtocol, TStructIdentifier, TType,
};

use super::jaeger_compact as compact;

/// `Batch`: the spans of one process. The exporter writes batches from a [`BatchHead`] and
/// encoded spans; the owned form is what the test receivers decode.
#[cfg(any(test, feature = "testing"))]
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// 1: the emitting process.
    pub process: Process,
    /// 2: the spans.
    pub spans: Vec<Span>,
    /// 3: a sequence number per emitted batch.
    pub seq_no: Option<i64>,
    /// 4: the client's own delivery statistics.
    pub stats: Option<ClientStats>,
}

/// `Process`: the service and its tags.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Process {
    /// 1: the service name.
    pub service_name: String,
    /// 2: process tags (hostname, ip, client version, resource attributes).
    pub tags: Vec<Tag>,
}

/// `ClientStats`: spans the client could not deliver, cumulative.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// 1: dropped because the queue was full.
    pub full_queue_dropped_spans: i64,
    /// 2: dropped because they did not fit in a packet.
    pub too_large_dropped_spans: i64,
    /// 3: lost in failed sends.
    pub failed_to_emit_spans: i64,
}

/// `Span`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Span {
    /// 1: low 64 bits of the trace id.
    pub trace_id_low: i64,
    /// 2: high 64 bits of the trace id.
    pub trace_id_high: i64,
    /// 3: the span id.
    pub span_id: i64,
    /// 4: the parent span id, 0 for a root.
    pub parent_span_id: i64,
    /// 5: the span name.
    pub operation_name: String,
    /// 6: references: CHILD_OF the parent, FOLLOWS_FROM per link.
    pub references: Vec<SpanRef>,
    /// 7: 1 = sampled, 2 = debug.
    pub flags: i32,
    /// 8: start, microseconds since the Unix epoch.
    pub start_time: i64,
    /// 9: duration, microseconds.
    pub duration: i64,
    /// 10: tags.
    pub tags: Vec<Tag>,
    /// 11: logs (span events).
    pub logs: Vec<Log>,
}

/// `SpanRefType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanRefType {
    /// 0: the referenced span is the parent.
    ChildOf,
    /// 1: the referenced span caused this one (a link).
    FollowsFrom,
}

/// `SpanRef`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanRef {
    /// 1: the kind of reference.
    pub ref_type: SpanRefType,
    /// 2: low 64 bits of the referenced trace id.
    pub trace_id_low: i64,
    /// 3: high 64 bits of the referenced trace id.
    pub trace_id_high: i64,
    /// 4: the referenced span id.
    pub span_id: i64,
}

/// `Log`: a timestamped set of fields.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Log {
    /// 1: microseconds since the Unix epoch.
    pub timestamp: i64,
    /// 2: the fields; `event` holds the event name.
    pub fields: Vec<Tag>,
}

/// `Tag`: a typed key/value.
#[derive(Clone, Debug, PartialEq)]
pub struct Tag {
    /// 1: the key.
    pub key: String,
    /// 2–7: the type and value.
    pub value: TagValue,
}

/// A tag's value; the variant is the `TagType`.
#[derive(Clone, Debug, PartialEq)]
pub enum TagValue {
    /// `STRING` (0), `vStr` (3).
    String(String),
    /// `DOUBLE` (1), `vDouble` (4).
    Double(f64),
    /// `BOOL` (2), `vBool` (5).
    Bool(bool),
    /// `LONG` (3), `vLong` (6).
    Long(i64),
    /// `BINARY` (4), `vBinary` (7).
    // The exporter never builds one (OpenTelemetry attribute values have no bytes); the
    // variant is the IDL's, which the test receivers decode.
    #[cfg_attr(not(any(test, feature = "testing")), allow(dead_code))]
    Binary(Vec<u8>),
}

impl Tag {
    /// A tag.
    pub fn new(key: impl Into<String>, value: TagValue) -> Self {
        Tag {
            key: key.into(),
            value,
        }
    }
}

/// The `thrift` crate's output protocol, as the envelope writers take it.
pub(crate) type Out<'a> = dyn TOutputProtocol + 'a;
/// What the `thrift` crate's writers return.
pub(crate) type ThriftResult = thrift::Result<()>;

/// A field header through the `thrift` crate.
///
/// The compact protocol writes neither field nor struct names, so none are built: the thrift
/// crate's `TFieldIdentifier::new` and `TStructIdentifier::new` allocate a `String` for each,
/// which made encoding spend most of its time on names it then dropped. The names stay in the
/// calls, as documentation of the IDL.
fn field(o: &mut Out<'_>, _name: &str, kind: TType, id: i16) -> ThriftResult {
    o.write_field_begin(&TFieldIdentifier {
        name: None,
        field_type: kind,
        id: Some(id),
    })
}

/// A struct's start through the `thrift` crate, without building its name (see [`field`]).
fn struct_begin(o: &mut Out<'_>, _name: &str) -> ThriftResult {
    o.write_struct_begin(&TStructIdentifier {
        name: String::new(),
    })
}

/// A transport the encoder can append to while a protocol writes through it: the compact
/// protocol writes straight to its transport, so bytes appended between two protocol calls land
/// exactly there.
#[derive(Clone, Default)]
struct SharedBuffer(Rc<RefCell<Vec<u8>>>);

impl std::io::Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What a `Batch` holds besides its spans, borrowed: the exporter writes its process into
/// every datagram without cloning it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchHead<'a> {
    /// 1: the emitting process.
    pub(crate) process: &'a Process,
    /// 3: the batch's sequence number.
    pub(crate) seq_no: Option<i64>,
    /// 4: the client's delivery statistics.
    pub(crate) stats: Option<ClientStats>,
}

/// The datagram the agent expects, the `Agent.emitBatch` oneway call in the compact protocol:
/// the batch of `head` whose `count` spans are `spans`, compact `Span` structs back to back as
/// [`jaeger_compact::span`](super::jaeger_compact::span) appends them (a compact struct encodes
/// the same wherever it sits).
pub(crate) fn encode_emit_batch(
    seq_id: i32,
    head: &BatchHead<'_>,
    count: usize,
    spans: &[u8],
) -> Vec<u8> {
    let writer = EmitBatchWriter::begin(seq_id, head.process, count, spans.len());
    writer.spans().extend_from_slice(spans);
    writer.finish(count, head.seq_no, head.stats)
}

/// An `emitBatch` datagram being written: the `thrift` crate writes the envelope, and the spans
/// go straight into the same buffer, appended by hand between [`begin`](Self::begin) and
/// [`finish`](Self::finish). The exporter encodes each span right where it is sent, with no
/// buffer of its own to copy from: copying the spans' bytes into the datagram, and allocating
/// and freeing that buffer, cost 340 instructions a span (4 691 → 4 349, callgrind).
pub(crate) struct EmitBatchWriter {
    o: TCompactOutputProtocol<SharedBuffer>,
    buffer: SharedBuffer,
    /// Where the header of the spans list starts, how long it is, and the count it was
    /// written for.
    list_at: usize,
    list_len: usize,
    expected: usize,
}

impl EmitBatchWriter {
    /// Writes the envelope up to the spans: the call with `seq_id`, the batch's `process`, and
    /// the header of a spans list of `expected` spans (the count [`finish`](Self::finish) is
    /// given may differ: the header is then rewritten). `capacity`: room for the spans.
    pub(crate) fn begin(seq_id: i32, process: &Process, expected: usize, capacity: usize) -> Self {
        let buffer = SharedBuffer(Rc::new(RefCell::new(Vec::with_capacity(512 + capacity))));
        let mut o = TCompactOutputProtocol::new(buffer.clone());
        let written: ThriftResult = (|| {
            o.write_message_begin(&TMessageIdentifier::new(
                "emitBatch",
                TMessageType::OneWay,
                seq_id,
            ))?;
            struct_begin(&mut o, "Agent_emitBatch_args")?;
            field(&mut o, "batch", TType::Struct, 1)?;
            struct_begin(&mut o, "Batch")?;
            field(&mut o, "process", TType::Struct, 1)?;
            process.write(&mut o)?;
            o.write_field_end()?;
            field(&mut o, "spans", TType::List, 2)
        })();
        // Writing into memory cannot fail: the only errors are the transport's I/O errors.
        debug_assert!(written.is_ok());
        let mut bytes = buffer.0.borrow_mut();
        let list_at = bytes.len();
        // By hand, as the spans are: the same bytes as `write_list_begin` (the tests compare
        // whole datagrams with the thrift crate's), and it can be rewritten in place.
        compact::struct_list_header(&mut bytes, expected);
        let list_len = bytes.len() - list_at;
        drop(bytes);
        EmitBatchWriter {
            o,
            buffer,
            list_at,
            list_len,
            expected,
        }
    }

    /// The buffer to append spans to: the datagram so far.
    pub(crate) fn spans(&self) -> RefMut<'_, Vec<u8>> {
        self.buffer.0.borrow_mut()
    }

    /// Ends the datagram: `count` spans were appended; the batch's sequence number and stats.
    pub(crate) fn finish(
        mut self,
        count: usize,
        seq_no: Option<i64>,
        stats: Option<ClientStats>,
    ) -> Vec<u8> {
        if count != self.expected {
            let mut header = Vec::with_capacity(6);
            compact::struct_list_header(&mut header, count);
            let (at, len) = (self.list_at, self.list_len);
            self.buffer.0.borrow_mut().splice(at..at + len, header);
        }
        let o = &mut self.o;
        let written: ThriftResult = (|| {
            o.write_list_end()?;
            o.write_field_end()?;
            if let Some(seq_no) = seq_no {
                i64_field(o, "seqNo", 3, seq_no)?;
            }
            if let Some(stats) = &stats {
                field(o, "stats", TType::Struct, 4)?;
                stats.write(o)?;
                o.write_field_end()?;
            }
            o.write_field_stop()?;
            o.write_struct_end()?;
            o.write_field_end()?;
            o.write_field_stop()?;
            o.write_struct_end()?;
            o.write_message_end()?;
            o.flush()
        })();
        debug_assert!(written.is_ok());
        let EmitBatchWriter { o, buffer, .. } = self;
        drop(o);
        buffer.0.take()
    }
}

fn i64_field(o: &mut Out<'_>, name: &str, id: i16, value: i64) -> ThriftResult {
    field(o, name, TType::I64, id)?;
    o.write_i64(value)?;
    o.write_field_end()
}

fn list<T>(
    o: &mut Out<'_>,
    name: &str,
    id: i16,
    items: &[T],
    write: impl Fn(&T, &mut Out<'_>) -> ThriftResult,
) -> ThriftResult {
    field(o, name, TType::List, id)?;
    o.write_list_begin(&TListIdentifier::new(TType::Struct, items.len() as i32))?;
    for item in items {
        write(item, o)?;
    }
    o.write_list_end()?;
    o.write_field_end()
}

/// A tag's value, borrowed: what the exporter writes straight from the SDK's span data
/// without building a [`Tag`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum TagRef<'a> {
    /// `STRING`.
    Str(&'a str),
    /// `DOUBLE`.
    Double(f64),
    /// `BOOL`.
    Bool(bool),
    /// `LONG`.
    Long(i64),
    /// `BINARY`.
    Binary(&'a [u8]),
}

impl<'a> From<&'a TagValue> for TagRef<'a> {
    fn from(value: &'a TagValue) -> Self {
        match value {
            TagValue::String(v) => TagRef::Str(v),
            TagValue::Double(v) => TagRef::Double(*v),
            TagValue::Bool(v) => TagRef::Bool(*v),
            TagValue::Long(v) => TagRef::Long(*v),
            TagValue::Binary(v) => TagRef::Binary(v),
        }
    }
}

/// Writes a `Tag` struct through the `thrift` crate: the process's tags in the envelope, and
/// the reference the hand-written span encoding is tested against.
fn write_tag(o: &mut Out<'_>, key: &str, value: TagRef<'_>) -> ThriftResult {
    struct_begin(o, "Tag")?;
    field(o, "key", TType::String, 1)?;
    o.write_string(key)?;
    o.write_field_end()?;
    let kind = match value {
        TagRef::Str(_) => 0,
        TagRef::Double(_) => 1,
        TagRef::Bool(_) => 2,
        TagRef::Long(_) => 3,
        TagRef::Binary(_) => 4,
    };
    field(o, "vType", TType::I32, 2)?;
    o.write_i32(kind)?;
    o.write_field_end()?;
    match value {
        TagRef::Str(v) => {
            field(o, "vStr", TType::String, 3)?;
            o.write_string(v)?;
        }
        TagRef::Double(v) => {
            field(o, "vDouble", TType::Double, 4)?;
            o.write_double(v)?;
        }
        TagRef::Bool(v) => {
            field(o, "vBool", TType::Bool, 5)?;
            o.write_bool(v)?;
        }
        TagRef::Long(v) => {
            field(o, "vLong", TType::I64, 6)?;
            o.write_i64(v)?;
        }
        TagRef::Binary(v) => {
            field(o, "vBinary", TType::String, 7)?;
            o.write_bytes(v)?;
        }
    }
    o.write_field_end()?;
    o.write_field_stop()?;
    o.write_struct_end()
}

impl Tag {
    /// Writes the struct through the `thrift` crate.
    pub fn write(&self, o: &mut Out<'_>) -> ThriftResult {
        write_tag(o, &self.key, (&self.value).into())
    }
}

/// The fixed-size fields of a `Span`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SpanHead {
    /// 1: low 64 bits of the trace id.
    pub(crate) trace_id_low: i64,
    /// 2: high 64 bits of the trace id.
    pub(crate) trace_id_high: i64,
    /// 3: the span id.
    pub(crate) span_id: i64,
    /// 4: the parent span id, 0 for a root.
    pub(crate) parent_span_id: i64,
    /// 7: 1 = sampled.
    pub(crate) flags: i32,
    /// 8: start, microseconds since the Unix epoch.
    pub(crate) start_time: i64,
    /// 9: duration, microseconds.
    pub(crate) duration: i64,
}

impl Span {
    /// The span as a compact struct, exactly the bytes it has inside a batch.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(512);
        self.encode_into(&mut bytes);
        bytes
    }

    /// Appends the span as a compact struct, through the hand-written encoder the exporter
    /// uses for spans written straight from the SDK's data.
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        let head = SpanHead {
            trace_id_low: self.trace_id_low,
            trace_id_high: self.trace_id_high,
            span_id: self.span_id,
            parent_span_id: self.parent_span_id,
            flags: self.flags,
            start_time: self.start_time,
            duration: self.duration,
        };
        compact::span(
            out,
            head,
            &self.operation_name,
            (self.references.len(), |out: &mut Vec<u8>| {
                for reference in &self.references {
                    compact::span_ref(out, reference);
                }
            }),
            (self.tags.len(), |out: &mut Vec<u8>| {
                for tag in &self.tags {
                    compact::tag(out, &tag.key, (&tag.value).into());
                }
            }),
            (self.logs.len(), |out: &mut Vec<u8>| {
                for log in &self.logs {
                    compact::log(out, log.timestamp, log.fields.len(), |out| {
                        for tag in &log.fields {
                            compact::tag(out, &tag.key, (&tag.value).into());
                        }
                    });
                }
            }),
        );
    }
}

impl Process {
    /// Writes the struct.
    pub fn write(&self, o: &mut Out<'_>) -> ThriftResult {
        struct_begin(o, "Process")?;
        field(o, "serviceName", TType::String, 1)?;
        o.write_string(&self.service_name)?;
        o.write_field_end()?;
        if !self.tags.is_empty() {
            list(o, "tags", 2, &self.tags, Tag::write)?;
        }
        o.write_field_stop()?;
        o.write_struct_end()
    }
}

impl ClientStats {
    /// Writes the struct.
    pub fn write(&self, o: &mut Out<'_>) -> ThriftResult {
        struct_begin(o, "ClientStats")?;
        i64_field(o, "fullQueueDroppedSpans", 1, self.full_queue_dropped_spans)?;
        i64_field(o, "tooLargeDroppedSpans", 2, self.too_large_dropped_spans)?;
        i64_field(o, "failedToEmitSpans", 3, self.failed_to_emit_spans)?;
        o.write_field_stop()?;
        o.write_struct_end()
    }
}

#[cfg(any(test, feature = "testing"))]
impl Batch {
    /// The datagram the agent expects: the `Agent.emitBatch` oneway call, compact protocol,
    /// spans encoded as the exporter encodes them.
    pub fn encode_emit_batch(&self, seq_id: i32) -> Vec<u8> {
        let mut spans = Vec::new();
        for span in &self.spans {
            span.encode_into(&mut spans);
        }
        encode_emit_batch(seq_id, &self.head(), self.spans.len(), &spans)
    }

    fn head(&self) -> BatchHead<'_> {
        BatchHead {
            process: &self.process,
            seq_no: self.seq_no,
            stats: self.stats,
        }
    }
}

/// The `thrift` crate's encoding of spans, logs and references, field by field through its
/// compact protocol: what the exporter used before [`jaeger_compact`](super::jaeger_compact)
/// replaced it, kept as the reference the hand-written bytes are compared with.
#[cfg(test)]
pub(crate) mod reference {
    use std::cell::RefCell;
    use std::rc::Rc;

    use thrift::protocol::{
        TListIdentifier, TMessageIdentifier, TMessageType, TOutputProtocol, TType,
    };

    use super::{
        Batch, BatchHead, Log, Out, SharedBuffer, Span, SpanRef, SpanRefType, Tag, ThriftResult,
        field, i64_field, list, struct_begin,
    };

    impl Span {
        /// The span as a compact struct, through the `thrift` crate.
        pub(crate) fn encode_reference(&self) -> Vec<u8> {
            let mut bytes = Vec::new();
            let mut o = thrift::protocol::TCompactOutputProtocol::new(&mut bytes);
            self.write(&mut o).expect("writing into a Vec cannot fail");
            drop(o);
            bytes
        }

        /// Writes the struct through the `thrift` crate.
        pub(crate) fn write(&self, o: &mut Out<'_>) -> ThriftResult {
            struct_begin(o, "Span")?;
            i64_field(o, "traceIdLow", 1, self.trace_id_low)?;
            i64_field(o, "traceIdHigh", 2, self.trace_id_high)?;
            i64_field(o, "spanId", 3, self.span_id)?;
            i64_field(o, "parentSpanId", 4, self.parent_span_id)?;
            field(o, "operationName", TType::String, 5)?;
            o.write_string(&self.operation_name)?;
            o.write_field_end()?;
            if !self.references.is_empty() {
                list(o, "references", 6, &self.references, SpanRef::write)?;
            }
            field(o, "flags", TType::I32, 7)?;
            o.write_i32(self.flags)?;
            o.write_field_end()?;
            i64_field(o, "startTime", 8, self.start_time)?;
            i64_field(o, "duration", 9, self.duration)?;
            if !self.tags.is_empty() {
                list(o, "tags", 10, &self.tags, Tag::write)?;
            }
            if !self.logs.is_empty() {
                list(o, "logs", 11, &self.logs, Log::write)?;
            }
            o.write_field_stop()?;
            o.write_struct_end()
        }
    }

    impl Log {
        /// Writes the struct through the `thrift` crate.
        pub(crate) fn write(&self, o: &mut Out<'_>) -> ThriftResult {
            struct_begin(o, "Log")?;
            i64_field(o, "timestamp", 1, self.timestamp)?;
            list(o, "fields", 2, &self.fields, Tag::write)?;
            o.write_field_stop()?;
            o.write_struct_end()
        }
    }

    impl SpanRef {
        /// Writes the struct through the `thrift` crate.
        pub(crate) fn write(&self, o: &mut Out<'_>) -> ThriftResult {
            struct_begin(o, "SpanRef")?;
            field(o, "refType", TType::I32, 1)?;
            o.write_i32(match self.ref_type {
                SpanRefType::ChildOf => 0,
                SpanRefType::FollowsFrom => 1,
            })?;
            o.write_field_end()?;
            i64_field(o, "traceIdLow", 2, self.trace_id_low)?;
            i64_field(o, "traceIdHigh", 3, self.trace_id_high)?;
            i64_field(o, "spanId", 4, self.span_id)?;
            o.write_field_stop()?;
            o.write_struct_end()
        }
    }

    impl Batch {
        /// The whole `emitBatch` datagram through the `thrift` crate, spans included.
        pub(crate) fn encode_emit_batch_reference(&self, seq_id: i32) -> Vec<u8> {
            encode_envelope(seq_id, 1024, |o, _| {
                write_batch(o, &self.head(), |o| {
                    field(o, "spans", TType::List, 2)?;
                    o.write_list_begin(&TListIdentifier::new(
                        TType::Struct,
                        self.spans.len() as i32,
                    ))?;
                    for span in &self.spans {
                        span.write(o)?;
                    }
                    o.write_list_end()?;
                    o.write_field_end()
                })
            })
        }
    }

    /// `Agent.emitBatch` around the batch `write_batch` writes.
    fn encode_envelope(
        seq_id: i32,
        capacity: usize,
        write_batch: impl FnOnce(&mut Out<'_>, &SharedBuffer) -> ThriftResult,
    ) -> Vec<u8> {
        let buffer = SharedBuffer(Rc::new(RefCell::new(Vec::with_capacity(capacity))));
        let mut o = thrift::protocol::TCompactOutputProtocol::new(buffer.clone());
        let written: ThriftResult = (|| {
            o.write_message_begin(&TMessageIdentifier::new(
                "emitBatch",
                TMessageType::OneWay,
                seq_id,
            ))?;
            struct_begin(&mut o, "Agent_emitBatch_args")?;
            field(&mut o, "batch", TType::Struct, 1)?;
            write_batch(&mut o, &buffer)?;
            o.write_field_end()?;
            o.write_field_stop()?;
            o.write_struct_end()?;
            o.write_message_end()?;
            o.flush()
        })();
        // Writing into memory cannot fail: the only errors are the transport's I/O errors.
        debug_assert!(written.is_ok());
        drop(o);
        std::mem::take(&mut *buffer.0.borrow_mut())
    }

    /// The `Batch` struct of `head`, its spans (field 2) written by `spans`.
    fn write_batch(
        o: &mut Out<'_>,
        head: &BatchHead<'_>,
        spans: impl FnOnce(&mut Out<'_>) -> ThriftResult,
    ) -> ThriftResult {
        struct_begin(o, "Batch")?;
        field(o, "process", TType::Struct, 1)?;
        head.process.write(o)?;
        o.write_field_end()?;
        spans(o)?;
        if let Some(seq_no) = head.seq_no {
            i64_field(o, "seqNo", 3, seq_no)?;
        }
        if let Some(stats) = &head.stats {
            field(o, "stats", TType::Struct, 4)?;
            stats.write(o)?;
            o.write_field_end()?;
        }
        o.write_field_stop()?;
        o.write_struct_end()
    }
}

/// Decoding, for the test receivers (`testing::jaeger_agent`) and this file's tests only: the
/// exporter never reads thrift, so a service does not compile a decoder.
#[cfg(any(test, feature = "testing"))]
mod decode {
    use thrift::protocol::{TInputProtocol, TType};

    use super::{Batch, ClientStats, Log, Process, Span, SpanRef, SpanRefType, Tag, TagValue};

    impl Batch {
        /// Decodes an `emitBatch` datagram.
        pub fn decode_emit_batch(datagram: &[u8]) -> thrift::Result<Batch> {
            let mut i = thrift::protocol::TCompactInputProtocol::new(datagram);
            let message = i.read_message_begin()?;
            if message.name != "emitBatch" {
                return Err(thrift::Error::Protocol(thrift::ProtocolError::new(
                    thrift::ProtocolErrorKind::InvalidData,
                    format!("unexpected call {:?}", message.name),
                )));
            }
            let mut batch = None;
            read_struct(&mut i, |i, id, kind| match (id, kind) {
                (1, TType::Struct) => {
                    batch = Some(Batch::read(i)?);
                    Ok(true)
                }
                _ => Ok(false),
            })?;
            i.read_message_end()?;
            batch.ok_or_else(|| missing("emitBatch_args.batch"))
        }

        fn read<I: TInputProtocol>(i: &mut I) -> thrift::Result<Batch> {
            let mut process = None;
            let mut spans = None;
            let mut seq_no = None;
            let mut stats = None;
            read_struct(i, |i, id, kind| {
                match (id, kind) {
                    (1, TType::Struct) => process = Some(Process::read(i)?),
                    (2, TType::List) => spans = Some(read_list(i, Span::read)?),
                    (3, TType::I64) => seq_no = Some(i.read_i64()?),
                    (4, TType::Struct) => stats = Some(ClientStats::read(i)?),
                    _ => return Ok(false),
                }
                Ok(true)
            })?;
            Ok(Batch {
                process: process.ok_or_else(|| missing("Batch.process"))?,
                spans: spans.ok_or_else(|| missing("Batch.spans"))?,
                seq_no,
                stats,
            })
        }
    }

    fn missing(what: &str) -> thrift::Error {
        thrift::Error::Protocol(thrift::ProtocolError::new(
            thrift::ProtocolErrorKind::InvalidData,
            format!("required field {what} missing"),
        ))
    }

    /// Reads a struct's fields; `read_field` returns whether it consumed the field, the rest are
    /// skipped (as a receiver of a newer IDL would).
    fn read_struct<I: TInputProtocol>(
        i: &mut I,
        mut read_field: impl FnMut(&mut I, i16, TType) -> thrift::Result<bool>,
    ) -> thrift::Result<()> {
        i.read_struct_begin()?;
        loop {
            let field = i.read_field_begin()?;
            if field.field_type == TType::Stop {
                break;
            }
            let id = field.id.unwrap_or(0);
            if !read_field(i, id, field.field_type)? {
                i.skip(field.field_type)?;
            }
            i.read_field_end()?;
        }
        i.read_struct_end()
    }

    fn read_list<I: TInputProtocol, T>(
        i: &mut I,
        read: impl Fn(&mut I) -> thrift::Result<T>,
    ) -> thrift::Result<Vec<T>> {
        let header = i.read_list_begin()?;
        let mut items = Vec::with_capacity(header.size.clamp(0, 1024) as usize);
        for _ in 0..header.size {
            items.push(read(i)?);
        }
        i.read_list_end()?;
        Ok(items)
    }

    impl Process {
        fn read<I: TInputProtocol>(i: &mut I) -> thrift::Result<Process> {
            let mut process = Process::default();
            read_struct(i, |i, id, kind| {
                match (id, kind) {
                    (1, TType::String) => process.service_name = i.read_string()?,
                    (2, TType::List) => process.tags = read_list(i, Tag::read)?,
                    _ => return Ok(false),
                }
                Ok(true)
            })?;
            Ok(process)
        }
    }

    impl ClientStats {
        fn read<I: TInputProtocol>(i: &mut I) -> thrift::Result<ClientStats> {
            let mut stats = ClientStats::default();
            read_struct(i, |i, id, kind| {
                match (id, kind) {
                    (1, TType::I64) => stats.full_queue_dropped_spans = i.read_i64()?,
                    (2, TType::I64) => stats.too_large_dropped_spans = i.read_i64()?,
                    (3, TType::I64) => stats.failed_to_emit_spans = i.read_i64()?,
                    _ => return Ok(false),
                }
                Ok(true)
            })?;
            Ok(stats)
        }
    }

    impl Span {
        fn read<I: TInputProtocol>(i: &mut I) -> thrift::Result<Span> {
            let mut span = Span::default();
            read_struct(i, |i, id, kind| {
                match (id, kind) {
                    (1, TType::I64) => span.trace_id_low = i.read_i64()?,
                    (2, TType::I64) => span.trace_id_high = i.read_i64()?,
                    (3, TType::I64) => span.span_id = i.read_i64()?,
                    (4, TType::I64) => span.parent_span_id = i.read_i64()?,
                    (5, TType::String) => span.operation_name = i.read_string()?,
                    (6, TType::List) => span.references = read_list(i, SpanRef::read)?,
                    (7, TType::I32) => span.flags = i.read_i32()?,
                    (8, TType::I64) => span.start_time = i.read_i64()?,
                    (9, TType::I64) => span.duration = i.read_i64()?,
                    (10, TType::List) => span.tags = read_list(i, Tag::read)?,
                    (11, TType::List) => span.logs = read_list(i, Log::read)?,
                    _ => return Ok(false),
                }
                Ok(true)
            })?;
            Ok(span)
        }
    }

    impl SpanRef {
        fn read<I: TInputProtocol>(i: &mut I) -> thrift::Result<SpanRef> {
            let mut reference = SpanRef {
                ref_type: SpanRefType::ChildOf,
                trace_id_low: 0,
                trace_id_high: 0,
                span_id: 0,
            };
            read_struct(i, |i, id, kind| {
                match (id, kind) {
                    (1, TType::I32) => {
                        reference.ref_type = match i.read_i32()? {
                            0 => SpanRefType::ChildOf,
                            _ => SpanRefType::FollowsFrom,
                        }
                    }
                    (2, TType::I64) => reference.trace_id_low = i.read_i64()?,
                    (3, TType::I64) => reference.trace_id_high = i.read_i64()?,
                    (4, TType::I64) => reference.span_id = i.read_i64()?,
                    _ => return Ok(false),
                }
                Ok(true)
            })?;
            Ok(reference)
        }
    }

    impl Log {
        fn read<I: TInputProtocol>(i: &mut I) -> thrift::Result<Log> {
            let mut log = Log::default();
            read_struct(i, |i, id, kind| {
                match (id, kind) {
                    (1, TType::I64) => log.timestamp = i.read_i64()?,
                    (2, TType::List) => log.fields = read_list(i, Tag::read)?,
                    _ => return Ok(false),
                }
                Ok(true)
            })?;
            Ok(log)
        }
    }

    impl Tag {
        fn read<I: TInputProtocol>(i: &mut I) -> thrift::Result<Tag> {
            let mut key = String::new();
            let mut kind = None;
            let (mut s, mut d, mut b, mut l, mut bin) = (None, None, None, None, None);
            read_struct(i, |i, id, field_type| {
                match (id, field_type) {
                    (1, TType::String) => key = i.read_string()?,
                    (2, TType::I32) => kind = Some(i.read_i32()?),
                    (3, TType::String) => s = Some(i.read_string()?),
                    (4, TType::Double) => d = Some(i.read_double()?),
                    (5, TType::Bool) => b = Some(i.read_bool()?),
                    (6, TType::I64) => l = Some(i.read_i64()?),
                    (7, TType::String) => bin = Some(i.read_bytes()?),
                    _ => return Ok(false),
                }
                Ok(true)
            })?;
            let value = match kind {
                Some(0) => s.map(TagValue::String),
                Some(1) => d.map(TagValue::Double),
                Some(2) => b.map(TagValue::Bool),
                Some(3) => l.map(TagValue::Long),
                Some(4) => bin.map(TagValue::Binary),
                _ => None,
            };
            Ok(Tag {
                value: value.ok_or_else(|| missing(&format!("Tag {key:?} value")))?,
                key,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Batch {
        Batch {
            process: Process {
                service_name: "users".into(),
                tags: vec![Tag::new("hostname", TagValue::String("web-1".into()))],
            },
            spans: vec![Span {
                trace_id_low: -2,
                trace_id_high: 0x0af7651916cd43dd,
                span_id: i64::MIN,
                parent_span_id: 7,
                operation_name: "GET /users/{id}".into(),
                references: vec![
                    SpanRef {
                        ref_type: SpanRefType::ChildOf,
                        trace_id_low: -2,
                        trace_id_high: 0x0af7651916cd43dd,
                        span_id: 7,
                    },
                    SpanRef {
                        ref_type: SpanRefType::FollowsFrom,
                        trace_id_low: 1,
                        trace_id_high: 2,
                        span_id: 3,
                    },
                ],
                flags: 1,
                start_time: 1_700_000_000_000_000,
                duration: 1_234,
                tags: vec![
                    Tag::new("s", TagValue::String("v".into())),
                    Tag::new("d", TagValue::Double(0.5)),
                    Tag::new("b", TagValue::Bool(true)),
                    Tag::new("l", TagValue::Long(-42)),
                    Tag::new("x", TagValue::Binary(vec![0, 255])),
                ],
                logs: vec![Log {
                    timestamp: 1_700_000_000_000_001,
                    fields: vec![Tag::new("event", TagValue::String("retry".into()))],
                }],
            }],
            seq_no: Some(9),
            stats: Some(ClientStats {
                full_queue_dropped_spans: 1,
                too_large_dropped_spans: 2,
                failed_to_emit_spans: 3,
            }),
        }
    }

    #[test]
    fn every_field_round_trips() {
        let batch = sample();
        let bytes = batch.encode_emit_batch(5);
        assert_eq!(Batch::decode_emit_batch(&bytes).unwrap(), batch);
    }

    /// The sample span and variations of it that reach every branch of the encoding: no
    /// parent, no references, tags or logs, a log without fields, more than 14 items in a list
    /// (the long list header), lengths of one- and two-byte varints, extreme integers, a false
    /// bool, odd doubles, an empty binary.
    fn span_variants() -> Vec<Span> {
        let base = sample().spans.remove(0);
        let mut variants = vec![base.clone()];
        variants.push(Span {
            parent_span_id: 0,
            references: base.references[1..].to_vec(),
            ..base.clone()
        });
        variants.push(Span {
            parent_span_id: 0,
            references: Vec::new(),
            tags: Vec::new(),
            logs: Vec::new(),
            ..base.clone()
        });
        variants.push(Span {
            references: vec![base.references[0]; 20],
            tags: (0..20)
                .map(|i| Tag::new(format!("k{i}"), TagValue::Long(i64::from(i) - 10)))
                .collect(),
            logs: vec![
                Log {
                    timestamp: 0,
                    fields: Vec::new(),
                },
                Log {
                    timestamp: -1,
                    fields: base.tags.clone(),
                },
            ],
            ..base.clone()
        });
        // 14 items, the most the short list header holds; 15, the fewest the long one does.
        variants.push(Span {
            references: vec![base.references[1]; 15],
            tags: vec![base.tags[0].clone(); 14],
            ..base.clone()
        });
        variants.push(Span {
            trace_id_low: i64::MAX,
            trace_id_high: i64::MIN,
            span_id: 0,
            parent_span_id: -1,
            operation_name: "ä".repeat(100),
            references: Vec::new(),
            flags: i32::MIN,
            start_time: i64::MIN,
            duration: i64::MAX,
            tags: vec![
                Tag::new("", TagValue::String(String::new())),
                Tag::new("x".repeat(127), TagValue::String("y".repeat(128))),
                Tag::new("z".repeat(20_000), TagValue::Binary(Vec::new())),
                Tag::new("f", TagValue::Bool(false)),
                Tag::new("nan", TagValue::Double(f64::NAN)),
                Tag::new("inf", TagValue::Double(f64::NEG_INFINITY)),
                Tag::new("zero", TagValue::Double(-0.0)),
                Tag::new("min", TagValue::Long(i64::MIN)),
            ],
            logs: Vec::new(),
        });
        variants.push(Span {
            flags: 2,
            ..Span::default()
        });
        variants
    }

    #[test]
    fn hand_written_span_bytes_are_the_thrift_crates() {
        for span in span_variants() {
            assert_eq!(span.encode(), span.encode_reference(), "{span:?}");
        }
    }

    #[test]
    fn datagrams_are_the_thrift_crates_and_decode_to_the_batch() {
        let mut batch = sample();
        batch.spans = span_variants();
        for (seq_no, stats) in [(batch.seq_no, batch.stats), (None, None)] {
            let batch = Batch {
                seq_no,
                stats,
                ..batch.clone()
            };
            let bytes = batch.encode_emit_batch(7);
            assert_eq!(bytes, batch.encode_emit_batch_reference(7));
            let decoded = Batch::decode_emit_batch(&bytes).unwrap();
            // NaN is not equal to itself: compare the decoded batch's own encoding instead.
            assert_eq!(decoded.encode_emit_batch(7), bytes);
        }
        // More than 14 spans: the long list header.
        batch.spans = vec![batch.spans[0].clone(); 15];
        assert_eq!(
            batch.encode_emit_batch(i32::MAX),
            batch.encode_emit_batch_reference(i32::MAX)
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        fn tag() -> impl Strategy<Value = Tag> {
            let value = prop_oneof![
                // Up to 320 bytes of UTF-8, keys up to 160: either side of the 128 bytes where
                // a length stops being one varint byte (and `tag`'s short form stops).
                ".{0,80}".prop_map(TagValue::String),
                any::<f64>().prop_map(TagValue::Double),
                any::<bool>().prop_map(TagValue::Bool),
                any::<i64>().prop_map(TagValue::Long),
                proptest::collection::vec(any::<u8>(), 0..200).prop_map(TagValue::Binary),
            ];
            (".{0,40}", value).prop_map(|(key, value)| Tag { key, value })
        }

        fn span() -> impl Strategy<Value = Span> {
            let reference = (any::<bool>(), any::<i64>(), any::<i64>(), any::<i64>()).prop_map(
                |(follows, trace_id_low, trace_id_high, span_id)| SpanRef {
                    ref_type: if follows {
                        SpanRefType::FollowsFrom
                    } else {
                        SpanRefType::ChildOf
                    },
                    trace_id_low,
                    trace_id_high,
                    span_id,
                },
            );
            let log = (any::<i64>(), proptest::collection::vec(tag(), 0..4))
                .prop_map(|(timestamp, fields)| Log { timestamp, fields });
            (
                any::<[i64; 4]>(),
                ".{0,30}",
                proptest::collection::vec(reference, 0..17),
                any::<i32>(),
                any::<[i64; 2]>(),
                proptest::collection::vec(tag(), 0..20),
                proptest::collection::vec(log, 0..3),
            )
                .prop_map(
                    |(ids, operation_name, references, flags, times, tags, logs)| Span {
                        trace_id_low: ids[0],
                        trace_id_high: ids[1],
                        span_id: ids[2],
                        parent_span_id: ids[3],
                        operation_name,
                        references,
                        flags,
                        start_time: times[0],
                        duration: times[1],
                        tags,
                        logs,
                    },
                )
        }

        proptest! {
            #![proptest_config(ProptestConfig {
                cases: 2_000,
                failure_persistence: None,
                ..ProptestConfig::default()
            })]

            #[test]
            fn any_span_encodes_as_the_thrift_crate_encodes_it(span in span()) {
                prop_assert_eq!(span.encode(), span.encode_reference());
            }
        }
    }

    #[test]
    fn the_envelope_is_a_compact_oneway_emit_batch_call() {
        let bytes = sample().encode_emit_batch(5);
        // Compact protocol id 0x82, then version 1 with message type ONEWAY (4) in the top
        // three bits: 0x81; sequence id 5 as a varint; the name's length and bytes.
        assert_eq!(&bytes[..3], &[0x82, 0x81, 0x05]);
        assert_eq!(bytes[3] as usize, "emitBatch".len());
        assert_eq!(&bytes[4..13], b"emitBatch");
        // Field 1 of the args, a struct: delta 1, type 12.
        assert_eq!(bytes[13], 0x1c);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for datagram in [&b""[..], b"\x82", b"\x82\x81\x05\x09emitBatc", &[0xff; 64]] {
            assert!(Batch::decode_emit_batch(datagram).is_err());
        }
    }
}
