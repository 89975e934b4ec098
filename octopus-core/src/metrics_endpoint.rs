//! The `/metrics` endpoint's policy: the optional bearer token, and the optional separate
//! listener ([`Octopus::serve_metrics`]).
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

use crate::{MetricsExposition, Octopus};

/// The answer to one scrape of `/metrics`: what an adapter writes back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsResponse {
    /// 200, or 401 when a token is configured and the request does not carry it.
    pub status: u16,
    /// The `Content-Type` header value.
    pub content_type: &'static str,
    /// The `WWW-Authenticate` header value of a 401.
    pub www_authenticate: Option<&'static str>,
    /// The body: the exposition, or a one-line reason.
    pub body: Vec<u8>,
}

impl From<MetricsExposition> for MetricsResponse {
    fn from(exposition: MetricsExposition) -> Self {
        MetricsResponse {
            status: 200,
            content_type: exposition.content_type,
            www_authenticate: None,
            body: exposition.body,
        }
    }
}

impl Octopus {
    /// Answers a scrape whose `Authorization` header is `authorization`: the exposition, or a
    /// 401 when `metrics_bearer_token` is set and the header is not `Bearer <that token>`.
    ///
    /// ```
    /// use octopus_core::Octopus;
    ///
    /// let octopus = Octopus::builder().metrics_bearer_token("s3cret").build()?;
    /// assert_eq!(octopus.scrape_metrics(None).status, 401);
    /// assert_eq!(octopus.scrape_metrics(Some("Bearer wrong")).status, 401);
    /// assert_eq!(octopus.scrape_metrics(Some("Bearer s3cret")).status, 200);
    /// # Ok::<(), octopus_core::ConfigError>(())
    /// ```
    pub fn scrape_metrics(&self, authorization: Option<&str>) -> MetricsResponse {
        if let Some(token) = &self.config().metrics_bearer_token
            && !bearer_matches(authorization, token.expose())
        {
            return MetricsResponse {
                status: 401,
                content_type: "text/plain; charset=utf-8",
                www_authenticate: Some("Bearer realm=\"metrics\""),
                body: b"a bearer token is required\n".to_vec(),
            };
        }
        self.render_metrics().into()
    }

    /// Whether adapters mount `/metrics` on the application's own routes: not when a separate
    /// `metrics_address` is configured (then [`serve_metrics`](Octopus::serve_metrics) serves
    /// it, and the application's port answers 404 there).
    pub fn metrics_on_app(&self) -> bool {
        self.config().metrics_address.is_none()
    }
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

#[cfg(feature = "metrics-server")]
mod server {
    use std::convert::Infallible;
    use std::future::Future;

    use bytes::Bytes;
    use http_body_util::Full;
    use tokio::net::TcpListener;

    use crate::Octopus;
    use crate::serve::ServeOptions;

    impl Octopus {
        /// Serves `GET {metrics_path}` on the configured `metrics_address` until `shutdown`
        /// resolves; returns at once when no separate address is configured (so it can be
        /// spawned unconditionally). Fails if the address cannot be bound.
        ///
        /// ```no_run
        /// # async fn run() -> std::io::Result<()> {
        /// let octopus = octopus_core::Octopus::builder().metrics_address("0.0.0.0:9464").build().unwrap();
        /// tokio::spawn({
        ///     let octopus = octopus.clone();
        ///     async move { octopus.serve_metrics(std::future::pending()).await }
        /// });
        /// # Ok(()) }
        /// ```
        pub async fn serve_metrics(
            &self,
            shutdown: impl Future<Output = ()>,
        ) -> std::io::Result<()> {
            let Some(address) = &self.config().metrics_address else {
                return Ok(());
            };
            let listener = TcpListener::bind(address.trim()).await?;
            self.serve_metrics_on(listener, shutdown).await
        }

        /// Serves `GET {metrics_path}` on `listener` (any other request: 404, 405) until
        /// `shutdown` resolves, then finishes the scrapes in progress; with the default
        /// [`ServeOptions`].
        pub async fn serve_metrics_on(
            &self,
            listener: TcpListener,
            shutdown: impl Future<Output = ()>,
        ) -> std::io::Result<()> {
            self.serve_metrics_with(listener, &ServeOptions::default(), shutdown)
                .await
        }

        /// [`serve_metrics_on`](Octopus::serve_metrics_on) with `options` (a shorter header
        /// read timeout, say).
        pub async fn serve_metrics_with(
            &self,
            listener: TcpListener,
            options: &ServeOptions,
            shutdown: impl Future<Output = ()>,
        ) -> std::io::Result<()> {
            let octopus = self.clone();
            let handler = move |request: http::Request<hyper::body::Incoming>| {
                let response = octopus.answer_metrics_request(&request);
                async move { Ok::<_, Infallible>(response) }
            };
            let name = "octopus: metrics listener";
            crate::serve::serve(name, listener, handler, options, shutdown).await
        }

        fn answer_metrics_request<B>(
            &self,
            request: &http::Request<B>,
        ) -> http::Response<Full<Bytes>> {
            let plain = |status: u16, body: &'static str| {
                let mut response =
                    http::Response::new(Full::new(Bytes::from_static(body.as_bytes())));
                *response.status_mut() =
                    http::StatusCode::from_u16(status).expect("a valid status");
                response
            };
            if request.uri().path() != self.metrics_path() {
                return plain(404, "not found\n");
            }
            if request.method() != http::Method::GET && request.method() != http::Method::HEAD {
                return plain(405, "method not allowed\n");
            }
            let authorization = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok());
            let scrape = self.scrape_metrics(authorization);
            let mut response = http::Response::new(Full::new(Bytes::from(scrape.body)));
            *response.status_mut() =
                http::StatusCode::from_u16(scrape.status).expect("a valid status");
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
}

#[cfg(test)]
mod tests {
    use super::bearer_matches;

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
}
