//! [`FakeTenant`]: a Qlik Cloud tenant on loopback, for testing sign-in — its OAuth token
//! endpoint and, on the same port, the engine (a [`MockEngine`]) behind a gate that lets
//! only upgrades with a token it issued, unexpired, through.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use super::MockEngine;

/// The largest request head or body read.
const MAX_REQUEST: usize = 64 << 10;

/// A fake Qlik Cloud tenant on `127.0.0.1` (TLS for `localhost` with
/// [`FakeTenant::start_tls`]). On one port it serves:
///
/// - `POST /oauth/token`: OAuth client credentials (form-encoded `grant_type`,
///   `client_id`, `client_secret`) for the clients [`add_client`](Self::add_client)
///   registered; a token lives [`token_lifetime`](Self::token_lifetime) (default 1 h,
///   told as `expires_in`). A wrong client or secret gets `401 {"error":"invalid_client"}`;
///   [`answer_next`](Self::answer_next) and [`answer_all`](Self::answer_all) script
///   other answers (an endpoint that is down, a 503, garbage);
/// - every other request is a WebSocket upgrade for the engine: with `Authorization:
///   Bearer <a token it issued and that has not expired>` it is passed on to the
///   [`MockEngine`] (which records it in [`MockEngine::connections`]), else it is
///   answered `401 Unauthorized` and counted ([`refused_upgrades`](Self::refused_upgrades)).
///
/// The secret a client sent is never kept: [`TokenRequest::secret_ok`] says whether it
/// was right.
///
/// ```no_run
/// # async fn demo() -> qix_runtime::Result<()> {
/// use qix_runtime::testing::{FakeTenant, MockEngine};
/// let mock = MockEngine::start().await;
/// let tenant = FakeTenant::start(&mock).await;
/// tenant.add_client("my-client", "my-secret");
/// let session = qix_runtime::Session::builder(tenant.url())
///     .client_credentials("my-client", "my-secret")   // http://127.0.0.1:<port>/oauth/token
///     .connect()
///     .await?;
/// assert_eq!(tenant.token_requests().len(), 1);
/// # let _ = session; Ok(()) }
/// ```
pub struct FakeTenant {
    addr: SocketAddr,
    tls: bool,
    shared: Arc<Shared>,
    accept: AbortHandle,
}

/// A scripted answer of the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenAnswer {
    /// An HTTP answer with this status and body (`Content-Type: application/json` when
    /// the body parses as JSON, else `text/plain`).
    Http(u16, String),
    /// The connection is closed without an answer (an endpoint that is down).
    Drop,
    /// No answer: the connection stays open, silent, for a minute (an endpoint that
    /// hangs).
    Hang,
}

/// A request the token endpoint received.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub at: Instant,
    pub method: String,
    pub content_type: Option<String>,
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    /// Whether `client_secret` was the registered client's (the secret is not kept).
    pub secret_ok: bool,
}

struct Shared {
    engine: SocketAddr,
    state: Mutex<State>,
}

struct State {
    clients: Vec<(String, String)>,
    lifetime: Duration,
    next: VecDeque<TokenAnswer>,
    all: Option<TokenAnswer>,
    issued: Vec<(String, Instant)>,
    requests: Vec<TokenRequest>,
    refused: usize,
    serial: u64,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FakeTenant {
    /// A tenant over plain HTTP and `ws://`, in front of `engine`.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start(engine: &MockEngine) -> FakeTenant {
        Self::start_with(engine, None).await
    }

    /// A tenant over HTTPS and `wss://` (`config` holds a certificate for `localhost`),
    /// in front of `engine`.
    #[cfg(feature = "rustls")]
    pub async fn start_tls(engine: &MockEngine, config: rustls::ServerConfig) -> FakeTenant {
        Self::start_with(
            engine,
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
        )
        .await
    }

    async fn start_with(engine: &MockEngine, tls: Option<Acceptor>) -> FakeTenant {
        let listener = match TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await {
            Ok(l) => l,
            Err(e) => panic!("the fake tenant cannot listen on 127.0.0.1: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => panic!("the fake tenant has no address: {e}"),
        };
        let shared = Arc::new(Shared {
            engine: engine.addr(),
            state: Mutex::new(State {
                clients: Vec::new(),
                lifetime: Duration::from_secs(3600),
                next: VecDeque::new(),
                all: None,
                issued: Vec::new(),
                requests: Vec::new(),
                refused: 0,
                serial: 0,
            }),
        });
        let secure = tls.is_some();
        let accept = tokio::spawn(accept_loop(listener, shared.clone(), tls)).abort_handle();
        FakeTenant {
            addr,
            tls: secure,
            shared,
            accept,
        }
    }

    fn host(&self) -> String {
        if self.tls {
            format!("localhost:{}", self.addr.port())
        } else {
            self.addr.to_string()
        }
    }

    /// The engine URL, `ws://127.0.0.1:<port>/app/` (`wss://localhost:<port>/app/`).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}/app/", self.host())
    }

    /// `http://127.0.0.1:<port>/oauth/token` (`https://localhost:<port>/oauth/token`).
    pub fn token_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}/oauth/token", self.host())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Registers an OAuth client.
    pub fn add_client(&self, id: &str, secret: &str) -> &Self {
        lock(&self.shared.state)
            .clients
            .push((id.to_string(), secret.to_string()));
        self
    }

    /// How long tokens issued from now on live (told as `expires_in`, whole seconds, and
    /// enforced at the gate).
    pub fn token_lifetime(&self, lifetime: Duration) -> &Self {
        lock(&self.shared.state).lifetime = Duration::from_secs(lifetime.as_secs());
        self
    }

    /// The next token request gets `answer` (queued: one per call).
    pub fn answer_next(&self, answer: TokenAnswer) -> &Self {
        lock(&self.shared.state).next.push_back(answer);
        self
    }

    /// Every token request gets `answer` until `None` (queued answers go first).
    pub fn answer_all(&self, answer: Option<TokenAnswer>) -> &Self {
        lock(&self.shared.state).all = answer;
        self
    }

    /// Every request the token endpoint received, in order.
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        lock(&self.shared.state).requests.clone()
    }

    /// The tokens issued, in order.
    pub fn issued(&self) -> Vec<String> {
        lock(&self.shared.state)
            .issued
            .iter()
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// Revokes every token issued so far: upgrades with them are refused from now on.
    pub fn revoke_tokens(&self) {
        let now = Instant::now();
        for (_, expires) in &mut lock(&self.shared.state).issued {
            *expires = now;
        }
    }

    /// How many upgrades were refused (401) for want of a valid token.
    pub fn refused_upgrades(&self) -> usize {
        lock(&self.shared.state).refused
    }
}

impl Drop for FakeTenant {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl fmt::Debug for FakeTenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.shared.state);
        f.debug_struct("FakeTenant")
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .field("clients", &state.clients.len())
            .field("token_requests", &state.requests.len())
            .field("refused_upgrades", &state.refused)
            .finish()
    }
}

#[cfg(feature = "rustls")]
type Acceptor = tokio_rustls::TlsAcceptor;
#[cfg(not(feature = "rustls"))]
type Acceptor = std::convert::Infallible;

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, tls: Option<Acceptor>) {
    loop {
        let tcp = match listener.accept().await {
            Ok((s, _)) => s,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let shared = shared.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve(tcp, &shared).await,
                #[cfg(feature = "rustls")]
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(tcp).await {
                        serve(stream, &shared).await;
                    }
                }
                #[cfg(not(feature = "rustls"))]
                Some(never) => match never {},
            }
        });
    }
}

/// One request head: method, path, headers, and what was read past it.
struct Head {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    raw: Vec<u8>,
    after: Vec<u8>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Head> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_REQUEST {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let text = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Some(Head {
        method,
        path,
        headers,
        after: buf[end..].to_vec(),
        raw: buf[..end].to_vec(),
    })
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, shared: &Shared) {
    let Some(head) = read_head(&mut stream).await else {
        return;
    };
    if head.path.split('?').next() == Some("/oauth/token") {
        token(stream, head, shared).await;
    } else {
        gate(stream, head, shared).await;
    }
}

/// The engine's door: a valid token passes, anything else gets a 401.
async fn gate<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, head: Head, shared: &Shared) {
    let token = head
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let valid = {
        let mut state = lock(&shared.state);
        let now = Instant::now();
        let ok = token.is_some_and(|t| {
            state
                .issued
                .iter()
                .any(|(issued, expires)| *issued == t && now < *expires)
        });
        if !ok {
            state.refused += 1;
        }
        ok
    };
    if !valid {
        let _ = stream
            .write_all(
                b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .await;
        let _ = stream.shutdown().await;
        return;
    }
    let Ok(mut engine) = TcpStream::connect(shared.engine).await else {
        return;
    };
    if engine.write_all(&head.raw).await.is_err() || engine.write_all(&head.after).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut stream, &mut engine).await;
}

/// The token endpoint.
async fn token<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, head: Head, shared: &Shared) {
    let length = head
        .header("content-length")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(0)
        .min(MAX_REQUEST);
    let mut body = head.after.clone();
    let mut chunk = [0u8; 4096];
    while body.len() < length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    let form = form_fields(&body);
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let answer = {
        let mut state = lock(&shared.state);
        let client_id = field("client_id");
        let secret = field("client_secret");
        let known = state
            .clients
            .iter()
            .find(|(id, _)| Some(id) == client_id.as_ref())
            .map(|(_, s)| s.clone());
        let secret_ok = known.is_some() && known == secret;
        let content_type = head.header("content-type").map(str::to_string);
        let grant_type = field("grant_type");
        state.requests.push(TokenRequest {
            at: Instant::now(),
            method: head.method.clone(),
            content_type: content_type.clone(),
            grant_type: grant_type.clone(),
            client_id,
            secret_ok,
        });
        if let Some(a) = state.next.pop_front().or_else(|| state.all.clone()) {
            a
        } else if head.method != "POST"
            || content_type.as_deref() != Some("application/x-www-form-urlencoded")
        {
            TokenAnswer::Http(
                400,
                r#"{"error":"invalid_request","error_description":"POST a form"}"#.into(),
            )
        } else if grant_type.as_deref() != Some("client_credentials") {
            TokenAnswer::Http(400, r#"{"error":"unsupported_grant_type"}"#.into())
        } else if !secret_ok {
            TokenAnswer::Http(
                401,
                r#"{"error":"invalid_client","error_description":"Client authentication failed"}"#
                    .into(),
            )
        } else {
            state.serial += 1;
            let token = format!(
                "tok-{}-{:08x}",
                state.serial,
                crate::reconnect::unit_random().to_bits() as u32
            );
            let lifetime = state.lifetime;
            state
                .issued
                .push((token.clone(), Instant::now() + lifetime));
            TokenAnswer::Http(
                200,
                serde_json::json!({
                    "access_token": token,
                    "token_type": "bearer",
                    "expires_in": lifetime.as_secs(),
                })
                .to_string(),
            )
        }
    };
    match answer {
        TokenAnswer::Drop => {}
        TokenAnswer::Hang => tokio::time::sleep(Duration::from_secs(60)).await,
        TokenAnswer::Http(status, body) => {
            let kind = if serde_json::from_str::<serde_json::Value>(&body).is_ok() {
                "application/json"
            } else {
                "text/plain"
            };
            let text = format!(
                "HTTP/1.1 {status} {}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                reason(status),
                body.len()
            );
            let _ = stream.write_all(text.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// `application/x-www-form-urlencoded` fields.
fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_are_decoded() {
        assert_eq!(
            form_fields(
                b"grant_type=client_credentials&client_id=a%2Bb&client_secret=x+y%25z&flag"
            ),
            vec![
                ("grant_type".to_string(), "client_credentials".to_string()),
                ("client_id".to_string(), "a+b".to_string()),
                ("client_secret".to_string(), "x y%z".to_string()),
                ("flag".to_string(), String::new()),
            ]
        );
        assert_eq!(decode("%4"), "%4");
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(decode("%41"), "A");
    }
}
