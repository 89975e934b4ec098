//! The thrift compact protocol written by hand, for span bodies: the exporter's hot loop.
//!
//! Why by hand: through the `thrift` crate's `TCompactOutputProtocol`, behind `dyn
//! TOutputProtocol`, every field is a handful of virtual calls (field begin, value, field end),
//! every byte a `Write::write` on the transport, every struct a push on a heap-allocated
//! field-id stack. Encoding 100 server spans with every server attribute
//! (`core/jaeger_thrift_encode_100_spans`) took 14 344 instructions a span that way (callgrind,
//! 95 µs for the 100); with these writers, generic over closures and writing into the datagram
//! itself, 4 217, of which about 940 are dropping the SDK's span data.
//!
//! The `thrift` crate still writes the `emitBatch` envelope (once a datagram) and decodes in
//! the test receivers; the tests of `jaeger_thrift` prove these bytes identical to the crate's
//! for every field and tag type.
//!
//! What the encoding is (the compact protocol specification,
//! `apache/thrift/doc/specs/thrift-compact-protocol.md`), for the types a span uses:
//! - a field header is one byte, `delta << 4 | type`, when the field id is 1 to 14 above the
//!   previous field's id in the same struct; otherwise the type byte, then the id as a zigzag
//!   varint;
//! - `i32` and `i64` are zigzag varints, `double` 8 bytes little-endian, `binary` and `string`
//!   a varint length then the bytes;
//! - a `bool` field carries its value in the header's type nibble: 1 true, 2 false;
//! - a list header is `size << 4 | element type` up to 14 elements, else `0xF0 | element type`
//!   then the size as a varint;
//! - a struct writes nothing at its start and a stop byte (0) at its end.

use super::jaeger_thrift::{SpanHead, SpanRef, SpanRefType, TagRef};

/// Compact type nibble of a `bool` field holding `true`.
const BOOL_TRUE: u8 = 1;
/// Compact type nibble of a `bool` field holding `false`.
const BOOL_FALSE: u8 = 2;
/// Compact type nibble of `i32`.
const I32: u8 = 5;
/// Compact type nibble of `i64`.
const I64: u8 = 6;
/// Compact type nibble of `double`.
const DOUBLE: u8 = 7;
/// Compact type nibble of `binary` and `string`.
const BINARY: u8 = 8;
/// Compact type nibble of `list`.
const LIST: u8 = 9;
/// Compact type nibble of `struct`.
const STRUCT: u8 = 12;

/// Appends `value` as an unsigned LEB128 varint, after `prefix` (a field header, or nothing).
/// Most varints are one byte (lengths, small numbers, the tag type): prefix and varint go in as
/// one fixed-size copy, a single capacity check.
#[inline(always)]
fn varint<const P: usize>(out: &mut Vec<u8>, prefix: [u8; P], value: u64) {
    if value < 0x80 {
        let mut bytes = [0u8; 2];
        bytes[..P].copy_from_slice(&prefix);
        bytes[P] = value as u8;
        out.extend_from_slice(&bytes[..=P]);
    } else {
        long_varint(out, prefix, value);
    }
}

/// A varint of two bytes or more (ids and timestamps take 8 to 10), after `prefix`: all ten
/// 7-bit groups computed without a loop, copied as one fixed-size block, the unused tail cut
/// off. A loop over the groups cost about 130 instructions a 10-byte id, one shift and store a
/// group 55 (callgrind); the first eight groups spread into one `u64` by three halvings, as
/// now, 142 instructions a span fewer than that (about 16 a varint;
/// `core/jaeger_thrift_encode_100_spans`, 2026-12-01). Copying only the bytes used, a length
/// unknown at compile time, would call `memcpy`.
#[inline]
fn long_varint<const P: usize>(out: &mut Vec<u8>, prefix: [u8; P], value: u64) {
    let bits = 64 - value.leading_zeros() as usize;
    let n = bits.div_ceil(7).max(1);
    // The low 56 bits spread into eight 7-bit groups, one a byte, in three halvings.
    let x = value & 0x00FF_FFFF_FFFF_FFFF;
    let x = (x & 0x0000_0000_0FFF_FFFF) | ((x & 0x00FF_FFFF_F000_0000) << 4);
    let x = (x & 0x0000_3FFF_0000_3FFF) | ((x & 0x0FFF_C000_0FFF_C000) << 2);
    let x = (x & 0x007F_007F_007F_007F) | ((x & 0x3F80_3F80_3F80_3F80) << 1);
    let mut bytes = [0u8; 11];
    bytes[..P].copy_from_slice(&prefix);
    bytes[P..P + 8].copy_from_slice(&(x | 0x8080_8080_8080_8080).to_le_bytes());
    bytes[P + 8] = (value >> 56) as u8 | 0x80;
    bytes[P + 9] = (value >> 63) as u8 | 0x80;
    bytes[P + n - 1] &= 0x7f;
    out.extend_from_slice(&bytes[..P + 10]);
    out.truncate(out.len() - (10 - n));
}

/// Zigzag: small magnitudes of either sign become small unsigned numbers.
#[inline]
fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// One struct being written. The compact protocol encodes a field's id as the difference from
/// the previous field's in the same struct, so the writer remembers that id; a nested struct
/// gets its own writer on the same buffer.
pub(crate) struct StructWriter<'a> {
    out: &'a mut Vec<u8>,
    last_id: i16,
}

impl<'a> StructWriter<'a> {
    /// A struct starting at the end of `out`.
    #[inline(always)]
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        StructWriter { out, last_id: 0 }
    }

    /// Writes the field header, then `value` as a varint: the header in the same copy when it
    /// is the one-byte form, as it is for every field of the Jaeger structs.
    #[inline(always)]
    fn header_then_varint(&mut self, kind: u8, id: i16, value: u64) {
        let delta = i32::from(id) - i32::from(self.last_id);
        self.last_id = id;
        if (1..=14).contains(&delta) {
            varint(self.out, [((delta as u8) << 4) | kind], value);
        } else {
            // The long form: the type, then the id as a zigzag varint.
            varint(self.out, [kind], zigzag(i64::from(id)));
            varint(self.out, [], value);
        }
    }

    /// A field header with nothing after it in the same copy.
    #[inline(always)]
    fn header(&mut self, kind: u8, id: i16) {
        let delta = i32::from(id) - i32::from(self.last_id);
        self.last_id = id;
        if (1..=14).contains(&delta) {
            self.out.push(((delta as u8) << 4) | kind);
        } else {
            varint(self.out, [kind], zigzag(i64::from(id)));
        }
    }

    /// An `i64` field.
    #[inline(always)]
    pub(crate) fn i64(&mut self, id: i16, value: i64) {
        self.header_then_varint(I64, id, zigzag(value));
    }

    /// An `i32` field.
    #[inline(always)]
    pub(crate) fn i32(&mut self, id: i16, value: i32) {
        self.header_then_varint(I32, id, zigzag(i64::from(value)));
    }

    /// A `double` field.
    #[inline(always)]
    pub(crate) fn double(&mut self, id: i16, value: f64) {
        self.header(DOUBLE, id);
        self.out.extend_from_slice(&value.to_le_bytes());
    }

    /// A `bool` field: the value is the header's type nibble.
    #[inline(always)]
    pub(crate) fn bool(&mut self, id: i16, value: bool) {
        self.header(if value { BOOL_TRUE } else { BOOL_FALSE }, id);
    }

    /// A `binary` or `string` field. The length is written as the `thrift` crate writes it, a
    /// `u32`; nothing that long fits in a datagram anyway.
    #[inline(always)]
    pub(crate) fn binary(&mut self, id: i16, bytes: &[u8]) {
        self.header_then_varint(BINARY, id, u64::from(bytes.len() as u32));
        self.out.extend_from_slice(bytes);
    }

    /// An `i32` field then a `binary` one: when both headers are the one-byte form and the
    /// value and the length one-byte varints (a tag's type and a short string value), the four
    /// bytes go in as one copy (4 344 → 4 217 instructions a span, callgrind).
    #[inline(always)]
    pub(crate) fn i32_then_binary(&mut self, id: i16, value: i32, next: i16, bytes: &[u8]) {
        let delta = i32::from(id) - i32::from(self.last_id);
        let next_delta = i32::from(next) - i32::from(id);
        let zigzagged = zigzag(i64::from(value));
        if (1..=14).contains(&delta)
            && (1..=14).contains(&next_delta)
            && zigzagged < 0x80
            && bytes.len() < 0x80
        {
            self.out.extend_from_slice(&[
                ((delta as u8) << 4) | I32,
                zigzagged as u8,
                ((next_delta as u8) << 4) | BINARY,
                bytes.len() as u8,
            ]);
            self.out.extend_from_slice(bytes);
            self.last_id = next;
        } else {
            self.i32(id, value);
            self.binary(next, bytes);
        }
    }

    /// A `list<struct>` field's headers; the caller writes the `count` structs into the buffer
    /// returned, each with its own [`StructWriter`].
    #[inline(always)]
    pub(crate) fn struct_list(&mut self, id: i16, count: usize) -> &mut Vec<u8> {
        self.header(LIST, id);
        struct_list_header(self.out, count);
        &mut *self.out
    }

    /// The stop byte that ends the struct.
    #[inline(always)]
    pub(crate) fn end(self) {
        self.out.push(0);
    }
}

/// Appends the header of a `list<struct>` of `count` elements (without a field header): the
/// size in the high nibble up to 14, else `0xF` there and the size as a varint after.
#[inline]
pub(crate) fn struct_list_header(out: &mut Vec<u8>, count: usize) {
    if count <= 14 {
        out.push(((count as u8) << 4) | STRUCT);
    } else {
        varint(out, [0xF0 | STRUCT], u64::from(count as u32));
    }
}

/// Appends a `Tag` struct.
///
/// Inlined into each caller, so that the two common shapes — a string or a 64-bit integer under
/// a key shorter than 128 bytes, every tag of a server span — are written without a call; any
/// other goes through [`general_tag`]. As one `#[inline]` function the compiler kept a call
/// whose register saves and restores were 18 of its 90 instructions a tag
/// (`core/jaeger_thrift_encode_100_spans`, 13 tags a span, callgrind 2026-12-01).
#[inline(always)]
pub(crate) fn tag(out: &mut Vec<u8>, key: &str, value: TagRef<'_>) {
    match value {
        TagRef::Str(text) if key.len() < 0x80 && text.len() < 0x80 => {
            short_string_tag(out, key.as_bytes(), text.as_bytes())
        }
        TagRef::Long(number) if key.len() < 0x80 => short_long_tag(out, key.as_bytes(), number),
        _ => general_tag(out, key, value),
    }
}

/// Appends a `Tag` struct of any shape, field by field.
#[inline(never)]
fn general_tag(out: &mut Vec<u8>, key: &str, value: TagRef<'_>) {
    let mut s = StructWriter::new(out);
    s.binary(1, key.as_bytes());
    match value {
        TagRef::Str(v) => s.i32_then_binary(2, 0, 3, v.as_bytes()),
        TagRef::Double(v) => {
            s.i32(2, 1);
            s.double(4, v);
        }
        TagRef::Bool(v) => {
            s.i32(2, 2);
            s.bool(5, v);
        }
        TagRef::Long(v) => {
            s.i32(2, 3);
            s.i64(6, v);
        }
        TagRef::Binary(v) => {
            s.i32(2, 4);
            s.binary(7, v);
        }
    }
    s.end();
}

/// Appends a `Tag` struct with a `LONG` value, key under 128 bytes (status codes, ports,
/// sizes): `[0x18, key length] key [0x15, 0x06, 0x46]` (field 1 `binary`, field 2 `i32` 3,
/// field 6 `i64`), the value as a zigzag varint, `[0x00]` (stop); the fixed part written after
/// one capacity check, as [`short_string_tag`] does.
#[inline(always)]
fn short_long_tag(out: &mut Vec<u8>, key: &[u8], value: i64) {
    let k = key.len();
    let len = out.len();
    // Key and fixed bytes, then at most a 10-byte varint and the stop byte.
    out.reserve(k + 16);
    // SAFETY: `reserve` made room for `k + 16` bytes past `len`; the writes below fill exactly
    // the first `k + 5` of them (2 + k + 3), from a slice that cannot overlap the vector's
    // spare capacity, before the length takes them in.
    unsafe {
        let at = out.as_mut_ptr().add(len);
        at.write((1 << 4) | BINARY);
        at.add(1).write(k as u8);
        copy_short(key, at.add(2));
        let middle = [(1 << 4) | I32, 6, (4 << 4) | I64];
        std::ptr::copy_nonoverlapping(middle.as_ptr(), at.add(2 + k), 3);
        out.set_len(len + k + 5);
    }
    varint(out, [], zigzag(value));
    out.push(0);
}

/// Appends a `Tag` struct with a `STRING` value, key and value under 128 bytes (most tags): its
/// bytes are `[0x18, key length] key [0x15, 0x00, 0x18, value length] value [0x00]` (field 1
/// `binary`, field 2 `i32` 0, field 3 `binary`, stop), written after one capacity check where
/// the field writers checked five times (4 436 → 4 177 instructions a span of
/// `core/jaeger_thrift_encode_100_spans`, its 13 tags included, callgrind).
#[inline(always)]
fn short_string_tag(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let (k, v) = (key.len(), value.len());
    let n = k + v + 7;
    let len = out.len();
    out.reserve(n);
    // SAFETY: `reserve` made room for `n` bytes past `len`; the writes below fill exactly
    // those `n` bytes (2 + k + 4 + v + 1), from slices that cannot overlap the vector's spare
    // capacity, before the length takes them in.
    unsafe {
        let at = out.as_mut_ptr().add(len);
        at.write((1 << 4) | BINARY);
        at.add(1).write(k as u8);
        copy_short(key, at.add(2));
        let middle = [(1 << 4) | I32, 0, (1 << 4) | BINARY, v as u8];
        std::ptr::copy_nonoverlapping(middle.as_ptr(), at.add(2 + k), 4);
        copy_short(value, at.add(6 + k));
        at.add(n - 1).write(0);
        out.set_len(len + n);
    }
}

/// Copies `bytes` to `to` in at most two loads and two stores each side when it is 32 bytes or
/// shorter (a tag's key or value almost always is: `http.response.status_code` is 25), where
/// `copy_nonoverlapping` of a length not known at compile time calls `memcpy`, whose call and
/// size dispatch were 12 instructions a copy, 22 copies a span. Measured (2026-11-30):
/// `core/jaeger_thrift_encode_100_spans` 4 166 → 4 099 instructions a span (callgrind), and
/// faster in 9 of 13 alternating criterion pairs (30.4 → 28.9 µs in the quietest).
///
/// # Safety
///
/// `to` must be valid for writing `bytes.len()` bytes and not overlap `bytes`.
#[inline(always)]
unsafe fn copy_short(bytes: &[u8], to: *mut u8) {
    let (from, n) = (bytes.as_ptr(), bytes.len());
    // SAFETY (each branch): every load reads within `bytes` (offsets 0 and `n - width`, with
    // `n >= width`), every store writes within `to[..n]`, which the caller made valid; the two
    // stores of a branch overlap each other when `n < 2 * width`, writing the same bytes.
    unsafe {
        if n > 32 {
            std::ptr::copy_nonoverlapping(from, to, n);
        } else if n >= 16 {
            let head = from.cast::<[u8; 16]>().read_unaligned();
            let tail = from.add(n - 16).cast::<[u8; 16]>().read_unaligned();
            to.cast::<[u8; 16]>().write_unaligned(head);
            to.add(n - 16).cast::<[u8; 16]>().write_unaligned(tail);
        } else if n >= 8 {
            let head = from.cast::<u64>().read_unaligned();
            let tail = from.add(n - 8).cast::<u64>().read_unaligned();
            to.cast::<u64>().write_unaligned(head);
            to.add(n - 8).cast::<u64>().write_unaligned(tail);
        } else if n >= 4 {
            let head = from.cast::<u32>().read_unaligned();
            let tail = from.add(n - 4).cast::<u32>().read_unaligned();
            to.cast::<u32>().write_unaligned(head);
            to.add(n - 4).cast::<u32>().write_unaligned(tail);
        } else {
            for i in 0..n {
                to.add(i).write(from.add(i).read());
            }
        }
    }
}

/// Appends a `SpanRef` struct.
#[inline]
pub(crate) fn span_ref(out: &mut Vec<u8>, reference: &SpanRef) {
    let mut s = StructWriter::new(out);
    s.i32(
        1,
        match reference.ref_type {
            SpanRefType::ChildOf => 0,
            SpanRefType::FollowsFrom => 1,
        },
    );
    s.i64(2, reference.trace_id_low);
    s.i64(3, reference.trace_id_high);
    s.i64(4, reference.span_id);
    s.end();
}

/// Appends a `Log` struct whose `count` fields (`Tag` structs) `write_fields` appends.
#[inline]
pub(crate) fn log(
    out: &mut Vec<u8>,
    timestamp: i64,
    count: usize,
    write_fields: impl FnOnce(&mut Vec<u8>),
) {
    let mut s = StructWriter::new(out);
    s.i64(1, timestamp);
    write_fields(s.struct_list(2, count));
    s.end();
}

/// Appends a `Span` struct. References, tags and logs are each a count and a function that
/// appends that many structs; empty lists are left out (the IDL makes them optional), exactly
/// as the `thrift` crate path wrote them.
#[inline]
pub(crate) fn span(
    out: &mut Vec<u8>,
    head: SpanHead,
    operation_name: &str,
    references: (usize, impl FnOnce(&mut Vec<u8>)),
    tags: (usize, impl FnOnce(&mut Vec<u8>)),
    logs: (usize, impl FnOnce(&mut Vec<u8>)),
) {
    let mut s = StructWriter::new(out);
    s.i64(1, head.trace_id_low);
    s.i64(2, head.trace_id_high);
    s.i64(3, head.span_id);
    s.i64(4, head.parent_span_id);
    s.binary(5, operation_name.as_bytes());
    if references.0 > 0 {
        (references.1)(s.struct_list(6, references.0));
    }
    s.i32(7, head.flags);
    s.i64(8, head.start_time);
    s.i64(9, head.duration);
    if tags.0 > 0 {
        (tags.1)(s.struct_list(10, tags.0));
    }
    if logs.0 > 0 {
        (logs.1)(s.struct_list(11, logs.0));
    }
    s.end();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_string_tag_is_the_general_writers_bytes_at_every_length() {
        // Every key and value length the short form takes (and the copy's branches: 0–3, 4–7,
        // 8–15, 16–32, past 32), each byte distinct, written after some bytes already there.
        let text: Vec<u8> = (0..128).map(|i| b'!' + (i % 90) as u8).collect();
        for k in 0..128 {
            for v in (0..128).filter(|v| *v < 40 || v % 7 == 0 || *v == 127) {
                let (key, value) = (&text[..k], &text[128 - v..]);
                let mut short = vec![9, 9, 9];
                short_string_tag(&mut short, key, value);
                let mut general = vec![9, 9, 9];
                let mut s = StructWriter::new(&mut general);
                s.binary(1, key);
                s.i32_then_binary(2, 0, 3, value);
                s.end();
                assert_eq!(short, general, "key {k} bytes, value {v} bytes");
            }
        }
    }

    #[test]
    fn a_short_long_tag_is_the_general_writers_bytes_at_every_key_length_and_value_size() {
        // Every key length the short form takes (the copy's branches included), against values
        // of every varint length of either sign, written after some bytes already there.
        let text: Vec<u8> = (0..128).map(|i| b'!' + (i % 90) as u8).collect();
        let mut values = vec![0, 1, -1, 200, 404, i64::MAX, i64::MIN];
        for bits in 0..63 {
            values.extend([1i64 << bits, -(1i64 << bits), (1i64 << bits) - 1]);
        }
        for k in 0..128 {
            for &value in &values {
                let key = &text[..k];
                let mut short = vec![9, 9, 9];
                short_long_tag(&mut short, key, value);
                let mut general = vec![9, 9, 9];
                let mut s = StructWriter::new(&mut general);
                s.binary(1, key);
                s.i32(2, 3);
                s.i64(6, value);
                s.end();
                assert_eq!(short, general, "key {k} bytes, value {value}");
                // And the dispatch picks it: the same bytes through `tag`.
                let mut dispatched = vec![9, 9, 9];
                tag(
                    &mut dispatched,
                    std::str::from_utf8(key).expect("ASCII"),
                    TagRef::Long(value),
                );
                assert_eq!(dispatched, general, "key {k} bytes, value {value}, via tag");
            }
        }
    }

    #[test]
    fn varints_and_zigzag_follow_the_specification() {
        let encoded = |value: u64| {
            let mut out = Vec::new();
            varint(&mut out, [], value);
            out
        };
        // Every length, at both ends, after a header byte or not: as a plain loop writes it.
        for bits in 0..64 {
            for value in [1u64 << bits, (1u64 << bits) - 1, u64::MAX >> bits] {
                let mut expected = vec![0x16];
                let mut rest = value;
                while rest >= 0x80 {
                    expected.push(rest as u8 | 0x80);
                    rest >>= 7;
                }
                expected.push(rest as u8);
                let mut out = vec![1, 2, 3];
                varint(&mut out, [0x16], value);
                assert_eq!(out[3..], expected, "{value:#x}");
                assert_eq!(encoded(value), expected[1..], "{value:#x}");
            }
        }
        assert_eq!(encoded(0), [0]);
        assert_eq!(encoded(127), [0x7f]);
        assert_eq!(encoded(128), [0x80, 0x01]);
        assert_eq!(encoded(300), [0xac, 0x02]);
        assert_eq!(encoded(u64::MAX).len(), 10);
        assert_eq!(*encoded(u64::MAX).last().unwrap(), 0x01);
        assert_eq!(
            [0, -1, 1, -2, 2].map(zigzag),
            [0, 1, 2, 3, 4],
            "zigzag interleaves signs"
        );
        assert_eq!(zigzag(i64::MAX), u64::MAX - 1);
        assert_eq!(zigzag(i64::MIN), u64::MAX);
    }

    #[test]
    fn field_ids_more_than_14_apart_or_going_back_take_the_long_header() {
        let mut out = Vec::new();
        let mut s = StructWriter::new(&mut out);
        s.bool(15, true);
        s.bool(3, false);
        s.i32(4, -1);
        s.end();
        // Type 1 then id 15 zigzagged (30); type 2 then id 3 (6); delta 1, type 5, -1 → 1; stop.
        assert_eq!(out, [0x01, 30, 0x02, 6, 0x15, 0x01, 0x00]);
    }
}
