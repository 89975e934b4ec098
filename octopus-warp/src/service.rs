//! [`OctopusService`] and [`ResponseFuture`]: the request seam around a warp filter.

use std::convert::Infallible;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};

use octopus_core::{
    InContext, ObservedRequest, Octopus, RequestObserver, RequestView, ResponseView,
};
use tower_service::Service;
use warp::Reply as _;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::route::RouteSlot;

/// Observes every request of a warp filter with [`Octopus`] — and optionally with your own
/// observer `O`, stacked after it.
///
/// Wraps `warp::service(filter)`: make it with [`observe`](crate::observe) and serve it with
/// [`serve`](crate::serve) (or any hyper 1 server). Any tower service answering with a
/// `warp::reply::Response` works.
#[derive(Clone, Debug)]
pub struct OctopusService<S, O = ()> {
    inner: S,
    observer: Arc<(Octopus, O)>,
}

impl<S> OctopusService<S> {
    /// `inner` observed with `octopus`.
    pub fn new(octopus: Octopus, inner: S) -> Self {
        OctopusService {
            inner,
            observer: Arc::new((octopus, ())),
        }
    }
}

impl<S, O: RequestObserver> OctopusService<S, O> {
    /// `inner` observed with `octopus`, then with `observer`.
    pub fn with_observer(octopus: Octopus, observer: O, inner: S) -> Self {
        OctopusService {
            inner,
            observer: Arc::new((octopus, observer)),
        }
    }
}

type Observation<O> = <Arc<(Octopus, O)> as RequestObserver>::Observation;

impl<S, O, B> Service<http::Request<B>> for OctopusService<S, O>
where
    S: Service<http::Request<B>, Response = Response, Error = Infallible>,
    O: RequestObserver,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ResponseFuture<S::Future, O>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The route is named during filtering, after the request started (see `route`).
        let observed = self.observer.observe(&RequestView::from_http(&request));
        let slot = RouteSlot::default();
        request.extensions_mut().insert(slot.clone());
        ResponseFuture {
            inner: observed.in_context(self.inner.call(request)),
            observed: Some(observed),
            slot,
            octopus: self.observer.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`OctopusService`]: polls the filter with the request's trace
    /// context current, turns a panic into a 500, and reports how the request ended — or, if
    /// dropped first, that it was cancelled.
    pub struct ResponseFuture<F, O: RequestObserver> {
        #[pin]
        inner: InContext<F>,
        observed: Option<ObservedRequest<Observation<O>>>,
        slot: RouteSlot,
        octopus: Arc<(Octopus, O)>,
    }

    impl<F, O: RequestObserver> PinnedDrop for ResponseFuture<F, O> {
        // Dropped before the reply (client gone, timeout): the route a `route` filter named
        // must still reach the observation, or the cancelled span ends nameless.
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(observed) = this.observed.as_mut()
                && let Some(route) = this.slot.take()
            {
                observed.set_route(&route);
            }
        }
    }
}

impl<F, O> Future for ResponseFuture<F, O>
where
    F: Future<Output = Result<Response, Infallible>>,
    O: RequestObserver,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        // warp and hyper leave a panicking handler to unwind the connection's task: the client
        // would get no response at all. The panic is recorded and answered with a 500; the
        // filter's future is not polled again.
        let (mut response, ended) = match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(poll) => {
                let Ok(response) = ready!(poll);
                let status = response.status().as_u16();
                (response, ResponseView::new(status))
            }
            Err(_panic) => (
                StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                ResponseView::panicked(),
            ),
        };
        if let Some(mut observed) = this.observed.take() {
            if let Some(route) = this.slot.take() {
                observed.set_route(&route);
            }
            this.octopus
                .0
                .inject_response_headers(observed.context(), response.headers_mut());
            observed.finish(&ended);
        }
        Poll::Ready(Ok(response))
    }
}
