//! The traced HTTP client — the original `traced_requests` — on `reqwest-middleware`
//! (cargo feature `client`).
//!
//! [`TracingMiddleware`] gives every outgoing request a client span, child of the current
//! context (or of a [`ParentContext`] put in the request's extensions, for code that has no
//! current context, such as rocket handlers), and injects the trace headers of every configured
//! propagator — the same [`HeaderCodec`] the server side reads. It composes with other
//! middleware: put it *inside* a retry middleware and every attempt on the wire is its own span,
//! with `http.request.resend_count` on retries. [`TracedClient`] is the ready-made client with
//! `get`/`post`/`put`/`patch`/`delete`/`head`.
//!
//! Errors and timeouts reach the caller unchanged; they are also recorded on the span. A call
//! whose future is dropped before it returns (the caller stopped waiting) ends its span with
//! `error.type=cancelled` and `octopus.cancelled=true`, status unset. `url.full` carries no
//! secrets: credentials and the values of [`SENSITIVE_QUERY_KEYS`] are `REDACTED`. Ending
//! a span only hands it to the batch queue: a call never waits on the exporter.
//!
//! ```no_run
//! # async fn call(octopus: octopus_core::Octopus) -> Result<(), reqwest_middleware::Error> {
//! let client = octopus.traced_client();
//! // Inside a handler, the request's context is current: the call joins its trace.
//! let response = client.get("http://users:8080/users/42").send().await?;
//! # Ok(()) }
//! ```

use std::borrow::Cow;

use http::Extensions;
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracer;
use reqwest_middleware::{ClientWithMiddleware, Middleware, Next, RequestBuilder};

use crate::HttpMethod;
use crate::propagation::HeaderCodec;
use crate::trace::CANCELLED_ATTRIBUTE;

pub use crate::trace::ParentContext;

/// How many times this request was sent before, across retry middleware.
#[derive(Clone, Copy, Debug)]
struct SendCount(u32);

/// `reqwest-middleware` middleware: one client span per attempt, trace headers injected.
#[derive(Clone, Debug)]
pub struct TracingMiddleware {
    tracer: Option<SdkTracer>,
    codec: HeaderCodec,
}

impl TracingMiddleware {
    /// Middleware starting spans with `tracer` (none: headers are still injected from the
    /// parent context) and writing headers with `codec`.
    pub fn new(tracer: Option<SdkTracer>, codec: HeaderCodec) -> Self {
        TracingMiddleware { tracer, codec }
    }
}

/// The query parameters whose values the OpenTelemetry HTTP conventions name as sensitive
/// (signed-URL signatures and access key ids), redacted from `url.full`.
pub const SENSITIVE_QUERY_KEYS: [&str; 4] =
    ["AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature"];

/// `url.full` without credentials, as the OpenTelemetry conventions ask: the user name and
/// password become `REDACTED`, and so do the values of [`SENSITIVE_QUERY_KEYS`]; everything
/// else is kept exactly as sent.
fn redacted(url: &reqwest::Url) -> String {
    let query = url.query().and_then(redacted_query);
    if url.username().is_empty() && url.password().is_none() && query.is_none() {
        return url.as_str().to_owned();
    }
    let mut url = url.clone();
    if !url.username().is_empty() {
        // Only URLs that cannot have credentials refuse these, and those have none.
        let _ = url.set_username("REDACTED");
    }
    if url.password().is_some() {
        let _ = url.set_password(Some("REDACTED"));
    }
    if let Some(query) = query {
        url.set_query(Some(&query));
    }
    url.into()
}

/// The query with the values of sensitive keys replaced, or `None` when it has none. Works on
/// the query as sent: re-encoding it through a parser would change the other parameters.
fn redacted_query(query: &str) -> Option<String> {
    let sensitive = |pair: &str| {
        let key = pair.split_once('=').map_or(pair, |(key, _)| key);
        // Keys are compared decoded, so `X%2DGoog-Signature` is caught too.
        let key = percent_encoding::percent_decode_str(key).decode_utf8_lossy();
        SENSITIVE_QUERY_KEYS.contains(&key.as_ref())
    };
    if !query.split('&').any(sensitive) {
        return None;
    }
    let pairs: Vec<Cow<'_, str>> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if sensitive(pair) => format!("{key}=REDACTED").into(),
            _ => pair.into(),
        })
        .collect();
    Some(pairs.join("&"))
}

/// The `error.type` of a failed call: what kind of failure, in a low-cardinality word.
fn error_type(error: &reqwest_middleware::Error) -> &'static str {
    match error {
        reqwest_middleware::Error::Middleware(_) => "middleware",
        reqwest_middleware::Error::Reqwest(e) if e.is_timeout() => "timeout",
        reqwest_middleware::Error::Reqwest(e) if e.is_connect() => "connect",
        reqwest_middleware::Error::Reqwest(e) if e.is_redirect() => "redirect",
        reqwest_middleware::Error::Reqwest(e) if e.is_body() => "body",
        reqwest_middleware::Error::Reqwest(e) if e.is_decode() => "decode",
        reqwest_middleware::Error::Reqwest(e) if e.is_request() => "request",
        reqwest_middleware::Error::Reqwest(_) => "_OTHER",
    }
}

/// The request attributes of the OpenTelemetry HTTP client conventions.
fn span_attributes(
    span: &mut opentelemetry_sdk::trace::Span,
    request: &reqwest::Request,
    method: HttpMethod,
    resend: u32,
) {
    let url = request.url();
    let mut attributes = vec![
        KeyValue::new("http.request.method", method.as_str()),
        KeyValue::new("url.full", redacted(url)),
    ];
    if method == HttpMethod::Other {
        attributes.push(KeyValue::new(
            "http.request.method_original",
            request.method().as_str().to_owned(),
        ));
    }
    if let Some(host) = url.host_str() {
        attributes.push(KeyValue::new("server.address", host.to_owned()));
    }
    if let Some(port) = url.port_or_known_default() {
        attributes.push(KeyValue::new("server.port", i64::from(port)));
    }
    if resend > 0 {
        attributes.push(KeyValue::new(
            "http.request.resend_count",
            i64::from(resend),
        ));
    }
    span.set_attributes(attributes);
}

#[async_trait::async_trait]
impl Middleware for TracingMiddleware {
    async fn handle(
        &self,
        mut request: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let parent = match extensions.get::<ParentContext>() {
            Some(ParentContext(context)) => context.clone(),
            None => Context::current(),
        };
        let resend = extensions.get::<SendCount>().map_or(0, |count| count.0);
        extensions.insert(SendCount(resend + 1));

        let Some(tracer) = &self.tracer else {
            self.codec.inject(&parent, request.headers_mut());
            return next.run(request, extensions).await;
        };
        let method = HttpMethod::parse(request.method().as_str());
        let name: Cow<'static, str> = match method {
            HttpMethod::Other => "HTTP".into(),
            known => known.as_str().into(),
        };
        // Attributes only for a sampled span: an unsampled call should not pay for them.
        let mut span = tracer
            .span_builder(name)
            .with_kind(SpanKind::Client)
            .start_with_context(tracer, &parent);
        if span.is_recording() {
            span_attributes(&mut span, &request, method, resend);
        }
        let context = parent.with_span(span);
        self.codec.inject(&context, request.headers_mut());

        // Ends the span if this future is dropped before the call returns (the caller stopped
        // waiting: a timeout around the call, a `select!` that went another way).
        let in_flight = EndIfCancelled(Some(&context));
        let result = next.run(request, extensions).await;
        in_flight.disarm();
        let span = context.span();
        match &result {
            Ok(response) => {
                let status = response.status().as_u16();
                span.set_attribute(KeyValue::new(
                    "http.response.status_code",
                    i64::from(status),
                ));
                if status >= 400 {
                    span.set_attribute(KeyValue::new("error.type", status.to_string()));
                    span.set_status(Status::error(""));
                }
            }
            Err(error) => {
                span.set_attribute(KeyValue::new("error.type", error_type(error)));
                span.set_status(Status::error(error.to_string()));
            }
        }
        span.end();
        result
    }
}

/// Ends a client span with `error.type=cancelled` when dropped armed. A cancelled call is not
/// an error (the status stays unset), but its span must end and be findable, as a server
/// span's is ([`CANCELLED_ATTRIBUTE`]).
struct EndIfCancelled<'a>(Option<&'a Context>);

impl EndIfCancelled<'_> {
    /// The call returned: its outcome ends the span.
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for EndIfCancelled<'_> {
    fn drop(&mut self) {
        if let Some(context) = self.0.take() {
            let span = context.span();
            span.set_attribute(KeyValue::new("error.type", "cancelled"));
            span.set_attribute(KeyValue::new(CANCELLED_ATTRIBUTE, true));
            span.end();
        }
    }
}

/// A ready client: reqwest with [`TracingMiddleware`], and the original library's verbs.
#[derive(Clone, Debug)]
pub struct TracedClient {
    client: ClientWithMiddleware,
}

impl TracedClient {
    /// Wraps `client` (configure timeouts, TLS, pools on it) with `middleware`.
    pub fn new(client: reqwest::Client, middleware: TracingMiddleware) -> Self {
        TracedClient {
            client: reqwest_middleware::ClientBuilder::new(client)
                .with(middleware)
                .build(),
        }
    }

    /// The underlying client with middleware, for anything the verbs do not cover.
    pub fn inner(&self) -> &ClientWithMiddleware {
        &self.client
    }

    /// A request with any method.
    pub fn request(&self, method: reqwest::Method, url: impl reqwest::IntoUrl) -> RequestBuilder {
        self.client.request(method, url)
    }

    /// `GET url`.
    pub fn get(&self, url: impl reqwest::IntoUrl) -> RequestBuilder {
        self.client.get(url)
    }

    /// `POST url`.
    pub fn post(&self, url: impl reqwest::IntoUrl) -> RequestBuilder {
        self.client.post(url)
    }

    /// `PUT url`.
    pub fn put(&self, url: impl reqwest::IntoUrl) -> RequestBuilder {
        self.client.put(url)
    }

    /// `PATCH url`.
    pub fn patch(&self, url: impl reqwest::IntoUrl) -> RequestBuilder {
        self.client.patch(url)
    }

    /// `DELETE url`.
    pub fn delete(&self, url: impl reqwest::IntoUrl) -> RequestBuilder {
        self.client.delete(url)
    }

    /// `HEAD url`.
    pub fn head(&self, url: impl reqwest::IntoUrl) -> RequestBuilder {
        self.client.head(url)
    }
}

impl crate::Octopus {
    /// The middleware for your own `reqwest-middleware` stack: spans from this instance's
    /// tracer, headers of its propagators.
    pub fn client_middleware(&self) -> TracingMiddleware {
        let tracer = self.tracer_provider().map(|provider| {
            opentelemetry::trace::TracerProvider::tracer_with_scope(
                provider,
                opentelemetry::InstrumentationScope::builder("octopus-client")
                    .with_version(env!("CARGO_PKG_VERSION"))
                    .build(),
            )
        });
        TracingMiddleware::new(tracer, self.codec().clone())
    }

    /// A [`TracedClient`] on a default `reqwest::Client`.
    pub fn traced_client(&self) -> TracedClient {
        TracedClient::new(reqwest::Client::new(), self.client_middleware())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted() {
        let url = reqwest::Url::parse("https://alice:secret@api.example.com/x?q=1").unwrap();
        assert_eq!(
            redacted(&url),
            "https://REDACTED:REDACTED@api.example.com/x?q=1"
        );
        let url = reqwest::Url::parse("http://bob@h/").unwrap();
        assert_eq!(redacted(&url), "http://REDACTED@h/");
        let url = reqwest::Url::parse("http://h:81/p").unwrap();
        assert_eq!(redacted(&url), "http://h:81/p");
    }

    #[test]
    fn sensitive_query_values_are_redacted_and_the_rest_kept_as_sent() {
        let redact = |url: &str| redacted(&reqwest::Url::parse(url).unwrap());
        assert_eq!(
            redact("https://h/o?X-Goog-Signature=abc&x=1"),
            "https://h/o?X-Goog-Signature=REDACTED&x=1"
        );
        assert_eq!(
            redact("https://s3/k?AWSAccessKeyId=AKIA&Expires=1&Signature=s%2Fg%3D&q=a+b%20c"),
            "https://s3/k?AWSAccessKeyId=REDACTED&Expires=1&Signature=REDACTED&q=a+b%20c"
        );
        assert_eq!(
            redact("https://u:p@h/blob?sv=1&sig=xyz#frag"),
            "https://REDACTED:REDACTED@h/blob?sv=1&sig=REDACTED#frag"
        );
        // Keys are compared decoded; a key without a value has nothing to hide.
        assert_eq!(
            redact("http://h/?X%2DGoog-Signature=1"),
            "http://h/?X%2DGoog-Signature=REDACTED"
        );
        assert_eq!(redact("http://h/?sig&x=1"), "http://h/?sig&x=1");
        // Names are exact: other casings and look-alikes are kept.
        assert_eq!(
            redact("http://h/?signature=1&SIG=2&sig_x=3&a=sig"),
            "http://h/?signature=1&SIG=2&sig_x=3&a=sig"
        );
        assert_eq!(redact("http://h/p?"), "http://h/p?");
    }
}
