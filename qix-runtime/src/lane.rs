//! [`Lane`]: big delta answers are patched off the connection task.
//!
//! Parsing and applying a patch of megabytes (a table's data pages replaced) takes tens of
//! milliseconds; on the connection task every other call of the session would wait that
//! long for its answer. An answer of at least [`BIG`] bytes goes to the lane instead: a
//! blocking thread that patches answers in the order they arrived and then answers their
//! callers. Order per key is what the delta protocol needs, so once a key has an answer in
//! the lane, its later answers (small ones included) follow it there, and so do the cache
//! operations that must come after them (a handle closed, a new engine session). Keys with
//! nothing in the lane are patched where they arrive, as before: the lane costs a small
//! answer one lock and a map lookup.

use std::collections::VecDeque;

use rustc_hash::FxHashMap as HashMap;
use std::ops::Range;
use std::sync::Arc;

use crate::calls::{DeltaSlot, Pending, Tracked};
use crate::delta::Key;
use crate::transport::Text;

/// The answers worth the trip: from this size a patch costs about a millisecond.
pub(crate) const BIG: usize = 256 << 10;

/// Work for the lane, in arrival order.
pub(crate) enum Job {
    /// A caller's delta answer (`range`: the `result` in `text`).
    Answer {
        p: Pending,
        text: Text,
        range: Range<usize>,
        delta: bool,
    },
    /// The delta answer of a call whose caller gave up: it still moves the cache.
    Late {
        slot: DeltaSlot,
        text: Text,
        range: Range<usize>,
        delta: bool,
        tracked: Option<Tracked>,
    },
    /// The engine closed a handle (after the answers before it in the lane).
    DropHandle(i32),
    /// A new engine session (after the answers before it in the lane).
    Clear,
}

impl Job {
    fn key(&self) -> Option<Key> {
        match self {
            Job::Answer { p, .. } => p.delta.map(|d| d.key),
            Job::Late { slot, .. } => Some(slot.key),
            Job::DropHandle(_) | Job::Clear => None,
        }
    }
}

/// The queue and who is in it.
#[derive(Default)]
pub(crate) struct Lane {
    jobs: VecDeque<Job>,
    /// A thread is draining the queue.
    running: bool,
    /// Answers in the queue, per key.
    keys: HashMap<Key, usize>,
}

impl Lane {
    /// Whether an answer of `len` bytes for `key` must go to the lane: it is big, or its
    /// key has answers there already.
    pub(crate) fn takes(&self, key: &Key, len: usize) -> bool {
        len >= BIG || (!self.keys.is_empty() && self.keys.contains_key(key))
    }

    /// Whether cache operations must queue behind answers.
    pub(crate) fn busy(&self) -> bool {
        !self.jobs.is_empty() || self.running
    }

    /// Queues a job; true when no thread is draining the queue (the caller starts one).
    pub(crate) fn push(&mut self, job: Job) -> bool {
        if let Some(k) = job.key() {
            *self.keys.entry(k).or_default() += 1;
        }
        self.jobs.push_back(job);
        if self.running {
            false
        } else {
            self.running = true;
            true
        }
    }

    /// The next job, or `None` (and the thread stops) when the queue is empty.
    pub(crate) fn next(&mut self) -> Option<Job> {
        let job = self.jobs.pop_front();
        if job.is_none() {
            self.running = false;
        }
        job
    }

    /// A job of `key` is done.
    pub(crate) fn done(&mut self, key: Option<Key>) {
        if let Some(k) = key {
            if let Some(n) = self.keys.get_mut(&k) {
                *n -= 1;
                if *n == 0 {
                    self.keys.remove(&k);
                }
            }
        }
    }
}

/// Drains the lane on a blocking thread.
pub(crate) fn start(shared: Arc<crate::shared::Shared>) {
    let handle = tokio::runtime::Handle::try_current();
    let run = move || {
        loop {
            let job = crate::lock::lock(&shared.lane).next();
            let Some(job) = job else {
                return;
            };
            let key = job.key();
            shared.run_lane_job(job);
            crate::lock::lock(&shared.lane).done(key);
        }
    };
    match handle {
        Ok(h) => {
            h.spawn_blocking(run);
        }
        // Outside a runtime (never on the connection task): drain here.
        Err(_) => run(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_with_answers_in_the_lane_keeps_its_order() {
        let mut lane = Lane::default();
        let key: Key = (2, "GetLayout");
        assert!(!lane.takes(&key, 100));
        assert!(lane.takes(&key, BIG));
        assert!(
            lane.push(Job::DropHandle(9)),
            "the first job starts a thread"
        );
        assert!(lane.busy());
        assert!(!lane.push(Job::Clear), "one thread at a time");
        lane.keys.insert(key, 1);
        assert!(
            lane.takes(&key, 100),
            "a small answer follows a big one of its key"
        );
        assert!(!lane.takes(&(3, "GetLayout"), 100));
        lane.done(Some(key));
        assert!(!lane.takes(&key, 100));
        assert!(lane.next().is_some() && lane.next().is_some());
        assert!(lane.next().is_none());
        assert!(!lane.busy());
    }
}
