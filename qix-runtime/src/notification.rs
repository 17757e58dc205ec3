//! Notifications: frames the engine pushes without a request (`method`, no `id`).

use serde_json::Value;

/// The session state `OnConnected` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionState {
    /// `SESSION_CREATED`: a new engine session.
    Created,
    /// `SESSION_ATTACHED`: attached to an existing session (same user, same app).
    Attached,
    /// Any other state: the engine refused the session (`SESSION_ERROR_NO_LICENSE`,
    /// `SESSION_ACCESS_DENIED`, `SESSION_ERROR_LIMIT_EXCEEDED`, …).
    Error(String),
}

impl SessionState {
    pub fn from_wire(s: &str) -> Self {
        match s {
            "SESSION_CREATED" => Self::Created,
            "SESSION_ATTACHED" => Self::Attached,
            other => Self::Error(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Created => "SESSION_CREATED",
            Self::Attached => "SESSION_ATTACHED",
            Self::Error(s) => s,
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Self::Error(_))
    }
}

/// A notification from the engine.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Notification {
    /// `OnConnected`: the session is ready (or refused, see [`SessionState::Error`]).
    Connected { state: SessionState },
    /// `OnAuthenticationInformation`: the client must authenticate (Qlik Sense proxy).
    AuthenticationInformation {
        login_uri: Option<String>,
        must_authenticate: Option<bool>,
    },
    /// `OnSessionTimedOut`.
    SessionTimedOut,
    /// `OnSessionClosed`.
    SessionClosed,
    /// `OnSessionLoggedOut`.
    SessionLoggedOut,
    /// `OnMaxParallelSessionsExceeded`.
    MaxParallelSessionsExceeded,
    /// `OnLicenseAccessDenied`.
    LicenseAccessDenied,
    /// `OnNoEngineAvailable`.
    NoEngineAvailable,
    /// `OnEngineWebsocketFailure`.
    EngineWebsocketFailure,
    /// A notification this version does not know, kept as sent.
    Unknown { method: String, params: Value },
    /// Sent by this client, not the engine: the connection was lost (or
    /// [`Session::suspend`](crate::Session::suspend) was called). Calls made now wait for
    /// the connection to come back (bounded by their timeouts).
    Suspended {
        /// Why (`connection to the engine closed: …`).
        reason: String,
    },
    /// Sent by this client, not the engine: the session is connected again and its
    /// objects are restored (or closed); see [`ResumeReport`].
    Resumed(ResumeReport),
}

/// What a reconnection found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeReport {
    /// `Attached`: the engine kept the session and its handles. `Created`: it had lost
    /// them, and the objects were opened again.
    pub state: SessionState,
    /// The objects that work again (with their new handle numbers).
    pub restored: Vec<crate::ObjectInfo>,
    /// The objects that could not be restored, each with the reason; they are closed.
    pub closed: Vec<(crate::ObjectInfo, String)>,
    /// Connection attempts it took.
    pub attempts: u32,
    /// The engine said `SESSION_ATTACHED`, but the doc or an object was not there as
    /// before (the text says what differed): everything was opened again as after
    /// `SESSION_CREATED`.
    pub attach_mismatch: Option<String>,
}

impl Notification {
    /// Interprets a notification frame's `method` and `params`.
    pub fn from_wire(method: &str, params: Value) -> Self {
        let str_param = |name: &str| params.get(name).and_then(Value::as_str).map(str::to_string);
        match method {
            "OnConnected" => Notification::Connected {
                state: SessionState::from_wire(&str_param("qSessionState").unwrap_or_default()),
            },
            "OnAuthenticationInformation" => Notification::AuthenticationInformation {
                login_uri: str_param("loginUri"),
                must_authenticate: params.get("mustAuthenticate").and_then(Value::as_bool),
            },
            "OnSessionTimedOut" => Notification::SessionTimedOut,
            "OnSessionClosed" => Notification::SessionClosed,
            "OnSessionLoggedOut" => Notification::SessionLoggedOut,
            "OnMaxParallelSessionsExceeded" => Notification::MaxParallelSessionsExceeded,
            "OnLicenseAccessDenied" => Notification::LicenseAccessDenied,
            "OnNoEngineAvailable" => Notification::NoEngineAvailable,
            "OnEngineWebsocketFailure" => Notification::EngineWebsocketFailure,
            other => Notification::Unknown {
                method: other.to_string(),
                params,
            },
        }
    }

    /// The wire name (`OnConnected`, …).
    pub fn method(&self) -> &str {
        match self {
            Notification::Connected { .. } => "OnConnected",
            Notification::AuthenticationInformation { .. } => "OnAuthenticationInformation",
            Notification::SessionTimedOut => "OnSessionTimedOut",
            Notification::SessionClosed => "OnSessionClosed",
            Notification::SessionLoggedOut => "OnSessionLoggedOut",
            Notification::MaxParallelSessionsExceeded => "OnMaxParallelSessionsExceeded",
            Notification::LicenseAccessDenied => "OnLicenseAccessDenied",
            Notification::NoEngineAvailable => "OnNoEngineAvailable",
            Notification::EngineWebsocketFailure => "OnEngineWebsocketFailure",
            Notification::Unknown { method, .. } => method,
            Notification::Suspended { .. } => "Suspended",
            Notification::Resumed(_) => "Resumed",
        }
    }
}
