//! `wss://`: a rustls server on loopback with a certificate made at test time. The client
//! connects when it trusts the certificate, fails when it does not, and its bearer token
//! arrives at the server.
#![cfg(feature = "rustls")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{TempFile, cause};
use futures_util::{SinkExt, StreamExt};
use qix_runtime::{Error, Session, SessionState, TlsOptions};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

const LIMIT: Duration = Duration::from_secs(20);

/// A TLS WebSocket engine for `localhost` that records the `Authorization` header of each
/// upgrade, sends `OnConnected` and answers every request with `{}`.
async fn tls_engine(
    cert: &rcgen::CertifiedKey<rcgen::KeyPair>,
) -> (u16, Arc<Mutex<Vec<Option<String>>>>) {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let auth = Arc::new(Mutex::new(Vec::new()));
    let seen = auth.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                // A client that distrusts the certificate ends the handshake here.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                #[allow(clippy::result_large_err)]
                let capture = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
                    let v = req
                        .headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok());
                    seen.lock().unwrap().push(v.map(str::to_string));
                    Ok(resp)
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tls, capture).await else {
                    return;
                };
                let hello = json!({"jsonrpc": "2.0", "method": "OnConnected", "params": {"qSessionState": "SESSION_CREATED"}});
                if ws
                    .send(Message::Text(hello.to_string().into()))
                    .await
                    .is_err()
                {
                    return;
                }
                while let Some(Ok(Message::Text(t))) = ws.next().await {
                    let req: Value = serde_json::from_str(&t).unwrap();
                    let answer = json!({"jsonrpc": "2.0", "id": req["id"], "result": {"qVersion": {"qComponentVersion": "tls"}}});
                    if ws
                        .send(Message::Text(answer.to_string().into()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (port, auth)
}

#[tokio::test]
async fn wss_with_a_trusted_self_signed_certificate() {
    let run = async {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let trusted = TempFile::new("trusted", &cert.cert.pem());
        let untrusted = TempFile::new("untrusted", &other.cert.pem());
        let (port, auth) = tls_engine(&cert).await;
        let url = format!("wss://localhost:{port}/app/");

        let session = Session::builder(&url)
            .root_certificate(&trusted.0)
            .bearer("s3cret-token")
            .connect()
            .await
            .unwrap();
        assert_eq!(session.state(), Some(SessionState::Created));
        let v = session
            .call_raw(-1, "EngineVersion", json!({}))
            .await
            .unwrap();
        assert_eq!(v["qVersion"]["qComponentVersion"], "tls");
        assert_eq!(
            auth.lock().unwrap().as_slice(),
            &[Some("Bearer s3cret-token".to_string())]
        );

        // Trusting another certificate only: the handshake fails, nothing reaches the
        // WebSocket layer.
        let err = Session::builder(&url)
            .tls(TlsOptions {
                no_system_roots: true,
                extra_roots: vec![untrusted.0.clone()],
                ..TlsOptions::default()
            })
            .bearer("s3cret-token")
            .connect()
            .await
            .unwrap_err();
        let Error::Transport(msg) = &err else {
            panic!("{err:?}")
        };
        let msg = msg.message();
        assert!(msg.contains("certificate"), "{msg}");
        assert!(!msg.contains("s3cret"), "{msg}");
        // The cause is kept: rustls's own error, found by walking `source()`.
        let tls = cause::<rustls::Error>(&err)
            .unwrap_or_else(|| panic!("no rustls::Error in the source chain of {err:?}"));
        assert!(
            matches!(tls, rustls::Error::InvalidCertificate(_)),
            "{tls:?}"
        );

        // Without it, the system's roots do not know a self-signed certificate.
        let err = Session::builder(&url).connect().await.unwrap_err();
        assert!(
            matches!(err, Error::Transport(_) | Error::Config(_)),
            "{err:?}"
        );
        assert_eq!(auth.lock().unwrap().len(), 1);

        // Accepting any certificate connects (tests only).
        let s = Session::builder(&url)
            .danger_accept_invalid_certs()
            .connect()
            .await
            .unwrap();
        assert_eq!(s.state(), Some(SessionState::Created));
    };
    tokio::time::timeout(LIMIT, run)
        .await
        .expect("the TLS test did not finish in time");
}
