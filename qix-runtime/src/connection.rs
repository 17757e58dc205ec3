//! The connection task: the only owner of the transport. It reads every frame that is
//! ready, routes it, then writes every queued request and flushes once, so pipelined calls
//! share syscalls. When the connection is lost it reconnects (if the session may), restores
//! the objects, and only then lets user calls through again.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use crate::call::Reply;
use crate::error::{CloseInfo, Error, Result};
use crate::notification::{Notification, ResumeReport, SessionState};
use crate::observe;
use crate::reconnect::{self, Reconnect};
use crate::restore;
use crate::session::Command;
use crate::shared::Shared;
use crate::traffic::Direction;
use crate::transport::{Frame, Transport};

/// Opens a new transport to the same URL with the same headers and TLS settings.
pub(crate) type Connector =
    Arc<dyn Fn() -> BoxFuture<'static, Result<Box<dyn Transport>>> + Send + Sync>;

/// How many frames are read before the queue of requests gets a turn.
const READ_BATCH: usize = 256;

/// How a connection ended.
enum End {
    /// The session is closing (by `close`, or every handle was dropped).
    Closing(Error),
    /// `suspend()`: closed on purpose, to be resumed by hand.
    Suspend,
    /// Lost: the engine closed it, the network dropped it, or a frame was malformed.
    Lost(Error),
}

struct Drive<'a> {
    shared: &'a Shared,
    rx: &'a mut mpsc::UnboundedReceiver<Command>,
    internal: &'a mut mpsc::UnboundedReceiver<String>,
    /// While objects are being restored, user commands wait in the queue.
    gated: bool,
    dirty: bool,
    /// Frames selected for writing, last first.
    batch: Vec<String>,
    resume_waiters: &'a mut Vec<oneshot::Sender<Result<ResumeReport>>>,
}

pub(crate) async fn run(
    first: Box<dyn Transport>,
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Command>,
) {
    let (internal_tx, mut internal) = mpsc::unbounded_channel::<String>();
    let mut transport = first;
    let mut resume_waiters: Vec<oneshot::Sender<Result<ResumeReport>>> = Vec::new();
    // The first connection needs no restore.
    let mut restoring: Option<(BoxFuture<'static, Result<ResumeReport>>, u32)> = None;
    loop {
        let mut d = Drive {
            shared: &shared,
            rx: &mut rx,
            internal: &mut internal,
            gated: restoring.is_some(),
            dirty: false,
            batch: Vec::new(),
            resume_waiters: &mut resume_waiters,
        };
        let end = match restoring.take() {
            None => poll_fn(|cx| d.poll(cx, &mut *transport)).await,
            Some((mut restore, attempts)) => {
                let mut restored = false;
                poll_fn(|cx| {
                    if !restored {
                        if let Poll::Ready(r) = restore.as_mut().poll(cx) {
                            restored = true;
                            match r {
                                Ok(mut report) => {
                                    report.attempts = attempts;
                                    d.gated = false;
                                    d.shared.set_link(d.shared.epoch(), true);
                                    d.shared.notify(Notification::Resumed(report.clone()));
                                    for w in d.resume_waiters.drain(..) {
                                        let _ = w.send(Ok(report.clone()));
                                    }
                                }
                                Err(e) => {
                                    // The engine refused the session, or the restore
                                    // calls could not go through: end this connection.
                                    return Poll::Ready(End::Lost(e));
                                }
                            }
                        }
                    }
                    d.poll(cx, &mut *transport)
                })
                .await
            }
        };
        let why = match end {
            End::Closing(why) => {
                close_gracefully(&mut *transport).await;
                finish(&shared, &mut resume_waiters, why);
                return;
            }
            End::Suspend => {
                close_gracefully(&mut *transport).await;
                let why = Error::ConnectionClosed(CloseInfo {
                    code: Some(1000),
                    reason: "the session was suspended by the client".into(),
                    by_client: true,
                });
                lost(&shared, &why);
                // Wait for resume() (or close).
                match wait_for_resume(&shared, &mut rx, &mut resume_waiters).await {
                    Some(()) => {}
                    None => {
                        finish(&shared, &mut resume_waiters, closed_by_client());
                        return;
                    }
                }
                match reconnect(&shared, &mut rx, &mut resume_waiters, None).await {
                    Ok((t, attempts)) => {
                        transport = t;
                        restoring =
                            Some((restore_task(shared.clone(), internal_tx.clone()), attempts));
                        continue;
                    }
                    Err(e) => {
                        finish(&shared, &mut resume_waiters, e);
                        return;
                    }
                }
            }
            End::Lost(why) => why,
        };
        lost(&shared, &why);
        let policy = shared.options.reconnect.clone();
        let may = shared.connector.is_some() && reconnect::worth_reconnecting(&why);
        if !may || (policy.is_none() && resume_waiters.is_empty()) {
            finish(&shared, &mut resume_waiters, why);
            return;
        }
        match reconnect(&shared, &mut rx, &mut resume_waiters, policy.as_ref()).await {
            Ok((t, attempts)) => {
                transport = t;
                restoring = Some((restore_task(shared.clone(), internal_tx.clone()), attempts));
            }
            Err(e) => {
                finish(&shared, &mut resume_waiters, e);
                return;
            }
        }
    }
}

fn closed_by_client() -> Error {
    Error::ConnectionClosed(CloseInfo {
        code: Some(1000),
        reason: "the session was closed by the client".into(),
        by_client: true,
    })
}

fn finish(
    shared: &Shared,
    resume_waiters: &mut Vec<oneshot::Sender<Result<ResumeReport>>>,
    why: Error,
) {
    for w in resume_waiters.drain(..) {
        let _ = w.send(Err(why.clone()));
    }
    shared.shutdown(why);
}

async fn close_gracefully(transport: &mut dyn Transport) {
    // Best effort: the close handshake must not keep the task alive.
    let close = poll_fn(|cx| Pin::new(&mut *transport).poll_close(cx));
    let _ = tokio::time::timeout(Duration::from_secs(2), close).await;
}

fn lost(shared: &Shared, why: &Error) {
    tracing::info!(target: "qix", error = %why, "connection lost");
    shared.connection_lost(why);
    shared.notify(Notification::Suspended {
        reason: why.to_string(),
    });
}

/// What a command received while there is no connection asks for.
enum Away {
    Wait,
    Resume,
    Close,
}

/// Answers a command that arrives while there is no connection: a call goes back to its
/// caller to be built again with the restored handles; `resume` is kept to be answered.
fn while_away(
    shared: &Shared,
    cmd: Option<Command>,
    waiters: &mut Vec<oneshot::Sender<Result<ResumeReport>>>,
) -> Away {
    match cmd {
        Some(Command::Call { id, .. }) => {
            shared.requeue(id);
            Away::Wait
        }
        Some(Command::Cancel(_)) | Some(Command::Suspend) => Away::Wait,
        Some(Command::Resume(w)) => {
            waiters.push(w);
            Away::Resume
        }
        Some(Command::Close) | None => Away::Close,
    }
}

/// While suspended by hand: answers commands until `resume` (Some) or the end (None).
async fn wait_for_resume(
    shared: &Shared,
    rx: &mut mpsc::UnboundedReceiver<Command>,
    waiters: &mut Vec<oneshot::Sender<Result<ResumeReport>>>,
) -> Option<()> {
    loop {
        match while_away(shared, rx.recv().await, waiters) {
            Away::Wait => {}
            Away::Resume => return Some(()),
            Away::Close => return None,
        }
    }
}

/// Connects again, with the policy's backoff (or once, for a manual resume), answering
/// commands while it waits. Returns the transport and the attempts it took.
async fn reconnect(
    shared: &Shared,
    rx: &mut mpsc::UnboundedReceiver<Command>,
    waiters: &mut Vec<oneshot::Sender<Result<ResumeReport>>>,
    policy: Option<&Reconnect>,
) -> Result<(Box<dyn Transport>, u32)> {
    let Some(connector) = shared.connector.clone() else {
        return Err(Error::Config("no URL to connect to again".into()));
    };
    let started = Instant::now();
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let span = tracing::info_span!(target: "qix", "qix.reconnect", attempt);
        let result = connector().instrument(span.clone()).await;
        match result {
            Ok(t) => {
                span.in_scope(|| tracing::info!(target: "qix", attempt, "reconnected"));
                return Ok((t, attempt));
            }
            Err(e) => {
                observe::count_reconnection("failed");
                span.in_scope(
                    || tracing::warn!(target: "qix", attempt, error = %e, "reconnection failed"),
                );
                let Some(p) = policy else {
                    return Err(e);
                };
                if attempt >= p.max_attempts || started.elapsed() >= p.max_elapsed {
                    return Err(e);
                }
                let wait = p
                    .delay(attempt, reconnect::unit_random())
                    .min(p.max_elapsed.saturating_sub(started.elapsed()));
                let sleep = tokio::time::sleep(wait);
                tokio::pin!(sleep);
                loop {
                    tokio::select! {
                        () = &mut sleep => break,
                        cmd = rx.recv() => match while_away(shared, cmd, waiters) {
                            Away::Wait => {}
                            Away::Resume => break,
                            Away::Close => return Err(closed_by_client()),
                        }
                    }
                }
            }
        }
    }
}

/// The restore of a new connection: waits for `OnConnected`, then opens the objects again
/// (SESSION_CREATED) or keeps them (SESSION_ATTACHED).
fn restore_task(
    shared: Arc<Shared>,
    internal: mpsc::UnboundedSender<String>,
) -> BoxFuture<'static, Result<ResumeReport>> {
    let epoch = shared.epoch() + 1;
    shared.reset_state();
    shared.set_link(epoch, false);
    let span = tracing::info_span!(target: "qix", "qix.restore", state = tracing::field::Empty, restored = tracing::field::Empty, closed = tracing::field::Empty);
    let recorded = span.clone();
    Box::pin(
        async move {
            let state = match shared.options.on_connected_timeout {
                Some(limit) => {
                    let wait = async {
                        loop {
                            let notified = shared.connected.notified();
                            if let Some(s) = shared.state() {
                                return s;
                            }
                            notified.await;
                        }
                    };
                    tokio::time::timeout(limit, wait)
                        .await
                        .map_err(|_| Error::Timeout {
                            what: "OnConnected after reconnecting".into(),
                            after: limit,
                        })?
                }
                None => SessionState::Created,
            };
            recorded.record("state", state.as_str());
            let objects = shared.live_objects();
            let report = match &state {
                SessionState::Error(s) => {
                    return Err(Error::SessionRejected { state: s.clone() });
                }
                SessionState::Attached => {
                    observe::count_reconnection("attached");
                    shared.restored(false, &objects);
                    ResumeReport {
                        state: state.clone(),
                        restored: objects.iter().map(|o| o.snapshot()).collect(),
                        closed: Vec::new(),
                        attempts: 0,
                    }
                }
                SessionState::Created => {
                    observe::count_reconnection("created");
                    let sh = shared.clone();
                    let tx = internal.clone();
                    let limit = shared
                        .options
                        .on_connected_timeout
                        .unwrap_or(Duration::from_secs(30));
                    let call = move |handle: i32,
                                     method: &'static str,
                                     params: String|
                          -> BoxFuture<'static, Result<String>> {
                        let sent =
                            sh.internal_call(handle, method, &params)
                                .and_then(|(frame, rx)| {
                                    tx.send(frame).map_err(|_| {
                                        Error::Protocol("the connection task is gone".into())
                                    })?;
                                    Ok(rx)
                                });
                        Box::pin(async move {
                            let rx = sent?;
                            match tokio::time::timeout(limit, rx).await {
                                Ok(Ok(Reply::Done(Ok(a)))) => {
                                    Ok(a.text.as_str()[a.range].to_string())
                                }
                                Ok(Ok(Reply::Done(Err(e)))) => Err(e),
                                Ok(Ok(Reply::Requeue)) | Ok(Err(_)) => {
                                    Err(Error::Protocol("a restore call was dropped".into()))
                                }
                                Err(_) => Err(Error::Timeout {
                                    what: format!("restoring with {method}"),
                                    after: limit,
                                }),
                            }
                        })
                    };
                    let outcome = restore::recreate(objects, &call).await;
                    restore::close_unrestored(&outcome.closed);
                    shared.restored(true, &outcome.restored);
                    ResumeReport {
                        state: state.clone(),
                        restored: outcome.restored.iter().map(|o| o.snapshot()).collect(),
                        closed: outcome
                            .closed
                            .iter()
                            .map(|(o, why)| (o.snapshot(), why.clone()))
                            .collect(),
                        attempts: 0,
                    }
                }
            };
            recorded.record("restored", report.restored.len());
            recorded.record("closed", report.closed.len());
            Ok(report)
        }
        .instrument(span),
    )
}

impl Drive<'_> {
    fn poll(&mut self, cx: &mut Context<'_>, transport: &mut dyn Transport) -> Poll<End> {
        loop {
            // 1. Read what is ready.
            let mut read = 0;
            while read < READ_BATCH {
                match Pin::new(&mut *transport).poll_next(cx) {
                    Poll::Ready(Some(Ok(Frame::Text(text)))) => {
                        read += 1;
                        if let Err(e) = self.shared.on_frame(text) {
                            tracing::error!(target: "qix", error = %e, "closing the connection");
                            return Poll::Ready(End::Lost(e));
                        }
                    }
                    Poll::Ready(Some(Ok(Frame::Close(info)))) => {
                        return Poll::Ready(End::Lost(Error::ConnectionClosed(info.unwrap_or(
                            CloseInfo::remote(
                                None,
                                "the engine closed the connection without a close frame",
                            ),
                        ))));
                    }
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(End::Lost(e)),
                    Poll::Ready(None) => {
                        return Poll::Ready(End::Lost(Error::ConnectionClosed(CloseInfo::remote(
                            None,
                            "the connection dropped",
                        ))));
                    }
                    Poll::Pending => break,
                }
            }

            // 2. Write what is queued: restore calls first, user calls unless gated.
            let mut wrote = false;
            loop {
                match Pin::new(&mut *transport).poll_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => return Poll::Ready(End::Lost(e)),
                    Poll::Pending => break,
                }
                let frame = match self.internal.poll_recv(cx) {
                    Poll::Ready(Some(frame)) => frame,
                    _ if self.gated => break,
                    _ => match self.next_user_frame(cx) {
                        Ok(Some(frame)) => frame,
                        Ok(None) => break,
                        Err(end) => return Poll::Ready(end),
                    },
                };
                self.shared.count_sent(frame.len());
                if self.shared.options.traffic.is_empty() {
                    if let Err(e) = Pin::new(&mut *transport).start_send(frame) {
                        return Poll::Ready(End::Lost(e));
                    }
                } else {
                    let copy = crate::transport::Text::from(frame.as_str());
                    if let Err(e) = Pin::new(&mut *transport).start_send(frame) {
                        return Poll::Ready(End::Lost(e));
                    }
                    self.shared.trace(Direction::Sent, copy);
                }
                wrote = true;
                self.dirty = true;
            }

            // 3. Flush once per batch.
            if self.dirty {
                match Pin::new(&mut *transport).poll_flush(cx) {
                    Poll::Ready(Ok(())) => self.dirty = false,
                    Poll::Ready(Err(e)) => return Poll::Ready(End::Lost(e)),
                    Poll::Pending => {}
                }
            }

            // A full read batch may have more behind it; otherwise wait for a wake-up.
            if read < READ_BATCH && !wrote {
                return Poll::Pending;
            }
            if read == READ_BATCH {
                // Let callers run before reading more.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
    }

    /// The next user frame to write: calls are taken in batches (one lock of the call
    /// table per batch) and filtered (see `Shared::select_writes`).
    fn next_user_frame(&mut self, cx: &mut Context<'_>) -> Result<Option<String>, End> {
        loop {
            if let Some(frame) = self.batch.pop() {
                return Ok(Some(frame));
            }
            let mut calls = Vec::new();
            // A cancel ends the batch, to be written after the calls before it.
            let mut cancel = None;
            loop {
                match self.rx.poll_recv(cx) {
                    Poll::Ready(Some(Command::Call { id, epoch, frame })) => {
                        calls.push((id, epoch, frame));
                        if calls.len() >= READ_BATCH {
                            break;
                        }
                    }
                    Poll::Ready(Some(Command::Cancel(frame))) => {
                        cancel = Some(frame);
                        break;
                    }
                    Poll::Ready(Some(Command::Suspend)) => return Err(End::Suspend),
                    Poll::Ready(Some(Command::Resume(w))) => {
                        // Connected already: nothing to restore.
                        let _ = w.send(Ok(ResumeReport {
                            state: self.shared.state().unwrap_or(SessionState::Attached),
                            restored: Vec::new(),
                            closed: Vec::new(),
                            attempts: 0,
                        }));
                    }
                    Poll::Ready(Some(Command::Close)) | Poll::Ready(None) => {
                        return Err(End::Closing(closed_by_client()));
                    }
                    Poll::Pending => break,
                }
            }
            if calls.is_empty() && cancel.is_none() {
                return Ok(None);
            }
            let mut frames = self.shared.select_writes(calls);
            frames.extend(cancel);
            // `batch` is popped from the back: store reversed to keep the order.
            frames.reverse();
            self.batch = frames;
        }
    }
}
