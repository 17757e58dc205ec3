//! `spec_fetch` against HTTP servers that answer well and badly: chunked bodies, a hostile
//! chunk size, a redirect to a login page, a refusal.

use std::time::Duration;

use qix_runtime::TlsOptions;
use qix_runtime::spec_fetch::fetch_spec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `answer` (raw bytes) to every connection after reading its request.
async fn server(answer: &'static [u8]) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = tcp.read(&mut buf).await;
                let _ = tcp.write_all(answer).await;
                let _ = tcp.shutdown().await;
            });
        }
    });
    format!("http://127.0.0.1:{port}")
}

async fn fetch(base: &str) -> qix_runtime::Result<Vec<u8>> {
    fetch_spec(base, &[], &TlsOptions::default(), Duration::from_secs(5)).await
}

#[tokio::test]
async fn a_chunked_spec_arrives_whole() {
    let base = server(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4;x=y\r\n\":1}\r\n0\r\n\r\n").await;
    assert_eq!(fetch(&base).await.unwrap(), b"{\"a\":1}");
}

#[tokio::test]
async fn a_hostile_chunk_size_is_an_error_not_a_panic() {
    // usize::MAX: the hand-written client of before computed `size + 2` and overflowed.
    let base = server(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc\r\n0\r\n\r\n").await;
    let e = fetch(&base).await.unwrap_err();
    assert_eq!(e.kind(), "transport", "{e:?}");
    assert!(e.to_string().contains("/api/engine/openrpc"), "{e}");
}

#[tokio::test]
async fn a_redirect_and_a_refusal_say_what_the_engine_answered() {
    let base = server(b"HTTP/1.1 302 Found\r\nLocation: /login\r\nContent-Length: 0\r\n\r\n").await;
    let e = fetch(&base).await.unwrap_err().to_string();
    assert!(e.contains("302") && e.contains("(to /login)"), "{e}");
    let base = server(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 8\r\n\r\nno token").await;
    let e = fetch(&base).await.unwrap_err().to_string();
    assert!(
        e.contains("401 Unauthorized") && e.contains("no token"),
        "{e}"
    );
    // A body shorter than it says.
    let base = server(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}").await;
    assert!(fetch(&base).await.is_err());
}

#[cfg(feature = "rustls")]
#[tokio::test]
async fn over_https_with_an_extra_root() {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 8192];
                let _ = tls.read(&mut buf).await;
                let _ = tls
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    let dir = std::env::temp_dir().join(format!("qix-spec-fetch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let root = dir.join("root.pem");
    std::fs::write(&root, cert.cert.pem()).unwrap();
    let client = rcgen::generate_simple_self_signed(vec!["qix-client".to_string()]).unwrap();
    std::fs::write(dir.join("client.pem"), client.cert.pem()).unwrap();
    std::fs::write(
        dir.join("client_key.pem"),
        client.signing_key.serialize_pem(),
    )
    .unwrap();
    let tls = TlsOptions {
        extra_roots: vec![root],
        client_cert: Some((dir.join("client.pem"), dir.join("client_key.pem"))),
        ..Default::default()
    };
    let got = fetch_spec(
        &format!("https://localhost:{port}"),
        &[],
        &tls,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(got.unwrap(), b"{}");
    // Without the root: refused, with rustls's reason.
    let e = fetch(&format!("https://localhost:{port}"))
        .await
        .unwrap_err();
    let mut chain = String::new();
    let mut s: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(x) = s {
        chain.push_str(&format!("\n  {x:?}"));
        s = x.source();
    }
    assert!(
        e.to_string()
            .contains("TLS handshake failed: invalid peer certificate: UnknownIssuer"),
        "{e}{chain}"
    );
}

/// A `Write` into a shared buffer, for the tracing subscriber.
#[derive(Clone, Default)]
struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

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
fn the_http_client_logs_no_header_at_trace() {
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
    rt.block_on(async {
        let base = server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").await;
        let headers = [("Authorization".to_string(), "Bearer tok-9Xq2Lm".to_string())];
        let got = fetch_spec(
            &base,
            &headers,
            &TlsOptions::default(),
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(got.unwrap(), b"{}");
    });
    let text = String::from_utf8_lossy(&trace.0.lock().unwrap()).into_owned();
    assert!(!text.contains("tok-9Xq2Lm"), "{text}");
    // The bridge works: the HTTP client's own records are there.
    assert!(text.contains("starting new connection"), "{text}");
}
