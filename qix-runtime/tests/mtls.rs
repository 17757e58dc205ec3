//! TLS proven against real handshakes: a server that requires a client certificate
//! (mutual TLS, as Qlik Sense Enterprise's engine port does), a certificate issued for
//! another host name, and PEM files that are not what they should be. Every certificate is
//! made at test time by a CA of the test's own.
#![cfg(feature = "rustls")]

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::{TempFile, cause};
use qix_runtime::{Error, Session, SessionState, TlsOptions};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use rustls::RootCertStore;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(30);

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Ca { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf certificate for `names`, with its key.
    fn leaf(
        &self,
        names: &[&str],
        usage: ExtendedKeyUsagePurpose,
    ) -> (rcgen::Certificate, KeyPair) {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert, key)
    }
}

/// A TLS WebSocket engine on loopback serving `cert`; when `client_ca` is given it requires
/// a client certificate issued by that CA. Sends `OnConnected` and answers every request.
async fn engine(cert: (rcgen::Certificate, KeyPair), client_ca: Option<&Ca>) -> u16 {
    let provider = common::tls::provider();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add(ca.issuer.der().clone()).unwrap();
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.1.serialize_der()));
    let config = builder
        .with_single_cert(vec![cert.0.der().clone()], key)
        .unwrap();
    common::tls::engine(config, json!({"qReturn": "mtls"}))
        .await
        .0
}

#[tokio::test]
async fn mutual_tls_connects_with_the_client_certificate_and_fails_clearly_without() {
    let run = async {
        let ca = Ca::new("qix test CA");
        let server = ca.leaf(&["localhost"], ExtendedKeyUsagePurpose::ServerAuth);
        let (client_cert, client_key) =
            ca.leaf(&["qix-client"], ExtendedKeyUsagePurpose::ClientAuth);
        let port = engine(server, Some(&ca)).await;
        let url = format!("wss://localhost:{port}/app/");
        let root = TempFile::new("root", &ca.pem());
        let cert = TempFile::new("client", &client_cert.pem());
        let key = TempFile::new("client-key", &client_key.serialize_pem());
        let tls = |client: bool| TlsOptions {
            no_system_roots: true,
            extra_roots: vec![root.0.clone()],
            client_cert: client.then(|| (cert.0.clone(), key.0.clone())),
            ..TlsOptions::default()
        };

        let session = Session::builder(&url)
            .tls(tls(true))
            .connect()
            .await
            .unwrap();
        assert_eq!(session.state(), Some(SessionState::Created));
        let v = session
            .call_raw(-1, "EngineVersion", json!({}))
            .await
            .unwrap();
        assert_eq!(v["qReturn"], "mtls");

        // The same through the builder's own method.
        let session = Session::builder(&url)
            .tls(TlsOptions {
                no_system_roots: true,
                extra_roots: vec![root.0.clone()],
                ..TlsOptions::default()
            })
            .client_certificate(&cert.0, &key.0)
            .connect()
            .await
            .unwrap();
        assert_eq!(session.state(), Some(SessionState::Created));

        // Without one the server refuses; the error is a transport error that says so.
        let err = Session::builder(&url)
            .tls(tls(false))
            .connect()
            .await
            .unwrap_err();
        let Error::Transport(msg) = &err else {
            panic!("expected a transport error, got {err:?}")
        };
        let msg = msg.message();
        assert!(
            msg.contains("requires a client certificate"),
            "the error should say a client certificate is required: {msg}"
        );
        // The cause is rustls's error for the server's alert.
        let tls = cause::<rustls::Error>(&err)
            .unwrap_or_else(|| panic!("no rustls::Error in the source chain of {err:?}"));
        assert!(
            matches!(
                tls,
                rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired)
            ),
            "{tls:?}"
        );

        // A certificate from another CA is refused as well.
        let stranger = Ca::new("another CA");
        let (other_cert, other_key) =
            stranger.leaf(&["qix-client"], ExtendedKeyUsagePurpose::ClientAuth);
        let other_cert = TempFile::new("other-client", &other_cert.pem());
        let other_key = TempFile::new("other-client-key", &other_key.serialize_pem());
        let err = Session::builder(&url)
            .tls(TlsOptions {
                no_system_roots: true,
                extra_roots: vec![root.0.clone()],
                client_cert: Some((other_cert.0.clone(), other_key.0.clone())),
                ..TlsOptions::default()
            })
            .connect()
            .await
            .unwrap_err();
        let Error::Transport(msg) = &err else {
            panic!("expected a transport error, got {err:?}")
        };
        let msg = msg.message();
        assert!(msg.contains("rejected the client certificate"), "{msg}");
    };
    tokio::time::timeout(LIMIT, run)
        .await
        .expect("the mutual TLS test did not finish in time");
}

#[tokio::test]
async fn a_certificate_for_another_host_name_fails_verification() {
    let run = async {
        let ca = Ca::new("qix test CA");
        let server = ca.leaf(
            &["engine.other.example"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let port = engine(server, None).await;
        let root = TempFile::new("root-host", &ca.pem());
        let err = Session::builder(format!("wss://localhost:{port}/app/"))
            .tls(TlsOptions {
                no_system_roots: true,
                extra_roots: vec![root.0.clone()],
                ..TlsOptions::default()
            })
            .connect()
            .await
            .unwrap_err();
        let Error::Transport(msg) = &err else {
            panic!("expected a transport error, got {err:?}")
        };
        let msg = msg.message();
        assert!(msg.contains("not valid for name"), "{msg}");
        assert!(msg.contains("localhost"), "{msg}");
    };
    tokio::time::timeout(LIMIT, run)
        .await
        .expect("the host name test did not finish in time");
}

#[tokio::test]
async fn pem_files_that_are_not_what_they_should_be_are_config_errors_naming_the_file() {
    let ca = Ca::new("qix test CA");
    let (cert, _) = ca.leaf(&["qix-client"], ExtendedKeyUsagePurpose::ClientAuth);
    let cert = TempFile::new("only-a-cert", &cert.pem());
    let garbage = TempFile::new(
        "garbage",
        "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
    );
    let missing = std::env::temp_dir().join("qix-mtls-no-such-file.pem");
    let config_error = |opts: TlsOptions| async move {
        let err = Session::builder("wss://localhost:1/app/")
            .tls(opts)
            .connect()
            .await
            .unwrap_err();
        match err {
            Error::Config(m) => m.message().to_string(),
            other => panic!("expected a configuration error, got {other:?}"),
        }
    };
    let roots = |p: &PathBuf| TlsOptions {
        no_system_roots: true,
        extra_roots: vec![p.clone()],
        ..TlsOptions::default()
    };

    let m = config_error(roots(&missing)).await;
    assert!(
        m.contains("cannot read certificate") && m.contains("no-such-file"),
        "{m}"
    );
    // The configuration error keeps the I/O error that caused it.
    let err = Session::builder("wss://localhost:1/app/")
        .tls(roots(&missing))
        .connect()
        .await
        .unwrap_err();
    let io = cause::<std::io::Error>(&err)
        .unwrap_or_else(|| panic!("no io::Error in the source chain of {err:?}"));
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound, "{io}");
    let m = config_error(roots(&garbage.0)).await;
    assert!(
        m.contains("is not a PEM certificate file") && m.contains("garbage"),
        "{m}"
    );
    let empty = TempFile::new("empty", "just text\n");
    let m = config_error(roots(&empty.0)).await;
    assert!(m.contains("holds no PEM certificate"), "{m}");

    // A key file that holds only a certificate.
    let m = config_error(TlsOptions {
        no_system_roots: true,
        extra_roots: vec![cert.0.clone()],
        client_cert: Some((cert.0.clone(), cert.0.clone())),
        ..TlsOptions::default()
    })
    .await;
    assert!(
        m.contains("holds no PEM private key") && m.contains("only-a-cert"),
        "{m}"
    );
}
