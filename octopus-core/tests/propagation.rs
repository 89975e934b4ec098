//! The header codec: the published examples of each format as vectors, malformed input, and a
//! property test feeding every extractor 100 000 arbitrary values.

use octopus_core::opentelemetry::Context;
use octopus_core::opentelemetry::baggage::BaggageExt;
use octopus_core::opentelemetry::trace::{SpanContext, TraceContextExt};
use octopus_core::{HeaderCodec, PropagatorKind};
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
    // tracestate: at most 512 bytes and 32 members, or it is dropped (the parent stays).
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
    assert_eq!(
        names,
        [
            "baggage",
            "traceparent",
            "tracestate",
            "uber-trace-id",
            "uberctx-tenant"
        ]
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
        let map: std::collections::HashMap<String, String> = headers
            .iter()
            .rev() // the first of duplicate names wins, as in `HeaderSource` for pairs
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect();
        let full = TextMapPropagator::extract_with_context(&codec, &Context::new(), &map);
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
