//! Seeing the traffic: a hook that sees every frame, and a JSON-lines logger; the queue
//! that carries frames to the hooks on a thread of their own.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::transport::Text;

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Sent,
    Received,
}

/// Sees every frame a session sends and receives, in order, with its secrets redacted (see
/// [`redact`](crate::redact)). Hooks run on a thread of their own, so a slow one never
/// stalls a call; the frames waiting for them are bounded
/// ([`SessionOptions::traffic_queue_bytes`](crate::SessionOptions::traffic_queue_bytes)):
/// past the bound frames are dropped for the hooks, and [`TrafficHook::dropped`] says how
/// many, where they would have been.
pub trait TrafficHook: Send + Sync {
    fn frame(&self, direction: Direction, text: &str);

    /// `frames` frames were dropped here because the hooks fell behind by more than the
    /// queue's bound. The default does nothing.
    fn dropped(&self, frames: u64) {
        let _ = frames;
    }
}

impl<F: Fn(Direction, &str) + Send + Sync> TrafficHook for F {
    fn frame(&self, direction: Direction, text: &str) {
        self(direction, text)
    }
}

/// Writes every frame as a JSON line `{"Sent": …}` / `{"Received": …}` (the row format of
/// enigma-go's traffic logs, which replay reads); a frame that is not JSON is written as a
/// string. Frames dropped because the log fell behind are marked `{"Dropped": n}` (a log
/// with such a gap is refused by replay, which names it). Frames can carry credentials (`OpenDoc`'s `qPassword`, a data connection's
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

    fn dropped(&self, frames: u64) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "{}", serde_json::json!({ "Dropped": frames }));
        let _ = out.flush();
    }
}

enum HookMsg {
    /// A frame, after `gap` frames that were dropped before it.
    Frame {
        direction: Direction,
        text: Text,
        gap: u64,
    },
    /// Answered once every frame before it reached the hooks (with the drops since the
    /// last frame).
    Flush { gap: u64, done: oneshot::Sender<()> },
}

/// The frames on their way to the hooks' thread, bounded in bytes. The policy when the
/// hooks fall behind: drop (and count) the frame for the hooks, never block the session.
pub(crate) struct HookQueue {
    tx: std::sync::mpsc::Sender<HookMsg>,
    /// Bytes of the frames in the queue.
    queued: Arc<AtomicUsize>,
    max: usize,
    /// Frames dropped since the last one that went in.
    gap: AtomicU64,
    dropped: metrics::Counter,
}

impl HookQueue {
    pub(crate) fn spawn(hooks: Vec<Arc<dyn TrafficHook>>, max_bytes: usize) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<HookMsg>();
        let queued = Arc::new(AtomicUsize::new(0));
        let in_thread = queued.clone();
        let spawned = std::thread::Builder::new()
            .name("qix-traffic".into())
            .spawn(move || {
                let told = |gap: u64| {
                    if gap > 0 {
                        for hook in &hooks {
                            hook.dropped(gap);
                        }
                    }
                };
                // Ends when the session (the sender) is gone.
                while let Ok(msg) = rx.recv() {
                    match msg {
                        HookMsg::Frame {
                            direction,
                            text,
                            gap,
                        } => {
                            told(gap);
                            // Hooks see frames without their secrets (passwords,
                            // connection-string credentials); redacted here, off the
                            // connection task.
                            let redacted = crate::redact::frame(text.as_str());
                            for hook in &hooks {
                                hook.frame(direction, &redacted);
                            }
                            in_thread.fetch_sub(text.len(), Ordering::AcqRel);
                        }
                        HookMsg::Flush { gap, done } => {
                            told(gap);
                            let _ = done.send(());
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(target: "qix", error = %e, "cannot start the traffic hook thread");
        }
        HookQueue {
            tx,
            queued,
            max: max_bytes,
            gap: AtomicU64::new(0),
            dropped: metrics::counter!("qix_traffic_frames_dropped_total"),
        }
    }

    /// Queues a frame for the hooks, or drops it when the queue is full.
    pub(crate) fn send(&self, direction: Direction, text: Text) {
        let n = text.len();
        let before = self.queued.fetch_add(n, Ordering::AcqRel);
        // One frame bigger than the bound still goes through an empty queue.
        if before > 0 && before + n > self.max {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            self.dropped.increment(1);
            if self.gap.fetch_add(1, Ordering::AcqRel) == 0 {
                tracing::warn!(target: "qix", queued = before, max = self.max, "the traffic hooks fell behind: frames are dropped for them");
            }
            return;
        }
        let gap = self.gap.swap(0, Ordering::AcqRel);
        let _ = self.tx.send(HookMsg::Frame {
            direction,
            text,
            gap,
        });
    }

    /// Returns once every frame queued so far reached the hooks.
    pub(crate) async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        let gap = self.gap.swap(0, Ordering::AcqRel);
        if self.tx.send(HookMsg::Flush { gap, done }).is_ok() {
            let _ = wait.await;
        }
    }
}
