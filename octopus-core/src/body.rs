//! Body sizes: what an adapter needs to count a request or response body whose length is not
//! known up front (chunked, streamed), and to report it when the body ends.
//!
//! The `request_size` and `response_size` metrics (and the span attributes
//! `http.request.body.size`, `http.response.body.size`) take a body's size from what is known
//! when the request starts and when it ends: the adapter passes it on
//! [`RequestView::with_body_size`](crate::RequestView::with_body_size) (else the core reads
//! `Content-Length`) and [`ResponseView::with_body_size`](crate::ResponseView::with_body_size).
//! When it is not known, the adapter asks the observation for a [`BodySizeRecorder`]
//! ([`ObservedRequest::request_body_recorder`](crate::ObservedRequest::request_body_recorder);
//! for responses, [`Translate::count_response_body`](crate::Translate::count_response_body)
//! hands it over), wraps the body — only then — and the wrapper counts the bytes as they stream
//! and calls the recorder at the end of the stream. [`BodyCounter`] is that counting, for any
//! body type; [`CountedBody`] wraps an [`http_body::Body`] (hyper, axum, warp, tonic).
//!
//! # What is not recorded
//!
//! A body that never ends is never recorded: a server-sent event stream, the connection of an
//! upgraded request (WebSocket), a client that disconnects mid-body, a body that fails with an
//! error, and a request body the handler does not read to its end. Recording a partial size
//! as if it were the body's would skew the histogram towards small values; recording nothing
//! leaves the series' count below the request count, which is visible.
//!
//! A response body's size is labelled with the response's status, so a streamed body is
//! recorded after the request ended (its latency and span do not include the stream). A
//! streamed request body ending before the handler answers is recorded when the request ends;
//! one ending later, when it ends.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Buf as _;
use http_body::{Body, Frame, SizeHint};

use crate::HeaderSource;
use crate::metrics::{PendingSize, SizeTarget};

/// Where one body's size goes once it is known: handed out by an observation that records it,
/// called (once) by the adapter's body wrapper at the end of the stream, or dropped unrecorded
/// when the body never ends.
///
/// Made by the core's observations; [`from_fn`](Self::from_fn) makes one for an observer of
/// your own.
#[must_use = "a recorder records nothing unless called at the end of the body"]
pub struct BodySizeRecorder {
    target: Target,
}

enum Target {
    /// A histogram series of the metrics' cells.
    Metrics(SizeTarget),
    /// A request body whose request may not have ended yet (its status unknown).
    Pending(Arc<PendingSize>),
    /// A user's callback.
    Callback(Box<dyn FnOnce(u64) + Send + Sync>),
    /// Two observations of a stack.
    Both(Box<(BodySizeRecorder, BodySizeRecorder)>),
}

impl std::fmt::Debug for BodySizeRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodySizeRecorder").finish_non_exhaustive()
    }
}

impl BodySizeRecorder {
    pub(crate) fn metrics(target: SizeTarget) -> Self {
        BodySizeRecorder {
            target: Target::Metrics(target),
        }
    }

    pub(crate) fn pending(pending: Arc<PendingSize>) -> Self {
        BodySizeRecorder {
            target: Target::Pending(pending),
        }
    }

    /// A recorder calling `record` with the body's size: for an observer of your own.
    pub fn from_fn(record: impl FnOnce(u64) + Send + Sync + 'static) -> Self {
        BodySizeRecorder {
            target: Target::Callback(Box::new(record)),
        }
    }

    /// One recorder for the recorders of two observations (a stack's): either, both or none.
    pub fn merge(first: Option<Self>, second: Option<Self>) -> Option<Self> {
        match (first, second) {
            (Some(first), Some(second)) => Some(BodySizeRecorder {
                target: Target::Both(Box::new((first, second))),
            }),
            (first, second) => first.or(second),
        }
    }

    /// The body ended after `bytes` bytes: records its size.
    pub fn record(self, bytes: u64) {
        match self.target {
            Target::Metrics(target) => target.record(bytes),
            Target::Pending(pending) => pending.body_ended(bytes),
            Target::Callback(record) => record(bytes),
            Target::Both(both) => {
                let (first, second) = *both;
                first.record(bytes);
                second.record(bytes);
            }
        }
    }
}

/// Counts a body's bytes as they stream and records the total at the end of the stream: the
/// whole of a body wrapper's logic, for a framework's own body type (actix-web's
/// `MessageBody`, a payload stream, an `AsyncRead`). A counter without a recorder counts
/// nothing, so a wrapper can hold one whether or not the size is recorded.
///
/// ```
/// use octopus_core::body::{BodyCounter, BodySizeRecorder};
/// use std::sync::{Arc, Mutex};
///
/// let seen = Arc::new(Mutex::new(None));
/// let recorded = seen.clone();
/// let mut counter =
///     BodyCounter::new(Some(BodySizeRecorder::from_fn(move |n| *recorded.lock().unwrap() = Some(n))));
/// counter.add(5);
/// counter.add(7);
/// counter.end();
/// counter.end(); // once only
/// assert_eq!(*seen.lock().unwrap(), Some(12));
/// ```
#[derive(Debug, Default)]
pub struct BodyCounter {
    recorder: Option<BodySizeRecorder>,
    bytes: u64,
}

impl BodyCounter {
    /// A counter recording into `recorder`; with `None`, a counter that does nothing.
    pub fn new(recorder: Option<BodySizeRecorder>) -> Self {
        BodyCounter { recorder, bytes: 0 }
    }

    /// Whether the size will be recorded (the body is being counted).
    pub fn is_counting(&self) -> bool {
        self.recorder.is_some()
    }

    /// `bytes` more bytes of the body went by.
    #[inline]
    pub fn add(&mut self, bytes: usize) {
        if self.recorder.is_some() {
            self.bytes = self.bytes.saturating_add(bytes as u64);
        }
    }

    /// The body ended (the end of the stream): records its size, once.
    pub fn end(&mut self) {
        if let Some(recorder) = self.recorder.take() {
            recorder.record(self.bytes);
        }
    }

    /// The body failed (a read error): its size is not recorded.
    pub fn abort(&mut self) {
        self.recorder = None;
    }
}

/// The exact size of an [`http_body::Body`], when its size hint knows it (a `Content-Length`,
/// a full body, an empty one): what adapters pass as the known body size.
pub fn exact_size<B: Body + ?Sized>(body: &B) -> Option<u64> {
    body.size_hint().exact()
}

/// The size of an HTTP/1 request's body from its headers (RFC 9112 §6.3): its
/// `Content-Length`; 0 when it has neither a length nor a `Transfer-Encoding` (no body);
/// unknown (chunked) otherwise. Only for HTTP/1.0 and 1.1: an HTTP/2 or 3 request may carry a
/// body with neither header. [`RequestView::body_size`](crate::RequestView::body_size) applies
/// it when the view's protocol version is 1.x; an adapter that knows the connection is
/// HTTP/1 but not its exact version (rocket without TLS) passes it itself.
///
/// ```
/// let get: &[(&str, &str)] = &[("host", "x")];
/// let post: &[(&str, &str)] = &[("content-length", "12")];
/// let chunked: &[(&str, &str)] = &[("transfer-encoding", "chunked")];
/// assert_eq!(octopus_core::body::http1_request_size(get), Some(0));
/// assert_eq!(octopus_core::body::http1_request_size(post), Some(12));
/// assert_eq!(octopus_core::body::http1_request_size(chunked), None);
/// ```
pub fn http1_request_size<H: HeaderSource + ?Sized>(headers: &H) -> Option<u64> {
    match headers.header("content-length") {
        Some(length) => length.trim().parse().ok(),
        None => headers.header("transfer-encoding").is_none().then_some(0),
    }
}

pin_project_lite::pin_project! {
    /// An [`http_body::Body`] whose bytes are counted, the size recorded when its last frame
    /// has gone (its stream ended, or [`is_end_stream`](Body::is_end_stream) says so after a
    /// frame). Made with no recorder, it only passes the frames on.
    ///
    /// A body that errors, or is dropped before its end, is not recorded.
    ///
    /// ```
    /// use http_body_util::{BodyExt, Full};
    /// use octopus_core::body::{BodySizeRecorder, CountedBody};
    /// use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let seen = Arc::new(AtomicU64::new(0));
    /// let recorded = seen.clone();
    /// let recorder = BodySizeRecorder::from_fn(move |n| recorded.store(n, Ordering::Relaxed));
    /// let body = CountedBody::new(Full::new(bytes::Bytes::from("hello")), Some(recorder));
    /// assert_eq!(body.collect().await.unwrap().to_bytes(), "hello");
    /// assert_eq!(seen.load(Ordering::Relaxed), 5);
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct CountedBody<B> {
        #[pin]
        inner: B,
        counter: BodyCounter,
    }
}

impl<B> CountedBody<B> {
    /// `inner`, counted into `recorder` (or passed through, with `None`).
    pub fn new(inner: B, recorder: Option<BodySizeRecorder>) -> Self {
        CountedBody {
            inner,
            counter: BodyCounter::new(recorder),
        }
    }

    /// The wrapped body.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: Body> Body for CountedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let mut this = self.project();
        if !this.counter.is_counting() {
            return this.inner.poll_frame(cx);
        }
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.counter.add(data.remaining());
                }
                // hyper stops polling a body that says it ended.
                if this.inner.is_end_stream() {
                    this.counter.end();
                }
            }
            Some(Err(_)) => this.counter.abort(),
            None => this.counter.end(),
        }
        Poll::Ready(frame)
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
