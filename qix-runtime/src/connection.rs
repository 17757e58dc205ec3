//! The connection task: the only owner of the transport. It reads every frame that is
//! ready, routes it, then writes every queued request and flushes once, so pipelined calls
//! share syscalls.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::mpsc;

use crate::error::{CloseInfo, Error};
use crate::session::{Command, Shared};
use crate::traffic::Direction;
use crate::transport::{Frame, Transport};

/// How many frames are read before the queue of requests gets a turn.
const READ_BATCH: usize = 256;

pub(crate) async fn run<T: Transport>(
    mut transport: T,
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Command>,
) {
    let mut dirty = false;
    let mut closing = false;
    let why = poll_fn(|cx| {
        poll(
            cx,
            &mut transport,
            &shared,
            &mut rx,
            &mut dirty,
            &mut closing,
        )
    })
    .await;
    if closing {
        // Best effort: the close handshake must not keep the task alive.
        let close = poll_fn(|cx| Pin::new(&mut transport).poll_close(cx));
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), close).await;
    }
    shared.shutdown(why);
}

fn poll<T: Transport>(
    cx: &mut Context<'_>,
    transport: &mut T,
    shared: &Shared,
    rx: &mut mpsc::UnboundedReceiver<Command>,
    dirty: &mut bool,
    closing: &mut bool,
) -> Poll<Error> {
    loop {
        // 1. Read what is ready.
        let mut read = 0;
        while read < READ_BATCH {
            match Pin::new(&mut *transport).poll_next(cx) {
                Poll::Ready(Some(Ok(Frame::Text(text)))) => {
                    read += 1;
                    if let Err(e) = shared.on_frame(text) {
                        tracing::error!(target: "qix", error = %e, "closing the session");
                        *closing = true;
                        return Poll::Ready(e);
                    }
                }
                Poll::Ready(Some(Ok(Frame::Close(info)))) => {
                    return Poll::Ready(Error::ConnectionClosed(info.unwrap_or(CloseInfo {
                        code: None,
                        reason: "the engine closed the connection without a close frame".into(),
                    })));
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(e),
                Poll::Ready(None) => {
                    return Poll::Ready(Error::ConnectionClosed(CloseInfo {
                        code: None,
                        reason: "the connection dropped".into(),
                    }));
                }
                Poll::Pending => break,
            }
        }

        // 2. Write what is queued.
        let mut wrote = false;
        loop {
            match Pin::new(&mut *transport).poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(e),
                Poll::Pending => break,
            }
            match rx.poll_recv(cx) {
                Poll::Ready(Some(Command::Frame(frame))) => {
                    shared.trace(Direction::Sent, &frame);
                    if let Err(e) = Pin::new(&mut *transport).start_send(frame) {
                        return Poll::Ready(e);
                    }
                    wrote = true;
                    *dirty = true;
                }
                Poll::Ready(Some(Command::Close)) | Poll::Ready(None) => {
                    *closing = true;
                    return Poll::Ready(Error::ConnectionClosed(CloseInfo {
                        code: Some(1000),
                        reason: "the session was closed by the client".into(),
                    }));
                }
                Poll::Pending => break,
            }
        }

        // 3. Flush once per batch.
        if *dirty {
            match Pin::new(&mut *transport).poll_flush(cx) {
                Poll::Ready(Ok(())) => *dirty = false,
                Poll::Ready(Err(e)) => return Poll::Ready(e),
                Poll::Pending => {}
            }
        }

        // A full read batch may have more behind it; otherwise wait for a wake-up.
        if read < READ_BATCH && !wrote {
            return Poll::Pending;
        }
        if read == READ_BATCH {
            // Let callers run before reading more.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
    }
}
