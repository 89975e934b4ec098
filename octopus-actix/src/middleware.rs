//! [`OctopusMiddleware`], [`OctopusMiddlewareService`] and [`ResponseFuture`]: the request seam
//! as actix-web middleware.

use std::future::{Future, Ready, ready};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::Version;
use octopus_core::{
    InContext, ObservedRequest, Octopus, RequestObserver, RequestView, ResponseView,
};

use crate::ActixHeaders;

/// Observes every request of the wrapped app (or scope, or resource) with [`Octopus`] — and
/// optionally with your own observer `O`, stacked after it. Use it with `App::wrap`.
#[derive(Clone, Debug)]
pub struct OctopusMiddleware<O = ()> {
    observer: Arc<(Octopus, O)>,
}

impl OctopusMiddleware {
    /// Middleware observing with `octopus`.
    pub fn new(octopus: Octopus) -> Self {
        OctopusMiddleware {
            observer: Arc::new((octopus, ())),
        }
    }
}

impl<O: RequestObserver> OctopusMiddleware<O> {
    /// Middleware observing with `octopus`, then with `observer`.
    pub fn with_observer(octopus: Octopus, observer: O) -> Self {
        OctopusMiddleware {
            observer: Arc::new((octopus, observer)),
        }
    }
}

impl<S, B, O> Transform<S, ServiceRequest> for OctopusMiddleware<O>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
    O: RequestObserver,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = OctopusMiddlewareService<S, O>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(OctopusMiddlewareService {
            service,
            observer: self.observer.clone(),
        }))
    }
}

/// The service [`OctopusMiddleware`] produces, one per worker.
#[derive(Debug)]
pub struct OctopusMiddlewareService<S, O = ()> {
    service: S,
    observer: Arc<(Octopus, O)>,
}

type Observation<O> = <Arc<(Octopus, O)> as RequestObserver>::Observation;

impl<S, B, O> Service<ServiceRequest> for OctopusMiddlewareService<S, O>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
    O: RequestObserver,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = ResponseFuture<S::Future, O>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let observed = {
            // App-level middleware runs before routing, so `match_pattern` matches the path
            // against the app's resource map here (≈1.2 µs for a dynamic route: actix-router
            // runs a regex with captures). Reading it after routing would cost a few ns, but a
            // panic, an `Err` or a cancelled request never hands the request back, and the
            // in-flight gauge needs the route at the start.
            let route = request.match_pattern();
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
                    .with_route(route.as_deref())
                    .with_scheme(Some(scheme))
                    .with_host(host)
                    .with_protocol_version(protocol_version(request.version())),
            )
        };
        ResponseFuture {
            inner: observed.in_context(self.service.call(request)),
            observed: Some(observed),
            octopus: self.observer.clone(),
        }
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

pin_project_lite::pin_project! {
    /// The response future of [`OctopusMiddlewareService`]: runs the inner future with the
    /// request's trace context current and reports how the request ended — or, if dropped
    /// first, that it was cancelled.
    pub struct ResponseFuture<F, O: RequestObserver> {
        #[pin]
        inner: InContext<F>,
        observed: Option<ObservedRequest<Observation<O>>>,
        octopus: Arc<(Octopus, O)>,
    }
}

impl<F, B, O> Future for ResponseFuture<F, O>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
    O: RequestObserver,
{
    type Output = Result<ServiceResponse<B>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        let result = match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(poll) => ready!(poll),
            // actix-web does not catch handler panics: the worker would go down with every
            // connection it serves. The panic is recorded and answered as a 500 instead; the
            // handler's future is not polled again.
            Err(_panic) => {
                if let Some(observed) = this.observed.take() {
                    observed.finish(&ResponseView::panicked());
                }
                return Poll::Ready(Err(actix_web::error::ErrorInternalServerError(
                    "the handler panicked",
                )));
            }
        };
        let Some(observed) = this.observed.take() else {
            return Poll::Ready(result);
        };
        Poll::Ready(match result {
            Ok(mut response) => {
                this.octopus.0.inject_response_headers(
                    observed.context(),
                    &mut ActixHeaders(response.headers_mut()),
                );
                observed.finish(&ResponseView::new(response.status().as_u16()));
                Ok(response)
            }
            // An error no inner layer turned into a response: actix renders it with the
            // error's own status.
            Err(error) => {
                let status = error.as_response_error().status_code().as_u16();
                observed.finish(&ResponseView::failed(status, "service_error"));
                Err(error)
            }
        })
    }
}
