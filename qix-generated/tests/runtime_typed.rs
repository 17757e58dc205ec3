//! Typed calls against the runtime's mock engine: params matched by meaning with the
//! generated catalog, object lifecycle through typed handles, a live layout, cancellation.
#![cfg(feature = "testing")]

use std::future::IntoFuture;
use std::time::Duration;

use qix_generated::{SessionExt, catalog};
use qix_runtime::layout::Live;
use qix_runtime::testing::{MockEngine, within};
use qix_runtime::{Error, Session};
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(20);

fn layout(id: &str, title: &str) -> serde_json::Value {
    json!({"qLayout": {"qInfo": {"qId": id, "qType": "chart"}, "title": title}})
}

/// Doc on handle 1, GenericObject `obj-1` on handle 2.
fn engine_with_a_doc(mock: &MockEngine) {
    mock.param_names(catalog::params_of);
    // Written positionally, as a recording would have it: the typed call sends names.
    mock.expect("OpenDoc")
        .on_handle(-1)
        .with_params(json!(["/apps/x.qvf", "", "", "", false]))
        .returns(json!({"qReturn": {"qType": "Doc", "qHandle": 1, "qGenericId": "/apps/x.qvf"}}));
    mock.expect("GetObject")
        .on_handle(1)
        .with_params(json!({"qId": "obj-1"}))
        .returns(json!({"qReturn": {"qType": "GenericObject", "qHandle": 2, "qGenericId": "obj-1", "qGenericType": "chart"}}));
}

async fn connect(mock: &MockEngine) -> Session {
    mock.connect().await.unwrap()
}

#[tokio::test]
async fn typed_calls_match_expectations_by_meaning() {
    within(LIMIT, "typed calls", async {
        let mock = MockEngine::start().await;
        engine_with_a_doc(&mock);
        mock.expect("GetLayout")
            .on_handle(2)
            .returns(layout("obj-1", "Sales"));
        let session = connect(&mock).await;
        let doc = session.global().open_doc("/apps/x.qvf").await.unwrap();
        let obj = doc.get_object("obj-1").await.unwrap();
        assert_eq!((obj.handle(), obj.generic_type()), (2, Some("chart")));
        let l = obj.get_layout().await.unwrap();
        assert_eq!(l.info.unwrap().id.as_deref(), Some("obj-1"));
        assert_eq!(l.extra.get("title"), Some(&json!("Sales")));
        let sent = mock.received();
        assert_eq!(sent[0].params, json!({"qDocName": "/apps/x.qvf"}));
        assert_eq!(sent[2].class.as_deref(), Some("GenericObject"));
        mock.verify().unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_typed_object_the_engine_closed_fails_without_sending() {
    within(LIMIT, "typed closed object", async {
        let mock = MockEngine::start().await;
        engine_with_a_doc(&mock);
        mock.expect("DestroyObject")
            .on_handle(1)
            .returns(json!({"qSuccess": true}))
            .with_close([2]);
        mock.expect("GetLayout").optional();
        let session = connect(&mock).await;
        let doc = session.global().open_doc("/apps/x.qvf").await.unwrap();
        let obj = doc.get_object("obj-1").await.unwrap();
        assert!(doc.destroy_object("obj-1").await.unwrap());
        assert!(obj.object().is_closed());
        let err = obj.get_layout().await.unwrap_err();
        assert!(
            matches!(err, Error::ObjectClosed { handle: 2, .. }),
            "{err:?}"
        );
        doc.destroy_object("obj-1").await.unwrap();
        assert!(mock.received_method("GetLayout").is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_live_layout_follows_changes() {
    within(LIMIT, "typed live layout", async {
        let mock = MockEngine::start().await;
        engine_with_a_doc(&mock);
        mock.expect("GetLayout")
            .on_handle(2)
            .times(1)
            .returns(layout("obj-1", "before"));
        mock.expect("GetLayout")
            .on_handle(2)
            .returns(layout("obj-1", "after"));
        mock.expect("ClearAll").on_handle(1).with_change([1, 2]);
        let session = connect(&mock).await;
        let doc = session.global().open_doc("/apps/x.qvf").await.unwrap();
        let obj = doc.get_object("obj-1").await.unwrap();
        let o = obj.clone();
        let mut live = Live::new(obj.object(), move || o.get_layout().into_future());
        let first = live.next().await;
        assert_eq!(
            first.value.unwrap().extra.get("title"),
            Some(&json!("before"))
        );
        doc.clear_all().await.unwrap();
        let second = live.next().await;
        assert_eq!(
            second.value.unwrap().extra.get("title"),
            Some(&json!("after"))
        );
        assert_eq!(second.fetches, 2);
        mock.verify().unwrap();
    })
    .await;
}

#[tokio::test]
async fn dropping_a_typed_call_cancels_it_once() {
    within(LIMIT, "typed cancellation", async {
        let mock = MockEngine::start().await;
        engine_with_a_doc(&mock);
        mock.expect("DoReload").on_handle(1).no_response();
        mock.expect("EngineVersion")
            .returns(json!({"qVersion": {"qComponentVersion": "12.2528.0"}}));
        let session = connect(&mock).await;
        let doc = session.global().open_doc("/apps/x.qvf").await.unwrap();
        let reload = doc.do_reload().into_future();
        let id = reload.request_id().unwrap();
        mock.wait_for("DoReload", 1, LIMIT).await.unwrap();
        drop(reload);
        let cancel = mock.wait_for("CancelRequest", 1, LIMIT).await.unwrap();
        assert_eq!(cancel[0].param("qRequestId"), Some(&json!(id)));
        let v = session.global().engine_version().await.unwrap();
        assert_eq!(v.component_version.as_deref(), Some("12.2528.0"));
        assert_eq!(mock.received_method("CancelRequest").len(), 1);
    })
    .await;
}
