//! [`CallTable`]: the calls of a session between their dispatch and their answer, the ids
//! of calls whose caller gave up (their late answers still move delta caches), and the
//! delta caches themselves, all under the session's one lock.
//!
//! Every way a call leaves the table goes through a method here, so the in-flight gauge
//! (`qix_calls_in_flight`) is the table's size and cannot drift.

use rustc_hash::FxHashMap as HashMap;
use std::borrow::Cow;
use std::sync::Arc;

use metrics::Gauge;
use tokio::sync::oneshot;

use crate::answer::Reply;
use crate::delta;
use crate::error::Error;
use crate::handle::ObjectInner;
use crate::observe::{MethodMetrics, MethodTable};

/// The delta cache slot of a call: which cache its answer patches.
#[derive(Clone, Copy)]
pub(crate) struct DeltaSlot {
    pub(crate) key: delta::Key,
    pub(crate) out: &'static str,
    /// `"delta": true` was sent (else the method could have, but its key is pinned to full
    /// answers).
    pub(crate) asked: bool,
}

/// A call whose params are kept until its answer, to replay on a restore (see
/// `restore::keeps_params`).
pub(crate) struct Tracked {
    pub(crate) target: Arc<ObjectInner>,
    pub(crate) method: Cow<'static, str>,
    pub(crate) params: String,
}

pub(crate) struct Pending {
    pub(crate) tx: oneshot::Sender<Reply>,
    pub(crate) method: Cow<'static, str>,
    pub(crate) target: Arc<ObjectInner>,
    /// When the connection task wrote it (read once per batch of writes: a clock read
    /// per call showed in profiles of pipelined calls).
    pub(crate) sent_at: Option<std::time::Instant>,
    /// The connection task wrote it: a lost connection fails it instead of sending it
    /// again.
    pub(crate) written: bool,
    pub(crate) delta: Option<DeltaSlot>,
    pub(crate) opens: bool,
    /// Params kept to restore objects (see `restore::keeps_params`).
    pub(crate) params: Option<String>,
    pub(crate) metrics: Option<Arc<MethodMetrics>>,
    /// A restore call of the connection task, not a user's.
    pub(crate) internal: bool,
    /// The user asked the engine to abort it (`AbortRequest`, `CancelRequest`,
    /// `AbortAll`): its "aborted" error is final, never retried.
    pub(crate) user_aborted: bool,
}

/// A call whose caller gave up after it was written.
#[derive(Default)]
pub(crate) struct Cancelled {
    pub(crate) delta: Option<DeltaSlot>,
    /// A write on a session object: if the engine applied it anyway, the properties a
    /// restore replays must say so.
    pub(crate) tracked: Option<Tracked>,
}

/// What the table knew of an answered id.
pub(crate) enum Answered {
    Pending(Pending),
    Cancelled(Cancelled),
    Unknown,
}

pub(crate) struct CallTable {
    pending: HashMap<i64, Pending>,
    cancelled: HashMap<i64, Cancelled>,
    /// Set once, when the session ends: every later call fails with it.
    pub(crate) closed: Option<Error>,
    pub(crate) delta: Option<delta::Cache>,
    pub(crate) methods: MethodTable,
    in_flight: Gauge,
}

impl CallTable {
    pub(crate) fn new(in_flight: Gauge) -> Self {
        CallTable {
            pending: HashMap::default(),
            cancelled: HashMap::default(),
            closed: None,
            delta: None,
            methods: MethodTable::default(),
            in_flight,
        }
    }

    pub(crate) fn insert(&mut self, id: i64, p: Pending) {
        if let Some(old) = self.pending.insert(id, p) {
            // Ids are unique per session; a second insert would be a bug. Keep the gauge
            // right either way, and let the old caller know.
            self.in_flight.decrement(1.0);
            let _ = old.tx.send(Reply::Done(Err(Error::Internal(format!(
                "request id {id} reused"
            )))));
        }
        self.in_flight.increment(1.0);
    }

    /// Takes a call out of the table (answered, requeued, or never sent).
    pub(crate) fn remove(&mut self, id: i64) -> Option<Pending> {
        let p = self.pending.remove(&id)?;
        self.in_flight.decrement(1.0);
        Some(p)
    }

    /// An answer arrived for `id`.
    pub(crate) fn answered(&mut self, id: i64) -> Answered {
        if let Some(p) = self.remove(id) {
            return Answered::Pending(p);
        }
        match self.cancelled.remove(&id) {
            Some(c) => Answered::Cancelled(c),
            None => Answered::Unknown,
        }
    }

    /// Marks a call written; false when it is no longer in the table (given up).
    pub(crate) fn mark_written(&mut self, id: i64, now: std::time::Instant) -> bool {
        match self.pending.get_mut(&id) {
            Some(p) => {
                p.written = true;
                p.sent_at = Some(now);
                true
            }
            None => false,
        }
    }

    /// The caller gave up on `id`: returns true when it was written, so the engine should
    /// be asked to stop (its late answer is then expected and dropped quietly).
    pub(crate) fn give_up(&mut self, id: i64) -> bool {
        let Some(p) = self.remove(id) else {
            return false;
        };
        if !p.written || self.closed.is_some() {
            // Never written: the connection task skips its frame.
            return false;
        }
        let tracked = p.params.map(|params| Tracked {
            target: p.target,
            method: p.method,
            params,
        });
        self.cancelled.insert(
            id,
            Cancelled {
                delta: p.delta,
                tracked,
            },
        );
        true
    }

    /// A request of this client's own (a `CancelRequest`) whose answer nobody awaits.
    pub(crate) fn expect_unawaited(&mut self, id: i64) {
        self.cancelled.insert(id, Cancelled::default());
    }

    /// The user asked the engine to abort request `id`.
    pub(crate) fn user_aborted(&mut self, id: i64) {
        if let Some(p) = self.pending.get_mut(&id) {
            p.user_aborted = true;
        }
    }

    /// The user asked the engine to abort every request (`AbortAll`).
    pub(crate) fn user_aborted_all(&mut self) {
        for p in self.pending.values_mut() {
            p.user_aborted = true;
        }
    }

    /// The connection was lost: the calls written on it leave the table (to fail), the
    /// rest stay to be sent again. Delta requests whose answers were lost leave their keys
    /// behind the engine's (if the engine kept the session): those keys are pinned.
    pub(crate) fn lose_written(&mut self) -> Vec<Pending> {
        let ids: Vec<i64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.written)
            .map(|(id, _)| *id)
            .collect();
        let failed: Vec<Pending> = ids.iter().filter_map(|id| self.remove(*id)).collect();
        let lost_slots = failed
            .iter()
            .filter_map(|p| p.delta)
            .chain(self.cancelled.drain().filter_map(|(_, c)| c.delta))
            .filter(|d| d.asked)
            .map(|d| d.key)
            .collect::<Vec<_>>();
        if let Some(cache) = self.delta.as_mut() {
            for key in lost_slots {
                cache.diverged(key);
            }
        }
        failed
    }

    /// The session ends: every call leaves the table.
    pub(crate) fn drain(&mut self) -> Vec<Pending> {
        self.cancelled.clear();
        let drained: Vec<Pending> = self.pending.drain().map(|(_, p)| p).collect();
        self.in_flight.decrement(drained.len() as f64);
        drained
    }

    // A `&Cow`, not a `&str`: cloned into the key, a generated method's `&'static str`
    // stays unallocated.
    #[allow(clippy::ptr_arg)]
    pub(crate) fn method_metrics(&mut self, method: &Cow<'static, str>) -> Arc<MethodMetrics> {
        self.methods.method(method)
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }
}
