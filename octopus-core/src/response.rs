//! The framework-neutral view of how a request ended.

use std::time::Instant;

/// How a request ended, as the adapter reports it to
/// [`ObservedRequest::finish`](crate::ObservedRequest::finish).
///
/// Three shapes cover every framework:
/// - [`ResponseView::new`]: the handler produced a response with this status;
/// - [`ResponseView::failed`]: the handler returned an error, which the framework turns into a
///   response with this status (actix-web's `Err`, a warp rejection);
/// - [`ResponseView::panicked`]: the handler panicked; the client gets a 500.
///
/// A request whose future was dropped before it ended (client gone, timeout) has no response:
/// the adapter simply drops the [`ObservedRequest`](crate::ObservedRequest), which reports it as
/// cancelled.
///
/// ```
/// use octopus_core::ResponseView;
///
/// assert_eq!(ResponseView::new(404).status(), 404);
/// assert!(ResponseView::panicked().is_panic());
/// assert_eq!(ResponseView::failed(503, "Timeout").error_kind(), Some("Timeout"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseView<'a> {
    status: u16,
    panicked: bool,
    error_kind: Option<&'a str>,
    finished_at: Option<Instant>,
    body_size: Option<u64>,
}

impl<'a> ResponseView<'a> {
    /// A response the handler produced.
    pub const fn new(status: u16) -> Self {
        ResponseView {
            status,
            panicked: false,
            error_kind: None,
            finished_at: None,
            body_size: None,
        }
    }

    /// A handler error, rendered by the framework as a response with `status`. `kind` names the
    /// error (a type name or a short, low-cardinality description).
    pub const fn failed(status: u16, kind: &'a str) -> Self {
        ResponseView {
            status,
            panicked: false,
            error_kind: Some(kind),
            finished_at: None,
            body_size: None,
        }
    }

    /// The handler panicked; the client receives a 500.
    pub const fn panicked() -> Self {
        ResponseView {
            status: 500,
            panicked: true,
            error_kind: None,
            finished_at: None,
            body_size: None,
        }
    }

    /// When the request ended, if not now (an adapter that finishes after the last body byte,
    /// or a test that needs an exact duration): the end of the measured latency and of the
    /// span.
    pub const fn with_finished_at(mut self, finished_at: Instant) -> Self {
        self.finished_at = Some(finished_at);
        self
    }

    /// The response body's length in bytes, when known as the response leaves the handler (its
    /// `Content-Length`, a sized body, 0 for none). Unset, an observation that records body
    /// sizes hands the adapter a [`BodySizeRecorder`](crate::body::BodySizeRecorder) to count
    /// the body as it streams.
    pub const fn with_body_size(mut self, size: Option<u64>) -> Self {
        self.body_size = size;
        self
    }

    /// The response body's length in bytes, if the adapter said.
    pub const fn body_size(&self) -> Option<u64> {
        self.body_size
    }

    /// The status code the client received.
    pub const fn status(&self) -> u16 {
        self.status
    }

    /// Whether the handler panicked.
    pub const fn is_panic(&self) -> bool {
        self.panicked
    }

    /// The handler error's kind, if the handler returned an error.
    pub const fn error_kind(&self) -> Option<&'a str> {
        self.error_kind
    }

    /// Whether the status is a server error (5xx), which marks a server span as failed.
    pub const fn is_server_error(&self) -> bool {
        self.status >= 500 && self.status < 600
    }

    /// When the request ended, if the adapter said.
    pub const fn finished_at(&self) -> Option<Instant> {
        self.finished_at
    }
}
