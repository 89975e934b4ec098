//! Rocket's header maps seen by the core.

use std::borrow::Cow;

use octopus_core::{HeaderSink, HeaderSource};
use rocket::http::{Header, HeaderMap};

/// A rocket [`HeaderMap`] as the core's [`HeaderSource`], or a rocket response as its
/// [`HeaderSink`].
#[derive(Debug)]
pub struct RocketHeaders<T>(pub T);

impl HeaderSource for RocketHeaders<&HeaderMap<'_>> {
    fn header(&self, name: &str) -> Option<&str> {
        self.0.get_one(name)
    }

    fn header_values<'a>(&'a self, name: &str, visit: &mut dyn FnMut(Option<&'a str>)) {
        // Rocket keeps header values as text: every one is usable.
        for value in self.0.get(name) {
            visit(Some(value));
        }
    }

    fn header_names(&self) -> Vec<&str> {
        // Rocket hands out names borrowed from the map; an owned one cannot outlive the
        // iterator's item, and rocket never stores request header names owned.
        self.0
            .iter()
            .filter_map(|header| match header.name.into_cow() {
                Cow::Borrowed(name) => Some(name),
                Cow::Owned(_) => None,
            })
            .collect()
    }

    fn any_header_name(&self, predicate: &dyn Fn(&str) -> bool) -> bool {
        self.0.iter().any(|header| predicate(header.name.as_str()))
    }
}

impl HeaderSink for RocketHeaders<&mut rocket::Response<'_>> {
    fn set_header(&mut self, name: &str, value: String) {
        self.0.set_header(Header::new(name.to_owned(), value));
    }
}

#[cfg(test)]
mod tests {
    use octopus_core::opentelemetry::trace::TraceContextExt as _;
    use octopus_core::{HeaderCodec, PropagatorKind};

    use super::*;

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn map(headers: &[(&'static str, &'static str)]) -> HeaderMap<'static> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.add_raw(*name, *value);
        }
        map
    }

    #[test]
    fn every_value_of_a_repeated_header_is_read_in_order() {
        let map = map(&[
            ("tracestate", "foo=1"),
            ("host", "x"),
            ("TraceState", "bar=2"),
        ]);
        let headers = RocketHeaders(&map);
        let mut values = Vec::new();
        headers.header_values("tracestate", &mut |value| values.push(value));
        assert_eq!(values, [Some("foo=1"), Some("bar=2")]);
        assert_eq!(headers.header("tracestate"), Some("foo=1"));
    }

    #[test]
    fn the_codec_sees_repeated_trace_headers_as_the_w3c_says() {
        let codec = HeaderCodec::new(&PropagatorKind::DEFAULT);
        let twice = map(&[("traceparent", TRACEPARENT), ("traceparent", TRACEPARENT)]);
        assert!(!codec.extract(&RocketHeaders(&twice)).has_active_span());
        let split = map(&[
            ("traceparent", TRACEPARENT),
            ("tracestate", "foo=1"),
            ("tracestate", "bar=2"),
        ]);
        let context = codec.extract(&RocketHeaders(&split));
        assert_eq!(
            context.span().span_context().trace_state().header(),
            "foo=1,bar=2"
        );
    }
}
