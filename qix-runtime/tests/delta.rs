//! The delta protocol against the mock engine: patches per (handle, method), root
//! values, removals, escaped keys, empty lists, string results, a bad patch, late answers.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{LIMIT, call_out, connect};
use qix_runtime::testing::{MockEngine, Reply, within};
use qix_runtime::{Error, ObjectInfo};
use serde_json::{Value, json};

/// Answers `method` with the next patch list of a script, per handle; records whether
/// each request asked for delta.
fn scripted(
    mock: &MockEngine,
    method: &str,
    out: &'static str,
    handle: i32,
    script: Vec<Value>,
) -> Arc<Mutex<Vec<bool>>> {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = asked.clone();
    let n = AtomicUsize::new(0);
    mock.expect(method)
        .on_handle(handle)
        .respond_with(move |req| {
            seen.lock().unwrap().push(req.delta);
            let i = n.fetch_add(1, Ordering::SeqCst);
            let patch = script.get(i).cloned().unwrap_or(json!([]));
            Reply::result(json!({ out: patch })).with_delta()
        });
    asked
}

#[tokio::test]
async fn patches_apply_per_handle_and_method() {
    within(LIMIT, "delta", async {
        let mock = MockEngine::start().await;
        let a = scripted(&mock, "GetLayout", "qLayout", 2, vec![
            json!([{"op":"add","path":"/","value":{"qInfo":{"qId":"a"},"n":1,"list":[1],"k/~":"x"}}]),
            json!([{"op":"replace","path":"/n","value":2},{"op":"add","path":"/list/-","value":2},{"op":"remove","path":"/k~1~0"}]),
            json!([]),
            json!([{"op":"add","path":"/m~1x","value":{"deep":[null]}},{"op":"move","from":"/list/0","path":"/first"}]),
        ]);
        let b = scripted(&mock, "GetLayout", "qLayout", 3, vec![
            json!([{"op":"add","path":"/","value":{"qInfo":{"qId":"b"},"n":10}}]),
            json!([{"op":"replace","path":"/n","value":11}]),
        ]);
        let script = scripted(&mock, "GetScript", "qScript", 1, vec![
            json!([{"op":"add","path":"/","value":"LOAD 1;"}]),
            json!([{"op":"replace","path":"/","value":"LOAD 2;"}]),
            json!([]),
        ]);
        let session = connect(&mock).await;
        let doc = session.register_object(ObjectInfo::new(1, "Doc"));
        let o2 = session.register_object(ObjectInfo::new(2, "GenericObject"));
        let o3 = session.register_object(ObjectInfo::new(3, "GenericObject"));
        // Interleaved and pipelined: both objects' caches move independently.
        let (x1, y1) = tokio::join!(call_out(&o2, "GetLayout", "qLayout", json!({})), call_out(&o3, "GetLayout", "qLayout", json!({})));
        assert_eq!(x1.unwrap(), json!({"qInfo":{"qId":"a"},"n":1,"list":[1],"k/~":"x"}));
        assert_eq!(y1.unwrap(), json!({"qInfo":{"qId":"b"},"n":10}));
        let (x2, y2) = tokio::join!(call_out(&o2, "GetLayout", "qLayout", json!({})), call_out(&o3, "GetLayout", "qLayout", json!({})));
        assert_eq!(x2.unwrap(), json!({"qInfo":{"qId":"a"},"n":2,"list":[1,2]}));
        assert_eq!(y2.unwrap(), json!({"qInfo":{"qId":"b"},"n":11}));
        // An empty list: unchanged.
        let x3 = call_out(&o2, "GetLayout", "qLayout", json!({})).await.unwrap();
        assert_eq!(x3, json!({"qInfo":{"qId":"a"},"n":2,"list":[1,2]}));
        let x4 = call_out(&o2, "GetLayout", "qLayout", json!({})).await.unwrap();
        assert_eq!(x4, json!({"qInfo":{"qId":"a"},"n":2,"list":[2],"first":1,"m/x":{"deep":[null]}}));
        // A string result: one root patch.
        for want in ["LOAD 1;", "LOAD 2;", "LOAD 2;"] {
            assert_eq!(call_out(&doc, "GetScript", "qScript", json!({})).await.unwrap(), json!(want));
        }
        assert!(a.lock().unwrap().iter().all(|d| *d), "every GetLayout asked for delta");
        assert!(b.lock().unwrap().iter().all(|d| *d));
        assert!(script.lock().unwrap().iter().all(|d| *d));
        mock.verify().unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_bad_patch_pins_the_key_to_full_answers_and_a_read_never_sees_it() {
    within(LIMIT, "bad patch", async {
        let mock = MockEngine::start().await;
        let asked = Arc::new(Mutex::new(Vec::new()));
        let seen = asked.clone();
        let n = AtomicUsize::new(0);
        mock.expect("GetLayout")
            .on_handle(2)
            .respond_with(move |req| {
                seen.lock().unwrap().push(req.delta);
                match n.fetch_add(1, Ordering::SeqCst) {
                    0 => {
                        Reply::result(json!({"qLayout": [{"op":"add","path":"/","value":{"a":1}}]}))
                            .with_delta()
                    }
                    1 => Reply::result(
                        json!({"qLayout": [{"op":"replace","path":"/missing/x","value":1}]}),
                    )
                    .with_delta(),
                    // Asked without delta: the engine sends the whole value.
                    k => Reply::result(json!({"qLayout": {"a": k}})),
                }
            });
        mock.expect("DoSomething")
            .on_handle(2)
            .respond_with(|req| {
                if req.delta {
                    Reply::result(json!({"qResult": [{"op":"replace","path":"/nope","value":1}]}))
                        .with_delta()
                } else {
                    Reply::result(json!({"qResult": {"done": true}}))
                }
            });
        let session = connect(&mock).await;
        let o = session.register_object(ObjectInfo::new(2, "GenericObject"));
        assert_eq!(call_out(&o, "GetLayout", "qLayout", json!({})).await.unwrap(), json!({"a":1}));
        // The patch does not apply: the read goes again without delta, transparently.
        assert_eq!(call_out(&o, "GetLayout", "qLayout", json!({})).await.unwrap(), json!({"a":2}));
        // And stays without delta (the engine's base is unknown now): full answers, used
        // as they are.
        assert_eq!(call_out(&o, "GetLayout", "qLayout", json!({})).await.unwrap(), json!({"a":3}));
        assert_eq!(call_out(&o, "GetLayout", "qLayout", json!({})).await.unwrap(), json!({"a":4}));
        assert_eq!(*asked.lock().unwrap(), vec![true, true, false, false, false]);
        // A write with a delta out-param is not sent twice: its caller sees the error,
        // which names the operation; its key is pinned too.
        let e = call_out(&o, "DoSomething", "qResult", json!({})).await.unwrap_err();
        let Error::Delta(d) = &e else { panic!("{e:?}") };
        assert_eq!(
            (d.index, d.op.as_str(), d.path.as_str(), d.out.as_str()),
            (0, "replace", "/nope", "qResult")
        );
        assert_eq!(d.method, "GenericObject.DoSomething");
        assert!(e.to_string().contains("`replace` at `/nope`"), "{e}");
        assert_eq!(mock.received_method("DoSomething").len(), 1);
        assert_eq!(call_out(&o, "DoSomething", "qResult", json!({})).await.unwrap(), json!({"done": true}));
        assert!(
            !session.is_closed(),
            "a bad patch fails at most the call, not the session"
        );
    })
    .await;
}

#[tokio::test]
async fn delta_can_be_turned_off_and_engines_without_it_are_fine() {
    within(LIMIT, "delta off", async {
        let mock = MockEngine::start().await;
        let asked = Arc::new(Mutex::new(Vec::new()));
        let seen = asked.clone();
        // An engine that ignores delta: full values, no `"delta": true`.
        mock.expect("GetLayout").respond_with(move |req| {
            seen.lock().unwrap().push(req.delta);
            Reply::result(json!({"qLayout": {"n": 1}}))
        });
        let on = connect(&mock).await;
        let off = mock.session().delta(false).connect().await.unwrap();
        for s in [&on, &off] {
            let o = s.register_object(ObjectInfo::new(2, "GenericObject"));
            for _ in 0..2 {
                assert_eq!(
                    call_out(&o, "GetLayout", "qLayout", json!({}))
                        .await
                        .unwrap(),
                    json!({"n": 1})
                );
            }
        }
        assert_eq!(*asked.lock().unwrap(), vec![true, true, false, false]);
    })
    .await;
}

#[tokio::test]
async fn a_late_answer_still_moves_the_cache_and_closing_drops_it() {
    within(LIMIT, "late delta", async {
        let mock = MockEngine::start().await;
        let n = AtomicUsize::new(0);
        mock.expect("GetLayout")
            .on_handle(2)
            .delay(Duration::from_millis(30))
            .times(1)
            .respond_with(|_| {
                Reply::result(json!({"qLayout": [{"op":"add","path":"/","value":{"v":1}}]}))
                    .with_delta()
            });
        mock.expect("GetLayout")
            .on_handle(2)
            .respond_with(move |req| {
                let v = match n.fetch_add(1, Ordering::SeqCst) {
                    0 => json!([{"op":"replace","path":"/v","value":2}]),
                    _ => json!([{"op":"add","path":"/","value":{"v":"fresh"}}]),
                };
                assert!(req.delta);
                Reply::result(json!({"qLayout": v})).with_delta()
            });
        mock.expect("Touch")
            .on_handle(1)
            .returns(json!({}))
            .with_close([2]);
        mock.expect("GetObject")
            .returns(common::opened("GenericObject", 2, "o"));
        let session = connect(&mock).await;
        let doc = session.register_object(ObjectInfo::new(1, "Doc"));
        let o = session.register_object(ObjectInfo::new(2, "GenericObject"));
        // Given up after it was sent: the engine still answers, and moved its cache.
        let fut = call_out(&o, "GetLayout", "qLayout", json!({}));
        mock.wait_for("GetLayout", 1, LIMIT).await.unwrap();
        drop(fut);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(
            call_out(&o, "GetLayout", "qLayout", json!({}))
                .await
                .unwrap(),
            json!({"v": 2})
        );
        // The engine closes handle 2: its cache goes; the handle number comes back for a
        // new object, whose first answer builds a new cache.
        common::call(&doc, "Touch", json!({}), None).await.unwrap();
        assert!(o.is_closed());
        let again = common::call_open(&doc, "GetObject", json!({"qId": "o"}))
            .await
            .unwrap();
        assert_eq!(again.handle(), 2);
        assert_eq!(
            call_out(&again, "GetLayout", "qLayout", json!({}))
                .await
                .unwrap(),
            json!({"v": "fresh"})
        );
    })
    .await;
}
