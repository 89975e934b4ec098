//! [`OctopusLayer`], [`OctopusService`] and [`ResponseFuture`]: the request seam as tower
//! middleware.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};

use axum::extract::MatchedPath;
use octopus_core::{
    InContext, ObservedRequest, Octopus, RequestObserver, RequestView, ResponseView,
};
use tower_layer::Layer;
use tower_service::Service;

/// A route template for services that are not axum routers (tonic, hand-routed hyper): insert
/// it into the request's extensions before [`OctopusService`] sees the request.
#[derive(Clone, Debug)]
pub struct RouteTemplate(pub Arc<str>);

/// Observes every request of the wrapped service with [`Octopus`] — and optionally with your
/// own observer `O`, stacked after it (an access log, say).
#[derive(Clone, Debug)]
pub struct OctopusLayer<O = ()> {
    observer: Arc<(Octopus, O)>,
}

impl OctopusLayer {
    /// A layer observing with `octopus`.
    pub fn new(octopus: Octopus) -> Self {
        OctopusLayer {
            observer: Arc::new((octopus, ())),
        }
    }
}

impl<O: RequestObserver> OctopusLayer<O> {
    /// A layer observing with `octopus`, then with `observer`.
    pub fn with_observer(octopus: Octopus, observer: O) -> Self {
        OctopusLayer {
            observer: Arc::new((octopus, observer)),
        }
    }
}

impl<S, O> Layer<S> for OctopusLayer<O> {
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
pub struct OctopusService<S, O = ()> {
    inner: S,
    observer: Arc<(Octopus, O)>,
}

type Observation<O> = <Arc<(Octopus, O)> as RequestObserver>::Observation;

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
            let extensions = request.extensions();
            let route = extensions
                .get::<MatchedPath>()
                .map(MatchedPath::as_str)
                .or_else(|| extensions.get::<RouteTemplate>().map(|t| &*t.0));
            self.observer
                .observe(&RequestView::from_http(&request).with_route(route))
        };
        ResponseFuture {
            inner: observed.in_context(self.inner.call(request)),
            observed: Some(observed),
            octopus: self.observer.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`OctopusService`]: runs the inner future with the request's
    /// trace context current and reports how the request ended — or, if dropped first, that it
    /// was cancelled.
    pub struct ResponseFuture<F, O: RequestObserver> {
        #[pin]
        inner: InContext<F>,
        observed: Option<ObservedRequest<Observation<O>>>,
        octopus: Arc<(Octopus, O)>,
    }
}

impl<F, O, R, E> Future for ResponseFuture<F, O>
where
    F: Future<Output = Result<http::Response<R>, E>>,
    O: RequestObserver,
{
    type Output = Result<http::Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        // A panicking handler is recorded (500, Error span) before the panic goes on.
        let result = match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(poll) => ready!(poll),
            Err(panic) => {
                if let Some(observed) = this.observed.take() {
                    observed.finish(&ResponseView::panicked());
                }
                resume_unwind(panic)
            }
        };
        if let Some(observed) = this.observed.take() {
            match &result {
                Ok(response) => {
                    let mut response_headers = http::HeaderMap::new();
                    this.octopus
                        .0
                        .inject_response_headers(observed.context(), &mut response_headers);
                    observed.finish(&ResponseView::new(response.status().as_u16()));
                    if !response_headers.is_empty() {
                        return Poll::Ready(result.map(|mut response| {
                            response.headers_mut().extend(response_headers);
                            response
                        }));
                    }
                }
                // The service failed without a response; hyper answers 500.
                Err(_) => observed.finish(&ResponseView::failed(500, "service_error")),
            }
        }
        Poll::Ready(result)
    }
}
