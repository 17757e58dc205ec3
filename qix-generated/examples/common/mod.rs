//! What every example shares: `--engine URL [--app APP] [--bearer TOKEN]` for a live
//! engine; without `--engine`, a `MockEngine` on loopback scripted by the example, so
//! each example also runs offline (CI runs them so).
#![allow(dead_code)]

pub mod cube;

use qix_generated::prelude::*;
use qix_runtime::testing::MockEngine;

pub struct Args {
    pub engine: Option<String>,
    pub app: Option<String>,
    pub bearer: Option<String>,
    /// Anything else, in order.
    pub rest: Vec<String>,
}

pub fn args() -> Args {
    let mut out = Args {
        engine: None,
        app: None,
        bearer: std::env::var("QLIK_API_KEY").ok(),
        rest: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--engine" => out.engine = it.next(),
            "--app" => out.app = it.next(),
            "--bearer" => out.bearer = it.next(),
            _ => out.rest.push(a),
        }
    }
    out
}

/// The engine to use: the live one named by `--engine`, or a mock that `script` sets up
/// (kept alive by the returned value).
pub async fn engine(args: &Args, script: impl FnOnce(&MockEngine)) -> (String, Option<MockEngine>) {
    match &args.engine {
        Some(url) => (url.clone(), None),
        None => {
            let mock = qix_generated::catalog::mock_engine().await;
            script(&mock);
            eprintln!(
                "(no --engine: running against a mock engine at {})",
                mock.url()
            );
            (mock.url(), Some(mock))
        }
    }
}

pub async fn connect(url: &str, args: &Args) -> Result<Session> {
    let mut b = Session::builder(url);
    if let Some(t) = args.bearer.as_deref().filter(|t| !t.is_empty()) {
        b = b.bearer(t);
    }
    b.connect().await
}

/// The app as corectl opens it: the active doc, else `OpenDoc(--app)`.
pub async fn open_app(session: &Session, args: &Args) -> Result<Doc> {
    let global = session.global();
    match global.get_active_doc().await {
        Ok(doc) => Ok(doc),
        Err(e) => match &args.app {
            Some(app) if e.engine_code().is_some() => global.open_doc(app.clone()).await,
            _ => Err(e),
        },
    }
}

/// For mocks: the session's active doc is handle 1.
pub fn active_doc(mock: &MockEngine) {
    mock.expect("GetActiveDoc").returns(
        serde_json::json!({"qReturn": {"qType": "Doc", "qHandle": 1, "qGenericId": "sales.qvf"}}),
    );
}

/// Ends an offline run by checking the mock saw what the example promised to send.
pub fn verify(mock: Option<MockEngine>) {
    if let Some(mock) = mock {
        if let Err(e) = mock.verify() {
            eprintln!("the example did not talk to the mock as expected: {e}");
            std::process::exit(1);
        }
    }
}
