//! A value of the wrong type names its place in the answer: through nested structs, lists
//! and lists of lists, whether the answer came as text or as a delta patch. The path is
//! noted by the generated types as the error passes through them (no second decode).

mod common;

use qix_generated::SessionExt;
use qix_runtime::transport::{self, ChannelPeer};
use qix_runtime::{Error, Session, SessionOptions};
use serde_json::{Value, json};

async fn request(peer: &mut ChannelPeer) -> Value {
    common::next_request(peer).await
}

fn answer(peer: &ChannelPeer, req: &Value, result: Value, delta: bool) {
    let mut frame = json!({"jsonrpc": "2.0", "id": req["id"], "result": result});
    if delta {
        frame["delta"] = json!(true);
    }
    assert!(peer.send_text(frame.to_string()));
}

/// A layout whose third row's second cell has a string where `qElemNumber` is a number.
fn bad_layout() -> Value {
    let cell = json!({"qText": "a", "qNum": 1, "qElemNumber": 0, "qState": "O"});
    let bad = json!({"qText": "b", "qNum": "NaN", "qElemNumber": "seven", "qState": "O"});
    json!({
        "qInfo": {"qId": "o1", "qType": "table"},
        "qHyperCube": {
            "qSize": {"qcx": 2, "qcy": 3},
            "qDataPages": [{
                "qArea": {"qLeft": 0, "qTop": 0, "qWidth": 2, "qHeight": 3},
                "qMatrix": [[cell, cell], [cell, cell], [cell, bad]]
            }]
        }
    })
}

async fn layout_error(delta: bool) -> qix_runtime::DecodeError {
    let (t, mut peer) = transport::channel();
    let session = Session::from_transport(t, SessionOptions::default());
    let global = session.global();
    let call = tokio::spawn(async move {
        let doc = global.open_doc("app.qvf").await?;
        let object = doc.get_object("o1").await?;
        object.get_layout().await
    });
    let req = request(&mut peer).await;
    answer(
        &peer,
        &req,
        json!({"qReturn": {"qType": "Doc", "qHandle": 1}}),
        false,
    );
    let req = request(&mut peer).await;
    answer(
        &peer,
        &req,
        json!({"qReturn": {"qType": "GenericObject", "qHandle": 2, "qGenericId": "o1"}}),
        false,
    );
    let req = request(&mut peer).await;
    assert_eq!(req["method"], "GetLayout");
    let layout = if delta {
        json!([{"op": "add", "path": "/", "value": bad_layout()}])
    } else {
        bad_layout()
    };
    answer(&peer, &req, json!({"qLayout": layout}), delta);
    match call.await.unwrap() {
        Err(Error::Decode(d)) => *d,
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_path_goes_through_structs_and_list_indices() {
    let d = layout_error(false).await;
    assert_eq!(d.method, "GenericObject.GetLayout");
    assert_eq!(
        d.path,
        "qLayout.qHyperCube.qDataPages[0].qMatrix[2][1].qElemNumber"
    );
    assert!(d.message.contains("seven"), "{}", d.message);
}

#[tokio::test]
async fn a_patched_answer_names_the_same_path() {
    let d = layout_error(true).await;
    assert_eq!(
        d.path,
        "qLayout.qHyperCube.qDataPages[0].qMatrix[2][1].qElemNumber"
    );
}

#[tokio::test]
async fn an_earlier_failure_does_not_leak_into_the_next_path() {
    use qix_generated::types::NxCell;
    // A decode by hand fails and leaves its steps behind on this thread (the test runtime
    // is single-threaded, so the call below decodes on the same thread); the call's path
    // must start from scratch.
    let e = serde_json::from_str::<Vec<NxCell>>(r#"[{}, {"qElemNumber": "x"}]"#).unwrap_err();
    assert!(e.to_string().contains("invalid type"), "{e}");
    let d = layout_error(false).await;
    assert_eq!(
        d.path,
        "qLayout.qHyperCube.qDataPages[0].qMatrix[2][1].qElemNumber"
    );
}
