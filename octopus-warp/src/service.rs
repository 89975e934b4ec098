//! [`OctopusService`] and [`ResponseFuture`]: the request seam around a warp filter.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
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

use crate::route::RouteSlot;

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
        // The route is named during filtering, after the request started (see `route`), into
        // a slot in the request's extensions: allocations an observer that does not read the
        // route is spared (`route` filters then find no slot and do nothing).
        let mut observed = self
            .observer
            .observe(&RequestView::from_http(&request).with_body_size(exact_size(request.body())));
        // A request body of unknown length is counted as the filter reads it, if recorded.
        let recorder = observed.request_body_recorder();
        let mut request = request.map(|body| CountedBody::new(body, recorder));
        let slot = self.observer.uses_route().then(|| {
            let slot = RouteSlot::default();
            request.extensions_mut().insert(slot.clone());
            slot
        });
        // warp and hyper leave a panicking handler to unwind the connection's task: the client
        // would get no response at all. The panic is recorded and answered with a 500.
        let on_panic = OnPanic::Answer(|| Ok(StatusCode::INTERNAL_SERVER_ERROR.into_response()));
        let translate = Warp(slot.clone());
        let inner = ObservedFuture::new(observed, self.inner.call(request), translate, on_panic);
        ResponseFuture { inner, slot }
    }
}

/// How a filter's reply ends a request, and the route a [`route`](crate::route) filter named
/// (no slot when the observer does not read the route).
#[derive(Debug)]
struct Warp(Option<RouteSlot>);

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

    fn late_route(&mut self) -> Option<Arc<str>> {
        self.0.as_ref().and_then(RouteSlot::take)
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`OctopusService`]: polls the filter with the request's trace
    /// context current, turns a panic into a 500, and reports how the request ended — or, if
    /// dropped first, that it was cancelled.
    pub struct ResponseFuture<F: Future, O: RequestObserver> {
        #[pin]
        inner: ObservedFuture<F, O::Observation, Warp>,
        slot: Option<RouteSlot>,
    }

    impl<F: Future, O: RequestObserver> PinnedDrop for ResponseFuture<F, O> {
        // Dropped before the reply (client gone, timeout): the route a `route` filter named
        // must still reach the observation, or the cancelled span ends nameless.
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(observed) = this.inner.observed_mut()
                && let Some(route) = this.slot.as_ref().and_then(RouteSlot::take)
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
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}
