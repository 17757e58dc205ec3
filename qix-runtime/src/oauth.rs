//! OAuth client credentials (machine-to-machine sign-in to Qlik Cloud), feature `http`:
//! `POST <tenant>/oauth/token` with `grant_type=client_credentials` and the client's id
//! and secret, form-encoded (RFC 6749 §4.4); the answer's `access_token` is the bearer.
//!
//! Tokens are cached until `refresh_margin` (60 s) before their `expires_in`, and fetched
//! under a lock: sessions sharing one [`ClientCredentials`] that connect at once make one
//! request. A token without `expires_in` is used for one connection and not kept.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use serde_json::Value;
use tracing::Instrument;

use crate::auth::{Auth, AuthHeaders};
use crate::builder::TlsOptions;
use crate::error::{AuthError, Error};
use crate::redact::REDACTED;

/// The path of Qlik Cloud's token endpoint.
pub const TOKEN_PATH: &str = "/oauth/token";

/// The largest token answer read (they are well under 4 KiB).
const MAX_ANSWER: usize = 64 << 10;

/// How much of an endpoint's error text is quoted.
const QUOTE: usize = 200;

/// A Qlik Cloud OAuth client (client credentials) as a credentials hook: asked before
/// every connection attempt, it gives `Authorization: Bearer <access token>`, fetching a
/// new token when the cached one is within [`refresh_margin`](Self::refresh_margin) of
/// its expiry. Share one (`Arc`) between the sessions of a service so that they share its
/// token.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use qix_runtime::{ClientCredentials, Reconnect, Session};
/// # async fn run(id: String, secret: String) -> qix_runtime::Result<()> {
/// let engine = "wss://tenant.eu.qlikcloud.com/app/7f3c";
/// let auth = Arc::new(ClientCredentials::for_engine(engine, id, secret)?);
/// let session = Session::builder(engine)
///     .auth(auth.clone())
///     .reconnect(Reconnect::default())  // each reconnection asks `auth` again
///     .connect()
///     .await?;
/// # let _ = session; Ok(()) }
/// ```
///
/// Failures are [`AuthError`]s that name the token URL and the client id (never the
/// secret): retryable when the endpoint cannot be reached, times out or answers HTTP 5xx,
/// 429 or 408; not retryable when it refuses the client (400, 401, 403), answers any
/// other status, or answers something that is not a token.
pub struct ClientCredentials {
    token_url: String,
    client_id: String,
    client_secret: String,
    tls: TlsOptions,
    timeout: Duration,
    margin: Duration,
    state: tokio::sync::Mutex<State>,
    /// The engine refused a token of this client: the cached one is not to be used.
    stale: AtomicBool,
}

#[derive(Default)]
struct State {
    client: Option<reqwest::Client>,
    token: Option<Token>,
}

struct Token {
    access: String,
    fresh_until: Instant,
}

impl ClientCredentials {
    /// A client that gets its tokens from `token_url` (`https://<tenant>/oauth/token`;
    /// plain `http://` only on a loopback host: the secret travels in the body).
    pub fn new(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        ClientCredentials {
            token_url: token_url.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            tls: TlsOptions::default(),
            timeout: Duration::from_secs(30),
            margin: Duration::from_secs(60),
            state: tokio::sync::Mutex::new(State::default()),
            stale: AtomicBool::new(false),
        }
    }

    /// A client of the tenant an engine URL names: the token URL is
    /// [`token_url_for`](Self::token_url_for) it.
    pub fn for_engine(
        engine_url: &str,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> crate::Result<Self> {
        Ok(Self::new(
            Self::token_url_for(engine_url)?,
            client_id,
            client_secret,
        ))
    }

    /// The token URL of an engine URL: same host and port, `/oauth/token`, `wss`/`https`
    /// → `https` and `ws`/`http` → `http` (local test setups). The path (an app, a
    /// virtual proxy prefix) is not part of it.
    ///
    /// ```
    /// # use qix_runtime::ClientCredentials;
    /// assert_eq!(
    ///     ClientCredentials::token_url_for("wss://tenant.eu.qlikcloud.com/app/7f3c").unwrap(),
    ///     "https://tenant.eu.qlikcloud.com/oauth/token"
    /// );
    /// assert_eq!(
    ///     ClientCredentials::token_url_for("ws://127.0.0.1:9076/app/").unwrap(),
    ///     "http://127.0.0.1:9076/oauth/token"
    /// );
    /// ```
    pub fn token_url_for(engine_url: &str) -> crate::Result<String> {
        let bad = |why: &str| {
            Error::Config(
                format!(
                    "no token URL from engine URL {:?}: {why}",
                    crate::builder::redact_url(engine_url)
                )
                .into(),
            )
        };
        let uri: http::Uri = engine_url.parse().map_err(|_| bad("not a URL"))?;
        let scheme = match uri.scheme_str() {
            Some("wss" | "https") => "https",
            Some("ws" | "http") => "http",
            _ => return Err(bad("use ws://, wss://, http:// or https://")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("user info in the URL"));
        }
        Ok(format!("{scheme}://{authority}{TOKEN_PATH}"))
    }

    /// TLS for an `https` token URL: extra roots, a client certificate, insecure mode
    /// (default: the system's roots). [`SessionBuilder::client_credentials`](crate::SessionBuilder::client_credentials)
    /// uses the session's.
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = tls;
        self
    }

    /// How long one token request may take, connecting included (default 30 s).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// How long before its expiry a token is replaced (default 60 s): a token is not
    /// handed to a connection that could outlive it by less than this.
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn token_url(&self) -> &str {
        &self.token_url
    }

    /// An access token: the cached one while it is fresh, else a new one from the
    /// endpoint. Callers at the same time wait for one request.
    pub async fn access_token(&self) -> Result<String, AuthError> {
        let mut state = self.state.lock().await;
        if self.stale.swap(false, Ordering::AcqRel) {
            state.token = None;
        }
        if let Some(t) = &state.token {
            if Instant::now() < t.fresh_until {
                return Ok(t.access.clone());
            }
        }
        state.token = None;
        let span = tracing::info_span!(target: "qix", "qix.token", token_url = %self.shown_url(), client_id = %self.client_id);
        let (access, fresh_until) = self.fetch(&mut state).instrument(span).await?;
        if let Some(fresh_until) = fresh_until {
            state.token = Some(Token {
                access: access.clone(),
                fresh_until,
            });
        }
        Ok(access)
    }

    /// One token request: the token, and until when it may be handed out (`None`: not to
    /// be kept).
    async fn fetch(&self, state: &mut State) -> Result<(String, Option<Instant>), AuthError> {
        let secure = self.check_url()?;
        let client = match &state.client {
            Some(c) => c.clone(),
            None => {
                // The client's own limit is a backstop: the request's limit below is
                // the one that speaks.
                let backstop = self.timeout + Duration::from_secs(1);
                let c = crate::http::client(secure, &self.tls, backstop).map_err(|e| {
                    self.fail(false, format!("cannot set up the HTTP client: {e}"))
                        .with_cause(e)
                })?;
                state.client = Some(c.clone());
                c
            }
        };
        let asked = Instant::now();
        let request = client
            .post(&self.token_url)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.client_secret.as_str()),
            ]);
        let exchange = async {
            let mut response = request.send().await.map_err(crate::http::transport_error)?;
            let status = response.status();
            let body = crate::http::read_capped(&mut response, MAX_ANSWER).await;
            Ok::<_, Error>((status, response.headers().clone(), body))
        };
        let (status, headers, body) = match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => {
                return Err(self.fail(true, format!("no answer within {:?}", self.timeout)));
            }
            Ok(Err(e)) => {
                let text = match &e {
                    Error::Transport(t) => t.message().to_string(),
                    other => other.to_string(),
                };
                return Err(self.fail(true, text).with_cause(e));
            }
            Ok(Ok(answer)) => answer,
        };
        if status != reqwest::StatusCode::OK {
            return Err(self.refusal(status, &headers, body.ok().as_deref()));
        }
        let body = body.map_err(|e| self.fail(false, e.to_string()).with_cause(e))?;
        let (access, expires_in) = self.parse(&body)?;
        let fresh_until = expires_in
            .and_then(|life| life.checked_sub(self.margin))
            .filter(|d| !d.is_zero())
            .and_then(|d| asked.checked_add(d));
        tracing::debug!(target: "qix", expires_in = expires_in.map(|d| d.as_secs()), cached = fresh_until.is_some(), "fetched an access token");
        Ok((access, fresh_until))
    }

    /// Whether the token URL is `https` (`http` only to a loopback host).
    fn check_url(&self) -> Result<bool, AuthError> {
        let bad = |why: &str| self.fail(false, why.to_string());
        let url =
            reqwest::Url::parse(&self.token_url).map_err(|e| bad(&format!("not a URL: {e}")))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("user info in the token URL"));
        }
        match url.scheme() {
            "https" => Ok(true),
            "http" => {
                let host = url.host_str().unwrap_or_default();
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let loopback = host.eq_ignore_ascii_case("localhost")
                    || host
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback());
                if loopback {
                    Ok(false)
                } else {
                    Err(bad(
                        "plain http:// to a host other than this one would send the client secret in clear; use https://",
                    ))
                }
            }
            _ => Err(bad("use https://")),
        }
    }

    /// The access token and its lifetime from a `200 OK` answer.
    fn parse(&self, body: &[u8]) -> Result<(String, Option<Duration>), AuthError> {
        // Nothing of a body that may hold a token is quoted: only its shape.
        let json: Value = serde_json::from_slice(body).map_err(|e| {
            self.fail(
                false,
                format!("the answer is not JSON ({} bytes; {e})", body.len()),
            )
        })?;
        let Some(obj) = json.as_object() else {
            return Err(self.fail(false, "the answer is not a JSON object".into()));
        };
        let access = match obj.get("access_token") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(_) => {
                return Err(self.fail(false, "the answer's access_token is not a text".into()));
            }
            None => {
                let keys: Vec<&str> = obj.keys().map(String::as_str).take(10).collect();
                return Err(self.fail(
                    false,
                    format!(
                        "the answer has no access_token (it has: {})",
                        keys.join(", ")
                    ),
                ));
            }
        };
        if !access.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(self.fail(
                false,
                "the access_token holds characters a header cannot carry".into(),
            ));
        }
        match obj.get("token_type") {
            None => {}
            Some(Value::String(t)) if t.eq_ignore_ascii_case("bearer") => {}
            Some(other) => {
                return Err(self.fail(
                    false,
                    format!(
                        "the token_type is {}, not Bearer",
                        quote(&other.to_string(), &[&self.client_secret, &access])
                    ),
                ));
            }
        }
        let expires_in = match obj.get("expires_in") {
            None | Some(Value::Null) => None,
            Some(v) => Some(lifetime(v).ok_or_else(|| {
                self.fail(
                    false,
                    format!(
                        "the answer's expires_in is not a number of seconds: {}",
                        quote(&v.to_string(), &[&self.client_secret, &access])
                    ),
                )
            })?),
        };
        Ok((access, expires_in))
    }

    /// A non-200 answer: the status, the OAuth `error` and `error_description` (or the
    /// start of a text body).
    fn refusal(
        &self,
        status: reqwest::StatusCode,
        headers: &reqwest::header::HeaderMap,
        body: Option<&[u8]>,
    ) -> AuthError {
        let retryable = status.is_server_error()
            || status == reqwest::StatusCode::TOO_MANY_REQUESTS
            || status == reqwest::StatusCode::REQUEST_TIMEOUT;
        let mut text = format!("HTTP {status}");
        if status.is_redirection() {
            if let Some(to) = headers
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
            {
                text.push_str(&format!(" (to {})", quote(to, &[&self.client_secret])));
            }
        }
        let said = body.map(|b| self.said(b)).unwrap_or_default();
        if !said.is_empty() {
            text.push_str(": ");
            text.push_str(&said);
        }
        let hint = match status.as_u16() {
            400 | 401 | 403 => " (check the client id and secret)",
            404 | 405 => " (no token endpoint at this URL: check the token URL)",
            _ => "",
        };
        text.push_str(hint);
        self.fail(retryable, text)
    }

    /// What an error answer says: OAuth's `error` and `error_description`, else the start
    /// of the text.
    fn said(&self, body: &[u8]) -> String {
        let secret: &[&str] = &[&self.client_secret];
        if let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(body) {
            let field = |k: &str| o.get(k).and_then(Value::as_str).map(|s| quote(s, secret));
            return match (field("error"), field("error_description")) {
                (Some(e), Some(d)) => format!("{e} ({d})"),
                (Some(e), None) => e,
                (None, Some(d)) => d,
                (None, None) => String::new(),
            };
        }
        quote(&String::from_utf8_lossy(body), secret)
    }

    /// `token endpoint <url> for client id "<id>": <what>`.
    fn fail(&self, retryable: bool, what: String) -> AuthError {
        let message = format!(
            "token endpoint {} for client id {:?}: {what}",
            self.shown_url(),
            self.client_id
        );
        if retryable {
            AuthError::retryable(message)
        } else {
            AuthError::refused(message)
        }
    }

    fn shown_url(&self) -> String {
        crate::builder::redact_url(&self.token_url)
    }
}

/// `expires_in`: seconds as a number (an integer, or a float some servers send) or a text
/// of digits.
fn lifetime(v: &Value) -> Option<Duration> {
    let secs = match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f.min(u32::MAX as f64) as u64)
        })?,
        Value::String(s) => s.trim().parse::<u64>().ok()?,
        _ => return None,
    };
    // A century is as good as forever, and keeps `Instant` arithmetic in range.
    Some(Duration::from_secs(secs.min(100 * 365 * 86_400)))
}

/// At most [`QUOTE`] characters of `text`, one line, with `secrets` taken out (an
/// endpoint may echo what it was sent).
fn quote(text: &str, secrets: &[&str]) -> String {
    let mut t = text.trim().to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        t = t.replace(*s, REDACTED);
    }
    let mut out: String = t
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(QUOTE)
        .collect();
    if t.chars().count() > QUOTE {
        out.push('…');
    }
    out
}

impl Auth for ClientCredentials {
    fn headers(&self) -> BoxFuture<'_, Result<AuthHeaders, AuthError>> {
        Box::pin(async move {
            let token = self.access_token().await?;
            Ok(vec![(
                "Authorization".to_string(),
                format!("Bearer {token}"),
            )])
        })
    }

    fn refused(&self) {
        self.stale.store(true, Ordering::Release);
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = self.state.try_lock().map(|s| s.token.is_some()).ok();
        f.debug_struct("ClientCredentials")
            .field("token_url", &self.shown_url())
            .field("client_id", &self.client_id)
            .field("client_secret", &REDACTED)
            .field("tls", &self.tls)
            .field("timeout", &self.timeout)
            .field("refresh_margin", &self.margin)
            .field("token_cached", &cached)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_in_the_forms_servers_send() {
        use serde_json::json;
        assert_eq!(lifetime(&json!(3600)), Some(Duration::from_secs(3600)));
        assert_eq!(lifetime(&json!(3600.7)), Some(Duration::from_secs(3600)));
        assert_eq!(lifetime(&json!("300")), Some(Duration::from_secs(300)));
        assert_eq!(lifetime(&json!(-1)), None);
        assert_eq!(lifetime(&json!("soon")), None);
        assert_eq!(lifetime(&json!(true)), None);
        assert_eq!(
            lifetime(&json!(u64::MAX)),
            Some(Duration::from_secs(100 * 365 * 86_400))
        );
    }

    #[test]
    fn quotes_are_short_single_lines_without_secrets() {
        assert_eq!(
            quote("bad secret s3cr3t\nsent", &["s3cr3t"]),
            "bad secret <redacted> sent"
        );
        let long = "x".repeat(500);
        assert_eq!(quote(&long, &[]).chars().count(), QUOTE + 1);
        assert_eq!(quote("abc", &[""]), "abc");
    }

    #[test]
    fn token_urls_come_from_engine_urls() {
        let t = |u| ClientCredentials::token_url_for(u);
        assert_eq!(
            t("wss://t.example.com:8443/prefix/app/x?ticket=1").unwrap(),
            "https://t.example.com:8443/oauth/token"
        );
        assert_eq!(
            t("https://t.example.com").unwrap(),
            "https://t.example.com/oauth/token"
        );
        assert_eq!(
            t("ws://[::1]:9076/app/").unwrap(),
            "http://[::1]:9076/oauth/token"
        );
        assert!(t("ftp://x").is_err());
        assert!(t("wss://user:pw@x/app/").is_err());
        assert!(t("not a url").is_err());
    }

    #[test]
    fn plain_http_only_to_this_machine() {
        let check = |u: &str| ClientCredentials::new(u, "id", "secret").check_url();
        assert!(check("https://t.example.com/oauth/token").unwrap());
        assert!(!check("http://127.0.0.1:9/oauth/token").unwrap());
        assert!(!check("http://localhost:9/oauth/token").unwrap());
        assert!(!check("http://[::1]:9/oauth/token").unwrap());
        let e = check("http://t.example.com/oauth/token").unwrap_err();
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("in clear"), "{e}");
        assert!(check("https://u:p@t.example.com/").is_err());
        assert!(check("ftp://t.example.com/").is_err());
    }
}
