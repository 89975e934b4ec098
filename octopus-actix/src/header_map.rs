//! actix-web's header map (its own type, over `http` 0.2 names) seen by the core.

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use octopus_core::{HeaderSink, HeaderSource};

/// An actix-web [`HeaderMap`] as the core's [`HeaderSource`] and [`HeaderSink`].
#[derive(Debug)]
pub struct ActixHeaders<T>(pub T);

impl HeaderSource for ActixHeaders<&HeaderMap> {
    fn header(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|value| value.to_str().ok())
    }

    fn header_values<'a>(&'a self, name: &str, visit: &mut dyn FnMut(Option<&'a str>)) {
        for value in self.0.get_all(name) {
            visit(value.to_str().ok());
        }
    }

    fn header_names(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }

    fn any_header_name(&self, predicate: &dyn Fn(&str) -> bool) -> bool {
        self.0.keys().any(|name| predicate(name.as_str()))
    }
}

impl HeaderSink for ActixHeaders<&mut HeaderMap> {
    /// Names and values that are not valid in a header are skipped: they cannot be sent.
    fn set_header(&mut self, name: &str, value: String) {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            self.0.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use octopus_core::opentelemetry::trace::TraceContextExt as _;
    use octopus_core::{HeaderCodec, PropagatorKind};

    use super::*;

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn map(headers: &[(&'static str, &'static [u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn every_value_of_a_repeated_header_is_read_in_order() {
        let map = map(&[
            ("tracestate", b"foo=1"),
            ("host", b"x"),
            ("tracestate", b"bar=2"),
            ("tracestate", b"\xff"),
        ]);
        let headers = ActixHeaders(&map);
        let mut values = Vec::new();
        headers.header_values("tracestate", &mut |value| values.push(value));
        assert_eq!(values, [Some("foo=1"), Some("bar=2"), None]);
        assert_eq!(headers.header("tracestate"), Some("foo=1"));
    }

    #[test]
    fn the_codec_sees_repeated_trace_headers_as_the_w3c_says() {
        let codec = HeaderCodec::new(&PropagatorKind::DEFAULT);
        let twice = map(&[
            ("traceparent", TRACEPARENT.as_bytes()),
            ("traceparent", TRACEPARENT.as_bytes()),
        ]);
        assert!(!codec.extract(&ActixHeaders(&twice)).has_active_span());
        let split = map(&[
            ("traceparent", TRACEPARENT.as_bytes()),
            ("tracestate", b"foo=1"),
            ("tracestate", b"bar=2"),
        ]);
        let context = codec.extract(&ActixHeaders(&split));
        assert_eq!(
            context.span().span_context().trace_state().header(),
            "foo=1,bar=2"
        );
    }
}
