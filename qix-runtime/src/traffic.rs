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

/// Sees every frame a session sends and receives, in order. Called on the connection
/// task: keep it quick.
pub trait TrafficHook: Send + Sync {
    fn frame(&self, direction: Direction, text: &str);
}

impl<F: Fn(Direction, &str) + Send + Sync> TrafficHook for F {
    fn frame(&self, direction: Direction, text: &str) {
        self(direction, text)
    }
}

/// Writes every frame as a JSON line `{"Sent": …}` / `{"Received": …}` (the row format of
/// enigma-go's traffic logs, which replay reads). Frames carry no credentials (those are
/// in the connect headers, which this never sees); a frame that is not JSON is written as
/// a string.
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
        let value = serde_json::from_str::<serde_json::Value>(text)
            .unwrap_or_else(|_| serde_json::Value::String(text.to_string()));
        let line = serde_json::json!({ key: value });
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}
