//! A TLS WebSocket engine on loopback, for the TLS tests (`tls.rs`, `mtls.rs`).

use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_websockets::Message;

/// The `Authorization` header of each WebSocket upgrade, in order.
pub type SeenAuth = Arc<Mutex<Vec<Option<String>>>>;

/// The crypto provider the client uses too (ring).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Serves `config` on a loopback port. A connection whose TLS handshake completes is a
/// WebSocket: its upgrade's `Authorization` header is recorded, it gets `OnConnected`, and
/// every request it sends is answered with `result`. A client that refuses the server's
/// certificate (or the server its) ends at the handshake.
pub async fn engine(config: rustls::ServerConfig, result: Value) -> (u16, SeenAuth) {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let auth = SeenAuth::default();
    let seen = auth.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, seen, result) = (acceptor.clone(), seen.clone(), result.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok((request, mut ws)) =
                    tokio_websockets::ServerBuilder::new().accept(tls).await
                else {
                    return;
                };
                let v = request
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok());
                seen.lock().unwrap().push(v.map(str::to_string));
                let hello = json!({"jsonrpc": "2.0", "method": "OnConnected", "params": {"qSessionState": "SESSION_CREATED"}});
                if ws.send(Message::text(hello.to_string())).await.is_err() {
                    return;
                }
                while let Some(Ok(m)) = ws.next().await {
                    let Some(t) = m.as_text() else {
                        continue;
                    };
                    let req: Value = serde_json::from_str(t).unwrap();
                    let answer = json!({"jsonrpc": "2.0", "id": req["id"], "result": result});
                    if ws.send(Message::text(answer.to_string())).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, auth)
}
