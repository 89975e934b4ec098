//! actix-web's header map (its own type, over `http` 0.2 names) seen by the core.

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use octopus_core::{HeaderSink, HeaderSource};

/// An actix-web [`HeaderMap`] as the core's [`HeaderSource`] and [`HeaderSink`].
#[derive(Debug)]
pub struct ActixHeaders<T>(pub T);

impl HeaderSource for ActixHeaders<&HeaderMap> {
    fn header(&self, name: &str) -> Option<&str> {
        match read_on_every_request(name) {
            Some(name) => self.0.get(name),
            None => self.0.get(name),
        }
        .and_then(|value| value.to_str().ok())
    }

    fn header_values<'a>(&'a self, name: &str, visit: &mut dyn FnMut(Option<&'a str>)) {
        let values = match read_on_every_request(name) {
            Some(name) => self.0.get_all(name),
            None => self.0.get_all(name),
        };
        for value in values {
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

/// The header names the core reads on every request, parsed once.
///
/// actix's `HeaderMap::get(&str)` parses its argument into a `HeaderName` first, and a name
/// outside `http`'s standard set (`traceparent`, `tracestate`, `baggage`) is then copied to the
/// heap: an allocation per lookup. A parsed name goes straight to the hash lookup. Any other
/// name, or one not in lower case, takes the parsing path.
fn read_on_every_request(name: &str) -> Option<&'static HeaderName> {
    static NAMES: [HeaderName; 7] =
        octopus_core::header_names_read_on_every_request!(actix_web::http::header);
    octopus_core::read_on_every_request_index(name).map(|index| &NAMES[index])
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
    fn names_parsed_once_find_what_parsing_finds() {
        let map = map(&[
            ("host", b"example.com"),
            ("user-agent", b"curl/8.5.0"),
            ("content-length", b"12"),
            ("transfer-encoding", b"chunked"),
            ("traceparent", TRACEPARENT.as_bytes()),
            ("tracestate", b"a=1"),
            ("baggage", b"k=v"),
            ("x-tenant", b"acme"),
        ]);
        let headers = ActixHeaders(&map);
        let read_on_every_request_names =
            octopus_core::header_names_read_on_every_request!(actix_web::http::header);
        for name in read_on_every_request_names
            .iter()
            .map(HeaderName::as_str)
            .chain(["x-tenant"])
        {
            assert_eq!(read_on_every_request(name).is_some(), name != "x-tenant");
            let parsed = map.get(name).map(|value| value.to_str().unwrap());
            assert!(parsed.is_some(), "{name}");
            assert_eq!(headers.header(name), parsed, "{name}");
            assert_eq!(headers.header(&name.to_uppercase()), parsed, "{name}");
        }
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
