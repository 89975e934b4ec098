//! [`OctopusFairing`]: the request seam as a rocket fairing.

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context as TaskContext, Poll};

use octopus_core::body::BodyCounter;
use octopus_core::opentelemetry::Context;
use octopus_core::{
    Observation, ObservedRequest, Octopus, RequestObserver, RequestView, ResponseView,
};
use rocket::fairing::{Fairing, Info, Kind};
use rocket::tokio::io::{AsyncRead, ReadBuf};
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

    /// Writes the observation's headers into `response` and ends the request with its status
    /// and its body's size, if known (`body_size`); a streamed body is counted as it is sent
    /// when the size is recorded.
    fn finish(self: Box<Self>, response: &mut Response<'_>, body_size: Option<u64>);
}

impl<S: Observation> Pending for ObservedRequest<S> {
    fn set_route(&mut self, route: &str) {
        ObservedRequest::set_route(self, route);
    }

    fn finish(self: Box<Self>, response: &mut Response<'_>, body_size: Option<u64>) {
        let ended = ResponseView::new(response.status().code).with_body_size(body_size);
        let recorder = self.response_body_recorder(&ended);
        self.finish_with_headers(&ended, &mut RocketHeaders(&mut *response));
        if let Some(recorder) = recorder {
            let body = response.body_mut().take();
            response.set_streamed_body(CountedReader {
                inner: body,
                counter: BodyCounter::new(Some(recorder)),
            });
        }
    }
}

pin_project_lite::pin_project! {
    /// A streamed response body, counted as rocket sends it; recorded when it ends.
    struct CountedReader<R> {
        #[pin]
        inner: R,
        counter: BodyCounter,
    }
}

impl<R: AsyncRead> AsyncRead for CountedReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let asked = buf.remaining() > 0;
        let read = std::task::ready!(this.inner.poll_read(cx, buf));
        match &read {
            Ok(()) => {
                let n = buf.filled().len() - before;
                if n == 0 && asked {
                    this.counter.end();
                } else {
                    this.counter.add(n);
                }
            }
            Err(_) => this.counter.abort(),
        }
        Poll::Ready(read)
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
            let tls = request.rocket().config().tls_enabled();
            let scheme = if tls { "https" } else { "http" };
            let view = RequestView::new(
                request.method().as_str(),
                request.uri().path().as_str(),
                &headers,
            )
            // The core reads the `Host` header itself, and only when a sampled span asks.
            .with_scheme(Some(scheme));
            // Rocket gives the body to handlers only, and does not tell fairings the HTTP
            // version: without TLS the connection is HTTP/1 (rocket speaks HTTP/2 only over
            // TLS), whose framing gives the size; with TLS, `Content-Length` only (which the
            // core reads). A chunked body's is unknown, not recorded. Either way the headers
            // are read only when an observation asks for the size.
            self.observer
                .observe(&if tls { view } else { view.with_http1_framing() })
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
        // Sized bodies know their size (a seekable one once asked); a streamed one does not.
        let body_size = response.body_mut().size().await.map(|size| size as u64);
        observed.finish(response, body_size);
    }
}
