//! Signing in: the credentials hook asked before every connection attempt, OAuth client
//! credentials against a fake tenant (its token endpoint over HTTPS with a test CA, and a
//! door in front of the mock engine that refuses expired tokens), how failures of each
//! kind end or retry, Qlik Sense Enterprise's ways (virtual proxy prefix, header
//! authentication, JWT), and secrets kept out of everything printed or recorded.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{LIMIT, call, wait_resumed};
use qix_runtime::testing::{FakeTenant, MockEngine, TokenAnswer, within};
use qix_runtime::{
    AuthError, ClientCredentials, EngineUrl, Error, JsonLinesLog, Reconnect, Session,
    SessionBuilder, TlsOptions,
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use serde_json::json;

const CLIENT: &str = "svc-reports";
const SECRET: &str = "cs-8Hv2Qp5Lz";

/// A test CA and a `localhost` certificate it signed: the server's config, and the CA's
/// PEM file for the client to trust.
struct Ca {
    root: PathBuf,
    server: rustls::ServerConfig,
}

fn ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "qix test CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let dir = std::env::temp_dir().join(format!("qix-auth-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let root = dir.join("root.pem");
    std::fs::write(&root, issuer.pem()).unwrap();
    let der = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        key.serialize_der(),
    ));
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone(), issuer.der().clone()], der)
    .unwrap();
    Ca { root, server }
}

fn trusting(ca: &Ca) -> TlsOptions {
    TlsOptions {
        extra_roots: vec![ca.root.clone()],
        no_system_roots: true,
        ..Default::default()
    }
}

/// A mock engine that answers `EngineVersion`, and a TLS tenant in front of it.
async fn tls_tenant(name: &str) -> (MockEngine, FakeTenant, Ca) {
    let mock = MockEngine::start().await;
    mock.expect("EngineVersion")
        .returns(json!({"qVersion": {"qComponentVersion": "12.2528.0"}}));
    let ca = ca(name);
    let tenant = FakeTenant::start_tls(&mock, ca.server.clone()).await;
    tenant.add_client(CLIENT, SECRET);
    (mock, tenant, ca)
}

fn fast(max_attempts: u32) -> Reconnect {
    Reconnect {
        initial_delay: Duration::from_millis(50),
        max_delay: Duration::from_secs(1),
        multiplier: 2.0,
        jitter: 0.0,
        max_attempts,
        max_elapsed: Duration::from_secs(15),
        stable_after: Duration::from_millis(200),
    }
}

fn bounded(url: impl Into<String>) -> SessionBuilder {
    Session::builder(url)
        .connect_timeout(Duration::from_secs(5))
        .on_connected_timeout(Some(Duration::from_secs(5)))
}

async fn version(session: &Session) -> qix_runtime::Result<serde_json::Value> {
    call(
        &session.global_object(),
        "EngineVersion",
        json!({}),
        Some(Duration::from_secs(10)),
    )
    .await
}

/// Waits until the session noticed the drop (so a call made next waits for the next
/// connection instead of going out on the dead one).
async fn suspended(notes: &mut qix_runtime::BroadcastStream<qix_runtime::Notification>) {
    while let Some(n) = notes.next_item().await {
        if let Ok(qix_runtime::Notification::Suspended { .. }) = n {
            return;
        }
    }
    panic!("the session ended without a word");
}

fn bearer_of(c: &qix_runtime::testing::ConnectionInfo) -> String {
    c.header("authorization")
        .unwrap_or_default()
        .trim_start_matches("Bearer ")
        .to_string()
}

#[tokio::test]
async fn a_token_that_expires_between_connections_is_fetched_again_for_the_reconnection() {
    within(LIMIT, "expiry", async {
        let (mock, tenant, ca) = tls_tenant("expiry").await;
        tenant.token_lifetime(Duration::from_secs(2));
        let auth = Arc::new(
            ClientCredentials::new(tenant.token_url(), CLIENT, SECRET)
                .tls(trusting(&ca))
                .refresh_margin(Duration::from_millis(500)),
        );
        let session = bounded(tenant.url())
            .auth(auth.clone())
            .root_certificate(&ca.root)
            .reconnect(fast(5))
            .connect()
            .await
            .unwrap();
        version(&session).await.unwrap();
        // The first token has expired (the door would refuse it) when the connection drops.
        tokio::time::sleep(Duration::from_millis(2300)).await;
        let mut notes = session.notifications();
        mock.drop_connections();
        suspended(&mut notes).await;
        // A call made during the outage goes out on the new connection.
        let during = version(&session);
        let report = wait_resumed(&mut notes).await;
        during.await.expect("no call sees the expiry");
        version(&session).await.expect("nor after");
        assert_eq!(report.attempts, 1, "{report:?}");
        let issued = tenant.issued();
        assert_eq!(issued.len(), 2, "one token per connection: {issued:?}");
        assert_eq!(tenant.token_requests().len(), 2);
        assert_eq!(
            tenant.refused_upgrades(),
            0,
            "the expired token was never sent"
        );
        let seen: Vec<String> = mock.connections().iter().map(bearer_of).collect();
        assert_eq!(seen, issued, "each upgrade carried the token of its time");
    })
    .await;
}

#[tokio::test]
async fn the_builders_client_credentials_use_the_engines_host_and_tls_and_keep_the_token() {
    within(LIMIT, "builder", async {
        let (mock, tenant, ca) = tls_tenant("builder").await;
        // wss://localhost:<port>/app/ → https://localhost:<port>/oauth/token, trusted
        // through the session's extra root.
        let session = bounded(tenant.url())
            .root_certificate(&ca.root)
            .client_credentials(CLIENT, SECRET)
            .reconnect(fast(5))
            .connect()
            .await
            .unwrap();
        version(&session).await.unwrap();
        for _ in 0..2 {
            let mut notes = session.notifications();
            tokio::time::sleep(Duration::from_millis(250)).await;
            mock.drop_connections();
            wait_resumed(&mut notes).await;
            version(&session).await.unwrap();
        }
        let requests = tenant.token_requests();
        assert_eq!(requests.len(), 1, "a fresh token is kept: {requests:?}");
        let r = &requests[0];
        assert_eq!(r.method, "POST");
        assert_eq!(
            r.content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(r.grant_type.as_deref(), Some("client_credentials"));
        assert_eq!(r.client_id.as_deref(), Some(CLIENT));
        assert!(r.secret_ok);
        let seen: Vec<String> = mock.connections().iter().map(bearer_of).collect();
        assert_eq!(seen, vec![tenant.issued()[0].clone(); 3]);
        // Trusting another CA, the token endpoint is not trusted either.
        let e = bounded(tenant.url())
            .tls(trusting(&self::ca("builder-other")))
            .client_credentials(CLIENT, SECRET)
            .connect()
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "auth", "{e}");
        assert!(
            e.to_string()
                .contains("TLS handshake failed: invalid peer certificate"),
            "{e}"
        );
    })
    .await;
}

#[tokio::test]
async fn sessions_sharing_one_client_that_connect_at_once_fetch_one_token() {
    within(LIMIT, "stampede", async {
        let (mock, tenant, ca) = tls_tenant("stampede").await;
        let auth =
            Arc::new(ClientCredentials::new(tenant.token_url(), CLIENT, SECRET).tls(trusting(&ca)));
        let connects = (0..6).map(|_| {
            bounded(tenant.url())
                .root_certificate(&ca.root)
                .auth(auth.clone())
                .connect()
        });
        let sessions = futures_util::future::join_all(connects).await;
        assert!(sessions.iter().all(Result::is_ok));
        assert_eq!(tenant.token_requests().len(), 1);
        let seen: Vec<String> = mock.connections().iter().map(bearer_of).collect();
        assert_eq!(seen, vec![tenant.issued()[0].clone(); 6]);
    })
    .await;
}

#[tokio::test]
async fn a_refused_client_is_one_clear_error_naming_the_client_id_never_the_secret() {
    within(LIMIT, "refused", async {
        let (mock, tenant, ca) = tls_tenant("refused").await;
        let e = bounded(tenant.url())
            .root_certificate(&ca.root)
            .client_credentials(CLIENT, "not-the-secret-3Xw")
            .connect()
            .await
            .unwrap_err();
        let text = e.to_string();
        assert_eq!(
            text,
            format!(
                "sign-in failed: token endpoint {} for client id \"{CLIENT}\": HTTP 401 Unauthorized: invalid_client (Client authentication failed) (check the client id and secret)",
                tenant.token_url()
            )
        );
        assert!(matches!(&e, Error::Auth(a) if !a.is_retryable()), "{e:?}");
        assert!(!e.is_retryable());
        assert!(!format!("{e:?}").contains("not-the-secret-3Xw"));
        assert!(mock.connections().is_empty(), "no upgrade without a token");

        // Refused during a reconnection (the secret was rotated, the token revoked): the
        // session ends with that error, after one token request, instead of hammering.
        let session = bounded(tenant.url())
            .root_certificate(&ca.root)
            .client_credentials(CLIENT, SECRET)
            .reconnect(fast(8))
            .connect()
            .await
            .unwrap();
        version(&session).await.unwrap();
        let before = tenant.token_requests().len();
        tokio::time::sleep(Duration::from_millis(250)).await;
        tenant.revoke_tokens();
        tenant.answer_all(Some(TokenAnswer::Http(
            401,
            r#"{"error":"invalid_client"}"#.into(),
        )));
        let mut notes = session.notifications();
        mock.drop_connections();
        suspended(&mut notes).await;
        let e = version(&session).await.unwrap_err();
        assert!(matches!(&e, Error::Auth(a) if !a.is_retryable()), "{e:?}");
        assert!(e.to_string().contains(CLIENT), "{e}");
        assert_eq!(tenant.token_requests().len() - before, 1);
        assert_eq!(tenant.refused_upgrades(), 1, "the revoked token, once");
    })
    .await;
}

#[tokio::test]
async fn a_token_endpoint_that_is_down_is_retried_with_the_reconnection_backoff() {
    within(LIMIT, "down", async {
        let (mock, tenant, ca) = tls_tenant("down").await;
        // Tokens shorter-lived than the refresh margin are not kept: every connection asks.
        tenant.token_lifetime(Duration::from_secs(30));
        let session = bounded(tenant.url())
            .root_certificate(&ca.root)
            .client_credentials(CLIENT, SECRET)
            .reconnect(fast(6))
            .connect()
            .await
            .unwrap();
        version(&session).await.unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
        tenant.answer_next(TokenAnswer::Drop);
        tenant.answer_next(TokenAnswer::Http(503, "maintenance".into()));
        let mut notes = session.notifications();
        let dropped = Instant::now();
        mock.drop_connections();
        let report = wait_resumed(&mut notes).await;
        version(&session).await.unwrap();
        assert_eq!(report.attempts, 3, "{report:?}");
        let at: Vec<Duration> = tenant.token_requests()[1..]
            .iter()
            .map(|r| r.at - dropped)
            .collect();
        assert_eq!(at.len(), 3, "{at:?}");
        // The backoff: 50 ms, then 100 ms more, then 200 ms more (no jitter).
        assert!(at[0] >= Duration::from_millis(45), "{at:?}");
        assert!(at[1] - at[0] >= Duration::from_millis(95), "{at:?}");
        assert!(at[2] - at[1] >= Duration::from_millis(195), "{at:?}");

        // Down for good: the episode's budget is spent, and the last failure says why.
        tokio::time::sleep(Duration::from_millis(250)).await;
        tenant.answer_all(Some(TokenAnswer::Drop));
        let before = tenant.token_requests().len();
        mock.drop_connections();
        suspended(&mut notes).await;
        let e = version(&session).await.unwrap_err();
        let Error::ReconnectFailed { attempts, last, .. } = &e else {
            panic!("{e:?}");
        };
        assert_eq!(*attempts, 6);
        assert!(
            matches!(&**last, Error::Auth(a) if a.is_retryable()),
            "{last:?}"
        );
        assert!(last.to_string().contains(CLIENT), "{last}");
        assert_eq!(tenant.token_requests().len() - before, 6);
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_token_endpoint_is_a_retryable_error_naming_it() {
    within(LIMIT, "unreachable", async {
        let mock = MockEngine::start().await;
        // A port that was free a moment ago.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/oauth/token");
        let e = mock
            .session()
            .auth(Arc::new(ClientCredentials::new(&url, CLIENT, SECRET)))
            .connect()
            .await
            .unwrap_err();
        assert!(e.is_retryable(), "{e:?}");
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "sign-in failed: token endpoint {url} for client id \"{CLIENT}\": cannot connect"
            )),
            "{text}"
        );
        assert!(mock.connections().is_empty());
    })
    .await;
}

#[tokio::test]
async fn bad_token_answers_are_one_clear_error_each() {
    within(LIMIT, "bad answers", async {
        let mock = MockEngine::start().await;
        let tenant = FakeTenant::start(&mock).await;
        tenant.add_client(CLIENT, SECRET);
        let cases: Vec<(TokenAnswer, &str, bool)> = vec![
            (
                TokenAnswer::Http(200, "<html>login</html>".into()),
                "the answer is not JSON (18 bytes;",
                false,
            ),
            (
                TokenAnswer::Http(200, r#"{"token_type":"bearer","expires_in":3600}"#.into()),
                "the answer has no access_token (it has: expires_in, token_type)",
                false,
            ),
            (
                TokenAnswer::Http(200, r#"{"access_token":42}"#.into()),
                "the answer's access_token is not a text",
                false,
            ),
            (
                TokenAnswer::Http(200, r#"{"access_token":"a b"}"#.into()),
                "the access_token holds characters a header cannot carry",
                false,
            ),
            (
                TokenAnswer::Http(200, r#"{"access_token":"t","token_type":"mac"}"#.into()),
                "the token_type is \"mac\", not Bearer",
                false,
            ),
            (
                TokenAnswer::Http(200, r#"{"access_token":"t","expires_in":"soon"}"#.into()),
                "the answer's expires_in is not a number of seconds: \"soon\"",
                false,
            ),
            (
                TokenAnswer::Http(200, "[]".into()),
                "the answer is not a JSON object",
                false,
            ),
            (
                TokenAnswer::Http(404, "no such page".into()),
                "HTTP 404 Not Found: no such page (no token endpoint at this URL: check the token URL)",
                false,
            ),
            (
                TokenAnswer::Http(500, format!("oops, {SECRET} is wrong")),
                "HTTP 500 Internal Server Error: oops, <redacted> is wrong",
                true,
            ),
            (
                TokenAnswer::Http(429, "{}".into()),
                "HTTP 429 Too Many Requests",
                true,
            ),
            (TokenAnswer::Hang, "no answer within 300ms", true),
            (TokenAnswer::Drop, "", true),
        ];
        for (answer, says, retryable) in cases {
            tenant.answer_next(answer.clone());
            let auth = ClientCredentials::new(tenant.token_url(), CLIENT, SECRET)
                .timeout(Duration::from_millis(300));
            let started = Instant::now();
            let e = mock.session().auth(Arc::new(auth)).connect().await.unwrap_err();
            assert!(started.elapsed() < Duration::from_secs(3), "{answer:?} took long");
            let text = e.to_string();
            let prefix = format!(
                "sign-in failed: token endpoint {} for client id \"{CLIENT}\": ",
                tenant.token_url()
            );
            assert!(text.starts_with(&prefix), "{answer:?}: {text}");
            assert!(text[prefix.len()..].starts_with(says), "{answer:?}: {text}");
            assert_eq!(e.is_retryable(), retryable, "{answer:?}: {text}");
            assert!(!text.contains(SECRET) && !format!("{e:?}").contains(SECRET));
            assert_eq!(text.lines().count(), 1, "{text}");
        }
        assert!(mock.connections().is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_401_at_the_upgrade_asks_the_hook_again_once() {
    within(LIMIT, "401", async {
        let (mock, tenant, ca) = tls_tenant("401").await;
        let session = bounded(tenant.url())
            .root_certificate(&ca.root)
            .client_credentials(CLIENT, SECRET)
            .reconnect(fast(5))
            .connect()
            .await
            .unwrap();
        version(&session).await.unwrap();
        // The token was revoked before it expired: the door refuses it, the hook forgets
        // it and fetches another at once, in the same attempt.
        tokio::time::sleep(Duration::from_millis(250)).await;
        tenant.revoke_tokens();
        let mut notes = session.notifications();
        mock.drop_connections();
        let report = wait_resumed(&mut notes).await;
        version(&session).await.unwrap();
        assert_eq!(report.attempts, 1);
        assert_eq!(tenant.refused_upgrades(), 1);
        assert_eq!(tenant.token_requests().len(), 2);

        // A hook whose fresh credentials are refused too: final, after two upgrades.
        let asked = Arc::new(AtomicUsize::new(0));
        let counter = asked.clone();
        let hook = move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async {
                Ok(vec![(
                    "Authorization".to_string(),
                    "Bearer forged".to_string(),
                )])
            }
        };
        let e = bounded(tenant.url())
            .root_certificate(&ca.root)
            .auth(Arc::new(hook))
            .connect()
            .await
            .unwrap_err();
        assert!(matches!(&e, Error::Auth(a) if !a.is_retryable()), "{e:?}");
        assert!(
            e.to_string().starts_with(
                "sign-in failed: the engine refused fresh credentials: WebSocket handshake with"
            ),
            "{e}"
        );
        assert_eq!(asked.load(Ordering::SeqCst), 2);
        assert_eq!(tenant.refused_upgrades(), 3);
        // Without a hook the same headers would be refused again: final at once.
        let e = bounded(tenant.url())
            .root_certificate(&ca.root)
            .bearer("forged")
            .connect()
            .await
            .unwrap_err();
        assert!(matches!(&e, Error::Auth(a) if !a.is_retryable()), "{e:?}");
        assert!(
            e.to_string()
                .contains("(not signed in: check the bearer token or API key)"),
            "{e}"
        );
        assert_eq!(tenant.refused_upgrades(), 4);
    })
    .await;
}

#[tokio::test]
async fn a_closure_hook_is_asked_before_every_attempt_and_its_headers_win() {
    within(LIMIT, "closure", async {
        let mock = MockEngine::start().await;
        let n = Arc::new(AtomicUsize::new(0));
        let counter = n.clone();
        let hook = move || {
            let i = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move { Ok(vec![("X-Attempt".to_string(), i.to_string())]) }
        };
        let session = mock
            .session()
            .header("x-attempt", "from the builder")
            .header("X-Team", "data")
            .auth(Arc::new(hook))
            .reconnect(fast(5))
            .connect()
            .await
            .unwrap();
        let mut notes = session.notifications();
        tokio::time::sleep(Duration::from_millis(250)).await;
        mock.drop_connections();
        wait_resumed(&mut notes).await;
        let seen: Vec<Vec<String>> = mock
            .connections()
            .iter()
            .map(|c| {
                c.headers
                    .iter()
                    .filter(|(k, _)| k.eq_ignore_ascii_case("x-attempt"))
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .collect();
        assert_eq!(seen, vec![vec!["1".to_string()], vec!["2".to_string()]]);
        assert!(
            mock.connections()
                .iter()
                .all(|c| c.header("x-team") == Some("data"))
        );
        drop(session);

        // What a hook gives is checked, never quoted; a hook that hangs is timed out.
        let bad = || async { Ok(vec![("X-Token".to_string(), "line\nbreak-5Rt".to_string())]) };
        let e = mock
            .session()
            .auth(Arc::new(bad))
            .connect()
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "sign-in failed: the credentials hook gave a bad value for header x-token"
        );
        let failing = || async { Err(AuthError::retryable("the vault is sealed")) };
        let e = mock
            .session()
            .auth(Arc::new(failing))
            .connect()
            .await
            .unwrap_err();
        assert!(e.is_retryable());
        assert_eq!(e.to_string(), "sign-in failed: the vault is sealed");
        let hanging = || std::future::pending::<Result<qix_runtime::AuthHeaders, AuthError>>();
        let e = mock
            .session()
            .connect_timeout(Duration::from_millis(200))
            .auth(Arc::new(hanging))
            .connect()
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
        assert!(e.to_string().contains("credentials hook"), "{e}");
    })
    .await;
}

#[tokio::test]
async fn qlik_sense_enterprise_prefix_header_authentication_and_jwt_reach_the_engine() {
    within(LIMIT, "qsefw", async {
        let mock = MockEngine::start().await;
        let base = |prefix: &str| EngineUrl::new(format!("ws://{}/{prefix}", mock.addr()));
        // Header authentication, the default header.
        bounded(base("hdr").app("abc-1").to_string())
            .qlik_user("CORP", "jdoe")
            .connect()
            .await
            .unwrap();
        // Header authentication with the header name the virtual proxy configures.
        bounded(base("custom").app("abc-1").to_string())
            .header("hdr-usr", "CORP\\jdoe")
            .connect()
            .await
            .unwrap();
        // A JWT, as `Authorization: Bearer`.
        bounded(base("jwt").app("abc-1").to_string())
            .bearer("eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
            .connect()
            .await
            .unwrap();
        let c = mock.connections();
        assert_eq!(c[0].path, "/hdr/app/abc-1");
        assert_eq!(
            c[0].header("x-qlik-user"),
            Some("UserDirectory=CORP; UserId=jdoe")
        );
        assert_eq!(c[1].path, "/custom/app/abc-1");
        assert_eq!(c[1].header("hdr-usr"), Some("CORP\\jdoe"));
        assert_eq!(c[2].path, "/jwt/app/abc-1");
        assert_eq!(
            c[2].header("authorization"),
            Some("Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
        );
    })
    .await;
}

/// A `Write` into a shared buffer, for the tracing subscriber.
#[derive(Clone, Default)]
struct Buffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_secret_and_tokens_never_show_in_traces_traffic_errors_or_debug() {
    let trace = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer({
            let trace = trace.clone();
            move || trace.clone()
        })
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let _ = tracing_log::LogTracer::init();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("qix-auth-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let traffic = dir.join("traffic.jsonl");
    let (tokens, printed) = rt.block_on(async {
        let (mock, tenant, ca) = tls_tenant("secrets").await;
        tenant.token_lifetime(Duration::from_secs(30));
        let auth = Arc::new(
            ClientCredentials::for_engine(&tenant.url(), CLIENT, SECRET)
                .unwrap()
                .tls(trusting(&ca)),
        );
        let builder = bounded(tenant.url())
            .root_certificate(&ca.root)
            .auth(auth.clone())
            .traffic(Arc::new(JsonLinesLog::create(&traffic).unwrap()))
            .reconnect(fast(5));
        let mut printed = format!("{builder:?}\n{builder:#?}\n");
        let session = builder.connect().await.unwrap();
        version(&session).await.unwrap();
        let mut notes = session.notifications();
        tokio::time::sleep(Duration::from_millis(250)).await;
        mock.drop_connections();
        wait_resumed(&mut notes).await;
        version(&session).await.unwrap();
        printed.push_str(&format!(
            "{auth:?}\n{:?}\n",
            bounded(tenant.url()).client_credentials(CLIENT, SECRET)
        ));
        // Errors: a refused client, and an endpoint that echoes what it got.
        let wrong = bounded(tenant.url())
            .root_certificate(&ca.root)
            .client_credentials(CLIENT, format!("{SECRET}-old"))
            .connect()
            .await
            .unwrap_err();
        tenant.answer_next(TokenAnswer::Http(
            400,
            format!(
                r#"{{"error":"invalid_request","error_description":"client_secret={SECRET}"}}"#
            ),
        ));
        let echoed = bounded(tenant.url())
            .root_certificate(&ca.root)
            .client_credentials(CLIENT, SECRET)
            .connect()
            .await
            .unwrap_err();
        for e in [&wrong, &echoed] {
            printed.push_str(&format!("{e}\n{e:?}\n"));
        }
        assert!(printed.contains("<redacted>"), "{printed}");
        session.close().await;
        (tenant.issued(), printed)
    });
    let trace = String::from_utf8_lossy(&trace.0.lock().unwrap()).into_owned();
    let recorded = std::fs::read_to_string(&traffic).unwrap();
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    for (what, text) in [
        ("trace", &trace),
        ("traffic", &recorded),
        ("printed", &printed),
    ] {
        assert!(!text.contains(SECRET), "the secret in the {what}:\n{text}");
        for t in &tokens {
            assert!(
                !text.contains(t.as_str()),
                "token {t} in the {what}:\n{text}"
            );
        }
    }
    // What was checked is there: frames, the token spans, the HTTP client's own records.
    assert!(recorded.contains("EngineVersion"), "{recorded}");
    assert!(trace.contains("qix.token"), "{trace}");
    assert!(trace.contains("fetched an access token"), "{trace}");
    assert!(trace.contains("starting new connection"), "{trace}");
}
