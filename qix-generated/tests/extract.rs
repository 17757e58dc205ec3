//! `helpers::extract` against a `MockEngine` serving a `MockCube`: rows in order, the
//! window bound checked at the mock, restart on change without mixing two states, the
//! fail-on-change error, typed columns, short cubes reported, ad hoc cubes cleaned up,
//! errors naming the call; and the real hypercube layouts of `../shared/corpus/layouts`.
#![cfg(feature = "testing")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use qix_generated::helpers::extract::{
    ColumnKind, Event, Extract, ExtractError, OnChange, Row, Summary, Table, hypercube_at,
};
use qix_generated::prelude::*;
use qix_generated::types::{GenericObjectLayout, HyperCube};
use qix_runtime::testing::{MockColumn, MockCube, MockEngine, ParamMatch, Reply, within};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(20);

fn cube(rows: u64) -> MockCube {
    MockCube::new(rows)
        .column(MockColumn::Text {
            name: "Region".into(),
            distinct: 40,
        })
        .column(MockColumn::Date { name: "Day".into() })
        .column(MockColumn::Measure {
            name: "Sales".into(),
        })
        .column(MockColumn::Measure {
            name: "Cost".into(),
        })
}

/// A mock with a doc (1) whose object "cube" (2) serves `cube`.
async fn serve(cube: &MockCube) -> (MockEngine, Session, GenericObject) {
    serve_after(cube, |_| {}).await
}

/// As `serve`, with expectations of `pre` registered first (so they win).
async fn serve_after(
    cube: &MockCube,
    pre: impl FnOnce(&MockEngine),
) -> (MockEngine, Session, GenericObject) {
    let mock = MockEngine::start().await;
    pre(&mock);
    mock.param_names(qix_generated::catalog::params_of);
    mock.expect("GetObject").returns(
        json!({"qReturn": {"qType": "GenericObject", "qHandle": 2, "qGenericId": "cube"}}),
    );
    cube.serve(&mock, 2, "cube");
    let session = mock.connect().await.unwrap();
    let doc = Doc::from_object(session.register_object(qix_runtime::ObjectInfo::new(1, "Doc")));
    let object = doc.get_object("cube").await.unwrap();
    (mock, session, object)
}

/// Pages of the cube on handle 2 whose first row passes `late` answer `delay` after they
/// were asked for (register before the cube is served: the first match answers).
fn answer_late(
    mock: &MockEngine,
    cube: &MockCube,
    delay: Duration,
    late: impl Fn(u64) -> bool + Send + Sync + 'static,
) {
    let cube = cube.clone();
    mock.expect("GetHyperCubeData")
        .on_handle(2)
        .with_params(ParamMatch::custom(move |p| {
            p.get("qPages")
                .and_then(|p| p.get(0))
                .and_then(|p| p.get("qTop"))
                .and_then(Value::as_u64)
                .is_some_and(&late)
        }))
        .respond_with(move |req| cube.answer(req, 2))
        .delay(delay)
        .optional();
}

/// A session that reconnects at once, with the doc `app` open and its object `cube`.
async fn reconnecting_cube(mock: &MockEngine) -> (Session, GenericObject) {
    let session = mock
        .session()
        .reconnect(qix_generated::qix_runtime::Reconnect {
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            ..Default::default()
        })
        .connect()
        .await
        .unwrap();
    let doc = Global::new(&session).open_doc("app").await.unwrap();
    let object = doc.get_object("cube").await.unwrap();
    (session, object)
}

/// Every event of an extraction, or its error.
async fn events<T: Send + 'static>(
    s: qix_generated::helpers::extract::Extraction<T>,
) -> Result<Vec<Event<T>>, ExtractError> {
    within(LIMIT, "the extraction", s.try_collect()).await
}

/// The rows after the last `Begin`, and that `Begin`'s table, and the summary.
fn last_snapshot(events: Vec<Event<Row>>) -> (Arc<Table>, Vec<Row>, Summary) {
    let mut table = None;
    let mut rows = Vec::new();
    let mut summary = None;
    for e in events {
        match e {
            Event::Begin(t) => {
                table = Some(t);
                rows.clear();
            }
            Event::Data(r) => rows.push(r),
            Event::End(s) => summary = Some(s),
        }
    }
    (table.unwrap(), rows, summary.unwrap())
}

/// The row is the one the mock serves in `generation`, number for number, bit for bit.
fn assert_served(cube: &MockCube, generation: u32, row: &Row) {
    for (c, cell) in row.cells.iter().enumerate() {
        let want = cube.cell(generation, row.index, c);
        assert_eq!(
            row.text(c),
            want.text.as_deref(),
            "row {} col {c}",
            row.index
        );
        assert_eq!(
            row.num(c).to_bits(),
            want.num.to_bits(),
            "row {} col {c}: {} vs {}",
            row.index,
            row.num(c),
            want.num
        );
        assert_eq!(
            cell.elem_number,
            Some(want.elem),
            "row {} col {c}",
            row.index
        );
    }
}

#[tokio::test]
async fn rows_come_in_order_with_typed_columns_and_every_cell_served() {
    let cube = cube(25_000);
    let (mock, _s, object) = serve(&cube).await;
    let all = events(Extract::object(&object).window(4).page_rows(1000).rows())
        .await
        .unwrap();
    assert!(matches!(all.first(), Some(Event::Begin(_))));
    assert!(matches!(all.last(), Some(Event::End(_))));
    let (table, rows, summary) = last_snapshot(all);
    let kinds: Vec<ColumnKind> = table.columns.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [
            ColumnKind::Text,
            ColumnKind::Date,
            ColumnKind::Numeric,
            ColumnKind::Numeric
        ]
    );
    assert_eq!((table.rows, table.snapshot), (25_000, 0));
    assert_eq!(rows.len(), 25_000);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.index, i as u64);
        assert_served(&cube, 0, row);
    }
    assert_eq!(
        (summary.rows, summary.pages, summary.restarts),
        (25_000, 25, 0)
    );
    // Pages were asked for without the delta protocol, each once, in plan order.
    let sent = mock.received_method("GetHyperCubeData");
    assert_eq!(sent.len(), 25);
    assert!(sent.iter().all(|r| !r.delta));
    let tops: Vec<u64> = sent
        .iter()
        .map(|r| r.param("qPages").unwrap()[0]["qTop"].as_u64().unwrap())
        .collect();
    assert_eq!(tops, (0..25).map(|p| p * 1000).collect::<Vec<_>>());
    mock.verify().unwrap();
}

#[tokio::test]
async fn the_window_bounds_the_requests_in_flight_at_the_mock() {
    // The mock holds every page request; the test answers them itself, in an order of its
    // choosing, and counts what is outstanding at the mock each time.
    let cube = cube(10_000);
    let mock = MockEngine::start().await;
    mock.param_names(qix_generated::catalog::params_of);
    mock.expect("GetObject").returns(
        json!({"qReturn": {"qType": "GenericObject", "qHandle": 2, "qGenericId": "cube"}}),
    );
    let c = cube.clone();
    mock.expect("GetLayout")
        .on_handle(2)
        .respond_with(move |_| Reply::result(c.layout("cube")));
    mock.expect("GetHyperCubeData").on_handle(2).no_response();
    let session = mock.connect().await.unwrap();
    let doc = Doc::from_object(session.register_object(qix_runtime::ObjectInfo::new(1, "Doc")));
    let object = doc.get_object("cube").await.unwrap();

    const WINDOW: usize = 3;
    let mut pages = Extract::object(&object)
        .window(WINDOW)
        .page_rows(1000)
        .pages();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        while let Some(item) = pages.next().await {
            if tx.send(item).is_err() {
                break;
            }
        }
    });
    let answer = |req: &qix_runtime::testing::MockRequest| {
        let top = req.param("qPages").unwrap()[0]["qTop"].as_u64().unwrap();
        let result = cube.page_json(0, top, 0, 4, 1000);
        format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{},\"result\":{result}}}",
            req.id.unwrap()
        )
    };
    let settle = || tokio::time::sleep(Duration::from_millis(60));
    let mut answered = 0;
    let mut yielded = Vec::new();
    // Answer the second request first: the first is still pending, so nothing may be
    // yielded and no further request sent (a finished page waits in the window).
    let sent = mock
        .wait_for("GetHyperCubeData", WINDOW, LIMIT)
        .await
        .unwrap();
    settle().await;
    assert_eq!(mock.received_method("GetHyperCubeData").len(), WINDOW);
    mock.send_raw(answer(&sent[1]));
    settle().await;
    assert_eq!(mock.received_method("GetHyperCubeData").len(), WINDOW);
    assert!(matches!(rx.try_recv(), Ok(Ok(Event::Begin(_)))));
    assert!(rx.try_recv().is_err(), "a page came out of order");
    mock.send_raw(answer(&sent[0]));
    answered += 2;
    while answered < 10 {
        let sent = mock
            .wait_for("GetHyperCubeData", (answered + WINDOW).min(10), LIMIT)
            .await
            .unwrap();
        settle().await;
        let outstanding = mock.received_method("GetHyperCubeData").len() - answered;
        assert!(outstanding <= WINDOW, "{outstanding} requests in flight");
        mock.send_raw(answer(&sent[answered]));
        answered += 1;
    }
    while let Some(item) = within(LIMIT, "the last pages", rx.recv()).await {
        match item.unwrap() {
            Event::Data(p) => yielded.push(p.request.top.unwrap()),
            Event::End(s) => {
                assert_eq!(s.rows, 10_000);
                break;
            }
            Event::Begin(_) => panic!("a second Begin without a change"),
        }
    }
    assert_eq!(yielded, (0..10).map(|p| p * 1000).collect::<Vec<_>>());
    assert_eq!(mock.received_method("GetHyperCubeData").len(), 10);
    reader.await.unwrap();
}

#[tokio::test]
async fn a_change_between_pages_starts_over_and_never_mixes_two_states() {
    let cube = cube(20_000);
    cube.change_at(6_000);
    // Pages past the one that carries the change answer late, so they are still in flight
    // when the change is seen, whatever the scheduling (registered first: picked first).
    let pre = |mock: &MockEngine| {
        answer_late(mock, &cube, Duration::from_millis(300), |top| top > 6_000);
    };
    let (mock, _s, object) = serve_after(&cube, pre).await;
    let all = events(Extract::object(&object).window(4).page_rows(1000).rows())
        .await
        .unwrap();
    let begins: Vec<u32> = all
        .iter()
        .filter_map(|e| match e {
            Event::Begin(t) => Some(t.snapshot),
            _ => None,
        })
        .collect();
    assert_eq!(begins, [0, 1]);
    // Before the second Begin, only rows of the first state, from row 0 on, in order, and
    // none from the page that carried the change or after it. (Pages that arrived before
    // the change but were not yet taken are dropped too: the change is seen first.)
    let second = all
        .iter()
        .rposition(|e| matches!(e, Event::Begin(_)))
        .unwrap();
    let before: Vec<&Row> = all[..second]
        .iter()
        .filter_map(|e| match e {
            Event::Data(r) => Some(r),
            _ => None,
        })
        .collect();
    assert!(
        before.len() <= 6_000,
        "{} rows before the restart",
        before.len()
    );
    for (i, r) in before.iter().enumerate() {
        assert_eq!(r.index, i as u64);
        assert_served(&cube, 0, r);
    }
    let (_, rows, summary) = last_snapshot(all);
    assert_eq!(rows.len(), 20_000);
    for r in &rows {
        assert_served(&cube, 1, r);
    }
    assert_eq!((summary.restarts, summary.rows), (1, 20_000));
    assert_eq!(mock.received_method("GetLayout").len(), 2);
    // The pages in flight at the change were cancelled.
    let cancelled = mock.received_method("CancelRequest");
    assert!(
        !cancelled.is_empty(),
        "no CancelRequest for the pages in flight"
    );
}

#[tokio::test]
async fn fail_on_change_is_a_typed_error() {
    let cube = cube(20_000);
    cube.change_at(3_000);
    let (_mock, _s, object) = serve(&cube).await;
    let e = events(
        Extract::object(&object)
            .window(2)
            .page_rows(1000)
            .on_change(OnChange::Fail)
            .rows(),
    )
    .await
    .unwrap_err();
    match &e {
        ExtractError::Changed {
            object,
            rows,
            restarts,
        } => {
            assert_eq!(object, "object \"cube\"");
            assert!(*rows <= 3_000 && *rows % 1000 == 0, "{rows}");
            assert_eq!(*restarts, 0);
        }
        other => panic!("expected Changed, got {other:?}"),
    }
    assert!(
        e.to_string().contains("changed during the extraction"),
        "{e}"
    );
    // Restarts are bounded as well.
    cube.set_generation(0);
    cube.change_at(0);
    let e = events(
        Extract::object(&object)
            .on_change(OnChange::Restart { max: 0 })
            .rows(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, ExtractError::Changed { restarts: 0, .. }),
        "{e:?}"
    );
}

#[tokio::test]
async fn rows_the_engine_does_not_return_are_reported_not_dropped() {
    // qSize says 5,000 rows; the engine returns 3,200 (an object limit, say).
    let served = cube(3_200);
    let mock = MockEngine::start().await;
    mock.param_names(qix_generated::catalog::params_of);
    mock.expect("GetObject").returns(
        json!({"qReturn": {"qType": "GenericObject", "qHandle": 2, "qGenericId": "cube"}}),
    );
    let mut layout = served.layout("cube");
    layout["qLayout"]["qHyperCube"]["qSize"]["qcy"] = json!(5_000);
    mock.expect("GetLayout").on_handle(2).returns(layout);
    let c = served.clone();
    mock.expect("GetHyperCubeData")
        .on_handle(2)
        .respond_with(move |req| c.answer(req, 2));
    let session = mock.connect().await.unwrap();
    let doc = Doc::from_object(session.register_object(qix_runtime::ObjectInfo::new(1, "Doc")));
    let object = doc.get_object("cube").await.unwrap();

    let e = events(Extract::object(&object).window(1).page_rows(1000).rows())
        .await
        .unwrap_err();
    match &e {
        ExtractError::Incomplete {
            expected,
            from,
            to,
            got,
            ..
        } => assert_eq!((*expected, *from, *to, *got), (5_000, 3_000, 4_000, 200)),
        other => panic!("expected Incomplete, got {other:?}"),
    }
    assert!(e.to_string().contains("qSize counts 5000 rows"), "{e}");

    let all = events(
        Extract::object(&object)
            .page_rows(1000)
            .allow_incomplete(true)
            .rows(),
    )
    .await
    .unwrap();
    let (_, rows, summary) = last_snapshot(all);
    assert_eq!(rows.len(), 3_200);
    assert_eq!((summary.rows, summary.missing_rows), (3_200, 1_800));
}

#[tokio::test]
async fn an_ad_hoc_cube_is_created_read_and_destroyed() {
    let cube = cube(2_600);
    let mock = MockEngine::start().await;
    mock.param_names(qix_generated::catalog::params_of);
    mock.expect("CreateSessionObject")
        .on_handle(1)
        .respond_with(|req| {
            let def = &req.param("qProp").unwrap()["qHyperCubeDef"];
            assert_eq!(
                def["qDimensions"][0]["qDef"]["qFieldDefs"],
                json!(["Region"])
            );
            assert_eq!(
                def["qMeasures"][1]["qDef"]["qDef"],
                json!("Sum(Cost)"),
                "{def}"
            );
            Reply::result(
                json!({"qReturn": {"qType": "GenericObject", "qHandle": 2, "qGenericId": "tmp-1"}}),
            )
        })
        .times(1);
    cube.serve(&mock, 2, "tmp-1");
    mock.expect("DestroySessionObject")
        .on_handle(1)
        .with_params(json!({"qId": "tmp-1"}))
        .returns(json!({"qSuccess": true}))
        .times(1);
    let session = mock.connect().await.unwrap();
    let doc = Doc::from_object(session.register_object(qix_runtime::ObjectInfo::new(1, "Doc")));
    let all = events(Extract::cube(&doc, ["Region", "Day"], ["Sum(Sales)", "Sum(Cost)"]).rows())
        .await
        .unwrap();
    let (table, rows, _) = last_snapshot(all);
    assert_eq!(rows.len(), 2_600);
    assert_eq!(table.columns[0].name, "Region");
    mock.verify().unwrap();
}

#[tokio::test]
async fn a_failed_page_names_the_call_and_still_destroys_the_ad_hoc_cube() {
    let cube = cube(10_000);
    let mock = MockEngine::start().await;
    mock.param_names(qix_generated::catalog::params_of);
    mock.expect("CreateSessionObject").returns(
        json!({"qReturn": {"qType": "GenericObject", "qHandle": 2, "qGenericId": "tmp-2"}}),
    );
    let c = cube.clone();
    mock.expect("GetLayout")
        .on_handle(2)
        .respond_with(move |_| Reply::result(c.layout("tmp-2")));
    let c = cube.clone();
    mock.expect("GetHyperCubeData")
        .on_handle(2)
        .respond_with(move |req| {
            let top = req.param("qPages").unwrap()[0]["qTop"].as_u64().unwrap();
            if top == 5_000 {
                Reply::error(7004, "", "Calculation timed out")
            } else {
                c.answer(req, 2)
            }
        });
    mock.expect("DestroySessionObject")
        .returns(json!({"qSuccess": true}))
        .times(1);
    let session = mock.connect().await.unwrap();
    let doc = Doc::from_object(session.register_object(qix_runtime::ObjectInfo::new(1, "Doc")));
    let mut s = Extract::cube(&doc, ["Region"], ["Sum(Sales)"])
        .page_rows(2500)
        .rows();
    let mut rows = 0;
    let e = loop {
        match within(LIMIT, "the extraction", s.next()).await {
            Some(Ok(Event::Data(_))) => rows += 1,
            Some(Ok(_)) => {}
            Some(Err(e)) => break e,
            None => panic!("the stream ended without the error"),
        }
    };
    assert_eq!(rows, 5_000, "the rows before the failed page came first");
    assert!(s.next().await.is_none(), "nothing after the error");
    let text = e.to_string();
    assert!(
        text.contains("GetHyperCubeData for rows 5000..7500 of /qHyperCubeDef on object \"tmp-2\""),
        "{text}"
    );
    assert_eq!(e.call_error().and_then(|e| e.engine_code()), Some(7004));
    mock.verify().unwrap();
}

#[tokio::test]
async fn a_measure_the_engine_rejects_is_named_with_the_engine_message() {
    let mock = MockEngine::start().await;
    mock.param_names(qix_generated::catalog::params_of);
    mock.expect("GetObject")
        .returns(json!({"qReturn": {"qType": "GenericObject", "qHandle": 2, "qGenericId": "bad"}}));
    mock.expect("GetLayout").on_handle(2).returns(json!({"qLayout": {
        "qInfo": {"qId": "bad"},
        "qHyperCube": {
            "qSize": {"qcx": 2, "qcy": 10},
            "qDimensionInfo": [{"qFallbackTitle": "Region", "qTags": ["$text"]}],
            "qMeasureInfo": [{"qFallbackTitle": "Sum(Nope", "qError": {"qErrorCode": 7001, "qContext": "Error in expression: Sum(Nope"}}]
        }
    }}));
    let session = mock.connect().await.unwrap();
    let doc = Doc::from_object(session.register_object(qix_runtime::ObjectInfo::new(1, "Doc")));
    let object = doc.get_object("bad").await.unwrap();
    let e = events(Extract::object(&object).rows()).await.unwrap_err();
    assert!(
        matches!(e, ExtractError::Rejected { code: 7001, .. }),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "the engine rejected measure 1 (\"Sum(Nope\") of object \"bad\": error 7001 \
         LOCERR_CALC_NOT_IN_LIB: Error in expression: Sum(Nope"
    );
    // An object without a hypercube at the path.
    let e = events(Extract::object(&object).path("/qListObjectDef").rows())
        .await
        .unwrap_err();
    assert!(matches!(e, ExtractError::Invalid(_)), "{e:?}");
    let e = events(Extract::object(&object).path("/x/qHyperCubeDef").rows())
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "object \"bad\" has no hypercube at /x/qHyperCubeDef"
    );
}

#[tokio::test]
async fn a_limit_reads_only_the_top_rows() {
    let cube = cube(50_000);
    let (mock, _s, object) = serve(&cube).await;
    let all = events(Extract::object(&object).limit(4_321).rows())
        .await
        .unwrap();
    let (table, rows, summary) = last_snapshot(all);
    assert_eq!((table.rows, table.planned_rows), (50_000, 4_321));
    assert_eq!(rows.len(), 4_321);
    assert_eq!(summary.missing_rows, 0);
    assert_eq!(rows.last().unwrap().index, 4_320);
    // 4 columns: 2,500 rows a page.
    assert_eq!(mock.received_method("GetHyperCubeData").len(), 2);
}

#[tokio::test]
async fn stacked_and_pivot_cubes_come_as_pages_in_order() {
    let mock = MockEngine::start().await;
    mock.param_names(qix_generated::catalog::params_of);
    mock.expect("GetObject").returns(
        json!({"qReturn": {"qType": "GenericObject", "qHandle": 2, "qGenericId": "pivot"}}),
    );
    mock.expect("GetLayout")
        .on_handle(2)
        .returns(json!({"qLayout": {
            "qHyperCube": {"qSize": {"qcx": 5, "qcy": 4500}, "qMode": "P",
                "qDimensionInfo": [{"qFallbackTitle": "A"}, {"qFallbackTitle": "B"}],
                "qMeasureInfo": [{"qFallbackTitle": "M"}]}
        }}));
    for method in ["GetHyperCubePivotData", "GetHyperCubeStackData"] {
        mock.expect(method)
            .on_handle(2)
            .respond_with(|req| {
                let page = req.param("qPages").unwrap()[0].clone();
                Reply::result(json!({"qDataPages": [{"qArea": page}]}))
            })
            .delay(Duration::from_millis(5));
    }
    let session = mock.connect().await.unwrap();
    let doc = Doc::from_object(session.register_object(qix_runtime::ObjectInfo::new(1, "Doc")));
    let object = doc.get_object("pivot").await.unwrap();
    let pivot = events(Extract::object(&object).window(3).pivot_pages())
        .await
        .unwrap();
    let tops: Vec<i32> = pivot
        .iter()
        .filter_map(|e| match e {
            Event::Data(p) => p.data.area.as_ref().and_then(|a| a.top),
            _ => None,
        })
        .collect();
    // 5 columns: 2,000 rows a page.
    assert_eq!(tops, [0, 2000, 4000]);
    let stacked = events(Extract::object(&object).stack_pages())
        .await
        .unwrap();
    assert_eq!(stacked.len(), 5);
    assert!(
        mock.received()
            .iter()
            .filter(|r| r.method.starts_with("GetHyperCube"))
            .all(|r| !r.delta)
    );
}

#[tokio::test]
async fn a_closed_object_ends_the_extraction_with_an_error() {
    let mock = MockEngine::start().await;
    mock.param_names(qix_generated::catalog::params_of);
    mock.expect("GetObject").returns(
        json!({"qReturn": {"qType": "GenericObject", "qHandle": 2, "qGenericId": "gone"}}),
    );
    let cube = cube(10_000);
    let c = cube.clone();
    mock.expect("GetLayout")
        .on_handle(2)
        .respond_with(move |_| Reply::result(c.layout("gone")));
    // The first page's answer closes the object.
    let c = cube.clone();
    mock.expect("GetHyperCubeData")
        .on_handle(2)
        .respond_with(move |req| c.answer(req, 2).with_close([2]))
        .times(1);
    mock.expect("GetHyperCubeData")
        .on_handle(2)
        .no_response()
        .optional();
    let session = mock.connect().await.unwrap();
    let doc = Doc::from_object(session.register_object(qix_runtime::ObjectInfo::new(1, "Doc")));
    let object = doc.get_object("gone").await.unwrap();
    let e = events(Extract::object(&object).window(2).page_rows(1000).rows())
        .await
        .unwrap_err();
    // The page in flight is never answered: the close ends the extraction, not a hang.
    assert_eq!(
        e.to_string(),
        "object \"gone\" was closed during the extraction (closed by the engine) after 0 rows"
    );
}

// ---------------------------------------------------------------------------------------
// The real hypercube layouts of ../shared/corpus/layouts.

fn corpus(path: &str) -> Value {
    let p = common::layouts_dir().join(path);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

#[test]
fn the_corpus_cubes_give_typed_columns() {
    let cube: HyperCube =
        serde_json::from_value(corpus("halyard/hyper-cube@a56355d.json")).unwrap();
    let table = Table::of_cube(&cube);
    let kinds: Vec<(&str, ColumnKind)> = table
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("sorted_country", ColumnKind::Dual),
            ("country_sort", ColumnKind::Dual),
            ("date", ColumnKind::Date),
            ("duration", ColumnKind::Interval),
            ("mixed_dimension", ColumnKind::Dual),
            ("country", ColumnKind::Text),
            ("time", ColumnKind::Time),
            ("timestamp", ColumnKind::Timestamp),
            ("year", ColumnKind::Numeric),
            ("Sum(country_sort)", ColumnKind::Numeric),
        ]
    );
    let dual: HyperCube =
        serde_json::from_value(corpus("halyard/hypercube-dual@c3b569d.json")).unwrap();
    let table = Table::of_cube(&dual);
    let kinds: Vec<ColumnKind> = table.columns.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [
            ColumnKind::Text,
            ColumnKind::Dual,
            ColumnKind::Numeric,
            ColumnKind::Dual,
            ColumnKind::Numeric,
            ColumnKind::Numeric
        ]
    );
    // The fields a file gets: text and number for dimensions with numbers.
    let names: Vec<String> = table.fields().into_iter().map(|f| f.name).collect();
    assert_eq!(
        names,
        [
            "make_country",
            "odd_num_even_string",
            "odd_num_even_string (num)",
            "RowNo",
            "RowNo (num)",
            "make_dual",
            "make_dual (num)",
            "Avg(RowNo)",
            "Sum(RowNo)"
        ]
    );
}

#[test]
fn nested_cubes_of_a_real_layout_are_found_by_their_path() {
    let raw = corpus("qlik-to-d3-render/qLayout.json");
    let layout: GenericObjectLayout =
        serde_json::from_value(raw["result"]["qLayout"].clone()).unwrap();
    let box_cube = hypercube_at(&layout, "/qUndoExclude/box/qHyperCubeDef", "o").unwrap();
    let table = Table::of_cube(&box_cube);
    assert_eq!((table.columns.len(), table.rows), (6, 1000));
    assert_eq!(table.columns[0].kind, ColumnKind::Text);
    let outliers = hypercube_at(&layout, "/qUndoExclude/outliers/qHyperCubeDef", "o").unwrap();
    let table = Table::of_cube(&outliers);
    assert_eq!(table.mode.as_str(), "K");
    assert_eq!(table.columns[2].kind, ColumnKind::Date);
    assert!(matches!(
        hypercube_at(&layout, "/nothing/qHyperCubeDef", "o"),
        Err(ExtractError::NoHyperCube { .. })
    ));
}

#[cfg(feature = "arrow")]
mod arrow {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int32Type};
    use arrow_array::{Array, RecordBatch};
    use qix_generated::helpers::extract::arrow::{Batcher, schema};
    use qix_generated::types::NxDataPage;

    /// Every field of `batch` against the cells of `matrix`.
    fn check(table: &Table, batch: &RecordBatch, matrix: &[Vec<qix_generated::types::NxCell>]) {
        let fields = table.fields();
        assert_eq!(batch.num_rows(), matrix.len());
        for (i, f) in fields.iter().enumerate() {
            let col = batch.column(i);
            for (r, row) in matrix.iter().enumerate() {
                let cell = &row[f.column];
                match f.value {
                    qix_generated::helpers::extract::FieldValue::Text => {
                        let d = col.as_dictionary::<Int32Type>();
                        let values = d.values().as_string::<i32>();
                        let got = d.key(r).map(|k| values.value(k));
                        assert_eq!(
                            got,
                            qix_generated::helpers::extract::cell_text(cell),
                            "{} row {r}",
                            f.name
                        );
                    }
                    qix_generated::helpers::extract::FieldValue::Number => {
                        let n = col.as_primitive::<Float64Type>();
                        let got = (!n.is_null(r)).then(|| n.value(r).to_bits());
                        let want =
                            qix_generated::helpers::extract::cell_number(cell).map(f64::to_bits);
                        assert_eq!(got, want, "{} row {r}", f.name);
                    }
                }
            }
        }
    }

    #[test]
    fn the_corpus_pages_become_record_batches_bit_for_bit() {
        for file in [
            "halyard/hyper-cube@a56355d.json",
            "halyard/hypercube-dual@c3b569d.json",
            "halyard/hypercube-months@7b1d4c4.json",
        ] {
            let cube: HyperCube = serde_json::from_value(corpus(file)).unwrap();
            let table = Table::of_cube(&cube);
            let page: &NxDataPage = &cube.data_pages[0];
            let mut b = Batcher::new(&table);
            b.push_page(page);
            let batch = b.finish().unwrap();
            assert_eq!(batch.schema(), schema(&table));
            check(&table, &batch, &page.matrix);
            let kind = batch.schema().field(0).metadata().get("qix.kind").cloned();
            assert_eq!(
                kind.as_deref(),
                Some(table.columns[0].kind.as_str()),
                "{file}"
            );
        }
    }

    #[tokio::test]
    async fn record_batches_hold_exactly_the_served_cells() {
        let cube = cube(12_000);
        let (_mock, _s, object) = serve(&cube).await;
        let all = events(Extract::object(&object).record_batches())
            .await
            .unwrap();
        let mut rows = 0;
        let mut table = None;
        for e in all {
            match e {
                Event::Begin(t) => table = Some(t),
                Event::Data(batch) => {
                    let t = table.as_ref().unwrap();
                    let matrix: Vec<Vec<_>> = (rows..rows + batch.num_rows() as u64)
                        .map(|r| {
                            (0..4)
                                .map(|c| {
                                    let m = cube.cell(0, r, c);
                                    qix_generated::types::NxCell {
                                        text: Some(m.text.clone().unwrap_or("-".into())),
                                        num: Some(m.num),
                                        elem_number: Some(m.elem),
                                        is_null: m.text.is_none().then_some(true),
                                        ..Default::default()
                                    }
                                })
                                .collect()
                        })
                        .collect();
                    check(t, &batch, &matrix);
                    rows += batch.num_rows() as u64;
                }
                Event::End(s) => assert_eq!(s.rows, rows),
            }
        }
        assert_eq!(rows, 12_000);
    }
}

/// The generator boxes the nested structs of data cells (matrix elements): a page of
/// 10,000 cells decodes into ~1.5 MB instead of 3.8 MB (`NxCell` was 384 bytes,
/// `NxPivotValuePoint` 184), and they still decode and encode their nested structs.
#[test]
fn data_cells_are_small() {
    use qix_generated::types::{NxCell, NxPivotValuePoint};
    assert_eq!(std::mem::size_of::<NxCell>(), 152);
    assert_eq!(std::mem::size_of::<NxPivotValuePoint>(), 120);
    let cell: NxCell = serde_json::from_str(
        r#"{"qText":"a","qNum":1,"qAttrExps":{"qValues":[{"qText":"x","qNum":2}]},"qMiniChart":{"qYMin":0}}"#,
    )
    .unwrap();
    assert_eq!(
        cell.attr_exps.as_ref().unwrap().values[0].text.as_deref(),
        Some("x")
    );
    assert_eq!(
        serde_json::to_value(&cell).unwrap(),
        json!({"qText":"a","qNum":1,"qAttrExps":{"qValues":[{"qText":"x","qNum":2}]},"qMiniChart":{"qYMin":0}})
    );
}

#[tokio::test]
async fn a_dropped_connection_ends_the_extraction_with_an_error_naming_the_page() {
    let cube = cube(10_000);
    let mock = MockEngine::start().await;
    mock.param_names(qix_generated::catalog::params_of);
    mock.expect("GetObject").returns(
        json!({"qReturn": {"qType": "GenericObject", "qHandle": 2, "qGenericId": "cube"}}),
    );
    let c = cube.clone();
    mock.expect("GetLayout")
        .on_handle(2)
        .respond_with(move |_| Reply::result(c.layout("cube")));
    let c = cube.clone();
    mock.expect("GetHyperCubeData")
        .on_handle(2)
        .respond_with(move |req| {
            if req.param("qPages").unwrap()[0]["qTop"] == json!(3_000) {
                Reply::fault(qix_runtime::testing::Fault::DropConnection)
            } else {
                c.answer(req, 2)
            }
        });
    let session = mock.connect().await.unwrap();
    let doc = Doc::from_object(session.register_object(qix_runtime::ObjectInfo::new(1, "Doc")));
    let object = doc.get_object("cube").await.unwrap();
    let e = events(Extract::object(&object).window(1).page_rows(1000).rows())
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("GetHyperCubeData for rows 3000..4000 of /qHyperCubeDef on object \"cube\": connection to the engine closed"),
        "{text}"
    );
    assert!(matches!(
        e.call_error(),
        Some(qix_runtime::Error::ConnectionClosed(_))
    ));
}

#[tokio::test]
async fn a_connection_lost_mid_way_starts_over_once_the_object_is_back() {
    let cube = cube(20_000);
    let mock = MockEngine::start().await;
    mock.param_names(qix_generated::catalog::params_of);
    // Pages past the first 5,000 rows answer late on the first connection, so the cut
    // finds them in flight.
    let first_connection = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let first = first_connection.clone();
    answer_late(&mock, &cube, Duration::from_secs(5), move |top| {
        first.load(std::sync::atomic::Ordering::SeqCst) && top >= 5_000
    });
    mock.expect("OpenDoc")
        .returns(json!({"qReturn": {"qType": "Doc", "qHandle": 1, "qGenericId": "app"}}));
    mock.expect("GetObject").on_handle(1).returns(
        json!({"qReturn": {"qType": "GenericObject", "qHandle": 2, "qGenericId": "cube"}}),
    );
    mock.expect("GetActiveDoc")
        .returns(json!({"qReturn": {"qType": "Doc", "qHandle": 1, "qGenericId": "app"}}));
    cube.serve(&mock, 2, "cube");
    let (_session, object) = reconnecting_cube(&mock).await;
    let run = tokio::spawn(events(
        Extract::object(&object).window(4).page_rows(1000).rows(),
    ));
    mock.wait_for("GetHyperCubeData", 8, LIMIT).await.unwrap();
    // The engine kept the session (it is checked, not trusted); the pages in flight are lost.
    first_connection.store(false, std::sync::atomic::Ordering::SeqCst);
    mock.on_connected(Some("SESSION_ATTACHED"));
    mock.drop_connections();
    let all = within(LIMIT, "the extraction across the cut", run)
        .await
        .unwrap()
        .expect("the extraction waits for the object and starts over instead of failing");
    let begins = all.iter().filter(|e| matches!(e, Event::Begin(_))).count();
    assert_eq!(
        begins, 2,
        "one start, one start over after the reconnection"
    );
    let (_, rows, summary) = last_snapshot(all);
    assert_eq!(summary.restarts, 1);
    assert_eq!(rows.len(), 20_000);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.index, i as u64);
        assert_served(&cube, 0, r);
    }
    assert_eq!(mock.connections().len(), 2);
}

#[tokio::test]
async fn a_connection_lost_for_good_for_the_object_fails_naming_the_page() {
    let cube = cube(20_000);
    let mock = MockEngine::start().await;
    mock.param_names(qix_generated::catalog::params_of);
    answer_late(&mock, &cube, Duration::from_secs(5), |top| top >= 5_000);
    mock.expect("OpenDoc")
        .times(1)
        .returns(json!({"qReturn": {"qType": "Doc", "qHandle": 1, "qGenericId": "app"}}));
    // The new engine session cannot open the app again: the object is not restored.
    mock.expect("OpenDoc")
        .returns_error(1002, "app", "App not found")
        .optional();
    mock.expect("GetObject").on_handle(1).returns(
        json!({"qReturn": {"qType": "GenericObject", "qHandle": 2, "qGenericId": "cube"}}),
    );
    cube.serve(&mock, 2, "cube");
    let (_session, object) = reconnecting_cube(&mock).await;
    let run = tokio::spawn(events(
        Extract::object(&object).window(4).page_rows(1000).rows(),
    ));
    mock.wait_for("GetHyperCubeData", 8, LIMIT).await.unwrap();
    mock.on_connected(Some("SESSION_CREATED"));
    mock.drop_connections();
    let e = within(LIMIT, "the extraction across the cut", run)
        .await
        .unwrap()
        .expect_err("an object that is not restored ends the extraction");
    let text = e.to_string();
    assert!(
        text.contains("GetHyperCubeData for rows 5000..6000"),
        "{text}"
    );
    assert!(object.object().is_closed());
}
