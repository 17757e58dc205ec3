//! The mock engine itself: matching by meaning, unmatched requests, verify reports,
//! connection headers.
#![cfg(feature = "testing")]

mod common;

use std::time::Duration;

use common::{LIMIT, call, connect};
use qix_runtime::testing::{MockEngine, NormalParams, ParamMatch, UNMATCHED_ERROR_CODE, within};
use qix_runtime::{ObjectInfo, Session};
use serde_json::json;

fn names(class: Option<&str>, method: &str) -> Option<&'static [&'static str]> {
    Some(match (class, method) {
        (_, "GetObject") => &["qId"],
        (Some("GenericObject"), "GetLayout") => &[],
        (_, "SelectValues") => &["qFieldName", "qValues", "qToggleMode"],
        _ => return None,
    })
}

#[tokio::test]
async fn expectations_match_named_and_positional_params_by_meaning() {
    within(LIMIT, "matching", async {
        let mock = MockEngine::start().await;
        mock.param_names(names);
        let get = mock
            .expect("GetObject")
            .on_handle(1)
            .with_params(json!({"qId": "abc"}))
            .returns(json!({"qReturn": {"qType": "GenericObject", "qHandle": 2}}));
        let select = mock
            .expect("SelectValues")
            .with_params(ParamMatch::contains(json!({"qFieldName": "F"})))
            .returns(json!({"qReturn": true}));
        let session = connect(&mock).await;
        session
            .call_raw(1, "GetObject", json!(["abc"]))
            .await
            .unwrap();
        session
            .call_raw(1, "GetObject", json!({"qId": "abc"}))
            .await
            .unwrap();
        session
            .call_raw(2, "SelectValues", json!(["F", [{"qText": "a"}], false]))
            .await
            .unwrap();
        session
            .call_raw(2, "SelectValues", json!({"qFieldName": "F", "qValues": []}))
            .await
            .unwrap();
        assert_eq!((get.calls(), select.calls()), (2, 2));
        // The mock learned that handle 2 is a GenericObject from the GetObject response.
        let r = &mock.received()[2];
        assert_eq!(r.class.as_deref(), Some("GenericObject"));
        assert_eq!(r.param("qToggleMode"), Some(&json!(false)));
        mock.verify().unwrap();
    })
    .await;
}

#[tokio::test]
async fn an_unmatched_request_gets_an_error_and_verify_shows_the_diff() {
    within(LIMIT, "unmatched", async {
        let mock = MockEngine::start().await;
        mock.param_names(names);
        mock.expect("GetObject")
            .on_handle(1)
            .with_params(json!({"qId": "abc"}))
            .times(1);
        mock.expect("GetLayout").on_handle(2);
        let session = connect(&mock).await;
        let err = session
            .call_raw(1, "GetObject", json!(["abd"]))
            .await
            .unwrap_err();
        assert_eq!(err.engine_code(), Some(UNMATCHED_ERROR_CODE), "{err}");
        assert!(err.to_string().contains("no expectation matches"), "{err}");
        session
            .call_raw(1, "GetObject", json!({"qId": "abc"}))
            .await
            .unwrap();
        let err = session
            .call_raw(1, "GetObject", json!({"qId": "abc"}))
            .await
            .unwrap_err();
        assert_eq!(err.engine_code(), Some(UNMATCHED_ERROR_CODE));
        let report = mock.verify().unwrap_err();
        let text = format!("{report:?}");
        eprintln!("{text}");
        assert_eq!(report.problems.len(), 3, "{text}");
        for line in [
            "connection 0: request GetObject (handle 1) {\"qId\":\"abd\"}: no expectation matches",
            "closest: GetObject (handle 1) with {\"qId\":\"abc\"}",
            "- params.qId: expected \"abc\", sent \"abd\"",
            "which was already used 1 time(s)",
            "expected GetLayout (handle 2) with any params, it was never sent",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
        // A method nobody expects lists what is expected.
        let _ = session.call_raw(-1, "Nope", json!({})).await;
        assert!(
            format!("{:?}", mock.verify().unwrap_err())
                .contains("expected methods: [\"GetObject\", \"GetLayout\"]")
        );
    })
    .await;
}

#[tokio::test]
async fn custom_matchers_and_exact_counts() {
    within(LIMIT, "custom matcher", async {
        let mock = MockEngine::start().await;
        let even = mock
            .expect("Evaluate")
            .with_params(ParamMatch::custom(|p: &NormalParams| {
                p.get("qExpression")
                    .and_then(|v| v.as_str())
                    .is_some_and(|s| s.len() % 2 == 0)
            }))
            .returns(json!({"qReturn": "even"}));
        mock.expect("Evaluate").returns(json!({"qReturn": "odd"}));
        let session = connect(&mock).await;
        let doc = session.register_object(ObjectInfo::new(1, "Doc"));
        let r = call(&doc, "Evaluate", json!({"qExpression": "=1+1"}), None)
            .await
            .unwrap();
        assert_eq!(r["qReturn"], "even");
        let r = call(&doc, "Evaluate", json!({"qExpression": "=12"}), None)
            .await
            .unwrap();
        assert_eq!(r["qReturn"], "odd");
        assert_eq!(even.calls(), 1);
        mock.verify().unwrap();
    })
    .await;
}

#[tokio::test]
async fn upgrade_headers_reach_the_mock() {
    within(LIMIT, "headers", async {
        let mock = MockEngine::start().await;
        let url = format!("{}my-app?reloadUri=x", mock.url());
        let _s = Session::builder(url)
            .bearer("token-123")
            .qlik_user("DIR", "alice")
            .cookie("X-Qlik-Session=s1")
            .header("X-Extra", "1")
            .connect()
            .await
            .unwrap();
        let c = &mock.connections()[0];
        assert_eq!(c.path, "/app/my-app?reloadUri=x");
        assert_eq!(c.header("authorization"), Some("Bearer token-123"));
        assert_eq!(
            c.header("X-Qlik-User"),
            Some("UserDirectory=DIR; UserId=alice")
        );
        assert_eq!(c.header("cookie"), Some("X-Qlik-Session=s1"));
        assert_eq!(c.header("x-extra"), Some("1"));
    })
    .await;
}

#[tokio::test]
async fn wait_for_gives_up_with_a_clear_message() {
    within(LIMIT, "wait_for", async {
        let mock = MockEngine::start().await;
        let err = mock
            .wait_for("Never", 1, Duration::from_millis(10))
            .await
            .unwrap_err();
        assert_eq!(err, "waited 10ms for 1 Never request(s), got 0");
        assert!(
            mock.wait_for_connections(1, Duration::from_millis(10))
                .await
                .is_err()
        );
    })
    .await;
}

#[tokio::test]
async fn a_malformed_request_is_answered_and_reported() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_websockets::Message;
    within(LIMIT, "malformed request", async {
        let mock = MockEngine::start().await;
        mock.on_connected(None);
        let (mut ws, _) = tokio_websockets::ClientBuilder::new()
            .uri(&mock.url())
            .unwrap()
            .connect()
            .await
            .unwrap();
        ws.send(Message::text("{\"id\":7,\"method\":\"X\"}".to_string()))
            .await
            .unwrap();
        let Some(Ok(answer)) = ws.next().await else {
            panic!("no answer")
        };
        let answer: serde_json::Value = serde_json::from_str(answer.as_text().unwrap()).unwrap();
        assert_eq!(answer["id"], 7);
        assert_eq!(answer["error"]["code"], UNMATCHED_ERROR_CODE);
        let report = mock.verify().unwrap_err().to_string();
        assert!(
            report.contains("malformed request: request without an integer handle"),
            "{report}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_response_to_an_unknown_id_is_dropped() {
    within(LIMIT, "unknown id", async {
        let mock = MockEngine::start().await;
        mock.expect("EngineVersion")
            .returns(json!({"qVersion": {"qComponentVersion": "1"}}));
        let session = connect(&mock).await;
        mock.send_raw("{\"jsonrpc\":\"2.0\",\"id\":999,\"result\":{}}");
        session
            .call_raw(-1, "EngineVersion", json!({}))
            .await
            .unwrap();
        assert!(!session.is_closed());
    })
    .await;
}
