//! Tracing: a span per call with its outcome, and the connect span. In a test binary of
//! its own: tracing caches each call site's interest process-wide, and a test thread
//! without a subscriber registering the same call sites at the same moment can make a
//! subscriber installed with `set_default` miss them.

mod common;

use std::sync::Arc;

use common::{LIMIT, call, connect};
use qix_runtime::ObjectInfo;
use qix_runtime::testing::{MockEngine, within};
use serde_json::json;

/// Collects the `qix` spans' and events' fields as text, one entry per span (its
/// attributes and later records) and per event.
#[derive(Default)]
struct Events(std::sync::Mutex<Vec<String>>);

struct Fields(String);
impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={v:?} ", f.name()));
    }
}

impl tracing::Subscriber for Events {
    fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
        m.target() == "qix"
    }
    fn new_span(&self, a: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut fields = Fields(format!("span={} ", a.metadata().name()));
        a.record(&mut fields);
        let mut all = self.0.lock().unwrap();
        all.push(fields.0);
        tracing::span::Id::from_u64(all.len() as u64)
    }
    fn record(&self, id: &tracing::span::Id, r: &tracing::span::Record<'_>) {
        let mut fields = Fields(String::new());
        r.record(&mut fields);
        let mut all = self.0.lock().unwrap();
        if let Some(s) = all.get_mut(id.into_u64() as usize - 1) {
            s.push_str(&fields.0);
        }
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, e: &tracing::Event<'_>) {
        let mut fields = Fields(String::new());
        e.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn every_call_has_a_tracing_span_with_its_outcome() {
    let events = Arc::new(Events::default());
    let _guard = tracing::subscriber::set_default(events.clone());
    within(LIMIT, "tracing", async {
        let mock = MockEngine::start().await;
        mock.expect("GetDocList").returns(json!({"qDocList": []}));
        mock.expect("GetObject").returns_error(2, "x", "not found");
        let session = connect(&mock).await;
        call(&session.global_object(), "GetDocList", json!({}), None)
            .await
            .unwrap();
        let doc = session.register_object(ObjectInfo::new(1, "Doc"));
        call(&doc, "GetObject", json!({"qId": "x"}), None)
            .await
            .unwrap_err();
        // A reconnection, for its spans.
        let session = mock
            .session()
            .reconnect(qix_runtime::Reconnect {
                initial_delay: std::time::Duration::from_millis(5),
                ..Default::default()
            })
            .connect()
            .await
            .unwrap();
        common::reconnect(&mock, &session).await;
    })
    .await;
    let events = events.0.lock().unwrap();
    let span = |method: &str| {
        events
            .iter()
            .find(|e| e.starts_with("span=qix.call") && e.contains(&format!("method=\"{method}\"")))
            .unwrap_or_else(|| panic!("no span for {method}: {events:?}"))
            .clone()
    };
    let ok = span("GetDocList");
    for field in [
        "class=\"Global\"",
        "handle=-1",
        "id=1",
        "request_bytes=2",
        "response_bytes=",
        "micros=",
        "outcome=\"ok\"",
    ] {
        assert!(ok.contains(field), "{field} missing from {ok}");
    }
    let failed = span("GetObject");
    for field in ["class=\"Doc\"", "handle=1", "outcome=\"engine\"", "code=2"] {
        assert!(failed.contains(field), "{field} missing from {failed}");
    }
    assert!(
        events.iter().any(|e| e.contains("message=call failed")),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("span=qix.connect") && e.contains("url=ws://127.0.0.1")),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("span=qix.reconnect") && e.contains("attempt=1")),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| e.starts_with("span=qix.restore")
            && e.contains("state=\"SESSION_ATTACHED\"")
            && e.contains("restored=0")),
        "{events:?}"
    );
}
