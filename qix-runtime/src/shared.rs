//! [`Shared`]: the state a session's handles and its connection task share, and what the
//! connection task does with it: route incoming frames (answers, delta patches, objects
//! opened, `change`/`close` lists, notifications), pick the frames to write, and handle a
//! lost connection, a restore and the end of the session.

use std::borrow::Cow;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::{Notify, Semaphore, broadcast, oneshot, watch};

use crate::answer::{Answer, Patched, Reply};
use crate::calls::{Answered, CallTable, DeltaSlot, Pending};
use crate::connection::Connector;
use crate::decode::ObjectRef;
use crate::delta;
use crate::envelope::{self, Incoming, Outcome};
use crate::error::{ABORTED, DeltaError, EngineError, Error, Result};
use crate::handle::{ClosedReason, ObjectInfo, ObjectInner};
use crate::lane::{self, Job, Lane};
use crate::lock::lock;
use crate::notification::{Notification, SessionState};
use crate::observe::SessionMetrics;
use crate::registry::Registry;
use crate::restore;
use crate::session::SessionOptions;
use crate::traffic::{Direction, HookQueue};
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
    /// The objects by handle, and the handles the engine closed.
    pub(crate) registry: Mutex<Registry>,
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
    pub(crate) hooks: Option<HookQueue>,
    pub(crate) connector: Option<Connector>,
    pub(crate) metrics: SessionMetrics,
    /// The epoch of the connection on which a user's call last succeeded: a connection
    /// that answered a call has stayed up, whatever happens to it next.
    pub(crate) user_ok_epoch: AtomicU64,
    /// Big delta answers, patched off the connection task (see `lane`).
    pub(crate) lane: Mutex<Lane>,
}

impl Shared {
    pub(crate) fn capacity(&self) -> usize {
        self.options.notification_capacity.max(1)
    }

    pub(crate) fn trace(&self, dir: Direction, text: Text) {
        if let Some(q) = &self.hooks {
            q.send(dir, text);
        }
    }

    /// Whether a user's call succeeded on connection `epoch`.
    pub(crate) fn user_call_succeeded_on(&self, epoch: u64) -> bool {
        self.user_ok_epoch.load(Ordering::Acquire) == epoch
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
        let now = std::time::Instant::now();
        let mut out = Vec::with_capacity(batch.len());
        let mut requeued = Vec::new();
        {
            let mut table = lock(&self.table);
            for (id, e, frame) in batch {
                if e != epoch {
                    // Built for a connection that is gone (see `requeue`).
                    requeued.extend(table.remove(id));
                    continue;
                }
                if table.mark_written(id, now) {
                    out.push(frame);
                }
            }
        }
        for p in requeued {
            let _ = p.tx.send(Reply::Requeue);
        }
        out
    }

    /// A call whose frame was built for a connection that is gone goes back to its caller,
    /// which builds it again with the restored handles.
    pub(crate) fn requeue(&self, id: i64) {
        let p = lock(&self.table).remove(id);
        if let Some(p) = p {
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
        table.insert(
            id,
            Pending {
                tx,
                method: Cow::Borrowed(method),
                target: self.global.clone(),
                sent_at: None,
                // Written on the restore's own channel, which dies with the connection:
                // if the connection is lost, it failed.
                written: true,
                delta: None,
                opens: false,
                params: None,
                metrics: None,
                internal: true,
                user_aborted: false,
            },
        );
        Ok((
            envelope::request_frame(id, handle, method, params, false),
            rx,
        ))
    }

    /// Routes one incoming frame. An error means the frame is malformed and the
    /// connection must end (a pending call could otherwise wait forever).
    pub(crate) fn on_frame(self: &Arc<Self>, text: Text) -> Result<()> {
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
                self.metrics.received_bytes.increment(s.len() as u64);
                let answered = lock(&self.table).answered(id);
                let p = match answered {
                    Answered::Pending(p) => p,
                    Answered::Cancelled(c) => {
                        // A late answer: its patches still move the cache along, and a
                        // write the engine applied anyway is remembered for restores.
                        if let Outcome::Result(raw) = &outcome {
                            let raw = raw.get();
                            if let Some(slot) = c.delta {
                                if self.lane_takes(&slot.key, raw.len()) {
                                    self.to_lane(Job::Late {
                                        slot,
                                        range: range_in(&text, raw),
                                        text: text.clone(),
                                        delta,
                                        tracked: c.tracked,
                                    });
                                    return Ok(());
                                }
                                let _ = self.patch(slot, raw, delta, &cancelled);
                            }
                            if let Some(t) = c.tracked {
                                restore::track(&t.target, &t.method, &t.params);
                            }
                        }
                        return Ok(());
                    }
                    Answered::Unknown => {
                        tracing::warn!(target: "qix", id, "response to an unknown request id dropped");
                        return Ok(());
                    }
                };
                if let (Outcome::Result(raw), Some(slot)) = (&outcome, p.delta) {
                    let raw = raw.get();
                    // A full answer to a request without delta touches no cache: never
                    // the lane's business (the common case of a pinned key).
                    if (delta || slot.asked) && self.lane_takes(&slot.key, raw.len()) {
                        self.to_lane(Job::Answer {
                            range: range_in(&text, raw),
                            text: text.clone(),
                            p,
                            delta,
                        });
                        return Ok(());
                    }
                }
                let full = || format!("{}.{}", p.target.info.qtype, p.method);
                let reply = match outcome {
                    Outcome::Error(e) => {
                        let aborted = e.code == ABORTED && p.user_aborted;
                        let err = Error::Engine(EngineError {
                            code: e.code,
                            parameter: e.parameter.unwrap_or_default(),
                            message: e.message.unwrap_or_default(),
                            method: full(),
                        });
                        if aborted {
                            Reply::Aborted(err)
                        } else {
                            Reply::Done(Err(err))
                        }
                    }
                    Outcome::Result(raw) => {
                        Reply::Done(self.answer(&p, &text, raw.get(), delta, &full))
                    }
                };
                self.deliver(p, reply);
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

    /// Hands a call its reply, with its metrics.
    fn deliver(&self, p: Pending, reply: Reply) {
        if let Some(m) = &p.metrics {
            if let Some(sent_at) = p.sent_at {
                m.duration.record(sent_at.elapsed());
            }
            if matches!(reply, Reply::Done(Ok(_))) {
                m.ok.increment(1);
            }
        }
        if !p.internal && matches!(reply, Reply::Done(Ok(_))) {
            let epoch = self.epoch();
            if self.user_ok_epoch.load(Ordering::Relaxed) != epoch {
                self.user_ok_epoch.store(epoch, Ordering::Release);
            }
        }
        let _ = p.tx.send(reply);
    }

    fn lane_takes(&self, key: &delta::Key, len: usize) -> bool {
        lock(&self.lane).takes(key, len)
    }

    fn to_lane(self: &Arc<Self>, job: Job) {
        if lock(&self.lane).push(job) {
            lane::start(self.clone());
        }
    }

    /// A cache operation: at once, or behind the answers in the lane (which come first).
    fn cache_op(self: &Arc<Self>, job: Job) {
        {
            let mut lane = lock(&self.lane);
            if lane.busy() {
                if lane.push(job) {
                    drop(lane);
                    lane::start(self.clone());
                }
                return;
            }
        }
        self.run_cache_op(job);
    }

    fn run_cache_op(&self, job: Job) {
        if let Some(c) = lock(&self.table).delta.as_mut() {
            match job {
                Job::DropHandle(h) => c.drop_handle(h),
                Job::Clear => c.clear(),
                Job::Answer { .. } | Job::Late { .. } => {}
            }
        }
    }

    /// Does one job of the lane (on its thread).
    pub(crate) fn run_lane_job(&self, job: Job) {
        match job {
            Job::Answer {
                p,
                text,
                range,
                delta,
            } => {
                let full = || format!("{}.{}", p.target.info.qtype, p.method);
                let raw = &text.as_str()[range];
                let reply = Reply::Done(self.answer(&p, &text, raw, delta, &full));
                self.deliver(p, reply);
            }
            Job::Late {
                slot,
                text,
                range,
                delta,
                tracked,
            } => {
                let _ = self.patch(slot, &text.as_str()[range], delta, &cancelled);
                if let Some(t) = tracked {
                    restore::track(&t.target, &t.method, &t.params);
                }
            }
            op => self.run_cache_op(op),
        }
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
                if let Some(d) = p.delta.filter(|d| d.asked || delta) {
                    // The engine's base moved on with this answer; ours cannot follow.
                    self.diverged(d.key);
                }
                return Err(Error::Protocol(format!(
                    "the result of {} is {} bytes, more than the session's limit of {max}",
                    full(),
                    raw.len()
                )));
            }
        }
        let mut answer = Answer::whole_of(text, raw);
        if let Some(d) = p.delta {
            if let Some(patched) = self.patch(d, raw, delta, full)? {
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
                    lock(&self.registry).register(handle, &inner);
                    answer.opened = Some(inner);
                }
            }
        }
        if let Some(params) = &p.params {
            restore::track(&p.target, &p.method, params);
        }
        Ok(answer)
    }

    /// Our value for `key` is no longer the engine's base (see `delta`'s rules).
    fn diverged(&self, key: delta::Key) {
        if let Some(c) = lock(&self.table).delta.as_mut() {
            c.diverged(key);
        }
    }

    /// Applies a delta answer to its cache and returns the patched out-param value (the
    /// caller decodes it directly: no text round trip); `None` when the answer was not a
    /// delta (the result is used as it is).
    // (The method's name is only formatted when a patch fails: it was a `format!` per
    // answer in profiles.)
    fn patch(
        &self,
        d: DeltaSlot,
        raw: &str,
        delta: bool,
        method: &dyn Fn() -> String,
    ) -> Result<Option<Patched>> {
        if !delta {
            if d.asked {
                // A full answer to a delta request: what the engine keeps as its base now
                // is not known. Pinned to full answers (rule 2).
                self.diverged(d.key);
            }
            return Ok(None);
        }
        let fail = |index: usize, op: &str, path: &str, message: String| {
            self.diverged(d.key);
            Error::Delta(Box::new(DeltaError {
                method: method(),
                out: d.out.to_string(),
                index,
                op: op.to_string(),
                path: path.to_string(),
                message,
            }))
        };
        let ops: Vec<delta::Op> = crate::decode::out(raw, d.out, "a delta answer")
            .map_err(|e| fail(0, "-", "-", format!("the answer is not a patch list: {e}")))?;
        let (base, bytes) = {
            let mut table = lock(&self.table);
            let opts = &self.options;
            let cache = table.delta.get_or_insert_with(|| {
                delta::Cache::new(opts.delta_cache_bytes, opts.delta_cache_entries)
            });
            let bytes = cache.bytes_of(&d.key);
            (cache.take(&d.key), bytes)
        };
        let mut value = match base {
            delta::Base::Value(v) => {
                // Unshared unless the last caller still holds its value: then it is copied.
                v.map(|a| Arc::try_unwrap(a).unwrap_or_else(|a| (*a).clone()))
            }
            delta::Base::Absent if delta::starts_a_value(&ops) => None,
            delta::Base::Absent => {
                let (op, path) = ops
                    .first()
                    .map_or(("-", "-"), |o| (o.op.as_str(), o.path.as_str()));
                return Err(fail(
                    0,
                    op,
                    path,
                    format!(
                        "a patch list of {} operation(s) for a value this client does not have (only a root `add` or `replace` starts one): the two sides diverged",
                        ops.len()
                    ),
                ));
            }
        };
        // The size bound is approximate and costs nothing to keep: the wire size of the
        // last whole value, grown by patches that add content (replacing a part, however
        // big, leaves the size about what the bigger of the two says).
        let starts = delta::starts_a_value(&ops);
        let adds = ops.iter().any(|o| o.op == "add" || o.op == "copy");
        delta::apply(&mut value, ops).map_err(|e| fail(e.index, &e.op, &e.path, e.message))?;
        let value = value.map(Arc::new);
        let bytes = if starts {
            raw.len()
        } else if adds {
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
    fn apply_lifecycle(self: &Arc<Self>, change: &[i32], close: &[i32]) {
        if change.is_empty() && close.is_empty() {
            return;
        }
        let (changed, closed): (Vec<Arc<ObjectInner>>, Vec<Arc<ObjectInner>>) = {
            let mut registry = lock(&self.registry);
            let changed = change.iter().filter_map(|h| registry.get(*h)).collect();
            (changed, registry.close(close))
        };
        for h in close {
            self.cache_op(Job::DropHandle(*h));
        }
        if !change.is_empty() {
            if let Some(tx) = lock(&self.changes).as_ref() {
                let _ = tx.send(change.into());
            }
        }
        for o in changed {
            o.notify_changed();
        }
        for o in closed {
            o.mark_closed(ClosedReason::Engine);
        }
    }

    /// The connection was lost: calls written on it fail with `why` (retryable when the
    /// engine or the network caused it); calls not yet written wait to be sent again.
    pub(crate) fn connection_lost(&self, why: &Error) {
        self.link.fetch_and(!LIVE, Ordering::AcqRel);
        self.link_changed.notify_waiters();
        let failed = lock(&self.table).lose_written();
        for p in failed {
            let _ = p.tx.send(Reply::Done(Err(why.clone())));
        }
    }

    /// Every object the user still holds, but `Global`.
    pub(crate) fn live_objects(&self) -> Vec<Arc<ObjectInner>> {
        lock(&self.registry).live()
    }

    /// After a reconnection: the objects under their (new) handles, and the caches. Keys
    /// of an attached session keep their caches (those whose answers were lost at the cut
    /// were pinned then); a new engine session has none.
    pub(crate) fn restored(self: &Arc<Self>, created: bool, restored: &[Arc<ObjectInner>]) {
        lock(&self.registry).restored(created, restored);
        if created {
            self.cache_op(Job::Clear);
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
            table.delta = None;
            table.drain()
        };
        for p in pending {
            let _ = p.tx.send(Reply::Done(Err(why.clone())));
        }
        let objects = lock(&self.registry).drain();
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

/// Where `raw`, a slice of `text`, is in it.
fn range_in(text: &Text, raw: &str) -> std::ops::Range<usize> {
    let start = raw.as_ptr() as usize - text.as_str().as_ptr() as usize;
    start..start + raw.len()
}

impl Answer {
    fn whole_of(text: &Text, raw: &str) -> Self {
        Answer {
            text: text.clone(),
            range: range_in(text, raw),
            opened: None,
            patched: None,
        }
    }
}

/// The name a late answer's patch errors go by (nobody awaits them; they are logged).
fn cancelled() -> String {
    "a cancelled call".into()
}
