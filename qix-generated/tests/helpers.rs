//! The hand-written helpers against a `MockEngine`: hypercube paging covers the whole
//! cube in every mode and stops at the first error; a reload streams its progress for its
//! own request id, ends with its result, and is cancelled when dropped.
#![cfg(feature = "testing")]

use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use qix_generated::helpers::paging::{PageShape, data_pages, page_plan, pivot_pages, stack_pages};
use qix_generated::helpers::reload::with_progress;
use qix_generated::prelude::*;
use qix_generated::types::{NxPage, Size};
use qix_runtime::testing::{MockEngine, Reply};
use serde_json::{Value, json};

fn size(cx: i32, cy: i32) -> Size {
    Size {
        cx: Some(cx),
        cy: Some(cy),
        ..Default::default()
    }
}

fn info(handle: i32, qtype: &str) -> qix_runtime::ObjectInfo {
    qix_runtime::ObjectInfo::new(handle, qtype)
}

fn area(p: &NxPage) -> (i32, i32, i32, i32) {
    (
        p.left.unwrap(),
        p.top.unwrap(),
        p.width.unwrap(),
        p.height.unwrap(),
    )
}

#[test]
fn the_page_plan_covers_the_cube_once() {
    let plan = page_plan(&size(3, 25), PageShape::rows(3, 10)).unwrap();
    let got: Vec<_> = plan.iter().map(area).collect();
    assert_eq!(got, [(0, 0, 3, 10), (0, 10, 3, 10), (0, 20, 3, 5)]);
    // Wider than a page: column bands within each row band.
    let plan = page_plan(&size(5, 2), PageShape::rows(2, 2)).unwrap();
    let got: Vec<_> = plan.iter().map(area).collect();
    assert_eq!(got, [(0, 0, 2, 2), (2, 0, 2, 2), (4, 0, 1, 2)]);
    assert!(
        page_plan(&size(0, 0), PageShape::rows(1, 1))
            .unwrap()
            .is_empty()
    );
    assert_eq!(PageShape::full_width(3), PageShape::rows(3, 3333));
    let e = page_plan(&size(1, 1), PageShape::rows(200, 100)).unwrap_err();
    assert!(e.to_string().contains("at most 10000 cells"), "{e}");
}

/// A mock with a doc (1) and a cube object (2) answering every page with its own area.
async fn cube_mock() -> (MockEngine, Session, GenericObject) {
    let mock = MockEngine::start().await;
    mock.param_names(qix_generated::catalog::params_of);
    mock.expect("GetObject").returns(
        json!({"qReturn": {"qType": "GenericObject", "qHandle": 2, "qGenericId": "cube"}}),
    );
    let echo = |key: &'static str| {
        move |req: &qix_runtime::testing::MockRequest| {
            let page = req.param("qPages").unwrap()[0].clone();
            let out: Value = match key {
                "qDataPages" => json!([{"qArea": page, "qMatrix": []}]),
                "qPivotDataPages" => json!([{"qArea": page}]),
                _ => json!([{"qArea": page}]),
            };
            Reply::result(json!({ key: out }))
        }
    };
    mock.expect("GetHyperCubeData")
        .on_handle(2)
        .respond_with(echo("qDataPages"))
        .optional();
    mock.expect("GetHyperCubeStackData")
        .on_handle(2)
        .respond_with(echo("qDataPages"))
        .optional();
    mock.expect("GetHyperCubePivotData")
        .on_handle(2)
        .respond_with(echo("qDataPages"))
        .optional();
    let session = mock.connect().await.unwrap();
    let doc = Doc::from_object(session.register_object(info(1, "Doc")));
    let object = doc.get_object("cube").await.unwrap();
    (mock, session, object)
}

#[tokio::test]
async fn data_stack_and_pivot_pages_cover_the_cube_in_order() {
    let (mock, _session, object) = cube_mock().await;
    let shape = PageShape::rows(3, 10);
    let pages: Vec<_> = data_pages(&object, "/qHyperCubeDef", &size(3, 25), shape)
        .try_collect()
        .await
        .unwrap();
    let tops: Vec<_> = pages.iter().map(|p| p.area.as_ref().unwrap().top).collect();
    assert_eq!(tops, [Some(0), Some(10), Some(20)]);
    let stacked: Vec<_> = stack_pages(&object, "/qHyperCubeDef", &size(3, 25), shape)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(stacked.len(), 3);
    let pivot: Vec<_> = pivot_pages(&object, "/qHyperCubeDef", &size(3, 25), shape)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pivot.len(), 3);
    for method in [
        "GetHyperCubeData",
        "GetHyperCubeStackData",
        "GetHyperCubePivotData",
    ] {
        let sent = mock.received_method(method);
        assert_eq!(sent.len(), 3, "{method}");
        assert_eq!(sent[2].param("qPath"), Some(&json!("/qHyperCubeDef")));
        assert_eq!(
            sent[2].param("qPages"),
            Some(&json!([{"qLeft": 0, "qTop": 20, "qWidth": 3, "qHeight": 5}]))
        );
    }
}

#[tokio::test]
async fn paging_stops_at_the_first_error() {
    let mock = MockEngine::start().await;
    mock.param_names(qix_generated::catalog::params_of);
    mock.expect("GetHyperCubeData").respond_with(|req| {
        let page = req.param("qPages").unwrap()[0].clone();
        if page["qTop"] == 10 {
            Reply::error(2, "/qHyperCubeDef", "Object not found")
        } else {
            Reply::result(json!({"qDataPages": [{"qArea": page}]}))
        }
    });
    let session = mock.connect().await.unwrap();
    let object = GenericObject::from_object(session.register_object(info(2, "GenericObject")));
    let items: Vec<_> = data_pages(
        &object,
        "/qHyperCubeDef",
        &size(1, 30),
        PageShape::rows(1, 10),
    )
    .collect()
    .await;
    assert_eq!(
        items.len(),
        2,
        "a page, then the error, then nothing: {items:?}"
    );
    assert!(items[0].is_ok());
    assert_eq!(items[1].as_ref().unwrap_err().engine_code(), Some(2));
    assert_eq!(mock.received_method("GetHyperCubeData").len(), 2);
    // A bad shape is the one and only item, and nothing is sent.
    let bad: Vec<_> = data_pages(&object, "/q", &size(1, 1), PageShape::rows(0, 1))
        .collect()
        .await;
    assert_eq!(bad.len(), 1);
    assert!(bad[0].is_err());
    assert_eq!(mock.received_method("GetHyperCubeData").len(), 2);
}

#[tokio::test]
async fn a_reload_streams_its_progress_then_its_result() {
    let mock = MockEngine::start().await;
    mock.param_names(qix_generated::catalog::params_of);
    mock.expect("DoReloadEx")
        .on_handle(1)
        .delay(Duration::from_millis(700))
        .returns(json!({"qResult": {"qSuccess": true}}));
    mock.expect("GetProgress")
        .on_handle(-1)
        .returns(json!({"qProgressData": {
            "qPersistentProgress": "Lines fetched: 2", "qTransientProgress": "…"
        }}));
    let session = mock.connect().await.unwrap();
    let doc = Doc::from_object(session.register_object(info(1, "Doc")));
    let mut reload = with_progress(
        &session.global(),
        doc.do_reload_ex(),
        Duration::from_millis(100),
    );
    let mut updates = Vec::new();
    while let Some(p) = reload.next().await {
        updates.push(p.unwrap());
    }
    // Polled while it ran, and once after it answered.
    assert!(updates.len() >= 2, "{updates:?}");
    assert_eq!(
        updates[0].persistent_progress.as_deref(),
        Some("Lines fetched: 2")
    );
    let result = reload.finish().await.unwrap();
    assert_eq!(result.success, Some(true));
    let id = mock.received_method("DoReloadEx")[0].id.unwrap();
    for p in mock.received_method("GetProgress") {
        assert_eq!(p.param("qRequestId"), Some(&json!(id)));
    }
    mock.verify().unwrap();
}

#[tokio::test]
async fn dropping_a_reload_cancels_it() {
    let mock = MockEngine::start().await;
    mock.expect("DoReload").no_response();
    mock.expect("GetProgress")
        .returns(json!({"qProgressData": {}}))
        .optional();
    let session = mock.connect().await.unwrap();
    let doc = Doc::from_object(session.register_object(info(1, "Doc")));
    let reload = with_progress(
        &session.global(),
        doc.do_reload(),
        Duration::from_millis(50),
    );
    let id = mock
        .wait_for("DoReload", 1, Duration::from_secs(5))
        .await
        .unwrap()[0]
        .id
        .unwrap();
    reload.cancel();
    // A GetProgress poll in flight is cancelled too: look for the reload's own cancel.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let cancels = mock.received_method("CancelRequest");
        if cancels
            .iter()
            .any(|c| c.params == json!({"qRequestId": id}))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no CancelRequest for the reload: {cancels:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
