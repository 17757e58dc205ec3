//! Signing in: a credentials hook ([`Auth`]) asked for the upgrade's headers before every
//! connection attempt, so a session that reconnects after its token expired signs in with
//! a fresh one instead of re-sending the one it was built with.
//!
//! [`SessionBuilder::auth`](crate::SessionBuilder::auth) installs a hook; with the `http`
//! feature, [`ClientCredentials`](crate::ClientCredentials) is one (Qlik Cloud's OAuth
//! client credentials) and
//! [`SessionBuilder::client_credentials`](crate::SessionBuilder::client_credentials) the
//! shortcut to it. A closure returning a future is one too:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use qix_runtime::{AuthError, Session};
//! # async fn run() -> qix_runtime::Result<()> {
//! // A JWT minted for every connection (by whatever signs them here).
//! async fn mint_jwt() -> Result<String, AuthError> { Ok("eyJ…".into()) }
//! let session = Session::builder("wss://sense.example.com/jwt/app/7f3c")
//!     .auth(Arc::new(|| async {
//!         Ok(vec![("Authorization".to_string(), format!("Bearer {}", mint_jwt().await?))])
//!     }))
//!     .connect()
//!     .await?;
//! # let _ = session; Ok(()) }
//! ```
//!
//! How failures are treated, on the first connection and on each reconnection attempt:
//! - the hook fails: the attempt fails with [`Error::Auth`](crate::Error::Auth); a
//!   retryable [`AuthError`] (a token endpoint that is down) is retried with the
//!   reconnection backoff like a network failure, one that is not (refused credentials)
//!   ends the session at once — asking again would only hammer the endpoint;
//! - the hook takes longer than the connect timeout: [`Error::Timeout`](crate::Error::Timeout),
//!   retried;
//! - the engine answers the upgrade with HTTP 401: the hook is told
//!   ([`Auth::refused`], so it drops what it cached) and asked again at once, once; a
//!   second 401 is a non-retryable [`Error::Auth`] (fresh credentials were refused). Without a
//!   hook a 401 is non-retryable at once: the same headers would be refused again.

use std::future::Future;

use futures_util::future::BoxFuture;

use crate::error::AuthError;

/// Headers for one connection attempt: `(name, value)` pairs. A name the builder also set
/// (`bearer`, `header`) is replaced by the hook's.
pub type AuthHeaders = Vec<(String, String)>;

/// Credentials for the WebSocket upgrade, asked for before every connection attempt (the
/// first connection and each reconnection). A hook shared by several sessions may be
/// asked by several at once: it should refresh what it caches under a lock, so they do
/// not all fetch (as [`ClientCredentials`](crate::ClientCredentials) does).
///
/// Implemented for closures `Fn() -> impl Future<Output = Result<AuthHeaders, AuthError>>`.
pub trait Auth: Send + Sync {
    /// The headers for the next attempt. Never logged or recorded by the runtime.
    fn headers(&self) -> BoxFuture<'_, Result<AuthHeaders, AuthError>>;

    /// The engine answered the last headers this hook gave with HTTP 401: whatever it
    /// cached is stale. The runtime asks [`Auth::headers`] once more right after.
    fn refused(&self) {}
}

impl<F, Fut> Auth for F
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Result<AuthHeaders, AuthError>> + Send + 'static,
{
    fn headers(&self) -> BoxFuture<'_, Result<AuthHeaders, AuthError>> {
        Box::pin(self())
    }
}
