//! The seam between a web framework and Octopus: [`RequestObserver`] and [`ObservedRequest`].
//!
//! An adapter does these things per request:
//!
//! 1. builds a [`RequestView`] and calls [`RequestObserver::observe`], getting an
//!    [`ObservedRequest`];
//! 2. runs the handler with [`ObservedRequest::context`] as the current OpenTelemetry context:
//!    [`ObservedRequest::in_context`] wraps the handler's future (and skips the wrapping when
//!    the context has no span); a framework whose middleware cannot wrap the handler hands the
//!    context to handlers explicitly (rocket's request guard);
//! 3. if the framework matches the route after the request started (rocket, warp's named
//!    routes), reports it with [`ObservedRequest::set_route`] once known;
//! 4. reports the end with [`ObservedRequest::finish`] — or, if the request future is dropped
//!    first, does nothing: dropping the `ObservedRequest` reports the request as cancelled.
//!
//! Observers compose without boxing: a tuple of observers is an observer, and so is an
//! `Option` of one (a disabled observer costs a branch).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use opentelemetry::Context;
use opentelemetry::context::{FutureExt as _, WithContext};
use opentelemetry::trace::TraceContextExt as _;

use crate::{HeaderSource, RequestView, ResponseView};

/// Something that watches requests: metrics, tracing, an access log.
///
/// [`start`](RequestObserver::start) runs when a request arrives and returns the per-request
/// state, an [`Observation`], which is consumed when the request ends. Everything per-request
/// lives in that state, so an observer is shared (`&self`) by all requests at once.
///
/// An observer may replace the request's trace context (the tracing observer puts the server
/// span in it); observers later in a stack see the replaced context.
///
/// ```
/// use octopus_core::{HeaderSource, Observation, RequestObserver, RequestView, ResponseView};
/// use opentelemetry::Context;
/// use std::time::Instant;
///
/// /// Prints one line per request to stderr.
/// struct AccessLog;
///
/// struct AccessLogEntry {
///     method: &'static str,
///     path: String,
///     started: Instant,
/// }
///
/// impl RequestObserver for AccessLog {
///     type Observation = AccessLogEntry;
///
///     fn start<H: HeaderSource + ?Sized>(
///         &self,
///         request: &RequestView<'_, H>,
///         _context: &mut Context,
///     ) -> AccessLogEntry {
///         AccessLogEntry {
///             method: request.method().as_str(),
///             path: request.path().to_owned(),
///             started: Instant::now(),
///         }
///     }
/// }
///
/// impl Observation for AccessLogEntry {
///     fn finish(self, response: &ResponseView<'_>) {
///         eprintln!("{} {} {} {:?}", self.method, self.path, response.status(), self.started.elapsed());
///     }
///
///     fn cancel(self) {
///         eprintln!("{} {} cancelled", self.method, self.path);
///     }
/// }
///
/// let headers: &[(&str, &str)] = &[];
/// let request = AccessLog.observe(&RequestView::new("GET", "/", headers));
/// request.finish(&ResponseView::new(200));
/// ```
pub trait RequestObserver: Send + Sync + 'static {
    /// The per-request state.
    type Observation: Observation;

    /// A request arrived. `context` is the request's trace context so far; an observer may
    /// replace it.
    fn start<H: HeaderSource + ?Sized>(
        &self,
        request: &RequestView<'_, H>,
        context: &mut Context,
    ) -> Self::Observation;

    /// Starts observing a request: the entry point for adapters.
    ///
    /// The returned [`ObservedRequest`] carries the request's trace context and reports the
    /// request's end exactly once: through [`ObservedRequest::finish`], or as cancelled when
    /// dropped.
    fn observe<H: HeaderSource + ?Sized>(
        &self,
        request: &RequestView<'_, H>,
    ) -> ObservedRequest<Self::Observation>
    where
        Self: Sized,
    {
        let mut context = Context::current();
        let observation = self.start(request, &mut context);
        ObservedRequest {
            observation: Some(observation),
            context,
        }
    }
}

/// The per-request state of a [`RequestObserver`].
///
/// Exactly one of [`finish`](Observation::finish) and [`cancel`](Observation::cancel) is called,
/// once, by [`ObservedRequest`].
pub trait Observation: Send + 'static {
    /// The request ended with a response (or a handler error or panic turned into one).
    fn finish(self, response: &ResponseView<'_>);

    /// The request was dropped before it ended: the client went away or a timeout fired.
    /// The default does what dropping the state does.
    fn cancel(self)
    where
        Self: Sized,
    {
    }

    /// The request's route template became known after it started: frameworks that route
    /// after their middleware ran (rocket, warp's named routes) report it here, before the end.
    /// The default ignores it.
    fn set_route(&mut self, route: &str) {
        let _ = route;
    }
}

/// One request being observed: the per-request state plus the request's trace context.
///
/// Made by [`RequestObserver::observe`]. [`finish`](ObservedRequest::finish) consumes it;
/// dropping it unfinished — the adapter's future was dropped — reports the request as
/// cancelled, so gauges come back down and spans end even when nobody finishes the request.
#[must_use = "dropping an ObservedRequest reports the request as cancelled"]
#[derive(Debug)]
pub struct ObservedRequest<S: Observation> {
    observation: Option<S>,
    context: Context,
}

impl<S: Observation> ObservedRequest<S> {
    /// The request's trace context. Run the handler with it current.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// Sets the route template once it is known, for frameworks that match routes after the
    /// request started (see [`Observation::set_route`]). The last call before
    /// [`finish`](ObservedRequest::finish) wins.
    pub fn set_route(&mut self, route: &str) {
        if let Some(observation) = &mut self.observation {
            observation.set_route(route);
        }
    }

    /// `future` to be polled with the request's context current — the handler, in an adapter.
    /// When the context carries no span (tracing off, or an excluded path) there is nothing to
    /// make current, and the future runs as it is: attaching an empty context on every poll
    /// would cost every request for nothing.
    pub fn in_context<F: Future>(&self, future: F) -> InContext<F> {
        if self.context.has_active_span() {
            InContext::Current {
                future: future.with_context(self.context.clone()),
            }
        } else {
            InContext::Bare { future }
        }
    }

    /// Reports the end of the request.
    pub fn finish(mut self, response: &ResponseView<'_>) {
        if let Some(observation) = self.observation.take() {
            observation.finish(response);
        }
    }
}

impl<S: Observation> Drop for ObservedRequest<S> {
    fn drop(&mut self) {
        if let Some(observation) = self.observation.take() {
            observation.cancel();
        }
    }
}

pin_project_lite::pin_project! {
    /// A future polled with a request's context current, made by
    /// [`ObservedRequest::in_context`].
    ///
    /// Each variant's one field is the future (pin-project-lite takes no field docs here).
    #[allow(missing_docs)]
    #[project = InContextProjection]
    pub enum InContext<F> {
        /// Polled inside the request's context.
        Current {
            #[pin]
            future: WithContext<F>,
        },
        /// Polled as it is: the context has no span.
        Bare {
            #[pin]
            future: F,
        },
    }
}

impl<F: Future> Future for InContext<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        match self.project() {
            InContextProjection::Current { future } => future.poll(cx),
            InContextProjection::Bare { future } => future.poll(cx),
        }
    }
}

/// The observer that observes nothing: what an adapter costs without Octopus.
impl RequestObserver for () {
    type Observation = ();

    #[inline]
    fn start<H: HeaderSource + ?Sized>(&self, _: &RequestView<'_, H>, _: &mut Context) {}
}

impl Observation for () {
    #[inline]
    fn finish(self, _: &ResponseView<'_>) {}
}

/// A switched-off observer (`None`) costs one branch.
impl<O: RequestObserver> RequestObserver for Option<O> {
    type Observation = Option<O::Observation>;

    #[inline]
    fn start<H: HeaderSource + ?Sized>(
        &self,
        request: &RequestView<'_, H>,
        context: &mut Context,
    ) -> Self::Observation {
        self.as_ref()
            .map(|observer| observer.start(request, context))
    }
}

impl<S: Observation> Observation for Option<S> {
    #[inline]
    fn finish(self, response: &ResponseView<'_>) {
        if let Some(observation) = self {
            observation.finish(response);
        }
    }

    #[inline]
    fn cancel(self) {
        if let Some(observation) = self {
            observation.cancel();
        }
    }

    #[inline]
    fn set_route(&mut self, route: &str) {
        if let Some(observation) = self {
            observation.set_route(route);
        }
    }
}

impl<O: RequestObserver> RequestObserver for Arc<O> {
    type Observation = O::Observation;

    #[inline]
    fn start<H: HeaderSource + ?Sized>(
        &self,
        request: &RequestView<'_, H>,
        context: &mut Context,
    ) -> Self::Observation {
        (**self).start(request, context)
    }
}

// Stacks: observers start in order and end in reverse order, like nested middleware, so an
// outer observer (listed first) sees the whole of what the inner ones do.
macro_rules! stack {
    ($($name:ident $index:tt),+ ; $($rev:tt),+) => {
        impl<$($name: RequestObserver),+> RequestObserver for ($($name,)+) {
            type Observation = ($($name::Observation,)+);

            #[inline]
            fn start<H: HeaderSource + ?Sized>(
                &self,
                request: &RequestView<'_, H>,
                context: &mut Context,
            ) -> Self::Observation {
                ($(self.$index.start(request, context),)+)
            }
        }

        impl<$($name: Observation),+> Observation for ($($name,)+) {
            #[inline]
            fn finish(self, response: &ResponseView<'_>) {
                $(self.$rev.finish(response);)+
            }

            #[inline]
            fn cancel(self) {
                $(self.$rev.cancel();)+
            }

            #[inline]
            fn set_route(&mut self, route: &str) {
                $(self.$index.set_route(route);)+
            }
        }
    };
}

stack!(A 0, B 1; 1, 0);
stack!(A 0, B 1, C 2; 2, 1, 0);
stack!(A 0, B 1, C 2, D 3; 3, 2, 1, 0);

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Polls a future that is ready at once.
    fn ready<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        match future
            .as_mut()
            .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
        {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("the future was not ready"),
        }
    }

    #[test]
    fn in_context_makes_the_request_context_current_only_when_it_has_a_span() {
        use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

        let trace_id = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap();
        let with_span = ObservedRequest {
            observation: Some(()),
            context: Context::new().with_remote_span_context(SpanContext::new(
                trace_id,
                SpanId::from_hex("b7ad6b7169203331").unwrap(),
                TraceFlags::SAMPLED,
                true,
                TraceState::default(),
            )),
        };
        let seen = |observed: &ObservedRequest<()>| {
            let future =
                observed.in_context(async { Context::current().span().span_context().trace_id() });
            let bare = matches!(future, InContext::Bare { .. });
            (bare, ready(future))
        };
        assert_eq!(seen(&with_span), (false, trace_id));
        let without = ObservedRequest {
            observation: Some(()),
            context: Context::new(),
        };
        assert_eq!(seen(&without), (true, TraceId::INVALID));
    }

    /// Records every call, in order, tagged with its name.
    struct Recorder {
        name: &'static str,
        log: Arc<Mutex<Vec<String>>>,
    }

    struct Recording {
        name: &'static str,
        log: Arc<Mutex<Vec<String>>>,
    }

    #[derive(Debug, PartialEq)]
    struct Tag(&'static str);

    impl RequestObserver for Recorder {
        type Observation = Recording;

        fn start<H: HeaderSource + ?Sized>(
            &self,
            request: &RequestView<'_, H>,
            context: &mut Context,
        ) -> Recording {
            let seen = context.get::<Tag>().map_or("none", |tag| tag.0);
            self.log.lock().unwrap().push(format!(
                "{} start {} (context {seen})",
                self.name,
                request.path()
            ));
            *context = context.with_value(Tag(self.name));
            Recording {
                name: self.name,
                log: self.log.clone(),
            }
        }
    }

    impl Observation for Recording {
        fn finish(self, response: &ResponseView<'_>) {
            self.log
                .lock()
                .unwrap()
                .push(format!("{} finish {}", self.name, response.status()));
        }

        fn cancel(self) {
            self.log
                .lock()
                .unwrap()
                .push(format!("{} cancel", self.name));
        }
    }

    fn pair(log: &Arc<Mutex<Vec<String>>>) -> (Recorder, Option<Recorder>) {
        (
            Recorder {
                name: "outer",
                log: log.clone(),
            },
            Some(Recorder {
                name: "inner",
                log: log.clone(),
            }),
        )
    }

    #[test]
    fn stack_starts_in_order_finishes_in_reverse_and_passes_context_on() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let observer = pair(&log);
        let headers: &[(&str, &str)] = &[];
        let request = observer.observe(&RequestView::new("GET", "/a", headers));
        assert_eq!(request.context().get::<Tag>(), Some(&Tag("inner")));
        request.finish(&ResponseView::new(204));
        assert_eq!(
            *log.lock().unwrap(),
            [
                "outer start /a (context none)",
                "inner start /a (context outer)",
                "inner finish 204",
                "outer finish 204",
            ]
        );
    }

    #[test]
    fn dropping_unfinished_request_cancels_exactly_once() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let observer = pair(&log);
        let headers: &[(&str, &str)] = &[];
        drop(observer.observe(&RequestView::new("GET", "/b", headers)));
        let finished = observer.observe(&RequestView::new("GET", "/c", headers));
        finished.finish(&ResponseView::new(200));
        let log = log.lock().unwrap();
        assert_eq!(log.iter().filter(|l| l.ends_with("cancel")).count(), 2);
        assert_eq!(log.iter().filter(|l| l.contains("finish")).count(), 2);
        assert_eq!(log.len(), 8);
    }

    #[test]
    fn none_observer_does_nothing() {
        let observer: Option<Recorder> = None;
        let headers: &[(&str, &str)] = &[];
        let request = observer.observe(&RequestView::new("GET", "/", headers));
        assert!(request.context().get::<Tag>().is_none());
        request.finish(&ResponseView::new(200));
    }
}
