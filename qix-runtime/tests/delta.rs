//! The delta protocol against the mock engine: patches per (handle, method), root
//! values, removals, escaped keys, empty lists, string results, a bad patch, late answers.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{LIMIT, call_out, connect};
use qix_runtime::testing::{Fault, MockEngine, Reply, within};
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
        mock.expect("DoSomething").on_handle(2).respond_with(|req| {
            if req.delta {
                Reply::result(json!({"qResult": [{"op":"replace","path":"/nope","value":1}]}))
                    .with_delta()
            } else {
                Reply::result(json!({"qResult": {"done": true}}))
            }
        });
        let session = connect(&mock).await;
        let o = session.register_object(ObjectInfo::new(2, "GenericObject"));
        assert_eq!(
            call_out(&o, "GetLayout", "qLayout", json!({}))
                .await
                .unwrap(),
            json!({"a":1})
        );
        // The patch does not apply: the read goes again without delta, transparently.
        assert_eq!(
            call_out(&o, "GetLayout", "qLayout", json!({}))
                .await
                .unwrap(),
            json!({"a":2})
        );
        // And stays without delta (the engine's base is unknown now): full answers, used
        // as they are.
        assert_eq!(
            call_out(&o, "GetLayout", "qLayout", json!({}))
                .await
                .unwrap(),
            json!({"a":3})
        );
        assert_eq!(
            call_out(&o, "GetLayout", "qLayout", json!({}))
                .await
                .unwrap(),
            json!({"a":4})
        );
        assert_eq!(
            *asked.lock().unwrap(),
            vec![true, true, false, false, false]
        );
        // A write with a delta out-param is not sent twice: its caller sees the error,
        // which names the operation; its key is pinned too.
        let e = call_out(&o, "DoSomething", "qResult", json!({}))
            .await
            .unwrap_err();
        let Error::Delta(d) = &e else { panic!("{e:?}") };
        assert_eq!(
            (d.index, d.op.as_str(), d.path.as_str(), d.out.as_str()),
            (0, "replace", "/nope", "qResult")
        );
        assert_eq!(d.method, "GenericObject.DoSomething");
        assert!(e.to_string().contains("`replace` at `/nope`"), "{e}");
        assert_eq!(mock.received_method("DoSomething").len(), 1);
        assert_eq!(
            call_out(&o, "DoSomething", "qResult", json!({}))
                .await
                .unwrap(),
            json!({"done": true})
        );
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

/// The engine's side of the delta protocol for one key, as a real engine keeps it: the
/// last value it sent with delta, and patches against it. Whether a request *without*
/// delta moves that base is not documented; `moves_on_full` plays both engines.
struct EngineKey {
    base: Option<Value>,
    moves_on_full: bool,
    /// Requests answered so far; the value of the n-th is `truth(n)`.
    n: u64,
}

/// The value the engine holds at its n-th answer: every part of it says `n`, so a value
/// patched from the wrong base (parts of two states) cannot pass for a right one.
fn truth(n: u64) -> Value {
    let mut v = json!({
        "qInfo": {"qId": "o", "qType": "t"},
        "n": n,
        "label": format!("v{n}"),
        "rows": (0..(n % 4 + 1)).map(|i| json!([n, i])).collect::<Vec<_>>(),
    });
    if n % 2 == 0 {
        v["even"] = json!(n);
    }
    v
}

/// What a client value must be: `truth(n)` of the `n` it says.
fn assert_consistent(v: &Value) {
    let n = v["n"].as_u64().unwrap_or_else(|| panic!("no n in {v}"));
    assert_eq!(*v, truth(n), "a value that is no state of the engine's");
}

/// The engine's diff, with its root written `/`.
fn engine_patch(from: &Value, to: &Value) -> Value {
    let mut ops = serde_json::to_value(json_patch::diff(from, to)).unwrap();
    for op in ops.as_array_mut().unwrap() {
        if op["path"] == "" {
            op["path"] = json!("/");
        }
    }
    ops
}

impl EngineKey {
    fn new(moves_on_full: bool) -> Self {
        EngineKey {
            base: None,
            moves_on_full,
            n: 0,
        }
    }

    /// The next answer: a patch against the engine's base (a root `add` when it has none)
    /// for a delta request, the whole value otherwise.
    fn answer(&mut self, delta: bool) -> Value {
        self.n += 1;
        let now = truth(self.n);
        if !delta {
            if self.moves_on_full {
                self.base = Some(now.clone());
            }
            return now;
        }
        let patch = match &self.base {
            None => json!([{"op": "add", "path": "/", "value": now}]),
            Some(b) => engine_patch(b, &now),
        };
        self.base = Some(now);
        patch
    }
}

/// What happens to one answer of the engine (the others are plain).
#[derive(Clone, Copy, PartialEq)]
enum Twist {
    /// A patch that does not apply (the engine moved its base all the same).
    BadPatch,
    /// The engine answers (its base moves) and the connection drops before the answer
    /// arrives; the engine keeps the session.
    LostAtACut,
    /// The answer is bigger than the session's `max_response_bytes`.
    TooBig,
}

/// Serves `GetLayout` on handle 2 from an engine key, with `twist` on its `at`-th answer.
fn serve(
    mock: &MockEngine,
    moves_on_full: bool,
    twist: Option<(Twist, u64)>,
) -> Arc<Mutex<EngineKey>> {
    let key = Arc::new(Mutex::new(EngineKey::new(moves_on_full)));
    let engine = key.clone();
    mock.expect("GetLayout")
        .on_handle(2)
        .respond_with(move |req| {
            let mut k = engine.lock().unwrap();
            let out = k.answer(req.delta);
            let reply = |out: Value| {
                let r = Reply::result(json!({ "qLayout": out }));
                if req.delta { r.with_delta() } else { r }
            };
            match twist {
                Some((Twist::BadPatch, at)) if k.n == at && req.delta => {
                    reply(json!([{"op": "replace", "path": "/no/such/member", "value": 0}]))
                }
                Some((Twist::LostAtACut, at)) if k.n == at => Reply::fault(Fault::DropConnection),
                Some((Twist::TooBig, at)) if k.n == at => {
                    let mut v = truth(k.n);
                    v["padding"] = json!("x".repeat(4096));
                    // The engine's base is what it sent.
                    k.base = Some(v.clone());
                    reply(if req.delta {
                        json!([{"op": "add", "path": "/padding", "value": v["padding"]}])
                    } else {
                        v
                    })
                }
                _ => reply(out),
            }
        });
    key
}

/// Runs `calls` GetLayouts; returns how many failed. Every value that came back must be
/// a state of the engine's.
async fn read_many(o: &qix_runtime::Object, calls: usize) -> usize {
    let mut failed = 0;
    for _ in 0..calls {
        match call_out(o, "GetLayout", "qLayout", json!({})).await {
            Ok(v) => assert_consistent(&v),
            Err(_) => failed += 1,
        }
    }
    failed
}

#[tokio::test]
async fn after_a_bad_patch_no_call_fails_and_no_value_is_wrong_whichever_the_engine() {
    within(LIMIT, "bad patch divergence", async {
        for moves_on_full in [false, true] {
            let mock = MockEngine::start().await;
            serve(&mock, moves_on_full, Some((Twist::BadPatch, 3)));
            let session = connect(&mock).await;
            let o = session.register_object(ObjectInfo::new(2, "GenericObject"));
            assert_eq!(read_many(&o, 12).await, 0, "moves_on_full: {moves_on_full}");
        }
    })
    .await;
}

#[tokio::test]
async fn after_an_answer_lost_at_a_cut_one_call_fails_and_no_value_is_wrong() {
    within(LIMIT, "lost answer divergence", async {
        for moves_on_full in [false, true] {
            let mock = MockEngine::start().await;
            serve(&mock, moves_on_full, Some((Twist::LostAtACut, 3)));
            let session = mock
                .session()
                .reconnect(qix_runtime::Reconnect {
                    initial_delay: Duration::from_millis(5),
                    ..Default::default()
                })
                .connect()
                .await
                .unwrap();
            // The engine kept the session: the other keys keep their caches.
            mock.on_connected(Some("SESSION_ATTACHED"));
            let o = session.register_object(ObjectInfo::new(2, "GenericObject"));
            let failed = read_many(&o, 12).await;
            assert_eq!(
                failed, 1,
                "the call whose answer was lost, and no other (moves_on_full: {moves_on_full})"
            );
            assert_eq!(mock.connections().len(), 2);
        }
    })
    .await;
}

#[tokio::test]
async fn a_delta_answer_over_the_size_limit_costs_one_call_and_no_wrong_value() {
    within(LIMIT, "too big", async {
        for moves_on_full in [false, true] {
            let mock = MockEngine::start().await;
            serve(&mock, moves_on_full, Some((Twist::TooBig, 3)));
            let session = mock
                .session()
                .max_response_bytes(2048)
                .connect()
                .await
                .unwrap();
            let o = session.register_object(ObjectInfo::new(2, "GenericObject"));
            assert_eq!(read_many(&o, 12).await, 1, "moves_on_full: {moves_on_full}");
        }
    })
    .await;
}

#[tokio::test]
async fn evictions_cost_no_call_and_no_wrong_value() {
    within(LIMIT, "evictions", async {
        for moves_on_full in [false, true] {
            let mock = MockEngine::start().await;
            let keys: Vec<_> = (2..=3)
                .map(|h| {
                    let key = Arc::new(Mutex::new(EngineKey::new(moves_on_full)));
                    let engine = key.clone();
                    mock.expect("GetLayout")
                        .on_handle(h)
                        .respond_with(move |req| {
                            let out = engine.lock().unwrap().answer(req.delta);
                            let r = Reply::result(json!({ "qLayout": out }));
                            if req.delta { r.with_delta() } else { r }
                        });
                    key
                })
                .collect();
            // Room for one cache: the two objects evict each other.
            let session = mock
                .session()
                .options(qix_runtime::SessionOptions {
                    delta_cache_entries: 1,
                    ..Default::default()
                })
                .connect()
                .await
                .unwrap();
            let a = session.register_object(ObjectInfo::new(2, "GenericObject"));
            let b = session.register_object(ObjectInfo::new(3, "GenericObject"));
            for _ in 0..8 {
                assert_eq!(read_many(&a, 1).await + read_many(&b, 1).await, 0);
            }
            assert_eq!(keys[0].lock().unwrap().n, 8);
        }
    })
    .await;
}

#[tokio::test]
async fn calls_in_flight_behind_a_bad_patch_are_read_again_not_failed() {
    within(LIMIT, "siblings", async {
        let mock = MockEngine::start().await;
        serve(&mock, false, Some((Twist::BadPatch, 2)));
        let session = connect(&mock).await;
        let o = session.register_object(ObjectInfo::new(2, "GenericObject"));
        assert_eq!(read_many(&o, 1).await, 0);
        // Four pipelined: the first patch fails, the three behind it land on no base.
        let all = futures_util::future::join_all(
            (0..4).map(|_| call_out(&o, "GetLayout", "qLayout", json!({}))),
        )
        .await;
        for r in all {
            assert_consistent(&r.expect("a read is sent again, not failed"));
        }
    })
    .await;
}

#[tokio::test]
async fn a_patch_list_without_a_base_is_an_error_never_a_default_value() {
    within(LIMIT, "no base", async {
        for first in [
            json!([]),
            json!([{"op": "replace", "path": "/qInfo/qId", "value": "x"}]),
            json!([{"op": "remove", "path": "/"}]),
        ] {
            let mock = MockEngine::start().await;
            let answer = first.clone();
            mock.expect("SetSomething")
                .on_handle(2)
                .respond_with(move |_| Reply::result(json!({ "qResult": answer })).with_delta());
            let session = connect(&mock).await;
            let o = session.register_object(ObjectInfo::new(2, "GenericObject"));
            // Not a read: its caller sees the error (a read would be sent again).
            let e = call_out(&o, "SetSomething", "qResult", json!({}))
                .await
                .expect_err("no value may come of a patch with no base");
            let Error::Delta(d) = &e else { panic!("{e:?}") };
            assert!(d.message.contains("does not have"), "{e}");
        }
    })
    .await;
}

#[tokio::test]
async fn big_answers_are_patched_off_the_connection_task_in_order() {
    within(LIMIT, "big patches", async {
        let mock = MockEngine::start().await;
        // Values of about 400 KiB: every answer for handle 2 is big or follows a big one.
        let big = |n: u64| {
            let mut v = truth(n);
            v["pages"] = json!(vec![format!("page {n}"); 40_000]);
            v
        };
        let key = Arc::new(Mutex::new(None::<Value>));
        let engine = key.clone();
        let n = AtomicUsize::new(0);
        mock.expect("GetLayout")
            .on_handle(2)
            .respond_with(move |req| {
                assert!(req.delta);
                let i = n.fetch_add(1, Ordering::SeqCst) as u64 + 1;
                let mut base = engine.lock().unwrap();
                // Big and small patches alternate: a small one follows a big one of its key.
                let now = if i % 2 == 1 {
                    big(i)
                } else {
                    let mut v = base.clone().unwrap();
                    v["n"] = json!(i);
                    v
                };
                let patch = match &*base {
                    None => json!([{"op": "add", "path": "/", "value": now}]),
                    Some(b) => engine_patch(b, &now),
                };
                *base = Some(now);
                Reply::result(json!({ "qLayout": patch })).with_delta()
            });
        mock.expect("GetProperties")
            .on_handle(3)
            .returns(json!({"qProp": {"x": 1}}));
        let session = connect(&mock).await;
        let o = session.register_object(ObjectInfo::new(2, "GenericObject"));
        let other = session.register_object(ObjectInfo::new(3, "GenericObject"));
        let mut seen = Vec::new();
        for _ in 0..4 {
            // Pipelined: two of the key at once, and another object's call between them.
            let (a, x, b) = tokio::join!(
                call_out(&o, "GetLayout", "qLayout", json!({})),
                common::call(&other, "GetProperties", json!({}), None),
                call_out(&o, "GetLayout", "qLayout", json!({})),
            );
            x.unwrap();
            seen.push(a.unwrap());
            seen.push(b.unwrap());
        }
        for (i, v) in seen.iter().enumerate() {
            let n = i as u64 + 1;
            assert_eq!(v["n"], json!(n), "answer {n} in order");
            assert_eq!(
                v["pages"][0],
                json!(format!("page {}", if n % 2 == 1 { n } else { n - 1 }))
            );
        }
        assert_eq!(
            mock.received_method("GetLayout")
                .iter()
                .filter(|r| !r.delta)
                .count(),
            0
        );
    })
    .await;
}
