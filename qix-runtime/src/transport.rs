//! The transport under a session: anything that carries text frames both ways. The
//! WebSocket to an engine is one; an in-memory pair (for scripted tests) is another.
//!
//! The WebSocket is tokio-websockets, which logs nothing: a client whose user turns on
//! TRACE logging to chase a drop must not write the `Authorization` header of the
//! upgrade or the passwords inside frames to their log store (tungstenite, the usual
//! choice, logs both at TRACE through the `log` facade).

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::{Sink, Stream};
use tokio::sync::mpsc;
use tokio_websockets::{Message, WebSocketStream};

use crate::error::{CloseInfo, Error, TransportError, ws_cause};

pub use crate::text::Text;

/// A frame from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    Text(Text),
    /// The answer to a keepalive ping ([`Transport::start_ping`]).
    Pong,
    /// The peer closed the connection (with its close frame, if it sent one).
    Close(Option<CloseInfo>),
}

/// A duplex of frames: incoming [`Frame`]s as a stream, outgoing text as a sink. A
/// transport that can ping (the WebSocket) says so, for the session's keepalive.
pub trait Transport:
    Stream<Item = Result<Frame, Error>> + Sink<String, Error = Error> + Send + Unpin + 'static
{
    /// Whether [`start_ping`](Transport::start_ping) sends anything (default: no).
    fn supports_ping(&self) -> bool {
        false
    }

    /// Queues a ping (after `poll_ready`, as `start_send`); the peer's answer arrives as
    /// [`Frame::Pong`]. The default does nothing.
    fn start_ping(self: Pin<&mut Self>) -> Result<(), Error> {
        Ok(())
    }
}

/// The byte stream under a WebSocket: TCP, or TLS over TCP.
pub trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}

impl<T> Io for T where T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}

/// A WebSocket as a [`Transport`].
pub struct WsTransport<S> {
    ws: WebSocketStream<S>,
}

impl<S> WsTransport<S> {
    pub fn new(ws: WebSocketStream<S>) -> Self {
        WsTransport { ws }
    }
}

impl<S: Io> Transport for WsTransport<S> {
    fn supports_ping(&self) -> bool {
        true
    }

    fn start_ping(mut self: Pin<&mut Self>) -> Result<(), Error> {
        Pin::new(&mut self.ws)
            .start_send(Message::ping(&b"qix"[..]))
            .map_err(ws_error)
    }
}

pub(crate) fn ws_error(e: tokio_websockets::Error) -> Error {
    use tokio_websockets::Error as E;
    match e {
        E::AlreadyClosed => Error::ConnectionClosed(CloseInfo::remote(None, "connection closed")),
        E::Io(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            ) =>
        {
            // The peer went away without a close frame: the connection is closed, not
            // broken.
            Error::ConnectionClosed(CloseInfo::remote(
                None,
                format!("the connection dropped: {io}"),
            ))
        }
        E::PayloadTooLong { len, max_len } => Error::Protocol(format!(
            "frame too large: {len} bytes, more than the limit of {max_len}"
        )),
        E::Protocol(p) => Error::Transport(TransportError::with_cause(
            format!("WebSocket protocol error: {p}"),
            p,
        )),
        other => Error::Transport(TransportError::with_cause(
            other.to_string(),
            ws_cause(other),
        )),
    }
}

fn close_info(msg: &Message) -> Option<CloseInfo> {
    let (code, reason) = msg.as_close()?;
    let code = u16::from(code);
    // 1005: the close frame had no code.
    Some(CloseInfo {
        code: (code != 1005).then_some(code),
        reason: reason.to_string(),
        by_client: false,
    })
}

impl<S: Io> Stream for WsTransport<S> {
    type Item = Result<Frame, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let msg = match Pin::new(&mut self.ws).poll_next(cx) {
                Poll::Ready(Some(Ok(m))) => m,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(ws_error(e)))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            };
            if msg.is_text() {
                return Poll::Ready(Some(Ok(Frame::Text(Text::from_message(msg)))));
            }
            if msg.is_binary() {
                let bytes = bytes::Bytes::from(msg.into_payload());
                return Poll::Ready(Some(match Text::try_from(bytes) {
                    Ok(t) => Ok(Frame::Text(t)),
                    Err(e) => Err(Error::Protocol(format!(
                        "binary frame is not UTF-8 JSON: {e}"
                    ))),
                }));
            }
            if msg.is_close() {
                return Poll::Ready(Some(Ok(Frame::Close(close_info(&msg)))));
            }
            if msg.is_pong() {
                return Poll::Ready(Some(Ok(Frame::Pong)));
            }
            // Pings are answered by tokio-websockets itself.
        }
    }
}

impl<S: Io> Sink<String> for WsTransport<S> {
    type Error = Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.ws).poll_ready(cx).map_err(ws_error)
    }

    fn start_send(mut self: Pin<&mut Self>, item: String) -> Result<(), Error> {
        Pin::new(&mut self.ws)
            .start_send(Message::text(item))
            .map_err(ws_error)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.ws).poll_flush(cx).map_err(ws_error)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.ws).poll_close(cx).map_err(ws_error)
    }
}

/// One end of an in-memory transport: what a session uses.
pub struct ChannelTransport {
    rx: mpsc::UnboundedReceiver<Frame>,
    tx: mpsc::UnboundedSender<String>,
}

/// The other end: a scripted peer reads what the session sent and pushes frames to it.
pub struct ChannelPeer {
    /// Frames the session sent, in order.
    pub sent: mpsc::UnboundedReceiver<String>,
    /// Push frames to the session.
    pub push: mpsc::UnboundedSender<Frame>,
}

impl ChannelPeer {
    /// Sends a text frame to the session; false when the session is gone.
    pub fn send_text(&self, text: impl Into<String>) -> bool {
        self.push.send(Frame::Text(Text::from(text.into()))).is_ok()
    }

    /// Closes the connection with a close frame.
    pub fn close(&self, code: u16, reason: &str) -> bool {
        self.push
            .send(Frame::Close(Some(CloseInfo {
                code: Some(code),
                reason: reason.to_string(),
                by_client: false,
            })))
            .is_ok()
    }
}

/// An in-memory transport pair.
pub fn channel() -> (ChannelTransport, ChannelPeer) {
    let (push, rx) = mpsc::unbounded_channel();
    let (tx, sent) = mpsc::unbounded_channel();
    (ChannelTransport { rx, tx }, ChannelPeer { sent, push })
}

impl Transport for ChannelTransport {}

impl Stream for ChannelTransport {
    type Item = Result<Frame, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx).map(|f| f.map(Ok))
    }
}

impl Sink<String> for ChannelTransport {
    type Error = Error;
    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }
    fn start_send(self: Pin<&mut Self>, item: String) -> Result<(), Error> {
        self.tx.send(item).map_err(|_| {
            Error::ConnectionClosed(CloseInfo {
                code: None,
                reason: "the peer is gone".into(),
                by_client: false,
            })
        })
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }
}
