//! qix-runtime: the hand-written part under the generated QIX API (`qix-generated`).
//!
//! - [`Session`]: one WebSocket to a Qlik Associative Engine, pipelined JSON-RPC calls,
//!   notifications, `change`/`close` lifecycle of [`Object`]s, cancellation and timeouts;
//! - [`SessionBuilder`]: headers (bearer tokens, `X-Qlik-User`, cookies), TLS with rustls,
//!   client certificates, timeouts;
//! - [`Error`]: the one error type;
//! - helpers the generated code calls ([`Params`], [`decode`], [`de`], [`ser`], [`Extra`]);
//! - [`transport`]: the WebSocket, or an in-memory pair for tests;
//! - [`layout::Live`]: a layout kept fresh as its object changes;
//! - [`redact`]: secrets (passwords, connection-string credentials) out of everything the
//!   library prints or records;
//! - `testing` (feature `testing`): a mock engine, replay of recorded sessions.

/// Checks of internal invariants for the fuzz targets in `fuzz/` and their stable
/// property tests; not an API.
#[doc(hidden)]
#[path = "fuzzing.rs"]
pub mod __fuzz;
mod blob;
mod builder;
mod call;
mod connection;
pub mod de;
pub mod decode;
mod envelope;
mod error;
mod extra;
pub mod layout;
mod notification;
mod object;
mod params;
pub mod redact;
pub mod ser;
mod session;
mod stream;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "rustls")]
mod tls;
mod traffic;
pub mod transport;
mod url;
mod version;

pub use blob::Blob;
pub use builder::{SessionBuilder, TlsOptions};
pub use call::{CallFuture, Decoder};
pub use error::{CloseInfo, DecodeError, EngineCloseCode, EngineError, Error, Result};
pub use extra::Extra;
pub use notification::{Notification, SessionState};
pub use object::{Object, ObjectInfo};
pub use params::Params;
pub use session::{GLOBAL_HANDLE, Session, SessionOptions};
pub use stream::{BroadcastStream, Lagged};
pub use traffic::{Direction, JsonLinesLog, TrafficHook};
pub use url::EngineUrl;
pub use version::{compare_versions, supports};
