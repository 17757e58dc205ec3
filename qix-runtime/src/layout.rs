//! [`Live`]: a value (a layout, say) kept fresh as the engine reports changes to its object.

use std::future::Future;
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::sync::watch;

use crate::error::Error;
use crate::object::Object;

/// The state of a [`Live`] value.
#[derive(Debug)]
pub struct LiveState<T> {
    /// The last value fetched successfully.
    pub value: Option<Arc<T>>,
    /// The error of the last fetch, if it failed (the value stays the previous one).
    pub error: Option<Error>,
    /// How many fetches have finished, failed ones included.
    pub fetches: u64,
    /// The object was closed (or the session ended): no more fetches.
    pub closed: bool,
}

impl<T> Clone for LiveState<T> {
    fn clone(&self) -> Self {
        LiveState {
            value: self.value.clone(),
            error: self.error.clone(),
            fetches: self.fetches,
            closed: self.closed,
        }
    }
}

impl<T> Default for LiveState<T> {
    fn default() -> Self {
        LiveState {
            value: None,
            error: None,
            fetches: 0,
            closed: false,
        }
    }
}

/// A value fetched from an object (typically its `GetLayout`) and fetched again after the
/// engine says the object changed. A burst of changes that arrives while a fetch runs
/// leads to one more fetch, not one per change. Dropping the `Live` stops it.
///
/// ```no_run
/// # async fn demo(obj: qix_runtime::Object) {
/// use qix_runtime::layout::Live;
/// let o = obj.clone();
/// let mut live = Live::new(&obj, move || {
///     let o = o.clone();
///     async move { o.session().call_raw(o.handle(), "GetLayout", serde_json::json!({})).await }
/// });
/// let first = live.next().await;
/// # }
/// ```
pub struct Live<T> {
    rx: watch::Receiver<LiveState<T>>,
    task: tokio::task::AbortHandle,
}

impl<T: Send + Sync + 'static> Live<T> {
    /// Starts fetching now (on the current tokio runtime) and again after every change of
    /// `object`.
    pub fn new<F, Fut>(object: &Object, mut fetch: F) -> Live<T>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
    {
        let (tx, rx) = watch::channel(LiveState::default());
        // Subscribed before the first fetch: a change during it is not missed.
        let mut changes = object.changed();
        let object = object.clone();
        let task = tokio::spawn(async move {
            loop {
                let result = tokio::select! {
                    r = fetch() => Some(r),
                    _ = object.closed() => None,
                };
                let Some(result) = result else { break };
                tx.send_modify(|s| {
                    s.fetches += 1;
                    match result {
                        Ok(v) => {
                            s.value = Some(Arc::new(v));
                            s.error = None;
                        }
                        Err(e) => s.error = Some(e),
                    }
                });
                // Wait for a change, then take every change already queued: one fetch
                // covers them all. A lagged subscriber missed changes: fetch as well.
                let changed = tokio::select! {
                    c = changes.next_item() => c.is_some(),
                    _ = object.closed() => false,
                };
                if !changed {
                    break;
                }
                while let Some(Some(_)) = changes.next_item().now_or_never() {}
            }
            tx.send_modify(|s| s.closed = true);
        })
        .abort_handle();
        Live { rx, task }
    }

    /// The last value fetched successfully.
    pub fn latest(&self) -> Option<Arc<T>> {
        self.rx.borrow().value.clone()
    }

    /// The error of the last fetch, if it failed.
    pub fn error(&self) -> Option<Error> {
        self.rx.borrow().error.clone()
    }

    /// The whole state now.
    pub fn state(&self) -> LiveState<T> {
        self.rx.borrow().clone()
    }

    /// Waits for the next fetch to finish (or for the object to close) and returns the
    /// state then; returns at once if a fetch finished since the last call.
    pub async fn next(&mut self) -> LiveState<T> {
        // The task only ends after publishing `closed`, so an error here means the state
        // is final.
        let _ = self.rx.changed().await;
        self.rx.borrow_and_update().clone()
    }

    /// A receiver of every state change, for `select!` loops and UI bindings.
    pub fn subscribe(&self) -> watch::Receiver<LiveState<T>> {
        self.rx.clone()
    }
}

impl<T> Drop for Live<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<T> std::fmt::Debug for Live<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.rx.borrow();
        f.debug_struct("Live")
            .field("has_value", &s.value.is_some())
            .field("error", &s.error)
            .field("fetches", &s.fetches)
            .field("closed", &s.closed)
            .finish()
    }
}
