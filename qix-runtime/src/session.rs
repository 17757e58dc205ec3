//! [`Session`]: one connection to an engine, shared by every handle opened on it.
//!
//! Calls are pipelined: each gets an id and a slot in the pending map, its frame goes to the
//! connection task, and the response is routed back by id. The connection task alone owns
//! the transport; no lock is ever held across an `.await`.

use std::borrow::Cow;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use serde_json::Value;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, broadcast, mpsc, oneshot, watch};

use crate::answer::Reply;
use crate::call::{CallFuture, Request};
use crate::calls::{CallTable, DeltaSlot, Pending};
use crate::connection::{self, Connector};
use crate::error::{Error, Result, closed_by_client};
use crate::handle::{ObjectInfo, ObjectInner, Origin};
use crate::intercept::Interceptor;
use crate::lock::lock;
use crate::notification::{Notification, ResumeReport, SessionState};
use crate::object::Object;
use crate::observe::SessionMetrics;
use crate::reconnect::{Reconnect, RetryPolicy};
use crate::registry::Registry;
use crate::restore;
use crate::shared::{ENDED, LIVE, Shared};
use crate::stream::BroadcastStream;
use crate::traffic::HookQueue;
use crate::traffic::TrafficHook;
use crate::transport::Transport;

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
    /// Keepalive (default 30 s, under the 60 s idle timeout of common proxies): after
    /// this long without a frame from the engine the connection sends a WebSocket ping,
    /// and when this long passes again without one it is given up as half-open (a
    /// retryable [`Error::ConnectionClosed`]; automatic reconnection, if on, takes over).
    /// `None`: no pings. Transports without pings (in-memory ones) have no keepalive.
    pub keepalive: Option<Duration>,
    /// The frames waiting for the traffic hooks take at most this many bytes (default
    /// 64 MiB); past it a frame is dropped for the hooks (never for the session), counted
    /// in `qix_traffic_frames_dropped_total`, and the hooks are told (`TrafficHook::dropped`).
    /// A slow hook thus never stalls a call nor grows without bound.
    pub traffic_queue_bytes: usize,
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
            keepalive: Some(Duration::from_secs(30)),
            traffic_queue_bytes: 64 << 20,
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
            .field("on_connected_timeout", &self.on_connected_timeout)
            .field("keepalive", &self.keepalive)
            .finish()
    }
}

/// What callers queue for the connection task, in order.
pub(crate) enum Command {
    /// A request frame, built for connection `epoch`.
    Call { id: i64, epoch: u64, frame: String },
    /// A `CancelRequest` frame.
    Cancel(String),
}

/// What the session asks of the connection task beside calls, on a channel of its own:
/// it is read before anything is written, so a peer that stopped reading cannot hold up
/// `close()` or `suspend()`.
pub(crate) enum Control {
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
    control: mpsc::UnboundedSender<Control>,
}

impl Drop for SessionInner {
    fn drop(&mut self) {
        // The connection task ends when the channels close; say why.
        let _ = self.control.send(Control::Close);
    }
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
        let (control, control_rx) = mpsc::unbounded_channel();
        let hooks = (!options.traffic.is_empty())
            .then(|| HookQueue::spawn(options.traffic.clone(), options.traffic_queue_bytes));
        let metrics = SessionMetrics::new();
        let shared = Arc::new(Shared {
            next_id: AtomicI64::new(1),
            table: Mutex::new(CallTable::new(metrics.in_flight.clone())),
            notifications: Mutex::new(None),
            changes: Mutex::new(None),
            registry: Mutex::new(Registry::default()),
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
            metrics,
            user_ok_epoch: AtomicU64::new(u64::MAX),
            lane: Mutex::new(Default::default()),
        });
        tokio::spawn(connection::run(transport, shared.clone(), rx, control_rx));
        Session {
            inner: Arc::new(SessionInner {
                shared,
                tx,
                control,
            }),
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

    /// Waits until the session ends (and every frame has reached the traffic hooks) and
    /// returns why.
    pub async fn closed(&self) -> Error {
        let mut rx = self.inner.shared.closed.subscribe();
        let why = loop {
            if let Some(e) = rx.borrow_and_update().clone() {
                break e;
            }
            if rx.changed().await.is_err() {
                break closed_by_client();
            }
        };
        // The hooks run on their own thread: the last frames reach them before this
        // returns, so a log read after the end of the session is whole.
        self.flush_traffic().await;
        why
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
        let _ = self.inner.control.send(Control::Close);
        self.closed().await;
    }

    /// Waits until every frame so far has reached the traffic hooks (they run on a thread
    /// of their own).
    pub async fn flush_traffic(&self) {
        if let Some(q) = &self.inner.shared.hooks {
            q.flush().await;
        }
    }

    /// Closes the connection but keeps the session: calls made now wait (bounded by their
    /// timeouts) until [`Session::resume`]. Calls in flight fail with a retryable
    /// [`Error::ConnectionClosed`] (close code 1000, `by_client` false: they may be sent
    /// again after `resume`). Subscribers get [`Notification::Suspended`].
    pub fn suspend(&self) -> Result<()> {
        if self.inner.shared.connector.is_none() {
            return Err(no_connector());
        }
        self.inner
            .control
            .send(Control::Suspend)
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
            .control
            .send(Control::Resume(tx))
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
        if lock(&self.inner.shared.registry).is_closed(handle) {
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
            // Unknown to this crate: not repeated unless the caller asks.
            read: false,
        };
        CallFuture::start(self.clone(), req, Default::default(), |_, raw| {
            crate::decode::all::<Value>(raw, "raw call")
        })
        .await
    }

    /// Wraps an object the engine opened (from a raw call) as a handle of this session.
    pub fn register_object(&self, info: ObjectInfo) -> Object {
        let shared = &self.inner.shared;
        let mut registry = lock(&shared.registry);
        if let Some(existing) = registry.get(info.handle) {
            if !existing.is_closed() && existing.info.qtype == info.qtype {
                return Object::new(self.clone(), existing);
            }
        }
        let origin = restore::origin_guess(&info, || {
            registry
                .held()
                .filter(|o| &*o.info.qtype == "Doc" && !o.is_closed())
                .collect()
        });
        let inner = Arc::new(ObjectInner::new(info, origin));
        registry.register(inner.info.handle, &inner);
        drop(registry);
        Object::new(self.clone(), inner)
    }

    fn live_object(&self, handle: i32) -> Option<Arc<ObjectInner>> {
        if handle == GLOBAL_HANDLE {
            return Some(self.inner.shared.global.clone());
        }
        lock(&self.inner.shared.registry).get(handle)
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
            frame = crate::envelope::request_frame(
                id,
                handle,
                &req.method,
                &req.params,
                delta.is_some_and(|d| d.asked),
            );
            if handle == GLOBAL_HANDLE {
                note_user_abort(&mut table, &req.method, &req.params);
            }
            let metrics = table.method_metrics(&req.method);
            table.insert(
                id,
                Pending {
                    tx,
                    method: req.method.clone(),
                    target: req.target.clone(),
                    sent_at: None,
                    written: false,
                    delta,
                    opens: req.opens,
                    params: keep_params.then(|| req.params.clone()),
                    metrics: Some(metrics),
                    internal: false,
                    user_aborted: false,
                },
            );
        }
        if self
            .inner
            .tx
            .send(Command::Call { id, epoch, frame })
            .is_err()
        {
            lock(&shared.table).remove(id);
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
        if !lock(&shared.table).give_up(id) {
            return;
        }
        let cancel_id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&shared.table).expect_unawaited(cancel_id);
        let params = format!("{{\"qRequestId\":{id}}}");
        let frame = crate::envelope::request_frame(
            cancel_id,
            GLOBAL_HANDLE,
            "CancelRequest",
            &params,
            false,
        );
        let _ = self.inner.tx.send(Command::Cancel(frame));
    }
}

/// A user's `AbortRequest`/`CancelRequest` (by request id) or `AbortAll`: the calls it
/// aborts must not be retried when the engine answers them "aborted".
fn note_user_abort(table: &mut CallTable, method: &str, params: &str) {
    match method {
        "AbortAll" => table.user_aborted_all(),
        "AbortRequest" | "CancelRequest" => {
            let id = serde_json::from_str::<Value>(params).ok().and_then(|p| {
                match &p {
                    Value::Object(m) => m.get("qRequestId").cloned(),
                    Value::Array(a) => a.first().cloned(),
                    _ => None,
                }
                .and_then(|v| v.as_i64())
            });
            if let Some(id) = id {
                table.user_aborted(id);
            }
        }
        _ => {}
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
            .field("pending", &table.len())
            .field("connected", &self.is_connected())
            .field("closed", &table.closed.is_some())
            .finish()
    }
}

const _: () = {
    const fn is<T: Send + Sync + Clone>() {}
    is::<Session>();
    is::<Object>();
};
