//! `../shared/corpus/traffic/enigma-go-mock-mode.traffic`, recorded off a real engine,
//! replayed end to end through typed calls: create a session app, set the script, reload,
//! create a hypercube object, get its layout, select cells, get the layout again. The
//! typed results must match the recording, and every request must mean what the recorded
//! one meant (the recording sends params by position, the typed API by name).

mod common;
#[path = "../examples/common/cube.rs"]
mod cube;

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use qix_generated::types::*;
use qix_generated::{SessionExt, catalog};
use qix_runtime::transport::{self, ChannelPeer};
use qix_runtime::{Session, SessionOptions, SessionState};
use serde_json::{Map, Value, json};

use common::{same_json, shared};

fn recording() -> Vec<(bool, Value)> {
    let path = shared().join("corpus/traffic/enigma-go-mock-mode.traffic");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let rows: Vec<Value> = serde_json::from_str(&text).unwrap();
    rows.into_iter()
        .map(|r| match (r.get("Sent"), r.get("Received")) {
            (Some(s), None) => (true, s.clone()),
            (None, Some(r)) => (false, r.clone()),
            _ => panic!("row is neither Sent nor Received: {r}"),
        })
        .collect()
}

/// Params by name: positional ones are named with the generated catalog.
fn named(method: &str, params: &Value) -> Map<String, Value> {
    match params {
        Value::Object(m) => m.clone(),
        Value::Array(items) => {
            let names = catalog::params_of(None, method)
                .unwrap_or_else(|| panic!("{method} is not in the catalog"));
            assert!(
                items.len() <= names.len(),
                "{method}: more params than the spec has"
            );
            names
                .iter()
                .zip(items)
                .map(|(n, v)| (n.to_string(), v.clone()))
                .collect()
        }
        other => panic!("params of {method} are {other}"),
    }
}

/// The engine side: checks each request against the recording and answers as recorded,
/// with the client's ids.
async fn engine(mut peer: ChannelPeer, rows: Vec<(bool, Value)>) {
    let mut ids: HashMap<i64, i64> = HashMap::new();
    for (sent, frame) in rows {
        if sent {
            let got = tokio::time::timeout(Duration::from_secs(5), peer.sent.recv())
                .await
                .unwrap_or_else(|_| panic!("the client never sent {frame}"))
                .expect("the session is gone");
            let got: Value = serde_json::from_str(&got).unwrap();
            let method = frame["method"].as_str().unwrap();
            assert_eq!(got["method"], frame["method"], "method of {got}");
            assert_eq!(got["handle"], frame["handle"], "handle of {got}");
            let want = Value::Object(named(method, &frame["params"]));
            let have = Value::Object(named(method, &got["params"]));
            if let Err(d) = same_json(&want, &have, method) {
                panic!(
                    "{method}: the typed call sent other params than recorded: {d}\n recorded {want}\n sent     {have}"
                );
            }
            ids.insert(frame["id"].as_i64().unwrap(), got["id"].as_i64().unwrap());
        } else {
            let mut frame = frame;
            if let Some(id) = frame.get("id").and_then(Value::as_i64) {
                frame["id"] = json!(ids[&id]);
            }
            assert!(peer.send_text(frame.to_string()));
        }
    }
}

fn recorded_result(rows: &[(bool, Value)], id: i64) -> Value {
    rows.iter()
        .find(|(sent, f)| !sent && f["id"] == json!(id))
        .map(|(_, f)| f["result"].clone())
        .unwrap_or_else(|| panic!("no recorded response {id}"))
}

#[tokio::test]
async fn enigma_go_mock_mode_replays_through_typed_calls() {
    let rows = recording();
    let (t, peer) = transport::channel();
    let session = Session::from_transport(t, SessionOptions::default());
    let mut changes = session.changes();
    let replay = tokio::spawn(engine(peer, rows.clone()));
    let global = session.global();

    // OnConnected arrives between this request and its response.
    let created = global.create_session_app().await.unwrap();
    assert_eq!(session.state(), Some(SessionState::Created));
    assert_eq!(
        created.session_app_id,
        "SessionApp_8c6857ed-4a13-4a09-a999-0ffaef7e82b0"
    );
    let doc = created.doc;
    assert_eq!(doc.handle(), 1);
    assert_eq!(&*changes.next().await.unwrap().unwrap(), &[1]);

    doc.set_script("\nTempTable:\nLoad\nRecNo() as ID,\nRand() as Value\nAutoGenerate 100\n")
        .await
        .unwrap();
    assert!(
        doc.do_reload()
            .mode(0)
            .partial(false)
            .debug(false)
            .await
            .unwrap()
    );

    let mut props = cube::straight_table("my-straight-hypercube", "ID", ["=Sum(Value)".into()]);
    props.hyper_cube_def.as_mut().unwrap().initial_data_fetch = vec![NxPage {
        width: Some(2),
        height: Some(5),
        ..Default::default()
    }];
    let created = doc.create_object(props).await.unwrap();
    let obj = created.object;
    assert_eq!(obj.handle(), 2);
    assert_eq!(obj.generic_type(), Some("my-straight-hypercube"));
    assert_eq!(
        obj.generic_id(),
        Some("fc9e7114-b3f3-4e75-9157-184f36f94995")
    );
    // The second out-property, which enigma-go drops.
    assert_eq!(created.info.id.as_deref(), obj.generic_id());
    let mut obj_changes = obj.changed();
    let mut doc_changes = doc.object().changed();

    let layout = obj.get_layout().await.unwrap();
    let recorded = recorded_result(&rows, 5);
    same_json(
        &recorded["qLayout"],
        &serde_json::to_value(&layout).unwrap(),
        "qLayout",
    )
    .unwrap();
    let cube = layout.hyper_cube.as_ref().unwrap();
    assert_eq!(cube.size.as_ref().unwrap().cy, Some(100));
    let first = &cube.data_pages[0].matrix[0];
    assert_eq!(first[0].text.as_deref(), Some("1"));
    assert_eq!(first[0].state, Some(StateEnumType::Option));
    // The grand total's state is `X`: excluded.
    assert_eq!(cube.grand_total_row[0].state, Some(StateEnumType::Excluded));

    let selected = obj
        .select_hyper_cube_cells("/qHyperCubeDef", vec![0, 2, 4], vec![0])
        .soft_lock(false)
        .deselect_only_one_selected(false)
        .await
        .unwrap();
    assert!(selected);
    // `change: [1, 2]` reached both handles before the call returned.
    assert_eq!(obj_changes.next().await, Some(Ok(())));
    assert_eq!(doc_changes.next().await, Some(Ok(())));

    let layout = obj.get_layout().await.unwrap();
    let recorded = recorded_result(&rows, 7);
    same_json(
        &recorded["qLayout"],
        &serde_json::to_value(&layout).unwrap(),
        "qLayout",
    )
    .unwrap();
    let cube = layout.hyper_cube.unwrap();
    assert_eq!(cube.size.unwrap().cy, Some(3));
    assert_eq!(
        cube.data_pages[0].matrix[0][0].state,
        Some(StateEnumType::Selected)
    );

    replay.await.unwrap();
}
