//! Frames the mock engine and the replay send, and what a conversation with one client
//! does in answer to a frame.

use std::time::Duration;

use serde_json::{Value, json};

use super::matching::MockRequest;

/// The JSON-RPC error code of the mock's and the replay's own errors: a request no
/// expectation matches, a request that differs from the recording, a malformed request.
pub const UNMATCHED_ERROR_CODE: i32 = -32000;

/// What the engine side does next on one connection.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    Send(String),
    SendAfter(Duration, String),
    Close {
        code: u16,
        reason: String,
    },
    /// Drops the TCP connection without a close frame.
    Drop,
    /// Writes the first half of a WebSocket text frame holding this text, then drops the
    /// connection.
    PartialFrame(String),
    /// Neither reads nor writes again, without closing (a half-open connection).
    Silence,
}

/// What a conversation made of one incoming frame.
pub(crate) struct Reaction {
    /// The request, when the frame was one.
    pub request: Option<MockRequest>,
    pub actions: Vec<Action>,
}

/// The engine side of one connection: the mock's expectations or a replayed recording.
pub(crate) trait Conversation: Send {
    /// Frames sent as soon as the client connects (`OnConnected`).
    fn opening(&mut self) -> Vec<Action>;
    fn on_text(&mut self, text: &str) -> Reaction;
}

pub(crate) fn notification_frame(method: &str, params: &Value) -> String {
    json!({"jsonrpc": "2.0", "method": method, "params": params}).to_string()
}

pub(crate) fn error_value(id: Option<i64>, code: i32, parameter: &str, message: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": code, "parameter": parameter, "message": message},
    })
}

pub(crate) fn error_frame(id: Option<i64>, code: i32, parameter: &str, message: &str) -> String {
    error_value(id, code, parameter, message).to_string()
}

/// A frame cut in half (on a char boundary): a response that is not valid JSON.
pub(crate) fn truncated(frame: &str) -> String {
    let mut cut = frame.len() / 2;
    while !frame.is_char_boundary(cut) {
        cut -= 1;
    }
    frame[..cut].to_string()
}

/// The bytes of an unmasked (server to client) WebSocket text frame holding `text`, cut
/// after the header and half the payload.
pub(crate) fn partial_ws_frame(text: &str) -> Vec<u8> {
    let payload = text.as_bytes();
    let n = payload.len();
    let mut out = vec![0x81];
    if n < 126 {
        out.push(n as u8);
    } else if n <= 0xFFFF {
        out.push(126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    out.extend_from_slice(&payload[..n / 2]);
    out
}
