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

#[tokio::test]
async fn the_in_flight_gauge_comes_back_to_zero_through_restores_requeues_and_cancels() {
    let store = Store::default();
    let _guard = metrics::set_default_local_recorder(&store);
    within(LIMIT, "gauge", async {
        let mock = MockEngine::start().await;
        mock.expect("OpenDoc")
            .times(1)
            .returns(opened("Doc", 1, "app"));
        mock.expect("GetObject")
            .on_handle(1)
            .times(1)
            .returns(opened("GenericObject", 2, "o"));
        mock.expect("Slow").no_response();
        mock.expect("Quick").returns(json!({}));
        let session = mock
            .session()
            .reconnect(Reconnect {
                initial_delay: Duration::from_millis(50),
                ..Reconnect::default()
            })
            .connect()
            .await
            .unwrap();
        let mut notes = session.notifications();
        let g = session.global_object();
        let doc = call_open(&g, "OpenDoc", json!({"qDocName": "app"}))
            .await
            .unwrap();
        let obj = call_open(&doc, "GetObject", json!({"qId": "o"}))
            .await
            .unwrap();
        // A call given up after it was sent, and one that will be cut off.
        let given_up = call(&g, "Slow", json!({}), None);
        mock.wait_for("Slow", 1, LIMIT).await.unwrap();
        drop(given_up);
        let cut = call(&g, "Slow", json!({}), None);
        mock.wait_for("Slow", 2, LIMIT).await.unwrap();
        // A new engine session: the restore's own calls go through the table too.
        mock.expect("GetActiveDoc")
            .returns(opened("Doc", 11, "app"));
        mock.expect("GetObject")
            .on_handle(11)
            .returns(opened("GenericObject", 12, "o"));
        mock.drop_connections();
        assert!(cut.await.is_err());
        // Calls made while the connection is away wait, then go out.
        while !matches!(
            futures_util::StreamExt::next(&mut notes).await,
            Some(Ok(qix_runtime::Notification::Suspended { .. }))
        ) {}
        let waiting: Vec<_> = (0..5).map(|_| call(&g, "Quick", json!({}), None)).collect();
        common::wait_resumed(&mut notes).await;
        for r in futures_util::future::join_all(waiting).await {
            r.unwrap();
        }
        assert_eq!(obj.handle(), 12);
        assert_eq!(store.gauge("qix_calls_in_flight{}"), 0.0);
        // And when the session ends with calls in flight.
        let pending = call(&g, "Slow", json!({}), None);
        mock.wait_for("Slow", 3, LIMIT).await.unwrap();
        assert_eq!(store.gauge("qix_calls_in_flight{}"), 1.0);
        session.close().await;
        assert!(pending.await.is_err());
        assert_eq!(store.gauge("qix_calls_in_flight{}"), 0.0);
    })
    .await;
}
