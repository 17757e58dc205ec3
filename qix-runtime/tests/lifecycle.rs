//! Object lifecycle and calls: change/close ordering, closed handles, cancellation,
//! `Live` layouts, raw calls, session states, error text.
#![cfg(feature = "testing")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{LIMIT, call, cause, connect};
use futures_util::FutureExt;
use qix_runtime::layout::Live;
use qix_runtime::testing::{MockEngine, Reply, within};
use qix_runtime::{CloseInfo, EngineError, Error, ObjectInfo, Session, SessionState};
use serde_json::{Value, json};

#[tokio::test]
async fn change_events_are_published_before_the_response_is_delivered() {
    within(LIMIT, "change ordering", async {
        let mock = MockEngine::start().await;
        mock.expect("SelectValues")
            .on_handle(2)
            .returns(json!({"qReturn": true}))
            .with_change([1, 2]);
        let session = connect(&mock).await;
        let obj = session.register_object(ObjectInfo::new(2, "GenericObject"));
        let doc = session.register_object(ObjectInfo::new(1, "Doc"));
        let mut obj_changed = obj.changed();
        let mut doc_changed = doc.changed();
        let mut changes = session.changes();
        let r = call(&obj, "SelectValues", json!({}), None).await.unwrap();
        assert_eq!(r, json!({"qReturn": true}));
        // Already there when the awaited call returns: no waiting needed.
        assert_eq!(obj_changed.next_item().now_or_never(), Some(Some(Ok(()))));
        assert_eq!(doc_changed.next_item().now_or_never(), Some(Some(Ok(()))));
        let list = changes
            .next_item()
            .now_or_never()
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(&*list, &[1, 2]);
        assert!(obj_changed.next_item().now_or_never().is_none());
    })
    .await;
}

#[tokio::test]
async fn a_closed_handle_fails_at_once_without_being_sent() {
    within(LIMIT, "closed handle", async {
        let mock = MockEngine::start().await;
        mock.expect("DestroyChild").on_handle(1).returns(json!({"qSuccess": true})).with_close([2]);
        mock.expect("GetLayout").on_handle(2).optional();
        let session = connect(&mock).await;
        let doc = session.register_object(ObjectInfo::new(1, "Doc"));
        let obj = session.register_object(ObjectInfo::new(2, "GenericObject"));
        let closed = obj.closed();
        call(&doc, "DestroyChild", json!({"qId": "x"}), None).await.unwrap();
        // Closed before the response was delivered.
        assert!(obj.is_closed());
        closed.now_or_never().expect("closed() resolved");
        let err = call(&obj, "GetLayout", json!({}), None).await.unwrap_err();
        assert!(
            matches!(&err, Error::ObjectClosed { handle: 2, method } if method == "GenericObject.GetLayout"),
            "{err:?}"
        );
        assert!(err.to_string().contains("not sent"), "{err}");
        // Raw calls on the closed handle fail the same way.
        let raw = session.call_raw(2, "GetLayout", json!({})).await.unwrap_err();
        assert!(matches!(raw, Error::ObjectClosed { handle: 2, .. }), "{raw:?}");
        assert!(!doc.is_closed() && !session.is_closed());
        // Round trip: had GetLayout been sent, the mock would have it by now.
        call(&doc, "DestroyChild", json!({"qId": "y"}), None).await.unwrap();
        assert!(mock.received_method("GetLayout").is_empty());
        // A new object on the reused handle number is open.
        let again = session.register_object(ObjectInfo::new(2, "GenericObject"));
        assert!(!again.is_closed());
    })
    .await;
}

#[tokio::test]
async fn a_dropped_call_sends_exactly_one_cancel_request() {
    within(LIMIT, "cancellation", async {
        let mock = MockEngine::start().await;
        mock.expect("DoReload").no_response();
        mock.expect("EngineVersion")
            .returns(json!({"qVersion": {"qComponentVersion": "1"}}));
        let session = connect(&mock).await;
        let doc = session.register_object(ObjectInfo::new(1, "Doc"));
        let fut = call(&doc, "DoReload", json!({}), None);
        let id = fut.request_id().unwrap();
        mock.wait_for("DoReload", 1, LIMIT).await.unwrap();
        drop(fut);
        let cancels = mock.wait_for("CancelRequest", 1, LIMIT).await.unwrap();
        assert_eq!(cancels[0].handle, -1);
        assert_eq!(cancels[0].param("qRequestId"), Some(&json!(id)));
        // Usable afterwards; a second cancel would have arrived before this call.
        let global = session.global_object();
        call(&global, "EngineVersion", json!({}), None)
            .await
            .unwrap();
        call(&global, "EngineVersion", json!({}), None)
            .await
            .unwrap();
        assert_eq!(mock.received_method("CancelRequest").len(), 1);
        // Dropping a call whose answer already came sends no cancel.
        let answered = call(&global, "EngineVersion", json!({}), None);
        call(&global, "EngineVersion", json!({}), None)
            .await
            .unwrap();
        drop(answered);
        call(&global, "EngineVersion", json!({}), None)
            .await
            .unwrap();
        assert_eq!(mock.received_method("CancelRequest").len(), 1);
        // `cancel()` is the same as dropping.
        let fut = call(&doc, "DoReload", json!({}), None);
        mock.wait_for("DoReload", 2, LIMIT).await.unwrap();
        fut.cancel();
        mock.wait_for("CancelRequest", 2, LIMIT).await.unwrap();
        call(&global, "EngineVersion", json!({}), None)
            .await
            .unwrap();
        assert_eq!(mock.received_method("CancelRequest").len(), 2);
        // A call given up before the connection task wrote it is never sent at all, so
        // there is nothing to cancel.
        call(&doc, "DoReload", json!({}), None).cancel();
        call(&global, "EngineVersion", json!({}), None)
            .await
            .unwrap();
        assert_eq!(mock.received_method("DoReload").len(), 2);
        assert_eq!(mock.received_method("CancelRequest").len(), 2);
        mock.verify().unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_late_answer_to_a_cancelled_call_is_dropped() {
    within(LIMIT, "late answer", async {
        let mock = MockEngine::start().await;
        mock.expect("DoReload")
            .delay(Duration::from_millis(20))
            .returns(json!({"qReturn": true}));
        mock.expect("EngineVersion")
            .returns(json!({"qVersion": {"qComponentVersion": "1"}}));
        let session = connect(&mock).await;
        let doc = session.register_object(ObjectInfo::new(1, "Doc"));
        let fut = call(&doc, "DoReload", json!({}), None);
        mock.wait_for("DoReload", 1, LIMIT).await.unwrap();
        drop(fut);
        mock.wait_for("CancelRequest", 1, LIMIT).await.unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
        let v = call(&session.global_object(), "EngineVersion", json!({}), None)
            .await
            .unwrap();
        assert_eq!(v["qVersion"]["qComponentVersion"], "1");
        assert!(!session.is_closed());
    })
    .await;
}

#[tokio::test]
async fn live_refetches_once_per_burst_of_changes() {
    within(LIMIT, "live layout", async {
        let mock = MockEngine::start().await;
        let n = Arc::new(AtomicUsize::new(0));
        let counter = n.clone();
        mock.expect("GetLayout")
            .on_handle(2)
            .respond_with(move |_| {
                Reply::result(json!({"qLayout": {"n": counter.fetch_add(1, Ordering::SeqCst) + 1}}))
            });
        mock.expect("SelectValues")
            .on_handle(2)
            .returns(json!({"qReturn": true}))
            .with_change([2]);
        mock.expect("Touch")
            .on_handle(2)
            .returns(json!({}))
            .with_close([2]);
        let session = connect(&mock).await;
        let obj = session.register_object(ObjectInfo::new(2, "GenericObject"));
        // The first fetch waits at a gate the test opens: the burst lands while it runs.
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let (o, g) = (obj.clone(), gate.clone());
        let mut live: Live<Value> = Live::new(&obj, move || {
            let (o, g) = (o.clone(), g.clone());
            async move {
                let _pass = g.acquire().await;
                call(&o, "GetLayout", json!({}), None)
                    .await
                    .map(|v| v["qLayout"].clone())
            }
        });
        for _ in 0..5 {
            call(&obj, "SelectValues", json!({}), None).await.unwrap();
        }
        gate.add_permits(100);
        let mut state = live.next().await;
        while state.fetches < 2 {
            state = live.next().await;
        }
        assert_eq!(state.fetches, 2);
        assert_eq!(state.value.as_deref(), Some(&json!({"n": 2})));
        assert!(state.error.is_none());
        // Five changes, one refetch: nothing more is on its way.
        call(&obj, "SelectValues", json!({}), None).await.unwrap();
        let third = live.next().await;
        assert_eq!(third.fetches, 3);
        assert_eq!(third.value.as_deref(), Some(&json!({"n": 3})));
        assert_eq!(mock.received_method("GetLayout").len(), 3);
        // Closing the object ends it.
        call(&obj, "Touch", json!({}), None).await.unwrap();
        let last = live.next().await;
        assert!(last.closed, "{last:?}");
        assert_eq!(live.latest().as_deref(), Some(&json!({"n": 3})));
    })
    .await;
}

#[tokio::test]
async fn live_keeps_the_last_value_when_a_fetch_fails() {
    within(LIMIT, "live error", async {
        let mock = MockEngine::start().await;
        mock.expect("GetLayout")
            .on_handle(2)
            .times(1)
            .returns(json!({"qLayout": {"ok": true}}));
        mock.expect("GetLayout")
            .on_handle(2)
            .returns_error(-128, "", "Internal engine error");
        mock.expect("SelectValues")
            .on_handle(2)
            .returns(json!({}))
            .with_change([2]);
        let session = connect(&mock).await;
        let obj = session.register_object(ObjectInfo::new(2, "GenericObject"));
        let o = obj.clone();
        let mut live = Live::new(&obj, move || {
            let o = o.clone();
            async move { call(&o, "GetLayout", json!({}), None).await }
        });
        assert!(live.next().await.value.is_some());
        call(&obj, "SelectValues", json!({}), None).await.unwrap();
        let s = live.next().await;
        assert_eq!(s.error.as_ref().and_then(Error::engine_code), Some(-128));
        assert_eq!(s.value.as_deref(), Some(&json!({"qLayout": {"ok": true}})));
        assert_eq!(live.error().and_then(|e| e.engine_code()), Some(-128));
    })
    .await;
}

#[tokio::test]
async fn call_raw_sends_named_and_positional_params() {
    within(LIMIT, "call_raw", async {
        let mock = MockEngine::start().await;
        mock.param_names(|_, m| match m {
            "OpenDoc" => Some(&["qDocName", "qUserName", "qPassword", "qSerial", "qNoData"]),
            _ => None,
        });
        mock.expect("OpenDoc")
            .with_params(json!({"qDocName": "a.qvf", "qNoData": true}))
            .times(2)
            .returns(json!({"qReturn": {"qType": "Doc", "qHandle": 1}}));
        let session = connect(&mock).await;
        let named = session
            .call_raw(-1, "OpenDoc", json!({"qDocName": "a.qvf", "qNoData": true}))
            .await
            .unwrap();
        let positional = session
            .call_raw(-1, "OpenDoc", json!(["a.qvf", "", "", "", true]))
            .await
            .unwrap();
        assert_eq!(named, positional);
        assert_eq!(
            mock.received()[1].params,
            json!(["a.qvf", "", "", "", true])
        );
        let err = session
            .call_raw(-1, "OpenDoc", json!("not params"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Encode(_)), "{err:?}");
        mock.verify().unwrap();
    })
    .await;
}

#[tokio::test]
async fn engine_errors_carry_code_and_method() {
    within(LIMIT, "engine error", async {
        let mock = MockEngine::start().await;
        mock.expect("GetActiveDoc")
            .returns_error(1007, "No active document", "App invalid");
        let session = connect(&mock).await;
        let err = call(&session.global_object(), "GetActiveDoc", json!({}), None)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Global.GetActiveDoc failed: engine error 1007: App invalid (No active document)"
        );
        assert_eq!(err.engine_code(), Some(1007));
    })
    .await;
}

#[tokio::test]
async fn on_connected_states_reach_the_session() {
    within(LIMIT, "session states", async {
        let mock = MockEngine::start().await;
        mock.on_connected(Some("SESSION_ATTACHED"));
        let s = connect(&mock).await;
        assert_eq!(s.state(), Some(SessionState::Attached));
        mock.on_connected(Some("SESSION_ERROR_NO_LICENSE"));
        let err = Session::connect(mock.url()).await.unwrap_err();
        assert!(
            matches!(&err, Error::SessionRejected { state } if state == "SESSION_ERROR_NO_LICENSE"),
            "{err:?}"
        );
        // Engines always send OnConnected: a peer that does not is refused in time…
        mock.on_connected(None);
        let err = mock
            .session()
            .on_connected_timeout(Some(Duration::from_millis(20)))
            .connect()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Timeout { what, .. } if what.contains("OnConnected")),
            "{err:?}"
        );
        // …unless told not to wait for it.
        let s = mock
            .session()
            .on_connected_timeout(None)
            .connect()
            .await
            .unwrap();
        assert_eq!(s.state(), None);
    })
    .await;
}

#[test]
fn every_error_displays_as_one_line() {
    let errors = [
        Error::Engine(EngineError {
            code: 2,
            parameter: "p".into(),
            message: "m".into(),
            method: "Doc.GetObject".into(),
        }),
        Error::ConnectionClosed(CloseInfo::remote(Some(4204), "gone")),
        Error::ConnectionClosed(CloseInfo::remote(None, "")),
        Error::Transport("x".into()),
        Error::Timeout {
            what: "Doc.DoReload (request 3)".into(),
            after: Duration::from_secs(1),
        },
        Error::Delta(Box::new(qix_runtime::DeltaError {
            method: "GenericObject.GetLayout".into(),
            out: "qLayout".into(),
            index: 1,
            op: "replace".into(),
            path: "/qInfo/qId".into(),
            message: "path does not exist".into(),
        })),
        Error::Protocol("bad".into()),
        Error::ObjectNotFound {
            method: "Doc.GetObject".into(),
            detail: "d".into(),
        },
        Error::ObjectClosed {
            handle: 3,
            method: "GenericObject.GetLayout".into(),
        },
        Error::SessionRejected {
            state: "SESSION_ERROR_NO_LICENSE".into(),
        },
        Error::Encode("e".into()),
        Error::Config("c".into()),
    ];
    for e in errors {
        let s = e.to_string();
        assert!(!s.is_empty() && !s.contains('\n'), "{s:?}");
    }
    let closed = Error::ConnectionClosed(CloseInfo::remote(Some(4204), "gone"));
    assert_eq!(
        closed.to_string(),
        "connection to the engine closed: close code 4204 (app not found): gone"
    );
}

#[tokio::test]
async fn a_transport_failure_keeps_its_cause() {
    // A port nobody listens on: the I/O error of the refused connect is the cause.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = Session::builder(format!("ws://127.0.0.1:{port}/app/"))
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "transport", "{err:?}");
    let io = cause::<std::io::Error>(&err)
        .unwrap_or_else(|| panic!("no io::Error in the source chain of {err:?}"));
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused, "{io}");

    // A server that refuses the upgrade: the WebSocket library's upgrade error is the cause.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = tcp.read(&mut buf).await;
        let _ = tcp
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            .await;
    });
    let err = Session::builder(format!("ws://127.0.0.1:{port}/app/"))
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "transport", "{err:?}");
    let ws = cause::<tokio_websockets::Error>(&err)
        .unwrap_or_else(|| panic!("no tokio_websockets::Error in the source chain of {err:?}"));
    match ws {
        tokio_websockets::Error::Upgrade(
            tokio_websockets::upgrade::Error::DidNotSwitchProtocols(status),
        ) => assert_eq!(*status, 404),
        other => panic!("expected the HTTP refusal, got {other:?}"),
    }
    assert!(
        err.to_string().contains("no engine or app at this path"),
        "{err}"
    );
    // Display still says what happened, cause included.
    assert!(err.to_string().contains("404"), "{err}");
}
