//! [`Object`]: a handle to an engine object (a doc, a generic object, a field, …) with its
//! lifecycle: change notifications, closing, and restoring after a reconnection.

use std::borrow::Cow;
use std::sync::Arc;

use crate::call::{CallFuture, CallOptions, MethodInfo, Request};
use crate::decode::Decoder;
use crate::error::Error;
use crate::handle::{ClosedReason, ObjectInfo, ObjectInner};
use crate::params::Params;
use crate::session::Session;
use crate::stream::BroadcastStream;

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
        self.inner.closed_reason()
    }

    /// Waits until the object is closed and returns why.
    pub async fn closed(&self) -> ClosedReason {
        self.inner.closed().await
    }

    /// A stream that yields once per `change` the engine reports for this object (its
    /// layout is invalid: refetch it), and once when a reconnection restored it. Events
    /// are published before the response that carried them is delivered. A subscriber
    /// that falls behind gets `Err(Lagged)`. The stream ends when the object closes
    /// (which includes the end of the session).
    pub fn changed(&self) -> BroadcastStream<()> {
        self.inner.subscribe_changes()
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
