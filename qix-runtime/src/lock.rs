//! The one way this crate takes a mutex.

use std::sync::{Mutex, MutexGuard};

/// Takes `m`, poisoned or not. No critical section in this crate runs user code (hooks and
/// interceptors are called outside locks), and none leaves its data half-changed at a
/// point that can panic; so after a panic elsewhere the data is still whole, and refusing
/// it would turn one bug into a failure of every later call.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
