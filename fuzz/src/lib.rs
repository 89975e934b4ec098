//! Shared harness of the Octopus fuzz targets: turning fuzz input into header sets and
//! environments, and the invariants every propagation target checks.
//!
//! # Input formats
//!
//! The inputs are text, so the seed corpora can be written (and read) by hand:
//!
//! - header targets: one header per line, `name: value` (split at the first `:`; one space
//!   after it is dropped, as HTTP's optional whitespace). A line without `:` is a value of the
//!   target's main header (`traceparent`, `baggage`, `uber-trace-id`, `b3`, `x-b3-traceid`).
//!   Names may repeat and use any case; bytes that are not UTF-8 become U+FFFD.
//! - `config_env`: one variable per line, `NAME=value`; a name that is not one of
//!   `octopus_core::config::ENV_VARS` selects one of them by its bytes, so every line sets
//!   some variable.

use octopus_core::opentelemetry::Context;
use octopus_core::opentelemetry::baggage::BaggageExt;
use octopus_core::opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceId};
use octopus_core::{
    ConfigError, HeaderCodec, HeaderSource, Octopus, OctopusConfig, TracesExporter,
};

/// The W3C baggage limits the SDK enforces, for every format (see `octopus_core::propagation`).
pub const MAX_BAGGAGE_ENTRIES: usize = 64;
/// Bytes of all keys, values and metadata together.
pub const MAX_BAGGAGE_BYTES: usize = 8_192;

/// The headers encoded in `data` (see the module documentation).
pub fn header_lines(data: &[u8], main_header: &str) -> Vec<(String, String)> {
    String::from_utf8_lossy(data)
        .split('\n')
        .map(|line| match line.split_once(':') {
            Some((name, value)) => (
                name.to_owned(),
                value.strip_prefix(' ').unwrap_or(value).to_owned(),
            ),
            None => (main_header.to_owned(), line.to_owned()),
        })
        .collect()
}

/// A codec for an `OTEL_PROPAGATORS` list.
pub fn codec(list: &str) -> HeaderCodec {
    HeaderCodec::new(&octopus_core::PropagatorKind::parse_list(list).expect("a valid list"))
}

/// What a round trip must preserve of a span context.
fn span_fields(sc: &SpanContext) -> (TraceId, SpanId, bool, bool, String) {
    (
        sc.trace_id(),
        sc.span_id(),
        sc.is_sampled(),
        sc.is_remote(),
        sc.trace_state().header(),
    )
}

/// The baggage as sorted `(key, value, metadata)` triples.
pub fn baggage_entries(context: &Context) -> Vec<(String, String, String)> {
    let mut entries: Vec<_> = context
        .baggage()
        .iter()
        .map(|(k, (v, m))| {
            (
                k.as_str().to_owned(),
                v.as_str().to_string(),
                m.as_str().to_owned(),
            )
        })
        .collect();
    entries.sort();
    entries
}

/// Baggage never exceeds the documented caps (64 entries, 8 192 bytes), whatever the format.
pub fn assert_baggage_capped(context: &Context) {
    let baggage = context.baggage();
    assert!(
        baggage.len() <= MAX_BAGGAGE_ENTRIES,
        "{} baggage entries",
        baggage.len()
    );
    let bytes: usize = baggage
        .iter()
        .map(|(k, (v, m))| k.as_str().len() + v.as_str().len() + m.as_str().len())
        .sum();
    assert!(bytes <= MAX_BAGGAGE_BYTES, "{bytes} bytes of baggage");
}

/// What each propagation target checks beyond "no panic".
#[derive(Clone, Copy, Debug, Default)]
pub struct Checks {
    /// Baggage (of this codec's formats) survives inject → extract exactly. True for Jaeger's
    /// `uberctx-*` headers; not for W3C `baggage`, which the SDK trims on extraction.
    pub baggage_round_trips: bool,
    /// Skip the trace state in the round trip (for a codec whose formats cannot carry it
    /// through; none of the targets needs it since the codec keeps it across formats).
    pub ignore_trace_state: bool,
}

/// Extracts `headers` with `codec` and checks the invariants:
///
/// 1. an extracted span context is remote with non-zero trace and span ids; a context without
///    one has no active span;
/// 2. a valid context survives inject → extract (same trace id, span id, sampled flag, remote,
///    trace state), through both sinks the adapters use (`Vec<(String, String)>`, the traced
///    client's, and `http::HeaderMap`, axum/warp/hyper's);
/// 3. baggage stays within 64 entries and 8 192 bytes, and after a round trip too;
/// 4. the same headers in an `http::HeaderMap` (those a `HeaderMap` can hold as visible
///    ASCII) give the same span context as in a slice of pairs.
pub fn check_headers(codec: &HeaderCodec, headers: &[(String, String)], checks: Checks) {
    let context = codec.extract(headers);
    let span = context.span();
    let sc = span.span_context();

    // 1.
    if context.has_active_span() {
        assert!(
            sc.is_valid(),
            "an extracted span context is invalid: {sc:?}"
        );
        assert!(
            sc.is_remote(),
            "an extracted span context is not remote: {sc:?}"
        );
        assert_ne!(sc.trace_id(), TraceId::INVALID);
        assert_ne!(sc.span_id(), SpanId::INVALID);
    } else {
        assert!(
            !sc.is_valid(),
            "a valid span context without an active span: {sc:?}"
        );
    }

    // 3.
    assert_baggage_capped(&context);

    // 2.
    let mut pairs: Vec<(String, String)> = Vec::new();
    codec.inject(&context, &mut pairs);
    let again = codec.extract(&pairs[..]);
    let mut map = http::HeaderMap::new();
    codec.inject(&context, &mut map);
    let again_map = codec.extract(&map);
    assert_baggage_capped(&again);
    assert_baggage_capped(&again_map);
    if sc.is_valid() {
        let mut expected = span_fields(sc);
        let mut got = span_fields(again.span().span_context());
        if checks.ignore_trace_state {
            (expected.4, got.4) = (String::new(), String::new());
        }
        assert_eq!(
            got, expected,
            "round trip through pairs changed the span context; injected {pairs:?}"
        );
        // The SDK's `TraceState` accepts values outside the W3C's printable ASCII (non-ASCII
        // UTF-8 from a source that allows it, such as pairs); a `HeaderMap` sink keeps such a
        // value as obs-text, which `HeaderSource for HeaderMap` (`to_str`) then reports as
        // absent, as it does for any inbound non-ASCII value. Only a visible-ASCII trace state
        // is expected back from a `HeaderMap`.
        let mut expected = span_fields(sc);
        let mut got = span_fields(again_map.span().span_context());
        if !is_visible_ascii(&expected.4) {
            expected.4 = String::new();
        }
        if checks.ignore_trace_state {
            (expected.4, got.4) = (String::new(), String::new());
        }
        assert_eq!(
            got, expected,
            "round trip through HeaderMap changed the span context; injected {pairs:?}"
        );
    }
    if checks.baggage_round_trips {
        let entries = baggage_entries(&context);
        assert_eq!(
            baggage_entries(&again),
            entries,
            "baggage round trip; injected {pairs:?}"
        );
        assert_eq!(
            baggage_entries(&again_map),
            entries,
            "baggage round trip via HeaderMap"
        );
    }

    // 4.
    let mut kept: Vec<(String, String)> = Vec::new();
    let mut map = http::HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        ) && v.to_str().is_ok()
        {
            map.append(n, v);
            kept.push((name.clone(), value.clone()));
        }
    }
    let from_pairs = codec.extract(&kept[..]);
    let from_map = codec.extract(&map);
    assert_eq!(
        span_fields(from_map.span().span_context()),
        span_fields(from_pairs.span().span_context()),
        "HeaderMap and pairs disagree on {kept:?}"
    );
    assert_eq!(from_map.has_active_span(), from_pairs.has_active_span());
    assert_baggage_capped(&from_map);
    // The same headers read through the `HeaderSource` trait directly agree too.
    for (name, _) in &kept {
        let lower = name.to_ascii_lowercase();
        assert_eq!(
            HeaderSource::header(&map, &lower),
            HeaderSource::header(&kept[..], &lower),
            "{lower}"
        );
    }
}

/// Whether `http::HeaderValue::to_str` reads `value` back (visible ASCII, space and tab).
fn is_visible_ascii(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// The environment variables `apply_env` may read.
pub use octopus_core::config::ENV_VARS;

/// The environment encoded in `data` (see the module documentation); later lines win.
pub fn env_lines(data: &[u8]) -> Vec<(&'static str, String)> {
    let text = String::from_utf8_lossy(data);
    let mut vars: Vec<(&'static str, String)> = Vec::new();
    for line in text.split('\n') {
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let var = ENV_VARS
            .iter()
            .copied()
            .find(|v| *v == name)
            .unwrap_or_else(|| {
                let index = name.bytes().map(usize::from).sum::<usize>() % ENV_VARS.len();
                ENV_VARS[index]
            });
        vars.retain(|(v, _)| *v != var);
        vars.push((var, value.to_owned()));
    }
    vars
}

/// A config error's message: never empty.
pub fn assert_error_message(error: &ConfigError) -> String {
    let message = error.to_string();
    assert!(
        !message.trim().is_empty(),
        "an empty error message: {error:?}"
    );
    message
}

/// Validates a parsed config and builds `Octopus` from it, with the traces exporter forced to
/// `none` (no network, no exporter thread). A config `validate` accepts must build.
pub fn check_config(config: &OctopusConfig) {
    let mut config = config.clone();
    config.traces_exporter = TracesExporter::None;
    match config.validate() {
        Ok(()) => {
            let octopus = Octopus::new(config.clone()).unwrap_or_else(|e| {
                panic!("validate accepted a config Octopus::new rejects: {e}; {config:?}")
            });
            let _ = octopus.scrape(&octopus_core::NoHeaders);
            let _ = octopus.shutdown();
        }
        Err(error) => {
            assert_error_message(&error);
            assert!(
                Octopus::new(config.clone()).is_err(),
                "validate rejected a config Octopus::new accepts: {config:?}"
            );
        }
    }
}

/// `config` as it serialises: secrets (the metrics token, the OTLP headers) are never written,
/// so a config read back from its own serialisation lacks them.
pub fn without_secrets(config: &OctopusConfig) -> OctopusConfig {
    OctopusConfig {
        metrics_bearer_token: None,
        otlp_headers: Default::default(),
        ..config.clone()
    }
}

/// Whether two configs are equal, NaN equal to NaN (serde round trips compare this way).
pub fn same_config(a: &OctopusConfig, b: &OctopusConfig) -> bool {
    // Every NaN is one value here: its payload and sign need not survive a text format.
    let key = |f: f64| if f.is_nan() { u64::MAX } else { f.to_bits() };
    let bits = |c: &OctopusConfig| -> (Vec<u64>, Vec<u64>, Option<u64>) {
        (
            c.latency_buckets.iter().copied().map(key).collect(),
            c.body_size_buckets.iter().copied().map(key).collect(),
            c.sampler_arg.map(key),
        )
    };
    let strip = |c: &OctopusConfig| OctopusConfig {
        latency_buckets: Vec::new(),
        body_size_buckets: Vec::new(),
        sampler_arg: None,
        ..c.clone()
    };
    bits(a) == bits(b) && strip(a) == strip(b)
}
