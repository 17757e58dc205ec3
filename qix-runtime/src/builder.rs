//! Connecting: [`SessionBuilder`] opens a WebSocket (TLS with rustls), starts the session
//! and waits for the engine's `OnConnected`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::connection::Connector;
use crate::error::{ConfigError, Error, Result, TransportError, ws_cause};
use crate::intercept::Interceptor;
use crate::notification::SessionState;
use crate::reconnect::{Reconnect, RetryPolicy};
use crate::session::{Session, SessionOptions};
use crate::traffic::TrafficHook;
use crate::transport::{Transport, WsTransport};
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
    tls: TlsOptions,
    connect_timeout: Duration,
    on_connected_timeout: Option<Duration>,
    max_frame_size: Option<usize>,
    read_buffer_size: usize,
    options: SessionOptions,
}

impl Session {
    /// Starts configuring a session to `url` (`ws://` or `wss://`; see
    /// [`EngineUrl`](crate::EngineUrl) for the engine's URL forms).
    pub fn builder(url: impl Into<String>) -> SessionBuilder {
        SessionBuilder {
            url: url.into(),
            headers: Vec::new(),
            tls: TlsOptions::default(),
            connect_timeout: Duration::from_secs(30),
            on_connected_timeout: Some(Duration::from_secs(10)),
            max_frame_size: Some(256 << 20),
            // tungstenite reads into a buffer of this size per connection; its default
            // (128 KiB) dominates the memory of an idle session.
            read_buffer_size: 8 * 1024,
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

    /// tungstenite's read buffer per connection (default 8 KiB; larger frames still work).
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = bytes.max(1024);
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
        let mut request = self.url.as_str().into_client_request().map_err(|e| {
            Error::Config(ConfigError::with_cause(
                format!("bad engine URL {:?}: {e}", self.url),
                e,
            ))
        })?;
        for (name, value) in &self.headers {
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|e| {
                Error::Config(ConfigError::with_cause(
                    format!("bad header name {name:?}: {e}"),
                    e,
                ))
            })?;
            let v = HeaderValue::from_str(value).map_err(|e| {
                Error::Config(ConfigError::with_cause(
                    format!("bad value for header {name}: {e}"),
                    e,
                ))
            })?;
            request.headers_mut().append(n, v);
        }
        let uri = request.uri().clone();
        let host = uri
            .host()
            .ok_or_else(|| Error::Config(format!("engine URL {:?} has no host", self.url).into()))?
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
                        self.url
                    )
                    .into(),
                ));
            }
        };
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let mut config = WebSocketConfig::default();
        config.read_buffer_size = self.read_buffer_size;
        config.max_message_size = self.max_frame_size;
        config.max_frame_size = self.max_frame_size;

        let tls = if secure {
            Some(self.tls_connector()?)
        } else {
            None
        };
        let timeout = self.connect_timeout;
        let redacted = redact_url(&self.url);
        let connector: Connector = Arc::new(move || {
            let (request, host, tls, redacted) =
                (request.clone(), host.clone(), tls.clone(), redacted.clone());
            Box::pin(open(request, host, port, config, tls, timeout, redacted))
        });
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

    #[cfg(feature = "rustls")]
    fn tls_connector(&self) -> Result<tokio_tungstenite::Connector> {
        crate::tls::connector(&self.tls).map(tokio_tungstenite::Connector::Rustls)
    }

    #[cfg(not(feature = "rustls"))]
    fn tls_connector(&self) -> Result<tokio_tungstenite::Connector> {
        Err(Error::Config(
            "wss:// needs the `rustls` feature of qix-runtime".into(),
        ))
    }
}

impl std::fmt::Debug for SessionBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values are credentials (bearer tokens, cookies): never print them.
        let headers: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("SessionBuilder")
            .field("url", &redact_url(&self.url))
            .field("headers", &headers)
            .field("tls", &self.tls)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// The URL without a query string (which may carry tickets) or user info.
fn redact_url(url: &str) -> String {
    let url = &*crate::redact::connection_string(url);
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?<redacted>"),
        None => url.to_string(),
    }
}

/// Opens one WebSocket: TCP, TLS, upgrade, within `timeout`.
async fn open(
    request: tokio_tungstenite::tungstenite::handshake::client::Request,
    host: String,
    port: u16,
    config: WebSocketConfig,
    tls: Option<tokio_tungstenite::Connector>,
    timeout: Duration,
    redacted: String,
) -> Result<Box<dyn Transport>> {
    let open = async {
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| {
                Error::Transport(TransportError::with_cause(
                    format!("cannot reach {host}:{port}: {e}"),
                    e,
                ))
            })?;
        let _ = tcp.set_nodelay(true);
        #[cfg(feature = "rustls")]
        let handshake =
            tokio_tungstenite::client_async_tls_with_config(request, tcp, Some(config), tls);
        // Without a TLS feature tokio-tungstenite has no TLS entry point; `wss://` was
        // refused when the builder connected, so the stream is plain.
        #[cfg(not(feature = "rustls"))]
        let handshake = {
            let _ = tls;
            tokio_tungstenite::client_async_with_config(
                request,
                MaybeTlsStream::Plain(tcp),
                Some(config),
            )
        };
        handshake.await.map_err(|e| {
            let text = e.to_string();
            Error::Transport(TransportError::with_cause(
                format!(
                    "WebSocket handshake with {redacted} failed: {text}{}",
                    tls_hint(&text)
                ),
                ws_cause(e),
            ))
        })
    };
    // Boxed: the TCP, TLS and WebSocket handshake state is ~10 KB, and inline it would
    // make every future that awaits `connect` that big (and moved that much).
    let (ws, _response) = tokio::time::timeout(timeout, Box::pin(open))
        .await
        .map_err(|_| Error::Timeout {
            what: format!("connecting to {redacted}"),
            after: timeout,
        })??;
    let transport: WsTransport<MaybeTlsStream<TcpStream>> = WsTransport::new(ws);
    Ok(Box::new(transport))
}

/// What to do about a TLS failure whose rustls text names only the alert. Alerts are what
/// the server said; failures to verify the server's certificate are reported locally
/// (`invalid peer certificate: …`) and need no hint.
fn tls_hint(message: &str) -> &'static str {
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
