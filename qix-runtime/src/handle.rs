//! The shared state of one engine handle: what the engine said when it opened the object,
//! its handle number now, whether and why it closed, its change subscribers, and how to
//! open it again. [`Object`](crate::Object) is the user's view of it.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use tokio::sync::{Notify, broadcast};

use crate::lock::lock;
use crate::stream::BroadcastStream;

/// What the engine said about an object it opened (`ObjectInterface`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The handle number (it changes when a reconnection restores the object).
    pub handle: i32,
    /// The engine class (`qType`: `Doc`, `GenericObject`, …).
    pub qtype: Arc<str>,
    /// `qGenericType`, e.g. `sheet`.
    pub generic_type: Option<String>,
    /// `qGenericId`: the object's id, or the app id for a doc.
    pub generic_id: Option<String>,
}

impl ObjectInfo {
    pub fn new(handle: i32, qtype: &str) -> Self {
        ObjectInfo {
            handle,
            qtype: qtype.into(),
            generic_type: None,
            generic_id: None,
        }
    }
}

/// Why an object is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClosedReason {
    /// The engine closed it (its handle was in a response's `close` list).
    Engine,
    /// The session ended; the text says why.
    SessionEnded(String),
    /// A reconnection found the engine had lost the session and could not open the object
    /// again; the text says why.
    NotRestored(String),
}

impl std::fmt::Display for ClosedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClosedReason::Engine => f.write_str("closed by the engine"),
            ClosedReason::SessionEnded(why) => write!(f, "the session ended: {why}"),
            ClosedReason::NotRestored(why) => write!(f, "not restored after a reconnection: {why}"),
        }
    }
}

pub(crate) struct ObjectInner {
    /// The handle number now; a restore after a reconnection changes it.
    handle: AtomicI32,
    /// What the engine said when it opened the object (`info.handle` is the first handle).
    pub(crate) info: ObjectInfo,
    closed: AtomicBool,
    reason: Mutex<Option<ClosedReason>>,
    closed_notify: Notify,
    /// Created on the first `changed()` subscription, dropped when the object closes so
    /// that every subscriber's stream ends.
    changes: Mutex<Option<broadcast::Sender<()>>>,
    /// How to open the object again on a new engine session.
    pub(crate) origin: Mutex<Origin>,
}

impl std::fmt::Debug for ObjectInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the origin: it holds params, which may hold secrets.
        f.debug_struct("ObjectInner")
            .field("handle", &self.handle())
            .field("qtype", &self.info.qtype)
            .field("generic_id", &self.info.generic_id)
            .finish()
    }
}

impl ObjectInner {
    pub(crate) fn new(info: ObjectInfo, origin: Origin) -> Self {
        ObjectInner {
            handle: AtomicI32::new(info.handle),
            info,
            closed: AtomicBool::new(false),
            reason: Mutex::new(None),
            closed_notify: Notify::new(),
            changes: Mutex::new(None),
            origin: Mutex::new(origin),
        }
    }

    pub(crate) fn handle(&self) -> i32 {
        self.handle.load(Ordering::Acquire)
    }

    pub(crate) fn set_handle(&self, handle: i32) {
        self.handle.store(handle, Ordering::Release);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Closes the object (once; the first reason stays) and ends its `changed()` streams.
    pub(crate) fn mark_closed(&self, reason: ClosedReason) {
        {
            let mut r = lock(&self.reason);
            if r.is_none() {
                *r = Some(reason);
            }
        }
        self.closed.store(true, Ordering::Release);
        lock(&self.changes).take();
        self.closed_notify.notify_waiters();
    }

    pub(crate) fn closed_reason(&self) -> Option<ClosedReason> {
        lock(&self.reason).clone()
    }

    pub(crate) async fn closed(&self) -> ClosedReason {
        loop {
            let notified = self.closed_notify.notified();
            if let Some(r) = self.closed_reason() {
                return r;
            }
            notified.await;
        }
    }

    /// A stream of this object's changes; an ended one once it is closed (checked under
    /// the lock `mark_closed` takes, so no subscriber is left behind by a close).
    pub(crate) fn subscribe_changes(&self) -> BroadcastStream<()> {
        let mut slot = lock(&self.changes);
        if self.is_closed() {
            return BroadcastStream::ended();
        }
        let tx = slot.get_or_insert_with(|| broadcast::channel(16).0);
        BroadcastStream::new(tx.subscribe())
    }

    pub(crate) fn notify_changed(&self) {
        if let Some(tx) = lock(&self.changes).as_ref() {
            let _ = tx.send(());
        }
    }

    pub(crate) fn snapshot(&self) -> ObjectInfo {
        ObjectInfo {
            handle: self.handle(),
            ..self.info.clone()
        }
    }

    pub(crate) fn class(&self) -> &Arc<str> {
        &self.info.qtype
    }
}

/// How an object can be opened again.
#[derive(Clone)]
pub(crate) enum Origin {
    /// `Global`: handle -1, always there.
    Root,
    /// A doc, with the params of the `OpenDoc` that opened it (JSON text), if it was one.
    Doc { open: Option<String> },
    /// An object with a persistent id, fetched again with `getter` on its doc.
    ById {
        doc: Arc<ObjectInner>,
        getter: &'static str,
    },
    /// A session object (or variable) made by `create`, with what this client last set
    /// on it (see [`SessionState`]).
    Session {
        doc: Arc<ObjectInner>,
        create: &'static str,
        state: SessionState,
    },
    /// Cannot be opened again; the reason is given when it is closed.
    Unrestorable(String),
}

impl std::fmt::Debug for Origin {
    // The params and properties are not printed: `OpenDoc` params may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Root => f.write_str("Root"),
            Origin::Doc { open } => write!(
                f,
                "Doc {{ open: {} }}",
                if open.is_some() {
                    "<params kept>"
                } else {
                    "none"
                }
            ),
            Origin::ById { doc, getter } => {
                write!(f, "ById {{ doc: {}, getter: {getter} }}", doc.handle())
            }
            Origin::Session { doc, create, state } => write!(
                f,
                "Session {{ doc: {}, create: {create}, props: {}, children: {}, soft patches: {} }}",
                doc.handle(),
                if state.props.is_some() {
                    "<kept>"
                } else {
                    "unknown"
                },
                state.tree.is_some(),
                state.soft.len()
            ),
            Origin::Unrestorable(why) => write!(f, "Unrestorable({why:?})"),
        }
    }
}

/// What a session object is made of again after a `SESSION_CREATED` reconnection: the
/// properties this client last set (`SetProperties`, hard `ApplyPatches`, the root of a
/// `SetFullPropertyTree`), the full property tree when one was set (its children are made
/// again with it), and the soft patches applied since the last `ClearSoftPatches` (soft
/// patches are not part of the properties: they are replayed as soft patches).
#[derive(Clone, Default)]
pub(crate) struct SessionState {
    /// `None`: unknown (a patch could not be replayed), so the object cannot be made again.
    pub(crate) props: Option<Value>,
    pub(crate) tree: Option<Value>,
    pub(crate) soft: Vec<Value>,
}
