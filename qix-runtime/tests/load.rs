//! Load: many sessions with many calls in flight, every response matched to its call.
#![cfg(feature = "testing")]

mod common;

use std::time::{Duration, Instant};

use common::{call, connect};
use futures_util::future::join_all;
use qix_runtime::testing::{MockEngine, Reply, within};
use serde_json::json;

const SESSIONS: usize = 50;
const CALLS: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_sessions_with_a_thousand_concurrent_calls_each() {
    within(Duration::from_secs(60), "load", async {
        let mock = MockEngine::start().await;
        // The mock echoes each call's unique value: a response routed to the wrong call
        // shows as a wrong value.
        mock.expect("Evaluate")
            .respond_with(|r| Reply::result(json!({"qReturn": r.param("qExpression")})));
        let t0 = Instant::now();
        let sessions = join_all((0..SESSIONS).map(|_| connect(&mock))).await;
        let runs = sessions.into_iter().enumerate().map(|(s, session)| {
            tokio::spawn(async move {
                let doc = session.register_object(qix_runtime::ObjectInfo::new(1, "Doc"));
                // All sent before any is awaited.
                let calls: Vec<_> = (0..CALLS)
                    .map(|i| {
                        let value = format!("{s}/{i}");
                        (
                            value.clone(),
                            call(&doc, "Evaluate", json!({"qExpression": value}), None),
                        )
                    })
                    .collect();
                let mut matched = 0;
                for (value, fut) in calls {
                    let r = fut.await.unwrap();
                    assert_eq!(r["qReturn"], value.as_str());
                    matched += 1;
                }
                matched
            })
        });
        let matched: usize = join_all(runs).await.into_iter().map(|r| r.unwrap()).sum();
        assert_eq!(matched, SESSIONS * CALLS);
        assert_eq!(mock.received_method("Evaluate").len(), SESSIONS * CALLS);
        mock.verify().unwrap();
        eprintln!(
            "{} calls over {SESSIONS} sessions in {:?}",
            SESSIONS * CALLS,
            t0.elapsed()
        );
    })
    .await;
}
