//! Seeing the traffic: a hook that sees every frame, and a JSON-lines logger.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Sent,
    Received,
}

/// Sees every frame a session sends and receives, in order, with its secrets redacted (see
/// [`redact`](crate::redact)). Called on the connection task: keep it quick.
pub trait TrafficHook: Send + Sync {
    fn frame(&self, direction: Direction, text: &str);
}

impl<F: Fn(Direction, &str) + Send + Sync> TrafficHook for F {
    fn frame(&self, direction: Direction, text: &str) {
        self(direction, text)
    }
}

/// Writes every frame as a JSON line `{"Sent": …}` / `{"Received": …}` (the row format of
/// enigma-go's traffic logs, which replay reads); a frame that is not JSON is written as a
/// string. Frames can carry credentials (`OpenDoc`'s `qPassword`, a data connection's
/// password and connection string): those are redacted before they are written, whether
/// the frames come from a session (which redacts before any hook) or are given to
/// [`TrafficHook::frame`] directly. The connect headers (`Authorization`, `Cookie`,
/// `X-Qlik-User`) are never seen here.
pub struct JsonLinesLog {
    out: Mutex<Box<dyn Write + Send>>,
}

impl JsonLinesLog {
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::File::create(path)?;
        Ok(Self::new(Box::new(std::io::BufWriter::new(file))))
    }

    pub fn new(out: Box<dyn Write + Send>) -> Self {
        JsonLinesLog {
            out: Mutex::new(out),
        }
    }
}

impl TrafficHook for JsonLinesLog {
    fn frame(&self, direction: Direction, text: &str) {
        let key = match direction {
            Direction::Sent => "Sent",
            Direction::Received => "Received",
        };
        let text = crate::redact::frame(text);
        let value = serde_json::from_str::<serde_json::Value>(&text)
            .unwrap_or_else(|_| serde_json::Value::String(text.into_owned()));
        let line = serde_json::json!({ key: value });
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}
