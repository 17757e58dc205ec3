//! qix-runtime: the hand-written part under the generated QIX API (`qix-generated`).
//!
//! - [`Session`]: one WebSocket to a Qlik Associative Engine, pipelined JSON-RPC calls,
//!   notifications, `change`/`close` lifecycle of [`Object`]s, cancellation and timeouts;
//! - [`SessionBuilder`]: headers (bearer tokens, `X-Qlik-User`, cookies), TLS with rustls,
//!   client certificates, timeouts;
//! - signing in with credentials asked for before every connection attempt ([`Auth`]),
//!   and Qlik Cloud's OAuth client credentials (`ClientCredentials`, feature `http`);
//! - [`Error`]: the one error type;
//! - the session in the real world: the delta protocol ([`delta`]), reconnection with
//!   restored handles ([`Reconnect`], [`Session::suspend`], [`Session::resume`]), retry of
//!   aborted calls ([`RetryPolicy`]), [`Interceptor`]s, `tracing` spans and metrics;
//! - [`Extra`]: the unknown properties every generated type keeps;
//! - [`transport`]: the WebSocket, or an in-memory pair for tests;
//! - [`layout::Live`]: a layout kept fresh as its object changes;
//! - `spec_fetch` (feature `http`): an engine's API spec over HTTP(S), with the session's
//!   TLS options;
//! - [`redact`]: secrets (passwords, connection-string credentials) out of everything the
//!   library prints or records;
//! - `testing` (feature `testing`): a mock engine, replay of recorded sessions.
//!
//! No `unsafe` but the SSE2 scan of `envelope` (intrinsics, each with its SAFETY note),
//! which allows it for its module alone, and `Text::as_str` (bytes a constructor checked
//! as UTF-8, or that the WebSocket validated as it read them).

#![deny(unsafe_code)]

/// Checks of internal invariants for the fuzz targets in `fuzz/` and their stable
/// property tests; not an API.
#[doc(hidden)]
#[path = "fuzzing.rs"]
pub mod __fuzz;
mod answer;
mod auth;
mod blob;
mod builder;
mod call;
mod calls;
mod connection;
#[doc(hidden)]
pub mod de;
#[doc(hidden)]
pub mod decode;
pub mod delta;
mod envelope;
mod error;
mod extra;
mod handle;
#[cfg(feature = "http")]
mod http;
mod intercept;
mod lane;
pub mod layout;
mod lock;
mod macros;
mod notification;
#[cfg(feature = "http")]
mod oauth;
mod object;
mod observe;
mod params;
mod reconnect;
pub mod redact;
mod registry;
mod restore;
#[doc(hidden)]
pub mod ser;
mod session;
mod shared;
#[cfg(feature = "http")]
pub mod spec_fetch;
mod stream;
#[cfg(feature = "testing")]
pub mod testing;
mod text;
#[cfg(feature = "rustls")]
mod tls;
mod traffic;
pub mod transport;
mod url;
mod version;
// Shared with qix-codegen, which uses all of it; the runtime only orders versions.
#[allow(dead_code)]
mod version_order;

pub use auth::{Auth, AuthHeaders};
pub use blob::Blob;
pub use builder::{SessionBuilder, TlsOptions};
pub use call::{CallFuture, CallOptions, MethodInfo};
pub use decode::DecodeContext;
pub use error::{
    ABORTED, AuthError, CloseInfo, ConfigError, DecodeError, DeltaError, EngineCloseCode,
    EngineError, Error, Result, TransportError,
};
pub use extra::Extra;
pub use handle::{ClosedReason, ObjectInfo};
pub use intercept::{CallInfo, Decision, Interceptor, Outcome};
pub use notification::{Notification, ResumeReport, SessionState};
#[cfg(feature = "http")]
pub use oauth::{ClientCredentials, TOKEN_PATH};
pub use object::Object;
pub use reconnect::{Reconnect, RetryPolicy};
pub use session::{GLOBAL_HANDLE, Session, SessionOptions};
pub use stream::{BroadcastStream, Lagged};
pub use traffic::{Direction, JsonLinesLog, TrafficHook};
pub use url::EngineUrl;
pub use version::{compare_versions, supports};

/// What generated code calls (decoding, number encodings, params); not an API for users,
/// and it may change with any generator change. (`de`, `decode` and `ser` stay public at
/// the root, hidden: Rust re-exports only public modules.)
#[doc(hidden)]
pub mod __private {
    pub use serde;

    pub use crate::call::MethodInfo;
    pub use crate::decode::{DecodeContext, Decoder};
    pub use crate::params::Params;
    pub use crate::{de, decode, ser};
}
