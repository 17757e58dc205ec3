//! [`CallFuture`]: a call in flight. Dropping it before its answer cancels the call.
//!
//! A call is sent when its future is created, if the session is connected and under its
//! bound of calls in flight; otherwise it waits (in the future, so bounded by its timeout)
//! and is sent when it can be, with the handle numbers of that moment. The future also
//! retries what its retry policy or an interceptor asks to.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use tokio::sync::{OwnedSemaphorePermit, oneshot};
use tokio::time::Sleep;

use crate::answer::{Answer, Reply};
use crate::decode::{DecodeContext, Decoder};
use crate::error::{ABORTED, Error, Result};
use crate::handle::ObjectInner;
use crate::intercept::{CallInfo, Decision, Outcome};
use crate::observe;
use crate::session::{Dispatch, Session};

/// What generated code says about a method besides its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodInfo {
    /// The wire name (`GetLayout`).
    pub name: &'static str,
    /// The out-param to ask the delta protocol for: set for methods with exactly one
    /// out-param that is neither `qSuccess` nor an object.
    pub delta: Option<&'static str>,
    /// The method's `qReturn` opens an object: the connection task registers it as soon
    /// as the answer arrives, so a `close` in a later frame cannot miss it.
    pub opens: bool,
    /// Safe to send again (a read: `Get*`, `Evaluate*`, …, as `schemas/companion.json`
    /// lists them): retried by default when the engine aborts it, and sent once more
    /// without delta when its delta answer cannot be applied. Other methods are retried
    /// only when the caller asks (`.retries(n)`).
    pub read: bool,
}

impl MethodInfo {
    pub const fn new(name: &'static str) -> Self {
        MethodInfo {
            name,
            delta: None,
            opens: false,
            read: false,
        }
    }

    pub const fn read(mut self) -> Self {
        self.read = true;
        self
    }

    pub const fn delta(mut self, out: &'static str) -> Self {
        self.delta = Some(out);
        self
    }

    pub const fn opens(mut self) -> Self {
        self.opens = true;
        self
    }
}

/// Per-call settings; generated requests set them with `.timeout()` and `.retries()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallOptions {
    /// Fail with [`Error::Timeout`] if no answer arrives in time (also while the call
    /// waits for a reconnection); default: the session's call timeout.
    pub timeout: Option<Duration>,
    /// How often to send the call again when the engine aborts it (error 15,
    /// `LOCERR_GENERIC_ABORTED`); default: the session's retry policy for reads, none for
    /// other methods. A call the user asked the engine to abort (`AbortRequest`,
    /// `CancelRequest`, `AbortAll`) is never sent again.
    pub retries: Option<u32>,
}

/// The request a call sends, kept to send it again (after an abort, or with new handle
/// numbers after a reconnection).
pub(crate) struct Request {
    pub(crate) target: Arc<ObjectInner>,
    pub(crate) method: Cow<'static, str>,
    pub(crate) params: String,
    pub(crate) delta: Option<&'static str>,
    pub(crate) opens: bool,
    /// Safe to send again (see [`MethodInfo::read`]).
    pub(crate) read: bool,
}

/// Interceptors may ask for a retry; this bounds a loop of them.
const MAX_INTERCEPTOR_RETRIES: u32 = 16;

/// The future of a call's result. Generated requests turn into this on `.await`.
///
/// The request is sent when the future is created (unless the session is reconnecting or
/// at its bound of calls in flight: then when it can be). Dropping the future before the
/// answer arrives cancels the call: the engine gets a `CancelRequest` and the late answer
/// is dropped.
#[must_use = "dropping a call future cancels the call"]
pub struct CallFuture<T> {
    inner: Option<Box<Call>>,
    failed: Option<Error>,
    decode: Decoder<T>,
}

/// Boxed: a call future is moved into and out of combinators; a pointer moves cheaply.
struct Call {
    session: Session,
    req: Request,
    state: State,
    id: Option<i64>,
    deadline: Option<(Pin<Box<Sleep>>, Duration)>,
    retries_left: u32,
    retries: u32,
    interceptor_retries: u32,
    /// A read whose delta answer could not be applied was sent again without delta
    /// (once: see `delta`'s rules).
    resent_full: bool,
    /// The request hooks ran (once per call, not per send).
    intercepted: bool,
    permit: Option<OwnedSemaphorePermit>,
    span: tracing::Span,
    /// Read only for an enabled span.
    started: Option<Instant>,
}

enum State {
    /// Not sent: waiting until the session is connected again, or for a permit.
    Queued(Option<BoxFuture<'static, Option<OwnedSemaphorePermit>>>),
    Sent(oneshot::Receiver<Reply>),
    Done,
}

impl<T> CallFuture<T> {
    pub(crate) fn failed(e: Error) -> Self {
        CallFuture {
            inner: None,
            failed: Some(e),
            decode: |_, _| Err(Error::Internal("the decoder of a failed call ran".into())),
        }
    }

    pub(crate) fn start(
        session: Session,
        req: Request,
        options: CallOptions,
        decode: Decoder<T>,
    ) -> Self {
        let (call, failed) = Call::start(session, req, options);
        CallFuture {
            inner: Some(call),
            failed,
            decode,
        }
    }

    /// The JSON-RPC id of the request (for `Global.GetProgress` while it runs, say);
    /// `None` if it was not sent yet (the session is reconnecting) or failed before.
    /// A retry sends the request again under a new id.
    pub fn request_id(&self) -> Option<i64> {
        self.inner.as_ref().and_then(|c| c.id)
    }

    /// Cancels the call now (as dropping it does).
    pub fn cancel(mut self) {
        if let Some(mut c) = self.inner.take() {
            c.abandon();
        }
    }
}

impl Call {
    /// Not generic: one copy for every method (the future around it is one per output
    /// type, and the generated crate has hundreds).
    fn start(session: Session, req: Request, options: CallOptions) -> (Box<Call>, Option<Error>) {
        let opts = session.options();
        let timeout = options.timeout.or(opts.call_timeout);
        // Only what is safe to repeat is repeated unless the caller asks.
        let retries = options
            .retries
            .unwrap_or(if req.read { opts.retry.aborted } else { 0 });
        let mut call = Box::new(Call {
            session,
            req,
            state: State::Queued(None),
            id: None,
            deadline: timeout.map(|t| (Box::pin(tokio::time::sleep(t)), t)),
            retries_left: retries,
            retries: 0,
            interceptor_retries: 0,
            resent_full: false,
            intercepted: false,
            permit: None,
            span: tracing::Span::none(),
            started: None,
        });
        let failed = call.try_send().err();
        (call, failed)
    }

    fn info(&self) -> CallInfo<'_> {
        CallInfo {
            method: &self.req.method,
            class: self.req.target.class(),
            handle: self.req.target.handle(),
            params: &self.req.params,
            attempt: self.retries + self.interceptor_retries,
        }
    }

    /// Sends the request if it can go now; otherwise stays queued. An error ends the call.
    fn try_send(&mut self) -> Result<()> {
        if let Some(e) =
            crate::object::closed_error(&self.session, &self.req.target, &self.req.method)
        {
            return Err(e);
        }
        let interceptors = self.session.interceptors();
        if !interceptors.is_empty() && !self.intercepted {
            self.intercepted = true;
            for i in interceptors.iter() {
                let mut params = std::mem::take(&mut self.req.params);
                let r = i.request(
                    &CallInfo {
                        params: "",
                        ..self.info()
                    },
                    &mut params,
                );
                self.req.params = params;
                r?;
            }
        }
        match self.session.dispatch(&self.req, self.permit.take())? {
            Dispatch::Sent { id, rx, permit } => {
                self.id = Some(id);
                self.permit = permit;
                if self.span.is_none() {
                    self.span = observe::call_span(
                        &self.req.method,
                        self.req.target.class(),
                        self.req.target.handle(),
                        id,
                        self.req.params.len(),
                    );
                    if !self.span.is_disabled() {
                        self.started = Some(Instant::now());
                    }
                }
                self.state = State::Sent(rx);
            }
            Dispatch::Wait(wait) => self.state = State::Queued(Some(wait)),
        }
        Ok(())
    }

    /// The caller gave up: free the slot and ask the engine to stop.
    fn abandon(&mut self) {
        if let (State::Sent(_), Some(id)) = (&self.state, self.id) {
            self.session.cancel(id);
        }
        self.state = State::Done;
    }

    fn finish<T>(&mut self, out: &Result<T>, response_bytes: Option<usize>) {
        self.state = State::Done;
        self.permit = None;
        if let Err(e) = out {
            observe::count_failure(&self.req.method, e);
        }
        observe::end_span(
            &self.span,
            self.started,
            response_bytes,
            out.as_ref().map(|_| ()),
            self.retries,
        );
    }
}

impl<T> Unpin for CallFuture<T> {}

impl<T> Future for CallFuture<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let decode = self.decode;
        if let Some(e) = self.failed.take() {
            if let Some(c) = self.inner.as_mut() {
                let out = Err(e);
                c.finish::<T>(&out, None);
                return Poll::Ready(out);
            }
            return Poll::Ready(Err(e));
        }
        let Some(c) = self.inner.as_mut() else {
            return Poll::Ready(Err(Error::Internal(
                "a call future was polled after it completed".into(),
            )));
        };
        loop {
            let reply = match &mut c.state {
                State::Done => {
                    return Poll::Ready(Err(Error::Internal(
                        "a call future was polled after it completed".into(),
                    )));
                }
                State::Queued(wait) => {
                    if let Some(w) = wait {
                        match w.as_mut().poll(cx) {
                            Poll::Ready(permit) => {
                                c.permit = permit;
                                *wait = None;
                            }
                            Poll::Pending => return check_deadline(c, cx),
                        }
                    }
                    if let Err(e) = c.try_send() {
                        let out = Err(e);
                        c.finish::<T>(&out, None);
                        return Poll::Ready(out);
                    }
                    continue;
                }
                State::Sent(rx) => match Pin::new(rx).poll(cx) {
                    Poll::Ready(Ok(r)) => r,
                    // The connection task dropped the slot without answering: only on
                    // shutdown, which answers every slot first; treat it as closed.
                    Poll::Ready(Err(_)) => Reply::Done(Err(c.session.closed_error())),
                    Poll::Pending => return check_deadline(c, cx),
                },
            };
            match c.settle(reply) {
                Settled::Again => {
                    c.resend();
                    continue;
                }
                Settled::Final(fin) => {
                    let (out, bytes) = fin.decode(c, decode);
                    c.finish(&out, bytes);
                    return Poll::Ready(out);
                }
            }
        }
    }
}

/// What a reply comes to once the retry rules and the interceptors have seen it.
enum Settled {
    /// The request goes again (a requeue, a transparent re-read, a retry).
    Again,
    Final(Final),
}

/// The outcome the caller gets: the answer, or what an interceptor replaced it with.
enum Final {
    Answer(Result<Answer>),
    Replaced {
        json: Result<String>,
        opened: Option<Arc<ObjectInner>>,
    },
}

impl Final {
    fn decode<T>(self, c: &Call, decode: Decoder<T>) -> (Result<T>, Option<usize>) {
        match self {
            Final::Replaced {
                json: Ok(json),
                opened,
            } => {
                let ctx = DecodeContext::new(&c.session, opened.as_ref());
                let out = decode(&ctx, &json).map_err(|e| label(e, c));
                (out, Some(json.len()))
            }
            Final::Replaced { json: Err(e), .. } | Final::Answer(Err(e)) => (Err(e), None),
            Final::Answer(Ok(a)) => {
                let ctx = DecodeContext::new(&c.session, a.opened.as_ref())
                    .with_patched(a.patched.as_ref());
                let out = decode(&ctx, a.result_str()).map_err(|e| label(e, c));
                (out, Some(a.text.len()))
            }
        }
    }
}

impl Call {
    /// Back to the queue, to be sent under a new id.
    fn resend(&mut self) {
        self.id = None;
        self.state = State::Queued(None);
    }

    /// Applies the rules to a reply, in order: a requeue after a lost connection, the
    /// transparent re-read after a delta miss, the interceptors (which may replace the
    /// outcome or ask for a retry), then the retry of aborted reads. Not generic: one copy
    /// for every output type.
    fn settle(&mut self, reply: Reply) -> Settled {
        let (done, final_abort) = match reply {
            Reply::Requeue => return Settled::Again,
            Reply::Done(done) => (done, false),
            Reply::Aborted(e) => (Err(e), true),
        };
        if self.req.read && !self.resent_full && matches!(&done, Err(Error::Delta(_))) {
            // The connection task pinned the key to full answers before this reply: the
            // read goes again, without delta, and the caller never sees the miss.
            self.resent_full = true;
            return Settled::Again;
        }
        let mut replaced: Option<Result<String>> = None;
        let interceptors = self.session.interceptors();
        if !interceptors.is_empty() {
            let mut text_view;
            for i in interceptors.iter().rev() {
                let outcome = match (&replaced, &done) {
                    (Some(Ok(s)), _) => Outcome::Result(s),
                    (Some(Err(e)), _) => Outcome::Error(e),
                    (None, Ok(a)) => {
                        text_view = a.result_text();
                        Outcome::Result(&text_view)
                    }
                    (None, Err(e)) => Outcome::Error(e),
                };
                match i.response(&self.info(), outcome) {
                    Decision::Continue => {}
                    Decision::Replace(r) => replaced = Some(r),
                    Decision::Retry if self.interceptor_retries < MAX_INTERCEPTOR_RETRIES => {
                        self.interceptor_retries += 1;
                        return Settled::Again;
                    }
                    Decision::Retry => break,
                }
            }
        }
        if let Some(json) = replaced {
            return Settled::Final(Final::Replaced {
                json,
                opened: done.ok().and_then(|a| a.opened),
            });
        }
        let aborted = !final_abort && matches!(&done, Err(Error::Engine(e)) if e.code == ABORTED);
        if aborted && self.retries_left > 0 {
            self.retries_left -= 1;
            self.retries += 1;
            return Settled::Again;
        }
        Settled::Final(Final::Answer(done))
    }
}

fn check_deadline<T>(c: &mut Call, cx: &mut Context<'_>) -> Poll<Result<T>> {
    if let Some((sleep, after)) = &mut c.deadline {
        if sleep.as_mut().poll(cx).is_ready() {
            let after = *after;
            let what = match c.id {
                Some(id) => format!("{}.{} (request {id})", c.req.target.class(), c.req.method),
                None => format!(
                    "{}.{} (never sent: the session was not connected)",
                    c.req.target.class(),
                    c.req.method
                ),
            };
            c.abandon();
            let out = Err(Error::Timeout { what, after });
            c.finish::<T>(&out, None);
            return Poll::Ready(out);
        }
    }
    Poll::Pending
}

/// Puts the class in front of the method name of decode errors (`Doc.GetLayout`).
fn label(e: Error, c: &Call) -> Error {
    let full = || format!("{}.{}", c.req.target.class(), c.req.method);
    match e {
        Error::Decode(mut d) => {
            d.method = full();
            Error::Decode(d)
        }
        Error::ObjectNotFound { detail, .. } => Error::ObjectNotFound {
            method: full(),
            detail,
        },
        other => other,
    }
}

impl<T> Drop for CallFuture<T> {
    fn drop(&mut self) {
        if let Some(c) = self.inner.as_mut() {
            if !matches!(c.state, State::Done) {
                c.abandon();
            }
        }
    }
}

impl<T> std::fmt::Debug for CallFuture<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallFuture")
            .field("id", &self.request_id())
            .field("failed", &self.failed)
            .finish()
    }
}
