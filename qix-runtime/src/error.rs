//! The one error type of the runtime: every failure of a call or a session is an [`Error`].

use std::fmt;
use std::time::Duration;

/// A JSON-RPC error the engine answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineError {
    /// The engine's error code; `qix_generated::ErrorCode::from_code` makes it typed.
    pub code: i32,
    /// What the error concerns (often the object or value at fault).
    pub parameter: String,
    /// The engine's text; differs between engine versions: match on `code`.
    pub message: String,
    /// The method that failed (`Doc.GetObject`, or the wire name for raw calls).
    pub method: String,
}

/// Why the connection closed, as the WebSocket close frame said (if there was one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    pub code: Option<u16>,
    pub reason: String,
    /// This client closed the connection (`Session::close`, the last handle dropped,
    /// `suspend`): retrying makes no sense.
    pub by_client: bool,
}

impl CloseInfo {
    /// A close the engine (or the network) caused.
    pub fn remote(code: Option<u16>, reason: impl Into<String>) -> Self {
        CloseInfo {
            code,
            reason: reason.into(),
            by_client: false,
        }
    }
}

/// The close codes the engine documents for its WebSocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EngineCloseCode {
    /// 4202: the request was malformed.
    MalformedRequest,
    /// 4203: the user lacks permission (to the app, or to the engine).
    PermissionDenied,
    /// 4204: the app was not found.
    NotFound,
    /// 4205: the engine is busy; retry later.
    Busy,
    /// 4230: too many apps are open.
    TooManyOpenApps,
    /// 4240: no engine is available.
    NoEngineAvailable,
}

impl EngineCloseCode {
    pub fn from_code(code: u16) -> Option<Self> {
        Some(match code {
            4202 => Self::MalformedRequest,
            4203 => Self::PermissionDenied,
            4204 => Self::NotFound,
            4205 => Self::Busy,
            4230 => Self::TooManyOpenApps,
            4240 => Self::NoEngineAvailable,
            _ => return None,
        })
    }

    pub fn code(self) -> u16 {
        match self {
            Self::MalformedRequest => 4202,
            Self::PermissionDenied => 4203,
            Self::NotFound => 4204,
            Self::Busy => 4205,
            Self::TooManyOpenApps => 4230,
            Self::NoEngineAvailable => 4240,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::MalformedRequest => "malformed request",
            Self::PermissionDenied => "permission denied",
            Self::NotFound => "app not found",
            Self::Busy => "engine busy, retry later",
            Self::TooManyOpenApps => "too many open apps",
            Self::NoEngineAvailable => "no engine available",
        }
    }
}

impl CloseInfo {
    /// The engine's meaning of the close code, when it is one of its own.
    pub fn engine_code(&self) -> Option<EngineCloseCode> {
        self.code.and_then(EngineCloseCode::from_code)
    }
}

impl fmt::Display for CloseInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.engine_code()) {
            (Some(c), Some(k)) => write!(f, "close code {c} ({})", k.describe())?,
            (Some(c), None) => write!(f, "close code {c}")?,
            (None, _) => write!(f, "no close frame")?,
        }
        if !self.reason.is_empty() {
            write!(f, ": {}", self.reason)?;
        }
        Ok(())
    }
}

/// A result could not be decoded into its Rust type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// The method whose result failed.
    pub method: String,
    /// JSON path of the failing field inside the result (`qLayout.qHyperCube.qSize.qcx`).
    pub path: String,
    pub message: String,
    /// The result JSON as received (cut to 64 KiB).
    pub raw: String,
}

/// A delta patch that did not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaError {
    /// The method whose answer it was (`GenericObject.GetLayout`).
    pub method: String,
    /// The out-param (`qLayout`).
    pub out: String,
    /// The failing operation: its index in the list, kind and path.
    pub index: usize,
    pub op: String,
    pub path: String,
    pub message: String,
}

/// Everything that can go wrong in a session or a call.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The engine answered the call with an error.
    Engine(EngineError),
    /// The connection is closed; pending and later calls fail with this.
    ConnectionClosed(CloseInfo),
    /// Connecting or the transport failed (DNS, TCP, TLS, HTTP upgrade, I/O).
    Transport(String),
    /// The call or the connect got no answer in time.
    Timeout { what: String, after: Duration },
    /// A delta answer (a JSON-Patch list) did not apply to the last value of its cache.
    /// That cache starts over: the next call of the method asks for the whole value.
    Delta(Box<DeltaError>),
    /// The peer broke the protocol: a malformed frame, a response to an unknown id, ….
    Protocol(String),
    /// A result did not match its type.
    Decode(Box<DecodeError>),
    /// A method that opens an object answered without one (`qHandle`/`qType` null).
    ObjectNotFound { method: String, detail: String },
    /// The call was made on an object the engine has closed; it was not sent.
    ObjectClosed { handle: i32, method: String },
    /// The engine refused the session (`OnConnected` with an error state).
    SessionRejected { state: String },
    /// Params could not be encoded.
    Encode(String),
    /// The session was configured wrongly (bad URL, unreadable certificate, …).
    Config(String),
}

impl Error {
    /// The engine's error code, for engine errors.
    pub fn engine_code(&self) -> Option<i32> {
        match self {
            Error::Engine(e) => Some(e.code),
            _ => None,
        }
    }

    /// The close frame, for closed connections.
    pub fn close_info(&self) -> Option<&CloseInfo> {
        match self {
            Error::ConnectionClosed(c) => Some(c),
            _ => None,
        }
    }

    /// True when retrying later may help: the engine was busy (4205), no engine was
    /// available (4240), the connection dropped without a close code, a timeout, a
    /// transport failure, or the engine aborted the request for a newer one (error 15,
    /// `LOCERR_GENERIC_ABORTED`). False for a close this client made.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::ConnectionClosed(c) => {
                !c.by_client
                    && match c.code {
                        None => true,
                        Some(code) => matches!(
                            EngineCloseCode::from_code(code),
                            Some(EngineCloseCode::Busy | EngineCloseCode::NoEngineAvailable)
                        ),
                    }
            }
            Error::Timeout { .. } | Error::Transport(_) => true,
            Error::Engine(e) => e.code == ABORTED,
            _ => false,
        }
    }

    /// A short name of the kind of failure, for metrics and logs: `engine`, `closed`,
    /// `transport`, `timeout`, `protocol`, `decode`, `delta`, `not_found`,
    /// `object_closed`, `rejected`, `encode`, `config`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Engine(_) => "engine",
            Error::ConnectionClosed(_) => "closed",
            Error::Transport(_) => "transport",
            Error::Timeout { .. } => "timeout",
            Error::Protocol(_) => "protocol",
            Error::Decode(_) => "decode",
            Error::Delta(_) => "delta",
            Error::ObjectNotFound { .. } => "not_found",
            Error::ObjectClosed { .. } => "object_closed",
            Error::SessionRejected { .. } => "rejected",
            Error::Encode(_) => "encode",
            Error::Config(_) => "config",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Engine(e) => {
                write!(
                    f,
                    "{} failed: engine error {}: {}",
                    e.method, e.code, e.message
                )?;
                if !e.parameter.is_empty() {
                    write!(f, " ({})", e.parameter)?;
                }
                Ok(())
            }
            Error::ConnectionClosed(c) => write!(f, "connection to the engine closed: {c}"),
            Error::Transport(m) => write!(f, "transport error: {m}"),
            Error::Timeout { what, after } => write!(f, "{what} timed out after {after:?}"),
            Error::Delta(d) => write!(
                f,
                "the delta answer of {} ({}) does not apply: operation {} (`{}` at `{}`): {}",
                d.method, d.out, d.index, d.op, d.path, d.message
            ),
            Error::Protocol(m) => write!(f, "protocol violation by the engine: {m}"),
            Error::Decode(d) => write!(
                f,
                "cannot decode the result of {} at `{}`: {}",
                d.method, d.path, d.message
            ),
            Error::ObjectNotFound { method, detail } => {
                write!(f, "{method} found no object: {detail}")
            }
            Error::ObjectClosed { handle, method } => write!(
                f,
                "{method} was not sent: the engine closed object handle {handle}"
            ),
            Error::SessionRejected { state } => {
                write!(f, "the engine refused the session: {state}")
            }
            Error::Encode(m) => write!(f, "cannot encode params: {m}"),
            Error::Config(m) => write!(f, "bad session configuration: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// The engine's error code for a request it aborted because a newer one (a selection,
/// typically) made it moot: nothing was done, so the request can be sent again.
pub const ABORTED: i32 = 15;

/// The runtime's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
