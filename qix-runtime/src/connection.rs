//! The connection task: the only owner of the transport. It reads every frame that is
//! ready, routes it, then writes every queued request and flushes once, so pipelined calls
//! share syscalls. It pings a peer that has been silent for the keepalive interval and
//! gives the connection up when the peer stays silent. When the connection is lost it
//! reconnects (if the session may) within one backoff budget per episode, restores the
//! objects, and only then lets user calls through again.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Sleep;
use tracing::Instrument;

use crate::error::{CloseInfo, Error, Result, closed_by_client};
use crate::notification::{Notification, ResumeReport, SessionState};
use crate::observe;
use crate::reconnect::{self, Reconnect};
use crate::restore;
use crate::session::{Command, Control};
use crate::shared::Shared;
use crate::traffic::Direction;
use crate::transport::{Frame, Transport};

/// Opens a new transport to the same URL with the same headers and TLS settings.
pub(crate) type Connector =
    Arc<dyn Fn() -> BoxFuture<'static, Result<Box<dyn Transport>>> + Send + Sync>;

/// How many frames are read before the queue of requests gets a turn.
const READ_BATCH: usize = 256;

/// How long a closing connection may take to say goodbye (the close handshake) before it
/// is dropped: a peer that stopped reading must not hold `close()` up.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

type ResumeWaiters = Vec<oneshot::Sender<Result<ResumeReport>>>;

/// How a connection ended.
enum End {
    /// The session is closing (by `close`, or every handle was dropped).
    Closing(Error),
    /// `suspend()`: closed on purpose, to be resumed by hand.
    Suspend,
    /// Lost: the engine closed it, the network dropped it, the peer went silent, a frame
    /// was malformed, or the restore of a new connection failed.
    Lost(Error),
}

/// One reconnection episode: from the drop of a connection that had been up (stable)
/// until a connection stays up again. Its attempts and time are bounded by the policy as a
/// whole, so a peer that accepts every connection and drops it at once cannot make the
/// client hammer it.
struct Episode {
    started: Instant,
    attempts: u32,
}

/// A connection that was restored (or the first one) and what is needed to tell whether
/// it stayed up.
struct Up {
    since: Instant,
    epoch: u64,
}

/// The restore of a new connection, run beside the connection's I/O: its frames go on a
/// channel of this connection alone, so none of them can reach a later connection.
struct Restoring {
    task: BoxFuture<'static, Result<ResumeReport>>,
    frames: mpsc::UnboundedReceiver<String>,
    attempts: u32,
}

/// When to ping a silent peer and when to give it up.
struct Keepalive {
    interval: Duration,
    timer: Pin<Box<Sleep>>,
    /// When a frame last arrived.
    heard: Instant,
    /// A ping went out (or was due) at this moment and nothing arrived since.
    pinged: Option<Instant>,
}

impl Keepalive {
    fn new(interval: Duration) -> Self {
        Keepalive {
            interval,
            timer: Box::pin(tokio::time::sleep(interval)),
            heard: Instant::now(),
            pinged: None,
        }
    }
}

struct Drive<'a> {
    shared: &'a Arc<Shared>,
    rx: &'a mut mpsc::UnboundedReceiver<Command>,
    control: &'a mut mpsc::UnboundedReceiver<Control>,
    /// The restore's frames, written before anything else.
    internal: Option<&'a mut mpsc::UnboundedReceiver<String>>,
    /// While objects are being restored, user commands wait in the queue.
    gated: bool,
    dirty: bool,
    /// Frames selected for writing, last first.
    batch: Vec<String>,
    resume_waiters: &'a mut ResumeWaiters,
    keepalive: Option<Keepalive>,
}

pub(crate) async fn run(
    first: Box<dyn Transport>,
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Command>,
    mut control: mpsc::UnboundedReceiver<Control>,
) {
    let mut transport = first;
    let mut resume_waiters: ResumeWaiters = Vec::new();
    // The first connection needs no restore.
    let mut restoring: Option<Restoring> = None;
    let mut episode: Option<Episode> = None;
    let mut up = Up {
        since: Instant::now(),
        epoch: shared.epoch(),
    };
    loop {
        let end = drive(
            &shared,
            &mut *transport,
            &mut rx,
            &mut control,
            &mut resume_waiters,
            restoring.take(),
            &mut up,
        )
        .await;
        // How the next connection is made: `None` for a resume by hand (one attempt, now),
        // else the reconnection policy and the reason the connection was lost.
        let policy: Option<(Reconnect, Error)> = match end {
            End::Closing(why) => {
                close_gracefully(&mut *transport).await;
                finish(&shared, &mut resume_waiters, why);
                return;
            }
            End::Suspend => {
                close_gracefully(&mut *transport).await;
                // Calls cut off by a suspension may be sent again after `resume`: the close
                // is the client's, but not an end (`by_client` stays false).
                let why = Error::ConnectionClosed(CloseInfo::remote(
                    Some(1000),
                    "the session was suspended by the client",
                ));
                lost(&shared, &why);
                if wait_for_resume(&shared, &mut rx, &mut control, &mut resume_waiters)
                    .await
                    .is_none()
                {
                    finish(&shared, &mut resume_waiters, closed_by_client());
                    return;
                }
                // A resume by hand starts afresh.
                episode = None;
                None
            }
            End::Lost(why) => {
                lost(&shared, &why);
                let may = shared.connector.is_some() && reconnect::worth_reconnecting(&why);
                match shared.options.reconnect.clone() {
                    Some(policy) if may => {
                        // The episode goes on unless the connection that just ended had
                        // stayed up.
                        if up.since.elapsed() >= policy.stable_after
                            || shared.user_call_succeeded_on(up.epoch)
                        {
                            episode = None;
                        }
                        Some((policy, why))
                    }
                    // No automatic reconnection: a waiting `resume()` gets its one try.
                    None if may && !resume_waiters.is_empty() => {
                        episode = None;
                        None
                    }
                    _ => {
                        finish(&shared, &mut resume_waiters, why);
                        return;
                    }
                }
            }
        };
        let next = reconnect(
            &shared,
            &mut rx,
            &mut control,
            &mut resume_waiters,
            policy,
            &mut episode,
        )
        .await;
        match next {
            Ok((t, attempts)) => {
                transport = t;
                restoring = Some(restore_task(shared.clone(), attempts));
            }
            Err(e) => {
                finish(&shared, &mut resume_waiters, e);
                return;
            }
        }
    }
}

/// Runs one connection until it ends: its restore first (when it has one), then user
/// calls.
async fn drive(
    shared: &Arc<Shared>,
    transport: &mut dyn Transport,
    rx: &mut mpsc::UnboundedReceiver<Command>,
    control: &mut mpsc::UnboundedReceiver<Control>,
    resume_waiters: &mut ResumeWaiters,
    restoring: Option<Restoring>,
    up: &mut Up,
) -> End {
    let keepalive = shared
        .options
        .keepalive
        .filter(|_| transport.supports_ping())
        .map(Keepalive::new);
    let (mut task, mut frames, attempts) = match restoring {
        Some(r) => (Some(r.task), Some(r.frames), r.attempts),
        None => (None, None, 0),
    };
    let mut d = Drive {
        shared,
        rx,
        control,
        internal: frames.as_mut(),
        gated: task.is_some(),
        dirty: false,
        batch: Vec::new(),
        resume_waiters,
        keepalive,
    };
    poll_fn(|cx| {
        if let Some(t) = task.as_mut() {
            if let Poll::Ready(r) = t.as_mut().poll(cx) {
                task = None;
                match r {
                    Ok(report) => d.restored(report, attempts, up),
                    // The engine refused the session, or the restore calls could not go
                    // through: end this connection.
                    Err(e) => return Poll::Ready(End::Lost(e)),
                }
            }
        }
        d.poll(cx, &mut *transport)
    })
    .await
}

fn finish(shared: &Shared, resume_waiters: &mut ResumeWaiters, why: Error) {
    for w in resume_waiters.drain(..) {
        let _ = w.send(Err(why.clone()));
    }
    shared.shutdown(why);
}

async fn close_gracefully(transport: &mut dyn Transport) {
    // Best effort: the close handshake must not keep the task alive.
    let close = poll_fn(|cx| Pin::new(&mut *transport).poll_close(cx));
    let _ = tokio::time::timeout(CLOSE_GRACE, close).await;
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

/// Answers a call that arrives while there is no connection: it goes back to its caller
/// to be built again with the restored handles.
fn call_while_away(shared: &Shared, cmd: Option<Command>) -> Away {
    match cmd {
        Some(Command::Call { id, .. }) => {
            shared.requeue(id);
            Away::Wait
        }
        Some(Command::Cancel(_)) => Away::Wait,
        // Every session handle is gone.
        None => Away::Close,
    }
}

/// Answers a control command that arrives while there is no connection: `resume` is kept
/// to be answered.
fn control_while_away(cmd: Option<Control>, waiters: &mut ResumeWaiters) -> Away {
    match cmd {
        Some(Control::Suspend) => Away::Wait,
        Some(Control::Resume(w)) => {
            waiters.push(w);
            Away::Resume
        }
        Some(Control::Close) | None => Away::Close,
    }
}

/// While suspended by hand: answers commands until `resume` (Some) or the end (None).
async fn wait_for_resume(
    shared: &Shared,
    rx: &mut mpsc::UnboundedReceiver<Command>,
    control: &mut mpsc::UnboundedReceiver<Control>,
    waiters: &mut ResumeWaiters,
) -> Option<()> {
    loop {
        let away = tokio::select! {
            biased;
            cmd = control.recv() => control_while_away(cmd, waiters),
            cmd = rx.recv() => call_while_away(shared, cmd),
        };
        match away {
            Away::Wait => {}
            Away::Resume => return Some(()),
            Away::Close => return None,
        }
    }
}

/// Waits `wait`, answering commands meanwhile; false when the session is closing.
async fn pause(
    shared: &Shared,
    rx: &mut mpsc::UnboundedReceiver<Command>,
    control: &mut mpsc::UnboundedReceiver<Control>,
    waiters: &mut ResumeWaiters,
    wait: Duration,
) -> bool {
    let sleep = tokio::time::sleep(wait);
    tokio::pin!(sleep);
    loop {
        let away = tokio::select! {
            biased;
            cmd = control.recv() => control_while_away(cmd, waiters),
            cmd = rx.recv() => call_while_away(shared, cmd),
            () = &mut sleep => return true,
        };
        match away {
            Away::Wait => {}
            // `resume()` during the wait: try now.
            Away::Resume => return true,
            Away::Close => return false,
        }
    }
}

/// Connects again, answering commands while it waits. With a policy (automatic
/// reconnection), each attempt of the episode waits its backoff first (the first one
/// `initial_delay`) and the episode's attempts and time are bounded; without one (a
/// resume by hand) it tries once, now. Returns the transport and the attempts it took.
async fn reconnect(
    shared: &Shared,
    rx: &mut mpsc::UnboundedReceiver<Command>,
    control: &mut mpsc::UnboundedReceiver<Control>,
    waiters: &mut ResumeWaiters,
    policy: Option<(Reconnect, Error)>,
    episode: &mut Option<Episode>,
) -> Result<(Box<dyn Transport>, u32)> {
    let Some(connector) = shared.connector.clone() else {
        return Err(Error::Internal(
            "reconnecting a session that has no connector".into(),
        ));
    };
    let Some((policy, mut last)) = policy else {
        let span = tracing::info_span!(target: "qix", "qix.reconnect", attempt = 1u32);
        return match connector().instrument(span).await {
            Ok(t) => Ok((t, 1)),
            Err(e) => {
                observe::count_reconnection("failed");
                Err(e)
            }
        };
    };
    let ep = episode.get_or_insert_with(|| Episode {
        started: Instant::now(),
        attempts: 0,
    });
    let mut in_this_call = 0;
    loop {
        let elapsed = ep.started.elapsed();
        if ep.attempts >= policy.max_attempts || elapsed >= policy.max_elapsed {
            tracing::warn!(target: "qix", attempts = ep.attempts, ?elapsed, error = %last, "giving up reconnecting");
            return Err(Error::ReconnectFailed {
                attempts: ep.attempts,
                elapsed,
                last: Box::new(last),
            });
        }
        ep.attempts += 1;
        in_this_call += 1;
        let attempt = ep.attempts;
        let wait = policy
            .delay(attempt, reconnect::unit_random())
            .min(policy.max_elapsed.saturating_sub(elapsed));
        if !pause(shared, rx, control, waiters, wait).await {
            return Err(closed_by_client());
        }
        let span = tracing::info_span!(target: "qix", "qix.reconnect", attempt);
        match connector().instrument(span.clone()).await {
            Ok(t) => {
                span.in_scope(|| tracing::info!(target: "qix", attempt, "reconnected"));
                return Ok((t, in_this_call));
            }
            Err(e) => {
                observe::count_reconnection("failed");
                span.in_scope(
                    || tracing::warn!(target: "qix", attempt, error = %e, "reconnection failed"),
                );
                if !reconnect::worth_reconnecting(&e) {
                    return Err(e);
                }
                last = e;
            }
        }
    }
}

/// The restore of a new connection: waits for `OnConnected`, then opens the objects again
/// (SESSION_CREATED), or checks that the engine really kept them (SESSION_ATTACHED) and
/// opens them again if it did not.
fn restore_task(shared: Arc<Shared>, attempts: u32) -> Restoring {
    let epoch = shared.epoch() + 1;
    shared.reset_state();
    shared.set_link(epoch, false);
    let (tx, frames) = mpsc::unbounded_channel::<String>();
    let span = tracing::info_span!(target: "qix", "qix.restore", state = tracing::field::Empty, restored = tracing::field::Empty, closed = tracing::field::Empty);
    let recorded = span.clone();
    let task = async move {
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
        if let SessionState::Error(s) = &state {
            return Err(Error::SessionRejected { state: s.clone() });
        }
        let objects = shared.live_objects();
        let sh = shared.clone();
        // Restore calls wait as long as the user's calls would: an `OpenDoc` of a large
        // app can take minutes, and giving up would close objects the engine opens anyway.
        // A dead peer is found by the keepalive, not by this timeout.
        let limit = shared.options.call_timeout;
        let call = move |handle: i32,
                         method: &'static str,
                         params: String|
              -> BoxFuture<'static, Result<String>> {
            let sent = sh
                .internal_call(handle, method, &params)
                .and_then(|(frame, rx)| {
                    tx.send(frame).map_err(|_| {
                        Error::ConnectionClosed(CloseInfo::remote(
                            None,
                            "the connection ended during the restore",
                        ))
                    })?;
                    Ok(rx)
                });
            Box::pin(async move { restore::await_internal(sent?, limit, method).await })
        };
        let report = match &state {
            SessionState::Attached => {
                match restore::verify_attached(&objects, &call).await {
                    Ok(()) => {
                        observe::count_reconnection("attached");
                        shared.restored(false, &objects);
                        ResumeReport {
                            state: state.clone(),
                            restored: objects.iter().map(|o| o.snapshot()).collect(),
                            closed: Vec::new(),
                            attempts: 0,
                            attach_mismatch: None,
                        }
                    }
                    Err(mismatch) => {
                        tracing::warn!(target: "qix", %mismatch, "the engine said SESSION_ATTACHED but lost objects: opening them again");
                        observe::count_reconnection("created");
                        let mut report = recreate(&shared, objects, &call).await;
                        report.state = state.clone();
                        report.attach_mismatch = Some(mismatch);
                        report
                    }
                }
            }
            _ => {
                observe::count_reconnection("created");
                let mut report = recreate(&shared, objects, &call).await;
                report.state = state.clone();
                report
            }
        };
        recorded.record("restored", report.restored.len());
        recorded.record("closed", report.closed.len());
        Ok(report)
    }
    .instrument(span);
    Restoring {
        task: Box::pin(task),
        frames,
        attempts,
    }
}

/// The SESSION_CREATED path: every object is opened again.
async fn recreate(
    shared: &Arc<Shared>,
    objects: Vec<Arc<crate::handle::ObjectInner>>,
    call: restore::Caller<'_>,
) -> ResumeReport {
    let outcome = restore::recreate(objects, call).await;
    restore::close_unrestored(&outcome.closed);
    shared.restored(true, &outcome.restored);
    ResumeReport {
        state: SessionState::Created,
        restored: outcome.restored.iter().map(|o| o.snapshot()).collect(),
        closed: outcome
            .closed
            .iter()
            .map(|(o, why)| (o.snapshot(), why.clone()))
            .collect(),
        attempts: 0,
        attach_mismatch: None,
    }
}

impl Drive<'_> {
    /// The restore is done: user calls go through again.
    fn restored(&mut self, mut report: ResumeReport, attempts: u32, up: &mut Up) {
        report.attempts = attempts;
        self.gated = false;
        self.internal = None;
        let epoch = self.shared.epoch();
        self.shared.set_link(epoch, true);
        *up = Up {
            since: Instant::now(),
            epoch,
        };
        self.shared.notify(Notification::Resumed(report.clone()));
        for w in self.resume_waiters.drain(..) {
            let _ = w.send(Ok(report.clone()));
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>, transport: &mut dyn Transport) -> Poll<End> {
        loop {
            // 0. Control first: `close()` and `suspend()` must not wait behind a write the
            // peer does not read.
            if let Some(end) = self.poll_control(cx) {
                return Poll::Ready(end);
            }

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
                    Poll::Ready(Some(Ok(Frame::Pong))) => read += 1,
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
            if read > 0 {
                if let Some(k) = self.keepalive.as_mut() {
                    k.heard = Instant::now();
                    k.pinged = None;
                }
            }

            // 2. Keepalive: ping a silent peer; give up one that stays silent.
            if let Err(end) = self.poll_keepalive(cx, transport) {
                return Poll::Ready(end);
            }

            // 3. Write what is queued: restore calls first, user calls unless gated.
            let mut wrote = false;
            loop {
                match Pin::new(&mut *transport).poll_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => return Poll::Ready(End::Lost(e)),
                    Poll::Pending => break,
                }
                let internal = match self.internal.as_mut() {
                    Some(rx) => match rx.poll_recv(cx) {
                        Poll::Ready(Some(frame)) => Some(frame),
                        _ => None,
                    },
                    None => None,
                };
                let frame = match internal {
                    Some(frame) => frame,
                    None if self.gated => break,
                    None => match self.next_user_frame(cx) {
                        Ok(Some(frame)) => frame,
                        Ok(None) => break,
                        Err(end) => return Poll::Ready(end),
                    },
                };
                self.shared.count_sent(frame.len());
                if self.shared.hooks.is_none() {
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

            // 4. Flush once per batch.
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

    fn poll_control(&mut self, cx: &mut Context<'_>) -> Option<End> {
        loop {
            match self.control.poll_recv(cx) {
                Poll::Ready(Some(Control::Suspend)) => return Some(End::Suspend),
                Poll::Ready(Some(Control::Resume(w))) => {
                    if self.gated {
                        // Restoring: answered when the restore is done.
                        self.resume_waiters.push(w);
                    } else {
                        // Connected already: nothing to restore.
                        let _ = w.send(Ok(ResumeReport {
                            state: self.shared.state().unwrap_or(SessionState::Attached),
                            restored: Vec::new(),
                            closed: Vec::new(),
                            attempts: 0,
                            attach_mismatch: None,
                        }));
                    }
                }
                Poll::Ready(Some(Control::Close)) | Poll::Ready(None) => {
                    return Some(End::Closing(closed_by_client()));
                }
                Poll::Pending => return None,
            }
        }
    }

    /// Sends a ping after `interval` without a frame from the peer; ends the connection
    /// when another `interval` passes without one. The timer is re-armed only when it
    /// fires, so a busy connection pays nothing per frame but a clock read per batch.
    fn poll_keepalive(
        &mut self,
        cx: &mut Context<'_>,
        transport: &mut dyn Transport,
    ) -> Result<(), End> {
        let Some(k) = self.keepalive.as_mut() else {
            return Ok(());
        };
        loop {
            if k.timer.as_mut().poll(cx).is_pending() {
                return Ok(());
            }
            let now = Instant::now();
            if let Some(at) = k.pinged {
                if now.duration_since(at) >= k.interval {
                    let silent = now.duration_since(k.heard);
                    return Err(End::Lost(Error::ConnectionClosed(CloseInfo::remote(
                        None,
                        format!(
                            "the engine sent nothing for {silent:.1?}, not even an answer to a keepalive ping: the connection is half-open (a proxy or NAT dropped it)"
                        ),
                    ))));
                }
                k.timer.as_mut().reset((at + k.interval).into());
                continue;
            }
            let idle = now.duration_since(k.heard);
            if idle < k.interval {
                k.timer.as_mut().reset((k.heard + k.interval).into());
                continue;
            }
            // Silent for a whole interval: ping. A peer whose side is full (it stopped
            // reading) gets no ping, and is given up after the next interval all the same.
            if let Poll::Ready(Ok(())) = Pin::new(&mut *transport).poll_ready(cx) {
                match Pin::new(&mut *transport).start_ping() {
                    Ok(()) => self.dirty = true,
                    Err(e) => return Err(End::Lost(e)),
                }
            }
            k.pinged = Some(now);
            k.timer.as_mut().reset((now + k.interval).into());
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
                    Poll::Ready(None) => {
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
