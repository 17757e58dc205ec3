//! [`Session`]: one connection to an engine, shared by every handle opened on it.
//!
//! Calls are pipelined: each gets an id and a slot in the pending map, its frame goes to the
//! connection task, and the response is routed back by id. The connection task alone owns
//! the transport; no lock is ever held across an `.await`.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures_util::FutureExt;
use serde_json::Value;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, broadcast, mpsc, oneshot, watch};

use crate::call::{Answer, CallFuture, Patched, Reply, Request};
use crate::connection::{self, Connector};
use crate::decode::ObjectRef;
use crate::delta;
use crate::envelope::{self, Incoming, Outcome};
use crate::error::{CloseInfo, DeltaError, EngineError, Error, Result};
use crate::intercept::Interceptor;
use crate::notification::{Notification, ResumeReport, SessionState};
use crate::object::{ClosedReason, Object, ObjectInfo, ObjectInner, lock};
use crate::observe::{MethodMetrics, MethodTable, SessionMetrics};
use crate::reconnect::{Reconnect, RetryPolicy};
use crate::restore::{self, Origin};
use crate::stream::BroadcastStream;
use crate::traffic::{Direction, TrafficHook};
use crate::transport::{Text, Transport};

/// The handle of the `Global` object.
pub const GLOBAL_HANDLE: i32 = -1;

/// What a session does beside carrying calls; see [`SessionBuilder`](crate::SessionBuilder)
/// for connecting. Every limit has a default that fits an interactive client.
#[derive(Clone)]
pub struct SessionOptions {
    /// A timeout for every call that sets none of its own (default: none).
    pub call_timeout: Option<Duration>,
    /// How many notifications (and change lists) a slow subscriber may fall behind before
    /// it is told it lagged (default 256).
    pub notification_capacity: usize,
    /// Hooks that see every frame sent and received, on a thread of their own.
    pub traffic: Vec<Arc<dyn TrafficHook>>,
    /// Ask for the delta protocol (default: on).
    pub delta: bool,
    /// The delta caches of a session hold at most this many bytes (default 64 MiB) and
    /// `delta_cache_entries` values (default 4096); past that the least recently used
    /// start over.
    pub delta_cache_bytes: usize,
    pub delta_cache_entries: usize,
    /// Calls sent and not answered at most (default 4096); a call past it waits, in its
    /// future, for a slot.
    pub max_in_flight: usize,
    /// A response bigger than this fails its call with [`Error::Protocol`] instead of
    /// being decoded (default: none; the transport's maximum frame size still applies).
    pub max_response_bytes: Option<usize>,
    /// Retries of calls the engine aborted (default: 2).
    pub retry: RetryPolicy,
    /// Automatic reconnection (default: none: a lost connection ends the session).
    pub reconnect: Option<Reconnect>,
    /// Hooks around every call.
    pub interceptors: Vec<Arc<dyn Interceptor>>,
    /// How long a reconnection waits for `OnConnected` (default 10 s; `None`: it does
    /// not wait, and treats the engine session as new).
    pub on_connected_timeout: Option<Duration>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            call_timeout: None,
            notification_capacity: 256,
            traffic: Vec::new(),
            delta: true,
            delta_cache_bytes: 64 << 20,
            delta_cache_entries: 4096,
            max_in_flight: 4096,
            max_response_bytes: None,
            retry: RetryPolicy::default(),
            reconnect: None,
            interceptors: Vec::new(),
            on_connected_timeout: Some(Duration::from_secs(10)),
        }
    }
}

impl std::fmt::Debug for SessionOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionOptions")
            .field("call_timeout", &self.call_timeout)
            .field("notification_capacity", &self.notification_capacity)
            .field("traffic", &self.traffic.len())
            .field("delta", &self.delta)
            .field("max_in_flight", &self.max_in_flight)
            .field("retry", &self.retry)
            .field("reconnect", &self.reconnect)
            .field("interceptors", &self.interceptors.len())
            .finish()
    }
}

pub(crate) enum Command {
    /// A request frame, built for connection `epoch`.
    Call {
        id: i64,
        epoch: u64,
        frame: String,
    },
    /// A `CancelRequest` frame.
    Cancel(String),
    Close,
    Suspend,
    Resume(oneshot::Sender<Result<ResumeReport>>),
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

/// `link`: bit 63 set while connected; the low bits count connections (the epoch).
const LIVE: u64 = 1 << 63;
const ENDED: u64 = 1 << 62;

/// State shared by the session handles and the connection task.
pub(crate) struct Shared {
    next_id: AtomicI64,
    table: Mutex<CallTable>,
    // Created on the first subscription: a broadcast buffer of `notification_capacity`
    // slots is most of an idle session's memory, and a send with no subscriber is
    // dropped either way. Taken at the end of the session, so that streams end.
    notifications: Mutex<Option<broadcast::Sender<Notification>>>,
    changes: Mutex<Option<broadcast::Sender<Arc<[i32]>>>>,
    objects: Mutex<HashMap<i32, Weak<ObjectInner>>>,
    /// Handles the engine closed (and has not handed out again): raw calls on them fail
    /// at once, like typed ones.
    closed_handles: Mutex<HashSet<i32>>,
    pub(crate) global: Arc<ObjectInner>,
    pub(crate) options: SessionOptions,
    /// What the last `OnConnected` said (reset for each new connection).
    state: Mutex<Option<SessionState>>,
    /// Woken when `state` is set.
    pub(crate) connected: Notify,
    closed: watch::Sender<Option<Error>>,
    link: AtomicU64,
    link_changed: Notify,
    permits: Arc<Semaphore>,
    hooks: Option<std::sync::mpsc::Sender<HookMsg>>,
    pub(crate) connector: Option<Connector>,
    pub(crate) metrics: SessionMetrics,
}

#[derive(Default)]
struct CallTable {
    pending: HashMap<i64, Pending>,
    /// Ids whose caller gave up: their late responses are dropped quietly (after their
    /// delta patches are applied: the engine's cache moved on either way).
    cancelled: HashMap<i64, Option<DeltaSlot>>,
    /// Set once, when the session ends: every later call fails with it.
    closed: Option<Error>,
    delta: Option<delta::Cache>,
    methods: MethodTable,
}

#[derive(Clone, Copy)]
struct DeltaSlot {
    key: delta::Key,
    out: &'static str,
    /// `"delta": true` was sent (else the method could have, but its cache starts over).
    asked: bool,
}

struct Pending {
    tx: oneshot::Sender<Reply>,
    method: Cow<'static, str>,
    target: Arc<ObjectInner>,
    sent_at: std::time::Instant,
    /// The connection task wrote it: a lost connection fails it instead of sending it
    /// again.
    written: bool,
    delta: Option<DeltaSlot>,
    opens: bool,
    /// Params kept to restore objects (see `restore::keeps_params`).
    params: Option<String>,
    metrics: Option<Arc<MethodMetrics>>,
}

/// What sending a request did.
pub(crate) enum Dispatch {
    Sent {
        id: i64,
        rx: oneshot::Receiver<Reply>,
        permit: Option<OwnedSemaphorePermit>,
    },
    /// Not sent: try again when this resolves (with a permit, if it got one).
    Wait(futures_util::future::BoxFuture<'static, Option<OwnedSemaphorePermit>>),
}

impl Session {
    /// Starts a session over any transport (the connection task is spawned on the current
    /// tokio runtime). Does not wait for `OnConnected`; see
    /// [`SessionBuilder::connect_transport`](crate::SessionBuilder::connect_transport).
    /// Such a session cannot reconnect: it has no way to open another transport.
    pub fn from_transport<T: Transport>(transport: T, options: SessionOptions) -> Session {
        Self::start(Box::new(transport), options, None)
    }

    pub(crate) fn start(
        transport: Box<dyn Transport>,
        options: SessionOptions,
        connector: Option<Connector>,
    ) -> Session {
        let (tx, rx) = mpsc::unbounded_channel();
        let hooks = (!options.traffic.is_empty()).then(|| spawn_hooks(options.traffic.clone()));
        let shared = Arc::new(Shared {
            next_id: AtomicI64::new(1),
            table: Mutex::new(CallTable::default()),
            notifications: Mutex::new(None),
            changes: Mutex::new(None),
            objects: Mutex::new(HashMap::new()),
            closed_handles: Mutex::new(HashSet::new()),
            global: Arc::new(ObjectInner::new(
                ObjectInfo::new(GLOBAL_HANDLE, "Global"),
                Origin::Root,
            )),
            permits: Arc::new(Semaphore::new(options.max_in_flight.max(1))),
            options,
            state: Mutex::new(None),
            connected: Notify::new(),
            closed: watch::channel(None).0,
            link: AtomicU64::new(LIVE),
            link_changed: Notify::new(),
            hooks,
            connector,
            metrics: SessionMetrics::new(),
        });
        tokio::spawn(connection::run(transport, shared.clone(), rx));
        Session {
            inner: Arc::new(SessionInner { shared, tx }),
        }
    }

    pub(crate) fn options(&self) -> &SessionOptions {
        &self.inner.shared.options
    }

    pub(crate) fn interceptors(&self) -> &[Arc<dyn Interceptor>] {
        &self.inner.shared.options.interceptors
    }

    /// The untyped `Global` object (handle -1). `qix_generated` wraps it as `Global`.
    pub fn global_object(&self) -> Object {
        Object::new(self.clone(), self.inner.shared.global.clone())
    }

    /// The state the last `OnConnected` reported, once it arrived.
    pub fn state(&self) -> Option<SessionState> {
        lock(&self.inner.shared.state).clone()
    }

    /// A stream of the engine's notifications from now on (and this client's own
    /// [`Notification::Suspended`] and [`Notification::Resumed`]). A subscriber that falls
    /// more than `notification_capacity` behind gets `Err(Lagged)` and continues after the
    /// gap; it never stalls the connection. The stream ends when the session ends.
    pub fn notifications(&self) -> BroadcastStream<Notification> {
        let shared = &self.inner.shared;
        subscribe(&shared.notifications, shared.capacity(), || {
            shared.closed.borrow().is_some()
        })
    }

    /// A stream of the `change` lists the engine sends (handles whose layouts are invalid).
    /// It ends when the session ends.
    ///
    /// Ordering: a frame's `change` list is published here and to each
    /// [`Object::changed`](crate::Object::changed) stream, and its `close` list marks the
    /// objects closed, *before* the response in that frame is delivered to its caller. So
    /// when an awaited call returns, the changes it caused are already in every
    /// subscriber's stream, and calls on the objects it closed already fail.
    pub fn changes(&self) -> BroadcastStream<Arc<[i32]>> {
        let shared = &self.inner.shared;
        subscribe(&shared.changes, shared.capacity(), || {
            shared.closed.borrow().is_some()
        })
    }

    /// Waits for `OnConnected` and returns the state it reported (at once if it came
    /// already); fails if the connection ends first.
    pub async fn connected(&self) -> Result<SessionState> {
        let shared = &self.inner.shared;
        loop {
            let mut notified = std::pin::pin!(shared.connected.notified());
            notified.as_mut().enable();
            if let Some(s) = lock(&shared.state).clone() {
                return Ok(s);
            }
            tokio::select! {
                () = notified => {}
                e = self.closed() => {
                    // OnConnected may have come in the frame just before the close.
                    return lock(&shared.state).clone().ok_or(e);
                }
            }
        }
    }

    /// True once the session has ended (closed, or lost for good).
    pub fn is_closed(&self) -> bool {
        self.inner.shared.closed.borrow().is_some()
    }

    /// True while the session has a connection (not suspended, not reconnecting, not
    /// ended).
    pub fn is_connected(&self) -> bool {
        self.inner.shared.link.load(Ordering::Acquire) & LIVE != 0
    }

    /// Waits until the session ends and returns why.
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

    /// Why the session ended, once it has.
    pub fn closed_reason(&self) -> Option<Error> {
        self.inner.shared.closed.borrow().clone()
    }

    pub(crate) fn closed_error(&self) -> Error {
        self.closed_reason().unwrap_or_else(closed_by_client)
    }

    /// Closes the connection (a WebSocket close frame) and waits until it is closed and
    /// every frame has reached the traffic hooks. Pending calls fail with
    /// [`Error::ConnectionClosed`].
    pub async fn close(&self) {
        let _ = self.inner.tx.send(Command::Close);
        self.closed().await;
        self.flush_traffic().await;
    }

    /// Waits until every frame so far has reached the traffic hooks (they run on a thread
    /// of their own).
    pub async fn flush_traffic(&self) {
        if let Some(tx) = &self.inner.shared.hooks {
            let (done, wait) = oneshot::channel();
            if tx.send(HookMsg::Flush(done)).is_ok() {
                let _ = wait.await;
            }
        }
    }

    /// Closes the connection but keeps the session: calls made now wait (bounded by their
    /// timeouts) until [`Session::resume`]. Calls in flight fail with a retryable
    /// [`Error::ConnectionClosed`]. Subscribers get [`Notification::Suspended`].
    pub fn suspend(&self) -> Result<()> {
        if self.inner.shared.connector.is_none() {
            return Err(no_connector());
        }
        self.inner
            .tx
            .send(Command::Suspend)
            .map_err(|_| self.closed_error())
    }

    /// Connects again after [`Session::suspend`] (or at once, during an automatic
    /// reconnection's wait) with the same URL and headers, restores the objects (see
    /// [`ResumeReport`]) and returns what it did.
    pub async fn resume(&self) -> Result<ResumeReport> {
        if self.inner.shared.connector.is_none() {
            return Err(no_connector());
        }
        let (tx, rx) = oneshot::channel();
        self.inner
            .tx
            .send(Command::Resume(tx))
            .map_err(|_| self.closed_error())?;
        match rx.await {
            Ok(r) => r,
            Err(_) => Err(self.closed_error()),
        }
    }

    /// Calls any method by name on any handle: for methods newer than the generated crate.
    /// `params` is an object (sent by name) or an array (sent by position). Returns the
    /// whole `result` object.
    pub async fn call_raw(&self, handle: i32, method: &str, params: Value) -> Result<Value> {
        let params = crate::params::Params::from_value(&params).map_err(Error::Encode)?;
        if lock(&self.inner.shared.closed_handles).contains(&handle) {
            return Err(Error::ObjectClosed {
                handle,
                method: method.to_string(),
            });
        }
        let target = self.live_object(handle).unwrap_or_else(|| {
            let class = if handle == GLOBAL_HANDLE {
                "Global".to_string()
            } else {
                format!("handle {handle}")
            };
            Arc::new(ObjectInner::new(
                ObjectInfo::new(handle, &class),
                Origin::Unrestorable("an unregistered handle".into()),
            ))
        });
        let req = Request {
            target,
            method: Cow::Owned(method.to_string()),
            params,
            delta: None,
            opens: false,
        };
        CallFuture::start(self.clone(), req, Default::default(), |_, raw| {
            crate::decode::all::<Value>(raw, "raw call")
        })
        .await
    }

    /// Wraps an object the engine opened (from a raw call) as a handle of this session.
    pub fn register_object(&self, info: ObjectInfo) -> Object {
        let shared = &self.inner.shared;
        // The engine reuses the numbers of closed handles.
        lock(&shared.closed_handles).remove(&info.handle);
        let mut objects = lock(&shared.objects);
        if let Some(existing) = objects.get(&info.handle).and_then(Weak::upgrade) {
            if !existing.is_closed() && existing.info.qtype == info.qtype {
                return Object::new(self.clone(), existing);
            }
        }
        let docs: Vec<Arc<ObjectInner>> = objects
            .values()
            .filter_map(Weak::upgrade)
            .filter(|o| &*o.info.qtype == "Doc" && !o.is_closed())
            .collect();
        let origin = restore::origin_guess(&info, &docs);
        let inner = Arc::new(ObjectInner::new(info, origin));
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

    /// Sends a request now if the session is connected and has a free slot.
    pub(crate) fn dispatch(
        &self,
        req: &Request,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<Dispatch> {
        let shared = &self.inner.shared;
        let link = shared.link.load(Ordering::Acquire);
        if link & ENDED != 0 {
            return Err(self.closed_error());
        }
        if link & LIVE == 0 {
            let s = shared.clone();
            return Ok(Dispatch::Wait(
                async move {
                    loop {
                        let notified = s.link_changed.notified();
                        let l = s.link.load(Ordering::Acquire);
                        if l & (LIVE | ENDED) != 0 {
                            return None;
                        }
                        notified.await;
                    }
                }
                .boxed(),
            ));
        }
        let permit = match permit {
            Some(p) => p,
            None => match shared.permits.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    let sem = shared.permits.clone();
                    return Ok(Dispatch::Wait(
                        async move { sem.acquire_owned().await.ok() }.boxed(),
                    ));
                }
            },
        };
        let epoch = link & !LIVE;
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let handle = req.target.handle();
        let (tx, rx) = oneshot::channel();
        let keep_params = restore::keeps_params(&req.method, &req.target);
        let frame;
        {
            let mut table = lock(&shared.table);
            if let Some(e) = &table.closed {
                return Err(e.clone());
            }
            let delta = match (&req.method, req.delta) {
                (Cow::Borrowed(method), Some(out)) if shared.options.delta => {
                    let key = (handle, *method);
                    let asked = table.delta.as_ref().is_none_or(|c| c.may_ask(&key));
                    Some(DeltaSlot { key, out, asked })
                }
                _ => None,
            };
            frame = request_frame(
                id,
                handle,
                &req.method,
                &req.params,
                delta.is_some_and(|d| d.asked),
            );
            let metrics = table.methods.method(&req.method);
            table.pending.insert(
                id,
                Pending {
                    tx,
                    method: req.method.clone(),
                    target: req.target.clone(),
                    sent_at: std::time::Instant::now(),
                    written: false,
                    delta,
                    opens: req.opens,
                    params: keep_params.then(|| req.params.clone()),
                    metrics: Some(metrics),
                },
            );
            shared.metrics.in_flight.increment(1.0);
        }
        if self
            .inner
            .tx
            .send(Command::Call { id, epoch, frame })
            .is_err()
        {
            lock(&shared.table).pending.remove(&id);
            return Err(self.closed_error());
        }
        Ok(Dispatch::Sent {
            id,
            rx,
            permit: Some(permit),
        })
    }

    /// Gives up on a call: its slot is freed, its late response will be dropped, and the
    /// engine is asked to stop working on it (`Global.CancelRequest`) if it was sent.
    pub(crate) fn cancel(&self, id: i64) {
        let shared = &self.inner.shared;
        let written = {
            let mut table = lock(&shared.table);
            let Some(p) = table.pending.remove(&id) else {
                return;
            };
            shared.metrics.in_flight.decrement(1.0);
            if !p.written || table.closed.is_some() {
                // Never written: the connection task will skip its frame.
                return;
            }
            table.cancelled.insert(id, p.delta);
            true
        };
        if written {
            let cancel_id = shared.next_id.fetch_add(1, Ordering::Relaxed);
            lock(&shared.table).cancelled.insert(cancel_id, None);
            let params = format!("{{\"qRequestId\":{id}}}");
            let frame = request_frame(cancel_id, GLOBAL_HANDLE, "CancelRequest", &params, false);
            let _ = self.inner.tx.send(Command::Cancel(frame));
        }
    }
}

fn subscribe<T: Clone + Send + 'static>(
    slot: &Mutex<Option<broadcast::Sender<T>>>,
    capacity: usize,
    ended: impl Fn() -> bool,
) -> BroadcastStream<T> {
    let mut slot = lock(slot);
    if slot.is_none() && ended() {
        return BroadcastStream::ended();
    }
    let tx = slot.get_or_insert_with(|| broadcast::channel(capacity).0);
    BroadcastStream::new(tx.subscribe())
}

/// Runs traffic hooks on a thread of their own: a hook that writes a file must not stall
/// the connection task (and with it every call). Frames reach hooks in order.
pub(crate) enum HookMsg {
    Frame(Direction, Text),
    /// Answered once every frame before it reached the hooks.
    Flush(oneshot::Sender<()>),
}

fn spawn_hooks(hooks: Vec<Arc<dyn TrafficHook>>) -> std::sync::mpsc::Sender<HookMsg> {
    let (tx, rx) = std::sync::mpsc::channel::<HookMsg>();
    let spawned = std::thread::Builder::new()
        .name("qix-traffic".into())
        .spawn(move || {
            // Ends when the session (the sender) is gone.
            while let Ok(msg) = rx.recv() {
                match msg {
                    HookMsg::Frame(dir, text) => {
                        for hook in &hooks {
                            hook.frame(dir, text.as_str());
                        }
                    }
                    HookMsg::Flush(done) => {
                        let _ = done.send(());
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(target: "qix", error = %e, "cannot start the traffic hook thread");
    }
    tx
}

fn no_connector() -> Error {
    Error::Config(
        "this session was started over a given transport; it has no URL to connect to again".into(),
    )
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let table = lock(&self.inner.shared.table);
        f.debug_struct("Session")
            .field("state", &*lock(&self.inner.shared.state))
            .field("pending", &table.pending.len())
            .field("connected", &self.is_connected())
            .field("closed", &table.closed.is_some())
            .finish()
    }
}

fn closed_by_client() -> Error {
    Error::ConnectionClosed(CloseInfo {
        code: None,
        reason: "the session was closed by the client".into(),
        by_client: true,
    })
}

/// `{"jsonrpc":"2.0","id":…,"handle":…,"method":…,"params":…}`.
pub(crate) fn request_frame(
    id: i64,
    handle: i32,
    method: &str,
    params: &str,
    delta: bool,
) -> String {
    use std::fmt::Write;
    let mut frame = String::with_capacity(80 + method.len() + params.len());
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
    if delta {
        frame.push_str(",\"delta\":true");
    }
    frame.push('}');
    frame
}

impl Shared {
    fn capacity(&self) -> usize {
        self.options.notification_capacity.max(1)
    }

    pub(crate) fn trace(&self, dir: Direction, text: Text) {
        if let Some(tx) = &self.hooks {
            let _ = tx.send(HookMsg::Frame(dir, text));
        }
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.link.load(Ordering::Acquire) & !(LIVE | ENDED)
    }

    /// A new connection (`live`: it carries user calls now; else it is being restored).
    pub(crate) fn set_link(&self, epoch: u64, live: bool) {
        self.link
            .store(epoch | if live { LIVE } else { 0 }, Ordering::Release);
        self.link_changed.notify_waiters();
    }

    pub(crate) fn reset_state(&self) {
        *lock(&self.state) = None;
    }

    pub(crate) fn state(&self) -> Option<SessionState> {
        lock(&self.state).clone()
    }

    /// Picks the frames to write from a batch of commands: calls of an older connection are
    /// sent back to be sent again (with new handles), calls already given up are skipped.
    pub(crate) fn select_writes(&self, batch: &mut Vec<(i64, u64, String)>) -> Vec<String> {
        let epoch = self.epoch();
        let mut out = Vec::with_capacity(batch.len());
        let mut table = lock(&self.table);
        for (id, e, frame) in batch.drain(..) {
            if e != epoch {
                if let Some(p) = table.pending.remove(&id) {
                    let _ = p.tx.send(Reply::Requeue);
                }
                continue;
            }
            if let Some(p) = table.pending.get_mut(&id) {
                p.written = true;
                out.push(frame);
            }
        }
        out
    }

    pub(crate) fn count_sent(&self, bytes: usize) {
        self.metrics.sent_bytes.increment(bytes as u64);
    }

    /// Registers an internal call (restoring objects) and returns its frame.
    pub(crate) fn internal_call(
        &self,
        handle: i32,
        method: &'static str,
        params: &str,
    ) -> Result<(String, oneshot::Receiver<Reply>)> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let mut table = lock(&self.table);
        if let Some(e) = &table.closed {
            return Err(e.clone());
        }
        table.pending.insert(
            id,
            Pending {
                tx,
                method: Cow::Borrowed(method),
                target: self.global.clone(),
                sent_at: std::time::Instant::now(),
                written: true,
                delta: None,
                opens: false,
                params: None,
                metrics: None,
            },
        );
        Ok((request_frame(id, handle, method, params, false), rx))
    }

    /// Routes one incoming frame. An error means the frame is malformed and the
    /// connection must end (a pending call could otherwise wait forever).
    pub(crate) fn on_frame(&self, text: Text) -> Result<()> {
        self.trace(Direction::Received, text.clone());
        let s = text.as_str();
        match envelope::parse(s).map_err(Error::Protocol)? {
            Incoming::Response {
                id,
                outcome,
                change,
                close,
                delta,
            } => {
                self.apply_lifecycle(&change, &close);
                let (pending, late_delta) = {
                    let mut table = lock(&self.table);
                    self.metrics.received_bytes.increment(s.len() as u64);
                    match table.pending.remove(&id) {
                        Some(p) => {
                            self.metrics.in_flight.decrement(1.0);
                            (Some(p), None)
                        }
                        None => match table.cancelled.remove(&id) {
                            Some(d) => (None, d),
                            None => {
                                tracing::warn!(target: "qix", id, "response to an unknown request id dropped");
                                (None, None)
                            }
                        },
                    }
                };
                let Some(p) = pending else {
                    // A late answer: its patches still move the cache along.
                    if let (Some(d), Outcome::Result(raw)) = (late_delta, &outcome) {
                        let _ = self.patch(d, raw.get(), delta, "a cancelled call");
                    }
                    return Ok(());
                };
                let full = || format!("{}.{}", p.target.info.qtype, p.method);
                let reply = match outcome {
                    Outcome::Error(e) => Err(Error::Engine(EngineError {
                        code: e.code,
                        parameter: e.parameter.unwrap_or_default(),
                        message: e.message.unwrap_or_default(),
                        method: full(),
                    })),
                    Outcome::Result(raw) => self.answer(&p, &text, raw.get(), delta, &full),
                };
                if let Some(m) = &p.metrics {
                    m.duration.record(p.sent_at.elapsed());
                    if reply.is_ok() {
                        m.ok.increment(1);
                    }
                }
                let _ = p.tx.send(Reply::Done(reply));
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
                    *lock(&self.state) = Some(state.clone());
                    self.connected.notify_waiters();
                }
                self.notify(n);
            }
        }
        Ok(())
    }

    pub(crate) fn notify(&self, n: Notification) {
        if let Some(tx) = lock(&self.notifications).as_ref() {
            let _ = tx.send(n);
        }
    }

    /// A successful result: patched (delta), size-checked, and with the object it opened
    /// registered now, before any later frame can close it.
    fn answer(
        &self,
        p: &Pending,
        text: &Text,
        raw: &str,
        delta: bool,
        full: &dyn Fn() -> String,
    ) -> Result<Answer> {
        if let Some(max) = self.options.max_response_bytes {
            if raw.len() > max {
                return Err(Error::Protocol(format!(
                    "the result of {} is {} bytes, more than the session's limit of {max}",
                    full(),
                    raw.len()
                )));
            }
        }
        let mut answer = Answer::whole_of(text, raw);
        if let Some(d) = p.delta {
            if let Some(patched) = self.patch(d, raw, delta, &full())? {
                // Decoders of delta methods read the value, not the text.
                answer.range = 0..0;
                answer.patched = Some(patched);
            }
        }
        if p.opens {
            if let Ok(Some(r)) =
                crate::decode::out::<Option<ObjectRef>>(raw, "qReturn", "registration")
            {
                if let (Some(handle), Some(qtype)) = (r.handle, r.qtype) {
                    let info = ObjectInfo {
                        handle,
                        qtype: qtype.as_str().into(),
                        generic_type: r.generic_type,
                        generic_id: r.generic_id,
                    };
                    let origin =
                        restore::origin_of(&p.target, &p.method, p.params.as_deref(), &qtype);
                    let inner = Arc::new(ObjectInner::new(info, origin));
                    lock(&self.closed_handles).remove(&handle);
                    lock(&self.objects).insert(handle, Arc::downgrade(&inner));
                    answer.opened = Some(inner);
                }
            }
        }
        if let Some(params) = &p.params {
            restore::track(&p.target, &p.method, params);
        }
        Ok(answer)
    }

    /// Applies a delta answer to its cache and returns the patched out-param value (the
    /// caller decodes it directly: no text round trip); `None` when the answer was not a
    /// delta (the result is used as it is).
    fn patch(&self, d: DeltaSlot, raw: &str, delta: bool, method: &str) -> Result<Option<Patched>> {
        if !delta {
            if let Some(c) = lock(&self.table).delta.as_mut() {
                c.full_answer(&d.key);
            }
            return Ok(None);
        }
        let fail = |index: usize, op: &str, path: &str, message: String| {
            if let Some(c) = lock(&self.table).delta.as_mut() {
                c.forget(d.key);
            }
            Error::Delta(Box::new(DeltaError {
                method: method.to_string(),
                out: d.out.to_string(),
                index,
                op: op.to_string(),
                path: path.to_string(),
                message,
            }))
        };
        let mut ops: HashMap<String, Vec<delta::Op>> = serde_json::from_str(raw)
            .map_err(|e| fail(0, "-", "-", format!("the answer is not a patch list: {e}")))?;
        let ops = ops.remove(d.out).unwrap_or_default();
        let (shared, bytes) = {
            let mut table = lock(&self.table);
            let opts = &self.options;
            let cache = table.delta.get_or_insert_with(|| {
                delta::Cache::new(opts.delta_cache_bytes, opts.delta_cache_entries)
            });
            let bytes = cache.bytes_of(&d.key);
            (cache.take(&d.key), bytes)
        };
        // Unshared unless the last caller still holds its value: then it is copied.
        let mut value = shared.map(|a| Arc::try_unwrap(a).unwrap_or_else(|a| (*a).clone()));
        delta::apply(&mut value, ops).map_err(|e| fail(e.index, &e.op, &e.path, e.message))?;
        let value = value.map(Arc::new);
        // The size bound is approximate and costs nothing to keep: the wire size of the
        // last whole value, grown by patches big enough to add content (small ones mostly
        // replace what is there).
        let root = raw.len() > 64 && bytes == 0;
        let bytes = if root || raw.len() > 1024 {
            bytes + raw.len()
        } else {
            bytes.max(raw.len())
        };
        if let Some(c) = lock(&self.table).delta.as_mut() {
            c.put(d.key, value.clone(), bytes);
        }
        Ok(Some(Patched { value, out: d.out }))
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
            if let Some(c) = lock(&self.table).delta.as_mut() {
                for h in close {
                    c.drop_handle(*h);
                }
            }
        }
        if !change.is_empty() {
            if let Some(tx) = lock(&self.changes).as_ref() {
                let _ = tx.send(change.into());
            }
        }
        for (closing, o) in targets {
            if closing {
                o.mark_closed(ClosedReason::Engine);
            } else {
                o.notify_changed();
            }
        }
    }

    /// The connection was lost: calls written on it fail with `why` (retryable when the
    /// engine or the network caused it); calls not yet written wait to be sent again.
    pub(crate) fn connection_lost(&self, why: &Error) {
        self.link.fetch_and(!LIVE, Ordering::AcqRel);
        self.link_changed.notify_waiters();
        let failed: Vec<Pending> = {
            let mut table = lock(&self.table);
            let ids: Vec<i64> = table
                .pending
                .iter()
                .filter(|(_, p)| p.written)
                .map(|(id, _)| *id)
                .collect();
            table.cancelled.clear();
            let failed: Vec<Pending> = ids
                .iter()
                .filter_map(|id| table.pending.remove(id))
                .collect();
            self.metrics.in_flight.decrement(failed.len() as f64);
            failed
        };
        for p in failed {
            let _ = p.tx.send(Reply::Done(Err(why.clone())));
        }
    }

    /// Every object the user still holds, but `Global`.
    pub(crate) fn live_objects(&self) -> Vec<Arc<ObjectInner>> {
        let mut objects = lock(&self.objects);
        objects.retain(|_, w| w.strong_count() > 0);
        objects
            .values()
            .filter_map(Weak::upgrade)
            .filter(|o| !o.is_closed())
            .collect()
    }

    /// After a reconnection: the objects under their (new) handles, and the caches.
    pub(crate) fn restored(&self, created: bool, restored: &[Arc<ObjectInner>]) {
        {
            let mut objects = lock(&self.objects);
            if created {
                objects.clear();
                lock(&self.closed_handles).clear();
            }
            for o in restored {
                objects.insert(o.handle(), Arc::downgrade(o));
            }
        }
        if let Some(c) = lock(&self.table).delta.as_mut() {
            if created {
                c.clear();
            } else {
                c.restart_all();
            }
        }
        for o in restored {
            o.notify_changed();
        }
    }

    /// Ends the session: every pending call fails with `why`, every object is closed,
    /// every stream ends.
    pub(crate) fn shutdown(&self, why: Error) {
        self.link.store(ENDED, Ordering::Release);
        self.link_changed.notify_waiters();
        let pending: Vec<Pending> = {
            let mut table = lock(&self.table);
            if table.closed.is_none() {
                table.closed = Some(why.clone());
            }
            table.cancelled.clear();
            table.delta = None;
            let drained: Vec<Pending> = table.pending.drain().map(|(_, p)| p).collect();
            self.metrics.in_flight.decrement(drained.len() as f64);
            drained
        };
        for p in pending {
            let _ = p.tx.send(Reply::Done(Err(why.clone())));
        }
        let objects: Vec<Arc<ObjectInner>> = lock(&self.objects)
            .drain()
            .filter_map(|(_, w)| w.upgrade())
            .collect();
        let reason = ClosedReason::SessionEnded(why.to_string());
        for o in objects {
            o.mark_closed(reason.clone());
        }
        self.global.mark_closed(reason);
        self.closed.send_replace(Some(why));
        // The last items are out; dropping the senders ends every subscriber's stream.
        lock(&self.notifications).take();
        lock(&self.changes).take();
        self.connected.notify_waiters();
    }
}

impl Answer {
    fn whole_of(text: &Text, raw: &str) -> Self {
        let start = raw.as_ptr() as usize - text.as_str().as_ptr() as usize;
        Answer {
            text: text.clone(),
            range: start..start + raw.len(),
            opened: None,
            patched: None,
        }
    }
}

const _: () = {
    const fn is<T: Send + Sync + Clone>() {}
    is::<Session>();
    is::<Object>();
};
