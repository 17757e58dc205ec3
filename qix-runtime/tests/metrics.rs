//! Metrics through the `metrics` facade: what a session records, with a recorder installed
//! for the test's thread (the session runs on it: a current-thread runtime).

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{LIMIT, call, call_open, opened};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use qix_runtime::testing::{MockEngine, within};
use qix_runtime::{ObjectInfo, Reconnect};
use serde_json::json;

/// Every metric by its key (name and sorted labels), as counts, gauge values (f64 bits)
/// and histogram sample counts.
#[derive(Default, Clone)]
struct Store(Arc<Mutex<BTreeMap<String, Arc<AtomicU64>>>>);

struct Samples(Arc<AtomicU64>);
impl metrics::HistogramFn for Samples {
    fn record(&self, _: f64) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl Store {
    fn slot(&self, key: &Key) -> Arc<AtomicU64> {
        let mut labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        self.0.lock().unwrap().entry(name).or_default().clone()
    }
    fn get(&self, name: &str) -> u64 {
        self.0
            .lock()
            .unwrap()
            .get(name)
            .map_or(0, |a| a.load(Ordering::Relaxed))
    }
    fn gauge(&self, name: &str) -> f64 {
        f64::from_bits(self.get(name))
    }
    fn names(&self) -> Vec<String> {
        self.0.lock().unwrap().keys().cloned().collect()
    }
}

impl Recorder for Store {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.slot(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.slot(key))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::new(Samples(self.slot(key))))
    }
}

#[tokio::test]
async fn a_session_records_calls_errors_latency_bytes_in_flight_lag_and_reconnections() {
    let store = Store::default();
    let _guard = metrics::set_default_local_recorder(&store);
    within(LIMIT, "metrics", async {
        let mock = MockEngine::start().await;
        mock.expect("GetLayout").returns(json!({"qLayout": {}}));
        mock.expect("GetObject").returns_error(2, "x", "not found");
        mock.expect("OpenDoc").returns(opened("Doc", 1, "app"));
        // The reconnection below is attached: the client checks that the doc is still
        // there.
        mock.expect("GetActiveDoc").returns(opened("Doc", 1, "app"));
        mock.expect("Slow")
            .delay(Duration::from_millis(30))
            .returns(json!({}));
        let session = mock
            .session()
            .reconnect(Reconnect {
                initial_delay: Duration::from_millis(5),
                ..Reconnect::default()
            })
            .notification_capacity(1)
            .connect()
            .await
            .unwrap();
        let o = session.register_object(ObjectInfo::new(2, "GenericObject"));
        for _ in 0..3 {
            call(&o, "GetLayout", json!({}), None).await.unwrap();
        }
        let doc = session.register_object(ObjectInfo::new(1, "Doc"));
        call(&doc, "GetObject", json!({"qId": "x"}), None)
            .await
            .unwrap_err();
        // One call in flight while the gauge is read.
        let slow = call(&session.global_object(), "Slow", json!({}), None);
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(store.gauge("qix_calls_in_flight{}"), 1.0);
        slow.await.unwrap();
        assert_eq!(store.gauge("qix_calls_in_flight{}"), 0.0);
        // A subscriber that falls behind: lagged notifications are counted.
        let mut notes = session.notifications();
        for i in 0..3 {
            mock.notify("OnCustom", json!({"i": i}));
        }
        call(&o, "GetLayout", json!({}), None).await.unwrap();
        let mut lagged = 0;
        while let Ok(Some(n)) = tokio::time::timeout(
            Duration::from_millis(20),
            futures_util::StreamExt::next(&mut notes),
        )
        .await
        {
            if let Err(l) = n {
                lagged += l.0;
            }
        }
        assert!(lagged > 0);
        assert_eq!(store.get("qix_notifications_lagged_total{}"), lagged);
        // A reconnection.
        common::reconnect(&mock, &session).await;
        call_open(
            &session.global_object(),
            "OpenDoc",
            json!({"qDocName": "app"}),
        )
        .await
        .unwrap();
    })
    .await;
    let names = store.names();
    assert_eq!(
        store.get("qix_calls_total{method=GetLayout,outcome=ok}"),
        4,
        "{names:?}"
    );
    assert_eq!(
        store.get("qix_calls_total{method=GetObject,outcome=engine}"),
        1,
        "{names:?}"
    );
    assert_eq!(
        store.get("qix_call_errors_total{code=2,method=GetObject}"),
        1,
        "{names:?}"
    );
    assert_eq!(
        store.get("qix_call_duration_seconds{method=GetLayout}"),
        4,
        "{names:?}"
    );
    assert!(store.get("qix_bytes_sent_total{}") > 100, "{names:?}");
    assert!(store.get("qix_bytes_received_total{}") > 100, "{names:?}");
    assert_eq!(
        store.get("qix_reconnections_total{outcome=attached}"),
        1,
        "{names:?}"
    );
    assert!(store.get("qix_sessions_started_total{}") >= 1);
}
