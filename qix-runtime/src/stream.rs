//! [`BroadcastStream`]: a subscription to a session's notifications or changes.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use futures_util::future::BoxFuture;
use tokio::sync::broadcast;

/// The subscriber fell this many items behind; they are gone, the stream goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lagged(pub u64);

impl fmt::Display for Lagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the subscriber lagged and missed {} items", self.0)
    }
}

impl std::error::Error for Lagged {}

type Recv<T> = (
    Result<T, broadcast::error::RecvError>,
    broadcast::Receiver<T>,
);

/// A `Stream` over a bounded broadcast channel. Ends when its source ends: the session
/// (notifications, changes) or the object (`changed`).
pub struct BroadcastStream<T> {
    fut: Option<BoxFuture<'static, Recv<T>>>,
}

async fn recv<T: Clone + Send + 'static>(mut rx: broadcast::Receiver<T>) -> Recv<T> {
    let r = rx.recv().await;
    (r, rx)
}

impl<T: Clone + Send + 'static> BroadcastStream<T> {
    pub(crate) fn new(rx: broadcast::Receiver<T>) -> Self {
        BroadcastStream {
            fut: Some(Box::pin(recv(rx))),
        }
    }

    /// A stream that has ended already (a subscription made after the end).
    pub(crate) fn ended() -> Self {
        BroadcastStream { fut: None }
    }

    /// The next item; `None` when the session has ended.
    pub async fn next_item(&mut self) -> Option<Result<T, Lagged>> {
        futures_util::StreamExt::next(self).await
    }
}

impl<T: Clone + Send + 'static> Stream for BroadcastStream<T> {
    type Item = Result<T, Lagged>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(fut) = self.fut.as_mut() else {
            return Poll::Ready(None);
        };
        let (r, rx) = match fut.as_mut().poll(cx) {
            Poll::Ready(v) => v,
            Poll::Pending => return Poll::Pending,
        };
        match r {
            Ok(v) => {
                self.fut = Some(Box::pin(recv(rx)));
                Poll::Ready(Some(Ok(v)))
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                crate::observe::count_lagged(n);
                self.fut = Some(Box::pin(recv(rx)));
                Poll::Ready(Some(Err(Lagged(n))))
            }
            Err(broadcast::error::RecvError::Closed) => {
                self.fut = None;
                Poll::Ready(None)
            }
        }
    }
}

impl<T> fmt::Debug for BroadcastStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BroadcastStream")
    }
}
