//! [`CallFuture`]: a call in flight. Dropping it before its answer cancels the call.

use std::borrow::Cow;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::time::Sleep;

use crate::error::{Error, Result};
use crate::session::Session;
use crate::transport::Text;

/// What the connection task hands a caller: the frame and where its `result` is in it.
pub(crate) type Reply = Result<(Text, Range<usize>)>;

/// Decodes a call's `result` JSON into the call's output.
pub type Decoder<T> = fn(&Session, &str) -> Result<T>;

/// The future of a call's result. Generated requests turn into this on `.await`.
///
/// The request is sent when the future is created. Dropping the future before the answer
/// arrives cancels the call: the engine gets a `CancelRequest` and the late answer is
/// dropped.
#[must_use = "dropping a call future cancels the call"]
pub struct CallFuture<T> {
    failed: Option<Error>,
    waiting: Option<Waiting>,
    decode: Decoder<T>,
}

struct Waiting {
    session: Session,
    rx: oneshot::Receiver<Reply>,
    id: i64,
    handle: i32,
    class: Arc<str>,
    method: Cow<'static, str>,
    deadline: Option<(Pin<Box<Sleep>>, Duration)>,
    started: Option<Instant>,
}

impl<T> CallFuture<T> {
    pub(crate) fn failed(e: Error) -> Self {
        CallFuture {
            failed: Some(e),
            waiting: None,
            decode: |_, _| Err(Error::Protocol("decoder of a failed call".into())),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn waiting(
        session: Session,
        id: i64,
        handle: i32,
        class: Arc<str>,
        method: Cow<'static, str>,
        rx: oneshot::Receiver<Reply>,
        timeout: Option<Duration>,
        decode: Decoder<T>,
    ) -> Self {
        let started = tracing::enabled!(target: "qix", tracing::Level::DEBUG).then(Instant::now);
        CallFuture {
            failed: None,
            waiting: Some(Waiting {
                session,
                rx,
                id,
                handle,
                class,
                method,
                deadline: timeout.map(|t| (Box::pin(tokio::time::sleep(t)), t)),
                started,
            }),
            decode,
        }
    }

    /// The JSON-RPC id of the request (for `Global.GetProgress` while it runs, say);
    /// `None` if the call failed before it was sent.
    pub fn request_id(&self) -> Option<i64> {
        self.waiting.as_ref().map(|w| w.id)
    }

    /// Cancels the call now (as dropping it does).
    pub fn cancel(mut self) {
        if let Some(w) = self.waiting.take() {
            w.session.cancel(w.id);
        }
    }
}

impl<T> Unpin for CallFuture<T> {}

impl<T> Future for CallFuture<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        if let Some(e) = self.failed.take() {
            return Poll::Ready(Err(e));
        }
        let Some(w) = self.waiting.as_mut() else {
            return Poll::Ready(Err(Error::Protocol(
                "call future polled after completion".into(),
            )));
        };
        let reply = match Pin::new(&mut w.rx).poll(cx) {
            Poll::Ready(r) => r,
            Poll::Pending => {
                if let Some((sleep, after)) = &mut w.deadline {
                    if sleep.as_mut().poll(cx).is_ready() {
                        let after = *after;
                        let w = self.waiting.take().expect("checked above");
                        w.session.cancel(w.id);
                        return Poll::Ready(Err(Error::Timeout {
                            what: format!("{}.{} (request {})", w.class, w.method, w.id),
                            after,
                        }));
                    }
                }
                return Poll::Pending;
            }
        };
        let w = self.waiting.take().expect("checked above");
        let out = match reply {
            Ok(Ok((text, range))) => {
                let raw = &text.as_str()[range];
                if let Some(t0) = w.started {
                    tracing::debug!(
                        target: "qix",
                        method = %w.method,
                        class = %w.class,
                        handle = w.handle,
                        id = w.id,
                        bytes = text.len(),
                        micros = t0.elapsed().as_micros() as u64,
                        "call done"
                    );
                }
                (self.decode)(&w.session, raw).map_err(|e| label(e, &w))
            }
            Ok(Err(e)) => Err(e),
            // The connection task dropped the slot without answering: only on shutdown,
            // which answers every slot first; treat it as a closed connection.
            Err(_) => Err(w.session.closed_error()),
        };
        Poll::Ready(out)
    }
}

/// Puts the class in front of the method name of decode errors (`Doc.GetLayout`).
fn label(e: Error, w: &Waiting) -> Error {
    match e {
        Error::Decode(mut d) => {
            d.method = format!("{}.{}", w.class, w.method);
            Error::Decode(d)
        }
        Error::ObjectNotFound { detail, .. } => Error::ObjectNotFound {
            method: format!("{}.{}", w.class, w.method),
            detail,
        },
        other => other,
    }
}

impl<T> Drop for CallFuture<T> {
    fn drop(&mut self) {
        if let Some(w) = self.waiting.take() {
            w.session.cancel(w.id);
        }
    }
}

impl<T> std::fmt::Debug for CallFuture<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallFuture")
            .field("id", &self.request_id())
            .field("failed", &self.failed)
            .finish()
    }
}
