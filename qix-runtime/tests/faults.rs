//! Faults on a real WebSocket: engine close codes, dropped connections, malformed and
//! partial frames, notifications between a request and its response, delays and
//! timeouts.
#![cfg(feature = "testing")]

mod common;

use std::time::Duration;

use common::{LIMIT, call, connect};
use futures_util::future::join_all;
use qix_runtime::testing::{Fault, MockEngine, within};
use qix_runtime::{EngineCloseCode, Error, Notification, ObjectInfo};
use serde_json::json;

const CODES: [(u16, EngineCloseCode); 6] = [
    (4202, EngineCloseCode::MalformedRequest),
    (4203, EngineCloseCode::PermissionDenied),
    (4204, EngineCloseCode::NotFound),
    (4205, EngineCloseCode::Busy),
    (4230, EngineCloseCode::TooManyOpenApps),
    (4240, EngineCloseCode::NoEngineAvailable),
];

#[tokio::test]
async fn each_engine_close_code_reaches_the_caller() {
    within(LIMIT, "close codes", async {
        for (code, kind) in CODES {
            let mock = MockEngine::start().await;
            mock.expect("OpenDoc")
                .fault(Fault::close(code, "engine says no"));
            mock.expect("GetDocList").no_response();
            let session = connect(&mock).await;
            let global = session.global_object();
            // A call already waiting fails too, with the same close.
            let waiting = call(&global, "GetDocList", json!({}), None);
            let err = call(&global, "OpenDoc", json!({"qDocName": "x"}), None)
                .await
                .unwrap_err();
            let Error::ConnectionClosed(info) = &err else {
                panic!("{code}: {err:?}")
            };
            assert_eq!(info.code, Some(code));
            assert_eq!(info.engine_code(), Some(kind));
            assert_eq!(info.reason, "engine says no");
            assert_eq!(waiting.await.unwrap_err().close_info(), Some(info));
            assert_eq!(session.closed().await.close_info(), Some(info));
            // Retryable exactly when automatic reconnection would connect again.
            assert_eq!(
                err.is_retryable(),
                !matches!(
                    kind,
                    EngineCloseCode::MalformedRequest
                        | EngineCloseCode::PermissionDenied
                        | EngineCloseCode::NotFound
                )
            );
            // Later calls fail at once, without being sent.
            let later = call(&global, "GetDocList", json!({}), None)
                .await
                .unwrap_err();
            assert_eq!(later.close_info(), Some(info));
            let line = err.to_string();
            assert!(
                line.contains(&code.to_string()) && !line.contains('\n'),
                "{line}"
            );
            assert_eq!(mock.received_method("GetDocList").len(), 1);
        }
    })
    .await;
}

#[tokio::test]
async fn close_on_demand_fails_pending_calls() {
    within(LIMIT, "close on demand", async {
        let mock = MockEngine::start().await;
        mock.expect("GetDocList").no_response();
        let session = connect(&mock).await;
        let global = session.global_object();
        let pending: Vec<_> = (0..3)
            .map(|_| call(&global, "GetDocList", json!({}), None))
            .collect();
        mock.wait_for("GetDocList", 3, LIMIT).await.unwrap();
        mock.close_connections(4205, "busy");
        for r in join_all(pending).await {
            let e = r.unwrap_err();
            assert_eq!(
                e.close_info().and_then(|c| c.engine_code()),
                Some(EngineCloseCode::Busy),
                "{e}"
            );
            assert!(e.is_retryable());
        }
    })
    .await;
}

#[tokio::test]
async fn a_dropped_tcp_connection_fails_every_pending_call() {
    within(LIMIT, "dropped connection", async {
        let mock = MockEngine::start().await;
        mock.expect("GetDocList").no_response();
        let session = connect(&mock).await;
        let global = session.global_object();
        let doc = session.register_object(ObjectInfo::new(1, "Doc"));
        let mut pending: Vec<_> = (0..5)
            .map(|_| call(&global, "GetDocList", json!({}), None))
            .collect();
        pending.push(call(&doc, "GetDocList", json!({}), None));
        mock.wait_for("GetDocList", 6, LIMIT).await.unwrap();
        mock.drop_connections();
        let why = session.closed().await;
        assert!(
            matches!(&why, Error::ConnectionClosed(c) if c.code.is_none()),
            "{why:?}"
        );
        for r in join_all(pending).await {
            let e = r.unwrap_err();
            assert_eq!(e.to_string(), why.to_string());
        }
        assert!(why.is_retryable(), "{why}");
        assert!(doc.is_closed() && global.is_closed());
        assert!(call(&doc, "GetDocList", json!({}), None).await.is_err());
    })
    .await;
}

#[tokio::test]
async fn a_malformed_frame_is_a_protocol_error_and_fails_pending_calls() {
    within(LIMIT, "malformed frame", async {
        let mock = MockEngine::start().await;
        mock.expect("GetDocList").no_response();
        mock.expect("OpenDoc")
            .fault(Fault::Malformed("{\"jsonrpc\":\"2.0\",\"id\":".into()));
        let session = connect(&mock).await;
        let global = session.global_object();
        let waiting = call(&global, "GetDocList", json!({}), None);
        let err = call(&global, "OpenDoc", json!({"qDocName": "x"}), None)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Protocol(_)), "{err:?}");
        assert!(matches!(waiting.await.unwrap_err(), Error::Protocol(_)));
        assert!(matches!(session.closed().await, Error::Protocol(_)));
        assert!(!err.to_string().contains('\n'), "{err}");
    })
    .await;
}

#[tokio::test]
async fn a_malformed_frame_pushed_on_demand_ends_the_session() {
    within(LIMIT, "raw malformed frame", async {
        let mock = MockEngine::start().await;
        mock.expect("GetDocList").no_response();
        let session = connect(&mock).await;
        let waiting = call(&session.global_object(), "GetDocList", json!({}), None);
        mock.wait_for("GetDocList", 1, LIMIT).await.unwrap();
        mock.send_raw("this is not json");
        assert!(matches!(waiting.await.unwrap_err(), Error::Protocol(_)));
    })
    .await;
}

#[tokio::test]
async fn a_truncated_json_response_is_a_protocol_error() {
    within(LIMIT, "truncated json", async {
        let mock = MockEngine::start().await;
        mock.expect("GetDocList").no_response();
        mock.expect("OpenDoc")
            .returns(json!({"qReturn": {"qType": "Doc", "qHandle": 1}}))
            .fault(Fault::TruncatedJson);
        let session = connect(&mock).await;
        let global = session.global_object();
        let waiting = call(&global, "GetDocList", json!({}), None);
        let err = call(&global, "OpenDoc", json!({"qDocName": "x"}), None)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Protocol(_)), "{err:?}");
        assert!(matches!(waiting.await.unwrap_err(), Error::Protocol(_)));
    })
    .await;
}

#[tokio::test]
async fn half_a_websocket_frame_then_a_drop_fails_pending_calls() {
    within(LIMIT, "partial frame", async {
        let mock = MockEngine::start().await;
        mock.expect("GetDocList").no_response();
        mock.expect("OpenDoc")
            .returns(
                json!({"qReturn": {"qType": "Doc", "qHandle": 1, "qGenericId": "x".repeat(300)}}),
            )
            .fault(Fault::PartialFrame);
        let session = connect(&mock).await;
        let global = session.global_object();
        let waiting = call(&global, "GetDocList", json!({}), None);
        let err = call(&global, "OpenDoc", json!({"qDocName": "x"}), None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Transport(_) | Error::ConnectionClosed(_)),
            "{err:?}"
        );
        assert_eq!(waiting.await.unwrap_err().to_string(), err.to_string());
    })
    .await;
}

#[tokio::test]
async fn a_notification_between_request_and_response_is_routed() {
    within(LIMIT, "notification in between", async {
        let mock = MockEngine::start().await;
        mock.expect("OpenDoc")
            .notify_before("OnSessionTimedOut", json!({}))
            .notify_before("OnCustomThing", json!({"a": 1}))
            .returns(json!({"qReturn": {"qType": "Doc", "qHandle": 1}}));
        let session = connect(&mock).await;
        let mut notes = session.notifications();
        let r = call(
            &session.global_object(),
            "OpenDoc",
            json!({"qDocName": "x"}),
            None,
        )
        .await
        .unwrap();
        assert_eq!(r["qReturn"]["qHandle"], 1);
        assert_eq!(
            notes.next_item().await,
            Some(Ok(Notification::SessionTimedOut))
        );
        assert_eq!(
            notes.next_item().await,
            Some(Ok(Notification::Unknown {
                method: "OnCustomThing".into(),
                params: json!({"a": 1})
            }))
        );
        mock.verify().unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_notification_pushed_while_a_call_waits_does_not_answer_it() {
    within(LIMIT, "notification while waiting", async {
        let mock = MockEngine::start().await;
        mock.expect("GetDocList")
            .delay(Duration::from_millis(50))
            .returns(json!({"qDocList": []}));
        let session = connect(&mock).await;
        let mut notes = session.notifications();
        let waiting = call(&session.global_object(), "GetDocList", json!({}), None);
        mock.wait_for("GetDocList", 1, LIMIT).await.unwrap();
        mock.notify("OnSessionLoggedOut", json!({}));
        assert_eq!(
            notes.next_item().await,
            Some(Ok(Notification::SessionLoggedOut))
        );
        assert_eq!(waiting.await.unwrap(), json!({"qDocList": []}));
    })
    .await;
}

#[tokio::test]
async fn a_timeout_fails_the_call_and_the_session_stays_usable() {
    within(LIMIT, "timeout", async {
        let mock = MockEngine::start().await;
        mock.expect("GetDocList")
            .delay(Duration::from_millis(300))
            .returns(json!({"qDocList": []}));
        mock.expect("EngineVersion")
            .returns(json!({"qVersion": {"qComponentVersion": "12.1"}}));
        let session = connect(&mock).await;
        let global = session.global_object();
        let t0 = std::time::Instant::now();
        let err = call(
            &global,
            "GetDocList",
            json!({}),
            Some(Duration::from_millis(30)),
        )
        .await
        .unwrap_err();
        assert!(
            t0.elapsed() < Duration::from_millis(280),
            "{:?}",
            t0.elapsed()
        );
        let Error::Timeout { what, after } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(*after, Duration::from_millis(30));
        assert!(what.contains("GetDocList"), "{what}");
        // The engine is asked to stop working on it.
        let cancels = mock.wait_for("CancelRequest", 1, LIMIT).await.unwrap();
        let id = mock.received_method("GetDocList")[0].id.unwrap();
        assert_eq!(cancels[0].param("qRequestId"), Some(&json!(id)));
        // The session goes on, and the late answer (when it comes) is dropped quietly.
        let v = call(&global, "EngineVersion", json!({}), None)
            .await
            .unwrap();
        assert_eq!(v["qVersion"]["qComponentVersion"], "12.1");
        assert!(!session.is_closed());
        mock.verify().unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_session_wide_timeout_applies_to_calls_without_one() {
    within(LIMIT, "session timeout", async {
        let mock = MockEngine::start().await;
        mock.expect("GetDocList").no_response();
        let session = mock
            .session()
            .call_timeout(Duration::from_millis(20))
            .connect()
            .await
            .unwrap();
        let err = session
            .call_raw(-1, "GetDocList", json!({}))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    })
    .await;
}
