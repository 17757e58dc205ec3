//! Retry of aborted calls, interceptors, bounded calls in flight, streams that end with the
//! session, and objects registered before a later frame can close them.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{LIMIT, call, call_open, connect, opened};
use futures_util::StreamExt;
use qix_runtime::testing::{MockEngine, Reply, within};
use qix_runtime::{
    CallInfo, ClosedReason, Decision, Error, Interceptor, ObjectInfo, Outcome, RetryPolicy,
};
use serde_json::json;

/// Answers error 15 (aborted) `n` times, then a result.
fn aborts(mock: &MockEngine, method: &str, n: usize) -> Arc<AtomicUsize> {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    mock.expect(method).respond_with(move |_| {
        if c.fetch_add(1, Ordering::SeqCst) < n {
            Reply::error(15, "", "Request aborted")
        } else {
            Reply::result(json!({"qLayout": {"ok": true}}))
        }
    });
    calls
}

#[tokio::test]
async fn aborted_calls_are_retried_within_the_policy() {
    within(LIMIT, "retry", async {
        let mock = MockEngine::start().await;
        let calls = aborts(&mock, "GetLayout", 2);
        let session = connect(&mock).await;
        let o = session.register_object(ObjectInfo::new(2, "GenericObject"));
        // Default: two retries.
        call(&o, "GetLayout", json!({}), None).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        // Past the bound, the error comes back, typed.
        let mock = MockEngine::start().await;
        let calls = aborts(&mock, "GetLayout", 5);
        let session = mock
            .session()
            .retry(RetryPolicy { aborted: 1 })
            .connect()
            .await
            .unwrap();
        let o = session.register_object(ObjectInfo::new(2, "GenericObject"));
        let e = call(&o, "GetLayout", json!({}), None).await.unwrap_err();
        assert_eq!(e.engine_code(), Some(15));
        assert!(e.is_retryable());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // Per call: none.
        let fut = o.call(
            qix_runtime::MethodInfo::new("GetLayout"),
            qix_runtime::__private::Params::new(),
            qix_runtime::CallOptions {
                retries: Some(0),
                ..Default::default()
            },
            |_, raw| qix_runtime::__private::decode::all::<serde_json::Value>(raw, "t"),
        );
        assert_eq!(fut.await.unwrap_err().engine_code(), Some(15));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // Other errors are never retried.
        mock.expect("GetProperties")
            .returns_error(2, "", "not found");
        call(&o, "GetProperties", json!({}), None)
            .await
            .unwrap_err();
        assert_eq!(mock.received_method("GetProperties").len(), 1);
    })
    .await;
}

#[tokio::test]
async fn writes_and_calls_the_user_aborted_are_not_retried() {
    within(LIMIT, "retry only what is safe", async {
        // A write the engine aborts: sent once, its error comes back.
        let mock = MockEngine::start().await;
        let selects = aborts(&mock, "SelectHyperCubeValues", 5);
        let props = aborts(&mock, "SetProperties", 1);
        let session = connect(&mock).await;
        let o = session.register_object(ObjectInfo::new(2, "GenericObject"));
        let e = call(&o, "SelectHyperCubeValues", json!({}), None)
            .await
            .unwrap_err();
        assert_eq!(e.engine_code(), Some(15));
        assert_eq!(
            selects.load(Ordering::SeqCst),
            1,
            "a write is not sent again by default"
        );
        // Unless its caller asks.
        let fut = o.call(
            qix_runtime::MethodInfo::new("SetProperties"),
            qix_runtime::__private::Params::new(),
            qix_runtime::CallOptions {
                retries: Some(2),
                ..Default::default()
            },
            |_, raw| qix_runtime::__private::decode::all::<serde_json::Value>(raw, "t"),
        );
        fut.await.unwrap();
        assert_eq!(props.load(Ordering::SeqCst), 2);
        // A raw call: its method is unknown, so it is not repeated.
        let raws = aborts(&mock, "SomethingNew", 5);
        session
            .call_raw(2, "SomethingNew", json!({}))
            .await
            .unwrap_err();
        assert_eq!(raws.load(Ordering::SeqCst), 1);

        // A read the user asked the engine to abort: the "aborted" answer is final.
        let mock = MockEngine::start().await;
        // Answered "aborted" a while later, after the AbortRequest went out.
        mock.expect("GetHyperCubeData")
            .delay(Duration::from_millis(200))
            .respond_with(|_| Reply::error(15, "", "Request aborted"));
        mock.expect("AbortRequest").returns(json!({}));
        let session = connect(&mock).await;
        let o = session.register_object(ObjectInfo::new(2, "GenericObject"));
        let read = call(&o, "GetHyperCubeData", json!({}), None);
        let id = read.request_id().expect("sent at once");
        let abort = call(
            &session.global_object(),
            "AbortRequest",
            json!({"qRequestId": id}),
            None,
        );
        let (read, abort) = tokio::join!(read, abort);
        abort.unwrap();
        assert_eq!(read.unwrap_err().engine_code(), Some(15));
        assert_eq!(
            mock.received_method("GetHyperCubeData").len(),
            1,
            "the user aborted it: not sent again"
        );
    })
    .await;
}

/// Rewrites one param, replaces one result, retries once, and logs what it saw.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<String>>,
    retried: AtomicUsize,
}

impl Interceptor for Recorder {
    fn request(&self, call: &CallInfo<'_>, params: &mut String) -> qix_runtime::Result<()> {
        self.seen
            .lock()
            .unwrap()
            .push(format!("> {}.{} h{}", call.class, call.method, call.handle));
        if call.method == "Evaluate" {
            *params = json!({"qExpression": "=2"}).to_string();
        }
        if call.method == "Forbidden" {
            return Err(Error::Config("not allowed here".into()));
        }
        Ok(())
    }

    fn response(&self, call: &CallInfo<'_>, outcome: Outcome<'_>) -> Decision {
        self.seen.lock().unwrap().push(format!(
            "< {} {}",
            call.method,
            match outcome {
                Outcome::Result(r) => r.to_string(),
                Outcome::Error(e) => e.kind().to_string(),
            }
        ));
        match call.method {
            "GetCached" => Decision::Replace(Ok(json!({"qValue": "from cache"}).to_string())),
            "Flaky" if self.retried.fetch_add(1, Ordering::SeqCst) == 0 => Decision::Retry,
            _ => Decision::Continue,
        }
    }
}

#[tokio::test]
async fn interceptors_see_change_replace_and_retry() {
    within(LIMIT, "interceptors", async {
        let mock = MockEngine::start().await;
        mock.expect("Evaluate")
            .with_params(json!({"qExpression": "=2"}))
            .returns(json!({"qReturn": "2"}));
        mock.expect("GetCached")
            .returns(json!({"qValue": "engine"}));
        mock.expect("Flaky").returns(json!({}));
        let rec = Arc::new(Recorder::default());
        // The outer one only watches: it has used its one retry already.
        let outer = Arc::new(Recorder {
            retried: AtomicUsize::new(1),
            ..Recorder::default()
        });
        let session = mock
            .session()
            .interceptor(outer.clone())
            .interceptor(rec.clone())
            .connect()
            .await
            .unwrap();
        let doc = session.register_object(ObjectInfo::new(1, "Doc"));
        let v = call(&doc, "Evaluate", json!({"qExpression": "=1"}), None)
            .await
            .unwrap();
        assert_eq!(v["qReturn"], "2", "the request was rewritten");
        let v = call(&doc, "GetCached", json!({}), None).await.unwrap();
        assert_eq!(v["qValue"], "from cache", "the result was replaced");
        call(&doc, "Flaky", json!({}), None).await.unwrap();
        assert_eq!(mock.received_method("Flaky").len(), 2, "retried once");
        let e = call(&doc, "Forbidden", json!({}), None).await.unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e:?}");
        assert!(
            mock.received_method("Forbidden").is_empty(),
            "a failed request hook sends nothing"
        );
        let seen = rec.seen.lock().unwrap();
        assert_eq!(seen[0], "> Doc.Evaluate h1");
        assert_eq!(seen[1], r#"< Evaluate {"qReturn":"2"}"#);
        // The outer interceptor sees the inner one's replacement.
        let outer_seen = outer.seen.lock().unwrap();
        assert!(
            outer_seen.iter().any(|s| s.contains("from cache")),
            "{outer_seen:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn calls_in_flight_are_bounded() {
    within(LIMIT, "in flight", async {
        let mock = MockEngine::start().await;
        mock.expect("Slow")
            .delay(Duration::from_millis(40))
            .returns(json!({}));
        let session = mock.session().max_in_flight(2).connect().await.unwrap();
        let g = session.global_object();
        let futs: Vec<_> = (0..5).map(|_| call(&g, "Slow", json!({}), None)).collect();
        assert_eq!(
            futs.iter().filter(|f| f.request_id().is_some()).count(),
            2,
            "two sent, three wait"
        );
        for r in futures_util::future::join_all(futs).await {
            r.unwrap();
        }
        assert_eq!(mock.received_method("Slow").len(), 5);
    })
    .await;
}

#[tokio::test]
async fn streams_end_when_the_session_ends() {
    within(LIMIT, "streams end", async {
        let mock = MockEngine::start().await;
        let session = connect(&mock).await;
        let obj = session.register_object(ObjectInfo::new(2, "GenericObject"));
        let mut notes = session.notifications();
        let mut changes = session.changes();
        let mut changed = obj.changed();
        // Handles still held: the streams end anyway.
        session.close().await;
        assert!(notes.next().await.is_none());
        assert!(changes.next().await.is_none());
        assert!(changed.next().await.is_none());
        assert!(matches!(obj.closed().await, ClosedReason::SessionEnded(_)));
        // Subscriptions after the end are ended streams.
        assert!(session.notifications().next().await.is_none());
        assert!(obj.changed().next().await.is_none());
        // A lost connection without reconnection ends them too.
        let mock = MockEngine::start().await;
        let session = connect(&mock).await;
        let mut notes = session.notifications();
        mock.drop_connections();
        let mut last = None;
        while let Some(n) = notes.next().await {
            last = Some(n);
        }
        assert!(
            matches!(last, Some(Ok(qix_runtime::Notification::Suspended { .. }))),
            "{last:?}"
        );
        assert!(session.is_closed());
    })
    .await;
}

#[tokio::test]
async fn a_close_right_after_the_answer_that_opened_an_object_is_not_lost() {
    within(LIMIT, "close before decode", async {
        let mock = MockEngine::start().await;
        mock.expect("GetObject")
            .returns(opened("GenericObject", 5, "o"));
        mock.expect("Touch").returns(json!({})).with_close([5]);
        let session = connect(&mock).await;
        let doc = session.register_object(ObjectInfo::new(1, "Doc"));
        // Pipelined: the open's answer and then a close of its handle both arrive before
        // the first call is decoded.
        let open = call_open(&doc, "GetObject", json!({"qId": "o"}));
        call(&doc, "Touch", json!({}), None).await.unwrap();
        let obj = open.await.unwrap();
        assert_eq!(obj.handle(), 5);
        assert!(
            obj.is_closed(),
            "the close that followed the answer applies to it"
        );
        assert_eq!(obj.closed().await, ClosedReason::Engine);
    })
    .await;
}

#[tokio::test]
async fn connect_fails_typed_without_on_connected() {
    within(LIMIT, "no OnConnected", async {
        let mock = MockEngine::start().await;
        mock.on_connected(None);
        let e = mock
            .session()
            .on_connected_timeout(Some(Duration::from_millis(50)))
            .connect()
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::Timeout { what, .. } if what.contains("OnConnected")),
            "{e}"
        );
    })
    .await;
}

#[tokio::test]
async fn big_results_fail_their_call_only() {
    within(LIMIT, "response limit", async {
        let mock = MockEngine::start().await;
        mock.expect("Big")
            .returns(json!({"qValue": "x".repeat(1000)}));
        mock.expect("Small").returns(json!({}));
        let session = mock
            .session()
            .max_response_bytes(100)
            .connect()
            .await
            .unwrap();
        let g = session.global_object();
        let e = call(&g, "Big", json!({}), None).await.unwrap_err();
        assert!(
            matches!(&e, Error::Protocol(m) if m.contains("limit of 100")),
            "{e}"
        );
        call(&g, "Small", json!({}), None).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_blocked_traffic_hook_stalls_no_call() {
    within(LIMIT, "hook off the connection task", async {
        let mock = MockEngine::start().await;
        mock.expect("EngineVersion")
            .returns(json!({"qVersion": {}}));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        let frames = Arc::new(Mutex::new(Vec::new()));
        let seen = frames.clone();
        let hook = move |dir: qix_runtime::Direction, text: &str| {
            // The first frame blocks the hook until the test has finished its calls.
            if seen.lock().unwrap().is_empty() {
                let _ = gate.lock().unwrap().recv();
            }
            seen.lock().unwrap().push((dir, text.to_string()));
        };
        let session = mock
            .session()
            .traffic(Arc::new(hook))
            .connect()
            .await
            .unwrap();
        for _ in 0..20 {
            call(&session.global_object(), "EngineVersion", json!({}), None)
                .await
                .unwrap();
        }
        release.send(()).unwrap();
        session.close().await;
        // Then it sees every frame, in order.
        let frames = within(LIMIT, "hook drain", async {
            loop {
                if frames.lock().unwrap().len() >= 41 {
                    return frames.lock().unwrap().clone();
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert!(frames[0].1.contains("OnConnected"));
        for (i, pair) in frames[1..41].chunks(2).enumerate() {
            assert_eq!(pair[0].0, qix_runtime::Direction::Sent);
            assert!(pair[0].1.contains(&format!("\"id\":{}", i + 1)), "{pair:?}");
            assert_eq!(pair[1].0, qix_runtime::Direction::Received);
        }
    })
    .await;
}

#[tokio::test]
async fn a_frame_over_the_limit_ends_the_connection_with_a_clear_error() {
    within(LIMIT, "frame limit", async {
        let mock = MockEngine::start().await;
        mock.expect("Big")
            .returns(json!({"qValue": "x".repeat(5000)}));
        let session = mock.session().max_frame_size(1024).connect().await.unwrap();
        let e = call(&session.global_object(), "Big", json!({}), None)
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("too large") || e.to_string().contains("too long"),
            "{e}"
        );
        assert!(session.is_closed());
    })
    .await;
}

/// Asks for a retry of every answer.
struct AlwaysRetry;
impl Interceptor for AlwaysRetry {
    fn response(&self, _: &CallInfo<'_>, _: Outcome<'_>) -> Decision {
        Decision::Retry
    }
}

#[tokio::test]
async fn interceptor_retries_are_bounded() {
    within(LIMIT, "retry bound", async {
        let mock = MockEngine::start().await;
        mock.expect("Loop").returns(json!({}));
        let session = mock
            .session()
            .interceptor(Arc::new(AlwaysRetry))
            .connect()
            .await
            .unwrap();
        call(&session.global_object(), "Loop", json!({}), None)
            .await
            .unwrap();
        assert_eq!(
            mock.received_method("Loop").len(),
            17,
            "the first send and 16 retries"
        );
    })
    .await;
}

/// A hook that blocks until released, then counts frames and drops.
struct SlowHook {
    gate: Mutex<std::sync::mpsc::Receiver<()>>,
    frames: AtomicUsize,
    dropped: std::sync::atomic::AtomicU64,
}

impl qix_runtime::TrafficHook for SlowHook {
    fn frame(&self, _: qix_runtime::Direction, _: &str) {
        if self.frames.fetch_add(1, Ordering::SeqCst) == 0 {
            let _ = self.gate.lock().unwrap().recv();
        }
    }

    fn dropped(&self, frames: u64) {
        self.dropped.fetch_add(frames, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_slow_traffic_hook_has_a_bounded_queue_and_is_told_what_it_missed() {
    within(LIMIT, "bounded hook queue", async {
        let mock = MockEngine::start().await;
        mock.expect("EngineVersion")
            .returns(json!({"qVersion": {"qComponentVersion": "x".repeat(200)}}));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let hook = Arc::new(SlowHook {
            gate: Mutex::new(gate),
            frames: AtomicUsize::new(0),
            dropped: Default::default(),
        });
        let session = mock
            .session()
            .traffic(hook.clone())
            .traffic_queue_bytes(4096)
            .connect()
            .await
            .unwrap();
        // 100 calls while the hook is stuck on the first frame: none waits for it.
        for _ in 0..100 {
            call(&session.global_object(), "EngineVersion", json!({}), None)
                .await
                .unwrap();
        }
        release.send(()).unwrap();
        session.close().await;
        let (seen, dropped) = (
            hook.frames.load(Ordering::SeqCst) as u64,
            hook.dropped.load(Ordering::SeqCst),
        );
        // OnConnected, then 100 requests and 100 answers: each seen or counted dropped.
        assert_eq!(seen + dropped, 201, "seen {seen}, dropped {dropped}");
        assert!(
            dropped > 150,
            "4 KiB hold about 20 frames; dropped {dropped}"
        );
    })
    .await;
}
