//! [`OctopusFairing`]: the request seam as a rocket fairing.

use std::sync::Mutex;

use octopus_core::opentelemetry::Context;
use octopus_core::{
    HeaderSource as _, Observation, ObservedRequest, Octopus, RequestObserver, RequestView,
    ResponseView,
};
use rocket::fairing::{Fairing, Info, Kind};
use rocket::{Data, Request, Response, Route};

use crate::RocketHeaders;

/// Observes every request with one observer: [`Octopus`], a stack of observers
/// (`(octopus, access_log)`), or `()` for none. Serve `/metrics` with
/// [`metrics_route`](crate::metrics_route).
///
/// A request starts in the request fairing and ends in the response fairing; between the two,
/// its state lives in the request's local cache, so a request dropped in between (client gone)
/// drops its state and is recorded as cancelled.
#[derive(Clone, Debug)]
pub struct OctopusFairing<O: RequestObserver = Octopus> {
    observer: O,
}

impl<O: RequestObserver> OctopusFairing<O> {
    /// A fairing observing with `observer`.
    pub fn new(observer: O) -> Self {
        OctopusFairing { observer }
    }
}

/// One request's state, in the request's local cache: the request's context, and the request
/// being observed until the response fairing ends it.
///
/// Rocket's local cache is keyed by type, and the [`TraceContext`](crate::TraceContext) guard
/// knows no observer type: the observed request is kept behind a trait object.
pub(crate) struct RequestState {
    context: Context,
    observed: Mutex<Option<Box<dyn Pending>>>,
}

/// An [`ObservedRequest`] of any observer, as the fairing and the guard use it.
trait Pending: Send {
    fn set_route(&mut self, route: &str);

    /// Writes the observation's headers into `response` and ends the request with its status.
    fn finish(self: Box<Self>, response: &mut Response<'_>);
}

impl<S: Observation> Pending for ObservedRequest<S> {
    fn set_route(&mut self, route: &str) {
        ObservedRequest::set_route(self, route);
    }

    fn finish(self: Box<Self>, response: &mut Response<'_>) {
        let ended = ResponseView::new(response.status().code);
        self.finish_with_headers(&ended, &mut RocketHeaders(response));
    }
}

impl RequestState {
    /// The state of a request the fairing did not see.
    pub(crate) fn absent() -> Self {
        RequestState {
            context: Context::current(),
            observed: Mutex::new(None),
        }
    }

    pub(crate) fn context(&self) -> &Context {
        &self.context
    }

    pub(crate) fn set_route(&self, route: &Route) {
        if let Some(observed) = self.lock().as_mut() {
            observed.set_route(route.uri.origin.path().as_str());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Box<dyn Pending>>> {
        // Nothing panics while holding the lock; if something did, the state is still whole.
        self.observed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[rocket::async_trait]
impl<O: RequestObserver> Fairing for OctopusFairing<O> {
    fn info(&self) -> Info {
        Info {
            name: "Octopus",
            kind: Kind::Request | Kind::Response,
        }
    }

    async fn on_request(&self, request: &mut Request<'_>, _: &mut Data<'_>) {
        let observed = {
            let headers = RocketHeaders(request.headers());
            let scheme = if request.rocket().config().tls_enabled() {
                "https"
            } else {
                "http"
            };
            self.observer.observe(
                &RequestView::new(
                    request.method().as_str(),
                    request.uri().path().as_str(),
                    &headers,
                )
                .with_scheme(Some(scheme))
                .with_host(headers.header("host")),
            )
        };
        request.local_cache(move || RequestState {
            context: observed.context().clone(),
            observed: Mutex::new(Some(Box::new(observed))),
        });
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        let state = request.local_cache(RequestState::absent);
        let Some(mut observed) = state.lock().take() else {
            return;
        };
        // The route that produced the response; after a forward that ended in a catcher, the
        // last route tried. None when no route matched.
        if let Some(route) = request.route() {
            observed.set_route(route.uri.origin.path().as_str());
        }
        observed.finish(response);
    }
}
