//! actix-web's body types around Octopus's [`BodyCounter`]: a response [`MessageBody`] and a
//! request payload stream, counted only when the core hands out a recorder (the size unknown
//! up front and recorded).

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures_util::Stream;
use octopus_core::body::{BodyCounter, BodySizeRecorder};

/// The size of a response body when actix knows it up front: `None` for a stream.
pub(crate) fn known_size(size: BodySize) -> Option<u64> {
    match size {
        BodySize::None => Some(0),
        BodySize::Sized(bytes) => Some(bytes),
        BodySize::Stream => None,
    }
}

pin_project_lite::pin_project! {
    /// A response body, counted at the end of its stream when it was handed a recorder
    /// (a streamed body whose size is recorded); otherwise passed through.
    #[derive(Debug)]
    pub struct CountedMessageBody<B> {
        #[pin]
        inner: B,
        counter: BodyCounter,
    }
}

impl<B> CountedMessageBody<B> {
    pub(crate) fn new(inner: B) -> Self {
        CountedMessageBody {
            inner,
            counter: BodyCounter::new(None),
        }
    }

    pub(crate) fn counting(self, recorder: BodySizeRecorder) -> Self {
        CountedMessageBody {
            inner: self.inner,
            counter: BodyCounter::new(Some(recorder)),
        }
    }
}

impl<B: MessageBody> MessageBody for CountedMessageBody<B> {
    type Error = B::Error;

    #[inline]
    fn size(&self) -> BodySize {
        self.inner.size()
    }

    #[inline]
    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.project();
        if !this.counter.is_counting() {
            return this.inner.poll_next(cx);
        }
        let chunk = ready!(this.inner.poll_next(cx));
        count(this.counter, &chunk);
        Poll::Ready(chunk)
    }

    #[inline]
    fn try_into_bytes(self) -> Result<Bytes, Self> {
        if self.counter.is_counting() {
            return Err(self);
        }
        let counter = self.counter;
        self.inner
            .try_into_bytes()
            .map_err(|inner| CountedMessageBody { inner, counter })
    }
}

pin_project_lite::pin_project! {
    /// A request payload, counted as the handler reads it.
    struct CountedPayload {
        #[pin]
        inner: Payload,
        counter: BodyCounter,
    }
}

impl Stream for CountedPayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let chunk = ready!(this.inner.poll_next(cx));
        count(this.counter, &chunk);
        Poll::Ready(chunk)
    }
}

/// Counts a stream's next item: a chunk's bytes, an error (the body is then never recorded),
/// or the end (recorded).
fn count<E>(counter: &mut BodyCounter, chunk: &Option<Result<Bytes, E>>) {
    match chunk {
        Some(Ok(bytes)) => counter.add(bytes.len()),
        Some(Err(_)) => counter.abort(),
        None => counter.end(),
    }
}

/// `payload`, counted into `recorder`.
pub(crate) fn counted_payload(payload: Payload, recorder: BodySizeRecorder) -> Payload {
    Payload::Stream {
        payload: Box::pin(CountedPayload {
            inner: payload,
            counter: BodyCounter::new(Some(recorder)),
        }),
    }
}
