//! [`OctopusService`] and [`ResponseFuture`]: the request seam around a warp filter.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use octopus_core::body::{BodySizeRecorder, CountedBody, exact_size};
use octopus_core::{
    HeaderSink, ObservedFuture, Octopus, OnPanic, RequestObserver, RequestView, ResponseView,
    Translate,
};
use tower_service::Service;
use warp::Reply as _;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::route;

/// Observes every request of a warp filter with one observer: [`Octopus`], a stack of
/// observers (`(octopus, access_log)`), or `()` for none.
///
/// Wraps `warp::service(filter)`: make it with [`observe`](crate::observe) and serve it with
/// [`serve`](crate::serve) (or any hyper 1 server). Any tower service answering with a
/// `warp::reply::Response` works. Servers clone the service for every request, and the
/// observer with it: an [`Octopus`] costs one reference-count increment per request, a
/// `&'static Octopus` nothing.
#[derive(Clone, Debug)]
pub struct OctopusService<S, O: RequestObserver = Octopus> {
    inner: S,
    observer: O,
}

impl<S, O: RequestObserver> OctopusService<S, O> {
    /// `inner` observed with `observer`.
    pub fn new(observer: O, inner: S) -> Self {
        OctopusService { inner, observer }
    }
}

/// The request body is wrapped in a [`CountedBody`], which counts it only when its size is
/// unknown (chunked) and the observer records it (the `request_size` metric); otherwise it
/// passes frames through. `warp::service(filter)` takes any body.
impl<S, O, B> Service<http::Request<B>> for OctopusService<S, O>
where
    S: Service<http::Request<CountedBody<B>>, Response = Response, Error = Infallible>,
    O: RequestObserver,
    B: http_body::Body,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ResponseFuture<S::Future, O>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let mut observed = self
            .observer
            .observe(&RequestView::from_http(&request).with_body_size(exact_size(request.body())));
        // A request body of unknown length is counted as the filter reads it, if recorded.
        let recorder = observed.request_body_recorder();
        let request = request.map(|body| CountedBody::new(body, recorder));
        // warp and hyper leave a panicking handler to unwind the connection's task: the client
        // would get no response at all. The panic is recorded and answered with a 500.
        let on_panic = OnPanic::Answer(|| Ok(StatusCode::INTERNAL_SERVER_ERROR.into_response()));
        // The route is named during filtering, after the request started, into the thread's
        // route slot, around every poll of the filter's future (see `route`). warp's own
        // service starts filtering only when polled, but the call is scoped too: a service
        // that filters as it is called names this request's route, not the thread's.
        let mut route = None;
        let future = route::scoped(&mut route, || self.inner.call(request));
        let reads_route = self.observer.uses_route();
        let inner = ObservedFuture::new(observed, future, Warp { reads_route }, on_panic);
        ResponseFuture {
            inner,
            route,
            reads_route,
        }
    }
}

/// How a filter's reply ends a request, and the route a [`route`](crate::route) filter named,
/// if the observer reads it.
#[derive(Debug)]
struct Warp {
    reads_route: bool,
}

impl Translate<Result<Response, Infallible>> for Warp {
    fn ended<'o>(
        &mut self,
        output: &'o mut Result<Response, Infallible>,
    ) -> (ResponseView<'o>, Option<impl HeaderSink + 'o>) {
        let response = match output {
            Ok(response) => response,
            Err(never) => match *never {},
        };
        (
            ResponseView::new(response.status().as_u16())
                .with_body_size(exact_size(response.body())),
            Some(response.headers_mut()),
        )
    }

    /// warp's body type cannot be named from outside warp: the streamed body is counted, then
    /// served again as a stream (its data frames; trailers, which warp's own bodies never
    /// have, would be lost).
    fn count_response_body(
        &mut self,
        output: &mut Result<Response, Infallible>,
        recorder: BodySizeRecorder,
    ) {
        let response = match output {
            Ok(response) => response,
            Err(never) => match *never {},
        };
        let body = std::mem::take(response.body_mut());
        let counted = CountedBody::new(body, Some(recorder));
        let stream = http_body_util::BodyDataStream::new(counted);
        *response.body_mut() = warp::reply::stream(stream).into_response().into_body();
    }

    /// Asked by `ObservedFuture::poll` right after the filter's future was ready (or
    /// panicked) in that same poll, which `ResponseFuture::poll` runs inside its request's
    /// route scope: the thread's current route is this request's.
    #[inline]
    fn late_route(&mut self) -> Option<&str> {
        if self.reads_route {
            route::current()
        } else {
            None
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`OctopusService`]: polls the filter with the request's trace
    /// context current, turns a panic into a 500, and reports how the request ended — or, if
    /// dropped first, that it was cancelled.
    pub struct ResponseFuture<F: Future, O: RequestObserver> {
        #[pin]
        inner: ObservedFuture<F, O::Observation, Warp>,
        // The route the filter named so far, between polls (see `route::scoped`).
        route: Option<&'static str>,
        reads_route: bool,
    }

    impl<F: Future, O: RequestObserver> PinnedDrop for ResponseFuture<F, O> {
        // Dropped before the reply (client gone, timeout): the route a `route` filter named
        // must still reach the observation, or the cancelled span ends nameless.
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if *this.reads_route
                && let Some(route) = *this.route
                && let Some(observed) = this.inner.observed_mut()
            {
                observed.set_route(route);
            }
        }
    }
}

impl<F, O> Future for ResponseFuture<F, O>
where
    F: Future<Output = Result<Response, Infallible>>,
    O: RequestObserver,
{
    type Output = F::Output;

    /// Polls with this request's route current on the thread: the filter's `route` filters
    /// write it, the observed future reads it when the reply is ready (or the filter
    /// panicked), and it is taken back afterwards for the next poll or the drop.
    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        route::scoped(this.route, || inner.poll(cx))
    }
}
