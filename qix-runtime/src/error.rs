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
    /// The call was cancelled before its answer arrived.
    Cancelled { method: String },
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

    /// True when retrying later may help (engine busy, no engine available, timeouts,
    /// dropped connections).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::ConnectionClosed(c) => matches!(
                c.engine_code(),
                Some(EngineCloseCode::Busy | EngineCloseCode::NoEngineAvailable) | None
            ),
            Error::Timeout { .. } | Error::Transport(_) => true,
            _ => false,
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
            Error::Cancelled { method } => write!(f, "{method} was cancelled"),
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

/// The runtime's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
