//! The header codec: the published examples of each format as vectors, malformed input, and a
//! property test feeding every extractor 100 000 arbitrary values.

use octopus_core::opentelemetry::Context;
use octopus_core::opentelemetry::baggage::BaggageExt;
use octopus_core::opentelemetry::trace::{SpanContext, TraceContextExt};
use octopus_core::{HeaderCodec, Octopus, PropagatorKind};
use proptest::prelude::*;

fn codec(list: &str) -> HeaderCodec {
    HeaderCodec::new(&PropagatorKind::parse_list(list).unwrap())
}

fn remote(codec: &HeaderCodec, headers: &[(&str, &str)]) -> SpanContext {
    codec.extract(headers).span().span_context().clone()
}

/// (trace id, span id, sampled) of a valid remote context; `None` otherwise.
fn ids(sc: &SpanContext) -> Option<(String, String, bool)> {
    (sc.is_valid() && sc.is_remote()).then(|| {
        (
            sc.trace_id().to_string(),
            sc.span_id().to_string(),
            sc.is_sampled(),
        )
    })
}

fn injected(codec: &HeaderCodec, context: &Context) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    codec.inject(context, &mut headers);
    headers
}

#[test]
fn w3c_trace_context_vectors() {
    let c = codec("tracecontext");
    let sc = remote(
        &c,
        &[(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )],
    );
    assert_eq!(
        ids(&sc),
        Some((
            "0af7651916cd43dd8448eb211c80319c".into(),
            "b7ad6b7169203331".into(),
            true
        ))
    );
    let sc = remote(
        &c,
        &[
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            ),
            ("tracestate", "congo=t61rcWkgMzE"),
        ],
    );
    assert!(!sc.is_sampled());
    assert_eq!(sc.trace_state().get("congo"), Some("t61rcWkgMzE"));
    let out = injected(&c, &Context::new().with_remote_span_context(sc));
    assert!(out.contains(&(
        "traceparent".into(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00".into()
    )));
}

#[test]
fn jaeger_vectors_including_short_ids_url_encoding_and_debug() {
    let c = codec("jaeger");
    for (value, trace, span, sampled) in [
        (
            "4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:1",
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "00f067aa0ba902b7",
            true,
        ),
        // 64-bit trace id, leading zeros dropped, as Jaeger clients write them.
        (
            "a3ce929d0e0e4736:f067aa0ba902b7:0:1",
            "0000000000000000a3ce929d0e0e4736",
            "00f067aa0ba902b7",
            true,
        ),
        (
            "1:2:0:0",
            "00000000000000000000000000000001",
            "0000000000000002",
            false,
        ),
        // Debug (2) implies sampled; a parent span id other than 0 is accepted and ignored.
        (
            "abc:def:123:2",
            "00000000000000000000000000000abc",
            "0000000000000def",
            true,
        ),
        (
            "abc%3Adef%3A0%3A1",
            "00000000000000000000000000000abc",
            "0000000000000def",
            true,
        ),
        (
            "abc%3adef%3a0%3a3",
            "00000000000000000000000000000abc",
            "0000000000000def",
            true,
        ),
    ] {
        let sc = remote(&c, &[("uber-trace-id", value)]);
        assert_eq!(
            ids(&sc),
            Some((trace.into(), span.into(), sampled)),
            "{value}"
        );
    }
    let sc = remote(
        &c,
        &[("uber-trace-id", "a3ce929d0e0e4736:f067aa0ba902b7:0:1")],
    );
    let out = injected(&c, &Context::new().with_remote_span_context(sc));
    assert_eq!(
        out,
        [(
            "uber-trace-id".to_string(),
            "0000000000000000a3ce929d0e0e4736:00f067aa0ba902b7:0:1".to_string()
        )]
    );
}

#[test]
fn jaeger_baggage_headers_round_trip() {
    let c = codec("jaeger");
    let context = c.extract(
        &[
            ("uber-trace-id", "1:2:0:1"),
            ("uberctx-tenant", "acme%20corp"),
            ("UberCtx-Plan", "gold"),
        ][..],
    );
    let baggage = context.baggage();
    assert_eq!(
        baggage.get("tenant").map(|v| v.as_str().to_string()),
        Some("acme corp".into())
    );
    assert_eq!(
        baggage.get("plan").map(|v| v.as_str().to_string()),
        Some("gold".into())
    );
    let mut out = injected(&c, &context);
    out.sort();
    assert_eq!(
        out,
        [
            (
                "uber-trace-id".to_string(),
                "00000000000000000000000000000001:0000000000000002:0:1".to_string()
            ),
            ("uberctx-plan".to_string(), "gold".to_string()),
            ("uberctx-tenant".to_string(), "acme%20corp".to_string()),
        ]
    );
}

#[test]
fn b3_single_and_multi_vectors() {
    let single = codec("b3");
    for (value, expected) in [
        (
            "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90",
            Some(("80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1", true)),
        ),
        (
            "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-0",
            Some((
                "80f198ee56343ba864fe8b2a57d3eff7",
                "e457b5a2e4d86bd1",
                false,
            )),
        ),
        (
            "64fe8b2a57d3eff7-e457b5a2e4d86bd1-d",
            Some(("000000000000000064fe8b2a57d3eff7", "e457b5a2e4d86bd1", true)),
        ),
        // Deferred sampling: taken as sampled (documented choice).
        (
            "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1",
            Some(("80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1", true)),
        ),
        // A sampling decision alone carries no parent.
        ("0", None),
        ("1", None),
        ("d", None),
        ("80F198EE56343BA864FE8B2A57D3EFF7-e457b5a2e4d86bd1-1", None),
        ("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-2", None),
        (
            "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90-x",
            None,
        ),
    ] {
        let sc = remote(&single, &[("b3", value)]);
        assert_eq!(
            ids(&sc),
            expected.map(|(t, s, f)| (t.to_string(), s.to_string(), f)),
            "{value}"
        );
    }
    let sc = remote(
        &single,
        &[("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1")],
    );
    let context = Context::new().with_remote_span_context(sc);
    assert_eq!(
        injected(&single, &context),
        [(
            "b3".to_string(),
            "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1".to_string()
        )]
    );

    let multi = codec("b3multi");
    let headers = [
        ("X-B3-TraceId", "80f198ee56343ba864fe8b2a57d3eff7"),
        ("X-B3-SpanId", "e457b5a2e4d86bd1"),
        ("X-B3-ParentSpanId", "05e3ac9a4f6e3b90"),
        ("X-B3-Sampled", "1"),
    ];
    assert_eq!(
        ids(&remote(&multi, &headers)),
        Some((
            "80f198ee56343ba864fe8b2a57d3eff7".into(),
            "e457b5a2e4d86bd1".into(),
            true
        ))
    );
    for (sampled, flags, expected) in [
        ("true", None, true),
        ("false", None, false),
        ("0", Some("1"), true),
    ] {
        let mut h = vec![
            ("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"),
            ("x-b3-spanid", "e457b5a2e4d86bd1"),
            ("x-b3-sampled", sampled),
        ];
        h.extend(flags.map(|f| ("x-b3-flags", f)));
        assert_eq!(
            remote(&multi, &h).is_sampled(),
            expected,
            "{sampled} {flags:?}"
        );
    }
    let mut out = injected(&multi, &context);
    out.sort();
    assert_eq!(
        out,
        [
            ("x-b3-sampled".to_string(), "1".to_string()),
            ("x-b3-spanid".to_string(), "e457b5a2e4d86bd1".to_string()),
            (
                "x-b3-traceid".to_string(),
                "80f198ee56343ba864fe8b2a57d3eff7".to_string()
            ),
        ]
    );
    // The single header wins over multi headers.
    let both = [
        ("b3", "0000000000000001-0000000000000002-1"),
        headers[0],
        headers[1],
    ];
    assert_eq!(
        remote(&multi, &both).span_id().to_string(),
        "0000000000000002"
    );
}

#[test]
fn malformed_values_are_ignored() {
    let all = codec("tracecontext,baggage,jaeger,b3,b3multi");
    let long = "a".repeat(300);
    let bad_jaeger = [
        "",
        "0:1:0:1",
        "1:0:0:1",
        "1:2:0",
        "1:2:0:1:5",
        "g:2:0:1",
        "+1:2:0:1",
        "123456789012345678901234567890123:2:0:1",
        "1:12345678901234567:0:1",
        "1:2:0:100",
        "1%3G2%3A0%3A1",
        long.as_str(),
    ];
    for value in bad_jaeger {
        assert_eq!(
            ids(&remote(&all, &[("uber-trace-id", value)])),
            None,
            "{value:?}"
        );
    }
    for value in [
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        long.as_str(),
    ] {
        assert_eq!(
            ids(&remote(&all, &[("traceparent", value)])),
            None,
            "{value:?}"
        );
    }
    // Incomplete multi headers.
    assert_eq!(
        ids(&remote(
            &all,
            &[("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7")]
        )),
        None
    );
    assert_eq!(
        ids(&remote(
            &all,
            &[
                ("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"),
                ("x-b3-spanid", "e457b5a2e4d86bd1"),
                ("x-b3-sampled", "yes"),
            ]
        )),
        None
    );
}

#[test]
fn oversized_trace_headers_read_as_absent() {
    let codec = codec("tracecontext,baggage,jaeger,b3");
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let expected = Some((
        "4bf92f3577b34da6a3ce929d0e0e4736".to_string(),
        "00f067aa0ba902b7".to_string(),
        true,
    ));
    // tracestate: over 32 members, or a value over 256 characters, and it is dropped (the
    // parent stays); a long valid list is truncated instead (see
    // `a_long_tracestate_is_truncated_by_whole_members_as_the_w3c_says`).
    let members = |n: usize| {
        (0..n)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let state_of = |tracestate: &str| {
        let context =
            codec.extract(&[("traceparent", traceparent), ("tracestate", tracestate)][..]);
        let sc = context.span().span_context().clone();
        assert_eq!(ids(&sc), expected);
        sc.trace_state().header()
    };
    assert_eq!(state_of(&members(32)), members(32));
    assert_eq!(state_of(&members(33)), "");
    let long = format!("k={}", "v".repeat(600));
    assert_eq!(state_of(&long), "");

    // An id header of over 256 bytes is not parsed at all, whichever the format.
    let padded = format!("{traceparent}-{}", "0".repeat(300));
    assert_eq!(ids(&remote(&codec, &[("traceparent", &padded)])), None);
    let jaeger = format!("{}:00f067aa0ba902b7:0:1", "0".repeat(300));
    assert_eq!(ids(&remote(&codec, &[("uber-trace-id", &jaeger)])), None);

    // A baggage header over 8 192 bytes is ignored whole.
    let big = format!("k={}", "v".repeat(9_000));
    let context = codec.extract(&[("baggage", big.as_str())][..]);
    assert_eq!(context.baggage().len(), 0);
    let context = codec.extract(&[("baggage", "k=v")][..]);
    assert_eq!(context.baggage().len(), 1);
}

#[test]
fn baggage_is_capped_at_the_w3c_limits() {
    let c = codec("baggage,jaeger");
    let many: String = (0..500)
        .map(|i| format!("k{i}=v"))
        .collect::<Vec<_>>()
        .join(",");
    assert!(c.extract(&[("baggage", many.as_str())][..]).baggage().len() <= 180);
    let huge = format!("big={}", "x".repeat(10_000));
    assert_eq!(
        c.extract(&[("baggage", huge.as_str())][..]).baggage().len(),
        0
    );
    let names: Vec<String> = (0..500).map(|i| format!("uberctx-k{i}")).collect();
    let headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "value")).collect();
    let context = c.extract(&headers[..]);
    let baggage = context.baggage();
    assert!(baggage.len() <= 180, "{}", baggage.len());
    let bytes: usize = baggage
        .iter()
        .map(|(k, (v, _))| k.as_str().len() + v.as_str().len() + 1)
        .sum();
    assert!(bytes <= 8_192, "{bytes}");
}

#[test]
fn the_default_codec_reads_each_format_and_writes_all() {
    let c = HeaderCodec::new(&PropagatorKind::DEFAULT);
    assert_eq!(
        ids(&remote(&c, &[("uber-trace-id", "1:2:0:1")])).unwrap().0,
        "00000000000000000000000000000001"
    );
    let context = c.extract(
        &[
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
            ("baggage", "tenant=acme"),
        ][..],
    );
    let mut names: Vec<String> = injected(&c, &context).into_iter().map(|(n, _)| n).collect();
    names.sort();
    // No `tracestate`: the state is empty, and the W3C asks senders not to send it empty.
    assert_eq!(
        names,
        ["baggage", "traceparent", "uber-trace-id", "uberctx-tenant"]
    );
    assert_eq!(
        c.header_names(),
        ["traceparent", "tracestate", "baggage", "uber-trace-id"]
    );
    assert!(codec("none").header_names().is_empty());
    assert_eq!(
        PropagatorKind::parse_list("latency")
            .unwrap_err()
            .to_string(),
        r#"propagators: invalid value "latency"; expected one of tracecontext, baggage, jaeger, b3, b3multi, none"#
    );
    assert!(PropagatorKind::parse_list("none,b3").is_err());
}

/// A valid header of the format, mutated: one character replaced, cut, or extended.
fn near_valid(valid: &'static str) -> impl Strategy<Value = String> {
    (0..valid.len() + 1, any::<char>(), 0..3u8).prop_map(move |(at, c, how)| {
        let mut s: Vec<char> = valid.chars().collect();
        let at = at.min(s.len());
        match how {
            0 if at < s.len() => s[at] = c,
            1 => s.truncate(at),
            _ => s.insert(at, c),
        }
        s.into_iter().collect()
    })
}

fn header_value(valid: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9a-fA-F:%-]{0,80}",
        near_valid(valid),
        Just(valid.to_string()),
    ]
}

/// Extracting never panics; a valid result has non-zero ids and survives inject → extract.
fn check(codec: &HeaderCodec, headers: &[(&str, &str)]) -> Result<(), TestCaseError> {
    let context = codec.extract(headers);
    let sc = context.span().span_context().clone();
    if sc.is_valid() {
        prop_assert!(sc.is_remote());
        let mut out: Vec<(String, String)> = Vec::new();
        codec.inject(&context, &mut out);
        let again = codec.extract(&out[..]);
        prop_assert_eq!(again.span().span_context().trace_id(), sc.trace_id());
        prop_assert_eq!(again.span().span_context().span_id(), sc.span_id());
        prop_assert_eq!(again.span().span_context().is_sampled(), sc.is_sampled());
    }
    Ok(())
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 100_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn tracecontext_extractor_survives_arbitrary_values(
        value in header_value("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        state in any::<String>(),
    ) {
        check(&codec("tracecontext"), &[("traceparent", &value), ("tracestate", &state)])?;
    }

    #[test]
    fn baggage_extractor_survives_arbitrary_values(value in header_value("tenant=acme,plan=gold;p=1")) {
        let context = codec("baggage").extract(&[("baggage", value.as_str())][..]);
        prop_assert!(context.baggage().len() <= 180);
    }

    #[test]
    fn jaeger_extractor_survives_arbitrary_values(
        value in header_value("a3ce929d0e0e4736:f067aa0ba902b7:0:1"),
        baggage in any::<String>(),
    ) {
        check(&codec("jaeger"), &[("uber-trace-id", &value), ("uberctx-k", &baggage)])?;
    }

    #[test]
    fn b3_single_extractor_survives_arbitrary_values(
        value in header_value("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90"),
    ) {
        check(&codec("b3"), &[("b3", &value)])?;
    }

    #[test]
    fn b3_multi_extractor_survives_arbitrary_values(
        trace in header_value("80f198ee56343ba864fe8b2a57d3eff7"),
        span in header_value("e457b5a2e4d86bd1"),
        sampled in header_value("1"),
        flags in header_value("1"),
    ) {
        check(&codec("b3multi"), &[
            ("x-b3-traceid", &trace),
            ("x-b3-spanid", &span),
            ("x-b3-sampled", &sampled),
            ("x-b3-flags", &flags),
        ])?;
    }
}

/// Found by the `propagation_all` fuzz target: a hop that wrote `traceparent`, `tracestate`
/// and `uber-trace-id` lost the `tracestate` at the next hop, because the Jaeger context
/// replaced the W3C one.
#[test]
fn tracestate_survives_a_second_format_with_the_same_parent() {
    let codec = HeaderCodec::new(&PropagatorKind::DEFAULT);
    let first = codec.extract(
        &[
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            ("tracestate", "congo=t61rcWkgMzE"),
        ][..],
    );
    let hop = injected(&codec, &first);
    assert!(hop.iter().any(|(name, _)| name == "uber-trace-id"));
    let second = codec.extract(hop.as_slice());
    let sc = second.span().span_context().clone();
    assert_eq!(ids(&sc), ids(first.span().span_context()));
    assert_eq!(sc.trace_state().header(), "congo=t61rcWkgMzE");
}

/// Found by the fuzz targets: baggage in two formats was replaced, not merged.
#[test]
fn baggage_from_two_formats_is_merged() {
    for list in ["tracecontext,baggage,jaeger", "jaeger,baggage"] {
        let context = codec(list).extract(
            &[
                ("baggage", "tenant=acme,region=us"),
                ("uberctx-region", "eu"),
            ][..],
        );
        let baggage = context.baggage();
        assert_eq!(
            baggage.get("tenant").map(|v| v.as_str().to_string()),
            Some("acme".into()),
            "{list}"
        );
        // The later format wins a key both carry.
        let expected = if list.starts_with("jaeger") {
            "us"
        } else {
            "eu"
        };
        assert_eq!(
            baggage.get("region").map(|v| v.as_str().to_string()),
            Some(expected.into()),
            "{list}"
        );
    }
}

#[test]
fn requests_without_trace_headers_skip_extraction_but_keep_the_parent_context() {
    let codec = HeaderCodec::new(&PropagatorKind::DEFAULT);
    let parent = Context::new().with_baggage(vec![opentelemetry::KeyValue::new("k", "v")]);
    let context = codec.extract_with_context(&parent, &[("user-agent", "curl")][..]);
    assert_eq!(context.baggage().len(), 1);
    assert!(!context.span().span_context().is_valid());
    // Header names are matched case-insensitively, the Jaeger baggage prefix included.
    let context = codec.extract(&[("UBERCTX-Team", "core")][..]);
    assert_eq!(
        context
            .baggage()
            .get("team")
            .map(|v| v.as_str().to_string()),
        Some("core".into())
    );
}

/// Both B3 kinds read both encodings (only what they write differs), so a request carrying
/// just the other encoding must not be skipped by the codec's header-name pre-pass.
#[test]
fn each_b3_kind_reads_the_other_encoding_alone() {
    let multi_only = [
        ("X-B3-TraceId", "80f198ee56343ba864fe8b2a57d3eff7"),
        ("X-B3-SpanId", "e457b5a2e4d86bd1"),
        ("X-B3-Sampled", "1"),
    ];
    let single_only = [("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1")];
    let expected = Some((
        "80f198ee56343ba864fe8b2a57d3eff7".to_string(),
        "e457b5a2e4d86bd1".to_string(),
        true,
    ));
    for list in ["b3", "b3multi", "tracecontext,b3", "b3multi,baggage"] {
        assert_eq!(ids(&remote(&codec(list), &multi_only)), expected, "{list}");
        assert_eq!(ids(&remote(&codec(list), &single_only)), expected, "{list}");
    }
}

/// Headers as an OpenTelemetry `Extractor` that holds a name several times, as HTTP does: the
/// first value for `get`, every value in order for `get_all`.
struct Lines<'a>(&'a [(String, String)]);

impl octopus_core::opentelemetry::propagation::Extractor for Lines<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(n, _)| n.as_str()).collect()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let values: Vec<&str> = self
            .0
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then_some(values)
    }
}

/// The trace and baggage a context carries, comparable.
fn summary(context: &Context) -> (SpanContext, Vec<(String, String)>) {
    let mut baggage: Vec<(String, String)> = context
        .baggage()
        .iter()
        .map(|(k, (v, _))| (k.to_string(), v.to_string()))
        .collect();
    baggage.sort();
    (context.span().span_context().clone(), baggage)
}

/// Header names (any case) and values of every format, mixed at random.
fn mixed_headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        Just("traceparent"),
        Just("TraceParent"),
        Just("tracestate"),
        Just("baggage"),
        Just("uber-trace-id"),
        Just("Uber-Trace-Id"),
        Just("uberctx-team"),
        Just("UBERCTX-Region"),
        Just("b3"),
        Just("x-b3-traceid"),
        Just("X-B3-SpanId"),
        Just("x-b3-sampled"),
        Just("x-b3-flags"),
        Just("user-agent"),
    ];
    let value = prop_oneof![
        Just("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string()),
        Just("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7".to_string()),
        Just("tenant=acme,region=us".to_string()),
        Just("4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:1".to_string()),
        Just("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1".to_string()),
        Just("80f198ee56343ba864fe8b2a57d3eff7".to_string()),
        Just("e457b5a2e4d86bd1".to_string()),
        Just("1".to_string()),
        "[0-9a-f:=,-]{0,40}",
    ];
    proptest::collection::vec((name.prop_map(str::to_string), value), 0..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// The codec's pre-pass (which runs only the formats whose headers are present) extracts
    /// exactly what running every configured propagator in order does.
    #[test]
    fn skipping_absent_formats_changes_nothing(
        headers in mixed_headers(),
        list in prop_oneof![
            Just("tracecontext,baggage,jaeger"),
            Just("jaeger,baggage,tracecontext"),
            Just("b3"),
            Just("b3multi,tracecontext"),
            Just("tracecontext,baggage,jaeger,b3,b3multi"),
        ],
    ) {
        use octopus_core::opentelemetry::propagation::TextMapPropagator;
        let codec = codec(list);
        let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let fast = codec.extract(&pairs[..]);
        // The oracle: every propagator, in order, through the plain OpenTelemetry interface.
        let full = TextMapPropagator::extract_with_context(&codec, &Context::new(), &Lines(&headers));
        prop_assert_eq!(summary(&fast), summary(&full));
    }
}

#[test]
fn a_format_listed_twice_counts_once() {
    let twice = HeaderCodec::new(&[PropagatorKind::TraceContext; 40]);
    assert_eq!(twice.kinds(), [PropagatorKind::TraceContext]);
    let headers = [(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )];
    assert_eq!(
        ids(&remote(&twice, &headers)).map(|(trace, _, _)| trace),
        Some("4bf92f3577b34da6a3ce929d0e0e4736".to_string())
    );
    assert_eq!(twice.header_names(), ["traceparent", "tracestate"]);
}

// W3C Trace Context, rule by rule (the Recommendation, level 2, and its test suite's cases).
// Each case here was mishandled by the SDK's `TraceContextPropagator`, which Octopus used
// before it had its own.

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// The trace state the default codec extracts from `traceparent` plus these `tracestate` lines,
/// and the `tracestate` header it then sends (`None`: not sent). The parent must be kept
/// whatever the state: a bad `tracestate` never affects `traceparent`.
fn tracestate_of(lines: &[&str]) -> (String, Option<String>) {
    let codec = HeaderCodec::new(&PropagatorKind::DEFAULT);
    let mut headers = vec![("traceparent", TRACEPARENT)];
    headers.extend(lines.iter().map(|line| ("tracestate", *line)));
    let context = codec.extract(&headers[..]);
    let sc = context.span().span_context().clone();
    assert_eq!(
        ids(&sc),
        Some((TRACE_ID.into(), "00f067aa0ba902b7".into(), true)),
        "{lines:?}"
    );
    let sent = injected(&codec, &context)
        .into_iter()
        .find(|(name, _)| name == "tracestate")
        .map(|(_, value)| value);
    (sc.trace_state().header(), sent)
}

#[test]
fn traceparent_fields_must_have_their_exact_length_and_lowercase_hex() {
    let c = codec("tracecontext");
    for bad in [
        "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "000-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e47360-00f067aa0ba902b7-01",
        "00-4bf-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b70-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-001",
        "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
        ".0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-+0f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-+1",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        // Version 00 is exactly 55 characters.
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-will-be-like",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.",
    ] {
        let context = c.extract(&[("traceparent", bad), ("tracestate", "foo=1")][..]);
        assert!(!context.has_active_span(), "{bad:?}");
    }
    // Optional whitespace around the value is not part of it.
    let padded = format!(" \t{TRACEPARENT}\t ");
    assert_eq!(
        ids(&remote(&c, &[("traceparent", &padded)])).map(|(t, _, _)| t),
        Some(TRACE_ID.to_string())
    );
}

#[test]
fn higher_traceparent_versions_are_read_by_their_prefix() {
    let c = codec("tracecontext");
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
    ] {
        let sc = remote(&c, &[("traceparent", value)]);
        assert_eq!(
            ids(&sc),
            Some((TRACE_ID.into(), "00f067aa0ba902b7".into(), sampled)),
            "{value:?}"
        );
        // Sent on as the version this implementation knows.
        let out = injected(&c, &Context::new().with_remote_span_context(sc));
        let flags = if sampled { "01" } else { "00" };
        assert_eq!(
            out,
            [(
                "traceparent".to_string(),
                format!("00-{TRACE_ID}-00f067aa0ba902b7-{flags}")
            )]
        );
    }
    for bad in [
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.what-the-future-will-be-like",
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
        "cc-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01-future",
    ] {
        assert_eq!(ids(&remote(&c, &[("traceparent", bad)])), None, "{bad:?}");
    }
}

#[test]
fn two_traceparent_headers_start_a_new_trace() {
    let other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    for headers in [
        [("traceparent", TRACEPARENT), ("traceparent", TRACEPARENT)],
        [("traceparent", TRACEPARENT), ("TraceParent", other)],
    ] {
        let context = codec("tracecontext,baggage").extract(&headers[..]);
        assert!(!context.has_active_span(), "{headers:?}");
        let mut map = http::HeaderMap::new();
        for (name, value) in headers {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_static(value),
            );
        }
        assert!(!codec("tracecontext").extract(&map).has_active_span());
    }
}

#[test]
fn tracestate_lines_are_combined_in_order_with_empty_members_and_whitespace_tolerated() {
    let expected = "foo=1,bar=2,rojo=1,congo=2,baz=3";
    let (state, sent) = tracestate_of(&["foo=1,bar=2", "rojo=1,congo=2", "baz=3"]);
    assert_eq!(state, expected);
    assert_eq!(sent.as_deref(), Some(expected));
    let (state, _) = tracestate_of(&["foo=1 \t , \t bar=2,, \t ,rojo=1", "", " ,congo=2,baz=3\t"]);
    assert_eq!(state, expected);
    // An empty line before or after a member does not hide it.
    assert_eq!(tracestate_of(&["", "foo=1"]).0, "foo=1");
    assert_eq!(tracestate_of(&["foo=1", ""]).0, "foo=1");
    // Through an `http::HeaderMap` too, as servers hand the lines over.
    let mut map = http::HeaderMap::new();
    map.insert("traceparent", http::HeaderValue::from_static(TRACEPARENT));
    for line in ["foo=1,bar=2", "rojo=1,congo=2", "baz=3"] {
        map.append("tracestate", http::HeaderValue::from_static(line));
    }
    let context = HeaderCodec::new(&PropagatorKind::DEFAULT).extract(&map);
    assert_eq!(
        context.span().span_context().trace_state().header(),
        expected
    );
}

#[test]
fn an_invalid_tracestate_is_discarded_whole_and_never_forwarded() {
    for lines in [
        &["foo="][..],
        &["foo=,bar=3"],
        &["foo=bar=baz"],
        &["bar=1,foo=bar=baz"],
        &["foo=1,foo=1"],
        &["foo=1,foo=2"],
        &["foo=1", "foo=2"],
        &["foo =1"],
        &["FOO=1"],
        &["foo.bar=1"],
        &["foo@=1,bar=2"],
        &["@foo=1,bar=2"],
        &["foo@@bar=1,bar=2"],
        &["foo@bar@baz=1,bar=2"],
        &["foo=1", "bar"],
        &["foo=a\u{7f}"],
    ] {
        assert_eq!(tracestate_of(lines), (String::new(), None), "{lines:?}");
    }
}

#[test]
fn tracestate_keys_and_values_follow_the_level_2_grammar() {
    let key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
    let multi_tenant = "abcdefghijklmnopqrstuvwxyz0123456789_-*/@a-z0-9_-*/";
    let value = r##" !"#$%&'()*+-./0123456789:;<>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_`abcdefghijklmnopqrstuvwxyz{|}~"##;
    for key in [key, multi_tenant, "1tenant@vendor"] {
        let member = format!("{key}={value}");
        // A value's leading space is its own; the trailing whitespace is not.
        let (state, sent) = tracestate_of(&[&format!("{member}  ")]);
        assert_eq!(state, member);
        assert_eq!(sent, Some(member));
    }
    let long_key = format!("{}=1", "z".repeat(256));
    assert_eq!(
        tracestate_of(&["foo=1", &long_key]).0,
        format!("foo=1,{long_key}")
    );
    for too_long in [
        format!("{}=1", "z".repeat(257)),
        format!("{}@v=1", "t".repeat(242)),
        format!("t@{}=1", "v".repeat(15)),
        format!("foo={}", "v".repeat(257)),
    ] {
        assert_eq!(tracestate_of(&["foo=1", &too_long]).0, "", "{too_long}");
    }
    // A valid key the SDK's `TraceState` cannot hold (a 14-character system-id): that member
    // alone is left out.
    let widest = format!("{}@{}=1", "t".repeat(241), "v".repeat(14));
    assert_eq!(tracestate_of(&["foo=1", &widest]).0, "foo=1");
    let narrower = format!("{}@{}=1", "t".repeat(241), "v".repeat(13));
    assert_eq!(
        tracestate_of(&["foo=1", &narrower]).0,
        format!("foo=1,{narrower}")
    );
}

#[test]
fn tracestate_keeps_32_members_and_discards_more_across_lines() {
    let members = |range: std::ops::RangeInclusive<usize>| {
        range
            .map(|i| format!("bar{i:02}=1"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let (state, _) = tracestate_of(&[&members(1..=16), &members(17..=32)]);
    assert_eq!(state, members(1..=32));
    assert_eq!(
        tracestate_of(&[&members(1..=16), &members(17..=33)]),
        (String::new(), None)
    );
}

#[test]
fn an_empty_tracestate_is_accepted_but_not_sent() {
    for lines in [&[""][..], &[" "], &[",, ,"], &["", ""], &[]] {
        assert_eq!(tracestate_of(lines), (String::new(), None), "{lines:?}");
    }
}

#[test]
fn a_long_tracestate_is_truncated_by_whole_members_as_the_w3c_says() {
    // 129-character members are "long" (over 128); 100-character ones are not.
    let long = |key: &str| format!("{key}={}", "l".repeat(128 - key.len()));
    let short = |key: &str| format!("{key}={}", "s".repeat(99 - key.len()));
    let list = |members: &[String]| members.join(",");

    // Up to 512 characters, joined, everything is kept.
    let fits = [short("a"), short("b"), short("c"), short("d"), short("e")];
    assert_eq!(list(&fits).len(), 504);
    assert_eq!(tracestate_of(&[&list(&fits)]).0, list(&fits));

    // Over 512: the long members go first (the last first), even before later short ones.
    let mixed = [long("a"), short("b"), long("c"), short("d"), short("e")];
    assert_eq!(list(&mixed).len(), 562);
    let expected = list(&[long("a"), short("b"), short("d"), short("e")]);
    let (state, sent) = tracestate_of(&[&list(&mixed)]);
    assert_eq!(state, expected);
    assert_eq!(sent, Some(expected));

    // Then members from the end.
    let shorts = [
        short("a"),
        short("b"),
        short("c"),
        short("d"),
        short("e"),
        short("f"),
    ];
    assert_eq!(tracestate_of(&[&list(&shorts)]).0, list(&shorts[..5]));

    // Two long members, over 512 together: the last goes.
    let long_value = format!("k={}", "v".repeat(256));
    let (state, sent) = tracestate_of(&[&long_value, &long_value.replacen('k', "j", 1)]);
    assert_eq!(state, long_value);
    assert_eq!(sent, Some(long_value));

    // The longest valid member (513 characters) cannot fit: nothing is kept, nothing is sent.
    let widest = format!("{}={}", "k".repeat(256), "v".repeat(256));
    assert_eq!(tracestate_of(&[&widest]), (String::new(), None));
}

#[test]
fn baggage_lines_are_combined_within_the_cap() {
    let c = codec("baggage");
    let context = c.extract(
        &[
            ("baggage", "tenant=acme,plan=gold"),
            ("Baggage", "region=eu"),
        ][..],
    );
    let mut entries: Vec<(String, String)> = context
        .baggage()
        .iter()
        .map(|(k, (v, _))| (k.to_string(), v.to_string()))
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        [
            ("plan".to_string(), "gold".to_string()),
            ("region".into(), "eu".into()),
            ("tenant".into(), "acme".into()),
        ]
    );
    // Each line under 8 192 bytes, together over: ignored whole, like one oversized header.
    let half = format!("k={}", "v".repeat(4_100));
    let context = c.extract(&[("baggage", half.as_str()), ("baggage", "j=1")][..]);
    assert_eq!(context.baggage().len(), 2);
    let context = c.extract(&[("baggage", half.as_str()), ("baggage", half.as_str())][..]);
    assert_eq!(context.baggage().len(), 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever `tracestate` lines arrive, what is kept is a valid list of at most 32 members
    /// and 512 characters, and exactly that is sent on (nothing when it is empty).
    #[test]
    fn a_kept_tracestate_is_valid_bounded_and_sent_as_kept(
        lines in proptest::collection::vec(
            prop_oneof![
                "([a-z][a-z0-9_*/-]{0,20}(@[a-z][a-z0-9]{0,14})?=[ -~]{0,40}[ ,\t]{0,3}){0,12}",
                any::<String>(),
                Just(String::new()),
            ],
            0..4,
        ),
    ) {
        let codec = HeaderCodec::new(&PropagatorKind::DEFAULT);
        let mut headers = vec![("traceparent", TRACEPARENT)];
        headers.extend(lines.iter().map(|line| ("tracestate", line.as_str())));
        let context = codec.extract(&headers[..]);
        let state = context.span().span_context().trace_state().header();
        prop_assert!(state.len() <= 512, "{}", state.len());
        let sent: Vec<(String, String)> = injected(&codec, &context)
            .into_iter()
            .filter(|(name, _)| name == "tracestate")
            .collect();
        if state.is_empty() {
            prop_assert!(sent.is_empty());
        } else {
            prop_assert_eq!(sent, vec![("tracestate".to_string(), state.clone())]);
            prop_assert!(state.split(',').count() <= 32);
            // Sent on, it reads back the same.
            let again = codec.extract(&[("traceparent", TRACEPARENT), ("tracestate", state.as_str())][..]);
            prop_assert_eq!(again.span().span_context().trace_state().header(), state);
        }
    }
}

/// Serves HTTP/1.1 on 127.0.0.1 with hyper: each request is observed by `octopus`, and the
/// response body lists the trace headers its context would send on, one `name: value` a line.
async fn echo_server(octopus: Octopus) -> std::net::SocketAddr {
    use octopus_core::{RequestObserver as _, RequestView, ResponseView};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let octopus = octopus.clone();
            let service = hyper::service::service_fn(move |request: http::Request<_>| {
                let octopus = octopus.clone();
                async move {
                    let _: &hyper::body::Incoming = request.body();
                    let observed = octopus.observe(&RequestView::from_http(&request));
                    let mut sent: Vec<(String, String)> = Vec::new();
                    octopus.codec().inject(observed.context(), &mut sent);
                    observed.finish(&ResponseView::new(200));
                    let body: String = sent.iter().map(|(n, v)| format!("{n}: {v}\n")).collect();
                    Ok::<_, std::convert::Infallible>(http::Response::new(
                        http_body_util::Full::new(bytes::Bytes::from(body)),
                    ))
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
            );
        }
    });
    address
}

/// Sends one request whose header section is exactly `header_lines` (repeated names as
/// separate lines, as a client or proxy may) and returns the trace headers echoed back.
async fn send_raw(
    address: std::net::SocketAddr,
    header_lines: &[(&str, &str)],
) -> Vec<(String, String)> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let mut request = String::from("GET /w3c HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n");
    for (name, value) in header_lines {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        response
    };
    let response = tokio::time::timeout(std::time::Duration::from_secs(10), exchange)
        .await
        .expect("the server answers");
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn sent<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The rules on repeated header lines, over a real socket: hyper hands the lines to Octopus in
/// an `http::HeaderMap`, and the trace the handler continues (and sends on) follows the W3C.
#[tokio::test]
async fn repeated_header_lines_on_the_wire_follow_the_w3c() {
    let octopus = Octopus::builder()
        .service_name("w3c")
        .sampler(octopus_core::SamplerKind::AlwaysOn, None)
        .span_exporter(opentelemetry_sdk::trace::InMemorySpanExporter::default())
        .propagators(PropagatorKind::parse_list("tracecontext,baggage").unwrap())
        .metrics([])
        .build()
        .unwrap();
    let address = echo_server(octopus.clone()).await;
    let trace_of = |headers: &[(String, String)]| {
        sent(headers, "traceparent").map(|tp| tp.split('-').nth(1).unwrap().to_string())
    };

    // One `traceparent`: the trace continues.
    let out = send_raw(address, &[("traceparent", TRACEPARENT)]).await;
    assert_eq!(trace_of(&out).as_deref(), Some(TRACE_ID));
    assert_eq!(sent(&out, "tracestate"), None);

    // Two `traceparent` lines, even identical: a new trace.
    let out = send_raw(
        address,
        &[("traceparent", TRACEPARENT), ("traceparent", TRACEPARENT)],
    )
    .await;
    let restarted = trace_of(&out).expect("the new trace is sent on");
    assert_ne!(restarted, TRACE_ID);
    assert_eq!(sent(&out, "tracestate"), None);

    // `tracestate` over three lines, one empty: one list, in order.
    let out = send_raw(
        address,
        &[
            ("traceparent", TRACEPARENT),
            ("tracestate", "foo=1,bar=2"),
            ("tracestate", ""),
            ("TraceState", "rojo=1 , ,congo=2"),
        ],
    )
    .await;
    assert_eq!(trace_of(&out).as_deref(), Some(TRACE_ID));
    assert_eq!(sent(&out, "tracestate"), Some("foo=1,bar=2,rojo=1,congo=2"));

    // A duplicate key across lines: the state is discarded, the trace continues.
    let out = send_raw(
        address,
        &[
            ("traceparent", TRACEPARENT),
            ("tracestate", "foo=1"),
            ("tracestate", "foo=2"),
        ],
    )
    .await;
    assert_eq!(trace_of(&out).as_deref(), Some(TRACE_ID));
    assert_eq!(sent(&out, "tracestate"), None);

    // `baggage` over two lines: both read, both sent on.
    let out = send_raw(
        address,
        &[("baggage", "tenant=acme"), ("baggage", "region=eu")],
    )
    .await;
    let mut baggage: Vec<&str> = sent(&out, "baggage").unwrap().split(',').collect();
    baggage.sort();
    assert_eq!(baggage, ["region=eu", "tenant=acme"]);

    octopus.shutdown().unwrap();
}
