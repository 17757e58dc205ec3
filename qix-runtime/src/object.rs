//! [`Object`]: a handle to an engine object (a doc, a generic object, a field, …) with its
//! lifecycle: change notifications, closing, and restoring after a reconnection.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, broadcast};

use crate::call::{CallFuture, CallOptions, MethodInfo, Request};
use crate::decode::Decoder;
use crate::error::Error;
use crate::lock::lock;
use crate::params::Params;
use crate::restore::Origin;
use crate::session::Session;
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

/// A handle to an engine object: a cheap clone of the session and the object.
///
/// After a reconnection that restored the object, the same `Object` (and every clone)
/// addresses it under its new handle number.
#[derive(Clone)]
pub struct Object {
    session: Session,
    inner: Arc<ObjectInner>,
}

impl Object {
    pub(crate) fn new(session: Session, inner: Arc<ObjectInner>) -> Self {
        Object { session, inner }
    }

    /// The handle number now (a restore after a reconnection changes it).
    pub fn handle(&self) -> i32 {
        self.inner.handle()
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// What the engine said when it opened the object, with the handle number now.
    pub fn info(&self) -> ObjectInfo {
        self.inner.snapshot()
    }

    /// The engine class (`Doc`, `GenericObject`, …).
    pub fn qtype(&self) -> &str {
        &self.inner.info.qtype
    }

    pub fn generic_id(&self) -> Option<&str> {
        self.inner.info.generic_id.as_deref()
    }

    pub fn generic_type(&self) -> Option<&str> {
        self.inner.info.generic_type.as_deref()
    }

    /// True once the object is closed (by the engine, the end of the session, or a
    /// reconnection that could not restore it). Calls on a closed object fail at once,
    /// without being sent.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Why the object is closed, once it is.
    pub fn closed_reason(&self) -> Option<ClosedReason> {
        lock(&self.inner.reason).clone()
    }

    /// Waits until the object is closed and returns why.
    pub async fn closed(&self) -> ClosedReason {
        loop {
            let notified = self.inner.closed_notify.notified();
            if let Some(r) = self.closed_reason() {
                return r;
            }
            notified.await;
        }
    }

    /// A stream that yields once per `change` the engine reports for this object (its
    /// layout is invalid: refetch it), and once when a reconnection restored it. Events
    /// are published before the response that carried them is delivered. A subscriber
    /// that falls behind gets `Err(Lagged)`. The stream ends when the object closes
    /// (which includes the end of the session).
    pub fn changed(&self) -> BroadcastStream<()> {
        let mut slot = lock(&self.inner.changes);
        if self.inner.is_closed() {
            return BroadcastStream::ended();
        }
        let tx = slot.get_or_insert_with(|| broadcast::channel(16).0);
        BroadcastStream::new(tx.subscribe())
    }

    /// Calls a method on this object. Generated code calls this; `decode` turns the
    /// `result` JSON into the output.
    pub fn call<T>(
        &self,
        method: MethodInfo,
        params: Params,
        options: CallOptions,
        decode: Decoder<T>,
    ) -> CallFuture<T> {
        match self.request(method, params) {
            Ok(req) => CallFuture::start(self.session.clone(), req, options, decode),
            Err(e) => CallFuture::failed(e),
        }
    }

    /// The request of a call, unless the object is closed or the params do not encode.
    /// Not generic: one copy for every method.
    fn request(&self, method: MethodInfo, params: Params) -> Result<Request, Error> {
        if let Some(e) = self.closed_error(method.name) {
            return Err(e);
        }
        let params = params.finish().map_err(Error::Encode)?;
        Ok(Request {
            target: self.inner.clone(),
            method: Cow::Borrowed(method.name),
            params,
            delta: method.delta,
            opens: method.opens,
            read: method.read,
        })
    }

    pub(crate) fn closed_error(&self, method: &str) -> Option<Error> {
        closed_error(&self.session, &self.inner, method)
    }
}

/// Why a call on `object` cannot be sent, if it is closed: the session's end, or the
/// object's own close.
pub(crate) fn closed_error(session: &Session, object: &ObjectInner, method: &str) -> Option<Error> {
    if !object.is_closed() {
        return None;
    }
    Some(match session.closed_reason() {
        Some(e) => e,
        None => Error::ObjectClosed {
            handle: object.handle(),
            method: format!("{}.{method}", object.info.qtype),
        },
    })
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Object")
            .field("handle", &self.handle())
            .field("qtype", &self.inner.info.qtype)
            .field("generic_id", &self.inner.info.generic_id)
            .field("closed", &self.is_closed())
            .finish()
    }
}
