//! Suspend, resume and automatic reconnection against the mock engine: SESSION_ATTACHED
//! and SESSION_CREATED, restored docs, objects and session objects, closed fields, calls
//! in flight and calls made while disconnected, close codes that stop it.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use common::{LIMIT, call, call_open, connect, opened};
use futures_util::StreamExt;
use qix_runtime::testing::{MockEngine, Reply, within};
use qix_runtime::{ClosedReason, Error, Notification, Reconnect, Session, SessionState};
use serde_json::json;

fn fast() -> Reconnect {
    Reconnect {
        initial_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        max_attempts: 20,
        max_elapsed: Duration::from_secs(10),
        ..Reconnect::default()
    }
}

async fn reconnecting(mock: &MockEngine) -> Session {
    mock.session()
        .reconnect(fast())
        .connect()
        .await
        .expect("connect")
}

/// Waits for the next `Resumed` notification.
async fn resumed(n: &mut qix_runtime::BroadcastStream<Notification>) -> qix_runtime::ResumeReport {
    loop {
        match n.next().await {
            Some(Ok(Notification::Resumed(r))) => return r,
            Some(_) => {}
            None => panic!("the session ended instead of resuming"),
        }
    }
}

#[tokio::test]
async fn attached_keeps_every_handle_and_signals_changes() {
    within(LIMIT, "attached", async {
        let mock = MockEngine::start().await;
        mock.expect("OpenDoc").returns(opened("Doc", 1, "app"));
        mock.expect("GetObject")
            .on_handle(1)
            .times(1)
            .returns(opened("GenericObject", 2, "o"));
        mock.expect("GetLayout")
            .on_handle(2)
            .returns(json!({"qLayout": {"n": 1}}));
        // The engine says it kept the session: checked, not trusted.
        mock.expect("GetActiveDoc")
            .times(1)
            .returns(opened("Doc", 1, "app"));
        mock.expect("GetObject")
            .on_handle(1)
            .with_params(json!({"qId": "o"}))
            .returns(opened("GenericObject", 2, "o"));
        let session = reconnecting(&mock).await;
        let mut notes = session.notifications();
        let doc = call_open(
            &session.global_object(),
            "OpenDoc",
            json!({"qDocName": "app"}),
        )
        .await
        .unwrap();
        let obj = call_open(&doc, "GetObject", json!({"qId": "o"}))
            .await
            .unwrap();
        let mut changed = obj.changed();
        mock.on_connected(Some("SESSION_ATTACHED"));
        mock.drop_connections();
        let report = resumed(&mut notes).await;
        assert_eq!(report.state, SessionState::Attached);
        assert_eq!(report.attach_mismatch, None);
        assert_eq!(report.restored.len(), 2);
        assert!(report.closed.is_empty());
        assert_eq!((doc.handle(), obj.handle()), (1, 2));
        changed.next().await.unwrap().unwrap();
        call(&obj, "GetLayout", json!({}), None).await.unwrap();
        assert_eq!(mock.received_method("OpenDoc").len(), 1, "nothing reopened");
        assert_eq!(
            mock.received_method("GetObject").len(),
            2,
            "the object was looked up by id"
        );
        assert_eq!(mock.connections().len(), 2);
        mock.verify().unwrap();
    })
    .await;
}

#[tokio::test]
async fn attached_but_lost_falls_back_to_opening_everything_again() {
    within(LIMIT, "attached mismatch", async {
        let mock = MockEngine::start().await;
        mock.expect("OpenDoc")
            .times(1)
            .returns(opened("Doc", 1, "app"));
        mock.expect("GetObject")
            .on_handle(1)
            .times(1)
            .returns(opened("GenericObject", 2, "o"));
        let session = reconnecting(&mock).await;
        let mut notes = session.notifications();
        let doc = call_open(
            &session.global_object(),
            "OpenDoc",
            json!({"qDocName": "app"}),
        )
        .await
        .unwrap();
        let obj = call_open(&doc, "GetObject", json!({"qId": "o"}))
            .await
            .unwrap();
        // A proxy routed the new connection to an engine that says "attached" but has no
        // active doc: the handles must not be trusted.
        mock.expect("GetActiveDoc")
            .returns_error(1007, "", "No active document");
        mock.expect("OpenDoc")
            .with_params(json!({"qDocName": "app"}))
            .returns(opened("Doc", 5, "app"));
        mock.expect("GetObject")
            .on_handle(5)
            .returns(opened("GenericObject", 6, "o"));
        mock.expect("GetLayout")
            .on_handle(6)
            .returns(json!({"qLayout": {"n": 6}}));
        mock.on_connected(Some("SESSION_ATTACHED"));
        mock.drop_connections();
        let report = resumed(&mut notes).await;
        assert_eq!(report.state, SessionState::Attached);
        let why = report.attach_mismatch.expect("the mismatch is reported");
        assert!(why.contains("GetActiveDoc failed"), "{why}");
        assert_eq!((doc.handle(), obj.handle()), (5, 6));
        assert_eq!(
            call(&obj, "GetLayout", json!({}), None).await.unwrap(),
            json!({"qLayout": {"n": 6}})
        );
        mock.verify().unwrap();
    })
    .await;
}

#[tokio::test]
async fn created_restores_docs_objects_and_session_objects_under_new_handles() {
    within(LIMIT, "created", async {
        let mock = MockEngine::start().await;
        // First connection.
        mock.expect("OpenDoc").times(1).with_params(json!({"qDocName": "app", "qNoData": true})).returns(opened("Doc", 1, "app"));
        mock.expect("GetObject").on_handle(1).times(1).with_params(json!({"qId": "chart"})).returns(opened("GenericObject", 2, "chart"));
        mock.expect("GetMeasure").on_handle(1).times(1).returns(opened("GenericMeasure", 3, "m1"));
        mock.expect("CreateSessionObject").on_handle(1).times(1).returns(opened("GenericObject", 4, "sess1"));
        mock.expect("SetProperties").on_handle(4).times(1).returns(json!({}));
        mock.expect("ApplyPatches").on_handle(4).times(1).returns(json!({}));
        mock.expect("GetField").on_handle(1).times(1).returns(opened("Field", 5, ""));
        mock.expect("GetObject").on_handle(1).times(1).with_params(json!({"qId": "gone"})).returns(opened("GenericObject", 6, "gone"));
        // Second connection: a new engine session.
        mock.expect("GetActiveDoc").returns_error(1007, "No active document", "App invalid");
        mock.expect("OpenDoc").with_params(json!({"qDocName": "app", "qNoData": true})).returns(opened("Doc", 11, "app"));
        mock.expect("GetObject").on_handle(11).with_params(json!({"qId": "chart"})).returns(opened("GenericObject", 12, "chart"));
        mock.expect("GetMeasure").on_handle(11).with_params(json!({"qId": "m1"})).returns(opened("GenericMeasure", 13, "m1"));
        mock.expect("CreateSessionObject")
            .on_handle(11)
            .with_params(json!({"qProp": {"qInfo": {"qId": "sess1", "qType": "t"}, "title": "patched", "v": 2}}))
            .returns(opened("GenericObject", 14, "sess1"));
        mock.expect("GetObject").on_handle(11).with_params(json!({"qId": "gone"})).returns(json!({"qReturn": {}}));
        mock.expect("GetLayout").on_handle(12).returns(json!({"qLayout": {"ok": true}}));
        let session = reconnecting(&mock).await;
        let mut notes = session.notifications();
        let g = session.global_object();
        let doc = call_open(&g, "OpenDoc", json!({"qDocName": "app", "qNoData": true})).await.unwrap();
        let chart = call_open(&doc, "GetObject", json!({"qId": "chart"})).await.unwrap();
        let measure = call_open(&doc, "GetMeasure", json!({"qId": "m1"})).await.unwrap();
        let sess = call_open(&doc, "CreateSessionObject", json!({"qProp": {"qInfo": {"qType": "t"}, "title": "a"}})).await.unwrap();
        call(&sess, "SetProperties", json!({"qProp": {"qInfo": {"qType": "t"}, "title": "b", "v": 2}}), None).await.unwrap();
        call(&sess, "ApplyPatches", json!({"qPatches": [{"qOp": "replace", "qPath": "/title", "qValue": "\"patched\""}]}), None).await.unwrap();
        let field = call_open(&doc, "GetField", json!({"qFieldName": "F"})).await.unwrap();
        let gone = call_open(&doc, "GetObject", json!({"qId": "gone"})).await.unwrap();
        let mut chart_changed = chart.changed();

        mock.on_connected(Some("SESSION_CREATED"));
        let dropped = Instant::now();
        mock.drop_connections();
        let report = resumed(&mut notes).await;
        eprintln!("drop to restored handles on loopback: {:?}", dropped.elapsed());
        assert_eq!(report.state, SessionState::Created);
        assert_eq!(report.restored.len(), 4, "{report:?}");
        assert_eq!(report.closed.len(), 2, "{report:?}");
        // The user's values are the same objects, under their new handles.
        assert_eq!((doc.handle(), chart.handle(), measure.handle(), sess.handle()), (11, 12, 13, 14));
        chart_changed.next().await.unwrap().unwrap();
        call(&chart, "GetLayout", json!({}), None).await.unwrap();
        // What could not be restored is closed, with the reason.
        assert!(field.is_closed() && gone.is_closed());
        match field.closed().await {
            ClosedReason::NotRestored(why) => assert!(why.contains("Field"), "{why}"),
            other => panic!("{other:?}"),
        }
        match gone.closed().await {
            ClosedReason::NotRestored(why) => assert!(why.contains("no longer exists"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(call(&field, "GetCardinal", json!({}), None).await, Err(Error::ObjectClosed { .. })));
        mock.verify().unwrap();
    })
    .await;
}

#[tokio::test]
async fn calls_in_flight_fail_retryably_and_calls_made_while_away_wait_for_new_handles() {
    within(LIMIT, "in flight", async {
        let mock = MockEngine::start().await;
        mock.expect("OpenDoc")
            .times(1)
            .returns(opened("Doc", 1, "app"));
        mock.expect("DoReload").on_handle(1).times(1).no_response();
        mock.expect("GetActiveDoc").returns(opened("Doc", 7, "app"));
        mock.expect("GetAppProperties")
            .on_handle(7)
            .returns(json!({"qProp": {"title": "x"}}));
        let session = mock
            .session()
            .reconnect(Reconnect {
                initial_delay: Duration::from_millis(100),
                ..fast()
            })
            .connect()
            .await
            .unwrap();
        let mut notes = session.notifications();
        let doc = call_open(
            &session.global_object(),
            "OpenDoc",
            json!({"qDocName": "app"}),
        )
        .await
        .unwrap();
        let in_flight = call(&doc, "DoReload", json!({}), None);
        mock.wait_for("DoReload", 1, LIMIT).await.unwrap();
        mock.on_connected(Some("SESSION_CREATED"));
        mock.drop_connections();
        let e = in_flight.await.unwrap_err();
        assert!(
            matches!(e, Error::ConnectionClosed(_)) && e.is_retryable(),
            "{e:?}"
        );
        loop {
            if let Some(Ok(Notification::Suspended { reason })) = notes.next().await {
                assert!(reason.contains("closed"), "{reason}");
                break;
            }
        }
        assert!(!session.is_connected());
        // Made while disconnected: it waits, then goes to the restored doc's handle.
        let waiting = call(&doc, "GetAppProperties", json!({}), None);
        assert_eq!(waiting.request_id(), None, "not sent while disconnected");
        assert_eq!(waiting.await.unwrap()["qProp"]["title"], "x");
        assert_eq!(doc.handle(), 7);
        assert_eq!(
            mock.received_method("DoReload").len(),
            1,
            "nothing is sent twice"
        );
        // A call that waits longer than its timeout fails with a timeout.
        session.suspend().unwrap();
        let e = call(
            &doc,
            "GetAppProperties",
            json!({}),
            Some(Duration::from_millis(30)),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&e, Error::Timeout { what, .. } if what.contains("never sent")),
            "{e:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn suspend_and_resume_by_hand() {
    within(LIMIT, "suspend", async {
        let mock = MockEngine::start().await;
        mock.expect("OpenDoc").returns(opened("Doc", 1, "app"));
        mock.expect("GetAppProperties")
            .on_handle(1)
            .returns(json!({"qProp": {}}));
        // No automatic reconnection: suspend/resume still work.
        let session = connect(&mock).await;
        let doc = call_open(
            &session.global_object(),
            "OpenDoc",
            json!({"qDocName": "app"}),
        )
        .await
        .unwrap();
        mock.on_connected(Some("SESSION_ATTACHED"));
        session.suspend().unwrap();
        let pending = tokio::spawn({
            let doc = doc.clone();
            async move { call(&doc, "GetAppProperties", json!({}), None).await }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!pending.is_finished(), "calls wait while suspended");
        assert_eq!(mock.received_method("GetAppProperties").len(), 0);
        let report = session.resume().await.unwrap();
        assert_eq!(report.state, SessionState::Attached);
        assert_eq!(report.restored.len(), 1);
        pending.await.unwrap().unwrap();
        assert_eq!(mock.connections().len(), 2);
        // Over a given transport there is no URL to connect to again.
        let (t, _peer) = qix_runtime::transport::channel();
        let bare = Session::from_transport(t, Default::default());
        assert!(matches!(bare.suspend(), Err(Error::Config(_))));
    })
    .await;
}

#[tokio::test]
async fn close_codes_decide_whether_to_reconnect() {
    within(LIMIT, "close codes", async {
        // 4205 (busy): reconnect with backoff.
        let mock = MockEngine::start().await;
        let session = reconnecting(&mock).await;
        let mut notes = session.notifications();
        mock.on_connected(Some("SESSION_ATTACHED"));
        mock.close_connections(4205, "busy");
        assert_eq!(resumed(&mut notes).await.state, SessionState::Attached);
        // 4203 and 4204: the session ends; streams end with it.
        for code in [4203u16, 4204] {
            let mock = MockEngine::start().await;
            let session = reconnecting(&mock).await;
            let mut notes = session.notifications();
            let mut changes = session.changes();
            mock.close_connections(code, "no");
            let why = session.closed().await;
            assert_eq!(why.close_info().and_then(|c| c.code), Some(code));
            assert!(!why.is_retryable());
            while notes.next().await.is_some() {}
            assert!(changes.next().await.is_none());
            assert_eq!(mock.connections().len(), 1, "no reconnection after {code}");
        }
        // An engine that stays away: the policy's bound ends the session.
        let mock = MockEngine::start().await;
        let session = mock
            .session()
            .reconnect(Reconnect {
                max_attempts: 3,
                ..fast()
            })
            .connect()
            .await
            .unwrap();
        let addr = mock.addr();
        drop(mock);
        let why = session.closed().await;
        let Error::ReconnectFailed { attempts, last, .. } = &why else {
            panic!("{why:?} ({addr})")
        };
        assert_eq!(*attempts, 3, "{why}");
        assert!(
            matches!(**last, Error::Transport(_) | Error::ConnectionClosed(_)),
            "{why:?} ({addr})"
        );
        assert!(!why.is_retryable());
    })
    .await;
}

#[tokio::test]
async fn a_refused_session_on_reconnection_ends_it() {
    within(LIMIT, "refused", async {
        let mock = MockEngine::start().await;
        let session = reconnecting(&mock).await;
        mock.on_connected(Some("SESSION_ERROR_NO_LICENSE"));
        mock.drop_connections();
        let why = session.closed().await;
        assert!(
            matches!(&why, Error::SessionRejected { state } if state == "SESSION_ERROR_NO_LICENSE"),
            "{why:?}"
        );
    })
    .await;
}

/// 50 sessions on one runtime; the mock cuts each connection every few hundred calls;
/// every call ends (answer or typed error), nothing hangs, every handle works at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_fifty_sessions_through_cuts() {
    within(Duration::from_secs(120), "soak", async {
        let mock = MockEngine::start().await;
        mock.on_connected(Some("SESSION_CREATED"));
        let next_handle = Arc::new(AtomicI32::new(1));
        let h = next_handle.clone();
        mock.expect("OpenDoc").respond_with(move |_| Reply::result(opened("Doc", h.fetch_add(1, Ordering::SeqCst), "app")));
        mock.expect("GetActiveDoc").returns(json!({"qReturn": {}}));
        let h = next_handle.clone();
        mock.expect("GetObject").respond_with(move |_| Reply::result(opened("GenericObject", h.fetch_add(1, Ordering::SeqCst), "o")));
        let counter = Arc::new(AtomicI32::new(0));
        let c = counter.clone();
        mock.expect("GetLayout").respond_with(move |req| {
            if c.fetch_add(1, Ordering::SeqCst) % 300 == 299 {
                return Reply::fault(qix_runtime::testing::Fault::DropConnection);
            }
            Reply::result(json!({"qLayout": {"handle": req.handle}}))
        });
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let url = mock.url();
            tasks.push(tokio::spawn(async move {
                let session = Session::builder(url).reconnect(fast()).connect().await.unwrap();
                let doc = call_open(&session.global_object(), "OpenDoc", json!({"qDocName": "app"})).await.unwrap();
                let obj = call_open(&doc, "GetObject", json!({"qId": "o"})).await.unwrap();
                let (mut ok, mut lost) = (0u32, 0u32);
                for _ in 0..1000 {
                    match call(&obj, "GetLayout", json!({}), Some(Duration::from_secs(30))).await {
                        Ok(v) => {
                            assert_eq!(v["qLayout"]["handle"], obj.handle(), "answered on the handle it was sent to");
                            ok += 1;
                        }
                        Err(e) => {
                            assert!(e.is_retryable(), "{e:?}");
                            lost += 1;
                        }
                    }
                }
                // Every handle works at the end (the mock's cuts go on: a call that meets
                // one fails retryably and is tried again, as a user would).
                let mut tries = 0;
                loop {
                    match call(&obj, "GetLayout", json!({}), Some(Duration::from_secs(30))).await {
                        Ok(v) => {
                            assert_eq!(v["qLayout"]["handle"], obj.handle());
                            break;
                        }
                        Err(e) if e.is_retryable() && tries < 5 => tries += 1,
                        Err(e) => panic!("the object does not work after the soak: {e:?}"),
                    }
                }
                assert!(!obj.is_closed() && !doc.is_closed());
                (ok, lost)
            }));
        }
        let (mut ok, mut lost) = (0, 0);
        for t in tasks {
            let (o, l) = t.await.unwrap();
            ok += o;
            lost += l;
        }
        eprintln!(
            "soak: 50 sessions x 1000 calls in {:?}: {ok} answered, {lost} failed retryably, {} connections",
            started.elapsed(),
            mock.connections().len()
        );
        assert_eq!(ok + lost, 50_000);
        assert!(mock.connections().len() > 50, "the mock cut connections");
    })
    .await;
}

#[tokio::test]
async fn a_restore_cut_short_sends_none_of_its_frames_on_the_next_connection() {
    within(LIMIT, "restore cut short", async {
        let mock = MockEngine::start().await;
        mock.expect("OpenDoc").returns(opened("Doc", 1, "app"));
        // Session objects with big properties: their restore frames fill the socket.
        let n = std::sync::atomic::AtomicI32::new(100);
        mock.expect("CreateSessionObject")
            .on_handle(1)
            .respond_with(move |req| {
                let h = n.fetch_add(1, Ordering::SeqCst);
                let id = req
                    .named
                    .get("qProp")
                    .and_then(|p| p["qInfo"]["qId"].as_str())
                    .unwrap_or("new")
                    .to_string();
                Reply::result(opened("GenericObject", h, &id))
            });
        let session = reconnecting(&mock).await;
        let mut notes = session.notifications();
        let doc = call_open(
            &session.global_object(),
            "OpenDoc",
            json!({"qDocName": "app"}),
        )
        .await
        .unwrap();
        let big = "x".repeat(256 << 10);
        let mut objects = Vec::new();
        for i in 0..64 {
            let props =
                json!({"qProp": {"qInfo": {"qId": format!("s{i}"), "qType": "t"}, "blob": big}});
            objects.push(call_open(&doc, "CreateSessionObject", props).await.unwrap());
        }
        // The second connection is a new engine session that dies in the middle of the
        // restore: at its first CreateSessionObject, with the rest still queued.
        mock.expect("GetActiveDoc")
            .times(1)
            .returns(opened("Doc", 11, "app"));
        // The third: a new engine session that works, under other handles.
        mock.expect("GetActiveDoc")
            .times(1)
            .returns(opened("Doc", 21, "app"));
        let m = std::sync::atomic::AtomicI32::new(200);
        mock.expect("CreateSessionObject")
            .on_handle(21)
            .respond_with(move |req| {
                let id = req
                    .named
                    .get("qProp")
                    .and_then(|p| p["qInfo"]["qId"].as_str())
                    .unwrap_or("new")
                    .to_string();
                Reply::result(opened(
                    "GenericObject",
                    m.fetch_add(1, Ordering::SeqCst),
                    &id,
                ))
            });
        let first = std::sync::atomic::AtomicBool::new(true);
        let cut = mock
            .expect("CreateSessionObject")
            .on_handle(11)
            .times(1)
            .respond_with(move |_| {
                assert!(first.swap(false, Ordering::SeqCst));
                Reply::fault(qix_runtime::testing::Fault::DropConnection)
            });
        mock.drop_connections();
        mock.wait_for("GetActiveDoc", 1, LIMIT).await.unwrap();
        let third = mock.wait_for_connections(3, LIMIT).await.unwrap();
        assert_eq!(third.len(), 3);
        let report = common::wait_resumed(&mut notes).await;
        assert_eq!(cut.calls(), 1);
        // The third connection began with its own restore: nothing of the second's.
        let on_third: Vec<_> = mock
            .received()
            .into_iter()
            .filter(|r| r.connection == 2)
            .collect();
        assert_eq!(
            on_third.first().map(|r| r.method.as_str()),
            Some("GetActiveDoc"),
            "the first frame on the new connection: {:?}",
            on_third
                .iter()
                .map(|r| (&r.method, r.handle))
                .take(3)
                .collect::<Vec<_>>()
        );
        assert!(
            on_third
                .iter()
                .all(|r| r.handle != 11 || r.method == "GetActiveDoc"),
            "a frame for a handle of the dead connection was sent on the new one"
        );
        assert_eq!(report.restored.len(), 65, "{:?}", report.closed);
    })
    .await;
}

#[tokio::test]
async fn a_slow_open_doc_during_a_restore_is_waited_for() {
    within(LIMIT, "slow OpenDoc", async {
        let mock = MockEngine::start().await;
        mock.expect("OpenDoc")
            .times(1)
            .returns(opened("Doc", 1, "app"));
        let session = mock
            .session()
            .reconnect(fast())
            .on_connected_timeout(Some(Duration::from_millis(200)))
            .connect()
            .await
            .unwrap();
        let mut notes = session.notifications();
        let doc = call_open(
            &session.global_object(),
            "OpenDoc",
            json!({"qDocName": "app"}),
        )
        .await
        .unwrap();
        // A large app: opening it again takes longer than OnConnected's bound.
        mock.expect("GetActiveDoc")
            .returns_error(1007, "", "No active document");
        mock.expect("OpenDoc")
            .delay(Duration::from_millis(800))
            .returns(opened("Doc", 9, "app"));
        mock.drop_connections();
        let report = resumed(&mut notes).await;
        assert!(report.closed.is_empty(), "{:?}", report.closed);
        assert_eq!(doc.handle(), 9);
        assert!(!doc.is_closed());
    })
    .await;
}

#[tokio::test]
async fn session_objects_come_back_as_the_engine_last_had_them() {
    within(LIMIT, "session object state", async {
        let mock = MockEngine::start().await;
        mock.expect("OpenDoc").times(1).returns(opened("Doc", 1, "app"));
        let next = std::sync::atomic::AtomicI32::new(2);
        mock.expect("CreateSessionObject").on_handle(1).times(3).respond_with(move |req| {
            let id = req.named.get("qProp").and_then(|p| p["qInfo"]["qId"].as_str()).unwrap_or("x").to_string();
            Reply::result(opened("GenericObject", next.fetch_add(1, Ordering::SeqCst), &id))
        });
        for m in ["SetFullPropertyTree", "ApplyPatches", "ClearSoftPatches"] {
            mock.expect(m).times(1).returns(json!({}));
        }
        // Answered late: its caller will have given up by then.
        mock.expect("SetProperties").times(1).delay(Duration::from_millis(100)).returns(json!({}));
        let session = reconnecting(&mock).await;
        let mut notes = session.notifications();
        let doc = call_open(&session.global_object(), "OpenDoc", json!({"qDocName": "app"})).await.unwrap();
        let tree = call_open(&doc, "CreateSessionObject", json!({"qProp": {"qInfo": {"qId": "tree", "qType": "t"}}})).await.unwrap();
        let soft = call_open(&doc, "CreateSessionObject", json!({"qProp": {"qInfo": {"qId": "soft", "qType": "t"}, "title": "hard"}})).await.unwrap();
        let late = call_open(&doc, "CreateSessionObject", json!({"qProp": {"qInfo": {"qId": "late", "qType": "t"}, "v": 1}})).await.unwrap();
        let entry = json!({"qProperty": {"qInfo": {"qId": "tree", "qType": "t"}, "title": "root"},
            "qChildren": [{"qProperty": {"qInfo": {"qId": "kid", "qType": "k"}}, "qChildren": []}]});
        call(&tree, "SetFullPropertyTree", json!({"qPropEntry": entry}), None).await.unwrap();
        // A soft patch is layout state, not properties; a hard one is properties.
        call(&soft, "ApplyPatches", json!({"qPatches": [{"qOp": "replace", "qPath": "/title", "qValue": "\"soft\""}], "qSoftPatch": true}), None).await.unwrap();
        // The caller drops the future once it is sent; the engine applies it anyway.
        let dropped = call(&late, "SetProperties", json!({"qProp": {"qInfo": {"qId": "late", "qType": "t"}, "v": 2}}), None);
        mock.wait_for("SetProperties", 1, LIMIT).await.unwrap();
        drop(dropped);
        tokio::time::sleep(Duration::from_millis(300)).await;

        // A new engine session: each object is made again as it was.
        mock.expect("GetActiveDoc").times(1).returns(opened("Doc", 21, "app"));
        mock.expect("CreateSessionObject").on_handle(21)
            .with_params(json!({"qProp": {"qInfo": {"qId": "tree", "qType": "t"}, "title": "root"}}))
            .returns(opened("GenericObject", 22, "tree"));
        mock.expect("SetFullPropertyTree").on_handle(22).with_params(json!({"qPropEntry": entry})).returns(json!({}));
        mock.expect("CreateSessionObject").on_handle(21)
            .with_params(json!({"qProp": {"qInfo": {"qId": "soft", "qType": "t"}, "title": "hard"}}))
            .returns(opened("GenericObject", 23, "soft"));
        mock.expect("ApplyPatches").on_handle(23)
            .with_params(json!({"qPatches": [{"qOp": "replace", "qPath": "/title", "qValue": "\"soft\""}], "qSoftPatch": true}))
            .returns(json!({}));
        mock.expect("CreateSessionObject").on_handle(21)
            .with_params(json!({"qProp": {"qInfo": {"qId": "late", "qType": "t"}, "v": 2}}))
            .returns(opened("GenericObject", 24, "late"));
        mock.drop_connections();
        let report = resumed(&mut notes).await;
        assert!(report.closed.is_empty(), "{:?}", report.closed);
        assert_eq!((tree.handle(), soft.handle(), late.handle()), (22, 23, 24));

        // ClearSoftPatches forgets them: the next restore replays none.
        call(&soft, "ClearSoftPatches", json!({}), None).await.unwrap();
        mock.expect("GetActiveDoc").times(1).returns(opened("Doc", 31, "app"));
        mock.expect("CreateSessionObject").on_handle(31).respond_with(|req| {
            let id = req.named.get("qProp").and_then(|p| p["qInfo"]["qId"].as_str()).unwrap_or("x").to_string();
            let h = match id.as_str() { "tree" => 32, "soft" => 33, _ => 34 };
            Reply::result(opened("GenericObject", h, &id))
        });
        mock.expect("SetFullPropertyTree").on_handle(32).returns(json!({}));
        mock.drop_connections();
        let report = resumed(&mut notes).await;
        assert!(report.closed.is_empty(), "{:?}", report.closed);
        assert!(
            mock.received_method("ApplyPatches").iter().all(|r| r.handle != 33),
            "soft patches cleared before the restore are not replayed"
        );
        mock.verify().unwrap();
    })
    .await;
}
