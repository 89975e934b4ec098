//! W3C Trace Context: `traceparent` and `tracestate`, parsed as the Recommendation (level 2)
//! says (the rules are on [`TraceContextPropagator`]).
//!
//! The SDK's `TraceContextPropagator` is not used: it accepts fields of the wrong length, a
//! version `00` header with trailing data and the first of two `traceparent` headers; it keeps
//! the first 32 members of a longer `tracestate`, empty values and duplicate keys, and forwards
//! them; and it reads only the first `tracestate` line.

use std::sync::OnceLock;

use opentelemetry::Context;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};

use super::hex::{self, Case};
use super::{MAX_ID_HEADER_LEN, MAX_TRACESTATE_LEN, MAX_TRACESTATE_MEMBERS, remote_ids};
use crate::HeaderSource;

const TRACEPARENT: &str = "traceparent";
pub(crate) const TRACESTATE: &str = "tracestate";
/// The length of a version `00` `traceparent`, and the shortest of any version.
const TRACEPARENT_LEN: usize = 55;
/// On truncation, members longer than this go first (W3C "tracestate limits").
const LONG_MEMBER: usize = 128;

/// The W3C Trace Context propagator (`tracecontext` in `OTEL_PROPAGATORS`).
///
/// `traceparent: {version}-{trace-id}-{parent-id}-{trace-flags}`, each field lower-case hex of
/// 2, 32, 16 and 2 characters; version `ff` and all-zero ids are invalid. Version `00` is
/// exactly those 55 characters. A higher version is read by its prefix: at least 55
/// characters, the four fields where version `00` has them, then either the end or a `-`
/// before data this version does not know (ignored); it is sent on as version `00`. Two
/// `traceparent` headers are invalid. An invalid `traceparent` is ignored: the request starts
/// a new trace. Of the flags only `sampled` is kept, the others being undefined here.
///
/// `tracestate` may arrive as several lines, which mean one list joined with commas in order.
/// Empty list members and the optional whitespace around members are ignored. The list is
/// discarded whole — never forwarded — when it has more than 32 members, a duplicate key, or a
/// member that is not `key=value` by the grammar:
///
/// ```text
/// key              = simple-key / multi-tenant-key
/// simple-key       = lcalpha 0*255( lcalpha / DIGIT / "_" / "-" / "*" / "/" )
/// multi-tenant-key = tenant-id "@" system-id
/// tenant-id        = ( lcalpha / DIGIT ) 0*240( lcalpha / DIGIT / "_" / "-" / "*" / "/" )
/// system-id        = lcalpha 0*13( lcalpha / DIGIT / "_" / "-" / "*" / "/" )
/// value            = 0*255( chr ) nblk-chr   ; printable ASCII but "," and "=",
///                                            ; the last not a space
/// ```
///
/// The state kept is at most 512 characters joined (the W3C asks that at least 512 be
/// propagated): above that, members longer than 128 characters are removed first (the last
/// first), then members from the end, until it fits. The same applies on injection, where a
/// member the grammar rejects (a value set by application code, say) is left out, and an empty
/// state writes no `tracestate` header at all.
///
/// One limit is the SDK's: its `TraceState` refuses a multi-tenant key whose system-id has the
/// full 14 characters the grammar allows. Such a member cannot be stored, so it alone is
/// dropped; the rest of the list is kept.
///
/// ```
/// use octopus_core::propagation::TraceContextPropagator;
/// use octopus_core::opentelemetry::propagation::TextMapPropagator;
/// use octopus_core::opentelemetry::trace::TraceContextExt;
/// use std::collections::HashMap;
///
/// let headers = HashMap::from([
///     ("traceparent".to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string()),
///     ("tracestate".to_string(), "rojo=00f067aa0ba902b7, ,congo=t61rcWkgMzE".to_string()),
/// ]);
/// let context = TraceContextPropagator::new().extract(&headers);
/// let span = context.span();
/// assert_eq!(span.span_context().trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert!(span.span_context().is_sampled());
/// assert_eq!(span.span_context().trace_state().header(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
///
/// // A field of the wrong length: the header is ignored.
/// let headers = HashMap::from([(
///     "traceparent".to_string(),
///     "00-4bf92f3577b34da6a3ce929d0e0e47360-00f067aa0ba902b7-01".to_string(),
/// )]);
/// assert!(!TraceContextPropagator::new().extract(&headers).has_active_span());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceContextPropagator;

impl TraceContextPropagator {
    /// The propagator.
    pub const fn new() -> Self {
        TraceContextPropagator
    }
}

/// A version-00 `traceparent` (or `traceresponse`, which has the same layout) value:
/// `00-{trace-id}-{span-id}-{flags}`, lower-case hex.
pub(crate) fn version_00_value(trace_id: TraceId, span_id: SpanId, flags: u8) -> String {
    format!("00-{trace_id}-{span_id}-{flags:02x}")
}

/// Parses one `traceparent` value; `None` for anything the W3C says to ignore.
pub(crate) fn parse_traceparent(value: &str) -> Option<SpanContext> {
    // Leading and trailing optional whitespace is not part of an HTTP field value; a source
    // that does not strip it (a list of pairs) must not make the header invalid.
    let bytes = trim_optional_whitespace(value.as_bytes());
    if bytes.len() < TRACEPARENT_LEN || [2, 35, 52].iter().any(|&at| bytes[at] != b'-') {
        return None;
    }
    // Each field is checked and read in one pass (see `hex`).
    let version = hex::parse_u64(&bytes[..2], Case::Lower)?;
    let trace_id = hex::parse_u128(&bytes[3..35], Case::Lower)?;
    let span_id = hex::parse_u64(&bytes[36..52], Case::Lower)?;
    let flags = hex::parse_u64(&bytes[53..55], Case::Lower)?;
    let rest_ok = match version {
        0xff => false,
        0x00 => bytes.len() == TRACEPARENT_LEN,
        // A later version may append fields; they must be set off by a dash.
        _ => bytes.get(TRACEPARENT_LEN).is_none_or(|&b| b == b'-'),
    };
    if !rest_ok {
        return None;
    }
    let sampled = flags & u64::from(TraceFlags::SAMPLED.to_u8()) != 0;
    remote_ids(trace_id, span_id, sampled)
}

/// `value` without leading and trailing spaces and tabs (RFC 9110's optional whitespace).
fn trim_optional_whitespace(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

/// The members of a `tracestate` sent as `lines` (one list, joined with commas), in order;
/// `None` when the list is invalid and must be discarded whole. Borrowed: nothing is
/// allocated for members that will not be kept.
pub(crate) fn parse_tracestate<'a>(lines: &[&'a str]) -> Option<Vec<(&'a str, &'a str)>> {
    let mut members: Vec<(&str, &str)> = Vec::new();
    for member in lines.iter().flat_map(|line| line.split(',')) {
        let member = member.trim_matches([' ', '\t']);
        if member.is_empty() {
            continue;
        }
        let (key, value) = member.split_once('=')?;
        if members.len() == MAX_TRACESTATE_MEMBERS
            || !is_valid_key(key)
            || !is_valid_value(value)
            || members.iter().any(|(seen, _)| *seen == key)
        {
            return None;
        }
        members.push((key, value));
    }
    Some(members)
}

/// Whether `key` is a `tracestate` key: a simple key or `tenant-id@system-id`.
pub(crate) fn is_valid_key(key: &str) -> bool {
    fn key_chars(part: &str) -> bool {
        part.bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/'))
    }
    let starts_with = |part: &str, digit_allowed: bool| {
        part.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || (digit_allowed && b.is_ascii_digit()))
    };
    match key.split_once('@') {
        None => key.len() <= 256 && starts_with(key, false) && key_chars(key),
        Some((tenant, system)) => {
            tenant.len() <= 241
                && starts_with(tenant, true)
                && key_chars(tenant)
                && system.len() <= 14
                && starts_with(system, false)
                && key_chars(system)
        }
    }
}

/// Whether `value` is a `tracestate` value: 1 to 256 printable ASCII characters other than
/// `,` and `=`, the last not a space.
pub(crate) fn is_valid_value(value: &str) -> bool {
    (1..=256).contains(&value.len())
        && value
            .bytes()
            .all(|b| matches!(b, b' '..=b'~') && b != b',' && b != b'=')
        && !value.ends_with(' ')
}

/// The length of `members` joined as a header: `key=value` each, commas between.
fn joined_len(members: &[(&str, &str)]) -> usize {
    let sizes: usize = members.iter().map(|m| member_len(*m)).sum();
    sizes + members.len().saturating_sub(1)
}

fn member_len((key, value): (&str, &str)) -> usize {
    key.len() + 1 + value.len()
}

/// Removes whole members until the joined list is at most [`MAX_TRACESTATE_LEN`] characters:
/// members longer than 128 characters first, the last of them first, then members from the
/// end — the W3C's truncation order.
pub(crate) fn truncate(members: &mut Vec<(&str, &str)>) {
    while joined_len(members) > MAX_TRACESTATE_LEN {
        let at = members
            .iter()
            .rposition(|m| member_len(*m) > LONG_MEMBER)
            .unwrap_or(members.len() - 1);
        members.remove(at);
    }
}

/// The SDK's `TraceState` of valid, truncated members. A member the SDK refuses (see the module
/// documentation) is left out alone.
fn trace_state(members: &[(&str, &str)]) -> TraceState {
    TraceState::from_key_value(members.iter().copied()).unwrap_or_else(|_| {
        let storable = members
            .iter()
            .copied()
            .filter(|member| TraceState::from_key_value([*member]).is_ok());
        TraceState::from_key_value(storable).unwrap_or_default()
    })
}

/// The single `traceparent` of `extractor`; `None` when absent or repeated.
fn single_traceparent(extractor: &dyn Extractor) -> Option<&str> {
    match extractor.get_all(TRACEPARENT)?.as_slice() {
        [value] => Some(value),
        _ => None,
    }
}

/// The remote parent [`TraceContextPropagator`] extracts, read straight from `headers`: the
/// header codec's path. Through the `Extractor` interface each header's lines come as a `Vec`,
/// two allocations per request with a `traceparent` (callgrind, `core/tracing_unsampled`);
/// here nothing is allocated unless a `tracestate` is present. `None` when there is no usable
/// `traceparent`. `tracestate` says whether a `tracestate` header may be present (its lookup is
/// skipped otherwise).
pub(crate) fn parent_from_headers<H: HeaderSource + ?Sized>(
    headers: &H,
    tracestate: bool,
) -> Option<SpanContext> {
    // `None` once the header is unusable: repeated, not text, or longer than an id header.
    let mut traceparent: Option<Option<&str>> = None;
    headers.header_values(TRACEPARENT, &mut |value| {
        traceparent = match (traceparent, value) {
            (None, Some(value)) if value.len() <= MAX_ID_HEADER_LEN => Some(Some(value)),
            _ => Some(None),
        };
    });
    let remote = traceparent.flatten().and_then(parse_traceparent)?;
    if !tracestate {
        // Already the remote parent with an empty state (`remote_ids`).
        return Some(remote);
    }
    let mut lines = Vec::new();
    let mut all_text = true;
    headers.header_values(TRACESTATE, &mut |value| match value {
        Some(value) => lines.push(value),
        None => all_text = false,
    });
    let lines = (all_text && !lines.is_empty()).then_some(&lines[..]);
    Some(remote_parent(remote, lines))
}

/// The remote parent `remote` with the `tracestate` sent as `lines` (ignored when invalid: it
/// never affects the parent).
fn remote_parent(remote: SpanContext, lines: Option<&[&str]>) -> SpanContext {
    let state = lines
        .and_then(|lines| {
            let mut members = parse_tracestate(lines)?;
            truncate(&mut members);
            Some(trace_state(&members))
        })
        .unwrap_or_default();
    SpanContext::new(
        remote.trace_id(),
        remote.span_id(),
        remote.trace_flags(),
        true,
        state,
    )
}

impl TextMapPropagator for TraceContextPropagator {
    fn inject_context(&self, context: &Context, injector: &mut dyn Injector) {
        let span = context.span();
        let span_context = span.span_context();
        if !span_context.is_valid() {
            return;
        }
        let flags = span_context.trace_flags() & TraceFlags::SAMPLED;
        injector.set(
            TRACEPARENT,
            version_00_value(
                span_context.trace_id(),
                span_context.span_id(),
                flags.to_u8(),
            ),
        );
        let mut members: Vec<(&str, &str)> = span_context
            .trace_state()
            .into_iter()
            .filter(|(key, value)| is_valid_key(key) && is_valid_value(value))
            .collect();
        truncate(&mut members);
        if members.is_empty() {
            // The W3C asks senders to avoid an empty `tracestate`.
            return;
        }
        let mut header = String::with_capacity(joined_len(&members));
        for (i, (key, value)) in members.iter().enumerate() {
            if i > 0 {
                header.push(',');
            }
            header.push_str(key);
            header.push('=');
            header.push_str(value);
        }
        injector.set(TRACESTATE, header);
    }

    fn extract_with_context(&self, context: &Context, extractor: &dyn Extractor) -> Context {
        let Some(remote) = single_traceparent(extractor).and_then(parse_traceparent) else {
            return context.clone();
        };
        context.with_remote_span_context(remote_parent(
            remote,
            extractor.get_all(TRACESTATE).as_deref(),
        ))
    }

    fn fields(&self) -> FieldIter<'_> {
        static FIELDS: OnceLock<[String; 2]> = OnceLock::new();
        FieldIter::new(FIELDS.get_or_init(|| [TRACEPARENT.to_owned(), TRACESTATE.to_owned()]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn parsed(value: &str) -> Option<(String, String, bool)> {
        parse_traceparent(value).map(|sc| {
            (
                sc.trace_id().to_string(),
                sc.span_id().to_string(),
                sc.is_sampled(),
            )
        })
    }

    fn expected(sampled: bool) -> Option<(String, String, bool)> {
        Some((
            "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            "00f067aa0ba902b7".into(),
            sampled,
        ))
    }

    #[test]
    fn traceparent_version_00_is_exactly_2_32_16_2_lower_hex() {
        assert_eq!(parsed(VALID), expected(true));
        assert_eq!(
            parsed("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"),
            expected(false)
        );
        // Undefined flags are ignored; only `sampled` counts.
        assert_eq!(
            parsed("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-fe"),
            expected(false)
        );
        assert_eq!(
            parsed("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09"),
            expected(true)
        );
        for bad in [
            // wrong lengths
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "000-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47360-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b70-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-010",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            // upper case
            "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
            // not hex
            ".0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47.6-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902.7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // all-zero ids
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            // version ff
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // version 00 with anything after the flags
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-will-be-like",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.",
            // wrong delimiters
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
            "",
            "é0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parsed(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn traceparent_optional_whitespace_around_the_value_is_ignored() {
        for padded in [
            " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\t",
            " \t00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 \t",
        ] {
            assert_eq!(parsed(padded), expected(true), "{padded:?}");
        }
    }

    #[test]
    fn traceparent_higher_versions_are_read_by_their_prefix() {
        for (value, sampled) in [
            (
                "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                true,
            ),
            (
                "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-will-be-like",
                true,
            ),
            (
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-",
                false,
            ),
            (
                "fe-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-XYZ",
                true,
            ),
        ] {
            assert_eq!(parsed(value), expected(sampled), "{value:?}");
        }
        for bad in [
            // Not followed by a dash.
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.what-the-future-will-be-like",
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-010",
            // Shorter than 55 characters.
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            // The fields still have to be right.
            "cc-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01-x",
            "cc-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "cc-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "cC-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parsed(bad), None, "{bad:?}");
        }
    }

    fn members<'a>(lines: &[&'a str]) -> Option<Vec<(&'a str, &'a str)>> {
        parse_tracestate(lines)
    }

    #[test]
    fn tracestate_lines_are_one_list_in_order() {
        assert_eq!(
            members(&["foo=1,bar=2", "rojo=1,congo=2", "baz=3"]),
            Some(vec![
                ("foo", "1"),
                ("bar", "2"),
                ("rojo", "1"),
                ("congo", "2"),
                ("baz", "3")
            ])
        );
        assert_eq!(members(&["foo=1", ""]), Some(vec![("foo", "1")]));
        assert_eq!(members(&["", "foo=1"]), Some(vec![("foo", "1")]));
        assert_eq!(members(&[""]), Some(vec![]));
    }

    #[test]
    fn tracestate_empty_members_and_optional_whitespace_are_tolerated() {
        assert_eq!(
            members(&["foo=1 \t , \t bar=2,, \t ,baz=3\t"]),
            Some(vec![("foo", "1"), ("bar", "2"), ("baz", "3")])
        );
        // Leading spaces belong to the value; trailing ones are whitespace.
        assert_eq!(members(&["foo=  bar  "]), Some(vec![("foo", "  bar")]));
        assert_eq!(members(&[" , ,\t"]), Some(vec![]));
    }

    #[test]
    fn tracestate_invalid_members_discard_the_whole_list() {
        for lines in [
            &["foo="][..],
            &["foo=,bar=3"],
            &["foo= "],
            &["foo=bar=baz"],
            &["foo"],
            &["=1"],
            &["foo =1"],
            &["FOO=1"],
            &["foo.bar=1"],
            &["1foo=1"],
            &["foo=1,foo=1"],
            &["foo=1,foo=2"],
            &["foo=1", "foo=2"],
            &["foo=a\tb"],
            &["foo=caf\u{e9}"],
            &["foo=\u{7f}"],
            &["foo@=1,bar=2"],
            &["@foo=1,bar=2"],
            &["foo@@bar=1,bar=2"],
            &["foo@bar@baz=1,bar=2"],
            &["t@1vendor=1"],
            &["_t@vendor=1"],
        ] {
            assert_eq!(members(lines), None, "{lines:?}");
        }
    }

    #[test]
    fn tracestate_key_and_value_lengths_follow_the_grammar() {
        let all_key_chars = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
        let multi = "abcdefghijklmnopqrstuvwxyz0123456789_-*/@a-z0-9_-*/";
        let all_value_chars: String = (0x20u8..=0x7e)
            .filter(|b| !matches!(b, b',' | b'='))
            .map(char::from)
            .collect();
        for key in [all_key_chars, multi, "0tenant@vendor"] {
            assert!(is_valid_key(key), "{key}");
        }
        assert!(is_valid_value(&all_value_chars));
        assert!(is_valid_key(&"z".repeat(256)));
        assert!(!is_valid_key(&"z".repeat(257)));
        assert!(is_valid_key(&format!(
            "{}@{}",
            "t".repeat(241),
            "v".repeat(14)
        )));
        assert!(!is_valid_key(&format!("{}@v", "t".repeat(242))));
        assert!(!is_valid_key(&format!("t@{}", "v".repeat(15))));
        assert!(is_valid_value(&"v".repeat(256)));
        assert!(!is_valid_value(&"v".repeat(257)));
        assert!(!is_valid_value(""));
        assert!(!is_valid_value("v "));
        assert!(is_valid_value(" v"));
    }

    #[test]
    fn tracestate_keeps_at_most_32_members() {
        let list = |n: usize| {
            (1..=n)
                .map(|i| format!("bar{i:02}=1"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let (thirty_two, thirty_three) = (list(32), list(33));
        assert_eq!(members(&[&thirty_two]).map(|m| m.len()), Some(32));
        assert_eq!(members(&[&thirty_two, ",, ,"]).map(|m| m.len()), Some(32));
        assert_eq!(members(&[&thirty_three]), None);
        let (first, second) = thirty_three.split_at(thirty_three.len() / 2);
        assert_eq!(members(&[first, &second[1..]]), None);
    }

    #[test]
    fn truncation_removes_long_members_first_then_from_the_end() {
        let long = "l".repeat(200); // a 202-character member
        let mid = "m".repeat(98); // a 100-character member
        // 5 × 100 + 4 commas = 504: everything fits.
        let mut fits: Vec<(&str, &str)> = ["a", "b", "c", "d", "e"].map(|k| (k, &*mid)).to_vec();
        truncate(&mut fits);
        assert_eq!(fits.len(), 5);

        // 202 + 3 × 100 + 202 + 4 commas = 708: the last long member goes, then 504 fits.
        let mut members = vec![
            ("a", &*long),
            ("b", &*mid),
            ("c", &*mid),
            ("d", &*mid),
            ("e", &*long),
        ];
        truncate(&mut members);
        let keys: Vec<&str> = members.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["a", "b", "c", "d"]);
        assert_eq!(joined_len(&members), 202 + 300 + 3);

        // No long member left to remove: members go from the end.
        let mut short: Vec<(&str, &str)> =
            ["a", "b", "c", "d", "e", "f"].map(|k| (k, &*mid)).to_vec();
        truncate(&mut short);
        let keys: Vec<&str> = short.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["a", "b", "c", "d", "e"]);

        // Long members before any short one, wherever they are.
        let mut mixed = vec![("a", &*long), ("b", &*long), ("c", &*long), ("d", &*mid)];
        truncate(&mut mixed);
        let keys: Vec<&str> = mixed.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["a", "b", "d"]);
    }

    #[test]
    fn a_key_the_sdk_cannot_store_is_dropped_alone() {
        let key = format!("t@{}", "v".repeat(14));
        let members = [("foo", "1"), (key.as_str(), "2"), ("bar", "3")];
        assert_eq!(trace_state(&members).header(), "foo=1,bar=3");
    }
}
