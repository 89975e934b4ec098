//! The `/metrics` endpoint: [`MetricsResponse`], what a scrape is answered, and the policy behind
//! it (the optional bearer token, the separate listener's routing).
//!
//! Which to use:
//! - **On the application's listener** (the default): simplest; fine when the service is only
//!   reachable from inside the cluster, where Prometheus runs.
//! - **A separate listener** (`metrics_address`, `OCTOPUS_METRICS_ADDR`): when the application's
//!   port is public (behind an ingress or a load balancer) and the metrics port should only be
//!   reachable from the private network; the ingress never routes to it.
//! - **A bearer token** (`metrics_bearer_token`, `OCTOPUS_METRICS_TOKEN`): when `/metrics` must be
//!   reachable over a network you do not control; Prometheus sends it with
//!   `authorization: { credentials: ... }` in its scrape config. Use TLS in front of it, or the
//!   token travels in clear. Both can be combined.
//!
//! The format is negotiated from `Accept`: OpenMetrics 1.0 when the scraper prefers it (every
//! Prometheus since 2.5 does, and only OpenMetrics carries exemplars), the Prometheus text
//! format 0.0.4 otherwise — including for an absent or unreadable header, so `curl` and older
//! scrapers see what they always saw.

use std::borrow::Cow;

use http::StatusCode;
use prometheus::Registry;

use crate::HeaderSource;
use crate::MetricsObserver;
use crate::config::Secret;
use crate::metrics::openmetrics;

/// `Content-Type` of the Prometheus text exposition format.
const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// `Content-Type` of the OpenMetrics 1.0 text format.
const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// `Content-Type` of the one-line reasons of refused requests.
const PLAIN_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// The answer to one scrape of the metrics endpoint, made by
/// [`Octopus::scrape`](crate::Octopus::scrape): the only way Octopus renders its metrics.
///
/// The exposition's format follows the request's `Accept` header: OpenMetrics 1.0
/// (`application/openmetrics-text; version=1.0.0; charset=utf-8`, ending in `# EOF`, with
/// exemplars) when the scraper prefers it, as Prometheus does; otherwise, and whenever `Accept`
/// is absent or unreadable, the Prometheus text format 0.0.4
/// (`text/plain; version=0.0.4; charset=utf-8`). `content_type` says which was chosen.
///
/// axum, warp, hyper and tower take it as an [`http::Response`] through its `From`
/// conversion, into any body type that can be made from a `Vec<u8>`; a framework with its own
/// response type copies the four fields over.
///
/// ```
/// use octopus_core::{NoHeaders, Octopus, RequestObserver, RequestView, ResponseView};
///
/// let octopus = Octopus::builder().service_name("users").build()?;
/// let view = RequestView::new("GET", "/users/7", &NoHeaders).with_route(Some("/users/{id}"));
/// octopus.observe(&view).finish(&ResponseView::new(200));
///
/// let scrape = octopus.scrape(&NoHeaders);
/// assert_eq!(scrape.status, http::StatusCode::OK);
/// assert!(scrape.text().contains("# TYPE http_server_requests_total counter"));
///
/// let response: http::Response<Vec<u8>> = scrape.into();
/// assert_eq!(
///     response.headers()["content-type"],
///     "text/plain; version=0.0.4; charset=utf-8"
/// );
///
/// // What Prometheus asks for:
/// let prometheus: &[(&str, &str)] = &[(
///     "accept",
///     "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
/// )];
/// let scrape = octopus.scrape(prometheus);
/// assert_eq!(
///     scrape.content_type,
///     "application/openmetrics-text; version=1.0.0; charset=utf-8"
/// );
/// assert!(scrape.text().contains("# TYPE http_server_requests counter"));
/// assert!(scrape.text().ends_with("# EOF\n"));
/// # octopus.shutdown().unwrap();
/// # Ok::<(), octopus_core::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsResponse {
    /// 200 with the exposition; 401 when a token is configured and the request does not carry
    /// it; 404 or 405 from the separate listener for requests that are not scrapes.
    pub status: StatusCode,
    /// The `Content-Type` header value.
    pub content_type: &'static str,
    /// The `WWW-Authenticate` header value of a 401.
    pub www_authenticate: Option<&'static str>,
    /// The body: the exposition, or a one-line reason.
    pub body: Vec<u8>,
}

impl MetricsResponse {
    /// Answers a scrape with these request headers: everything in `registry` in the format
    /// `Accept` prefers (OpenMetrics with the exemplars `exemplars` has, or the text format
    /// 0.0.4), or a 401 when `token` is set and the `Authorization` header is not
    /// `Bearer <token>`. The headers are taken whole so the token check and the negotiation
    /// live here and no adapter knows about either.
    pub(crate) fn scrape<H: HeaderSource + ?Sized>(
        registry: &Registry,
        token: Option<&Secret>,
        request_headers: &H,
        metrics: Option<&MetricsObserver>,
    ) -> Self {
        if let Some(token) = token
            && !bearer_matches(request_headers.header("authorization"), token.expose())
        {
            return MetricsResponse {
                www_authenticate: Some("Bearer realm=\"metrics\""),
                ..MetricsResponse::plain(StatusCode::UNAUTHORIZED, "a bearer token is required\n")
            };
        }
        // HTTP lets `Accept` come as several header lines, one list split over them.
        let mut accept = Vec::new();
        request_headers.header_values("accept", &mut |value| accept.extend(value));
        let (content_type, body) = match Format::negotiate(&accept) {
            Format::OpenMetrics => (
                OPENMETRICS_CONTENT_TYPE,
                // The metrics observer's registry is this one, with the exemplars beside it.
                match metrics {
                    Some(metrics) => metrics.encode_openmetrics(),
                    None => openmetrics::encode(&registry.gather(), &()),
                },
            ),
            Format::Text => (TEXT_CONTENT_TYPE, crate::metrics::encode_text(registry)),
        };
        MetricsResponse {
            status: StatusCode::OK,
            content_type,
            www_authenticate: None,
            body,
        }
    }

    /// A refusal with a one-line reason.
    fn plain(status: StatusCode, reason: &'static str) -> Self {
        MetricsResponse {
            status,
            content_type: PLAIN_CONTENT_TYPE,
            www_authenticate: None,
            body: reason.as_bytes().to_vec(),
        }
    }

    /// The body as text (the exposition format and the reasons are UTF-8).
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

impl<B: From<Vec<u8>>> From<MetricsResponse> for http::Response<B> {
    fn from(scrape: MetricsResponse) -> Self {
        let mut response = http::Response::new(B::from(scrape.body));
        *response.status_mut() = scrape.status;
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(scrape.content_type),
        );
        if let Some(challenge) = scrape.www_authenticate {
            headers.insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// What the separate metrics listener answers `request`: a scrape at the metrics path, 404
/// elsewhere, 405 for methods other than `GET` and `HEAD`.
#[cfg(feature = "metrics-server")]
pub(crate) fn answer_on_listener<B>(
    octopus: &crate::Octopus,
    request: &http::Request<B>,
) -> MetricsResponse {
    if request.uri().path() != octopus.metrics_path() {
        return MetricsResponse::plain(StatusCode::NOT_FOUND, "not found\n");
    }
    if request.method() != http::Method::GET && request.method() != http::Method::HEAD {
        return MetricsResponse::plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    octopus.scrape(request.headers())
}

/// An exposition format Octopus can answer a scrape in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// The Prometheus text format 0.0.4: the default, which every scraper reads.
    Text,
    /// OpenMetrics 1.0 text, the only one with exemplars.
    OpenMetrics,
}

impl Format {
    /// The format the values of the `Accept` header prefer (RFC 9110 §12.5.1), read as one
    /// comma-separated list as HTTP says repeated header lines are: each format takes the
    /// weight of the most specific media range that matches it (`application/openmetrics-text`
    /// with a version we speak over one without, over `application/*`, over `*/*`); the heavier
    /// wins, a tie goes to the range listed first, and `q=0` rules a format out. OpenMetrics
    /// matches with `version=1.0.0`, `0.0.1` (the same text, Prometheus's older name for it) or
    /// none; `text/plain` of any version means the 0.0.4 text, as a scraper listing it reads
    /// that too. Malformed ranges are skipped; an absent header, or one where nothing we speak
    /// is acceptable, gets the text format: a scrape is never refused for its `Accept`.
    fn negotiate(accept: &[&str]) -> Format {
        let mut best: [Option<Match>; 2] = [None, None];
        let ranges = accept.iter().flat_map(|value| value.split(','));
        for (position, range) in ranges.enumerate() {
            let Some(range) = MediaRange::parse(range) else {
                continue;
            };
            for (slot, format) in [Format::Text, Format::OpenMetrics].into_iter().enumerate() {
                let Some(specificity) = range.specificity_for(format) else {
                    continue;
                };
                let candidate = Match {
                    specificity,
                    q: range.q,
                    position,
                };
                if best[slot].is_none_or(|current| candidate.overrides(&current)) {
                    best[slot] = Some(candidate);
                }
            }
        }
        match best {
            [text, Some(open)] if open.q > 0 => match text {
                Some(text) if text.q > 0 && text.beats(&open) => Format::Text,
                _ => Format::OpenMetrics,
            },
            _ => Format::Text,
        }
    }
}

/// The media range that decides a format's weight, and where it stood.
#[derive(Clone, Copy, Debug)]
struct Match {
    /// 0 for `*/*`, 1 for `type/*`, 2 for the exact type, 3 for it with a version we speak.
    specificity: u8,
    /// The weight in thousandths (`q=0.75` is 750), so weights compare exactly.
    q: u16,
    /// The range's place in the header, for ties.
    position: usize,
}

impl Match {
    /// Whether this range, seen later in the header, decides the format instead of `current`:
    /// a more specific range always does; an equally specific one only with a higher weight.
    fn overrides(&self, current: &Match) -> bool {
        (self.specificity, self.q) > (current.specificity, current.q)
    }

    /// Whether the text format's match wins over OpenMetrics' `other`: a higher weight, or the
    /// same weight listed earlier — or the very same range (`*/*`), where the default wins.
    fn beats(&self, other: &Match) -> bool {
        self.q > other.q || (self.q == other.q && self.position <= other.position)
    }
}

/// One parsed media range of an `Accept` header.
#[derive(Debug)]
struct MediaRange<'a> {
    /// The type, `*` included, as written (compared case-insensitively).
    kind: &'a str,
    /// The subtype, `*` included, as written.
    subtype: &'a str,
    /// The `version` parameter, unquoted.
    version: Option<&'a str>,
    /// The weight in thousandths; 1000 without a `q`.
    q: u16,
}

impl<'a> MediaRange<'a> {
    /// `type/subtype;param=value;q=0.5`, with optional spaces around the separators; `None`
    /// for anything malformed, including a weight that is not a number from 0 to 1.
    fn parse(text: &'a str) -> Option<Self> {
        let mut parts = text.split(';');
        let (kind, subtype) = parts.next()?.trim().split_once('/')?;
        let (kind, subtype) = (kind.trim(), subtype.trim());
        if kind.is_empty() || subtype.is_empty() || (kind == "*" && subtype != "*") {
            return None;
        }
        let mut range = MediaRange {
            kind,
            subtype,
            version: None,
            q: 1000,
        };
        for parameter in parts {
            let parameter = parameter.trim();
            if parameter.is_empty() {
                continue;
            }
            let (name, value) = parameter.split_once('=')?;
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            match name.trim() {
                name if name.eq_ignore_ascii_case("q") => range.q = parse_weight(value)?,
                name if name.eq_ignore_ascii_case("version") => range.version = Some(value),
                _ => {}
            }
        }
        Some(range)
    }

    /// How specifically this range names `format`, or `None` when it does not match it.
    fn specificity_for(&self, format: Format) -> Option<u8> {
        let (kind, subtype) = match format {
            Format::Text => ("text", "plain"),
            Format::OpenMetrics => ("application", "openmetrics-text"),
        };
        if self.kind == "*" {
            return Some(0);
        }
        if !self.kind.eq_ignore_ascii_case(kind) {
            return None;
        }
        if self.subtype == "*" {
            return Some(1);
        }
        if !self.subtype.eq_ignore_ascii_case(subtype) {
            return None;
        }
        match (format, self.version) {
            (_, None) => Some(2),
            // Any text/plain version: the 0.0.4 text is what such a scraper falls back to.
            (Format::Text, Some(_)) => Some(3),
            (Format::OpenMetrics, Some("1.0.0" | "0.0.1")) => Some(3),
            // A version we do not speak.
            (Format::OpenMetrics, Some(_)) => None,
        }
    }
}

/// A `q` value (`0`, `0.5`, `1.000`: at most three decimals, RFC 9110 §12.4.2) in thousandths.
fn parse_weight(value: &str) -> Option<u16> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = match whole {
        "0" => fraction
            .bytes()
            .chain(std::iter::repeat(b'0'))
            .take(3)
            .fold(0u16, |sum, digit| sum * 10 + u16::from(digit - b'0')),
        "1" if fraction.bytes().all(|b| b == b'0') => 1000,
        _ => return None,
    };
    Some(thousandths)
}

/// `Authorization: Bearer <token>`, the scheme case-insensitive (RFC 9110), the token compared
/// in time independent of where it differs, so response timing does not leak it byte by byte.
fn bearer_matches(authorization: Option<&str>, token: &str) -> bool {
    let Some(value) = authorization else {
        return false;
    };
    let Some((scheme, credentials)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    let (given, expected) = (credentials.trim().as_bytes(), token.as_bytes());
    // Written out rather than pulled from a crate: one comparison of two short byte strings.
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_match_exactly() {
        assert!(bearer_matches(Some("Bearer abc"), "abc"));
        assert!(bearer_matches(Some("bearer  abc "), "abc"));
        assert!(!bearer_matches(Some("Bearer abd"), "abc"));
        assert!(!bearer_matches(Some("Bearer abcd"), "abc"));
        assert!(!bearer_matches(Some("Bearer ab"), "abc"));
        assert!(!bearer_matches(Some("Basic abc"), "abc"));
        assert!(!bearer_matches(Some("Bearer"), "abc"));
        assert!(!bearer_matches(Some("abc"), "abc"));
        assert!(!bearer_matches(None, "abc"));
    }

    /// What Prometheus 2.42 (Debian 12's) sends.
    const PROMETHEUS_2: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// What Prometheus 3 sends with its default scrape protocols.
    const PROMETHEUS_3: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

    fn negotiated(accept: &str) -> Format {
        Format::negotiate(&[accept])
    }

    #[test]
    fn prometheus_gets_openmetrics() {
        assert_eq!(negotiated(PROMETHEUS_2), Format::OpenMetrics);
        assert_eq!(negotiated(PROMETHEUS_3), Format::OpenMetrics);
        // Prometheus configured for the text format first (`scrape_protocols`).
        assert_eq!(
            negotiated(
                "text/plain;version=0.0.4;q=0.6,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1"
            ),
            Format::Text
        );
    }

    #[test]
    fn no_or_generic_accept_gets_the_text_format() {
        assert_eq!(Format::negotiate(&[]), Format::Text);
        for accept in [
            "",
            "*/*",
            "text/plain",
            "text/*",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "application/json",
        ] {
            assert_eq!(negotiated(accept), Format::Text, "{accept:?}");
        }
    }

    #[test]
    fn openmetrics_versions_we_speak_are_accepted() {
        for accept in [
            "application/openmetrics-text",
            "application/openmetrics-text; version=1.0.0",
            "application/openmetrics-text;version=0.0.1",
            "application/openmetrics-text; version=\"1.0.0\"; charset=utf-8",
            "APPLICATION/OpenMetrics-Text;Version=1.0.0",
            "application/*",
        ] {
            assert_eq!(negotiated(accept), Format::OpenMetrics, "{accept:?}");
        }
        // A version we do not speak matches nothing; `*/*` then means the text format.
        assert_eq!(
            negotiated("application/openmetrics-text;version=2.0.0,*/*;q=0.1"),
            Format::Text
        );
        assert_eq!(
            negotiated("application/openmetrics-text;version=2.0.0"),
            Format::Text
        );
    }

    #[test]
    fn weights_decide_and_ties_keep_the_order_given() {
        assert_eq!(
            negotiated("text/plain;q=0.5, application/openmetrics-text;q=0.9"),
            Format::OpenMetrics
        );
        assert_eq!(
            negotiated("text/plain;q=0.9, application/openmetrics-text;q=0.5"),
            Format::Text
        );
        assert_eq!(
            negotiated("text/plain, application/openmetrics-text"),
            Format::Text
        );
        assert_eq!(
            negotiated("application/openmetrics-text, text/plain"),
            Format::OpenMetrics
        );
        assert_eq!(
            negotiated("application/openmetrics-text;q=0.50, text/plain;q=0.5"),
            Format::OpenMetrics
        );
        // The most specific range decides a format's weight, wherever it stands.
        assert_eq!(
            negotiated("application/*;q=0.1, text/plain;q=0.5, application/openmetrics-text"),
            Format::OpenMetrics
        );
        assert_eq!(
            negotiated("application/openmetrics-text;q=0.2, application/*;q=0.9, text/plain;q=0.5"),
            Format::Text
        );
    }

    #[test]
    fn q_zero_rules_a_format_out() {
        assert_eq!(
            negotiated("application/openmetrics-text;q=0, */*"),
            Format::Text
        );
        assert_eq!(
            negotiated("text/plain;q=0, application/openmetrics-text;q=0.1"),
            Format::OpenMetrics
        );
        assert_eq!(negotiated("text/plain;q=0, */*;q=0.5"), Format::OpenMetrics);
        // Nothing acceptable: still a scrape, in the default format.
        assert_eq!(
            negotiated("application/openmetrics-text;q=0, text/plain;q=0.000"),
            Format::Text
        );
    }

    #[test]
    fn malformed_ranges_are_skipped_never_refused() {
        for accept in [
            "application/openmetrics-text;q=high",
            "application/openmetrics-text;q=1.5",
            "application/openmetrics-text;q=0.1234",
            "application/openmetrics-text;q=-1",
            "application/openmetrics-text;q",
            "openmetrics",
            "/openmetrics-text",
            "*/openmetrics-text",
            ",,;;,",
            "\u{0}\u{7f}",
        ] {
            assert_eq!(negotiated(accept), Format::Text, "{accept:?}");
        }
        // The ranges around a malformed one still count.
        assert_eq!(
            negotiated(
                "garbage, application/openmetrics-text;q=oops, application/openmetrics-text;q=0.8, text/plain;q=0.5"
            ),
            Format::OpenMetrics
        );
    }

    #[test]
    fn repeated_accept_lines_are_one_list() {
        let negotiated_from = |headers: &[(&str, &str)]| {
            MetricsResponse::scrape(&Registry::new(), None, headers, None).content_type
        };
        let split: &[(&str, &str)] = &[
            ("accept", "text/plain;q=0.5"),
            ("Accept", "application/openmetrics-text;q=0.9"),
        ];
        assert_eq!(negotiated_from(split), OPENMETRICS_CONTENT_TYPE);
        // The order across lines still breaks ties.
        let tied: &[(&str, &str)] = &[
            ("accept", "text/plain"),
            ("accept", "application/openmetrics-text"),
        ];
        assert_eq!(negotiated_from(tied), TEXT_CONTENT_TYPE);
    }

    #[test]
    fn weights_parse_to_thousandths() {
        assert_eq!(parse_weight("0"), Some(0));
        assert_eq!(parse_weight("0."), Some(0));
        assert_eq!(parse_weight("0.75"), Some(750));
        assert_eq!(parse_weight("0.001"), Some(1));
        assert_eq!(parse_weight("1"), Some(1000));
        assert_eq!(parse_weight("1.000"), Some(1000));
        assert_eq!(parse_weight("1.001"), None);
        assert_eq!(parse_weight(".5"), None);
        assert_eq!(parse_weight("0.5x"), None);
        assert_eq!(parse_weight(""), None);
    }

    #[test]
    fn the_scrape_answers_in_the_negotiated_format() {
        let registry = Registry::new();
        let counter = prometheus::IntCounter::new("jobs_total", "Jobs run.").unwrap();
        registry.register(Box::new(counter.clone())).unwrap();
        counter.inc();

        let text = MetricsResponse::scrape(&registry, None, &crate::NoHeaders, None);
        assert_eq!(text.content_type, TEXT_CONTENT_TYPE);
        assert_eq!(
            text.text(),
            "# HELP jobs_total Jobs run.\n# TYPE jobs_total counter\njobs_total 1\n"
        );

        let headers: &[(&str, &str)] = &[("Accept", PROMETHEUS_2)];
        let open = MetricsResponse::scrape(&registry, None, headers, None);
        assert_eq!(open.status, StatusCode::OK);
        assert_eq!(open.content_type, OPENMETRICS_CONTENT_TYPE);
        assert_eq!(
            open.text(),
            "# HELP jobs Jobs run.\n# TYPE jobs counter\njobs_total 1.0\n# EOF\n"
        );
        let response = http::Response::<Vec<u8>>::from(open);
        assert_eq!(
            response.headers()["content-type"],
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
    }

    #[test]
    fn a_refusal_becomes_an_http_response_with_its_challenge() {
        let registry = Registry::new();
        let token = Secret::new("s3cret");
        let refused = MetricsResponse::scrape(&registry, Some(&token), &crate::NoHeaders, None);
        let response = http::Response::<Vec<u8>>::from(refused);
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["content-type"], PLAIN_CONTENT_TYPE);
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"metrics\""
        );
        assert_eq!(response.body(), b"a bearer token is required\n");

        let headers: &[(&str, &str)] = &[("Authorization", "Bearer s3cret")];
        let served = http::Response::<Vec<u8>>::from(MetricsResponse::scrape(
            &registry,
            Some(&token),
            headers,
            None,
        ));
        assert_eq!(served.status(), StatusCode::OK);
        assert_eq!(served.headers()["content-type"], TEXT_CONTENT_TYPE);
        assert!(!served.headers().contains_key("www-authenticate"));
    }
}
