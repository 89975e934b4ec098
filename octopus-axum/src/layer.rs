//! [`OctopusLayer`], [`OctopusService`] and [`ResponseFuture`]: the request seam as tower
//! middleware.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use axum::extract::MatchedPath;
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

impl<S, O, B, R> Service<http::Request<B>> for OctopusService<S, O>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    O: RequestObserver,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, O>;

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
            self.observer
                .observe(&RequestView::from_http(&request).with_route(route))
        };
        // A panicking handler is recorded (500, Error span) before the panic goes on, for
        // tower-http's `CatchPanicLayer` (or hyper) to answer.
        let inner = ObservedFuture::new(observed, self.inner.call(request), Axum, OnPanic::Resume);
        ResponseFuture { inner }
    }
}

/// How a tower service's output ends a request.
#[derive(Debug)]
struct Axum;

impl<R, E> Translate<Result<http::Response<R>, E>> for Axum {
    fn ended<'o>(
        &mut self,
        output: &'o mut Result<http::Response<R>, E>,
    ) -> (ResponseView<'o>, Option<impl HeaderSink + 'o>) {
        match output {
            Ok(response) => (
                ResponseView::new(response.status().as_u16()),
                Some(response.headers_mut()),
            ),
            // The service failed without a response; hyper answers 500.
            Err(_) => (ResponseView::failed(500, "service_error"), None),
        }
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

impl<F, O, R, E> Future for ResponseFuture<F, O>
where
    F: Future<Output = Result<http::Response<R>, E>>,
    O: RequestObserver,
{
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}
