//! [`Registry`]: the objects of a session by handle number, and the handles the engine
//! closed, under one lock (a close must move a handle from one to the other at once).
//!
//! Both are bounded by what is alive: entries of objects nobody holds any more are
//! pruned as the map grows, and only the most recently closed handles are remembered
//! (a raw call on an older closed handle is sent, and the engine answers it with an
//! error).

use std::collections::VecDeque;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::sync::{Arc, Weak};

use crate::handle::ObjectInner;

/// How many closed handles are remembered.
const CLOSED_REMEMBERED: usize = 4096;

#[derive(Default)]
pub(crate) struct Registry {
    objects: HashMap<i32, Weak<ObjectInner>>,
    /// The map's size after the last prune: the next prune is due when it has doubled.
    pruned_at: usize,
    closed: HashSet<i32>,
    /// `closed` in the order of closing, to forget the oldest.
    closed_order: VecDeque<i32>,
}

impl Registry {
    /// The live object under `handle`.
    pub(crate) fn get(&self, handle: i32) -> Option<Arc<ObjectInner>> {
        self.objects.get(&handle).and_then(Weak::upgrade)
    }

    /// Whether the engine closed `handle` (and has not handed it out again).
    pub(crate) fn is_closed(&self, handle: i32) -> bool {
        !self.closed.is_empty() && self.closed.contains(&handle)
    }

    /// An object the engine opened under `handle` (the engine reuses the numbers of
    /// closed handles).
    pub(crate) fn register(&mut self, handle: i32, object: &Arc<ObjectInner>) {
        if !self.closed.is_empty() && self.closed.remove(&handle) {
            self.closed_order.retain(|h| *h != handle);
        }
        self.objects.insert(handle, Arc::downgrade(object));
        if self.objects.len() >= 2 * self.pruned_at.max(32) {
            self.prune();
        }
    }

    /// The engine closed these handles: their objects, to be marked closed.
    pub(crate) fn close(&mut self, handles: &[i32]) -> Vec<Arc<ObjectInner>> {
        let mut out = Vec::new();
        for h in handles {
            if let Some(o) = self.objects.remove(h).and_then(|w| w.upgrade()) {
                out.push(o);
            }
            if self.closed.insert(*h) {
                self.closed_order.push_back(*h);
            }
        }
        while self.closed_order.len() > CLOSED_REMEMBERED {
            if let Some(old) = self.closed_order.pop_front() {
                self.closed.remove(&old);
            }
        }
        out
    }

    /// Every object someone still holds and that is not closed.
    pub(crate) fn live(&mut self) -> Vec<Arc<ObjectInner>> {
        self.prune();
        self.objects
            .values()
            .filter_map(Weak::upgrade)
            .filter(|o| !o.is_closed())
            .collect()
    }

    /// Every object someone still holds (to find docs by type, say).
    pub(crate) fn held(&self) -> impl Iterator<Item = Arc<ObjectInner>> + '_ {
        self.objects.values().filter_map(Weak::upgrade)
    }

    /// After a reconnection: a new engine session forgets every handle; the restored
    /// objects are under their (new) handles.
    pub(crate) fn restored(&mut self, created: bool, restored: &[Arc<ObjectInner>]) {
        if created {
            self.objects.clear();
            self.closed.clear();
            self.closed_order.clear();
        }
        for o in restored {
            self.objects.insert(o.handle(), Arc::downgrade(o));
        }
        self.pruned_at = self.objects.len();
    }

    /// The session ended: every object someone still holds, to be marked closed.
    pub(crate) fn drain(&mut self) -> Vec<Arc<ObjectInner>> {
        self.closed.clear();
        self.closed_order.clear();
        self.objects
            .drain()
            .filter_map(|(_, w)| w.upgrade())
            .collect()
    }

    fn prune(&mut self) {
        self.objects.retain(|_, w| w.strong_count() > 0);
        self.pruned_at = self.objects.len();
    }

    #[cfg(test)]
    fn sizes(&self) -> (usize, usize) {
        (self.objects.len(), self.closed.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handle::ObjectInfo;
    use crate::handle::Origin;

    fn object(handle: i32) -> Arc<ObjectInner> {
        Arc::new(ObjectInner::new(
            ObjectInfo::new(handle, "GenericObject"),
            Origin::Unrestorable("test".into()),
        ))
    }

    #[test]
    fn dropped_objects_and_old_closed_handles_are_pruned() {
        let mut r = Registry::default();
        let kept = object(1);
        r.register(1, &kept);
        // Objects opened and dropped by their users, many times over.
        for h in 2..10_000 {
            r.register(h, &object(h));
        }
        let (objects, _) = r.sizes();
        assert!(objects < 100, "{objects} entries for 1 live object");
        assert!(r.get(1).is_some());
        // Handles closed by the engine, more than are remembered.
        let handles: Vec<i32> = (20_000..30_000).collect();
        r.close(&handles);
        let (_, closed) = r.sizes();
        assert_eq!(closed, CLOSED_REMEMBERED);
        assert!(r.is_closed(29_999) && !r.is_closed(20_000));
        // A closed number handed out again is open.
        let again = object(29_999);
        r.register(29_999, &again);
        assert!(!r.is_closed(29_999));
        assert_eq!(r.live().len(), 2);
    }
}
