//! The Jaeger agent exporter: `emitBatch` in thrift compact protocol over UDP.
//!
//! This is the original library's transport, still accepted by Jaeger v2 on port 6831. The
//! upstream `opentelemetry-jaeger` crate is deprecated and tied to an old `opentelemetry`, so
//! Octopus speaks the protocol itself (its wire model is the private `jaeger_thrift` module).
//!
//! No datagram exceeds the maximum packet size (65 000 bytes by default, the loopback ceiling;
//! an agent on another host needs packets under the path MTU): a batch is split across
//! packets, and a span too large on its own is truncated — logs dropped first, then tags —
//! with the number dropped recorded in `octopus.dropped_logs` / `octopus.dropped_tags`. Only
//! a span that does not fit even bare is dropped; every case is counted in
//! [`JaegerAgentStats`] and reported to the agent in `ClientStats`.
//!
//! The socket is connected to the agent, so an agent that is down (ICMP "port unreachable")
//! shows as failed exports, reported on stderr once when failing starts and once on recovery.
//! After a failure the address is looked up again (a restarted agent may have moved), at most
//! once per [`RESOLVE_RETRY`].
//!
//! ```no_run
//! use octopus_core::export::jaeger_agent::JaegerAgentExporter;
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//!
//! let exporter = JaegerAgentExporter::new("localhost", 6831).with_max_packet_size(1_400);
//! let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).build();
//! # drop(provider);
//! ```

use std::borrow::Cow;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{Event, SpanContext, SpanId, SpanKind, Status};
use opentelemetry::{InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use super::ExportHealth;
use super::jaeger_compact as compact;
use super::jaeger_thrift::{
    BatchHead, ClientStats, EmitBatchWriter, Log, Process, Span, SpanHead, SpanRef, SpanRefType,
    Tag, TagRef, TagValue, encode_emit_batch,
};
use crate::trace::{AttributeRef, BufferedSpans, Finished, ServerFinished};

/// The agent's host when none is configured: an agent beside the service (a sidecar).
pub const DEFAULT_HOST: &str = "localhost";
/// The agent's compact-thrift port.
pub const DEFAULT_PORT: u16 = 6831;
/// The largest datagram sent: the loopback ceiling, with room for IP and UDP headers.
pub const MAX_PACKET_SIZE: usize = 65_000;
/// The smallest maximum accepted; below it not even a small span fits.
pub const MIN_PACKET_SIZE: usize = 512;

/// What the exporter has done since it was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JaegerAgentStats {
    /// Spans handed to the agent.
    pub spans_sent: u64,
    /// Datagrams sent.
    pub packets_sent: u64,
    /// Spans sent with tags or logs removed to fit in a packet.
    pub spans_truncated: u64,
    /// Spans that did not fit in a packet even without tags and logs.
    pub spans_dropped: u64,
    /// Datagrams that could not be sent (no address, socket error).
    pub send_errors: u64,
    /// Spans in those datagrams.
    pub spans_failed: u64,
    /// Lookups of the agent's address, each with a new socket: the first, then at most one
    /// per [`RESOLVE_RETRY`] while sends fail.
    pub address_lookups: u64,
}

#[derive(Debug, Default)]
struct Counters {
    spans_sent: AtomicU64,
    packets_sent: AtomicU64,
    spans_truncated: AtomicU64,
    spans_dropped: AtomicU64,
    send_errors: AtomicU64,
    spans_failed: AtomicU64,
    address_lookups: AtomicU64,
}

/// Where datagrams go: a socket connected to the agent, and when its address was looked up.
#[derive(Debug, Default)]
struct Target {
    socket: Option<UdpSocket>,
    looked_up_at: Option<Instant>,
    /// A send failed since the last lookup: the agent may have moved (a restarted container
    /// gets a new address), so look it up again once the interval has passed.
    stale: bool,
}

/// The shortest time between two lookups of the agent's address. Lookups and new sockets run
/// on the export thread: an agent that is down or a host that does not resolve costs one per
/// interval, not one per datagram. A fixed interval, not a growing back-off: it already bounds
/// the cost to nothing, and an agent that comes back at a new address is found within it.
pub const RESOLVE_RETRY: Duration = Duration::from_secs(5);

/// Exports spans to a Jaeger agent. Give it to the SDK's batch processor.
#[derive(Debug)]
pub struct JaegerAgentExporter {
    host: String,
    port: u16,
    max_packet_size: usize,
    process: Process,
    /// The agent's address, resolved on first use (never at construction, so start-up never
    /// waits on DNS) and again, at most once per [`RESOLVE_RETRY`], after a failed send.
    target: Mutex<Target>,
    seq_no: AtomicI32,
    health: ExportHealth,
    counters: Arc<Counters>,
}

impl JaegerAgentExporter {
    /// An exporter to the agent at `host:port`. Nothing is resolved or sent yet.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        JaegerAgentExporter {
            host: host.into(),
            port,
            max_packet_size: MAX_PACKET_SIZE,
            process: Process {
                service_name: "unknown_service".into(),
                tags: Vec::new(),
            },
            target: Mutex::new(Target::default()),
            seq_no: AtomicI32::new(0),
            health: ExportHealth::default(),
            counters: Arc::new(Counters::default()),
        }
    }

    /// The largest datagram to send, clamped to
    /// [`MIN_PACKET_SIZE`]..=[`MAX_PACKET_SIZE`].
    pub fn with_max_packet_size(mut self, bytes: usize) -> Self {
        self.max_packet_size = bytes.clamp(MIN_PACKET_SIZE, MAX_PACKET_SIZE);
        self
    }

    /// A handle that reads this exporter's counters, usable after the exporter moved into a
    /// batch processor.
    pub fn stats_handle(&self) -> JaegerAgentStatsHandle {
        JaegerAgentStatsHandle(self.counters.clone())
    }

    /// The counters now.
    pub fn stats(&self) -> JaegerAgentStats {
        self.stats_handle().get()
    }

    /// Encodes `spans` into datagrams of at most the maximum packet size.
    pub fn encode(&self, spans: Vec<SpanData>) -> Vec<(Vec<u8>, usize)> {
        let sources: Vec<SpanSource<'_>> = spans.iter().map(SpanSource::Data).collect();
        self.pack(&sources)
    }

    /// Exports the spans of Octopus's span pipeline: server spans are encoded from their
    /// records (`scope` is their instrumentation scope), without being made into `SpanData`.
    pub(crate) fn export_finished<'a>(
        &self,
        batch: impl Iterator<Item = &'a Finished>,
        scope: &'a InstrumentationScope,
    ) -> OTelSdkResult {
        let sources: Vec<SpanSource<'_>> = batch
            .map(|finished| SpanSource::of(finished, scope))
            .collect();
        self.send_all(self.pack(&sources))
    }

    /// Encodes spans taken out of a span pipeline
    /// ([`Octopus::take_buffered_spans`](crate::Octopus::take_buffered_spans)) into datagrams
    /// as the export thread does (server spans from their records), and drops them: the export
    /// path's benchmark, where [`encode`](Self::encode) takes the `SpanData` of SDK spans. Not
    /// part of the API.
    #[doc(hidden)]
    pub fn encode_buffered(&self, spans: BufferedSpans) -> Vec<(Vec<u8>, usize)> {
        let sources: Vec<SpanSource<'_>> = spans
            .spans
            .iter()
            .map(|finished| SpanSource::of(finished, &spans.scope))
            .collect();
        self.pack(&sources)
    }

    /// Sends each datagram, counting what went and what failed; the first error.
    fn send_all(&self, packets: Vec<(Vec<u8>, usize)>) -> OTelSdkResult {
        let mut first_error = None;
        for (packet, spans) in packets {
            match self.send(&packet) {
                Ok(()) => {
                    self.counters.packets_sent.fetch_add(1, Ordering::Relaxed);
                    self.counters
                        .spans_sent
                        .fetch_add(spans as u64, Ordering::Relaxed);
                }
                Err(error) => {
                    self.counters.send_errors.fetch_add(1, Ordering::Relaxed);
                    self.counters
                        .spans_failed
                        .fetch_add(spans as u64, Ordering::Relaxed);
                    first_error.get_or_insert(error);
                }
            }
        }
        self.report(first_error.as_ref());
        match first_error {
            None => Ok(()),
            Some(error) => Err(OTelSdkError::InternalFailure(format!(
                "Jaeger agent {}:{}: {error}",
                self.host, self.port
            ))),
        }
    }

    /// The sequence number of the next datagram.
    fn next_seq_no(&self) -> i32 {
        self.seq_no.fetch_add(1, Ordering::Relaxed)
    }

    /// The delivery statistics a datagram reports: the counters now.
    fn client_stats(&self) -> ClientStats {
        let counters = &self.counters;
        ClientStats {
            full_queue_dropped_spans: 0,
            too_large_dropped_spans: counters.spans_dropped.load(Ordering::Relaxed) as i64,
            failed_to_emit_spans: counters.spans_failed.load(Ordering::Relaxed) as i64,
        }
    }

    /// Packs spans greedily into datagrams. Each span is encoded once, straight into the
    /// datagram being filled: its length is its exact size (a compact struct encodes the same
    /// wherever it sits). A span that does not fit moves on to open the next datagram. The
    /// envelope's size is measured with no spans (taking a sequence number, as it always has),
    /// and 5 bytes cover the list header's growing size varint.
    fn pack(&self, spans: &[SpanSource<'_>]) -> Vec<(Vec<u8>, usize)> {
        let measured = BatchHead {
            process: &self.process,
            seq_no: Some(i64::from(self.next_seq_no())),
            stats: Some(self.client_stats()),
        };
        let envelope = encode_emit_batch(i32::MAX, &measured, 0, &[]).len() + 5;
        let budget = self.max_packet_size.saturating_sub(envelope);
        let mut packets = Vec::new();
        let mut packet: Option<Packet> = None;
        // The bytes of the span that opens the next datagram. With room for one: written by
        // many small appends, an empty vector grew seven times to hold a server span (callgrind,
        // `core/jaeger_thrift_encode_100_spans`: 5 760 instructions of reallocation a batch).
        let mut first = Vec::with_capacity(SPAN_SIZE_GUESS);
        for (i, &data) in spans.iter().enumerate() {
            let remaining = spans.len() - i;
            let Some(open) = &mut packet else {
                first.clear();
                if self.append_span(data, &mut first, budget) {
                    packet = Some(self.open(&first, remaining, budget));
                }
                continue;
            };
            let mut bytes = open.writer.spans();
            let start = bytes.len();
            if !self.append_span(data, &mut bytes, budget) {
                continue;
            }
            if bytes.len() - open.spans_at <= budget {
                open.count += 1;
                continue;
            }
            first.clear();
            first.extend_from_slice(&bytes[start..]);
            bytes.truncate(start);
            drop(bytes);
            packets.extend(packet.take().map(|full| self.close(full)));
            packet = Some(self.open(&first, remaining, budget));
        }
        packets.extend(packet.map(|last| self.close(last)));
        packets
    }

    /// Appends the span's bytes to `out`, truncated if they are more than `budget`; false, with
    /// nothing appended, if the span does not fit even truncated.
    fn append_span(&self, data: SpanSource<'_>, out: &mut Vec<u8>, budget: usize) -> bool {
        let start = out.len();
        encode_span(data, out);
        if out.len() - start <= budget {
            return true;
        }
        out.truncate(start);
        match self.truncated(data, budget) {
            Some(bytes) => {
                out.extend_from_slice(&bytes);
                true
            }
            None => false,
        }
    }

    /// A datagram holding the span `first`, with room for the `remaining` spans (this one
    /// included) up to `budget`; the list header is written for all of them, the common case.
    fn open(&self, first: &[u8], remaining: usize, budget: usize) -> Packet {
        let seq_no = self.next_seq_no();
        let capacity = budget.min(remaining.saturating_mul(SPAN_SIZE_GUESS));
        let writer = EmitBatchWriter::begin(seq_no, &self.process, remaining, capacity);
        let mut bytes = writer.spans();
        let spans_at = bytes.len();
        bytes.extend_from_slice(first);
        drop(bytes);
        Packet {
            writer,
            seq_no,
            spans_at,
            count: 1,
        }
    }

    /// The finished datagram, with the counters as they are now, and its span count.
    fn close(&self, packet: Packet) -> (Vec<u8>, usize) {
        let datagram = packet.writer.finish(
            packet.count,
            Some(i64::from(packet.seq_no)),
            Some(self.client_stats()),
        );
        (datagram, packet.count)
    }

    /// The bytes of a span too large for `budget` as it is, truncated: logs dropped, then tags
    /// if that is not enough, the numbers dropped recorded as tags; `None` (counted) if it does
    /// not fit even so. Rare, so it goes through the owned model.
    fn truncated(&self, data: SpanSource<'_>, budget: usize) -> Option<Vec<u8>> {
        let mut span = jaeger_span(data);
        let logs = std::mem::take(&mut span.logs).len();
        let mut tags = 0;
        if span.encode().len() > budget {
            tags = std::mem::take(&mut span.tags).len();
        }
        for (key, dropped) in [
            ("octopus.dropped_logs", logs),
            ("octopus.dropped_tags", tags),
        ] {
            if dropped > 0 {
                span.tags
                    .push(Tag::new(key, TagValue::Long(dropped as i64)));
            }
        }
        let encoded = span.encode();
        if encoded.len() <= budget {
            self.counters
                .spans_truncated
                .fetch_add(1, Ordering::Relaxed);
            Some(encoded)
        } else {
            self.counters.spans_dropped.fetch_add(1, Ordering::Relaxed);
            None
        }
    }

    fn send(&self, packet: &[u8]) -> std::io::Result<()> {
        let mut target = self.target.lock().unwrap_or_else(|e| e.into_inner());
        let due = target
            .looked_up_at
            .is_none_or(|at| at.elapsed() >= RESOLVE_RETRY);
        if (target.socket.is_none() || target.stale) && due {
            target.looked_up_at = Some(Instant::now());
            self.counters
                .address_lookups
                .fetch_add(1, Ordering::Relaxed);
            match self.connect() {
                Ok(socket) => {
                    target.socket = Some(socket);
                    target.stale = false;
                }
                // With a socket from an earlier lookup, the last known address is still the
                // best guess; without one there is nowhere to send.
                Err(error) if target.socket.is_none() => return Err(error),
                Err(_) => {}
            }
        }
        let Some(socket) = &target.socket else {
            return Err(std::io::Error::other(
                "the agent address did not resolve; retrying later",
            ));
        };
        // A connected socket holds the agent's ICMP "port unreachable" for an earlier datagram
        // as a pending error, which the kernel hands to the next send only (failing that one
        // and letting the one after through). Reading it here reports an agent that is down on
        // every export, so the health report does not flap; this datagram is still sent, in
        // case the agent is back, and counted as failed in place of the refused one. On
        // loopback, this datagram's own refusal is already pending when `send` returns.
        let refused = socket.take_error().ok().flatten();
        let sent = socket.send(packet).and_then(|_| {
            match refused.or_else(|| socket.take_error().ok().flatten()) {
                Some(error) => Err(error),
                None => Ok(()),
            }
        });
        // A full send buffer says nothing about the address; any other error may.
        if let Err(error) = &sent
            && error.kind() != std::io::ErrorKind::WouldBlock
        {
            target.stale = true;
        }
        sent
    }

    fn connect(&self) -> std::io::Result<UdpSocket> {
        let address = (self.host.as_str(), self.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::other("the agent host resolved to no address"))?;
        let socket = UdpSocket::bind(unspecified(address))?;
        // Connected, so the kernel reports the agent's ICMP "port unreachable" as an error on
        // a later send: a stopped agent shows as export errors instead of silent loss.
        socket.connect(address)?;
        // A full socket buffer must not stall the batch thread: the packet is lost instead.
        socket.set_nonblocking(true)?;
        Ok(socket)
    }

    fn report(&self, failed: Option<&std::io::Error>) {
        let destination = format!("the Jaeger agent at {}:{}", self.host, self.port);
        self.health
            .report(&destination, failed.map(|e| e as &dyn std::fmt::Display));
    }
}

/// Room reserved per span in a datagram before it is written: a server span with every
/// attribute is about 350 bytes, so a batch rarely makes its datagram grow.
const SPAN_SIZE_GUESS: usize = 512;

/// A datagram [`JaegerAgentExporter::pack`] is filling.
struct Packet {
    writer: EmitBatchWriter,
    seq_no: i32,
    /// Where the spans start in the datagram.
    spans_at: usize,
    /// The spans in it.
    count: usize,
}

/// Reads a [`JaegerAgentExporter`]'s counters.
#[derive(Clone, Debug)]
pub struct JaegerAgentStatsHandle(Arc<Counters>);

impl JaegerAgentStatsHandle {
    /// The counters now.
    pub fn get(&self) -> JaegerAgentStats {
        let c = &self.0;
        JaegerAgentStats {
            spans_sent: c.spans_sent.load(Ordering::Relaxed),
            packets_sent: c.packets_sent.load(Ordering::Relaxed),
            spans_truncated: c.spans_truncated.load(Ordering::Relaxed),
            spans_dropped: c.spans_dropped.load(Ordering::Relaxed),
            send_errors: c.send_errors.load(Ordering::Relaxed),
            spans_failed: c.spans_failed.load(Ordering::Relaxed),
            address_lookups: c.address_lookups.load(Ordering::Relaxed),
        }
    }
}

impl SpanExporter for JaegerAgentExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.send_all(self.encode(batch))
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        let mut service_name = None;
        let mut tags = vec![Tag::new(
            "jaeger.version",
            TagValue::String(format!("octopus-rust-{}", env!("CARGO_PKG_VERSION"))),
        )];
        // Jaeger's own name for the host, the same value as the resource's `host.name`.
        let host_name = resource
            .get(&opentelemetry::Key::from_static_str("host.name"))
            .map(|name| name.as_str().into_owned())
            .or_else(hostname);
        if let Some(hostname) = host_name {
            tags.push(Tag::new("hostname", TagValue::String(hostname)));
        }
        if let Some(ip) = self.local_ip() {
            tags.push(Tag::new("ip", TagValue::String(ip)));
        }
        for (key, value) in resource.iter() {
            if key.as_str() == "service.name" {
                service_name = Some(value.as_str().into_owned());
            } else {
                tags.push(tag(&KeyValue::new(key.clone(), value.clone())));
            }
        }
        self.process = Process {
            service_name: service_name.unwrap_or_else(|| "unknown_service".into()),
            tags,
        };
    }
}

impl JaegerAgentExporter {
    /// The local address packets to the agent leave from, as Jaeger clients report it.
    /// Connecting a UDP socket sends nothing; it only picks the route.
    fn local_ip(&self) -> Option<String> {
        let address = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .ok()?
            .next()?;
        let local: SocketAddr = if address.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let socket = UdpSocket::bind(local).ok()?;
        socket.connect(address).ok()?;
        Some(socket.local_addr().ok()?.ip().to_string())
    }
}

/// The wildcard address of `address`'s family, any port.
fn unspecified(address: SocketAddr) -> SocketAddr {
    if address.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    }
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .filter(|name| !name.is_empty())
}

fn micros(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_micros() as i64)
}

fn tag(attribute: &KeyValue) -> Tag {
    Tag::new(
        attribute.key.as_str(),
        owned_value(tag_text(&attribute.value).as_ref()),
    )
}

fn owned_value(value: TagRef<'_>) -> TagValue {
    match value {
        TagRef::Str(v) => TagValue::String(v.to_owned()),
        TagRef::Double(v) => TagValue::Double(v),
        TagRef::Bool(v) => TagValue::Bool(v),
        TagRef::Long(v) => TagValue::Long(v),
        TagRef::Binary(v) => TagValue::Binary(v.to_vec()),
    }
}

fn split_trace_id(trace_id: opentelemetry::trace::TraceId) -> (i64, i64) {
    let id = u128::from_be_bytes(trace_id.to_bytes());
    ((id >> 64) as u64 as i64, id as u64 as i64)
}

fn span_id(id: SpanId) -> i64 {
    u64::from_be_bytes(id.to_bytes()) as i64
}

/// A tag value borrowed from the span data where it can be (strings), formatted where it must
/// be (arrays).
enum TagText<'a> {
    Str(Cow<'a, str>),
    Double(f64),
    Bool(bool),
    Long(i64),
}

impl TagText<'_> {
    fn as_ref(&self) -> TagRef<'_> {
        match self {
            TagText::Str(v) => TagRef::Str(v),
            TagText::Double(v) => TagRef::Double(*v),
            TagText::Bool(v) => TagRef::Bool(*v),
            TagText::Long(v) => TagRef::Long(*v),
        }
    }
}

fn tag_text(value: &Value) -> TagText<'_> {
    match value {
        Value::Bool(v) => TagText::Bool(*v),
        Value::I64(v) => TagText::Long(*v),
        Value::F64(v) => TagText::Double(*v),
        // What `Value::as_str` returns for a string, without the call: it is not inlined
        // across crates (175 instructions a span, callgrind).
        Value::String(v) => TagText::Str(Cow::Borrowed(v.as_str())),
        other => TagText::Str(other.as_str()),
    }
}

/// A span as the mapping reads it: an SDK span's data, or an Octopus server span read from its
/// record, which is encoded without ever being made into `SpanData` (no `KeyValue` per
/// attribute, nothing to free but the record; see `SpanPipeline`'s export).
#[derive(Clone, Copy)]
pub(crate) enum SpanSource<'a> {
    Data(&'a SpanData),
    /// A server span, with the instrumentation scope its span data would carry.
    Server(&'a ServerFinished, &'a InstrumentationScope),
}

impl<'a> SpanSource<'a> {
    /// A span of the pipeline; `scope` is the server spans' instrumentation scope.
    fn of(finished: &'a Finished, scope: &'a InstrumentationScope) -> Self {
        match finished {
            Finished::Server(span) => SpanSource::Server(span, scope),
            Finished::Sdk(data) => SpanSource::Data(data),
        }
    }

    fn span_context(self) -> &'a SpanContext {
        match self {
            SpanSource::Data(data) => &data.span_context,
            SpanSource::Server(span, _) => span.span_context(),
        }
    }

    fn parent_span_id(self) -> SpanId {
        match self {
            SpanSource::Data(data) => data.parent_span_id,
            SpanSource::Server(span, _) => span.parent_span_id(),
        }
    }

    fn name(self) -> &'a str {
        match self {
            SpanSource::Data(data) => &data.name,
            SpanSource::Server(span, _) => span.name(),
        }
    }

    fn times(self) -> (SystemTime, SystemTime) {
        match self {
            SpanSource::Data(data) => (data.start_time, data.end_time),
            SpanSource::Server(span, _) => (span.start_time(), span.end_time()),
        }
    }

    fn kind(self) -> &'a SpanKind {
        match self {
            SpanSource::Data(data) => &data.span_kind,
            SpanSource::Server(..) => &SpanKind::Server,
        }
    }

    fn status(self) -> &'a Status {
        match self {
            SpanSource::Data(data) => &data.status,
            SpanSource::Server(span, _) => span.status(),
        }
    }

    fn scope(self) -> &'a InstrumentationScope {
        match self {
            SpanSource::Data(data) => &data.instrumentation_scope,
            SpanSource::Server(_, scope) => scope,
        }
    }

    fn dropped_attributes_count(self) -> u32 {
        match self {
            SpanSource::Data(data) => data.dropped_attributes_count,
            SpanSource::Server(span, _) => span.dropped_attributes_count(),
        }
    }

    fn attribute_count(self) -> usize {
        match self {
            SpanSource::Data(data) => data.attributes.len(),
            SpanSource::Server(span, _) => span.attribute_count(),
        }
    }

    /// Calls `f` with each attribute, as a tag.
    #[inline(always)]
    fn for_each_attribute(self, mut f: impl FnMut(&str, TagRef<'_>)) {
        match self {
            SpanSource::Data(data) => {
                for kv in &data.attributes {
                    f(kv.key.as_str(), tag_text(&kv.value).as_ref());
                }
            }
            SpanSource::Server(span, _) => span.for_each_attribute(|key, value| match value {
                AttributeRef::Static(v) => f(key, TagRef::Str(v)),
                AttributeRef::Str(v) => f(key, TagRef::Str(v)),
                AttributeRef::Text(v) => f(key, TagRef::Str(v.as_str())),
                AttributeRef::I64(v) => f(key, TagRef::Long(v)),
                AttributeRef::Bool(v) => f(key, TagRef::Bool(v)),
                AttributeRef::Value(v) => f(key, tag_text(v).as_ref()),
            }),
        }
    }

    fn events(self) -> &'a [Event] {
        match self {
            SpanSource::Data(data) => &data.events.events,
            SpanSource::Server(span, _) => span.events(),
        }
    }

    fn link_count(self) -> usize {
        match self {
            SpanSource::Data(data) => data.links.len(),
            SpanSource::Server(span, _) => span.link_count(),
        }
    }

    /// Calls `f` with each link's span context, in order.
    fn for_each_link(self, mut f: impl FnMut(&SpanContext)) {
        match self {
            SpanSource::Data(data) => data.links.iter().for_each(|link| f(&link.span_context)),
            SpanSource::Server(span, _) => span.for_each_link(f),
        }
    }

    /// Calls `f` with each of the span's tags that is not one of its attributes, in order:
    /// these follow the attributes, in [`jaeger_span`] and [`encode_span`] alike.
    fn for_each_extra_tag(self, mut f: impl FnMut(&'static str, TagRef<'a>)) {
        if let Some(kind) = kind_name(self.kind()) {
            f("span.kind", TagRef::Str(kind));
        }
        match self.status() {
            Status::Error { description } => {
                f("error", TagRef::Bool(true));
                f("otel.status_code", TagRef::Str("ERROR"));
                if !description.is_empty() {
                    f("otel.status_description", TagRef::Str(description));
                }
            }
            Status::Ok => f("otel.status_code", TagRef::Str("OK")),
            Status::Unset => {}
        }
        let scope = self.scope();
        f("otel.scope.name", TagRef::Str(scope.name()));
        if let Some(version) = scope.version() {
            f("otel.scope.version", TagRef::Str(version));
        }
        let dropped = self.dropped_attributes_count();
        if dropped > 0 {
            f(
                "otel.dropped_attributes_count",
                TagRef::Long(i64::from(dropped)),
            );
        }
    }

    /// The number of tags: the attributes and [`for_each_extra_tag`](Self::for_each_extra_tag)'s.
    fn tag_count(self) -> usize {
        let mut count = self.attribute_count();
        self.for_each_extra_tag(|_, _| count += 1);
        count
    }

    /// The number of references: the parent's and one per link.
    fn reference_count(self) -> usize {
        usize::from(self.parent_span_id() != SpanId::INVALID) + self.link_count()
    }

    /// Calls `f` with the references: CHILD_OF the parent, if any, then FOLLOWS_FROM each
    /// link.
    fn for_each_reference(self, trace_id_low: i64, trace_id_high: i64, mut f: impl FnMut(SpanRef)) {
        let parent = self.parent_span_id();
        if parent != SpanId::INVALID {
            f(SpanRef {
                ref_type: SpanRefType::ChildOf,
                trace_id_low,
                trace_id_high,
                span_id: span_id(parent),
            });
        }
        self.for_each_link(|link| {
            let (high, low) = split_trace_id(link.trace_id());
            f(SpanRef {
                ref_type: SpanRefType::FollowsFrom,
                trace_id_low: low,
                trace_id_high: high,
                span_id: span_id(link.span_id()),
            });
        });
    }

    /// The fixed-size fields of the span's Jaeger form.
    fn head(self, trace_id_low: i64, trace_id_high: i64) -> SpanHead {
        let (start, end) = self.times();
        let start_time = micros(start);
        let parent = self.parent_span_id();
        SpanHead {
            trace_id_low,
            trace_id_high,
            span_id: span_id(self.span_context().span_id()),
            parent_span_id: if parent == SpanId::INVALID {
                0
            } else {
                span_id(parent)
            },
            flags: i32::from(self.span_context().is_sampled()),
            start_time,
            duration: micros(end).saturating_sub(start_time),
        }
    }
}

fn kind_name(kind: &SpanKind) -> Option<&'static str> {
    match kind {
        SpanKind::Server => Some("server"),
        SpanKind::Client => Some("client"),
        SpanKind::Producer => Some("producer"),
        SpanKind::Consumer => Some("consumer"),
        SpanKind::Internal => None,
    }
}

/// Appends the compact bytes of [`jaeger_span`]`(span)`, written straight from the span's data
/// or record by the hand-written encoder ([`compact`]): no `String` per tag key and value, no
/// owned model, no `Vec` of references or tags. Export runs this for every span, on the batch
/// thread that shares the machine with the requests.
fn encode_span(span: SpanSource<'_>, out: &mut Vec<u8>) {
    let (trace_id_high, trace_id_low) = split_trace_id(span.span_context().trace_id());
    compact::span(
        out,
        span.head(trace_id_low, trace_id_high),
        span.name(),
        (span.reference_count(), |out: &mut Vec<u8>| {
            span.for_each_reference(trace_id_low, trace_id_high, |reference| {
                compact::span_ref(out, &reference)
            })
        }),
        (span.tag_count(), |out: &mut Vec<u8>| {
            span.for_each_attribute(|key, value| compact::tag(out, key, value));
            span.for_each_extra_tag(|key, value| compact::tag(out, key, value));
        }),
        (span.events().len(), |out: &mut Vec<u8>| {
            for event in span.events() {
                compact::log(
                    out,
                    micros(event.timestamp),
                    1 + event.attributes.len(),
                    |out| {
                        compact::tag(out, "event", TagRef::Str(&event.name));
                        for kv in event.attributes.iter() {
                            compact::tag(out, kv.key.as_str(), tag_text(&kv.value).as_ref());
                        }
                    },
                );
            }
        }),
    );
}

/// Maps an OpenTelemetry span onto Jaeger's model, as the OpenTelemetry → Jaeger
/// specification describes. [`encode_span`] writes the same bytes without building it; this
/// owned form is for spans that must be cut down to fit a packet.
fn jaeger_span(span: SpanSource<'_>) -> Span {
    let (trace_id_high, trace_id_low) = split_trace_id(span.span_context().trace_id());
    let head = span.head(trace_id_low, trace_id_high);
    let mut references = Vec::with_capacity(span.reference_count());
    span.for_each_reference(trace_id_low, trace_id_high, |reference| {
        references.push(reference)
    });
    let mut tags: Vec<Tag> = Vec::with_capacity(span.tag_count());
    span.for_each_attribute(|key, value| tags.push(Tag::new(key, owned_value(value))));
    span.for_each_extra_tag(|key, value| tags.push(Tag::new(key, owned_value(value))));
    let logs = span
        .events()
        .iter()
        .map(|event| Log {
            timestamp: micros(event.timestamp),
            fields: std::iter::once(Tag::new("event", TagValue::String(event.name.to_string())))
                .chain(event.attributes.iter().map(tag))
                .collect(),
        })
        .collect();
    Span {
        trace_id_low,
        trace_id_high,
        span_id: head.span_id,
        parent_span_id: head.parent_span_id,
        operation_name: span.name().to_owned(),
        references,
        flags: head.flags,
        start_time: head.start_time,
        duration: head.duration,
        tags,
        logs,
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{Link, Span as _, SpanContext, TraceFlags, TraceState, Tracer};
    use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
    use opentelemetry::{Array, Context, KeyValue, StringValue};
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

    use super::*;

    /// Spans with every kind of tag, status, link and event the mapping handles.
    fn varied_spans() -> Vec<SpanData> {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let tracer = provider.tracer("mapping-test");
        let remote = SpanContext::new(
            opentelemetry::trace::TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let parent = Context::new().with_remote_span_context(remote.clone());
        for (i, kind) in [
            SpanKind::Server,
            SpanKind::Client,
            SpanKind::Internal,
            SpanKind::Producer,
        ]
        .into_iter()
        .enumerate()
        {
            let mut span = tracer
                .span_builder(format!("op {i}"))
                .with_kind(kind)
                .with_links(vec![Link::with_context(remote.clone())])
                .start_with_context(&tracer, &parent);
            span.set_attribute(KeyValue::new("s", "välue"));
            span.set_attribute(KeyValue::new("b", i % 2 == 0));
            span.set_attribute(KeyValue::new("n", -42_i64));
            span.set_attribute(KeyValue::new("f", 1.5));
            span.set_attribute(KeyValue::new(
                "a",
                Value::Array(Array::String(vec![StringValue::from("x"), "y".into()])),
            ));
            span.add_event("retry", vec![KeyValue::new("attempt", 2_i64)]);
            match i {
                0 => span.set_status(Status::error("it broke")),
                1 => span.set_status(Status::error("")),
                2 => span.set_status(Status::Ok),
                _ => {}
            }
            span.end();
        }
        let root = tracer.start("root");
        drop(root);
        exporter.get_finished_spans().unwrap()
    }

    /// The bytes written straight from the SDK's data, by hand, are those of the owned model
    /// written by the `thrift` crate (the path they replaced) and by hand.
    #[test]
    fn direct_encoding_is_byte_identical_to_the_owned_model_through_the_thrift_crate() {
        let spans = varied_spans();
        assert_eq!(spans.len(), 5);
        for data in &spans {
            let mut direct = Vec::new();
            encode_span(SpanSource::Data(data), &mut direct);
            let owned = jaeger_span(SpanSource::Data(data));
            assert_eq!(direct, owned.encode_reference(), "span {:?}", data.name);
            assert_eq!(direct, owned.encode(), "span {:?}", data.name);
        }
    }

    /// A span too large even bare is dropped and counted; the datagram it would have been in
    /// holds one span fewer than its list header was first written for (15 → 14: the header
    /// shrinks to one byte) and is still the `thrift` crate's encoding of what it holds.
    #[test]
    fn a_dropped_span_leaves_the_datagram_exact() {
        use crate::export::jaeger_thrift::Batch;

        let mut spans = Vec::new();
        for _ in 0..3 {
            spans.extend(varied_spans());
        }
        spans[7].name = "x".repeat(MAX_PACKET_SIZE).into();
        let exporter = JaegerAgentExporter::new("127.0.0.1", DEFAULT_PORT);
        let packets = exporter.encode(spans.clone());
        assert_eq!(packets.len(), 1);
        assert_eq!(packets[0].1, 14);
        assert_eq!(exporter.stats().spans_dropped, 1);
        let sent = Batch::decode_emit_batch(&packets[0].0).unwrap();
        assert_eq!(sent.stats.unwrap().too_large_dropped_spans, 1);
        let expected = Batch {
            process: exporter.process.clone(),
            spans: spans
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != 7)
                .map(|(_, data)| jaeger_span(SpanSource::Data(data)))
                .collect(),
            seq_no: sent.seq_no,
            stats: sent.stats,
        };
        let seq = sent.seq_no.unwrap() as i32;
        assert_eq!(packets[0].0, expected.encode_emit_batch_reference(seq));
    }

    /// Every datagram is what the `thrift` crate writes for a batch of the packet's spans in
    /// the owned model, with the process, sequence number and stats the exporter sent: packed
    /// into one datagram, or split across several under a small maximum.
    #[test]
    fn datagrams_are_the_thrift_crates_encoding_of_the_packed_spans() {
        use crate::export::jaeger_thrift::Batch;

        let mut spans = Vec::new();
        for _ in 0..8 {
            spans.extend(varied_spans());
        }
        for max in [MAX_PACKET_SIZE, 1_000, 1_400] {
            let mut exporter =
                JaegerAgentExporter::new("127.0.0.1", DEFAULT_PORT).with_max_packet_size(max);
            exporter.set_resource(
                &Resource::builder_empty()
                    .with_service_name("users")
                    .with_attribute(KeyValue::new("pid", 7_i64))
                    .build(),
            );
            let packets = exporter.encode(spans.clone());
            assert_eq!(
                packets.iter().map(|(_, n)| n).sum::<usize>(),
                spans.len(),
                "{max}"
            );
            assert_eq!(packets.len() > 1, max < MAX_PACKET_SIZE, "{max}");
            let mut rest = &spans[..];
            for (packet, count) in &packets {
                assert!(packet.len() <= max);
                let (these, others) = rest.split_at(*count);
                rest = others;
                let sent = Batch::decode_emit_batch(packet).unwrap();
                let expected = Batch {
                    process: exporter.process.clone(),
                    spans: these
                        .iter()
                        .map(|data| jaeger_span(SpanSource::Data(data)))
                        .collect(),
                    seq_no: sent.seq_no,
                    stats: sent.stats,
                };
                let seq = sent.seq_no.unwrap() as i32;
                assert_eq!(*packet, expected.encode_emit_batch_reference(seq), "{max}");
            }
        }
    }

    /// A server span encoded from its record is byte for byte the span encoded from the
    /// `SpanData` it would have been made into, for every field a record holds: attributes in
    /// order (the sampler's, the request's, a late route, a handler's, the response's), a limit
    /// cutting them, events, links, statuses.
    #[test]
    fn server_spans_encode_from_their_records_as_from_their_span_data() {
        let scope = InstrumentationScope::builder("octopus")
            .with_version("1.2.3")
            .build();
        let records = crate::trace::varied_server_spans();
        let data: Vec<SpanData> = crate::trace::varied_server_spans()
            .into_iter()
            .map(|span| span.into_span_data(&scope))
            .collect();
        // The fixture holds what it says.
        assert_eq!(data[1].attributes.len(), 17);
        assert_eq!((data[1].events.len(), data[1].links.len()), (1, 2));
        assert_eq!(data[2].attributes[8].key.as_str(), "first");
        assert_eq!(data[2].attributes[9].key.as_str(), "http.route");
        assert_eq!(
            (data[3].attributes.len(), data[3].dropped_attributes_count),
            (3, 8)
        );
        for (record, data) in records.iter().zip(&data) {
            let source = SpanSource::Server(record, &scope);
            let mut direct = Vec::new();
            encode_span(source, &mut direct);
            let mut through = Vec::new();
            encode_span(SpanSource::Data(data), &mut through);
            assert_eq!(direct, through, "span {:?}", data.name);
            assert_eq!(
                direct,
                jaeger_span(source).encode_reference(),
                "span {:?}",
                data.name
            );
        }
    }

    /// What the pipeline hands over (server records and SDK spans, mixed) goes out as the
    /// datagram of the same spans as `SpanData`.
    #[test]
    fn pipeline_batches_are_sent_as_their_span_data_would_be() {
        use crate::export::jaeger_thrift::Batch;

        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let port = receiver.local_addr().unwrap().port();
        let exporter = JaegerAgentExporter::new("127.0.0.1", port);
        let scope = InstrumentationScope::builder("octopus").build();
        let sdk = varied_spans();
        let mut batch: Vec<Finished> = crate::trace::varied_server_spans()
            .into_iter()
            .map(Finished::Server)
            .collect();
        batch.insert(2, Finished::Sdk(sdk[0].clone()));
        let mut expected: Vec<SpanData> = crate::trace::varied_server_spans()
            .into_iter()
            .map(|span| span.into_span_data(&scope))
            .collect();
        expected.insert(2, sdk[0].clone());
        exporter.export_finished(batch.iter(), &scope).unwrap();
        let mut datagram = vec![0; MAX_PACKET_SIZE];
        let len = receiver.recv(&mut datagram).unwrap();
        let sent = Batch::decode_emit_batch(&datagram[..len]).unwrap();
        let expected: Vec<Span> = expected
            .iter()
            .map(|data| jaeger_span(SpanSource::Data(data)))
            .collect();
        assert_eq!(sent.spans, expected);
        let stats = exporter.stats();
        assert_eq!((stats.packets_sent, stats.spans_sent), (1, 7));
    }

    /// Spans taken out of a pipeline (the export path's benchmark) encode as the export thread
    /// sends the same requests' spans: names, tags and flags alike; they count as ended, not
    /// exported.
    #[test]
    fn buffered_spans_encode_as_the_export_thread_sends_them() {
        use crate::export::jaeger_thrift::Batch;
        use crate::{
            Octopus, OctopusConfig, RequestObserver as _, RequestView, ResponseView, SamplerKind,
            TracesExporter,
        };

        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let octopus = Octopus::builder()
            .config(OctopusConfig {
                service_name: "buffered".into(),
                traces_exporter: TracesExporter::Jaeger,
                jaeger_host: "127.0.0.1".into(),
                jaeger_port: receiver.local_addr().unwrap().port(),
                sampler: SamplerKind::AlwaysOn,
                // Collected only when asked: the spans wait in the buffer until taken.
                bsp_schedule_delay_ms: Some(3_600_000),
                ..OctopusConfig::default()
            })
            .metrics([])
            .build()
            .unwrap();
        let headers: &[(&str, &str)] = &[("user-agent", "test")];
        let requests = || {
            for (path, status) in [("/a", 200), ("/b", 404), ("/c", 503)] {
                octopus
                    .observe(&RequestView::new("GET", path, headers).with_host(Some("h:1")))
                    .finish(&ResponseView::new(status));
            }
        };
        let shape = |span: &Span| (span.operation_name.clone(), span.tags.clone(), span.flags);

        requests();
        let buffered = octopus.take_buffered_spans();
        assert_eq!(buffered.len(), 3);
        let counts = octopus.span_counts();
        assert_eq!((counts.ended, counts.exported), (3, 0));
        let packets = JaegerAgentExporter::new("127.0.0.1", 9).encode_buffered(buffered);
        let taken: Vec<_> = packets
            .iter()
            .flat_map(|(bytes, _)| Batch::decode_emit_batch(bytes).unwrap().spans)
            .map(|span| shape(&span))
            .collect();

        requests();
        octopus.tracer_provider().unwrap().force_flush().unwrap();
        let mut datagram = vec![0; MAX_PACKET_SIZE];
        let len = receiver.recv(&mut datagram).unwrap();
        let sent: Vec<_> = Batch::decode_emit_batch(&datagram[..len])
            .unwrap()
            .spans
            .iter()
            .map(shape)
            .collect();
        assert_eq!(taken.len(), 3);
        assert_eq!(taken, sent);
        let counts = octopus.shutdown().unwrap();
        assert_eq!((counts.ended, counts.exported), (6, 3));
    }
}
