//! [`OctopusMiddleware`], [`OctopusMiddlewareService`] and [`ResponseFuture`]: the request seam
//! as actix-web middleware.

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::Version;
use actix_web::{Error, HttpMessage as _};
use octopus_core::{
    HeaderSink, ObservedFuture, Octopus, OnPanic, RequestObserver, RequestView, ResponseView,
    Translate,
};

use crate::ActixHeaders;
use crate::body::{CountedMessageBody, counted_payload, known_size};
use crate::route_cache::RouteCache;
use octopus_core::body::BodySizeRecorder;

/// Observes every request of the wrapped app (or scope, or resource) with one observer:
/// [`Octopus`], a stack of observers (`(octopus, access_log)`), or `()` for none. Use it with
/// `App::wrap`.
///
/// actix-web makes the wrapped service once per worker: the observer is cloned then, never per
/// request.
#[derive(Clone, Debug)]
pub struct OctopusMiddleware<O: RequestObserver = Octopus> {
    observer: O,
}

impl<O: RequestObserver + Clone> OctopusMiddleware<O> {
    /// Middleware observing with `observer`.
    pub fn new(observer: O) -> Self {
        OctopusMiddleware { observer }
    }
}

impl<S, B, O> Transform<S, ServiceRequest> for OctopusMiddleware<O>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
    O: RequestObserver + Clone,
{
    type Response = ServiceResponse<CountedMessageBody<B>>;
    type Error = Error;
    type Transform = OctopusMiddlewareService<S, O>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(OctopusMiddlewareService {
            service,
            observer: self.observer.clone(),
            routes: RouteCache::new(),
        }))
    }
}

/// The service [`OctopusMiddleware`] produces, one per worker.
#[derive(Debug)]
pub struct OctopusMiddlewareService<S, O: RequestObserver = Octopus> {
    service: S,
    observer: O,
    routes: RouteCache,
}

impl<S, B, O> Service<ServiceRequest> for OctopusMiddlewareService<S, O>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
    O: RequestObserver,
{
    /// The body is wrapped to be counted when its size is unknown (a stream) and the
    /// `response_size` metric is on; otherwise it passes through.
    type Response = ServiceResponse<CountedMessageBody<B>>;
    type Error = Error;
    type Future = ResponseFuture<CountResponse<S::Future>, O>;

    forward_ready!(service);

    fn call(&self, mut request: ServiceRequest) -> Self::Future {
        // A request without a body has no payload at all; one with a length says so in
        // `Content-Length`, which the core reads.
        let payload = request.take_payload();
        let empty = matches!(payload, Payload::None);
        let observe = |route: Option<&str>| {
            let headers = ActixHeaders(request.headers());
            let host = request
                .uri()
                .authority()
                .map(|authority| authority.as_str());
            let scheme = if request.app_config().secure() {
                "https"
            } else {
                "http"
            };
            self.observer.observe(
                &RequestView::new(request.method().as_str(), request.path(), &headers)
                    .with_route(route)
                    .with_scheme(Some(scheme))
                    .with_host(host)
                    .with_protocol_version(protocol_version(request.version()))
                    .with_body_size(empty.then_some(0)),
            )
        };
        // App-level middleware runs before routing: the route template is the app's resource
        // map matched against the path, remembered per worker (see `RouteCache` for why and
        // what it costs). An observer that does not read the route (`()`, an Octopus with no
        // metrics and no tracing) does not pay for it.
        let mut observed = if self.observer.uses_route() {
            self.routes
                .with_route(request.path(), || request.match_pattern(), observe)
        } else {
            observe(None)
        };
        // A chunked request body is counted as the handler reads it, if recorded.
        let payload = match observed.request_body_recorder() {
            Some(recorder) => counted_payload(payload, recorder),
            None => payload,
        };
        request.set_payload(payload);
        // actix-web does not catch handler panics: the worker would go down with every
        // connection it serves. The panic is recorded and answered as a 500 instead.
        let on_panic = OnPanic::Answer(|| {
            Err(actix_web::error::ErrorInternalServerError(
                "the handler panicked",
            ))
        });
        let future = CountResponse {
            inner: self.service.call(request),
        };
        let inner = ObservedFuture::new(observed, future, Actix, on_panic);
        ResponseFuture { inner }
    }
}

/// `network.protocol.version` for actix's (`http` 0.2) version type.
fn protocol_version(version: Version) -> Option<&'static str> {
    match version {
        Version::HTTP_09 => Some("0.9"),
        Version::HTTP_10 => Some("1.0"),
        Version::HTTP_11 => Some("1.1"),
        Version::HTTP_2 => Some("2"),
        Version::HTTP_3 => Some("3"),
        _ => None,
    }
}

/// How an actix-web service's output ends a request.
#[derive(Debug)]
struct Actix;

impl<B: MessageBody> Translate<Result<ServiceResponse<CountedMessageBody<B>>, Error>> for Actix {
    fn ended<'o>(
        &mut self,
        output: &'o mut Result<ServiceResponse<CountedMessageBody<B>>, Error>,
    ) -> (ResponseView<'o>, Option<impl HeaderSink + 'o>) {
        match output {
            Ok(response) => (
                ResponseView::new(response.status().as_u16())
                    .with_body_size(known_size(response.response().body().size())),
                Some(ActixHeaders(response.headers_mut())),
            ),
            // An error no inner layer turned into a response: actix renders it later with the
            // error's own status.
            Err(error) => {
                let status = error.as_response_error().status_code().as_u16();
                (ResponseView::failed(status, "service_error"), None)
            }
        }
    }

    fn count_response_body(
        &mut self,
        output: &mut Result<ServiceResponse<CountedMessageBody<B>>, Error>,
        recorder: BodySizeRecorder,
    ) {
        if output.is_ok()
            && let Ok(response) = std::mem::replace(output, Actix::placeholder())
        {
            *output = Ok(response.map_body(|_, body| body.counting(recorder)));
        }
    }
}

impl Actix {
    /// A stand-in for the output while its body is re-wrapped (actix's responses only map
    /// their body by value); never seen by anyone.
    fn placeholder<B>() -> Result<ServiceResponse<B>, Error> {
        Err(actix_web::error::ErrorInternalServerError(""))
    }
}

pin_project_lite::pin_project! {
    /// The inner service's future, its response's body wrapped in a [`CountedMessageBody`]
    /// (counting only once the observation hands it a recorder).
    #[derive(Debug)]
    pub struct CountResponse<F> {
        #[pin]
        inner: F,
    }
}

impl<F, B> Future for CountResponse<F>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
{
    type Output = Result<ServiceResponse<CountedMessageBody<B>>, Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let output = std::task::ready!(self.project().inner.poll(cx));
        Poll::Ready(
            output.map(|response| response.map_body(|_, body| CountedMessageBody::new(body))),
        )
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`OctopusMiddlewareService`]: runs the inner future with the
    /// request's trace context current and reports how the request ended — or, if dropped
    /// first, that it was cancelled.
    pub struct ResponseFuture<F: Future, O: RequestObserver> {
        #[pin]
        inner: ObservedFuture<F, O::Observation, Actix>,
    }
}

impl<F, B, O> Future for ResponseFuture<F, O>
where
    F: Future<Output = Result<ServiceResponse<CountedMessageBody<B>>, Error>>,
    B: MessageBody,
    O: RequestObserver,
{
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}
