//! The transport under a session: anything that carries text frames both ways. The
//! WebSocket to an engine is one; an in-memory pair (for scripted tests) is another.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Sink, Stream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message, Utf8Bytes};

use crate::error::{CloseInfo, Error, TransportError, ws_cause};

/// A text frame: UTF-8 guaranteed, cheap to clone (shared bytes). tungstenite's
/// [`Utf8Bytes`] holds it: a text frame off the WebSocket is kept as it came, uncopied.
#[derive(Clone, PartialEq, Eq)]
pub struct Text(Utf8Bytes);

impl Text {
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(Utf8Bytes::from(s))
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text(Utf8Bytes::from(s))
    }
}

impl From<Utf8Bytes> for Text {
    fn from(s: Utf8Bytes) -> Self {
        Text(s)
    }
}

impl TryFrom<Bytes> for Text {
    type Error = std::str::Utf8Error;
    fn try_from(b: Bytes) -> Result<Self, Self::Error> {
        Utf8Bytes::try_from(b).map(Text)
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A frame from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Text(Text),
    /// The peer closed the connection (with its close frame, if it sent one).
    Close(Option<CloseInfo>),
}

/// A duplex of frames: incoming [`Frame`]s as a stream, outgoing text as a sink.
pub trait Transport:
    Stream<Item = Result<Frame, Error>> + Sink<String, Error = Error> + Send + Unpin + 'static
{
}

impl<T> Transport for T where
    T: Stream<Item = Result<Frame, Error>> + Sink<String, Error = Error> + Send + Unpin + 'static
{
}

/// A WebSocket as a [`Transport`].
pub struct WsTransport<S> {
    ws: WebSocketStream<S>,
}

impl<S> WsTransport<S> {
    pub fn new(ws: WebSocketStream<S>) -> Self {
        WsTransport { ws }
    }
}

fn ws_error(e: tungstenite::Error) -> Error {
    match e {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            Error::ConnectionClosed(CloseInfo {
                code: None,
                reason: "connection closed".into(),
                by_client: false,
            })
        }
        // The peer went away without a close frame: the connection is closed, not broken.
        tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        ) => Error::ConnectionClosed(CloseInfo {
            code: None,
            reason: "the connection dropped (reset without a closing handshake)".into(),
            by_client: false,
        }),
        tungstenite::Error::Io(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            ) =>
        {
            Error::ConnectionClosed(CloseInfo {
                code: None,
                reason: format!("the connection dropped: {io}"),
                by_client: false,
            })
        }
        tungstenite::Error::Protocol(p) => Error::Transport(TransportError::with_cause(
            format!("WebSocket protocol error: {p}"),
            p,
        )),
        tungstenite::Error::Capacity(c) => Error::Protocol(format!("frame too large: {c}")),
        other => Error::Transport(TransportError::with_cause(
            other.to_string(),
            ws_cause(other),
        )),
    }
}

fn close_info(frame: Option<CloseFrame>) -> Option<CloseInfo> {
    frame.map(|f| CloseInfo {
        code: Some(u16::from(f.code)),
        reason: f.reason.to_string(),
        by_client: false,
    })
}

impl<S> Stream for WsTransport<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    type Item = Result<Frame, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let msg = match Pin::new(&mut self.ws).poll_next(cx) {
                Poll::Ready(Some(Ok(m))) => m,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(ws_error(e)))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            };
            return Poll::Ready(Some(Ok(match msg {
                Message::Text(t) => Frame::Text(Text(t)),
                Message::Binary(b) => match Text::try_from(b) {
                    Ok(t) => Frame::Text(t),
                    Err(e) => {
                        return Poll::Ready(Some(Err(Error::Protocol(format!(
                            "binary frame is not UTF-8 JSON: {e}"
                        )))));
                    }
                },
                Message::Close(c) => Frame::Close(close_info(c)),
                // Pings are answered by tungstenite itself.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            })));
        }
    }
}

impl<S> Sink<String> for WsTransport<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    type Error = Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.ws).poll_ready(cx).map_err(ws_error)
    }

    fn start_send(mut self: Pin<&mut Self>, item: String) -> Result<(), Error> {
        Pin::new(&mut self.ws)
            .start_send(Message::Text(item.into()))
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
