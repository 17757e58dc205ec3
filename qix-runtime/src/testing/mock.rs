//! [`MockEngine`]: a scripted engine on a real loopback WebSocket.

use std::fmt;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio::task::AbortHandle;
use tokio_websockets::{CloseCode, Message, WebSocketStream};

use super::VerifyError;
use super::matching::{HandleClasses, MockRequest, ParamMatch, ParamNames, to_json};
use super::replay::Replay;
use super::wire::{self, Action, Conversation, Reaction, UNMATCHED_ERROR_CODE};
use crate::lock::lock;

/// A mock engine: a WebSocket server on `127.0.0.1` that answers requests from
/// expectations (or replays a recording, see [`Replay::serve`]), pushes notifications and
/// injects faults.
///
/// ```no_run
/// # async fn demo() {
/// use qix_runtime::testing::{Fault, MockEngine};
/// let mock = MockEngine::start().await;
/// mock.expect("EngineVersion").returns(serde_json::json!({"qVersion": {"qComponentVersion": "12.1"}}));
/// mock.expect("OpenDoc").with_params(serde_json::json!({"qDocName": "x"})).fault(Fault::close(4204, "no app"));
/// let session = qix_runtime::Session::connect(mock.url()).await.unwrap();
/// // … calls …
/// mock.verify().unwrap();
/// # }
/// ```
///
/// Requests no expectation matches are answered with a JSON-RPC error
/// ([`UNMATCHED_ERROR_CODE`]) and reported by [`MockEngine::verify`].
/// `Global.CancelRequest` is answered with `{}` unless an expectation says otherwise.
/// Dropping the mock ends its server and every connection.
pub struct MockEngine {
    shared: Arc<MockShared>,
    addr: SocketAddr,
    accept: AbortHandle,
}

pub(crate) enum Mode {
    Expectations,
    Replay(Replay),
}

struct MockShared {
    mode: Mode,
    state: Mutex<MockState>,
    /// Woken on every request received.
    activity: Notify,
}

struct MockState {
    on_connected: Option<String>,
    /// Done to every new connection right after its `OnConnected`.
    after_connected: Option<Fault>,
    param_names: Option<ParamNames>,
    expectations: Vec<ExpectationState>,
    fallback: Option<Fallback>,
    received: Vec<MockRequest>,
    failures: Vec<String>,
    connections: Vec<Connection>,
    tasks: Vec<AbortHandle>,
}

struct Connection {
    info: ConnectionInfo,
    tx: Option<mpsc::UnboundedSender<Action>>,
}

/// What the client sent in its WebSocket upgrade request, and when.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The request target (`/app/…`).
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// When the upgrade completed (for the spacing of reconnections).
    pub at: Option<std::time::Instant>,
}

impl ConnectionInfo {
    /// The first value of a header (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A fault the mock injects in place of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Closes the WebSocket with this close code and reason (4202, 4203, … are the
    /// engine's).
    Close { code: u16, reason: String },
    /// Drops the TCP connection without a close frame.
    DropConnection,
    /// Sends this text as the frame (not JSON, say).
    Malformed(String),
    /// Sends the response cut in half: a complete WebSocket frame holding truncated JSON.
    TruncatedJson,
    /// Writes half of the response's WebSocket frame, then drops the connection.
    PartialFrame,
    /// Never answers (for timeouts and cancellation).
    NoResponse,
    /// Stops reading and answering on this connection without closing it, as a proxy or
    /// NAT that lost the connection does: no answers, no pongs, no close.
    Silence,
}

impl Fault {
    pub fn close(code: u16, reason: impl Into<String>) -> Self {
        Fault::Close {
            code,
            reason: reason.into(),
        }
    }
}

/// A response: a result or an engine error, with the `change`/`close` lists the engine
/// sends along.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    outcome: Outcome,
    change: Vec<i32>,
    close: Vec<i32>,
    delta: bool,
    fault: Option<Fault>,
}

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Result(Value),
    /// A `result` already serialized (large answers: no JSON tree built per request).
    RawResult(Arc<str>),
    Error {
        code: i32,
        parameter: String,
        message: String,
    },
}

impl Reply {
    /// A `result` (anything that serializes to JSON; the engine's results are objects).
    pub fn result(value: impl Serialize) -> Self {
        Reply {
            outcome: Outcome::Result(to_json(value)),
            change: Vec::new(),
            close: Vec::new(),
            delta: false,
            fault: None,
        }
    }

    /// A `result` given as JSON text, sent as it is (for large answers such as data pages:
    /// no JSON tree is built for them). The text must be a JSON value.
    pub fn raw_result(json: impl Into<Arc<str>>) -> Self {
        Reply {
            outcome: Outcome::RawResult(json.into()),
            ..Reply::result(json!({}))
        }
    }

    /// An engine error `{code, parameter, message}`.
    pub fn error(code: i32, parameter: impl Into<String>, message: impl Into<String>) -> Self {
        Reply {
            outcome: Outcome::Error {
                code,
                parameter: parameter.into(),
                message: message.into(),
            },
            change: Vec::new(),
            close: Vec::new(),
            delta: false,
            fault: None,
        }
    }

    /// Marks the response `"delta": true`: each out-param of the result is a JSON-Patch
    /// list (as the engine answers requests that asked for delta).
    pub fn with_delta(mut self) -> Self {
        self.delta = true;
        self
    }

    /// A fault instead of this response (for responders that decide per request, such as
    /// cutting the connection every N calls).
    pub fn fault(fault: Fault) -> Self {
        Reply {
            fault: Some(fault),
            ..Reply::result(json!({}))
        }
    }

    /// Handles whose layouts the response invalidates.
    pub fn with_change(mut self, handles: impl IntoIterator<Item = i32>) -> Self {
        self.change.extend(handles);
        self
    }

    /// Handles the response closes.
    pub fn with_close(mut self, handles: impl IntoIterator<Item = i32>) -> Self {
        self.close.extend(handles);
        self
    }

    /// The frame's text when the result is raw text (spliced in, not parsed).
    fn raw_frame(&self, id: Option<i64>, change: &[i32], close: &[i32]) -> Option<String> {
        let Outcome::RawResult(raw) = &self.outcome else {
            return None;
        };
        let mut head = self.frame(id, change, close);
        head["result"] = json!(0);
        let head = head.to_string();
        let at = head.find("\"result\":0")? + "\"result\":".len();
        Some(format!("{}{raw}{}", &head[..at], &head[at + 1..]))
    }

    fn frame(&self, id: Option<i64>, change: &[i32], close: &[i32]) -> Value {
        let mut frame = match &self.outcome {
            Outcome::Result(v) => json!({"jsonrpc": "2.0", "id": id, "result": v}),
            Outcome::RawResult(_) => json!({"jsonrpc": "2.0", "id": id}),
            Outcome::Error {
                code,
                parameter,
                message,
            } => wire::error_value(id, *code, parameter, message),
        };
        let all = |a: &[i32], b: &[i32]| -> Vec<i32> { a.iter().chain(b).copied().collect() };
        let change = all(change, &self.change);
        let close = all(close, &self.close);
        if !change.is_empty() {
            frame["change"] = json!(change);
        }
        if !close.is_empty() {
            frame["close"] = json!(close);
        }
        if self.delta {
            frame["delta"] = json!(true);
        }
        frame
    }
}

type Responder = Arc<dyn Fn(&MockRequest) -> Reply + Send + Sync>;
type Fallback = Arc<dyn Fn(&MockRequest) -> Option<Reply> + Send + Sync>;

struct ExpectationState {
    method: String,
    handle: Option<i32>,
    params: ParamMatch,
    responder: Responder,
    change: Vec<i32>,
    close: Vec<i32>,
    notify_before: Vec<(String, Value)>,
    delay: Option<Duration>,
    fault: Option<Fault>,
    times: Times,
    calls: usize,
}

#[derive(Debug, Clone, Copy)]
enum Times {
    AtLeastOnce,
    Exactly(usize),
    Any,
}

impl ExpectationState {
    fn describe(&self) -> String {
        let handle = match self.handle {
            Some(h) => format!("handle {h}"),
            None => "any handle".into(),
        };
        format!("{} ({handle}) with {}", self.method, self.params.describe())
    }

    fn exhausted(&self) -> bool {
        matches!(self.times, Times::Exactly(n) if self.calls >= n)
    }

    /// Why `req` does not match (empty: it matches).
    fn mismatch(&self, req: &MockRequest, names: Option<ParamNames>) -> Vec<String> {
        let mut out = Vec::new();
        if self.method != req.method {
            out.push(format!(
                "method: expected {}, sent {}",
                self.method, req.method
            ));
        }
        if let Some(h) = self.handle {
            if h != req.handle {
                out.push(format!("handle: expected {h}, sent {}", req.handle));
            }
        }
        out.extend(
            self.params
                .mismatch(&req.named, req.class.as_deref(), &req.method, names),
        );
        out
    }
}

/// What answering one request takes, copied out of the lock.
struct Plan {
    responder: Responder,
    change: Vec<i32>,
    close: Vec<i32>,
    notify_before: Vec<(String, Value)>,
    delay: Option<Duration>,
    fault: Option<Fault>,
}

/// An expectation of a [`MockEngine`], registered when [`MockEngine::expect`] returns;
/// its methods refine it in place. By default it answers `{}` and must be met at least
/// once.
#[derive(Clone)]
pub struct Expectation {
    shared: Arc<MockShared>,
    index: usize,
}

impl Expectation {
    fn edit(self, f: impl FnOnce(&mut ExpectationState)) -> Self {
        f(&mut lock(&self.shared.state).expectations[self.index]);
        self
    }

    /// Only requests on this handle match (`-1` is `Global`).
    pub fn on_handle(self, handle: i32) -> Self {
        self.edit(|e| e.handle = Some(handle))
    }

    /// Only requests whose params match, by meaning; a JSON value means
    /// [`ParamMatch::Equals`].
    pub fn with_params(self, params: impl Into<ParamMatch>) -> Self {
        let params = params.into();
        self.edit(|e| e.params = params)
    }

    /// Answers with this `result`.
    pub fn returns(self, result: impl Serialize) -> Self {
        self.reply(Reply::result(result))
    }

    /// Answers with an engine error.
    pub fn returns_error(
        self,
        code: i32,
        parameter: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.reply(Reply::error(code, parameter, message))
    }

    /// Answers with this reply.
    pub fn reply(self, reply: Reply) -> Self {
        self.respond_with(move |_| reply.clone())
    }

    /// Answers with what `f` makes of each request (echo a param, count calls, …).
    pub fn respond_with(self, f: impl Fn(&MockRequest) -> Reply + Send + Sync + 'static) -> Self {
        let f: Responder = Arc::new(f);
        self.edit(|e| e.responder = f)
    }

    /// Adds a `change` list to the response.
    pub fn with_change(self, handles: impl IntoIterator<Item = i32>) -> Self {
        let handles: Vec<i32> = handles.into_iter().collect();
        self.edit(|e| e.change.extend(handles))
    }

    /// Adds a `close` list to the response.
    pub fn with_close(self, handles: impl IntoIterator<Item = i32>) -> Self {
        let handles: Vec<i32> = handles.into_iter().collect();
        self.edit(|e| e.close.extend(handles))
    }

    /// Pushes a notification after the request arrives and before its response.
    pub fn notify_before(self, method: impl Into<String>, params: impl Serialize) -> Self {
        let n = (method.into(), to_json(params));
        self.edit(|e| e.notify_before.push(n))
    }

    /// Sends the response this much later (other responses are not held up).
    pub fn delay(self, delay: Duration) -> Self {
        self.edit(|e| e.delay = Some(delay))
    }

    /// Injects a fault instead of the response.
    pub fn fault(self, fault: Fault) -> Self {
        self.edit(|e| e.fault = Some(fault))
    }

    /// Never answers.
    pub fn no_response(self) -> Self {
        self.fault(Fault::NoResponse)
    }

    /// Must match exactly `n` requests; more are failures (unless a later expectation
    /// matches them).
    pub fn times(self, n: usize) -> Self {
        self.edit(|e| e.times = Times::Exactly(n))
    }

    /// May match any number of requests, none included.
    pub fn optional(self) -> Self {
        self.edit(|e| e.times = Times::Any)
    }

    /// How many requests it has matched so far.
    pub fn calls(&self) -> usize {
        lock(&self.shared.state).expectations[self.index].calls
    }
}

impl fmt::Debug for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.shared.state);
        let e = &state.expectations[self.index];
        write!(f, "Expectation({}, {} call(s))", e.describe(), e.calls)
    }
}

/// How long [`MockEngine::connect`] waits for the connection and for `OnConnected`.
const CONNECT_LIMIT: Duration = Duration::from_secs(5);

impl MockEngine {
    /// Starts a mock engine on a free loopback port. It sends
    /// `OnConnected {qSessionState: SESSION_CREATED}` to every client that connects (see
    /// [`MockEngine::on_connected`]).
    ///
    /// # Panics
    /// When no loopback port can be bound (see [`MockEngine::try_start`]).
    pub async fn start() -> MockEngine {
        match Self::try_start().await {
            Ok(m) => m,
            Err(e) => panic!("the mock engine cannot listen on 127.0.0.1: {e}"),
        }
    }

    pub async fn try_start() -> std::io::Result<MockEngine> {
        Self::start_mode(Mode::Expectations).await
    }

    pub(crate) async fn start_mode(mode: Mode) -> std::io::Result<MockEngine> {
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(MockShared {
            mode,
            state: Mutex::new(MockState {
                on_connected: Some("SESSION_CREATED".into()),
                after_connected: None,
                param_names: None,
                expectations: Vec::new(),
                fallback: None,
                received: Vec::new(),
                failures: Vec::new(),
                connections: Vec::new(),
                tasks: Vec::new(),
            }),
            activity: Notify::new(),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone())).abort_handle();
        Ok(MockEngine {
            shared,
            addr,
            accept,
        })
    }

    /// `ws://127.0.0.1:<port>/app/`.
    pub fn url(&self) -> String {
        format!("ws://{}/app/", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A builder for a session to this mock, bounded for tests: connecting and waiting for
    /// `OnConnected` give up after 5 s each, so a broken mock fails a test instead of
    /// hanging it. For a session with options of its own (reconnection, interceptors, …).
    pub fn session(&self) -> crate::SessionBuilder {
        crate::Session::builder(self.url())
            .connect_timeout(CONNECT_LIMIT)
            .on_connected_timeout(Some(CONNECT_LIMIT))
    }

    /// A session to this mock that has had its `OnConnected` ([`MockEngine::session`]'s
    /// bounds).
    pub async fn connect(&self) -> crate::Result<crate::Session> {
        self.session().connect().await
    }

    /// The session state `OnConnected` reports to clients that connect from now on
    /// (`SESSION_CREATED`, `SESSION_ATTACHED`, `SESSION_ERROR_NO_LICENSE`, …); `None`
    /// sends no `OnConnected`.
    pub fn on_connected(&self, state: Option<&str>) -> &Self {
        lock(&self.shared.state).on_connected = state.map(str::to_string);
        self
    }

    /// A fault done to every client that connects from now on, right after its
    /// `OnConnected` (`Fault::Close { code: 4205, .. }`: a busy engine that accepts each
    /// connection and drops it; `Fault::Silence`: a half-open connection from the start).
    /// `None` stops it.
    pub fn after_connected(&self, fault: Option<Fault>) -> &Self {
        lock(&self.shared.state).after_connected = fault;
        self
    }

    /// Makes every open connection go silent (see [`Fault::Silence`]); later connections
    /// are served as usual.
    pub fn go_silent(&self) {
        self.broadcast(Action::Silence);
    }

    /// Maps positional params to names for matching (e.g.
    /// `qix_generated::catalog::params_of`).
    pub fn param_names(&self, names: ParamNames) -> &Self {
        lock(&self.shared.state).param_names = Some(names);
        self
    }

    /// Answers the requests no expectation matches with what `f` makes of them (a stateful
    /// fake such as [`FakeApp`](super::FakeApp)); a `None` leaves the request unmatched.
    /// Expectations still come first, so a test can inject an engine error into a fake.
    pub fn fallback(
        &self,
        f: impl Fn(&MockRequest) -> Option<Reply> + Send + Sync + 'static,
    ) -> &Self {
        lock(&self.shared.state).fallback = Some(Arc::new(f));
        self
    }

    /// Expects requests of `method` (the wire name: `GetLayout`). Expectations are tried
    /// in the order they were made; the first that matches and is not used up answers.
    pub fn expect(&self, method: impl Into<String>) -> Expectation {
        let mut state = lock(&self.shared.state);
        state.expectations.push(ExpectationState {
            method: method.into(),
            handle: None,
            params: ParamMatch::Any,
            responder: Arc::new(|_| Reply::result(json!({}))),
            change: Vec::new(),
            close: Vec::new(),
            notify_before: Vec::new(),
            delay: None,
            fault: None,
            times: Times::AtLeastOnce,
            calls: 0,
        });
        Expectation {
            shared: self.shared.clone(),
            index: state.expectations.len() - 1,
        }
    }

    /// Every request received so far, in order, from every connection.
    pub fn received(&self) -> Vec<MockRequest> {
        lock(&self.shared.state).received.clone()
    }

    /// The requests of one method received so far.
    pub fn received_method(&self, method: &str) -> Vec<MockRequest> {
        lock(&self.shared.state)
            .received
            .iter()
            .filter(|r| r.method == method)
            .cloned()
            .collect()
    }

    /// Waits until `count` requests of `method` have arrived; fails after `limit`.
    pub async fn wait_for(
        &self,
        method: &str,
        count: usize,
        limit: Duration,
    ) -> Result<Vec<MockRequest>, String> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let mut notified = pin!(self.shared.activity.notified());
            notified.as_mut().enable();
            let got = self.received_method(method);
            if got.len() >= count {
                return Ok(got);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(format!(
                    "waited {limit:?} for {count} {method} request(s), got {}",
                    self.received_method(method).len()
                ));
            }
        }
    }

    /// The clients that connected, in order: path and upgrade headers.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        lock(&self.shared.state)
            .connections
            .iter()
            .map(|c| c.info.clone())
            .collect()
    }

    /// Waits until `count` clients have connected; fails after `limit`.
    pub async fn wait_for_connections(
        &self,
        count: usize,
        limit: Duration,
    ) -> Result<Vec<ConnectionInfo>, String> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let mut notified = pin!(self.shared.activity.notified());
            notified.as_mut().enable();
            let got = self.connections();
            if got.len() >= count {
                return Ok(got);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(format!(
                    "waited {limit:?} for {count} connection(s), got {}",
                    got.len()
                ));
            }
        }
    }

    fn broadcast(&self, action: Action) {
        let state = lock(&self.shared.state);
        for c in &state.connections {
            if let Some(tx) = &c.tx {
                let _ = tx.send(action.clone());
            }
        }
    }

    /// Pushes a notification to every open connection.
    pub fn notify(&self, method: &str, params: impl Serialize) {
        self.broadcast(Action::Send(wire::notification_frame(
            method,
            &to_json(params),
        )));
    }

    /// Sends a text frame as it is (malformed JSON, a response to an unknown id, …) to
    /// every open connection.
    pub fn send_raw(&self, text: impl Into<String>) {
        self.broadcast(Action::Send(text.into()));
    }

    /// Closes every open connection with a close frame.
    pub fn close_connections(&self, code: u16, reason: &str) {
        self.broadcast(Action::Close {
            code,
            reason: reason.to_string(),
        });
    }

    /// Drops every open TCP connection without a close frame.
    pub fn drop_connections(&self) {
        self.broadcast(Action::Drop);
    }

    /// Writes half a WebSocket frame holding `text` to every open connection, then drops
    /// it.
    pub fn send_partial_frame(&self, text: impl Into<String>) {
        self.broadcast(Action::PartialFrame(text.into()));
    }

    /// Checks that every request matched an expectation (or the recording), and that
    /// every expectation was met as often as it should be. The error lists each problem
    /// with a diff of what was expected against what was sent.
    pub fn verify(&self) -> Result<(), VerifyError> {
        let mut problems = Vec::new();
        {
            let state = lock(&self.shared.state);
            problems.extend(state.failures.iter().cloned());
            for e in &state.expectations {
                match e.times {
                    Times::Exactly(n) if e.calls != n => problems.push(format!(
                        "expected {} exactly {n} time(s), it was sent {} time(s)",
                        e.describe(),
                        e.calls
                    )),
                    Times::AtLeastOnce if e.calls == 0 => {
                        problems.push(format!("expected {}, it was never sent", e.describe()))
                    }
                    _ => {}
                }
            }
        }
        if let Mode::Replay(r) = &self.shared.mode {
            if let Err(e) = r.verify() {
                problems.extend(e.problems);
            }
        }
        VerifyError::check(problems)
    }
}

impl Drop for MockEngine {
    fn drop(&mut self) {
        self.accept.abort();
        let state = lock(&self.shared.state);
        for t in &state.tasks {
            t.abort();
        }
    }
}

impl fmt::Debug for MockEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.shared.state);
        f.debug_struct("MockEngine")
            .field("addr", &self.addr)
            .field("connections", &state.connections.len())
            .field("received", &state.received.len())
            .field("failures", &state.failures.len())
            .finish()
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<MockShared>) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of file descriptors, say: retry rather than spin.
                tracing::warn!(target: "qix::mock", error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let task = tokio::spawn(serve(stream, shared.clone())).abort_handle();
        let mut state = lock(&shared.state);
        state.tasks.retain(|t| !t.is_finished());
        state.tasks.push(task);
    }
}

type Ws = WebSocketStream<TcpStream>;

async fn serve(stream: TcpStream, shared: Arc<MockShared>) {
    let _ = stream.set_nodelay(true);
    let server = tokio_websockets::ServerBuilder::new()
        .limits(tokio_websockets::Limits::default().max_payload_len(Some(512 << 20)));
    let (request, mut ws) = match server.accept(stream).await {
        Ok(accepted) => accepted,
        Err(e) => {
            tracing::debug!(target: "qix::mock", error = %e, "handshake failed");
            return;
        }
    };
    let info = ConnectionInfo {
        path: request.uri().to_string(),
        headers: request
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        at: Some(std::time::Instant::now()),
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (index, mut convo) = shared.open(info, tx.clone());
    let mut opening = convo.opening();
    if let Some(fault) = lock(&shared.state).after_connected.clone() {
        opening.extend(fault_actions(fault, String::new()));
    }
    if perform_all(&mut ws, opening, &tx, &mut rx)
        .await
        .is_continue()
    {
        let _ = ws.flush().await;
        run(&mut ws, &shared, convo.as_mut(), &tx, &mut rx).await;
    }
    if let Some(c) = lock(&shared.state).connections.get_mut(index) {
        c.tx = None;
    }
}

async fn run(
    ws: &mut Ws,
    shared: &MockShared,
    convo: &mut dyn Conversation,
    tx: &mpsc::UnboundedSender<Action>,
    rx: &mut mpsc::UnboundedReceiver<Action>,
) {
    loop {
        let flow = tokio::select! {
            msg = ws.next() => {
                let mut flow = on_message(ws, shared, convo, tx, rx, msg).await;
                // Answer every request that is already here before flushing once.
                while flow.is_continue() {
                    match ws.next().now_or_never() {
                        Some(msg) => flow = on_message(ws, shared, convo, tx, rx, msg).await,
                        None => break,
                    }
                }
                flow
            }
            action = rx.recv() => match action {
                Some(a) => perform(ws, a, tx, rx).await,
                None => ControlFlow::Break(()),
            },
        };
        if flow.is_break() || ws.flush().await.is_err() {
            return;
        }
    }
}

type WsItem = Option<Result<Message, tokio_websockets::Error>>;

async fn on_message(
    ws: &mut Ws,
    shared: &MockShared,
    convo: &mut dyn Conversation,
    tx: &mpsc::UnboundedSender<Action>,
    rx: &mut mpsc::UnboundedReceiver<Action>,
    msg: WsItem,
) -> ControlFlow<()> {
    let msg = match msg {
        Some(Ok(m)) => m,
        Some(Err(_)) | None => return ControlFlow::Break(()),
    };
    let text = if let Some(t) = msg.as_text() {
        t.to_string()
    } else if msg.is_binary() {
        String::from_utf8_lossy(msg.as_payload()).into_owned()
    } else if msg.is_close() {
        return ControlFlow::Break(());
    } else {
        // Pings are answered by tokio-websockets; pongs need nothing.
        return ControlFlow::Continue(());
    };
    let Reaction { request, actions } = convo.on_text(&text);
    if let Some(req) = request {
        lock(&shared.state).received.push(req);
        shared.activity.notify_waiters();
    }
    perform_all(ws, actions, tx, rx).await
}

async fn perform_all(
    ws: &mut Ws,
    actions: Vec<Action>,
    tx: &mpsc::UnboundedSender<Action>,
    rx: &mut mpsc::UnboundedReceiver<Action>,
) -> ControlFlow<()> {
    for a in actions {
        perform(ws, a, tx, rx).await?;
    }
    ControlFlow::Continue(())
}

async fn perform(
    ws: &mut Ws,
    action: Action,
    tx: &mpsc::UnboundedSender<Action>,
    rx: &mut mpsc::UnboundedReceiver<Action>,
) -> ControlFlow<()> {
    match action {
        Action::Send(text) => {
            if ws.feed(Message::text(text)).await.is_err() {
                return ControlFlow::Break(());
            }
        }
        Action::SendAfter(delay, text) => {
            let tx = tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = tx.send(Action::Send(text));
            });
        }
        Action::Close { code, reason } => {
            let code = CloseCode::try_from(code).ok();
            let _ = ws.send(Message::close(code, &reason)).await;
            return ControlFlow::Break(());
        }
        Action::Drop => return ControlFlow::Break(()),
        Action::PartialFrame(text) => {
            let _ = ws.flush().await;
            write_raw(ws.get_mut(), &wire::partial_ws_frame(&text)).await;
            return ControlFlow::Break(());
        }
        Action::Silence => {
            let _ = ws.flush().await;
            // Neither read nor write again; only a drop (or the mock's end) ends it.
            loop {
                match rx.recv().await {
                    Some(Action::Drop) | None => return ControlFlow::Break(()),
                    Some(_) => {}
                }
            }
        }
    }
    ControlFlow::Continue(())
}

/// Writes bytes under the WebSocket layer (for a frame cut short).
async fn write_raw(stream: &mut TcpStream, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        if stream.writable().await.is_err() {
            return;
        }
        match stream.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return,
        }
    }
}

impl MockShared {
    /// Registers a connection and starts its conversation.
    fn open(
        self: &Arc<Self>,
        info: ConnectionInfo,
        tx: mpsc::UnboundedSender<Action>,
    ) -> (usize, Box<dyn Conversation>) {
        let index = {
            let mut state = lock(&self.state);
            state.connections.push(Connection { info, tx: Some(tx) });
            state.connections.len() - 1
        };
        self.activity.notify_waiters();
        let convo: Box<dyn Conversation> = match &self.mode {
            Mode::Expectations => Box::new(ExpectConversation {
                shared: self.clone(),
                connection: index,
                classes: HandleClasses::default(),
            }),
            Mode::Replay(r) => Box::new(r.conversation(index)),
        };
        (index, convo)
    }
}

/// One connection answered from the expectations.
struct ExpectConversation {
    shared: Arc<MockShared>,
    connection: usize,
    classes: HandleClasses,
}

impl Conversation for ExpectConversation {
    fn opening(&mut self) -> Vec<Action> {
        match &lock(&self.shared.state).on_connected {
            Some(s) => vec![Action::Send(wire::notification_frame(
                "OnConnected",
                &json!({"qSessionState": s}),
            ))],
            None => Vec::new(),
        }
    }

    fn on_text(&mut self, text: &str) -> Reaction {
        let names = lock(&self.shared.state).param_names;
        let req = match MockRequest::parse(text, self.connection, &self.classes, names) {
            Ok(r) => r,
            Err(e) => {
                let msg = format!("connection {}: malformed request: {e}", self.connection);
                lock(&self.shared.state).failures.push(msg.clone());
                let id = serde_json::from_str::<Value>(text)
                    .ok()
                    .and_then(|v| v.get("id").and_then(Value::as_i64));
                return Reaction {
                    request: None,
                    actions: vec![Action::Send(wire::error_frame(
                        id,
                        UNMATCHED_ERROR_CODE,
                        "",
                        &msg,
                    ))],
                };
            }
        };
        let plan = self.plan(&req, names);
        let actions = match plan {
            Ok(plan) => self.execute(&req, plan),
            Err(problem) => {
                let summary = format!(
                    "mock engine: no expectation matches {}.{} on handle {}; see MockEngine::verify",
                    req.class.as_deref().unwrap_or("?"),
                    req.method,
                    req.handle
                );
                lock(&self.shared.state).failures.push(problem);
                vec![Action::Send(wire::error_frame(
                    req.id,
                    UNMATCHED_ERROR_CODE,
                    &req.method,
                    &summary,
                ))]
            }
        };
        Reaction {
            request: Some(req),
            actions,
        }
    }
}

impl ExpectConversation {
    /// Picks the expectation that answers `req`, or says why none does.
    fn plan(&self, req: &MockRequest, names: Option<ParamNames>) -> Result<Plan, String> {
        let mut state = lock(&self.shared.state);
        let mut used_up = None;
        let mut closest: Option<(usize, Vec<String>)> = None;
        let mut picked = None;
        for (i, e) in state.expectations.iter().enumerate() {
            let diffs = e.mismatch(req, names);
            if diffs.is_empty() {
                if e.exhausted() {
                    used_up.get_or_insert(i);
                    continue;
                }
                picked = Some(i);
                break;
            }
            if e.method == req.method && closest.as_ref().is_none_or(|(_, d)| diffs.len() < d.len())
            {
                closest = Some((i, diffs));
            }
        }
        if let Some(i) = picked {
            let e = &mut state.expectations[i];
            e.calls += 1;
            return Ok(Plan {
                responder: e.responder.clone(),
                change: e.change.clone(),
                close: e.close.clone(),
                notify_before: e.notify_before.clone(),
                delay: e.delay,
                fault: e.fault.clone(),
            });
        }
        if let Some(reply) = state.fallback.clone().and_then(|f| f(req)) {
            return Ok(Plan {
                responder: Arc::new(move |_| reply.clone()),
                change: Vec::new(),
                close: Vec::new(),
                notify_before: Vec::new(),
                delay: None,
                fault: None,
            });
        }
        if req.method == "CancelRequest" && req.handle == -1 {
            return Ok(Plan {
                responder: Arc::new(|_| Reply::result(json!({}))),
                change: Vec::new(),
                close: Vec::new(),
                notify_before: Vec::new(),
                delay: None,
                fault: None,
            });
        }
        let head = format!("connection {}: request {}", req.connection, req.describe());
        if let Some(i) = used_up {
            let e = &state.expectations[i];
            return Err(format!(
                "{head}: matches {} which was already used {} time(s)",
                e.describe(),
                e.calls
            ));
        }
        let mut msg = format!("{head}: no expectation matches");
        match closest {
            Some((i, diffs)) => {
                msg.push_str(&format!(
                    "\n    closest: {}",
                    state.expectations[i].describe()
                ));
                for d in diffs {
                    msg.push_str(&format!("\n      - {d}"));
                }
            }
            None => {
                let methods: Vec<&str> = state
                    .expectations
                    .iter()
                    .map(|e| e.method.as_str())
                    .collect();
                msg.push_str(&format!("\n    expected methods: {methods:?}"));
            }
        }
        Err(msg)
    }

    fn execute(&mut self, req: &MockRequest, plan: Plan) -> Vec<Action> {
        let mut actions: Vec<Action> = plan
            .notify_before
            .iter()
            .map(|(m, p)| Action::Send(wire::notification_frame(m, p)))
            .collect();
        let reply = (plan.responder)(req);
        let text = match reply.raw_frame(req.id, &plan.change, &plan.close) {
            Some(text) => text,
            None => {
                let frame = reply.frame(req.id, &plan.change, &plan.close);
                self.classes.learn(&frame);
                frame.to_string()
            }
        };
        match reply.fault.or(plan.fault) {
            None => actions.push(match plan.delay {
                Some(d) => Action::SendAfter(d, text),
                None => Action::Send(text),
            }),
            Some(fault) => actions.extend(fault_actions(fault, text)),
        }
        actions
    }
}

/// What a fault does instead of sending `text`.
fn fault_actions(fault: Fault, text: String) -> Vec<Action> {
    match fault {
        Fault::Close { code, reason } => vec![Action::Close { code, reason }],
        Fault::DropConnection => vec![Action::Drop],
        Fault::Malformed(t) => vec![Action::Send(t)],
        Fault::TruncatedJson => vec![Action::Send(wire::truncated(&text))],
        Fault::PartialFrame => vec![Action::PartialFrame(text)],
        Fault::NoResponse => Vec::new(),
        Fault::Silence => vec![Action::Silence],
    }
}
