//! [`Shared`]: the state a session's handles and its connection task share, and what the
//! connection task does with it: route incoming frames (answers, delta patches, objects
//! opened, `change`/`close` lists, notifications), pick the frames to write, and handle a
//! lost connection, a restore and the end of the session.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use serde_json::Value;
use tokio::sync::{Notify, Semaphore, broadcast, oneshot, watch};

use crate::call::{Answer, Patched, Reply};
use crate::connection::Connector;
use crate::decode::ObjectRef;
use crate::delta;
use crate::envelope::{self, Incoming, Outcome};
use crate::error::{DeltaError, EngineError, Error, Result};
use crate::notification::{Notification, SessionState};
use crate::object::{ClosedReason, ObjectInfo, ObjectInner, lock};
use crate::observe::{MethodMetrics, MethodTable, SessionMetrics};
use crate::restore;
use crate::session::{SessionOptions, request_frame};
use crate::traffic::{Direction, TrafficHook};
use crate::transport::Text;

/// `link`: bit 63 set while connected; the low bits count connections (the epoch).
pub(crate) const LIVE: u64 = 1 << 63;
pub(crate) const ENDED: u64 = 1 << 62;

/// State shared by the session handles and the connection task.
pub(crate) struct Shared {
    pub(crate) next_id: AtomicI64,
    pub(crate) table: Mutex<CallTable>,
    // Created on the first subscription: a broadcast buffer of `notification_capacity`
    // slots is most of an idle session's memory, and a send with no subscriber is
    // dropped either way. Taken at the end of the session, so that streams end.
    pub(crate) notifications: Mutex<Option<broadcast::Sender<Notification>>>,
    pub(crate) changes: Mutex<Option<broadcast::Sender<Arc<[i32]>>>>,
    pub(crate) objects: Mutex<HashMap<i32, Weak<ObjectInner>>>,
    /// Handles the engine closed (and has not handed out again): raw calls on them fail
    /// at once, like typed ones.
    pub(crate) closed_handles: Mutex<HashSet<i32>>,
    pub(crate) global: Arc<ObjectInner>,
    pub(crate) options: SessionOptions,
    /// What the last `OnConnected` said (reset for each new connection).
    pub(crate) state: Mutex<Option<SessionState>>,
    /// Woken when `state` is set.
    pub(crate) connected: Notify,
    pub(crate) closed: watch::Sender<Option<Error>>,
    pub(crate) link: AtomicU64,
    pub(crate) link_changed: Notify,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) hooks: Option<std::sync::mpsc::Sender<HookMsg>>,
    pub(crate) connector: Option<Connector>,
    pub(crate) metrics: SessionMetrics,
}

#[derive(Default)]
pub(crate) struct CallTable {
    pub(crate) pending: HashMap<i64, Pending>,
    /// Ids whose caller gave up: their late responses are dropped quietly (after their
    /// delta patches are applied: the engine's cache moved on either way).
    pub(crate) cancelled: HashMap<i64, Option<DeltaSlot>>,
    /// Set once, when the session ends: every later call fails with it.
    pub(crate) closed: Option<Error>,
    pub(crate) delta: Option<delta::Cache>,
    pub(crate) methods: MethodTable,
}

#[derive(Clone, Copy)]
pub(crate) struct DeltaSlot {
    pub(crate) key: delta::Key,
    pub(crate) out: &'static str,
    /// `"delta": true` was sent (else the method could have, but its cache starts over).
    pub(crate) asked: bool,
}

pub(crate) struct Pending {
    pub(crate) tx: oneshot::Sender<Reply>,
    pub(crate) method: Cow<'static, str>,
    pub(crate) target: Arc<ObjectInner>,
    pub(crate) sent_at: std::time::Instant,
    /// The connection task wrote it: a lost connection fails it instead of sending it
    /// again.
    pub(crate) written: bool,
    pub(crate) delta: Option<DeltaSlot>,
    pub(crate) opens: bool,
    /// Params kept to restore objects (see `restore::keeps_params`).
    pub(crate) params: Option<String>,
    pub(crate) metrics: Option<Arc<MethodMetrics>>,
}

/// Runs traffic hooks on a thread of their own: a hook that writes a file must not stall
/// the connection task (and with it every call). Frames reach hooks in order.
pub(crate) enum HookMsg {
    Frame(Direction, Text),
    /// Answered once every frame before it reached the hooks.
    Flush(oneshot::Sender<()>),
}

pub(crate) fn spawn_hooks(hooks: Vec<Arc<dyn TrafficHook>>) -> std::sync::mpsc::Sender<HookMsg> {
    let (tx, rx) = std::sync::mpsc::channel::<HookMsg>();
    let spawned = std::thread::Builder::new()
        .name("qix-traffic".into())
        .spawn(move || {
            // Ends when the session (the sender) is gone.
            while let Ok(msg) = rx.recv() {
                match msg {
                    HookMsg::Frame(dir, text) => {
                        // Hooks see frames without their secrets (passwords,
                        // connection-string credentials); redacted here, off the
                        // connection task.
                        let text = crate::redact::frame(text.as_str());
                        for hook in &hooks {
                            hook.frame(dir, &text);
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

impl Shared {
    pub(crate) fn capacity(&self) -> usize {
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
    pub(crate) fn select_writes(&self, batch: Vec<(i64, u64, String)>) -> Vec<String> {
        let epoch = self.epoch();
        let mut out = Vec::with_capacity(batch.len());
        let mut table = lock(&self.table);
        for (id, e, frame) in batch {
            if e != epoch {
                // Built for a connection that is gone (see `requeue`).
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

    /// A call whose frame was built for a connection that is gone goes back to its caller,
    /// which builds it again with the restored handles.
    pub(crate) fn requeue(&self, id: i64) {
        if let Some(p) = lock(&self.table).pending.remove(&id) {
            let _ = p.tx.send(Reply::Requeue);
        }
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
