//! The framework-neutral view of an incoming request.
//!
//! An adapter builds a [`RequestView`] from its framework's request type — borrowing, never
//! copying — and hands it to a [`RequestObserver`](crate::RequestObserver). Everything the core
//! needs to decide span names, attributes and metric labels is here, and nothing more.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::HeaderSource;

/// The most distinct route templates Octopus keeps: span names are made once per template (for
/// the process) and metric series resolved once per template (for each metrics observer).
/// Route templates are the application's routes, a small fixed set; a caller passing raw paths
/// as templates would otherwise grow both without bound. Past the cap, requests with a new
/// template are named and counted under [`OVERFLOW_ROUTE`], and stderr says so once.
pub const MAX_ROUTE_TEMPLATES: usize = 4_096;

/// The route of requests whose template came after [`MAX_ROUTE_TEMPLATES`] others: their
/// `http.route` attribute and `http_route` label value, and their span name (`GET _overflow`).
/// Not a path, so no real template is ever confused with it.
pub const OVERFLOW_ROUTE: &str = "_overflow";

/// `template` as a `&'static str`, made once per template for the process: the table that
/// span names come from (each template is leaked once, like a `tracing` callsite), capped at
/// [`MAX_ROUTE_TEMPLATES`] — past the cap, [`OVERFLOW_ROUTE`].
///
/// For adapters whose framework names routes while the handler runs (octopus-warp's `route`
/// filter, which interns its name when the filter is built): a `&'static str` is handed to
/// each request by copying a pointer, where an `Arc<str>` clone is an atomic increment on a
/// reference count every worker thread writes. Not for per-request input: every distinct
/// template costs memory for the life of the process.
#[doc(hidden)]
pub fn intern_route(template: &str) -> &'static str {
    crate::trace::route_names(template).route
}

/// Says once per process, on stderr, that route templates went past the cap.
pub(crate) fn report_route_overflow() {
    static REPORTED: AtomicBool = AtomicBool::new(false);
    if !REPORTED.load(Ordering::Relaxed) && !REPORTED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "octopus: more than {MAX_ROUTE_TEMPLATES} distinct route templates; requests with \
             further ones are named and counted as route \"{OVERFLOW_ROUTE}\" (route \
             templates must be patterns such as /users/{{id}}, never raw paths)"
        );
    }
}

/// An HTTP request method as the OpenTelemetry HTTP conventions classify it.
///
/// The nine methods of RFC 9110 and RFC 5789 are known; anything else (including lower-case
/// spellings: methods are case-sensitive) is [`HttpMethod::Other`], reported as `_OTHER`, so a
/// client cannot create new metric series by inventing methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HttpMethod {
    /// `CONNECT`
    Connect,
    /// `DELETE`
    Delete,
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `OPTIONS`
    Options,
    /// `PATCH`
    Patch,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `TRACE`
    Trace,
    /// Any other method, reported as `_OTHER`.
    Other,
}

impl HttpMethod {
    /// Every variant, in index order.
    pub const ALL: [HttpMethod; 10] = [
        HttpMethod::Connect,
        HttpMethod::Delete,
        HttpMethod::Get,
        HttpMethod::Head,
        HttpMethod::Options,
        HttpMethod::Patch,
        HttpMethod::Post,
        HttpMethod::Put,
        HttpMethod::Trace,
        HttpMethod::Other,
    ];

    /// Classifies a method as sent on the wire.
    ///
    /// ```
    /// use octopus_core::HttpMethod;
    /// assert_eq!(HttpMethod::parse("GET"), HttpMethod::Get);
    /// assert_eq!(HttpMethod::parse("get"), HttpMethod::Other);
    /// assert_eq!(HttpMethod::parse("PURGE").as_str(), "_OTHER");
    /// ```
    pub fn parse(method: &str) -> Self {
        match method {
            "GET" => HttpMethod::Get,
            "POST" => HttpMethod::Post,
            "PUT" => HttpMethod::Put,
            "DELETE" => HttpMethod::Delete,
            "HEAD" => HttpMethod::Head,
            "PATCH" => HttpMethod::Patch,
            "OPTIONS" => HttpMethod::Options,
            "CONNECT" => HttpMethod::Connect,
            "TRACE" => HttpMethod::Trace,
            _ => HttpMethod::Other,
        }
    }

    /// The value for `http.request.method` and the `http_request_method` label.
    pub const fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Connect => "CONNECT",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Get => "GET",
            HttpMethod::Head => "HEAD",
            HttpMethod::Options => "OPTIONS",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Trace => "TRACE",
            HttpMethod::Other => "_OTHER",
        }
    }

    /// Position in [`HttpMethod::ALL`]; lets per-method state live in a fixed array.
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// What the core sees of an incoming request.
///
/// Everything is borrowed from the framework's request, so building a view costs nothing but
/// the method classification.
///
/// ```
/// use octopus_core::{HttpMethod, RequestView};
///
/// let headers: &[(&str, &str)] = &[("host", "api.example.com")];
/// let view = RequestView::new("GET", "/users/42", headers)
///     .with_route(Some("/users/{id}"))
///     .with_scheme(Some("https"))
///     .with_host(Some("api.example.com"))
///     .with_protocol_version(Some("1.1"));
/// assert_eq!(view.method(), HttpMethod::Get);
/// assert_eq!(view.route(), Some("/users/{id}"));
/// ```
#[derive(Debug)]
pub struct RequestView<'a, H: ?Sized> {
    method: HttpMethod,
    method_original: &'a str,
    route: Option<&'a str>,
    path: &'a str,
    scheme: Option<&'a str>,
    host: Option<&'a str>,
    protocol_version: Option<&'a str>,
    received_at: Option<Instant>,
    body_size: Option<u64>,
    http1: bool,
    headers: &'a H,
}

impl<'a, H: HeaderSource + ?Sized> RequestView<'a, H> {
    /// A view of a request with this method (as sent), path (without the query) and headers.
    pub fn new(method: &'a str, path: &'a str, headers: &'a H) -> Self {
        RequestView {
            method: HttpMethod::parse(method),
            method_original: method,
            route: None,
            path,
            scheme: None,
            host: None,
            protocol_version: None,
            received_at: None,
            body_size: None,
            http1: false,
            headers,
        }
    }

    /// The matched route template (`/users/{id}`), if the framework matched one.
    ///
    /// Requests without a template share one metric label value, never their raw path. At most
    /// [`MAX_ROUTE_TEMPLATES`] distinct templates are kept; later ones share
    /// [`OVERFLOW_ROUTE`].
    pub fn with_route(mut self, route: Option<&'a str>) -> Self {
        self.route = route;
        self
    }

    /// `http` or `https`.
    pub fn with_scheme(mut self, scheme: Option<&'a str>) -> Self {
        self.scheme = scheme;
        self
    }

    /// The `Host` header or URI authority: a host name, optionally with `:port`.
    pub fn with_host(mut self, host: Option<&'a str>) -> Self {
        self.host = host;
        self
    }

    /// The HTTP version as OpenTelemetry writes it: `1.0`, `1.1`, `2`, `3`.
    pub fn with_protocol_version(mut self, version: Option<&'a str>) -> Self {
        self.protocol_version = version;
        self
    }

    /// When the framework received the request, if it is earlier than now (the start of
    /// the measured latency and of the span; default: the moment the observer starts, read on
    /// the CPU's time-stamp counter where it is invariant, else the monotonic clock). A request given its start is ended with
    /// `Instant::now()` unless given its end too, so its latency is on the caller's clock.
    pub fn with_received_at(mut self, received_at: Option<Instant>) -> Self {
        self.received_at = received_at;
        self
    }

    /// The request body's length in bytes, when the framework knows it before the body is read:
    /// its `Content-Length`, or 0 for a request that has no body. Without it,
    /// [`body_size`](Self::body_size) reads the `Content-Length` header. An adapter that cannot
    /// tell leaves it unset, and counts the body as it streams when an observation asks for it
    /// ([`ObservedRequest::request_body_recorder`](crate::ObservedRequest::request_body_recorder)).
    pub fn with_body_size(mut self, size: Option<u64>) -> Self {
        self.body_size = size;
        self
    }

    /// The request came over HTTP/1.x, whose framing gives a body's size from its headers, though
    /// the adapter does not know the minor version (rocket, say): [`body_size`](Self::body_size)
    /// then reads it as for a known `1.0` or `1.1`. Costs nothing until a body size is asked for;
    /// an adapter that would read the headers itself with
    /// [`http1_request_size`](crate::body::http1_request_size) pays two header lookups on every
    /// request, also when no observer wants the size.
    pub fn with_http1_framing(mut self) -> Self {
        self.http1 = true;
        self
    }

    /// The request body's size in bytes, if known before the body is read: the one set with
    /// [`with_body_size`](Self::with_body_size), else the `Content-Length` header (when it is a
    /// number), else, for HTTP/1.x (version `1.0` or `1.1`, or
    /// [`with_http1_framing`](Self::with_http1_framing)), 0 without a `Transfer-Encoding`
    /// ([`http1_request_size`](crate::body::http1_request_size)). Looked up only when asked (by
    /// the body size metric, or a sampled span).
    pub fn body_size(&self) -> Option<u64> {
        self.body_size.or_else(|| match self.protocol_version {
            Some("1.0" | "1.1") => crate::body::http1_request_size(self.headers),
            _ if self.http1 => crate::body::http1_request_size(self.headers),
            _ => self
                .headers
                .header("content-length")
                .and_then(|length| length.trim().parse().ok()),
        })
    }

    /// The classified method.
    pub fn method(&self) -> HttpMethod {
        self.method
    }

    /// The method exactly as sent (for `http.request.method_original`).
    pub fn method_original(&self) -> &'a str {
        self.method_original
    }

    /// The matched route template, if any.
    pub fn route(&self) -> Option<&'a str> {
        self.route
    }

    /// The raw request path.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The URL scheme, if known.
    pub fn scheme(&self) -> Option<&'a str> {
        self.scheme
    }

    /// The host (and optional port): the one set with [`with_host`](Self::with_host), else the
    /// `Host` header, without any `user:password@` (an absolute-form request target,
    /// `GET http://user:pw@host:8080/x`, carries one in its authority). Looked up only when
    /// asked (by the tracing observer when the span is sampled), so metrics-only requests never
    /// pay for the header lookup.
    pub fn host(&self) -> Option<&'a str> {
        self.host
            .or_else(|| self.headers.header("host"))
            .map(without_userinfo)
    }

    /// The protocol version, if known.
    pub fn protocol_version(&self) -> Option<&'a str> {
        self.protocol_version
    }

    /// When the request was received, if the adapter said.
    pub fn received_at(&self) -> Option<Instant> {
        self.received_at
    }

    /// The request headers.
    pub fn headers(&self) -> &'a H {
        self.headers
    }

    /// The `User-Agent` header.
    pub fn user_agent(&self) -> Option<&'a str> {
        self.headers.header("user-agent")
    }

    /// The same view with `headers` (this view's, behind `dyn`) as its headers: what label
    /// functions are given, whatever the adapter's header type.
    pub(crate) fn with_erased_headers<'b>(
        &self,
        headers: &'b (dyn HeaderSource + 'b),
    ) -> RequestView<'b, dyn HeaderSource + 'b>
    where
        'a: 'b,
    {
        RequestView {
            method: self.method,
            method_original: self.method_original,
            route: self.route,
            path: self.path,
            scheme: self.scheme,
            host: self.host,
            protocol_version: self.protocol_version,
            received_at: self.received_at,
            body_size: self.body_size,
            http1: self.http1,
            headers,
        }
    }
}

impl<'a> RequestView<'a, http::HeaderMap> {
    /// A view of an [`http::Request`] (hyper 1, axum, warp, tower): method, path, scheme and
    /// authority from the URI (host falling back to the `Host` header), version and headers.
    /// The route is left unset; the adapter adds it with [`with_route`](Self::with_route).
    pub fn from_http<B>(request: &'a http::Request<B>) -> Self {
        let uri = request.uri();
        RequestView::new(request.method().as_str(), uri.path(), request.headers())
            .with_scheme(uri.scheme_str())
            .with_host(uri.authority().map(http::uri::Authority::as_str))
            .with_protocol_version(protocol_version(request.version()))
    }
}

/// `host[:port]` of an authority: what follows the last `@` (the user name and password
/// precede it; `@` cannot appear in a host).
fn without_userinfo(authority: &str) -> &str {
    // Eight bytes a step (see `ByteScan`): `rsplit_once` goes through `memrchr`, 110
    // instructions a call for what is a few bytes here, and a byte loop took 115 for the
    // benchmarks' `127.0.0.1:10999`, this 52 (callgrind, `core/tracing`, 2026-12-01).
    match ByteScan::of(authority.as_bytes(), b'@').last {
        Some(at) => &authority[at + 1..],
        None => authority,
    }
}

/// Where one byte value occurs in a short text (a `Host` value), found eight bytes a step.
///
/// Why by hand: the standard library's `memchr`/`memrchr` cost about 110 instructions a call
/// before they look at the first byte, and a byte loop about 7 a byte; a host is 10–30 bytes,
/// read twice on every sampled request (for a `user:password@` and for the port's colon).
/// Words of eight bytes compared at once, without a copy of a length known only at run time
/// (a `memcpy` call) and without counting bits (no `popcnt` in the baseline x86-64 target):
/// the two scans of `127.0.0.1:10999` (with its port's digits) 283 → 217 instructions,
/// `core/tracing` 3 628 → 3 568 a request (callgrind, 2026-12-01).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ByteScan {
    /// The index of its last occurrence.
    pub(crate) last: Option<usize>,
    /// It occurs more than once.
    pub(crate) several: bool,
}

impl ByteScan {
    /// Scans `bytes` for `needle`.
    #[inline(always)]
    pub(crate) fn of(bytes: &[u8], needle: u8) -> ByteScan {
        let mut scan = ByteScan {
            last: None,
            several: false,
        };
        let n = bytes.len();
        if n >= 8 {
            let mut words = bytes.chunks_exact(8);
            let mut offset = 0;
            for word in &mut words {
                scan.add(offset, word_at(word, 0), needle, u64::MAX);
                offset += 8;
            }
            let tail = words.remainder().len();
            if tail > 0 {
                // The last eight bytes, the ones scanned already masked off: no copy of a
                // length known only now (a `memcpy` call).
                scan.add(
                    n - 8,
                    word_at(bytes, n - 8),
                    needle,
                    u64::MAX << (8 * (8 - tail)),
                );
            }
        } else if n > 0 {
            // Shorter than a word: two overlapping loads fill its low `n` bytes (the overlap
            // holds the same bytes twice, at the same places), the rest are masked off.
            let word = if n >= 4 {
                u64::from(u32_at(bytes, 0)) | (u64::from(u32_at(bytes, n - 4)) << (8 * (n - 4)))
            } else if n >= 2 {
                u64::from(u16_at(bytes, 0)) | (u64::from(u16_at(bytes, n - 2)) << (8 * (n - 2)))
            } else {
                u64::from(bytes[0])
            };
            scan.add(0, word, needle, (1 << (8 * n)) - 1);
        }
        scan
    }

    /// Notes the bytes of `word` (little-endian: byte `i` at bits `8 i..8 i + 8`) equal to
    /// `needle`, among those whose bits `valid` has all set; the word starts at index `offset`.
    #[inline]
    fn add(&mut self, offset: usize, word: u64, needle: u8, valid: u64) {
        const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
        // Zero exactly in the bytes equal to `needle`.
        let x = word ^ (u64::from(needle) * 0x0101_0101_0101_0101);
        // The high bit of each byte of `x` that is zero, and of no other: adding 0x7f to the
        // low seven bits carries into the high bit unless they are all zero, and `x`'s own high
        // bit is or-ed in; no carry crosses a byte (the sum of two 7-bit values fits in 8).
        let found = !(((x & LOW7) + LOW7) | x | LOW7) & valid;
        if found != 0 {
            // More than one bit in this word, or one after an earlier word's.
            self.several |= self.last.is_some() || found & (found - 1) != 0;
            self.last = Some(offset + (63 - found.leading_zeros() as usize) / 8);
        }
    }
}

/// The eight bytes of `bytes` from `at`, little-endian.
#[inline]
fn word_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
}

/// The four bytes of `bytes` from `at`, little-endian.
#[inline]
fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

/// The two bytes of `bytes` from `at`, little-endian.
#[inline]
fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(bytes[at..at + 2].try_into().expect("two bytes"))
}

/// The OpenTelemetry spelling of an [`http::Version`] (`network.protocol.version`).
fn protocol_version(version: http::Version) -> Option<&'static str> {
    match version {
        http::Version::HTTP_09 => Some("0.9"),
        http::Version::HTTP_10 => Some("1.0"),
        http::Version::HTTP_11 => Some("1.1"),
        http::Version::HTTP_2 => Some("2"),
        http::Version::HTTP_3 => Some("3"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoHeaders;

    /// The scan's last index, and whether there are several, are a byte loop's: for every text
    /// of up to 9 bytes (a word and a tail) over an alphabet of bytes with the high bit set and
    /// not (where a carry between bytes would show), each of them the needle; and for a long
    /// text at every alignment.
    #[test]
    fn a_byte_scan_finds_what_a_byte_loop_finds() {
        fn by_loop(bytes: &[u8], needle: u8) -> ByteScan {
            ByteScan {
                last: bytes.iter().rposition(|&b| b == needle),
                several: bytes.iter().filter(|&&b| b == needle).count() > 1,
            }
        }
        let alphabet = [b':', 0x00, 0x80, 0xff];
        let mut text = Vec::new();
        let mut checked = 0;
        for len in 0..=9u32 {
            for mut code in 0..(alphabet.len() as u64).pow(len) {
                text.clear();
                for _ in 0..len {
                    text.push(alphabet[(code % alphabet.len() as u64) as usize]);
                    code /= alphabet.len() as u64;
                }
                for needle in [b':', 0x00, 0x80, 0xff] {
                    assert_eq!(
                        ByteScan::of(&text, needle),
                        by_loop(&text, needle),
                        "{text:?}"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(
            checked,
            4 * (4u32.pow(10) - 1) / 3,
            "every text, every needle"
        );
        let long: Vec<u8> = (0..300u32).map(|i| (i * 37 % 251) as u8).collect();
        for start in 0..16 {
            for needle in [0u8, 58, 64, 250] {
                let text = &long[start..];
                assert_eq!(ByteScan::of(text, needle), by_loop(text, needle));
            }
        }
        assert_eq!(
            ByteScan::of(b"user:pw@host:8080", b'@'),
            ByteScan {
                last: Some(7),
                several: false
            }
        );
    }

    /// The userinfo of an authority goes, up to its last `@`, wherever that falls in the words
    /// the scan reads.
    #[test]
    fn userinfo_is_cut_at_the_last_at_sign() {
        assert_eq!(without_userinfo("example.com:80"), "example.com:80");
        assert_eq!(without_userinfo("u:p@example.com:80"), "example.com:80");
        assert_eq!(without_userinfo("a@b@c"), "c");
        assert_eq!(without_userinfo("@"), "");
        assert_eq!(
            without_userinfo("a-long-user-name:a-long-password@host"),
            "host"
        );
    }

    #[test]
    fn http1_framing_gives_the_body_size_from_the_headers_as_a_known_version_does() {
        let get: &[(&str, &str)] = &[("host", "x")];
        let post: &[(&str, &str)] = &[("content-length", " 12 ")];
        let chunked: &[(&str, &str)] = &[("transfer-encoding", "chunked")];
        for headers in [get, post, chunked] {
            let framed = RequestView::new("GET", "/", headers).with_http1_framing();
            let known = RequestView::new("GET", "/", headers).with_protocol_version(Some("1.1"));
            assert_eq!(framed.body_size(), known.body_size());
            // The version stays unknown: nothing is claimed about the minor version.
            assert_eq!(framed.protocol_version(), None);
        }
        let framed = |headers| RequestView::new("GET", "/", headers).with_http1_framing();
        assert_eq!(framed(get).body_size(), Some(0));
        assert_eq!(framed(post).body_size(), Some(12));
        assert_eq!(framed(chunked).body_size(), None);
        // Without it and without a version, a request without `Content-Length` has no size.
        assert_eq!(RequestView::new("GET", "/", get).body_size(), None);
        // A size the adapter knows wins.
        assert_eq!(framed(post).with_body_size(Some(3)).body_size(), Some(3));
    }

    #[test]
    fn the_host_leaves_out_a_user_name_and_password() {
        let host = |value: &'static str| {
            RequestView::new("GET", "/", &NoHeaders)
                .with_host(Some(value))
                .host()
        };
        assert_eq!(host("user:pw@example.com:8080"), Some("example.com:8080"));
        assert_eq!(host("a@b@example.com"), Some("example.com"));
        assert_eq!(host("@example.com"), Some("example.com"));
        assert_eq!(host("example.com"), Some("example.com"));
        let headers: &[(&str, &str)] = &[("Host", "user@[::1]:10999")];
        assert_eq!(
            RequestView::new("GET", "/", headers).host(),
            Some("[::1]:10999")
        );
    }

    #[test]
    fn methods_round_trip_and_unknown_is_other() {
        for method in HttpMethod::ALL {
            assert_eq!(HttpMethod::ALL[method.index()], method);
            if method != HttpMethod::Other {
                assert_eq!(HttpMethod::parse(method.as_str()), method);
            }
        }
        assert_eq!(HttpMethod::parse("BREW"), HttpMethod::Other);
        assert_eq!(HttpMethod::parse(""), HttpMethod::Other);
        assert_eq!(HttpMethod::parse("Get"), HttpMethod::Other);
    }

    #[test]
    fn view_from_http_request() {
        let request = http::Request::builder()
            .method("PATCH")
            .uri("https://api.example.com:8443/users/42?x=1")
            .version(http::Version::HTTP_2)
            .header("user-agent", "test/1")
            .body(())
            .unwrap();
        let view = RequestView::from_http(&request).with_route(Some("/users/{id}"));
        assert_eq!(view.method(), HttpMethod::Patch);
        assert_eq!(view.path(), "/users/42");
        assert_eq!(view.scheme(), Some("https"));
        assert_eq!(view.host(), Some("api.example.com:8443"));
        assert_eq!(view.protocol_version(), Some("2"));
        assert_eq!(view.user_agent(), Some("test/1"));
        assert_eq!(view.route(), Some("/users/{id}"));
    }

    #[test]
    fn credentials_of_an_absolute_form_target_are_not_part_of_the_host() {
        let request = http::Request::builder()
            .uri("http://user:pw@host:8080/x")
            .body(())
            .unwrap();
        let view = RequestView::from_http(&request);
        assert_eq!(view.host(), Some("host:8080"));
        assert_eq!(view.path(), "/x");
        let headers: &[(&str, &str)] = &[("host", "a@b:c@[::1]:81")];
        assert_eq!(
            RequestView::new("GET", "/", headers).host(),
            Some("[::1]:81")
        );
        let view = RequestView::new("GET", "/", &NoHeaders).with_host(Some("alice@h"));
        assert_eq!(view.host(), Some("h"));
    }

    #[test]
    fn host_falls_back_to_host_header() {
        let request = http::Request::builder()
            .uri("/x")
            .header("Host", "localhost:10999")
            .body(())
            .unwrap();
        let view = RequestView::from_http(&request);
        assert_eq!(view.host(), Some("localhost:10999"));
        assert_eq!(view.scheme(), None);
        assert_eq!(view.protocol_version(), Some("1.1"));
    }
}
