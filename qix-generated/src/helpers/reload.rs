//! A reload with its progress: `DoReload`/`DoReloadEx` runs while `Global.GetProgress` is
//! polled with the reload's request id; each answer is a typed [`ProgressData`].
//!
//! ```no_run
//! # async fn run(session: qix_generated::Session, doc: qix_generated::Doc) -> qix_generated::Result<()> {
//! use futures_util::StreamExt;
//! use qix_generated::helpers::reload::with_progress;
//! use qix_generated::prelude::*;
//!
//! let mut reload = with_progress(&session.global(), doc.do_reload_ex(), std::time::Duration::from_millis(500));
//! while let Some(progress) = reload.next().await {
//!     if let Some(text) = progress?.transient_progress {
//!         eprintln!("{text}");
//!     }
//! }
//! let result = reload.finish().await?;   // the `DoReloadEx` result
//! println!("success: {:?}", result.success);
//! # Ok(()) }
//! ```

use std::future::IntoFuture;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::types::ProgressData;
use crate::{Error, Global, Result};

/// A running reload: a `Stream` of its progress, then its result from
/// [`finish`](ReloadProgress::finish). Dropping it (or [`cancel`](ReloadProgress::cancel))
/// cancels the reload: the engine gets `CancelRequest` for the reload's request id.
pub struct ReloadProgress<T> {
    progress: mpsc::Receiver<Result<ProgressData>>,
    result: Option<oneshot::Receiver<Result<T>>>,
    task: JoinHandle<()>,
}

/// Starts `reload` (`doc.do_reload()` or `doc.do_reload_ex()`, with any of their options)
/// and polls `GetProgress` for it every `interval` until it ends. The last progress item
/// is the one polled after the reload answered, so the final messages are not lost.
/// Needs a tokio runtime.
pub fn with_progress<R, T>(global: &Global, reload: R, interval: Duration) -> ReloadProgress<T>
where
    R: IntoFuture<Output = Result<T>, IntoFuture = qix_runtime::CallFuture<T>>,
    T: Send + 'static,
{
    let call = reload.into_future();
    let id = call.request_id();
    let global = global.clone();
    let (progress_tx, progress) = mpsc::channel(16);
    let (result_tx, result) = oneshot::channel();
    let task = tokio::spawn(async move {
        let mut call = call;
        let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(10)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let outcome = loop {
            tokio::select! {
                r = &mut call => break r,
                _ = ticks.tick() => {
                    let Some(id) = id else { continue };
                    let p = global.get_progress(id).await;
                    // A receiver that is gone only wants the result.
                    let _ = progress_tx.send(p).await;
                }
            }
        };
        if let Some(id) = id {
            let _ = progress_tx.send(global.get_progress(id).await).await;
        }
        drop(progress_tx);
        let _ = result_tx.send(outcome);
    });
    ReloadProgress {
        progress,
        result: Some(result),
        task,
    }
}

impl<T> ReloadProgress<T> {
    /// Waits for the reload's result (the progress not yet read is dropped).
    pub async fn finish(mut self) -> Result<T> {
        self.progress.close();
        let rx = self.result.take().expect("finish takes self");
        rx.await.unwrap_or_else(|_| {
            Err(Error::Protocol(
                "the reload task ended before the reload answered (it panicked)".into(),
            ))
        })
    }

    /// Cancels the reload now (as dropping does).
    pub fn cancel(self) {
        drop(self)
    }
}

impl<T> Drop for ReloadProgress<T> {
    fn drop(&mut self) {
        // Only when the result was never taken: aborting drops the call future, which
        // sends CancelRequest for a reload still running.
        if self.result.is_some() {
            self.task.abort();
        }
    }
}

impl<T> Stream for ReloadProgress<T> {
    type Item = Result<ProgressData>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.progress.poll_recv(cx)
    }
}

impl<T> Unpin for ReloadProgress<T> {}
