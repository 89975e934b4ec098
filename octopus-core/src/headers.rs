//! The two header traits of the seam, side by side: [`HeaderSource`] reads a request's headers,
//! [`HeaderSink`] writes outbound ones (trace headers on a client request, `traceresponse` on a
//! response). The core implements both for [`http::HeaderMap`] and for `(name, value)` pairs;
//! an adapter whose framework has its own header map wraps it in a newtype.

/// Read access to a request's (or response's) headers.
///
/// Implement this for your framework's header map so the core can read trace headers and the
/// user agent. Header names passed to [`header`](HeaderSource::header) and
/// [`header_values`](HeaderSource::header_values) are lower-case ASCII; implementations must
/// match them case-insensitively (HTTP header names are).
///
/// The core implements it for [`http::HeaderMap`] (axum, warp, hyper, reqwest), for
/// slices of `(name, value)` pairs and for [`NoHeaders`]. A framework on another `http` version
/// (actix-web) wraps its map in a newtype.
///
/// ```
/// use octopus_core::HeaderSource;
///
/// let headers: &[(&str, &str)] = &[("User-Agent", "curl/8.5.0")];
/// assert_eq!(headers.header("user-agent"), Some("curl/8.5.0"));
/// assert_eq!(headers.header("traceparent"), None);
/// ```
pub trait HeaderSource {
    /// The first value of header `name`, if present and valid visible ASCII / UTF-8.
    ///
    /// A value that is not valid text must be reported as absent, never as an error: inbound
    /// headers are untrusted input.
    fn header(&self, name: &str) -> Option<&str>;

    /// Passes every value of header `name` to `visit`, in the order received: `Some(value)`
    /// for a value that is valid text, `None` for one that is not (its header is then unusable
    /// as a whole, but it still counts).
    ///
    /// Some headers may be sent as several lines that mean one comma-joined value (W3C
    /// `tracestate` and `baggage`), and some must appear once (a repeated `traceparent` is
    /// invalid): the header codec reads those through this method. The default visits only
    /// [`header`](HeaderSource::header)'s first value, so an implementation written before this
    /// method existed keeps compiling; maps that can hold a name more than once should
    /// override it.
    ///
    /// ```
    /// use octopus_core::HeaderSource;
    ///
    /// let headers: &[(&str, &str)] = &[("tracestate", "a=1"), ("Host", "x"), ("TraceState", "b=2")];
    /// let mut values = Vec::new();
    /// headers.header_values("tracestate", &mut |value| values.push(value));
    /// assert_eq!(values, [Some("a=1"), Some("b=2")]);
    /// ```
    fn header_values<'a>(&'a self, name: &str, visit: &mut dyn FnMut(Option<&'a str>)) {
        if let Some(value) = self.header(name) {
            visit(Some(value));
        }
    }

    /// Every header name present. Only codecs that look for a prefix (such as Jaeger's
    /// `uberctx-*` baggage) call this, so it may allocate.
    fn header_names(&self) -> Vec<&str>;

    /// Whether any header name satisfies `predicate` (given names as the map spells them;
    /// compare case-insensitively); names are visited in order until `predicate` returns
    /// true. The header codec makes this one pass per request to learn which trace formats
    /// have their headers present, and runs only those — none at all for a request without a
    /// trace header, the common case at an edge. The default goes through
    /// [`header_names`](HeaderSource::header_names); maps that can iterate their names without
    /// allocating should override it.
    fn any_header_name(&self, predicate: &dyn Fn(&str) -> bool) -> bool {
        self.header_names().into_iter().any(predicate)
    }
}

impl<T: HeaderSource + ?Sized> HeaderSource for &T {
    fn header(&self, name: &str) -> Option<&str> {
        (**self).header(name)
    }

    fn header_values<'a>(&'a self, name: &str, visit: &mut dyn FnMut(Option<&'a str>)) {
        (**self).header_values(name, visit);
    }

    fn header_names(&self) -> Vec<&str> {
        (**self).header_names()
    }

    fn any_header_name(&self, predicate: &dyn Fn(&str) -> bool) -> bool {
        (**self).any_header_name(predicate)
    }
}

impl HeaderSource for http::HeaderMap {
    fn header(&self, name: &str) -> Option<&str> {
        match read_on_every_request(name) {
            Some(name) => self.get(name),
            None => self.get(name),
        }
        .and_then(|value| value.to_str().ok())
    }

    fn header_values<'a>(&'a self, name: &str, visit: &mut dyn FnMut(Option<&'a str>)) {
        let values = match read_on_every_request(name) {
            Some(name) => self.get_all(name),
            None => self.get_all(name),
        };
        for value in values {
            visit(value.to_str().ok());
        }
    }

    fn header_names(&self) -> Vec<&str> {
        self.keys().map(http::HeaderName::as_str).collect()
    }

    fn any_header_name(&self, predicate: &dyn Fn(&str) -> bool) -> bool {
        self.keys().any(|name| predicate(name.as_str()))
    }
}

/// The header names the core reads on every request, parsed once.
///
/// `HeaderMap::get(&str)` first parses its argument into a `HeaderName` (a pass through `http`'s
/// table of standard names); a parsed name goes straight to the hash lookup. A request with
/// tracing on reads four to six of these (callgrind, `axum/octopus_tracing`, 2026-11-30: the
/// parsing was 290 instructions a request, about 6 % of Octopus's share). Any other name, or one
/// not in lower case, takes the parsing path.
fn read_on_every_request(name: &str) -> Option<&'static http::HeaderName> {
    static NAMES: [http::HeaderName; 7] = crate::header_names_read_on_every_request!(http::header);
    read_on_every_request_index(name).map(|index| &NAMES[index])
}

/// Where `name` is in [`header_names_read_on_every_request!`](crate::header_names_read_on_every_request)'s
/// array, if it is one of the names the core reads on every request (exactly, in lower case).
/// For adapters whose framework has its own header map over its own `HeaderName` type
/// (actix-web's, over `http` 0.2), so that they can skip parsing those names too.
#[doc(hidden)]
pub fn read_on_every_request_index(name: &str) -> Option<usize> {
    Some(match name {
        "host" => 0,
        "user-agent" => 1,
        "content-length" => 2,
        "transfer-encoding" => 3,
        "traceparent" => 4,
        "tracestate" => 5,
        "baggage" => 6,
        _ => return None,
    })
}

/// The array of the header names the core reads on every request, as `HeaderName`s of the
/// `http` crate whose `header` module is given (`http::header`, or `actix_web::http::header`
/// for `http` 0.2), in the order of [`read_on_every_request_index`]: the initialiser of a
/// `static`.
#[doc(hidden)]
#[macro_export]
macro_rules! header_names_read_on_every_request {
    ($($module:ident)::+) => {
        [
            $($module)::+::HOST,
            $($module)::+::USER_AGENT,
            $($module)::+::CONTENT_LENGTH,
            $($module)::+::TRANSFER_ENCODING,
            $($module)::+::HeaderName::from_static("traceparent"),
            $($module)::+::HeaderName::from_static("tracestate"),
            $($module)::+::HeaderName::from_static("baggage"),
        ]
    };
}

/// Whether two header names are the same, case-insensitively. Names usually arrive in lower
/// case (an `http::HeaderName` always is), so an exact comparison is tried first: a byte
/// comparison where `eq_ignore_ascii_case` folds both sides byte by byte (16 instructions a
/// byte, 190 for a matching `traceparent`; callgrind, `core/tracing_unsampled`). The length
/// check is always inlined (most calls end there, where a call would cost more than it); the
/// comparison only where the compiler finds it worth it: always inlined as a whole, it made
/// the slices' `header` too large to inline into its callers (+100 instructions a request of
/// `core/tracing`, callgrind, twelfth session).
#[inline(always)]
pub(crate) fn same_header_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && same_name_of_same_length(a, b)
}

#[inline]
fn same_name_of_same_length(a: &str, b: &str) -> bool {
    same_bytes(a.as_bytes(), b.as_bytes()) || a.eq_ignore_ascii_case(b)
}

/// `a == b` for two slices of the same length. Names of 8 to 16 bytes (every trace header
/// name but `b3`, `baggage` and `x-b3-parentspanid`) are compared as two overlapping 8-byte
/// words each: `==` on slices calls `bcmp`, about 25 instructions through the call and its
/// size dispatch where this is 6 (callgrind, `core/tracing_unsampled`, twelfth session).
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if (8..=16).contains(&n) && b.len() == n {
        let word = |bytes: &[u8], at: usize| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[at..at + 8]);
            u64::from_ne_bytes(word)
        };
        word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8)
    } else {
        a == b
    }
}

impl<N: AsRef<str>, V: AsRef<str>> HeaderSource for [(N, V)] {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| same_header_name(n.as_ref(), name))
            .map(|(_, v)| v.as_ref())
    }

    fn header_values<'a>(&'a self, name: &str, visit: &mut dyn FnMut(Option<&'a str>)) {
        for (n, v) in self {
            if same_header_name(n.as_ref(), name) {
                visit(Some(v.as_ref()));
            }
        }
    }

    fn header_names(&self) -> Vec<&str> {
        self.iter().map(|(n, _)| n.as_ref()).collect()
    }

    fn any_header_name(&self, predicate: &dyn Fn(&str) -> bool) -> bool {
        self.iter().any(|(n, _)| predicate(n.as_ref()))
    }
}

/// A header source with no headers, for requests whose headers are not available.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHeaders;

impl HeaderSource for NoHeaders {
    fn header(&self, _name: &str) -> Option<&str> {
        None
    }

    fn header_names(&self) -> Vec<&str> {
        Vec::new()
    }
}

/// Write access to outbound headers: what injection needs.
pub trait HeaderSink {
    /// Sets header `name` (lower-case) to `value`, replacing any previous value.
    fn set_header(&mut self, name: &str, value: String);
}

impl<T: HeaderSink + ?Sized> HeaderSink for &mut T {
    fn set_header(&mut self, name: &str, value: String) {
        (**self).set_header(name, value);
    }
}

impl HeaderSink for http::HeaderMap {
    /// Values that are not valid header values are skipped: they cannot be sent.
    fn set_header(&mut self, name: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::try_from(value),
        ) {
            self.insert(name, value);
        }
    }
}

impl HeaderSink for Vec<(String, String)> {
    fn set_header(&mut self, name: &str, value: String) {
        match self.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(entry) => entry.1 = value,
            None => self.push((name.to_owned(), value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `same_header_name` against `eq_ignore_ascii_case` on names of every length up to 20,
    /// each compared with its own case variants and with one byte changed at every position
    /// (both 8-byte words of the word-wise comparison, and where they overlap).
    #[test]
    fn header_names_compare_as_eq_ignore_ascii_case_does() {
        let base = b"x-b3-parentspanid-ab";
        let mut checks = 0;
        for len in 0..=base.len() {
            let name = std::str::from_utf8(&base[..len]).unwrap();
            let mut others = vec![
                name.to_owned(),
                name.to_uppercase(),
                format!("{name}x"),
                name.chars().skip(1).collect(),
            ];
            for at in 0..len {
                // `-` with bit 5 cleared is a control byte and `@` with it set is a backtick:
                // where a comparison that only sets or clears that bit would be wrong.
                for replacement in [b'X', b'Y', b'-' ^ 0x20, b'@', b'0'] {
                    let mut bytes = name.as_bytes().to_vec();
                    bytes[at] = replacement;
                    others.push(String::from_utf8(bytes).unwrap());
                }
                let mut upper = name.as_bytes().to_vec();
                upper[at] = upper[at].to_ascii_uppercase();
                others.push(String::from_utf8(upper).unwrap());
            }
            for other in &others {
                assert_eq!(
                    same_header_name(name, other),
                    name.eq_ignore_ascii_case(other),
                    "{name:?} against {other:?}"
                );
                assert_eq!(same_header_name(other, name), same_header_name(name, other));
                checks += 1;
            }
        }
        assert_eq!(checks, 21 * 4 + 210 * 6);
    }

    #[test]
    fn names_parsed_once_find_what_parsing_finds() {
        let mut headers = http::HeaderMap::new();
        for (name, value) in [
            ("Host", "example.com:8080"),
            ("User-Agent", "curl/8.5.0"),
            ("content-length", "12"),
            ("transfer-encoding", "chunked"),
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
            ("tracestate", "a=1"),
            ("tracestate", "b=2"),
            ("baggage", "k=v"),
            ("x-tenant", "acme"),
        ] {
            headers.append(
                http::HeaderName::try_from(name).unwrap(),
                http::HeaderValue::from_static(value),
            );
        }
        for name in [
            "host",
            "user-agent",
            "content-length",
            "transfer-encoding",
            "traceparent",
            "tracestate",
            "baggage",
            "x-tenant",
        ] {
            assert_eq!(
                read_on_every_request(name).is_some(),
                name != "x-tenant",
                "{name}"
            );
            let parsed = headers.get(name).map(|value| value.to_str().unwrap());
            assert!(parsed.is_some(), "{name}");
            assert_eq!(headers.header(name), parsed, "{name}");
            // Upper case takes the parsing path and finds the same value.
            assert_eq!(headers.header(&name.to_uppercase()), parsed, "{name}");
        }
        for (index, name) in crate::header_names_read_on_every_request!(http::header)
            .iter()
            .enumerate()
        {
            assert_eq!(read_on_every_request_index(name.as_str()), Some(index));
        }
        let mut states = Vec::new();
        headers.header_values("tracestate", &mut |value| states.push(value));
        assert_eq!(states, [Some("a=1"), Some("b=2")]);
        assert_eq!(headers.header("b3"), None);
    }

    #[test]
    fn non_text_header_values_read_as_absent() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "traceparent",
            http::HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
        );
        assert_eq!(headers.header("traceparent"), None);
        assert_eq!(headers.header_names(), vec!["traceparent"]);
    }

    fn values<H: HeaderSource + ?Sized>(headers: &H, name: &str) -> Vec<Option<String>> {
        let mut values = Vec::new();
        headers.header_values(name, &mut |value| values.push(value.map(str::to_owned)));
        values
    }

    #[test]
    fn every_value_of_a_repeated_header_is_visited_in_order() {
        let mut map = http::HeaderMap::new();
        map.append("tracestate", http::HeaderValue::from_static("a=1"));
        map.append("host", http::HeaderValue::from_static("x"));
        map.append("tracestate", http::HeaderValue::from_static("b=2"));
        map.append(
            "tracestate",
            http::HeaderValue::from_bytes(b"\xff").unwrap(),
        );
        assert_eq!(
            values(&map, "tracestate"),
            [Some("a=1".into()), Some("b=2".into()), None]
        );
        assert_eq!(values(&map, "baggage"), []);

        let pairs: &[(&str, &str)] = &[("TraceState", "a=1"), ("host", "x"), ("tracestate", "b=2")];
        assert_eq!(
            values(pairs, "tracestate"),
            [Some("a=1".into()), Some("b=2".into())]
        );
        assert_eq!(values(&NoHeaders, "tracestate"), []);
    }

    /// A source written before `header_values` existed still works: it offers its first value.
    #[test]
    fn the_default_visits_the_first_value() {
        struct OneValue;
        impl HeaderSource for OneValue {
            fn header(&self, name: &str) -> Option<&str> {
                (name == "tracestate").then_some("a=1")
            }
            fn header_names(&self) -> Vec<&str> {
                vec!["tracestate"]
            }
        }
        assert_eq!(values(&OneValue, "tracestate"), [Some("a=1".into())]);
        assert_eq!(values(&OneValue, "baggage"), []);
    }
}
