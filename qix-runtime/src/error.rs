//! The one error type of the runtime: every failure of a call or a session is an [`Error`].
//!
//! Transport and configuration failures keep the error that caused them (the tungstenite,
//! I/O or rustls error) as their [`source`](std::error::Error::source); their `Display`
//! also includes the cause's text, so a one-line report (`{err}`) is complete.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A JSON-RPC error the engine answered with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{method} failed: engine error {code}: {message}{}",
    in_parens(parameter)
)]
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

/// ` (parameter)`, or nothing for an empty one.
fn in_parens(parameter: &str) -> String {
    if parameter.is_empty() {
        String::new()
    } else {
        format!(" ({parameter})")
    }
}

/// Why the connection closed, as the WebSocket close frame said (if there was one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    pub code: Option<u16>,
    pub reason: String,
    /// This client ended the session (`Session::close`, the last handle dropped): retrying
    /// makes no sense. (A [`Session::suspend`](crate::Session::suspend) is not such an
    /// end: calls it cuts off may be retried after `resume`.)
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

    /// The close of a session this client ended.
    pub(crate) fn ended_by_client() -> Self {
        CloseInfo {
            code: Some(1000),
            reason: "the session was closed by the client".into(),
            by_client: true,
        }
    }

    /// Whether connecting again may help: not after this client ended the session, nor
    /// after the engine said the request was malformed (4202), forbidden (4203) or for an
    /// app that does not exist (4204); yes after a network drop (no close frame), 4205
    /// (busy), 4230, 4240, 1001 (going away), 1011 (server error) and every other close.
    /// [`Error::is_retryable`] and automatic reconnection both follow this one rule.
    pub fn is_transient(&self) -> bool {
        !self.by_client
            && !matches!(
                self.engine_code(),
                Some(
                    EngineCloseCode::MalformedRequest
                        | EngineCloseCode::PermissionDenied
                        | EngineCloseCode::NotFound
                )
            )
    }
}

/// The error of a session this client ended (or a call on it).
pub(crate) fn closed_by_client() -> Error {
    Error::ConnectionClosed(CloseInfo::ended_by_client())
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

/// The error behind a failure, shared: [`Error`] is `Clone` (every pending call of a
/// session gets the same one), most causes (`std::io::Error`, `tungstenite::Error`) are not.
type Cause = Arc<dyn StdError + Send + Sync + 'static>;

macro_rules! error_with_cause {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        pub struct $name {
            message: String,
            cause: Option<Cause>,
        }

        impl $name {
            /// A failure described by `message` alone.
            pub fn new(message: impl Into<String>) -> Self {
                $name {
                    message: message.into(),
                    cause: None,
                }
            }

            /// A failure described by `message` (which should include the cause's text:
            /// it is what `Display` shows), caused by `cause`.
            pub fn with_cause(
                message: impl Into<String>,
                cause: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
            ) -> Self {
                $name {
                    message: message.into(),
                    cause: Some(Arc::from(cause.into())),
                }
            }

            /// The description, without the `Error` variant's prefix.
            pub fn message(&self) -> &str {
                &self.message
            }

            /// The same failure with `context` put in front of its description.
            pub fn context(self, context: impl fmt::Display) -> Self {
                $name {
                    message: format!("{context}: {}", self.message),
                    cause: self.cause,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.message)
            }
        }

        // By hand: `source` is the cause itself, not the `Arc` around it (whose own
        // `source` would skip a level), so `downcast_ref` finds the cause's type.
        impl StdError for $name {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                self.cause.as_deref().map(|c| c as &(dyn StdError + 'static))
            }
        }

        impl From<String> for $name {
            fn from(message: String) -> Self {
                $name::new(message)
            }
        }

        impl From<&str> for $name {
            fn from(message: &str) -> Self {
                $name::new(message)
            }
        }
    };
}

error_with_cause!(
    /// Connecting or the transport failed: what was tried, and the tungstenite, I/O or
    /// rustls error that stopped it (as [`source`](StdError::source)) when there was one.
    TransportError
);

error_with_cause!(
    /// The session was configured wrongly: what was wrong, and the error behind it (an
    /// unreadable file's I/O error, rustls refusing a certificate) when there was one.
    ConfigError
);

/// Signing in failed: the credentials hook ([`Auth`](crate::Auth)) could not give headers
/// (a token endpoint that refused the client, answered nonsense or could not be reached),
/// or the engine refused credentials that were just fetched. Whether trying again later
/// may help is part of the error: automatic reconnection retries a retryable one within
/// its backoff, and ends the session at once on one that is not (a refused client id is
/// not worth asking again and again).
#[derive(Debug, Clone)]
pub struct AuthError {
    message: String,
    retryable: bool,
    cause: Option<Cause>,
}

impl AuthError {
    /// A failure that may pass: the token endpoint is down, unreachable, overloaded (HTTP
    /// 5xx, 429) or too slow.
    pub fn retryable(message: impl Into<String>) -> Self {
        AuthError {
            message: message.into(),
            retryable: true,
            cause: None,
        }
    }

    /// A failure that asking again cannot fix: the credentials were refused (HTTP 400,
    /// 401, 403), the token URL is wrong, the answer is not a token.
    pub fn refused(message: impl Into<String>) -> Self {
        AuthError {
            message: message.into(),
            retryable: false,
            cause: None,
        }
    }

    /// The same failure, caused by `cause` (whose text the message should include).
    pub fn with_cause(
        mut self,
        cause: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        self.cause = Some(Arc::from(cause.into()));
        self
    }

    /// Whether a later attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// The description, without the `Error` variant's prefix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for AuthError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.cause
            .as_deref()
            .map(|c| c as &(dyn StdError + 'static))
    }
}

/// The cause of an I/O failure: a TLS failure comes as an `io::Error` around the rustls
/// error, and `io::Error::source` skips that error; take it out so it is the cause.
pub(crate) fn io_cause(io: std::io::Error) -> Box<dyn StdError + Send + Sync + 'static> {
    #[cfg(feature = "rustls")]
    if io.get_ref().is_some_and(|e| e.is::<rustls::Error>()) {
        if let Some(inner) = io.into_inner() {
            return inner;
        }
        unreachable!("an io::Error with an inner error gives it up");
    }
    Box::new(io)
}

/// The cause of a WebSocket failure: the tokio-websockets error, or the error inside its
/// I/O error (see [`io_cause`]).
pub(crate) fn ws_cause(e: tokio_websockets::Error) -> Box<dyn StdError + Send + Sync + 'static> {
    match e {
        tokio_websockets::Error::Io(io) => io_cause(io),
        other => Box::new(other),
    }
}

/// A result could not be decoded into its Rust type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode the result of {method} at `{path}`: {message}")]
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the delta answer of {method} ({out}) does not apply: operation {index} (`{op}` at `{path}`): {message}"
)]
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
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The engine answered the call with an error.
    #[error(transparent)]
    Engine(EngineError),
    /// The connection is closed; pending and later calls fail with this.
    #[error("connection to the engine closed: {0}")]
    ConnectionClosed(CloseInfo),
    /// Connecting or the transport failed (DNS, TCP, TLS, HTTP upgrade, I/O); the
    /// underlying error is the [`source`](StdError::source) of the [`TransportError`].
    #[error("transport error: {0}")]
    Transport(#[source] TransportError),
    /// The call or the connect got no answer in time.
    #[error("{what} timed out after {after:?}")]
    Timeout { what: String, after: Duration },
    /// A delta answer (a JSON-Patch list) did not apply to the last value of its cache.
    /// That cache starts over: the next call of the method asks for the whole value.
    #[error(transparent)]
    Delta(Box<DeltaError>),
    /// The peer broke the protocol: a malformed frame, a response to an unknown id, ….
    #[error("protocol violation by the engine: {0}")]
    Protocol(String),
    /// A result did not match its type.
    #[error(transparent)]
    Decode(Box<DecodeError>),
    /// A method that opens an object answered without one (`qHandle`/`qType` null).
    #[error("{method} found no object: {detail}")]
    ObjectNotFound { method: String, detail: String },
    /// The call was made on an object the engine has closed; it was not sent.
    #[error("{method} was not sent: the engine closed object handle {handle}")]
    ObjectClosed { handle: i32, method: String },
    /// The engine refused the session (`OnConnected` with an error state).
    #[error("the engine refused the session: {state}")]
    SessionRejected { state: String },
    /// Params could not be encoded.
    #[error("cannot encode params: {0}")]
    Encode(String),
    /// The session was configured wrongly (bad URL, unreadable certificate, …); the
    /// underlying error, if any, is the [`source`](StdError::source) of the [`ConfigError`].
    #[error("bad session configuration: {0}")]
    Config(#[source] ConfigError),
    /// Signing in failed (see [`AuthError`]: the credentials hook, or the engine refusing
    /// fresh credentials with HTTP 401); [`AuthError::is_retryable`] says whether a later
    /// attempt may succeed.
    #[error("sign-in failed: {0}")]
    Auth(#[source] AuthError),
    /// Automatic reconnection spent its budget ([`Reconnect`](crate::Reconnect)'s
    /// attempts or time) without a connection that stayed up; the session ended. `last`
    /// is why the last attempt failed.
    #[error("gave up reconnecting after {attempts} attempt(s) in {elapsed:?}: {last}")]
    ReconnectFailed {
        attempts: u32,
        elapsed: Duration,
        last: Box<Error>,
    },
    /// A fault inside qix itself (a bug, not the engine's or the network's): please
    /// report it with the text.
    #[error("internal fault of the qix runtime (please report it): {0}")]
    Internal(String),
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

    /// True when retrying later may help: a connection that closed for a reason that
    /// automatic reconnection also reconnects after ([`CloseInfo::is_transient`]: a
    /// network drop, 4205 busy, 4230, 4240, 1001, 1011, …), a timeout, a transport
    /// failure, a sign-in that failed for a passing reason ([`AuthError::is_retryable`]:
    /// a token endpoint that is down), or the engine aborted the request for a newer one
    /// (error 15, `LOCERR_GENERIC_ABORTED`). False for a close this client made, for 4202,
    /// 4203 and 4204, for refused credentials, and once reconnection gave up
    /// ([`Error::ReconnectFailed`]).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::ConnectionClosed(c) => c.is_transient(),
            Error::Timeout { .. } | Error::Transport(_) => true,
            Error::Auth(a) => a.is_retryable(),
            Error::Engine(e) => e.code == ABORTED,
            _ => false,
        }
    }

    /// A short name of the kind of failure, for metrics and logs: `engine`, `closed`,
    /// `transport`, `timeout`, `protocol`, `decode`, `delta`, `not_found`,
    /// `object_closed`, `rejected`, `encode`, `config`, `auth`, `reconnect`, `internal`.
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
            Error::Auth(_) => "auth",
            Error::ReconnectFailed { .. } => "reconnect",
            Error::Internal(_) => "internal",
        }
    }
}

/// The engine's error code for a request it aborted because a newer one (a selection,
/// typically) made it moot: nothing was done, so the request can be sent again.
pub const ABORTED: i32 = 15;

/// The runtime's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
