//! Every corectl recording of `../shared/corpus/traffic/` replays through typed calls:
//! the recording sends positional params with every optional param at its default, the
//! typed API sends named params and leaves defaults out; the replay compares them by
//! meaning with the generated catalog. Covers an engine error (1007), SESSION_ATTACHED and
//! an unknown envelope field (`warnings`). (enigma-go's recording is replayed by
//! `traffic_enigma_go.rs`.)
#![cfg(feature = "testing")]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::FutureExt;
use qix_generated::{Doc, ErrorCode, ErrorCodeExt, SessionExt, catalog};
use qix_runtime::testing::{NormalParams, Recording, Replay, Row, UNMATCHED_ERROR_CODE, within};
use qix_runtime::{Error, Session, SessionState};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(20);

/// `../shared/corpus/traffic`.
fn corpus_dir() -> PathBuf {
    common::shared().join("corpus/traffic")
}

fn corectl_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("corectl-"))
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 4,
        "expected the corectl recordings in the corpus, found {files:?}"
    );
    files
}

fn replay_of(file: &Path) -> Replay {
    Replay::load(file).unwrap().param_names(catalog::params_of)
}

/// The recorded response to the recorded request `id`.
fn response(rec: &Recording, id: &Value) -> Value {
    rec.rows()
        .iter()
        .find_map(|r| match r {
            Row::Received(v) if v.get("id") == Some(id) => Some(v.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no recorded response to request {id}"))
}

/// The state the recording's `OnConnected` reported.
fn recorded_state(rec: &Recording) -> SessionState {
    rec.rows()
        .iter()
        .find_map(|r| match r {
            Row::Received(v) if v["method"] == "OnConnected" => {
                v["params"]["qSessionState"].as_str()
            }
            _ => None,
        })
        .map(SessionState::from_wire)
        .expect("the recording has OnConnected")
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Makes the typed call each recorded request stands for and checks its outcome against
/// the recorded response.
async fn drive_typed(session: &Session, rec: &Recording, file: &Path) {
    let name = file.file_name().unwrap().to_string_lossy().to_string();
    let global = session.global();
    let mut doc: Option<(Doc, qix_runtime::BroadcastStream<()>)> = None;
    for req in rec.requests() {
        let method = req["method"].as_str().unwrap();
        let class = if req["handle"] == -1 { "Global" } else { "Doc" };
        let params = NormalParams::new(
            &req["params"],
            Some(class),
            method,
            Some(catalog::params_of),
        );
        let p = |n: &str| params.get(n).cloned().unwrap_or(Value::Null);
        let recorded = response(rec, &req["id"]);
        let result = &recorded["result"];
        let doc_ref = || {
            &doc.as_ref()
                .unwrap_or_else(|| panic!("{name}: {method} before a doc is open"))
                .0
        };
        let outcome: Result<(), Error> = match method {
            "GetActiveDoc" => global.get_active_doc().await.map(|d| {
                assert_eq!(
                    d.handle() as i64,
                    result["qReturn"]["qHandle"].as_i64().unwrap()
                );
                assert_eq!(d.generic_id(), result["qReturn"]["qGenericId"].as_str());
                let changes = d.object().changed();
                doc = Some((d, changes));
            }),
            "OpenDoc" => {
                let mut call = global.open_doc(text(&p("qDocName")));
                if p("qNoData") == true {
                    call = call.no_data(true);
                }
                call.await.map(|d| {
                    assert_eq!(
                        d.generic_id(),
                        result["qReturn"]["qGenericId"].as_str(),
                        "{name}"
                    );
                    let changes = d.object().changed();
                    doc = Some((d, changes));
                })
            }
            "SetScript" => doc_ref().set_script(text(&p("qScript"))).await,
            "GetScript" => doc_ref().get_script().await.map(|script| {
                assert_eq!(script, text(&result["qScript"]), "{name}");
                assert!(script.starts_with("///$tab Main"));
            }),
            "DoSave" => {
                let file_name = text(&p("qFileName"));
                let call = doc_ref().do_save();
                let call = if file_name.is_empty() {
                    call
                } else {
                    call.file_name(file_name)
                };
                call.await
            }
            other => panic!("{name}: no typed call for {other}: add one to drive_typed"),
        };
        match (&recorded.get("error"), outcome) {
            (Some(e), Err(err)) => {
                let code = e["code"].as_i64().unwrap() as i32;
                assert_eq!(
                    err.error_code(),
                    Some(ErrorCode::from_code(code)),
                    "{name}: {err}"
                );
            }
            (None, Ok(())) => {}
            (e, got) => panic!("{name}: {method}: recorded error {e:?}, typed call gave {got:?}"),
        }
        // A change of the open doc is in its stream when the call that caused it returns.
        if let (Some((d, changes)), Some(list)) = (&mut doc, recorded.get("change")) {
            let hit = list
                .as_array()
                .unwrap()
                .iter()
                .any(|h| h.as_i64() == Some(d.handle() as i64));
            if hit && method != "OpenDoc" && method != "GetActiveDoc" {
                assert_eq!(
                    changes.next_item().now_or_never(),
                    Some(Some(Ok(()))),
                    "{name}: {method}"
                );
            }
        }
    }
}

#[tokio::test]
async fn every_corectl_recording_replays_with_typed_calls() {
    within(LIMIT, "typed corpus replay", async {
        for file in corectl_files() {
            let replay = replay_of(&file);
            let session = Session::builder("ws://replay.invalid/app/")
                .connect_transport(replay.transport())
                .await
                .unwrap();
            assert_eq!(
                session.state(),
                Some(recorded_state(replay.recording())),
                "{}",
                file.display()
            );
            drive_typed(&session, replay.recording(), &file).await;
            replay
                .verify()
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        }
    })
    .await;
}

#[tokio::test]
async fn every_corectl_recording_replays_over_a_websocket() {
    within(LIMIT, "typed corpus replay over ws", async {
        for file in corectl_files() {
            let replay = replay_of(&file);
            let mock = replay.serve().await.unwrap();
            let session = mock.connect().await.unwrap();
            assert_eq!(session.state(), Some(recorded_state(replay.recording())));
            drive_typed(&session, replay.recording(), &file).await;
            mock.verify()
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        }
    })
    .await;
}

#[tokio::test]
async fn no_active_document_is_engine_error_1007() {
    within(LIMIT, "1007", async {
        let replay = replay_of(
            &corpus_dir().join("corectl-TestTrafficFlag_script_get_--traffic@ea4f1e3.golden"),
        );
        let session = Session::builder("ws://replay.invalid/app/")
            .connect_transport(replay.transport())
            .await
            .unwrap();
        assert_eq!(session.state(), Some(SessionState::Created));
        let err = session.global().get_active_doc().await.unwrap_err();
        let Error::Engine(e) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(
            (e.code, e.parameter.as_str(), e.message.as_str()),
            (1007, "No active document", "App invalid")
        );
        assert_eq!(err.error_code(), Some(ErrorCode::AppInvalid));
        assert_eq!(
            err.to_string(),
            "Global.GetActiveDoc failed: engine error 1007: App invalid (No active document)"
        );
        // The OpenDoc response carries an envelope field no spec has (`warnings`).
        let doc = session
            .global()
            .open_doc("/apps/TestTrafficFlag.qvf")
            .await
            .unwrap();
        assert_eq!(doc.generic_id(), Some("/apps/TestTrafficFlag.qvf"));
        let script = doc.get_script().await.unwrap();
        assert!(
            script.contains("SET ThousandSep=','") && script.contains("-6:μ"),
            "{script}"
        );
        replay.verify().unwrap();
    })
    .await;
}

#[tokio::test]
async fn an_attached_session_is_reported() {
    within(LIMIT, "attached", async {
        let replay = replay_of(&corpus_dir().join("corectl-project1-traffic-log@d0fc977.golden"));
        let session = Session::builder("ws://replay.invalid/app/")
            .connect_transport(replay.transport())
            .await
            .unwrap();
        assert_eq!(session.state(), Some(SessionState::Attached));
        let doc = session.global().get_active_doc().await.unwrap();
        assert_eq!(doc.generic_id(), Some("/apps/project1.qvf"));
    })
    .await;
}

#[tokio::test]
async fn a_typed_call_that_differs_from_the_recording_shows_a_diff() {
    within(LIMIT, "typed mismatch", async {
        let replay = replay_of(&corpus_dir().join("corectl-project1-traffic-log@e20d50c.golden"));
        let session = Session::builder("ws://replay.invalid/app/")
            .connect_transport(replay.transport())
            .await
            .unwrap();
        let _ = session.global().get_active_doc().await;
        let err = session.global().open_doc("/apps/elsewhere.qvf").no_data(true).await.unwrap_err();
        assert_eq!(err.engine_code(), Some(UNMATCHED_ERROR_CODE));
        let report = replay.verify().unwrap_err().to_string();
        for line in [
            "expected: Global.OpenDoc (handle -1) {\"qDocName\":\"/apps/corectl_test_app.qvf\",\"qNoData\":false,\"qPassword\":\"\",\"qSerial\":\"\",\"qUserName\":\"\"}",
            "sent:     Global.OpenDoc (handle -1) {\"qDocName\":\"/apps/elsewhere.qvf\",\"qNoData\":true}",
            "params.qDocName: expected \"/apps/corectl_test_app.qvf\", sent \"/apps/elsewhere.qvf\"",
            "params.qNoData: expected false, sent true",
        ] {
            assert!(report.contains(line), "missing {line:?} in:\n{report}");
        }
    })
    .await;
}
