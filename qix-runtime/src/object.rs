//! [`Object`]: a handle to an engine object (a doc, a generic object, a field, …) with its
//! lifecycle: change notifications and closing.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{Notify, broadcast};

use crate::call::{CallFuture, Decoder};
use crate::error::Error;
use crate::params::Params;
use crate::session::Session;
use crate::stream::BroadcastStream;

/// What the engine said about an object it opened (`ObjectInterface`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
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

pub(crate) struct ObjectInner {
    pub(crate) info: ObjectInfo,
    closed: AtomicBool,
    closed_notify: Notify,
    /// Created on the first `changed()` subscription.
    changes: OnceLock<broadcast::Sender<()>>,
}

impl ObjectInner {
    pub(crate) fn new(info: ObjectInfo) -> Self {
        ObjectInner {
            info,
            closed: AtomicBool::new(false),
            closed_notify: Notify::new(),
            changes: OnceLock::new(),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn mark_closed(&self) {
        self.closed.store(true, Ordering::Release);
        self.closed_notify.notify_waiters();
    }

    pub(crate) fn notify_changed(&self) {
        if let Some(tx) = self.changes.get() {
            let _ = tx.send(());
        }
    }
}

/// A handle to an engine object: a cheap clone of the session and the handle number.
#[derive(Clone)]
pub struct Object {
    session: Session,
    inner: Arc<ObjectInner>,
}

impl Object {
    pub(crate) fn new(session: Session, inner: Arc<ObjectInner>) -> Self {
        Object { session, inner }
    }

    pub fn handle(&self) -> i32 {
        self.inner.info.handle
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn info(&self) -> &ObjectInfo {
        &self.inner.info
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

    /// True once the engine has closed the object (or the session ended). Calls on a
    /// closed object fail at once, without being sent.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Waits until the engine closes the object (or the session ends).
    pub async fn closed(&self) {
        loop {
            let notified = self.inner.closed_notify.notified();
            if self.inner.is_closed() {
                return;
            }
            notified.await;
        }
    }

    /// A stream that yields once per `change` the engine reports for this object (its
    /// layout is invalid: refetch it). Events are published before the response that
    /// carried them is delivered. A subscriber that falls behind gets `Err(Lagged)`.
    pub fn changed(&self) -> BroadcastStream<()> {
        let tx = self.inner.changes.get_or_init(|| broadcast::channel(16).0);
        BroadcastStream::new(tx.subscribe())
    }

    /// Calls a method on this object. Generated code calls this; `decode` turns the
    /// `result` JSON into the output.
    pub fn call<T>(
        &self,
        method: &'static str,
        params: Params,
        timeout: Option<Duration>,
        decode: Decoder<T>,
    ) -> CallFuture<T> {
        if self.inner.is_closed() {
            return CallFuture::failed(match self.session.closed_reason() {
                Some(e) => e,
                None => Error::ObjectClosed {
                    handle: self.handle(),
                    method: format!("{}.{method}", self.inner.info.qtype),
                },
            });
        }
        let params = match params.finish() {
            Ok(p) => p,
            Err(e) => return CallFuture::failed(Error::Encode(e)),
        };
        self.session.send(
            self.handle(),
            self.inner.info.qtype.clone(),
            Cow::Borrowed(method),
            params,
            timeout,
            decode,
        )
    }
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Object")
            .field("handle", &self.inner.info.handle)
            .field("qtype", &self.inner.info.qtype)
            .field("generic_id", &self.inner.info.generic_id)
            .field("closed", &self.is_closed())
            .finish()
    }
}
