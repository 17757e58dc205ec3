//! [`BroadcastStream`]: a subscription to a session's notifications or changes.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream as Inner;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

/// The subscriber fell this many items behind; they are gone, the stream goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the subscriber lagged and missed {0} items")]
pub struct Lagged(pub u64);

/// A `Stream` over a bounded broadcast channel. Ends when its source ends: the session
/// (notifications, changes) or the object (`changed`).
///
/// tokio-stream's `BroadcastStream` underneath (one reused allocation for its receive
/// future), with lag as [`Lagged`] and counted in the metrics.
pub struct BroadcastStream<T> {
    /// `None` once ended (or made ended): polling again stays at `None`.
    inner: Option<Inner<T>>,
}

impl<T: Clone + Send + 'static> BroadcastStream<T> {
    pub(crate) fn new(rx: broadcast::Receiver<T>) -> Self {
        BroadcastStream {
            inner: Some(Inner::new(rx)),
        }
    }

    /// A stream that has ended already (a subscription made after the end).
    pub(crate) fn ended() -> Self {
        BroadcastStream { inner: None }
    }

    /// The next item; `None` when the session has ended.
    pub async fn next_item(&mut self) -> Option<Result<T, Lagged>> {
        futures_util::StreamExt::next(self).await
    }
}

impl<T: Clone + Send + 'static> Stream for BroadcastStream<T> {
    type Item = Result<T, Lagged>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(inner).poll_next(cx) {
            Poll::Ready(Some(Ok(v))) => Poll::Ready(Some(Ok(v))),
            Poll::Ready(Some(Err(BroadcastStreamRecvError::Lagged(n)))) => {
                crate::observe::count_lagged(n);
                Poll::Ready(Some(Err(Lagged(n))))
            }
            Poll::Ready(None) => {
                self.inner = None;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            Some(inner) => inner.size_hint(),
            None => (0, Some(0)),
        }
    }
}

impl<T> fmt::Debug for BroadcastStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BroadcastStream")
    }
}
