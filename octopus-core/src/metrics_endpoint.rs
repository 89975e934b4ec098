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

use std::borrow::Cow;

use http::StatusCode;
use prometheus::Registry;

use crate::HeaderSource;
use crate::config::Secret;

/// `Content-Type` of the Prometheus text exposition format.
const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// `Content-Type` of the one-line reasons of refused requests.
const PLAIN_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// The answer to one scrape of the metrics endpoint, made by
/// [`Octopus::scrape`](crate::Octopus::scrape): the only way Octopus renders its metrics.
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
    /// Answers a scrape with these request headers: everything in `registry` in the text
    /// exposition format, or a 401 when `token` is set and the `Authorization` header is not
    /// `Bearer <token>`. The headers are taken whole so content negotiation (`Accept`) can
    /// join the token check here without changing any adapter.
    pub(crate) fn scrape<H: HeaderSource + ?Sized>(
        registry: &Registry,
        token: Option<&Secret>,
        request_headers: &H,
    ) -> Self {
        if let Some(token) = token
            && !bearer_matches(request_headers.header("authorization"), token.expose())
        {
            return MetricsResponse {
                www_authenticate: Some("Bearer realm=\"metrics\""),
                ..MetricsResponse::plain(StatusCode::UNAUTHORIZED, "a bearer token is required\n")
            };
        }
        MetricsResponse {
            status: StatusCode::OK,
            content_type: TEXT_CONTENT_TYPE,
            www_authenticate: None,
            body: crate::metrics::encode_text(registry),
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

    #[test]
    fn a_refusal_becomes_an_http_response_with_its_challenge() {
        let registry = Registry::new();
        let token = Secret::new("s3cret");
        let refused = MetricsResponse::scrape(&registry, Some(&token), &crate::NoHeaders);
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
        ));
        assert_eq!(served.status(), StatusCode::OK);
        assert_eq!(served.headers()["content-type"], TEXT_CONTENT_TYPE);
        assert!(!served.headers().contains_key("www-authenticate"));
    }
}
