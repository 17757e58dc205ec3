//! `wss://`: a rustls server on loopback with a certificate made at test time. The client
//! connects when it trusts the certificate, fails when it does not, and its bearer token
//! arrives at the server.
#![cfg(feature = "rustls")]

mod common;

use std::time::Duration;

use common::{TempFile, cause};
use qix_runtime::{Error, Session, SessionState, TlsOptions};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(20);

/// A TLS WebSocket engine for `localhost` with `cert` (see [`common::tls::engine`]); it
/// answers every request with a version `tls`.
async fn tls_engine(cert: &rcgen::CertifiedKey<rcgen::KeyPair>) -> (u16, common::tls::SeenAuth) {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(common::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    common::tls::engine(config, json!({"qVersion": {"qComponentVersion": "tls"}})).await
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
