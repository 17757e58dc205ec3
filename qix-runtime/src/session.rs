//! [`Session`]: one connection to an engine, shared by every handle opened on it.
//!
//! Calls are pipelined: each gets an id and a slot in the pending map, its frame goes to the
//! connection task, and the response is routed back by id. The connection task alone owns
//! the transport; no lock is ever held across an `.await`.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};

use crate::call::{CallFuture, Decoder, Reply};
use crate::connection;
use crate::envelope::{self, Incoming, Outcome};
use crate::error::{CloseInfo, EngineError, Error, Result};
use crate::notification::{Notification, SessionState};
use crate::object::{Object, ObjectInfo, ObjectInner};
use crate::params::Params;
use crate::stream::BroadcastStream;
use crate::traffic::{Direction, TrafficHook};
use crate::transport::{Text, Transport};

/// The handle of the `Global` object.
pub const GLOBAL_HANDLE: i32 = -1;

/// What a session does beside carrying calls; see [`SessionBuilder`](crate::SessionBuilder)
/// for connecting.
#[derive(Clone)]
pub struct SessionOptions {
    /// A timeout for every call that sets none of its own.
    pub call_timeout: Option<Duration>,
    /// How many notifications (and change lists) a slow subscriber may fall behind before
    /// it is told it lagged.
    pub notification_capacity: usize,
    /// Hooks that see every frame sent and received.
    pub traffic: Vec<Arc<dyn TrafficHook>>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            call_timeout: None,
            notification_capacity: 256,
            traffic: Vec::new(),
        }
    }
}

impl std::fmt::Debug for SessionOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionOptions")
            .field("call_timeout", &self.call_timeout)
            .field("notification_capacity", &self.notification_capacity)
            .field("traffic", &self.traffic.len())
            .finish()
    }
}

pub(crate) enum Command {
    Frame(String),
    Close,
}

/// A connection to an engine. Cheap to clone; every clone and every handle opened on it
/// share the connection, which closes when the last of them is dropped (or on
/// [`Session::close`]).
#[derive(Clone)]
pub struct Session {
    inner: Arc<SessionInner>,
}

struct SessionInner {
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Command>,
}

impl Drop for SessionInner {
    fn drop(&mut self) {
        // The connection task ends when the command channel closes; say why.
        let _ = self.tx.send(Command::Close);
    }
}

/// State shared by the session handles and the connection task.
pub(crate) struct Shared {
    next_id: AtomicI64,
    table: Mutex<CallTable>,
    // Created on the first subscription: a broadcast buffer of `notification_capacity`
    // slots is most of an idle session's memory, and a send with no subscriber is
    // dropped either way.
    notifications: OnceLock<broadcast::Sender<Notification>>,
    changes: OnceLock<broadcast::Sender<Arc<[i32]>>>,
    objects: Mutex<HashMap<i32, Weak<ObjectInner>>>,
    /// Handles the engine closed (and has not handed out again): raw calls on them fail
    /// at once, like typed ones.
    closed_handles: Mutex<HashSet<i32>>,
    global: Arc<ObjectInner>,
    pub(crate) options: SessionOptions,
    state: OnceLock<SessionState>,
    /// Woken when `state` is set.
    connected: Notify,
    closed: watch::Sender<Option<Error>>,
}

#[derive(Default)]
struct CallTable {
    pending: HashMap<i64, Pending>,
    /// Ids whose caller gave up: their late responses are dropped quietly.
    cancelled: HashSet<i64>,
    /// Set once, when the connection ends: every later call fails with it.
    closed: Option<Error>,
}

struct Pending {
    tx: oneshot::Sender<Reply>,
    method: Cow<'static, str>,
    class: Arc<str>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave them inconsistent (single inserts and
    // removes), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Session {
    /// Starts a session over any transport (the connection task is spawned on the current
    /// tokio runtime). Does not wait for `OnConnected`; see
    /// [`SessionBuilder::connect_transport`](crate::SessionBuilder::connect_transport).
    pub fn from_transport<T: Transport>(transport: T, options: SessionOptions) -> Session {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            next_id: AtomicI64::new(1),
            table: Mutex::new(CallTable::default()),
            notifications: OnceLock::new(),
            changes: OnceLock::new(),
            objects: Mutex::new(HashMap::new()),
            closed_handles: Mutex::new(HashSet::new()),
            global: Arc::new(ObjectInner::new(ObjectInfo {
                handle: GLOBAL_HANDLE,
                qtype: "Global".into(),
                generic_type: None,
                generic_id: None,
            })),
            options,
            state: OnceLock::new(),
            connected: Notify::new(),
            closed: watch::channel(None).0,
        });
        tokio::spawn(connection::run(transport, shared.clone(), rx));
        Session {
            inner: Arc::new(SessionInner { shared, tx }),
        }
    }

    /// The untyped `Global` object (handle -1). `qix_generated` wraps it as `Global`.
    pub fn global_object(&self) -> Object {
        Object::new(self.clone(), self.inner.shared.global.clone())
    }

    /// The state `OnConnected` reported, once it arrived.
    pub fn state(&self) -> Option<&SessionState> {
        self.inner.shared.state.get()
    }

    /// A stream of the engine's notifications from now on. A subscriber that falls more
    /// than `notification_capacity` behind gets `Err(Lagged)` and continues after the gap;
    /// it never stalls the connection.
    pub fn notifications(&self) -> BroadcastStream<Notification> {
        let shared = &self.inner.shared;
        let tx = shared
            .notifications
            .get_or_init(|| broadcast::channel(shared.capacity()).0);
        BroadcastStream::new(tx.subscribe())
    }

    /// A stream of the `change` lists the engine sends (handles whose layouts are invalid).
    ///
    /// Ordering: a frame's `change` list is published here and to each
    /// [`Object::changed`](crate::Object::changed) stream, and its `close` list marks the
    /// objects closed, *before* the response in that frame is delivered to its caller. So
    /// when an awaited call returns, the changes it caused are already in every
    /// subscriber's stream, and calls on the objects it closed already fail.
    pub fn changes(&self) -> BroadcastStream<Arc<[i32]>> {
        let shared = &self.inner.shared;
        let tx = shared
            .changes
            .get_or_init(|| broadcast::channel(shared.capacity()).0);
        BroadcastStream::new(tx.subscribe())
    }

    /// Waits for `OnConnected` and returns the state it reported (at once if it came
    /// already); fails if the connection ends first.
    pub async fn connected(&self) -> Result<SessionState> {
        let shared = &self.inner.shared;
        loop {
            let mut notified = std::pin::pin!(shared.connected.notified());
            notified.as_mut().enable();
            if let Some(s) = shared.state.get() {
                return Ok(s.clone());
            }
            tokio::select! {
                () = notified => {}
                e = self.closed() => {
                    // OnConnected may have come in the frame just before the close.
                    return shared.state.get().cloned().ok_or(e);
                }
            }
        }
    }

    /// True once the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.inner.shared.closed.borrow().is_some()
    }

    /// Waits until the connection ends and returns why.
    pub async fn closed(&self) -> Error {
        let mut rx = self.inner.shared.closed.subscribe();
        loop {
            if let Some(e) = rx.borrow_and_update().clone() {
                return e;
            }
            if rx.changed().await.is_err() {
                return closed_by_client();
            }
        }
    }

    /// Why the connection ended, once it has.
    pub fn closed_reason(&self) -> Option<Error> {
        self.inner.shared.closed.borrow().clone()
    }

    pub(crate) fn closed_error(&self) -> Error {
        self.closed_reason().unwrap_or_else(closed_by_client)
    }

    /// Closes the connection (a WebSocket close frame) and waits until it is closed.
    /// Pending calls fail with [`Error::ConnectionClosed`].
    pub async fn close(&self) {
        let _ = self.inner.tx.send(Command::Close);
        self.closed().await;
    }

    /// Calls any method by name on any handle: for methods newer than the generated crate.
    /// `params` is an object (sent by name) or an array (sent by position). Returns the
    /// whole `result` object.
    pub async fn call_raw(&self, handle: i32, method: &str, params: Value) -> Result<Value> {
        let params = Params::from_value(&params).map_err(Error::Encode)?;
        if lock(&self.inner.shared.closed_handles).contains(&handle) {
            return Err(Error::ObjectClosed {
                handle,
                method: method.to_string(),
            });
        }
        let class: Arc<str> = self
            .live_object(handle)
            .map(|o| o.info.qtype.clone())
            .unwrap_or_else(|| {
                if handle == GLOBAL_HANDLE {
                    "Global".into()
                } else {
                    format!("handle {handle}").into()
                }
            });
        self.send(
            handle,
            class,
            Cow::Owned(method.to_string()),
            params,
            None,
            |_, raw| crate::decode::all::<Value>(raw, "raw call"),
        )
        .await
    }

    /// Wraps an object the engine opened (from a raw call) as a handle of this session.
    pub fn register_object(&self, info: ObjectInfo) -> Object {
        // The engine reuses the numbers of closed handles.
        lock(&self.inner.shared.closed_handles).remove(&info.handle);
        let mut objects = lock(&self.inner.shared.objects);
        if let Some(existing) = objects.get(&info.handle).and_then(Weak::upgrade) {
            if !existing.is_closed() && existing.info.qtype == info.qtype {
                return Object::new(self.clone(), existing);
            }
        }
        let inner = Arc::new(ObjectInner::new(info));
        objects.insert(inner.info.handle, Arc::downgrade(&inner));
        drop(objects);
        Object::new(self.clone(), inner)
    }

    fn live_object(&self, handle: i32) -> Option<Arc<ObjectInner>> {
        if handle == GLOBAL_HANDLE {
            return Some(self.inner.shared.global.clone());
        }
        lock(&self.inner.shared.objects)
            .get(&handle)
            .and_then(Weak::upgrade)
    }

    /// Sends a call and returns the future of its decoded result.
    pub(crate) fn send<T>(
        &self,
        handle: i32,
        class: Arc<str>,
        method: Cow<'static, str>,
        params: String,
        timeout: Option<Duration>,
        decode: Decoder<T>,
    ) -> CallFuture<T> {
        let shared = &self.inner.shared;
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = request_frame(id, handle, &method, &params);
        let (tx, rx) = oneshot::channel();
        {
            let mut table = lock(&shared.table);
            if let Some(e) = &table.closed {
                return CallFuture::failed(e.clone());
            }
            table.pending.insert(
                id,
                Pending {
                    tx,
                    method: method.clone(),
                    class: class.clone(),
                },
            );
        }
        if self.inner.tx.send(Command::Frame(frame)).is_err() {
            lock(&shared.table).pending.remove(&id);
            return CallFuture::failed(closed_by_client());
        }
        let timeout = timeout.or(shared.options.call_timeout);
        CallFuture::waiting(self.clone(), id, handle, class, method, rx, timeout, decode)
    }

    /// Gives up on a call: its slot is freed, its late response will be dropped, and the
    /// engine is asked to stop working on it (`Global.CancelRequest`).
    pub(crate) fn cancel(&self, id: i64) {
        let shared = &self.inner.shared;
        let cancel_id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut table = lock(&shared.table);
            if table.pending.remove(&id).is_none() || table.closed.is_some() {
                return;
            }
            table.cancelled.insert(id);
            table.cancelled.insert(cancel_id);
        }
        let params = format!("{{\"qRequestId\":{id}}}");
        let frame = request_frame(cancel_id, GLOBAL_HANDLE, "CancelRequest", &params);
        let _ = self.inner.tx.send(Command::Frame(frame));
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let table = lock(&self.inner.shared.table);
        f.debug_struct("Session")
            .field("state", &self.inner.shared.state.get())
            .field("pending", &table.pending.len())
            .field("closed", &table.closed.is_some())
            .finish()
    }
}

fn closed_by_client() -> Error {
    Error::ConnectionClosed(CloseInfo {
        code: None,
        reason: "the session was closed by the client".into(),
    })
}

/// `{"jsonrpc":"2.0","id":…,"handle":…,"method":…,"params":…}`.
fn request_frame(id: i64, handle: i32, method: &str, params: &str) -> String {
    use std::fmt::Write;
    let mut frame = String::with_capacity(64 + method.len() + params.len());
    let _ = write!(
        frame,
        "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"handle\":{handle},\"method\":"
    );
    if method
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        frame.push('"');
        frame.push_str(method);
        frame.push('"');
    } else {
        frame.push_str(&serde_json::Value::from(method).to_string());
    }
    frame.push_str(",\"params\":");
    frame.push_str(params);
    frame.push('}');
    frame
}

impl Shared {
    fn capacity(&self) -> usize {
        self.options.notification_capacity.max(1)
    }

    pub(crate) fn trace(&self, dir: Direction, text: &str) {
        if self.options.traffic.is_empty() {
            return;
        }
        // Hooks see frames without their secrets (passwords, connection-string credentials).
        let text = crate::redact::frame(text);
        for hook in &self.options.traffic {
            hook.frame(dir, &text);
        }
    }

    /// Routes one incoming frame. An error means the frame is malformed and the
    /// connection must end (a pending call could otherwise wait forever).
    pub(crate) fn on_frame(&self, text: Text) -> Result<()> {
        self.trace(Direction::Received, text.as_str());
        let s = text.as_str();
        match envelope::parse(s).map_err(Error::Protocol)? {
            Incoming::Response {
                id,
                outcome,
                change,
                close,
            } => {
                self.apply_lifecycle(&change, &close);
                let reply = {
                    let mut table = lock(&self.table);
                    match table.pending.remove(&id) {
                        Some(p) => Some((p, outcome)),
                        None => {
                            if !table.cancelled.remove(&id) {
                                tracing::warn!(target: "qix", id, "response to an unknown request id dropped");
                            }
                            None
                        }
                    }
                };
                if let Some((p, outcome)) = reply {
                    let reply = match outcome {
                        Outcome::Result(raw) => {
                            let start = raw.get().as_ptr() as usize - s.as_ptr() as usize;
                            Ok((text.clone(), start..start + raw.get().len()))
                        }
                        Outcome::Error(e) => Err(Error::Engine(EngineError {
                            code: e.code,
                            parameter: e.parameter.unwrap_or_default(),
                            message: e.message.unwrap_or_default(),
                            method: format!("{}.{}", p.class, p.method),
                        })),
                    };
                    let _ = p.tx.send(reply);
                }
            }
            Incoming::Notification {
                method,
                params,
                change,
                close,
            } => {
                self.apply_lifecycle(&change, &close);
                let params = match params {
                    Some(p) => serde_json::from_str(p.get()).unwrap_or(Value::Null),
                    None => Value::Null,
                };
                let n = Notification::from_wire(method, params);
                if let Notification::Connected { state } = &n {
                    let _ = self.state.set(state.clone());
                    self.connected.notify_waiters();
                }
                if let Some(tx) = self.notifications.get() {
                    let _ = tx.send(n);
                }
            }
        }
        Ok(())
    }

    /// `change`: layouts to refetch; `close`: handles the engine closed.
    fn apply_lifecycle(&self, change: &[i32], close: &[i32]) {
        if change.is_empty() && close.is_empty() {
            return;
        }
        let targets: Vec<(bool, Arc<ObjectInner>)> = {
            let mut objects = lock(&self.objects);
            let mut out = Vec::new();
            for h in change {
                if let Some(o) = objects.get(h).and_then(Weak::upgrade) {
                    out.push((false, o));
                }
            }
            for h in close {
                if let Some(o) = objects.remove(h).and_then(|w| w.upgrade()) {
                    out.push((true, o));
                }
            }
            out
        };
        if !close.is_empty() {
            lock(&self.closed_handles).extend(close.iter().copied());
        }
        if !change.is_empty() {
            if let Some(tx) = self.changes.get() {
                let _ = tx.send(change.into());
            }
        }
        for (closing, o) in targets {
            if closing {
                o.mark_closed();
            } else {
                o.notify_changed();
            }
        }
    }

    /// Ends the session: every pending call fails with `why`, every object is closed.
    pub(crate) fn shutdown(&self, why: Error) {
        let pending: Vec<Pending> = {
            let mut table = lock(&self.table);
            if table.closed.is_none() {
                table.closed = Some(why.clone());
            }
            table.cancelled.clear();
            table.pending.drain().map(|(_, p)| p).collect()
        };
        for p in pending {
            let _ = p.tx.send(Err(why.clone()));
        }
        let objects: Vec<Arc<ObjectInner>> = lock(&self.objects)
            .drain()
            .filter_map(|(_, w)| w.upgrade())
            .collect();
        for o in objects {
            o.mark_closed();
        }
        self.global.mark_closed();
        self.closed.send_replace(Some(why));
    }
}

const _: () = {
    const fn is<T: Send + Sync + Clone>() {}
    is::<Session>();
    is::<Object>();
};
