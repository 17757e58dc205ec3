//! Replaying a recorded session: the recording plays the engine, the client under test
//! must send the recorded requests.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures_util::{Sink, Stream};
use serde_json::Value;

use super::VerifyError;
use super::matching::{HandleClasses, MockRequest, ParamNames, diff_params, short};
use super::mock::{MockEngine, Mode};
use super::wire::{self, Action, Conversation, Reaction, UNMATCHED_ERROR_CODE};
use crate::error::{CloseInfo, Error};
use crate::lock::lock;
use crate::transport::{Frame, Text};

/// One frame of a recording.
#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    /// A frame the client sent.
    Sent(Value),
    /// A frame the engine sent. A frame that was not JSON is kept as a JSON string and
    /// replayed as it was.
    Received(Value),
}

/// A recorded session: frames in the order they went over the wire.
///
/// Reads three formats ([`Recording::parse`] tells them apart):
/// - a JSON array of `{"Sent": frame}` / `{"Received": frame}` rows (enigma-go's traffic
///   logs);
/// - the same rows one per line ([`JsonLinesLog`](crate::JsonLinesLog) writes these);
/// - lines where `--> ` starts a sent frame and `<-- ` a received one, possibly after
///   other text (corectl's `--traffic` output); lines with neither are skipped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recording {
    rows: Vec<Row>,
}

impl Recording {
    pub fn from_rows(rows: Vec<Row>) -> Self {
        Recording { rows }
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The frames the client sent, in order.
    pub fn requests(&self) -> impl Iterator<Item = &Value> {
        self.rows.iter().filter_map(|r| match r {
            Row::Sent(v) => Some(v),
            Row::Received(_) => None,
        })
    }

    pub fn load(path: impl AsRef<Path>) -> Result<Recording, String> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read recording {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses any of the three formats.
    pub fn parse(text: &str) -> Result<Recording, String> {
        let trimmed = text.trim_start();
        if trimmed.starts_with('[') {
            return Self::parse_json_array(text);
        }
        let first = trimmed.lines().next().unwrap_or("");
        if first.starts_with('{') && row_of(first).is_ok() {
            return Self::parse_json_lines(text);
        }
        Self::parse_arrow_lines(text)
    }

    /// `[{"Sent": …}, {"Received": …}, …]`.
    pub fn parse_json_array(text: &str) -> Result<Recording, String> {
        let rows: Vec<Value> =
            serde_json::from_str(text).map_err(|e| format!("not a JSON array of rows: {e}"))?;
        let rows = rows
            .into_iter()
            .enumerate()
            .map(|(i, v)| row_of_value(v).map_err(|e| format!("row {i}: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(Recording { rows })
    }

    /// One `{"Sent": …}` / `{"Received": …}` row per line; blank lines are skipped.
    pub fn parse_json_lines(text: &str) -> Result<Recording, String> {
        let mut rows = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            rows.push(row_of(line).map_err(|e| format!("line {}: {e}", i + 1))?);
        }
        Ok(Recording { rows })
    }

    /// `--> {sent}` / `<-- {received}` lines, the marker possibly after other text.
    pub fn parse_arrow_lines(text: &str) -> Result<Recording, String> {
        let mut rows = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let sent = line.find("--> ");
            let received = line.find("<-- ");
            let (at, is_sent) = match (sent, received) {
                (Some(s), Some(r)) if r < s => (r, false),
                (Some(s), _) => (s, true),
                (None, Some(r)) => (r, false),
                (None, None) => continue,
            };
            let json = line[at + 4..].trim();
            let v: Value = serde_json::from_str(json).map_err(|e| {
                format!(
                    "line {}: the frame after the marker is not JSON ({e})",
                    i + 1
                )
            })?;
            rows.push(if is_sent {
                Row::Sent(v)
            } else {
                Row::Received(v)
            });
        }
        if rows.is_empty() {
            return Err("no `--> ` or `<-- ` frames found".into());
        }
        Ok(Recording { rows })
    }
}

fn row_of(line: &str) -> Result<Row, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    row_of_value(v)
}

fn row_of_value(v: Value) -> Result<Row, String> {
    let Value::Object(mut m) = v else {
        return Err("a row must be {\"Sent\": …} or {\"Received\": …}".into());
    };
    if m.len() == 1 {
        if let Some(n) = m.get("Dropped") {
            return Err(format!(
                "the log dropped {n} frame(s) here (its traffic hooks fell behind): a recording with a gap cannot be replayed"
            ));
        }
        if let Some(f) = m.remove("Sent") {
            return Ok(Row::Sent(f));
        }
        if let Some(f) = m.remove("Received") {
            return Ok(Row::Received(f));
        }
    }
    let keys: Vec<&String> = m.keys().collect();
    Err(format!(
        "a row must have one key, Sent or Received; it has {keys:?}"
    ))
}

/// Plays the engine from a [`Recording`].
///
/// Each request the client sends is compared with the next recorded one by meaning:
/// method, handle, and params by name (positional params are mapped to names with the
/// [`param_names`](Replay::param_names) lookup; optional params at their default may be
/// left out); `jsonrpc`, `delta` and the id are ignored. On a match, the frames recorded
/// after that request (up to the next request) are sent: responses carry the client's
/// id, and notifications are pushed at the point they were recorded. Frames recorded
/// before the first request are sent when the client connects.
///
/// Strict by default: a request that differs from the next recorded one is answered with
/// an error ([`UNMATCHED_ERROR_CODE`]) and the replay stays where it is;
/// [`verify`](Replay::verify) reports the diff. [`unordered`](Replay::unordered) lets
/// requests match any recorded request not used yet.
///
/// Each transport ([`Replay::transport`]) and each WebSocket connection
/// ([`Replay::serve`]) plays the recording from the start.
#[derive(Clone)]
pub struct Replay {
    config: Arc<ReplayConfig>,
    runs: Arc<Mutex<Vec<Run>>>,
}

#[derive(Clone)]
struct ReplayConfig {
    recording: Recording,
    names: Option<ParamNames>,
    ordered: bool,
}

/// What one client did with the recording.
#[derive(Default)]
struct Run {
    failures: Vec<String>,
    matched: usize,
    next_expected: Option<String>,
}

impl Replay {
    pub fn new(recording: Recording) -> Self {
        Replay {
            config: Arc::new(ReplayConfig {
                recording,
                names: None,
                ordered: true,
            }),
            runs: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Reads a recording file (any format [`Recording::parse`] reads).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, String> {
        Recording::load(path).map(Replay::new)
    }

    /// Maps positional params to names (e.g. `qix_generated::catalog::params_of`), so a
    /// client sending named params matches a recording of positional ones.
    pub fn param_names(mut self, names: ParamNames) -> Self {
        Arc::make_mut(&mut self.config).names = Some(names);
        self
    }

    /// Lets a request match any recorded request not used yet, not only the next one.
    pub fn unordered(mut self) -> Self {
        Arc::make_mut(&mut self.config).ordered = false;
        self
    }

    pub fn recording(&self) -> &Recording {
        &self.config.recording
    }

    /// An in-memory transport playing the recording, for
    /// [`SessionBuilder::connect_transport`](crate::SessionBuilder::connect_transport) or
    /// [`Session::from_transport`](crate::Session::from_transport).
    pub fn transport(&self) -> ReplayTransport {
        let mut convo = self.conversation(0);
        let mut outbox = VecDeque::new();
        for a in convo.opening() {
            push_frame(&mut outbox, a);
        }
        ReplayTransport {
            convo,
            outbox,
            waker: None,
            ended: false,
        }
    }

    /// A mock engine on a loopback WebSocket playing the recording to every client that
    /// connects. Its `OnConnected` is the recording's; expectations are not consulted;
    /// [`MockEngine::verify`] checks the replay and `received()` lists the requests.
    pub async fn serve(&self) -> std::io::Result<MockEngine> {
        MockEngine::start_mode(Mode::Replay(self.clone())).await
    }

    pub(crate) fn conversation(&self, connection: usize) -> ReplayConversation {
        let rows = self.config.recording.rows.len();
        let run = {
            let mut runs = lock(&self.runs);
            runs.push(Run::default());
            runs.len() - 1
        };
        let convo = ReplayConversation {
            config: self.config.clone(),
            runs: self.runs.clone(),
            run,
            connection,
            used: vec![false; rows],
            ids: HashMap::new(),
            held: Vec::new(),
            classes: HandleClasses::default(),
            requests: 0,
        };
        convo.note_progress();
        convo
    }

    /// Checks that every client sent every recorded request, each matching. The error
    /// lists each mismatch with a diff of the recorded request against the sent one.
    pub fn verify(&self) -> Result<(), VerifyError> {
        let runs = lock(&self.runs);
        let total = self.config.recording.requests().count();
        let mut problems = Vec::new();
        if runs.is_empty() {
            problems.push("replay: no client played the recording".to_string());
        }
        for (i, run) in runs.iter().enumerate() {
            problems.extend(run.failures.iter().cloned());
            if run.matched < total {
                problems.push(format!(
                    "replay run {i}: {} of {total} recorded request(s) were sent; next expected: {}",
                    run.matched,
                    run.next_expected.as_deref().unwrap_or("?")
                ));
            }
        }
        VerifyError::check(problems)
    }
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay")
            .field("rows", &self.config.recording.rows.len())
            .field("ordered", &self.config.ordered)
            .field("runs", &lock(&self.runs).len())
            .finish()
    }
}

/// One client playing the recording.
pub(crate) struct ReplayConversation {
    config: Arc<ReplayConfig>,
    runs: Arc<Mutex<Vec<Run>>>,
    run: usize,
    connection: usize,
    /// Rows already matched (requests) or sent (received frames).
    used: Vec<bool>,
    /// Recorded request id → the client's id for the same request.
    ids: HashMap<i64, i64>,
    /// Recorded responses whose request the client has not sent yet (unordered replay).
    held: Vec<Value>,
    classes: HandleClasses,
    requests: usize,
}

impl ReplayConversation {
    fn rows(&self) -> &[Row] {
        &self.config.recording.rows
    }

    fn unused_requests(&self) -> impl Iterator<Item = (usize, &Value)> {
        self.rows().iter().enumerate().filter_map(|(i, r)| match r {
            Row::Sent(v) if !self.used[i] => Some((i, v)),
            _ => None,
        })
    }

    /// The recorded request at `v` as a request of this connection.
    fn recorded(&self, v: &Value) -> Result<MockRequest, String> {
        MockRequest::from_value(v, "", self.connection, &self.classes, self.config.names)
    }

    fn note_progress(&self) {
        let matched = self
            .rows()
            .iter()
            .zip(&self.used)
            .filter(|(r, u)| **u && matches!(r, Row::Sent(_)))
            .count();
        let next = self
            .unused_requests()
            .next()
            .map(|(i, v)| match self.recorded(v) {
                Ok(r) => format!("{} (row {})", r.describe(), i + 1),
                Err(e) => format!("row {}: {e}", i + 1),
            });
        if let Some(run) = lock(&self.runs).get_mut(self.run) {
            run.matched = matched;
            run.next_expected = next;
        }
    }

    fn fail(&self, problem: String) {
        if let Some(run) = lock(&self.runs).get_mut(self.run) {
            run.failures.push(problem);
        }
    }

    /// Sends the received frames recorded from row `from` up to the next request.
    fn emit_from(&mut self, from: usize, out: &mut Vec<Action>) {
        let mut i = from;
        while i < self.rows().len() {
            let v = match &self.rows()[i] {
                Row::Sent(_) => break,
                Row::Received(v) => v.clone(),
            };
            if !self.used[i] {
                self.used[i] = true;
                self.emit(v, out);
            }
            i += 1;
        }
        // Responses held for requests that have just been matched.
        let held = std::mem::take(&mut self.held);
        for v in held {
            self.emit(v, out);
        }
    }

    fn emit(&mut self, mut v: Value, out: &mut Vec<Action>) {
        if let Value::String(raw) = v {
            out.push(Action::Send(raw));
            return;
        }
        if let Some(rec_id) = v.get("id").and_then(Value::as_i64) {
            match self.ids.get(&rec_id) {
                Some(&client) => v["id"] = Value::from(client),
                None => {
                    self.held.push(v);
                    return;
                }
            }
        }
        self.classes.learn(&v);
        out.push(Action::Send(v.to_string()));
    }

    /// Where a recorded request differs from the sent one.
    fn mismatch(&self, recorded: &Value, sent: &MockRequest) -> Vec<String> {
        let rec = match self.recorded(recorded) {
            Ok(r) => r,
            Err(e) => return vec![format!("the recorded request is unreadable: {e}")],
        };
        let mut out = Vec::new();
        if rec.method != sent.method {
            out.push(format!(
                "method: expected {}, sent {}",
                rec.method, sent.method
            ));
        }
        if rec.handle != sent.handle {
            out.push(format!(
                "handle: expected {}, sent {}",
                rec.handle, sent.handle
            ));
        }
        if rec.method == sent.method {
            out.extend(diff_params(&rec.named, &sent.named));
        }
        out
    }
}

impl Conversation for ReplayConversation {
    fn opening(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        self.emit_from(0, &mut out);
        out
    }

    fn on_text(&mut self, text: &str) -> Reaction {
        self.requests += 1;
        let n = self.requests;
        let req = match MockRequest::parse(text, self.connection, &self.classes, self.config.names)
        {
            Ok(r) => r,
            Err(e) => {
                let msg = format!("replay: request #{n} is malformed: {e}");
                self.fail(msg.clone());
                return Reaction {
                    request: None,
                    actions: vec![Action::Send(wire::error_frame(
                        None,
                        UNMATCHED_ERROR_CODE,
                        "",
                        &msg,
                    ))],
                };
            }
        };
        let candidates: Vec<(usize, Value)> = if self.config.ordered {
            self.unused_requests()
                .take(1)
                .map(|(i, v)| (i, v.clone()))
                .collect()
        } else {
            self.unused_requests()
                .map(|(i, v)| (i, v.clone()))
                .collect()
        };
        let hit = candidates
            .iter()
            .find(|(_, v)| self.mismatch(v, &req).is_empty());
        let mut actions = Vec::new();
        match hit {
            Some((i, recorded)) => {
                let i = *i;
                self.used[i] = true;
                if let (Some(rec_id), Some(id)) =
                    (recorded.get("id").and_then(Value::as_i64), req.id)
                {
                    self.ids.insert(rec_id, id);
                }
                self.emit_from(i + 1, &mut actions);
            }
            None => {
                let problem = match candidates.first() {
                    Some((i, recorded)) => {
                        let expected = match self.recorded(recorded) {
                            Ok(r) => r.describe(),
                            Err(_) => short(recorded),
                        };
                        let mut p = format!(
                            "replay run {}: request #{n} does not match the recording (row {}):\n    expected: {expected}\n    sent:     {}",
                            self.run,
                            i + 1,
                            req.describe()
                        );
                        for d in self.mismatch(recorded, &req) {
                            p.push_str(&format!("\n      - {d}"));
                        }
                        p
                    }
                    None => format!(
                        "replay run {}: request #{n} after the end of the recording: {}",
                        self.run,
                        req.describe()
                    ),
                };
                self.fail(problem);
                let message = format!(
                    "replay: request #{n} ({} on handle {}) does not match the recording; see Replay::verify",
                    req.method, req.handle
                );
                actions.push(Action::Send(wire::error_frame(
                    req.id,
                    UNMATCHED_ERROR_CODE,
                    &req.method,
                    &message,
                )));
            }
        }
        self.note_progress();
        Reaction {
            request: Some(req),
            actions,
        }
    }
}

/// An in-memory [`Transport`](crate::transport::Transport) playing a recording: what a
/// session sends is answered at once from the recording.
pub struct ReplayTransport {
    convo: ReplayConversation,
    outbox: VecDeque<Frame>,
    waker: Option<Waker>,
    ended: bool,
}

fn push_frame(outbox: &mut VecDeque<Frame>, action: Action) -> bool {
    match action {
        Action::Send(text) | Action::SendAfter(_, text) => {
            outbox.push_back(Frame::Text(Text::from(text)));
            false
        }
        Action::Close { code, reason } => {
            outbox.push_back(Frame::Close(Some(CloseInfo::remote(Some(code), reason))));
            true
        }
        Action::Drop | Action::PartialFrame(_) => {
            outbox.push_back(Frame::Close(None));
            true
        }
        // An in-memory replay has no connection to leave half-open: it just stops.
        Action::Silence => true,
    }
}

impl crate::transport::Transport for ReplayTransport {}

impl Stream for ReplayTransport {
    type Item = Result<Frame, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(f) = self.outbox.pop_front() {
            return Poll::Ready(Some(Ok(f)));
        }
        if self.ended {
            return Poll::Ready(None);
        }
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Sink<String> for ReplayTransport {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn start_send(mut self: Pin<&mut Self>, item: String) -> Result<(), Error> {
        let this = &mut *self;
        for a in this.convo.on_text(&item).actions {
            this.ended |= push_frame(&mut this.outbox, a);
        }
        if let Some(w) = this.waker.take() {
            w.wake();
        }
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.ended = true;
        Poll::Ready(Ok(()))
    }
}
