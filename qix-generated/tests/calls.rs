//! What typed calls put on the wire and how their answers come back, against a scripted
//! peer: params by name, unset optional params omitted, typed handles, `qHandle: null`,
//! typed error codes, NaN numbers.

mod common;

use qix_generated::types::{NxPage, StateEnumType};
use qix_generated::{ErrorCode, ErrorCodeExt, SessionExt};
use qix_runtime::transport::{self, ChannelPeer};
use qix_runtime::{Error, Session, SessionOptions};
use serde_json::{Value, json};

fn session() -> (Session, ChannelPeer) {
    let (t, peer) = transport::channel();
    (Session::from_transport(t, SessionOptions::default()), peer)
}

async fn request(peer: &mut ChannelPeer) -> Value {
    common::next_request(peer).await
}

fn answer(peer: &ChannelPeer, req: &Value, result: Value) {
    assert!(
        peer.send_text(json!({"jsonrpc": "2.0", "id": req["id"], "result": result}).to_string())
    );
}

#[tokio::test]
async fn params_go_by_name_and_unset_optional_ones_are_not_sent() {
    let (session, mut peer) = session();
    let global = session.global();
    let call = tokio::spawn({
        let global = global.clone();
        async move { global.open_doc("app.qvf").no_data(true).await }
    });
    let req = request(&mut peer).await;
    assert_eq!(req["method"], "OpenDoc");
    assert_eq!(req["handle"], -1);
    // qUserName, qPassword, qSerial were not set: not sent, not sent as "".
    assert_eq!(
        req["params"],
        json!({"qDocName": "app.qvf", "qNoData": true})
    );
    answer(
        &peer,
        &req,
        json!({"qReturn": {"qType": "Doc", "qHandle": 1, "qGenericId": "app.qvf"}}),
    );
    let doc = call.await.unwrap().unwrap();
    assert_eq!((doc.handle(), doc.generic_id()), (1, Some("app.qvf")));

    // A method on the doc: its handle, and positional-free named params.
    let call = tokio::spawn(async move { doc.get_field("Region").await });
    let req = request(&mut peer).await;
    assert_eq!(
        (req["method"].as_str(), req["handle"].as_i64()),
        (Some("GetField"), Some(1))
    );
    assert_eq!(req["params"], json!({"qFieldName": "Region"}));
    answer(
        &peer,
        &req,
        json!({"qReturn": {"qType": "Field", "qHandle": 2}}),
    );
    let field = call.await.unwrap().unwrap();
    assert_eq!(field.handle(), 2);
}

#[tokio::test]
async fn a_null_handle_is_object_not_found() {
    let (session, mut peer) = session();
    let doc = session.global().get_active_doc();
    let call = tokio::spawn(async move { doc.await });
    let req = request(&mut peer).await;
    answer(
        &peer,
        &req,
        json!({"qReturn": {"qType": null, "qHandle": null}}),
    );
    match call.await.unwrap() {
        Err(Error::ObjectNotFound { method, .. }) => assert_eq!(method, "Global.GetActiveDoc"),
        other => panic!("expected ObjectNotFound, got {other:?}"),
    }
}

/// The first error answer in a recorded corectl session (`../shared/corpus/traffic/`):
/// what a real engine sent for `GetActiveDoc` without an open app.
fn recorded_error() -> Value {
    let file = common::shared()
        .join("corpus/traffic/corectl-TestTrafficFlag_script_get_--traffic@ea4f1e3.golden");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    text.lines()
        .filter_map(|l| l.strip_prefix("<-- "))
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|m| m.get("error").is_some())
        .expect("the recording has an error answer")
}

/// The spec's error codes (`NxLocalizedErrorCode`): code → `LOCERR_…` name.
fn spec_error_codes() -> Vec<(i32, String)> {
    let path = common::shared().join(format!(
        "schemas/openrpc/{}.json",
        qix_generated::API_VERSION
    ));
    let spec: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    spec["components"]["schemas"]["NxLocalizedErrorCode"]["oneOf"]
        .as_array()
        .expect("NxLocalizedErrorCode.oneOf")
        .iter()
        .map(|c| {
            (
                c["x-qlik-const"].as_i64().unwrap() as i32,
                c["title"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn engine_errors_have_typed_codes() {
    let (session, mut peer) = session();
    let call = tokio::spawn({
        let g = session.global();
        async move { g.get_active_doc().await }
    });
    let req = request(&mut peer).await;
    // The error a real engine sent, under this request's id.
    let mut answer = recorded_error();
    answer["id"] = req["id"].clone();
    let wire_code = answer["error"]["code"].as_i64().unwrap() as i32;
    peer.send_text(answer.to_string());
    let e = call.await.unwrap().unwrap_err();
    assert_eq!(e.engine_code(), Some(wire_code));
    // The typed code is the spec's name for the wire value.
    let codes = spec_error_codes();
    let (_, spec_name) = codes
        .iter()
        .find(|(c, _)| *c == wire_code)
        .unwrap_or_else(|| panic!("the spec lists no error {wire_code}"));
    assert_eq!(e.error_code(), Some(ErrorCode::AppInvalid));
    assert_eq!(e.error_code().unwrap().name(), spec_name);
    assert_eq!(spec_name, "LOCERR_APP_INVALID");
    assert_eq!(
        e.to_string(),
        "Global.GetActiveDoc failed: engine error 1007: App invalid (No active document)"
    );
    assert_eq!(ErrorCode::from_code(123456), ErrorCode::Unknown(123456));
}

/// Every code of the spec maps to the variant of that name and back.
#[test]
fn error_codes_match_the_spec() {
    let codes = spec_error_codes();
    assert!(codes.len() > 100, "{} codes", codes.len());
    for (code, name) in &codes {
        let typed = ErrorCode::from_code(*code);
        assert_eq!(typed.name(), name, "code {code}");
        assert_eq!(typed.code(), *code, "{name}");
    }
}

#[tokio::test]
async fn pages_decode_with_nan_and_states() {
    let (session, mut peer) = session();
    let obj = session.register_object(qix_runtime::ObjectInfo::new(3, "GenericObject"));
    let obj = qix_generated::GenericObject::from_object(obj);
    let page = NxPage {
        top: Some(0),
        height: Some(1),
        width: Some(2),
        ..Default::default()
    };
    let call =
        tokio::spawn(async move { obj.get_hyper_cube_data("/qHyperCubeDef", vec![page]).await });
    let req = request(&mut peer).await;
    assert_eq!(
        req["params"],
        json!({"qPath": "/qHyperCubeDef", "qPages": [{"qTop": 0, "qWidth": 2, "qHeight": 1}]})
    );
    answer(
        &peer,
        &req,
        json!({"qDataPages": [{"qMatrix": [[
            {"qText": "A", "qNum": "NaN", "qElemNumber": 0, "qState": "S"},
            {"qText": "1.5", "qNum": 1.5, "qElemNumber": 0, "qState": "L"}
        ]], "qTails": [], "qArea": {"qLeft": 0, "qTop": 0, "qWidth": 2, "qHeight": 1}}]}),
    );
    let pages = call.await.unwrap().unwrap();
    let row = &pages[0].matrix[0];
    assert!(row[0].num.unwrap().is_nan());
    assert_eq!(row[0].state, Some(StateEnumType::Selected));
    assert_eq!(row[1].num, Some(1.5));
    assert_eq!(row[1].state, Some(StateEnumType::Locked));
}

#[tokio::test]
async fn a_result_of_the_wrong_shape_is_a_decode_error_with_its_path() {
    let (session, mut peer) = session();
    let call = tokio::spawn({
        let g = session.global();
        async move { g.engine_version().await }
    });
    let req = request(&mut peer).await;
    answer(&peer, &req, json!({"qVersion": {"qComponentVersion": 12}}));
    match call.await.unwrap() {
        Err(Error::Decode(d)) => {
            assert_eq!(d.method, "Global.EngineVersion");
            assert_eq!(d.path, "qVersion.qComponentVersion");
            assert!(d.raw.contains("qComponentVersion"));
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
}
