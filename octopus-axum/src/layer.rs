//! [`OctopusLayer`], [`OctopusService`] and [`ResponseFuture`]: the request seam as tower
//! middleware.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use axum::BoxError;
use axum::body::{Body, Bytes};
use axum::extract::MatchedPath;
use octopus_core::body::{BodySizeRecorder, CountedBody, exact_size};
use octopus_core::{
    HeaderSink, ObservedFuture, Octopus, OnPanic, RequestObserver, RequestView, ResponseView,
    Translate,
};
use tower_layer::Layer;
use tower_service::Service;

/// A route template for services that are not axum routers (tonic, hand-routed hyper): insert
/// it into the request's extensions before [`OctopusService`] sees the request.
#[derive(Clone, Debug)]
pub struct RouteTemplate(pub Arc<str>);

/// Observes every request of the wrapped service with one observer: [`Octopus`], a stack of
/// observers (`(octopus, access_log)`), or `()` for none.
///
/// axum clones a route's service for every request, and the observer with it: an [`Octopus`]
/// costs one reference-count increment per request, a `&'static Octopus` nothing.
#[derive(Clone, Debug)]
pub struct OctopusLayer<O: RequestObserver = Octopus> {
    observer: O,
}

impl<O: RequestObserver + Clone> OctopusLayer<O> {
    /// A layer observing with `observer`.
    pub fn new(observer: O) -> Self {
        OctopusLayer { observer }
    }
}

impl<S, O: RequestObserver + Clone> Layer<S> for OctopusLayer<O> {
    type Service = OctopusService<S, O>;

    fn layer(&self, inner: S) -> Self::Service {
        OctopusService {
            inner,
            observer: self.observer.clone(),
        }
    }
}

/// The service [`OctopusLayer`] produces.
#[derive(Clone, Debug)]
pub struct OctopusService<S, O: RequestObserver = Octopus> {
    inner: S,
    observer: O,
}

/// Both bodies are axum's [`Body`]: the inner service receives `http::Request<Body>` (any axum
/// router does, and any service generic over its body) and the response body becomes a `Body`.
/// A body that already is one passes through as it is; only a body whose size is unknown
/// (chunked) and recorded (the `request_size` and `response_size` metrics) is wrapped in a
/// [`CountedBody`].
///
/// Why `Body` and not a wrapper type on every body: axum boxes any body that is not its own
/// (`Body::new`) on the way into a route and out of it, so a `CountedBody<B>` on every request
/// cost two allocations per request that axum skips for its own type (callgrind, the
/// `axum/octopus_noop` bench, 2026-11-30: 23 → 21 allocations per request, bare axum 19).
impl<S, O, B, R> Service<http::Request<B>> for OctopusService<S, O>
where
    S: Service<http::Request<Body>, Response = http::Response<R>>,
    O: RequestObserver,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    R: http_body::Body<Data = Bytes> + Send + 'static,
    R::Error: Into<BoxError>,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<IntoAxumBody<S::Future>, O>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let observed = {
            // Two extension lookups, skipped for an observer that does not read the route.
            let extensions = request.extensions();
            let route = if self.observer.uses_route() {
                extensions
                    .get::<MatchedPath>()
                    .map(MatchedPath::as_str)
                    .or_else(|| extensions.get::<RouteTemplate>().map(|t| &*t.0))
            } else {
                None
            };
            self.observer.observe(
                &RequestView::from_http(&request)
                    .with_route(route)
                    .with_body_size(exact_size(request.body())),
            )
        };
        let mut observed = observed;
        // A request body of unknown length is counted as the handler reads it, if recorded.
        let request = match observed.request_body_recorder() {
            Some(recorder) => request.map(|body| Body::new(CountedBody::new(body, Some(recorder)))),
            None => request.map(Body::new),
        };
        // A panicking handler is recorded (500, Error span) before the panic goes on, for
        // tower-http's `CatchPanicLayer` (or hyper) to answer.
        let future = IntoAxumBody {
            inner: self.inner.call(request),
        };
        let inner = ObservedFuture::new(observed, future, Axum, OnPanic::Resume);
        ResponseFuture { inner }
    }
}

/// How a tower service's output ends a request.
#[derive(Debug)]
struct Axum;

impl<E> Translate<Result<http::Response<Body>, E>> for Axum {
    fn ended<'o>(
        &mut self,
        output: &'o mut Result<http::Response<Body>, E>,
    ) -> (ResponseView<'o>, Option<impl HeaderSink + 'o>) {
        match output {
            Ok(response) => (
                ResponseView::new(response.status().as_u16())
                    .with_body_size(exact_size(response.body())),
                Some(response.headers_mut()),
            ),
            // The service failed without a response; hyper answers 500.
            Err(_) => (ResponseView::failed(500, "service_error"), None),
        }
    }

    fn count_response_body(
        &mut self,
        output: &mut Result<http::Response<Body>, E>,
        recorder: BodySizeRecorder,
    ) {
        if let Ok(response) = output {
            let body = std::mem::take(response.body_mut());
            *response.body_mut() = Body::new(CountedBody::new(body, Some(recorder)));
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's future, its response's body made an axum [`Body`] (the same body
    /// when it already is one).
    #[derive(Debug)]
    pub struct IntoAxumBody<F> {
        #[pin]
        inner: F,
    }
}

impl<F, R, E> Future for IntoAxumBody<F>
where
    F: Future<Output = Result<http::Response<R>, E>>,
    R: http_body::Body<Data = Bytes> + Send + 'static,
    R::Error: Into<BoxError>,
{
    type Output = Result<http::Response<Body>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let output = std::task::ready!(self.project().inner.poll(cx));
        Poll::Ready(output.map(|response| response.map(Body::new)))
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`OctopusService`]: runs the inner future with the request's
    /// trace context current and reports how the request ended — or, if dropped first, that it
    /// was cancelled.
    pub struct ResponseFuture<F: Future, O: RequestObserver> {
        #[pin]
        inner: ObservedFuture<F, O::Observation, Axum>,
    }
}

impl<F, O, E> Future for ResponseFuture<F, O>
where
    F: Future<Output = Result<http::Response<Body>, E>>,
    O: RequestObserver,
{
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}
