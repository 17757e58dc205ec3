//! [`Text`]: a text frame, UTF-8 guaranteed, cheap to clone (shared bytes).

use bytes::Bytes;

/// A text frame: UTF-8 guaranteed, cheap to clone (shared bytes). A frame off the
/// WebSocket is kept as it came, uncopied and not validated a second time.
#[derive(Clone, PartialEq, Eq)]
pub struct Text(Bytes);

impl Text {
    /// A received text message. tokio-websockets validated its UTF-8 as it read it (RFC
    /// 6455 requires text to be UTF-8; the stream fails otherwise), and `as_text` checks it
    /// for any other message, so the bytes are kept without a second pass.
    pub(crate) fn from_message(msg: tokio_websockets::Message) -> Text {
        let valid = msg.as_text().is_some();
        let bytes = Bytes::from(msg.into_payload());
        if valid {
            Text(bytes)
        } else {
            // Not a text message: validated here (never the case on the read path).
            Text::try_from(bytes).unwrap_or_else(|_| Text(Bytes::new()))
        }
    }

    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor holds valid UTF-8: `From<String>`/`From<&str>` by type,
        // `TryFrom<Bytes>` by `str::from_utf8`, `from_message` by tokio-websockets'
        // validation of received text (checked again by `Message::as_text` otherwise).
        #[allow(unsafe_code)]
        unsafe {
            std::str::from_utf8_unchecked(&self.0)
        }
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
        Text(Bytes::from(s))
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl TryFrom<Bytes> for Text {
    type Error = std::str::Utf8Error;
    fn try_from(b: Bytes) -> Result<Self, Self::Error> {
        std::str::from_utf8(&b)?;
        Ok(Text(b))
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_hold_their_text() {
        assert_eq!(Text::from("héllo").as_str(), "héllo");
        assert_eq!(Text::from(String::from("x")).len(), 1);
        assert!(Text::try_from(Bytes::from_static(b"\xff")).is_err());
        let m = tokio_websockets::Message::text(String::from("{\"a\":1}"));
        assert_eq!(Text::from_message(m).as_str(), "{\"a\":1}");
        let b = tokio_websockets::Message::binary(&b"\xff\xfe"[..]);
        assert!(Text::from_message(b).is_empty());
    }
}
