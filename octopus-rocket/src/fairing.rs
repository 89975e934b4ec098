//! [`OctopusFairing`]: the request seam as a rocket fairing.

use std::sync::Mutex;

use octopus_core::opentelemetry::Context;
use octopus_core::{
    HeaderSource as _, ObservedRequest, Octopus, OctopusObservation, RequestObserver, RequestView,
    ResponseView,
};
use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::{Build, Data, Request, Response, Rocket, Route};

use crate::RocketHeaders;
use crate::metrics::metrics_route;

/// Observes every request with [`Octopus`] and serves `GET /metrics`.
///
/// A request starts in the request fairing and ends in the response fairing; between the two,
/// its state lives in the request's local cache, so a request dropped in between (client gone)
/// drops its state and is recorded as cancelled.
#[derive(Clone, Debug)]
pub struct OctopusFairing {
    octopus: Octopus,
    metrics_route: bool,
}

impl OctopusFairing {
    /// A fairing observing with `octopus` that mounts `GET {metrics_path}` at ignition.
    pub fn new(octopus: Octopus) -> Self {
        OctopusFairing {
            octopus,
            metrics_route: true,
        }
    }

    /// Does not mount the metrics route: serve [`metrics_route`] yourself (behind a guard, on
    /// another mount point) or not at all.
    pub fn without_metrics_route(mut self) -> Self {
        self.metrics_route = false;
        self
    }
}

/// One request's Octopus state, in the request's local cache.
pub(crate) struct RequestState {
    context: Context,
    observed: Mutex<Option<ObservedRequest<OctopusObservation>>>,
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<ObservedRequest<OctopusObservation>>> {
        // Nothing panics while holding the lock; if something did, the state is still whole.
        self.observed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[rocket::async_trait]
impl Fairing for OctopusFairing {
    fn info(&self) -> Info {
        Info {
            name: "Octopus",
            kind: Kind::Ignite | Kind::Request | Kind::Response,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        // With a separate `metrics_address`, `Octopus::serve_metrics` serves the metrics there.
        Ok(if self.metrics_route && self.octopus.metrics_on_app() {
            rocket.mount("/", vec![metrics_route(&self.octopus)])
        } else {
            rocket
        })
    }

    async fn on_request(&self, request: &mut Request<'_>, _: &mut Data<'_>) {
        let observed = {
            let headers = RocketHeaders(request.headers());
            let scheme = if request.rocket().config().tls_enabled() {
                "https"
            } else {
                "http"
            };
            self.octopus.observe(
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
            observed: Mutex::new(Some(observed)),
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
        self.octopus
            .inject_response_headers(observed.context(), &mut RocketHeaders(&mut *response));
        observed.finish(&ResponseView::new(response.status().code));
    }
}
