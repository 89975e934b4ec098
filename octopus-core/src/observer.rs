//! The seam between a web framework and Octopus: [`RequestObserver`] and [`ObservedRequest`].
//!
//! An adapter does these things per request:
//!
//! 1. builds a [`RequestView`] and calls [`RequestObserver::observe`], getting an
//!    [`ObservedRequest`] — with the route template when the framework matched it already,
//!    unless [`RequestObserver::uses_route`] says the observer does not read it and obtaining
//!    it costs something (actix-web's `match_pattern`);
//! 2. runs the handler with [`ObservedRequest::context`] as the current OpenTelemetry context:
//!    [`ObservedFuture`] makes it current for each poll of the handler's future (and only when
//!    it has a span); an adapter that does not use [`ObservedFuture`] wraps the handler with
//!    [`ObservedRequest::in_context`]; a framework whose middleware cannot wrap the handler
//!    hands the context to handlers explicitly (rocket's request guard);
//! 3. if the framework matches the route after the request started (rocket, warp's named
//!    routes), reports it with [`ObservedRequest::set_route`] once known;
//! 4. when the handler produced a response, lets the observation write its response headers
//!    and reports the end: [`ObservedRequest::finish_with_headers`] (or
//!    [`ObservedRequest::finish`] when there is no response to write into) — or, if the request
//!    future is dropped first, does nothing: dropping the `ObservedRequest` reports the request
//!    as cancelled.
//!
//! Body sizes: the adapter passes a body's size when it is known
//! ([`RequestView::with_body_size`], [`ResponseView::with_body_size`]); when it is not, it
//! asks for a [`BodySizeRecorder`] ([`ObservedRequest::request_body_recorder`] after step 1,
//! [`ObservedRequest::response_body_recorder`] before step 4, or
//! [`Translate::count_response_body`]) and, only if it gets one, wraps the body to count it
//! and call the recorder at the end of the stream (see [`crate::body`]).
//!
//! Adapters whose middleware wraps the handler's future do 2 to 4 with one
//! [`ObservedFuture`]: they say how their framework's output reads ([`Translate`]) and what a
//! panicking handler becomes ([`OnPanic`]), and the core does the rest.
//!
//! Observers compose without boxing: a tuple of observers is an observer, and so is an
//! `Option` of one (a disabled observer costs a branch), an `Arc` of one and a `&'static` one.
//!
//! # Nothing shared is written per request by the seam
//!
//! Observing a request with an observer that does nothing (`()`, or an [`Octopus`] with no
//! metrics and no tracing) writes no memory that another thread writes: the observer is only
//! read (`&self`), the observation lives in the request's future, and [`ObservedFuture`] holds
//! no handle to the observer. Frameworks that clone their service per request (tower, hyper)
//! clone the observer with it: an owned [`Octopus`] then costs one reference-count increment
//! and decrement per request, a `&'static` observer nothing.
//!
//! [`Octopus`]: crate::Octopus

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Poll, ready};

use opentelemetry::Context;
use opentelemetry::context::{FutureExt as _, WithContext};
use opentelemetry::trace::TraceContextExt as _;

use crate::body::BodySizeRecorder;
use crate::{HeaderSink, HeaderSource, RequestView, ResponseView};

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

    /// Whether [`start`](RequestObserver::start) reads [`RequestView::route`] — or the
    /// observation does anything with a late route ([`Observation::set_route`]). Adapters whose
    /// framework computes the route template at a cost (actix-web's `match_pattern`, which
    /// matches the path against the resource map a second time) skip computing it when this is
    /// false, and leave the view's route unset; adapters that learn the route late (warp's named
    /// routes) skip reporting it.
    ///
    /// The default, `true`, is always correct; answer `false` only when neither `start` nor the
    /// observation looks at the route. A stack answers `true` when any member does, and then
    /// every member is given the route.
    #[inline]
    fn uses_route(&self) -> bool {
        true
    }

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

    /// The handler produced a response that is about to be sent: write the headers this
    /// observation adds to it (Octopus's `traceresponse`). Called at most once, just before
    /// [`finish`](Observation::finish); not for cancelled requests, nor for errors that the
    /// framework renders later. The default writes none, and costs nothing.
    #[inline]
    fn write_response_headers<K: HeaderSink + ?Sized>(&self, headers: &mut K) {
        let _ = headers;
    }

    /// The request body's size was not known at start ([`RequestView::body_size`] was `None`):
    /// a recorder for the adapter to call when the body has streamed to its end, if this
    /// observation records the size. Asked at most once, after start. The default: none.
    #[inline]
    fn request_body_recorder(&mut self) -> Option<BodySizeRecorder> {
        None
    }

    /// `response` is how the request ends, with no body size
    /// ([`ResponseView::body_size`] is `None`: a streamed body): a recorder for the adapter to
    /// call when the body has streamed to its end, if this observation records the size. Asked
    /// at most once, just before [`finish`](Observation::finish). The default: none.
    #[inline]
    fn response_body_recorder(&self, response: &ResponseView<'_>) -> Option<BodySizeRecorder> {
        let _ = response;
        None
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

    /// The request body's size was not known at start: a recorder to call with its size at the
    /// end of the body, if an observation records it (see [`Observation::request_body_recorder`]).
    /// Adapters wrap the request body to count it only when they get one; a second call
    /// returns `None`.
    pub fn request_body_recorder(&mut self) -> Option<BodySizeRecorder> {
        self.observation
            .as_mut()
            .and_then(Observation::request_body_recorder)
    }

    /// The response's body size is not known (`response` has none): a recorder to call with
    /// its size at the end of the body, if an observation records it (see
    /// [`Observation::response_body_recorder`]). Ask just before
    /// [`finish`](ObservedRequest::finish); [`ObservedFuture`] asks by itself.
    pub fn response_body_recorder(&self, response: &ResponseView<'_>) -> Option<BodySizeRecorder> {
        if response.body_size().is_some() {
            return None;
        }
        self.observation
            .as_ref()
            .and_then(|observation| observation.response_body_recorder(response))
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

    /// Reports the end of the request, when there is no response to add headers to (an error
    /// the framework renders later) or the adapter adds none.
    pub fn finish(mut self, response: &ResponseView<'_>) {
        if let Some(observation) = self.observation.take() {
            observation.finish(response);
        }
    }

    /// Lets the observation write its response headers into `headers` (see
    /// [`Observation::write_response_headers`]), then reports the end of the request: what an
    /// adapter calls when the handler produced a response.
    pub fn finish_with_headers<K: HeaderSink + ?Sized>(
        mut self,
        response: &ResponseView<'_>,
        headers: &mut K,
    ) {
        if let Some(observation) = self.observation.take() {
            observation.write_response_headers(headers);
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

/// How an adapter reads its framework's handler output: the one part of
/// [`ObservedFuture`] that differs between frameworks.
///
/// Implemented by a small value of the adapter's (usually a unit struct), for `T`, the output
/// of the future the adapter wraps.
pub trait Translate<T> {
    /// How `output` ended the request, and the headers of the response it is, if it is one —
    /// `None` for an error the framework renders into a response later.
    fn ended<'o>(&mut self, output: &'o mut T) -> (ResponseView<'o>, Option<impl HeaderSink + 'o>);

    /// The route template, when the framework named it only while the handler ran (warp's named
    /// routes); asked once, before the request ends: in the poll in which the handler's future
    /// was ready or panicked, on the thread that polled it, right after that poll. (A future
    /// dropped unfinished is the adapter's to name, with [`ObservedFuture::observed_mut`].)
    /// The default: none.
    ///
    /// A borrowed name, so that handing it over costs nothing: warp's route names are
    /// `&'static str`, interned when the filter is built.
    #[inline]
    fn late_route(&mut self) -> Option<&str> {
        None
    }

    /// The response in `output` has a body of unknown size ([`ended`](Translate::ended)'s view
    /// had none) and an observation records it: wrap the body so that it calls `recorder` with
    /// its size at the end of the stream ([`crate::body::CountedBody`],
    /// [`crate::body::BodyCounter`]). Called after the request ended. The default drops the
    /// recorder: the size is not recorded.
    #[inline]
    fn count_response_body(&mut self, output: &mut T, recorder: BodySizeRecorder) {
        let _ = (output, recorder);
    }
}

/// What a handler's panic becomes, in [`ObservedFuture`]: each framework's policy.
///
/// Either way the request is recorded as panicked (a 500 with an Error span), and the handler's
/// future is not polled again.
#[derive(Clone, Copy, Debug)]
pub enum OnPanic<T> {
    /// The panic goes on unwinding, for an outer layer to answer (tower-http's
    /// `CatchPanicLayer` in front of axum).
    Resume,
    /// The future answers with this output instead (a 500), for frameworks that would
    /// otherwise lose the connection or the worker with the panic (actix-web, warp). The answer
    /// gets the observation's response headers when [`Translate::ended`] sees a response in it.
    Answer(fn() -> T),
}

pin_project_lite::pin_project! {
    /// A handler's future, observed: polls it with the request's context current, catches its
    /// panic as [`OnPanic`] says, and when it is ready lets the observation write the response
    /// headers and reports the end — exactly once. Dropped before that (client gone, timeout),
    /// the request it holds reports itself cancelled.
    ///
    /// The whole response future of an adapter; what differs between frameworks is `T`, how
    /// their output reads ([`Translate`]), and the [`OnPanic`] policy. It holds no handle to
    /// the observer.
    ///
    /// ```
    /// use octopus_core::{HeaderSink, ObservedFuture, OnPanic, RequestObserver, RequestView, ResponseView, Translate};
    ///
    /// /// A framework whose handlers return `(status, headers)`.
    /// struct Plain;
    ///
    /// impl Translate<(u16, Vec<(String, String)>)> for Plain {
    ///     fn ended<'o>(
    ///         &mut self,
    ///         (status, headers): &'o mut (u16, Vec<(String, String)>),
    ///     ) -> (ResponseView<'o>, Option<impl HeaderSink + 'o>) {
    ///         (ResponseView::new(*status), Some(headers))
    ///     }
    /// }
    ///
    /// let headers: &[(&str, &str)] = &[];
    /// let observed = ().observe(&RequestView::new("GET", "/", headers));
    /// let handler = async { (200, Vec::new()) };
    /// let future = ObservedFuture::new(observed, handler, Plain, OnPanic::Answer(|| (500, Vec::new())));
    /// # let _ = future;
    /// ```
    #[must_use = "futures do nothing unless polled; dropping it reports the request as cancelled"]
    pub struct ObservedFuture<F: Future, S: Observation, T> {
        #[pin]
        future: F,
        // Whether each poll runs in the request's context (it has a span). The context is the
        // request's own, cloned for each poll's attachment; not also kept in an
        // `opentelemetry` `WithContext`, whose clone and drop were two atomic read-modify-writes
        // of the span's reference count a request (`benches/scripts/atomics.py` counts them).
        in_span: bool,
        observed: Option<ObservedRequest<S>>,
        translate: T,
        on_panic: OnPanic<F::Output>,
    }
}

impl<F, S, T> ObservedFuture<F, S, T>
where
    F: Future,
    S: Observation,
    T: Translate<F::Output>,
{
    /// `future` — the handler, in an adapter — observed as `observed`, its output read with
    /// `translate`, a panic handled as `on_panic` says.
    pub fn new(
        observed: ObservedRequest<S>,
        future: F,
        translate: T,
        on_panic: OnPanic<F::Output>,
    ) -> Self {
        ObservedFuture {
            future,
            in_span: observed.context.has_active_span(),
            observed: Some(observed),
            translate,
            on_panic,
        }
    }
}

impl<F: Future, S: Observation, T> ObservedFuture<F, S, T> {
    /// The request, until it ended: for a framework that learns the route late to name it on
    /// the way out when the future is dropped unfinished (see [`Translate::late_route`]).
    pub fn observed_mut(self: Pin<&mut Self>) -> Option<&mut ObservedRequest<S>> {
        self.project().observed.as_mut()
    }
}

/// Passes the route `translate` learnt late on to `observed`.
#[inline]
fn late_route<S: Observation, O, T: Translate<O>>(
    translate: &mut T,
    observed: &mut ObservedRequest<S>,
) {
    if let Some(route) = translate.late_route() {
        observed.set_route(route);
    }
}

impl<F, S, T> Future for ObservedFuture<F, S, T>
where
    F: Future,
    S: Observation,
    T: Translate<F::Output>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let future = this.future;
        let attached = match (*this.in_span, &*this.observed) {
            (true, Some(observed)) => Some(observed.context.clone().attach()),
            _ => None,
        };
        let polled = catch_unwind(AssertUnwindSafe(|| future.poll(cx)));
        // The request's end is reported outside its context, as the handler's own future ends.
        drop(attached);
        let (mut output, panicked) = match polled {
            Ok(poll) => (ready!(poll), false),
            Err(panic) => match *this.on_panic {
                OnPanic::Answer(answer) => (answer(), true),
                OnPanic::Resume => {
                    if let Some(mut observed) = this.observed.take() {
                        late_route(this.translate, &mut observed);
                        observed.finish(&ResponseView::panicked());
                    }
                    resume_unwind(panic)
                }
            },
        };
        if let Some(mut observed) = this.observed.take() {
            late_route(this.translate, &mut observed);
            let recorder = {
                let (view, headers) = this.translate.ended(&mut output);
                let view = if panicked {
                    ResponseView::panicked()
                } else {
                    view
                };
                let recorder = observed.response_body_recorder(&view);
                match headers {
                    Some(mut headers) => observed.finish_with_headers(&view, &mut headers),
                    None => observed.finish(&view),
                }
                recorder
            };
            if let Some(recorder) = recorder {
                this.translate.count_response_body(&mut output, recorder);
            }
        }
        Poll::Ready(output)
    }
}

/// The observer that observes nothing: what an adapter costs without Octopus.
impl RequestObserver for () {
    type Observation = ();

    #[inline]
    fn start<H: HeaderSource + ?Sized>(&self, _: &RequestView<'_, H>, _: &mut Context) {}

    #[inline]
    fn uses_route(&self) -> bool {
        false
    }
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

    #[inline]
    fn uses_route(&self) -> bool {
        self.as_ref().is_some_and(O::uses_route)
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

    #[inline]
    fn write_response_headers<K: HeaderSink + ?Sized>(&self, headers: &mut K) {
        if let Some(observation) = self {
            observation.write_response_headers(headers);
        }
    }

    #[inline]
    fn request_body_recorder(&mut self) -> Option<BodySizeRecorder> {
        self.as_mut().and_then(S::request_body_recorder)
    }

    #[inline]
    fn response_body_recorder(&self, response: &ResponseView<'_>) -> Option<BodySizeRecorder> {
        self.as_ref()
            .and_then(|observation| observation.response_body_recorder(response))
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

    #[inline]
    fn uses_route(&self) -> bool {
        (**self).uses_route()
    }
}

/// An observer that lives as long as the process (`Box::leak`, a `static`): adapters whose
/// framework clones the service per request copy a pointer, where an owned [`Octopus`] costs a
/// reference-count increment and decrement on memory every worker thread shares.
///
/// [`Octopus`]: crate::Octopus
impl<O: RequestObserver> RequestObserver for &'static O {
    type Observation = O::Observation;

    #[inline]
    fn start<H: HeaderSource + ?Sized>(
        &self,
        request: &RequestView<'_, H>,
        context: &mut Context,
    ) -> Self::Observation {
        (**self).start(request, context)
    }

    #[inline]
    fn uses_route(&self) -> bool {
        (**self).uses_route()
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

            #[inline]
            fn uses_route(&self) -> bool {
                $(self.$index.uses_route())||+
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

            // In the order they start: an inner observer's header wins over an outer one's.
            #[inline]
            fn write_response_headers<K: HeaderSink + ?Sized>(&self, headers: &mut K) {
                $(self.$index.write_response_headers(headers);)+
            }

            #[inline]
            fn request_body_recorder(&mut self) -> Option<BodySizeRecorder> {
                let mut recorder = None;
                $(recorder = BodySizeRecorder::merge(recorder, self.$index.request_body_recorder());)+
                recorder
            }

            #[inline]
            fn response_body_recorder(
                &self,
                response: &ResponseView<'_>,
            ) -> Option<BodySizeRecorder> {
                let mut recorder = None;
                $(recorder = BodySizeRecorder::merge(
                    recorder,
                    self.$index.response_body_recorder(response),
                );)+
                recorder
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

    /// An observation that notes which trace is current when it is told the request ended.
    struct EndSeen(Arc<Mutex<Vec<opentelemetry::trace::TraceId>>>);

    impl Observation for EndSeen {
        fn finish(self, _: &ResponseView<'_>) {
            let current = Context::current().span().span_context().trace_id();
            self.0.lock().unwrap().push(current);
        }
    }

    /// Reads a handler's output, a status.
    struct Status;

    impl Translate<u16> for Status {
        fn ended<'o>(
            &mut self,
            status: &'o mut u16,
        ) -> (ResponseView<'o>, Option<impl HeaderSink + 'o>) {
            (
                ResponseView::new(*status),
                None::<&mut Vec<(String, String)>>,
            )
        }
    }

    #[test]
    fn an_observed_future_runs_every_poll_in_the_request_context_and_ends_outside_it() {
        use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

        let trace_id = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap();
        let span = SpanContext::new(
            trace_id,
            SpanId::from_hex("b7ad6b7169203331").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        for (context, in_polls) in [
            (Context::new().with_remote_span_context(span), trace_id),
            (Context::new(), TraceId::INVALID),
        ] {
            let ends = Arc::new(Mutex::new(Vec::new()));
            let polls = Arc::new(Mutex::new(Vec::new()));
            let observed = ObservedRequest {
                observation: Some(EndSeen(ends.clone())),
                context,
            };
            // Pending once, then ready: the context must be current in both polls.
            let handler = {
                let polls = polls.clone();
                let mut first = true;
                std::future::poll_fn(move |_| {
                    polls
                        .lock()
                        .unwrap()
                        .push(Context::current().span().span_context().trace_id());
                    if std::mem::take(&mut first) {
                        Poll::Pending
                    } else {
                        Poll::Ready(200u16)
                    }
                })
            };
            let mut future = std::pin::pin!(ObservedFuture::new(
                observed,
                handler,
                Status,
                OnPanic::Resume
            ));
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            assert!(future.as_mut().poll(&mut cx).is_pending());
            assert_eq!(
                Context::current().span().span_context().trace_id(),
                TraceId::INVALID
            );
            assert_eq!(future.as_mut().poll(&mut cx), Poll::Ready(200));
            assert_eq!(*polls.lock().unwrap(), [in_polls, in_polls]);
            // Ended once, with no context current: not left attached after the poll.
            assert_eq!(*ends.lock().unwrap(), [TraceId::INVALID]);
            assert_eq!(
                Context::current().span().span_context().trace_id(),
                TraceId::INVALID
            );
        }
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
            let how = match (response.is_panic(), response.error_kind()) {
                (true, _) => " panic",
                (false, Some(_)) => " error",
                (false, None) => "",
            };
            self.log.lock().unwrap().push(format!(
                "{} finish {}{how}",
                self.name,
                response.status()
            ));
        }

        fn set_route(&mut self, route: &str) {
            self.log
                .lock()
                .unwrap()
                .push(format!("{} route {route}", self.name));
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

    /// Writes `x-observed: {name}` into every response.
    struct Stamping(&'static str);

    impl RequestObserver for Stamping {
        type Observation = Stamp;

        fn start<H: HeaderSource + ?Sized>(
            &self,
            _: &RequestView<'_, H>,
            _: &mut Context,
        ) -> Stamp {
            Stamp(self.0)
        }
    }

    struct Stamp(&'static str);

    impl Observation for Stamp {
        fn finish(self, _: &ResponseView<'_>) {}

        fn write_response_headers<K: HeaderSink + ?Sized>(&self, headers: &mut K) {
            headers.set_header("x-observed", self.0.to_owned());
        }
    }

    #[test]
    fn stacks_and_options_write_their_response_headers_in_order() {
        let observer = (
            Stamping("outer"),
            Some(Stamping("inner")),
            None::<Stamping>,
            (),
        );
        let headers: &[(&str, &str)] = &[];
        let mut written: Vec<(String, String)> = Vec::new();
        observer
            .observe(&RequestView::new("GET", "/", headers))
            .finish_with_headers(&ResponseView::new(200), &mut written);
        assert_eq!(written, [("x-observed".to_owned(), "inner".to_owned())]);
    }

    /// An observer that reads the route (the default answer) beside `()`, which does not.
    #[test]
    fn uses_route_is_true_when_any_member_reads_the_route() {
        static STAMPING: Stamping = Stamping("static");
        assert!(!().uses_route());
        assert!(Stamping("s").uses_route());
        assert!(!None::<Stamping>.uses_route());
        assert!(Some(Stamping("s")).uses_route());
        assert!(!Some(()).uses_route());
        assert!(Arc::new(Stamping("s")).uses_route());
        assert!(!Arc::new(()).uses_route());
        assert!(<&'static Stamping>::uses_route(&&STAMPING));
        assert!(!<&'static ()>::uses_route(&&()));
        assert!(!((), ()).uses_route());
        assert!(!((), None::<Stamping>, Some(())).uses_route());
        assert!(((), Stamping("s")).uses_route());
        assert!((Stamping("s"), ()).uses_route());
        assert!(((), (), (), Some(Stamping("s"))).uses_route());
        assert!(!((), (), (), None::<Stamping>).uses_route());
    }

    type Output = Result<(u16, Vec<(String, String)>), u16>;

    /// A framework whose handlers answer `Ok((status, headers))` or `Err(status)`, naming their
    /// route while they run.
    struct Plain(Option<&'static str>);

    impl Translate<Output> for Plain {
        fn ended<'o>(
            &mut self,
            output: &'o mut Output,
        ) -> (ResponseView<'o>, Option<impl HeaderSink + 'o>) {
            match output {
                Ok((status, headers)) => (ResponseView::new(*status), Some(headers)),
                Err(status) => (ResponseView::failed(*status, "error"), None),
            }
        }

        fn late_route(&mut self) -> Option<&str> {
            self.0.take()
        }
    }

    fn observed_future<F: Future<Output = Output>>(
        observer: &(Recorder, Stamping),
        future: F,
        on_panic: OnPanic<Output>,
    ) -> ObservedFuture<F, (Recording, Stamp), Plain> {
        let headers: &[(&str, &str)] = &[];
        let observed = observer.observe(&RequestView::new("GET", "/p", headers));
        ObservedFuture::new(observed, future, Plain(Some("/{p}")), on_panic)
    }

    /// Records finishes with their route.
    fn recorder(log: &Arc<Mutex<Vec<String>>>) -> (Recorder, Stamping) {
        (
            Recorder {
                name: "r",
                log: log.clone(),
            },
            Stamping("s"),
        )
    }

    #[test]
    fn observed_future_writes_headers_and_finishes_once_with_the_late_route() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let observer = recorder(&log);
        let output = ready(observed_future(
            &observer,
            async { Ok((201, Vec::new())) },
            OnPanic::Resume,
        ));
        assert_eq!(
            output,
            Ok((201, vec![("x-observed".to_owned(), "s".to_owned())]))
        );
        let output = ready(observed_future(
            &observer,
            async { Err(503) },
            OnPanic::Resume,
        ));
        assert_eq!(output, Err(503));
        assert_eq!(
            *log.lock().unwrap(),
            [
                "r start /p (context none)",
                "r route /{p}",
                "r finish 201",
                "r start /p (context none)",
                "r route /{p}",
                "r finish 503 error",
            ]
        );
    }

    #[test]
    fn observed_future_answers_or_resumes_a_panic_as_told() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let observer = recorder(&log);
        let answered = ready(observed_future(
            &observer,
            async { panic!("on purpose") },
            OnPanic::Answer(|| Ok((500, Vec::new()))),
        ));
        assert_eq!(
            answered,
            Ok((500, vec![("x-observed".to_owned(), "s".to_owned())]))
        );
        let resumed = std::panic::catch_unwind(AssertUnwindSafe(|| {
            ready(observed_future(
                &observer,
                async { panic!("on purpose") },
                OnPanic::Resume,
            ))
        }));
        assert!(resumed.is_err());
        let log = log.lock().unwrap();
        assert_eq!(
            log.iter().filter(|l| *l == "r finish 500 panic").count(),
            2,
            "{log:?}"
        );
        assert_eq!(log.iter().filter(|l| l.contains("cancel")).count(), 0);
    }

    #[test]
    fn observed_future_dropped_unfinished_cancels_once() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let observer = recorder(&log);
        drop(observed_future(
            &observer,
            std::future::pending(),
            OnPanic::Resume,
        ));
        assert_eq!(
            *log.lock().unwrap(),
            ["r start /p (context none)", "r cancel"]
        );
    }
}
