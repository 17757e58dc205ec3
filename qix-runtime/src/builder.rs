//! Connecting: [`SessionBuilder`] opens a WebSocket (TLS with rustls), starts the session
//! and waits for the engine's `OnConnected`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Uri};
use tokio::net::TcpStream;

use crate::auth::Auth;
use crate::connection::Connector;
use crate::error::{AuthError, ConfigError, Error, Result, TransportError, ws_cause};
use crate::intercept::Interceptor;
use crate::notification::SessionState;
use crate::reconnect::{Reconnect, RetryPolicy};
use crate::session::{Session, SessionOptions};
use crate::traffic::TrafficHook;
use crate::transport::{Io, Transport, WsTransport};
use tracing::Instrument;

/// TLS settings for `wss://` (rustls).
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Do not trust the system's root certificates (only `extra_roots`).
    pub no_system_roots: bool,
    /// More CA certificates to trust, PEM files (a self-signed Qlik Sense root, say).
    pub extra_roots: Vec<PathBuf>,
    /// A client certificate chain and its key, PEM files (Qlik Sense Enterprise, port 4747).
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// Accept any server certificate. Only for tests against self-signed engines.
    pub danger_accept_invalid_certs: bool,
}

/// Options for [`Session::builder`].
pub struct SessionBuilder {
    url: String,
    headers: Vec<(String, String)>,
    auth: Option<AuthSource>,
    tls: TlsOptions,
    connect_timeout: Duration,
    on_connected_timeout: Option<Duration>,
    max_frame_size: Option<usize>,
    options: SessionOptions,
}

impl Session {
    /// Starts configuring a session to `url` (`ws://` or `wss://`; see
    /// [`EngineUrl`](crate::EngineUrl) for the engine's URL forms).
    pub fn builder(url: impl Into<String>) -> SessionBuilder {
        SessionBuilder {
            url: url.into(),
            headers: Vec::new(),
            auth: None,
            tls: TlsOptions::default(),
            connect_timeout: Duration::from_secs(30),
            on_connected_timeout: Some(Duration::from_secs(10)),
            max_frame_size: Some(256 << 20),
            options: SessionOptions::default(),
        }
    }

    /// Connects with default options.
    pub async fn connect(url: impl Into<String>) -> Result<Session> {
        Session::builder(url).connect().await
    }
}

impl SessionBuilder {
    /// Adds a header to the WebSocket upgrade request.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// `Authorization: Bearer <token>` (Qlik Cloud API keys, JWTs).
    pub fn bearer(self, token: impl AsRef<str>) -> Self {
        let v = format!("Bearer {}", token.as_ref());
        self.header("Authorization", v)
    }

    /// `X-Qlik-User: UserDirectory=<dir>; UserId=<id>` (Qlik Sense Enterprise with client
    /// certificates).
    pub fn qlik_user(self, directory: &str, user: &str) -> Self {
        self.header(
            "X-Qlik-User",
            format!("UserDirectory={directory}; UserId={user}"),
        )
    }

    /// A `Cookie` header (a proxy session cookie, say).
    pub fn cookie(self, cookie: impl Into<String>) -> Self {
        self.header("Cookie", cookie)
    }

    /// A credentials hook, asked for headers before every connection attempt (the first
    /// connection and each reconnection), so a reconnection signs in with fresh
    /// credentials (see [`Auth`] for how its failures are treated). Its headers replace
    /// builder headers of the same name. Replaces an earlier `auth` or
    /// `client_credentials`.
    pub fn auth(mut self, auth: Arc<dyn Auth>) -> Self {
        self.auth = Some(AuthSource::Hook(auth));
        self
    }

    /// Signs in with Qlik Cloud OAuth client credentials: a token from the tenant's
    /// `/oauth/token` (the engine URL's host and port, see
    /// [`ClientCredentials::token_url_for`](crate::ClientCredentials::token_url_for)),
    /// over this builder's TLS settings, fetched again when it nears its expiry — also
    /// for a reconnection. For another token URL, or one token cache shared by several
    /// sessions, give a [`ClientCredentials`](crate::ClientCredentials) to
    /// [`auth`](Self::auth). Feature `http`.
    #[cfg(feature = "http")]
    pub fn client_credentials(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.auth = Some(AuthSource::ClientCredentials {
            id: client_id.into(),
            secret: client_secret.into(),
        });
        self
    }

    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = tls;
        self
    }

    /// Trusts another CA certificate (PEM file).
    pub fn root_certificate(mut self, pem: impl Into<PathBuf>) -> Self {
        self.tls.extra_roots.push(pem.into());
        self
    }

    /// Authenticates with a client certificate chain and key (PEM files).
    pub fn client_certificate(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls.client_cert = Some((cert.into(), key.into()));
        self
    }

    /// Accepts any server certificate. Never use against a production engine.
    pub fn danger_accept_invalid_certs(mut self) -> Self {
        self.tls.danger_accept_invalid_certs = true;
        self
    }

    /// How long TCP + TLS + the WebSocket upgrade may take (default 30 s).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// How long `connect` (and a reconnection) waits for `OnConnected` (default 10 s);
    /// without it, `connect` fails with [`Error::Timeout`]. `None` returns as soon as the
    /// socket is open (for peers that never send it).
    pub fn on_connected_timeout(mut self, t: Option<Duration>) -> Self {
        self.on_connected_timeout = t;
        self
    }

    /// The largest frame accepted (default 256 MiB).
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = Some(bytes);
        self
    }

    /// Keepalive: after `interval` without a frame from the engine, a WebSocket ping; after
    /// another `interval` without one, the connection is given up as half-open (a proxy or
    /// NAT dropped it without a word): calls in flight fail with a retryable
    /// [`Error::ConnectionClosed`] and automatic reconnection, if on, takes over. On by
    /// default (30 s, under the 60 s idle timeout of common proxies); `None` turns it off.
    pub fn keepalive(mut self, interval: Option<Duration>) -> Self {
        self.options.keepalive = interval.map(|d| d.max(Duration::from_millis(1)));
        self
    }

    /// How many bytes of frames may wait for the traffic hooks (default 64 MiB); past it
    /// frames are dropped for the hooks, never for the session (see
    /// [`TrafficHook::dropped`](crate::TrafficHook::dropped)).
    pub fn traffic_queue_bytes(mut self, bytes: usize) -> Self {
        self.options.traffic_queue_bytes = bytes;
        self
    }

    /// A timeout for every call that sets none.
    pub fn call_timeout(mut self, t: Duration) -> Self {
        self.options.call_timeout = Some(t);
        self
    }

    pub fn notification_capacity(mut self, n: usize) -> Self {
        self.options.notification_capacity = n.max(1);
        self
    }

    /// Turns the delta protocol off (it is on by default: large results such as layouts
    /// come as JSON-Patch lists against the last value, and are decoded the same).
    pub fn delta(mut self, on: bool) -> Self {
        self.options.delta = on;
        self
    }

    /// Reconnects by itself when the connection is lost (see [`Reconnect`]); without it a
    /// lost connection ends the session. Either way `Session::suspend`/`resume` work.
    pub fn reconnect(mut self, policy: Reconnect) -> Self {
        self.options.reconnect = Some(policy);
        self
    }

    /// How calls the engine aborted (error 15) are retried (default: twice).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.options.retry = policy;
        self
    }

    /// Adds an interceptor around every call (see [`Interceptor`]).
    pub fn interceptor(mut self, i: Arc<dyn Interceptor>) -> Self {
        self.options.interceptors.push(i);
        self
    }

    /// At most this many calls sent and unanswered (default 4096); more wait for a slot.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.options.max_in_flight = n.max(1);
        self
    }

    /// Fails a call whose result is bigger than this (default: no limit but the frame
    /// size).
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.options.max_response_bytes = Some(bytes);
        self
    }

    /// All the session options at once.
    pub fn options(mut self, options: SessionOptions) -> Self {
        self.options = options;
        self
    }

    /// A hook that sees every frame (see [`JsonLinesLog`](crate::JsonLinesLog)). Hooks run
    /// on a thread of their own, in frame order.
    pub fn traffic(mut self, hook: Arc<dyn TrafficHook>) -> Self {
        self.options.traffic.push(hook);
        self
    }

    /// Opens the WebSocket and waits for `OnConnected`.
    pub async fn connect(self) -> Result<Session> {
        let uri: Uri = self.url.parse().map_err(|e| {
            Error::Config(ConfigError::with_cause(
                format!("bad engine URL {:?}: {e}", redact_url(&self.url)),
                e,
            ))
        })?;
        let mut headers = Vec::with_capacity(self.headers.len());
        for (name, value) in &self.headers {
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|e| {
                Error::Config(ConfigError::with_cause(
                    format!("bad header name {name:?}: {e}"),
                    e,
                ))
            })?;
            let mut v = HeaderValue::from_str(value).map_err(|e| {
                Error::Config(ConfigError::with_cause(
                    format!("bad value for header {name}: {e}"),
                    e,
                ))
            })?;
            v.set_sensitive(true);
            headers.push((n, v));
        }
        let host = uri
            .host()
            .ok_or_else(|| {
                Error::Config(format!("engine URL {:?} has no host", redact_url(&self.url)).into())
            })?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let secure = match uri.scheme_str() {
            Some("wss") | Some("https") => true,
            Some("ws") | Some("http") => false,
            other => {
                return Err(Error::Config(
                    format!(
                        "engine URL {:?} must be ws:// or wss:// (got {other:?})",
                        redact_url(&self.url)
                    )
                    .into(),
                ));
            }
        };
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        // The upgrade request names the WebSocket scheme whatever the URL said.
        let uri = ws_uri(&uri, secure)?;
        let limits = tokio_websockets::Limits::default().max_payload_len(self.max_frame_size);
        let tls = if secure {
            Some(self.tls_connector()?)
        } else {
            None
        };
        let timeout = self.connect_timeout;
        let redacted = redact_url(&self.url);
        let auth = self.auth_hook()?;
        let target = Arc::new(Target {
            uri,
            headers,
            auth,
            host,
            port,
            limits,
            tls,
            timeout,
            redacted,
        });
        let connector: Connector = Arc::new(move || Box::pin(open(target.clone())));
        let span = tracing::info_span!(target: "qix", "qix.connect", url = %redact_url(&self.url));
        let first = connector().instrument(span).await?;
        self.finish(first, Some(connector)).await
    }

    /// Starts a session over another transport (an in-memory pair, a recorded peer) and
    /// waits for `OnConnected` as `connect` does.
    pub async fn connect_transport<T: Transport>(self, transport: T) -> Result<Session> {
        self.finish(Box::new(transport), None).await
    }

    async fn finish(
        mut self,
        transport: Box<dyn Transport>,
        connector: Option<Connector>,
    ) -> Result<Session> {
        let on_connected_timeout = self.on_connected_timeout;
        self.options.on_connected_timeout = on_connected_timeout;
        let session = Session::start(transport, self.options, connector);
        let Some(wait) = on_connected_timeout else {
            return Ok(session);
        };
        match tokio::time::timeout(wait, session.connected()).await {
            // Engines always send OnConnected; a peer that does not is refused unless
            // `on_connected_timeout(None)` said not to wait.
            Err(_) => {
                session.close().await;
                Err(Error::Timeout {
                    what: "OnConnected (a peer that never sends it needs `on_connected_timeout(None)`)"
                        .into(),
                    after: wait,
                })
            }
            Ok(Err(e)) => Err(e),
            Ok(Ok(SessionState::Error(state))) => Err(Error::SessionRejected { state }),
            Ok(Ok(_)) => Ok(session),
        }
    }

    fn auth_hook(&self) -> Result<Option<Arc<dyn Auth>>> {
        Ok(match &self.auth {
            None => None,
            Some(AuthSource::Hook(h)) => Some(h.clone()),
            #[cfg(feature = "http")]
            Some(AuthSource::ClientCredentials { id, secret }) => Some(Arc::new(
                crate::oauth::ClientCredentials::for_engine(&self.url, id.clone(), secret.clone())?
                    .tls(self.tls.clone()),
            )),
        })
    }

    #[cfg(feature = "rustls")]
    fn tls_connector(&self) -> Result<Tls> {
        crate::tls::connector(&self.tls).map(tokio_rustls::TlsConnector::from)
    }

    #[cfg(not(feature = "rustls"))]
    fn tls_connector(&self) -> Result<Tls> {
        Err(Error::Config(
            "wss:// needs the `rustls` feature of qix-runtime".into(),
        ))
    }
}

#[cfg(feature = "rustls")]
type Tls = tokio_rustls::TlsConnector;
/// Without a TLS feature there is no TLS: `wss://` is refused when the builder connects.
#[cfg(not(feature = "rustls"))]
type Tls = std::convert::Infallible;

/// How a session signs in, as the builder was told.
enum AuthSource {
    Hook(Arc<dyn Auth>),
    #[cfg(feature = "http")]
    ClientCredentials {
        id: String,
        secret: String,
    },
}

/// Where and how every connection of a session goes.
struct Target {
    uri: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Asked for more headers before each attempt.
    auth: Option<Arc<dyn Auth>>,
    host: String,
    port: u16,
    limits: tokio_websockets::Limits,
    tls: Option<Tls>,
    timeout: Duration,
    redacted: String,
}

/// The URL with a `ws`/`wss` scheme (an `http(s)://` engine URL is accepted as well).
fn ws_uri(uri: &Uri, secure: bool) -> Result<Uri> {
    let mut parts = uri.clone().into_parts();
    parts.scheme = Some(
        if secure { "wss" } else { "ws" }
            .parse()
            .map_err(|e| Error::Internal(format!("the scheme does not parse: {e}")))?,
    );
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    Uri::from_parts(parts)
        .map_err(|e| Error::Internal(format!("the engine URL does not rebuild: {e}")))
}

impl std::fmt::Debug for SessionBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values are credentials (bearer tokens, cookies): never print them.
        let headers: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        let auth = self.auth.as_ref().map(|a| match a {
            AuthSource::Hook(_) => "a credentials hook".to_string(),
            #[cfg(feature = "http")]
            AuthSource::ClientCredentials { id, .. } => {
                format!("OAuth client credentials (client id {id:?})")
            }
        });
        f.debug_struct("SessionBuilder")
            .field("url", &redact_url(&self.url))
            .field("headers", &headers)
            .field("auth", &auth)
            .field("tls", &self.tls)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// The URL without a query string (which may carry tickets) or user info.
pub(crate) fn redact_url(url: &str) -> String {
    let url = &*crate::redact::connection_string(url);
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?<redacted>"),
        None => url.to_string(),
    }
}

/// Frames gathered before a write.
const WRITE_BUFFER: usize = 64 << 10;
const READ_BUFFER: usize = 64 << 10;

/// Opens one WebSocket: the credentials hook first (when there is one), then TCP, TLS and
/// the upgrade. A 401 to credentials from the hook tells the hook and asks it once more.
async fn open(t: Arc<Target>) -> Result<Box<dyn Transport>> {
    let Some(auth) = &t.auth else {
        return upgrade(&t, &t.headers).await.map_err(|f| match f {
            // The same headers would be refused again: not worth reconnecting with.
            Failed::Unauthorized(e) => refused_credentials("the engine refused the credentials", e),
            Failed::Other(e) => e,
        });
    };
    let headers = signed_headers(&t, auth.as_ref()).await?;
    match upgrade(&t, &headers).await {
        Ok(ws) => Ok(ws),
        Err(Failed::Other(e)) => Err(e),
        Err(Failed::Unauthorized(_)) => {
            tracing::info!(target: "qix", url = %t.redacted, "the engine refused the credentials (HTTP 401): asking the credentials hook for fresh ones");
            auth.refused();
            let headers = signed_headers(&t, auth.as_ref()).await?;
            upgrade(&t, &headers).await.map_err(|f| match f {
                Failed::Unauthorized(e) => {
                    refused_credentials("the engine refused fresh credentials", e)
                }
                Failed::Other(e) => e,
            })
        }
    }
}

/// A 401 as a sign-in failure that is not worth retrying.
fn refused_credentials(what: &str, e: Error) -> Error {
    let text = match &e {
        Error::Transport(t) => t.message().to_string(),
        other => other.to_string(),
    };
    Error::Auth(AuthError::refused(format!("{what}: {text}")).with_cause(e))
}

/// The builder's headers with the hook's, which replace those of the same name. The hook
/// gets the connect timeout; what it gives is checked, and never quoted.
async fn signed_headers(t: &Target, auth: &dyn Auth) -> Result<Vec<(HeaderName, HeaderValue)>> {
    let given = tokio::time::timeout(t.timeout, auth.headers())
        .await
        .map_err(|_| Error::Timeout {
            what: "signing in (the credentials hook)".into(),
            after: t.timeout,
        })?
        .map_err(Error::Auth)?;
    let mut headers = t.headers.clone();
    for (name, value) in given {
        let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            Error::Auth(AuthError::refused(format!(
                "the credentials hook gave a bad header name {name:?}"
            )))
        })?;
        let mut v = HeaderValue::from_str(&value).map_err(|_| {
            Error::Auth(AuthError::refused(format!(
                "the credentials hook gave a bad value for header {n}"
            )))
        })?;
        v.set_sensitive(true);
        headers.retain(|(h, _)| *h != n);
        headers.push((n, v));
    }
    Ok(headers)
}

/// Why one upgrade failed: a 401 (the credentials), or anything else.
enum Failed {
    Unauthorized(Error),
    Other(Error),
}

/// TCP, TLS and the WebSocket upgrade with `headers`, within the connect timeout.
async fn upgrade(
    t: &Target,
    headers: &[(HeaderName, HeaderValue)],
) -> std::result::Result<Box<dyn Transport>, Failed> {
    let mut unauthorized = false;
    let open = async {
        let tcp = TcpStream::connect((t.host.as_str(), t.port))
            .await
            .map_err(|e| {
                Error::Transport(TransportError::with_cause(
                    format!("cannot reach {}:{}: {e}", t.host, t.port),
                    e,
                ))
            })?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = match &t.tls {
            None => Box::new(tcp),
            #[cfg(feature = "rustls")]
            Some(tls) => {
                let name =
                    rustls::pki_types::ServerName::try_from(t.host.clone()).map_err(|e| {
                        Error::Config(ConfigError::with_cause(
                            format!("{:?} is no TLS server name: {e}", t.host),
                            e,
                        ))
                    })?;
                let stream = tls.connect(name, tcp).await.map_err(|e| {
                    let text = e.to_string();
                    Error::Transport(TransportError::with_cause(
                        format!(
                            "TLS handshake with {} failed: {text}{}",
                            t.redacted,
                            tls_hint(&text)
                        ),
                        crate::error::io_cause(e),
                    ))
                })?;
                Box::new(stream)
            }
            #[cfg(not(feature = "rustls"))]
            Some(never) => match *never {},
        };
        // The WebSocket writes each frame as its own pieces (header, payload) in vectored
        // writes of at most 64 of them: pipelined calls cost a write per 32 frames, and a
        // TLS record per piece. Gathered in one buffer first, a turn of the connection task
        // is one write (qixbench `pipeline`: half the write system calls). Reads go through
        // a buffer too: the WebSocket's own asks for what is left of its 8 KiB, so a burst
        // of answers took two reads where one does (strace of `pipeline`).
        let io: Box<dyn Io> = Box::new(tokio::io::BufStream::with_capacity(
            READ_BUFFER,
            WRITE_BUFFER,
            io,
        ));
        let config = tokio_websockets::Config::default().flush_threshold(WRITE_BUFFER);
        let mut builder = tokio_websockets::ClientBuilder::from_uri(t.uri.clone())
            .limits(t.limits)
            .config(config);
        for (name, value) in headers {
            builder = builder
                .add_header(name.clone(), value.clone())
                .map_err(|e| {
                    Error::Config(ConfigError::with_cause(
                        format!("header {name} cannot be set on a WebSocket upgrade: {e}"),
                        e,
                    ))
                })?;
        }
        let (ws, _response) = builder.connect_on(io).await.map_err(|e| {
            unauthorized = matches!(
                e,
                tokio_websockets::Error::Upgrade(
                    tokio_websockets::upgrade::Error::DidNotSwitchProtocols(401)
                )
            );
            let text = e.to_string();
            Error::Transport(TransportError::with_cause(
                format!(
                    "WebSocket handshake with {} failed: {text}{}{}",
                    t.redacted,
                    upgrade_hint(&e),
                    // TLS 1.3 reports a refused client certificate at the first read.
                    tls_hint(&text)
                ),
                ws_cause(e),
            ))
        })?;
        Ok::<_, Error>(ws)
    };
    // Boxed: the TCP, TLS and WebSocket handshake state is large, and inline it would
    // make every future that awaits `connect` that big (and moved that much).
    let ws = tokio::time::timeout(t.timeout, Box::pin(open))
        .await
        .map_err(|_| {
            Failed::Other(Error::Timeout {
                what: format!("connecting to {}", t.redacted),
                after: t.timeout,
            })
        })?;
    match ws {
        Ok(ws) => Ok(Box::new(WsTransport::new(ws))),
        Err(e) if unauthorized => Err(Failed::Unauthorized(e)),
        Err(e) => Err(Failed::Other(e)),
    }
}

/// What an HTTP status instead of the upgrade means for an engine.
fn upgrade_hint(e: &tokio_websockets::Error) -> &'static str {
    match e {
        tokio_websockets::Error::Upgrade(
            tokio_websockets::upgrade::Error::DidNotSwitchProtocols(status),
        ) => match status {
            401 => " (not signed in: check the bearer token or API key)",
            403 => " (forbidden: the user may not open this app or use this engine)",
            404 => " (no engine or app at this path: check the URL and any virtual proxy prefix)",
            _ => "",
        },
        _ => "",
    }
}

/// What to do about a TLS failure whose rustls text names only the alert. Alerts are what
/// the server said; failures to verify the server's certificate are reported locally
/// (`invalid peer certificate: …`) and need no hint.
pub(crate) fn tls_hint(message: &str) -> &'static str {
    const REJECTED: &[&str] = &[
        "UnknownCA",
        "BadCertificate",
        "CertificateUnknown",
        "CertificateExpired",
        "CertificateRevoked",
        "UnsupportedCertificate",
    ];
    if !message.contains("received fatal alert") {
        ""
    } else if message.contains("CertificateRequired") {
        " (the server requires a client certificate: SessionBuilder::client_certificate)"
    } else if REJECTED.iter().any(|a| message.contains(a)) {
        " (the server rejected the client certificate)"
    } else {
        ""
    }
}
