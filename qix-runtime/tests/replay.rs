//! The replay engine: every file of the recorded traffic corpus replays (raw calls),
//! mismatches give readable diffs, and what `JsonLinesLog` records replays.
#![cfg(feature = "testing")]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{LIMIT, SharedBuf, call, connect, corpus_dir, corpus_files};
use qix_runtime::testing::{MockEngine, Recording, Replay, Row, UNMATCHED_ERROR_CODE, within};
use qix_runtime::{Error, JsonLinesLog, Notification, ObjectInfo, Session, SessionState};
use serde_json::{Value, json};

/// Param names of the methods the corpus uses (the typed tests in qix-generated use the
/// generated catalog instead).
fn names(_: Option<&str>, method: &str) -> Option<&'static [&'static str]> {
    Some(match method {
        "OpenDoc" => &["qDocName", "qUserName", "qPassword", "qSerial", "qNoData"],
        "SetScript" => &["qScript"],
        "DoSave" => &["qFileName"],
        "GetActiveDoc" | "GetScript" | "GetLayout" | "CreateSessionApp" => &[],
        _ => return None,
    })
}

async fn replay_session(replay: &Replay) -> Session {
    // enigma-go's recording has OnConnected after the first request: do not wait for it.
    Session::builder("ws://replay.invalid/app/")
        .on_connected_timeout(None)
        .connect_transport(replay.transport())
        .await
        .unwrap()
}

/// The recorded response to the request with recorded id `id`.
fn recorded_response(rec: &Recording, id: i64) -> &Value {
    rec.rows()
        .iter()
        .find_map(|r| match r {
            Row::Received(v) if v.get("id").and_then(Value::as_i64) == Some(id) => Some(v),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no recorded response to request {id}"))
}

/// Sends every recorded request as a raw call and checks each answer against the
/// recorded one.
async fn drive_raw(session: &Session, rec: &Recording, file: &Path) {
    for req in rec.requests() {
        let handle = req["handle"].as_i64().unwrap() as i32;
        let method = req["method"].as_str().unwrap();
        let expected = recorded_response(rec, req["id"].as_i64().unwrap());
        let got = session
            .call_raw(handle, method, req["params"].clone())
            .await;
        match (expected.get("error"), got) {
            (Some(e), Err(Error::Engine(got))) => {
                assert_eq!(
                    Some(got.code as i64),
                    e["code"].as_i64(),
                    "{}",
                    file.display()
                );
                assert_eq!(got.parameter, e["parameter"].as_str().unwrap_or_default());
                assert_eq!(got.message, e["message"].as_str().unwrap_or_default());
            }
            (None, Ok(v)) => assert_eq!(&v, &expected["result"], "{}: {method}", file.display()),
            (e, got) => panic!("{}: {method}: recorded {e:?}, got {got:?}", file.display()),
        }
    }
}

#[tokio::test]
async fn every_corpus_file_replays_with_raw_calls() {
    within(LIMIT, "corpus replay", async {
        for file in corpus_files() {
            let rec = Recording::load(&file).unwrap();
            assert!(
                rec.requests().count() >= 3,
                "{}: too few requests",
                file.display()
            );
            let replay = Replay::new(rec.clone());
            let session = replay_session(&replay).await;
            drive_raw(&session, &rec, &file).await;
            replay
                .verify()
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            // Every recording starts the session with OnConnected.
            assert!(session.state().is_some(), "{}", file.display());
        }
    })
    .await;
}

#[tokio::test]
async fn the_corpus_covers_errors_attached_sessions_and_unknown_fields() {
    let files = corpus_files();
    let all: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    assert!(all.iter().any(|t| t.contains("\"code\":1007")));
    assert!(all.iter().any(|t| t.contains("SESSION_ATTACHED")));
    assert!(all.iter().any(|t| t.contains("\"warnings\"")));
    assert!(
        files
            .iter()
            .any(|f| f.to_string_lossy().ends_with("enigma-go-mock-mode.traffic"))
    );
}

#[tokio::test]
async fn enigma_go_recording_pushes_on_connected_between_request_and_response() {
    within(LIMIT, "enigma-go replay", async {
        let rec = Recording::load(corpus_dir().join("enigma-go-mock-mode.traffic")).unwrap();
        let replay = Replay::new(rec.clone());
        let session = replay_session(&replay).await;
        let mut notes = session.notifications();
        let mut changes = session.changes();
        assert_eq!(session.state(), None);
        let app = session
            .call_raw(-1, "CreateSessionApp", json!([]))
            .await
            .unwrap();
        assert_eq!(app["qReturn"]["qHandle"], 1);
        assert_eq!(session.state(), Some(SessionState::Created));
        assert!(matches!(
            notes.next_item().await,
            Some(Ok(Notification::Connected { .. }))
        ));
        assert_eq!(&*changes.next_item().await.unwrap().unwrap(), &[1]);
        drive_rest(&session, &rec).await;
        replay.verify().unwrap();
    })
    .await;
}

async fn drive_rest(session: &Session, rec: &Recording) {
    for req in rec.requests().skip(1) {
        let handle = req["handle"].as_i64().unwrap() as i32;
        session
            .call_raw(
                handle,
                req["method"].as_str().unwrap(),
                req["params"].clone(),
            )
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn named_params_match_a_recording_of_positional_ones() {
    within(LIMIT, "named vs positional", async {
        let file = corpus_dir().join("corectl-project1-traffic-log@e20d50c.golden");
        let replay = Replay::load(&file).unwrap().param_names(names);
        let session = Session::builder("ws://replay.invalid/app/")
            .connect_transport(replay.transport())
            .await
            .unwrap();
        assert_eq!(session.state(), Some(SessionState::Created));
        let global = session.global_object();
        let err = call(&global, "GetActiveDoc", json!({}), None)
            .await
            .unwrap_err();
        assert_eq!(err.engine_code(), Some(1007));
        // Optional params left out: the recording sent them at their defaults.
        let doc = call(
            &global,
            "OpenDoc",
            json!({"qDocName": "/apps/corectl_test_app.qvf"}),
            None,
        )
        .await
        .unwrap();
        assert_eq!(doc["qReturn"]["qHandle"], 1);
        let doc = session.register_object(ObjectInfo::new(1, "Doc"));
        let mut changed = doc.changed();
        call(
            &doc,
            "SetScript",
            json!({"qScript": "LIB CONNECT TO myconnection;\n\nTableA:\nSELECT A;\n"}),
            None,
        )
        .await
        .unwrap();
        call(&doc, "DoSave", json!({}), None).await.unwrap();
        assert_eq!(changed.next_item().await, Some(Ok(())));
        replay.verify().unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_request_that_differs_from_the_recording_fails_with_a_diff() {
    within(LIMIT, "mismatch diff", async {
        let file = corpus_dir().join("corectl-project1-traffic-log@e20d50c.golden");
        let replay = Replay::load(&file).unwrap().param_names(names);
        let session = replay_session(&replay).await;
        let global = session.global_object();
        let _ = call(&global, "GetActiveDoc", json!({}), None).await;
        let err = call(
            &global,
            "OpenDoc",
            json!({"qDocName": "/apps/other.qvf", "qNoData": true}),
            None,
        )
        .await
        .unwrap_err();
        assert_eq!(err.engine_code(), Some(UNMATCHED_ERROR_CODE), "{err}");
        assert!(!err.to_string().contains('\n'), "{err}");
        // Strict: the replay stays at the recorded OpenDoc; the right one still matches.
        session
            .call_raw(
                -1,
                "OpenDoc",
                json!(["/apps/corectl_test_app.qvf", "", "", "", false]),
            )
            .await
            .unwrap();
        let report = replay.verify().unwrap_err().to_string();
        let expected = [
            "request #2 does not match the recording (row 4)",
            "expected: Global.OpenDoc (handle -1) {",
            "sent:     Global.OpenDoc (handle -1) {",
            "params.qDocName: expected \"/apps/corectl_test_app.qvf\", sent \"/apps/other.qvf\"",
            "params.qNoData: expected false, sent true",
            "2 of 4 recorded request(s) were sent; next expected: Doc.SetScript (handle 1)",
        ];
        for line in expected {
            assert!(report.contains(line), "missing {line:?} in:\n{report}");
        }
    })
    .await;
}

#[tokio::test]
async fn requests_after_the_end_of_the_recording_fail() {
    within(LIMIT, "past the end", async {
        let rec = Recording::parse(
            "<-- {\"jsonrpc\":\"2.0\",\"method\":\"OnConnected\",\"params\":{\"qSessionState\":\"SESSION_CREATED\"}}\n\
             --> {\"jsonrpc\":\"2.0\",\"method\":\"EngineVersion\",\"handle\":-1,\"id\":1,\"params\":[]}\n\
             <-- {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"qVersion\":{\"qComponentVersion\":\"12.1\"}}}\n",
        )
        .unwrap();
        let replay = Replay::new(rec);
        let session = replay_session(&replay).await;
        // Client ids need not be the recorded ones.
        let _ = session.call_raw(-1, "GetDocList", json!({})).await.unwrap_err();
        session.call_raw(-1, "EngineVersion", json!([])).await.unwrap();
        let err = session.call_raw(-1, "EngineVersion", json!([])).await.unwrap_err();
        assert_eq!(err.engine_code(), Some(UNMATCHED_ERROR_CODE));
        let report = replay.verify().unwrap_err().to_string();
        assert!(report.contains("method: expected EngineVersion, sent GetDocList"), "{report}");
        assert!(report.contains("request #3 after the end of the recording"), "{report}");
    })
    .await;
}

#[tokio::test]
async fn unordered_replay_accepts_requests_in_any_order() {
    within(LIMIT, "unordered", async {
        let text = r#"[
            {"Sent": {"jsonrpc":"2.0","method":"A","handle":-1,"id":1,"params":[]}},
            {"Sent": {"jsonrpc":"2.0","method":"B","handle":-1,"id":2,"params":[]}},
            {"Received": {"jsonrpc":"2.0","id":1,"result":{"a":1}}},
            {"Received": {"jsonrpc":"2.0","id":2,"result":{"b":2}}}
        ]"#;
        let rec = Recording::parse(text).unwrap();
        let replay = Replay::new(rec.clone()).unordered();
        let session = replay_session(&replay).await;
        let g = session.global_object();
        let (b, a) = (
            call(&g, "B", json!({}), None),
            call(&g, "A", json!({}), None),
        );
        assert_eq!(a.await.unwrap(), json!({"a": 1}));
        assert_eq!(b.await.unwrap(), json!({"b": 2}));
        replay.verify().unwrap();

        // Strict, the same order fails; pipelined in the recorded order, it passes.
        let strict = Replay::new(rec);
        let session = replay_session(&strict).await;
        let g = session.global_object();
        assert!(call(&g, "B", json!({}), None).await.is_err());
        let (a, b) = (
            call(&g, "A", json!({}), None),
            call(&g, "B", json!({}), None),
        );
        assert_eq!(a.await.unwrap(), json!({"a": 1}));
        assert_eq!(b.await.unwrap(), json!({"b": 2}));
        assert_eq!(strict.verify().unwrap_err().problems.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_replay_serves_over_a_websocket() {
    within(LIMIT, "replay over ws", async {
        let file = corpus_dir().join("corectl-project1-traffic-log@d0fc977.golden");
        let replay = Replay::load(&file).unwrap().param_names(names);
        let mock = replay.serve().await.unwrap();
        let session = connect(&mock).await;
        assert_eq!(session.state(), Some(SessionState::Attached));
        let global = session.global_object();
        let r = call(&global, "GetActiveDoc", json!({}), None)
            .await
            .unwrap();
        assert_eq!(r["qReturn"]["qGenericId"], "/apps/project1.qvf");
        let doc = session.register_object(ObjectInfo::new(1, "Doc"));
        call(
            &doc,
            "SetScript",
            json!({"qScript": "LIB CONNECT TO myconnection;\n\nTableA:\nSELECT A;\n"}),
            None,
        )
        .await
        .unwrap();
        call(&doc, "DoSave", json!({}), None).await.unwrap();
        assert_eq!(mock.received().len(), 3);
        mock.verify().unwrap();
        // A second client plays it from the start.
        let again = connect(&mock).await;
        again.call_raw(-1, "GetActiveDoc", json!([])).await.unwrap();
        assert!(
            mock.verify()
                .unwrap_err()
                .to_string()
                .contains("replay run 1: 1 of 3")
        );
    })
    .await;
}

/// Drives the same calls against any engine.
async fn scripted_calls(session: &Session) -> Vec<Result<Value, String>> {
    let global = session.global_object();
    let mut out = Vec::new();
    let r = |r: Result<Value, Error>| r.map_err(|e| e.to_string());
    out.push(r(call(&global, "GetActiveDoc", json!({}), None).await));
    out.push(r(call(
        &global,
        "OpenDoc",
        json!({"qDocName": "x.qvf"}),
        None,
    )
    .await));
    let doc = session.register_object(ObjectInfo::new(1, "Doc"));
    // Pipelined.
    let calls: Vec<_> = (0..3)
        .map(|i| {
            call(
                &doc,
                "Evaluate",
                json!({"qExpression": format!("={i}")}),
                None,
            )
        })
        .collect();
    for c in calls {
        out.push(r(c.await));
    }
    out.push(r(call(&doc, "GetScript", json!({}), None).await));
    out
}

fn scripted_mock(mock: &MockEngine) {
    mock.expect("GetActiveDoc")
        .returns_error(1007, "No active document", "App invalid");
    mock.expect("OpenDoc")
        .notify_before("OnCustom", json!({"x": "é ✓"}))
        .returns(json!({"qReturn": {"qType": "Doc", "qHandle": 1}}))
        .with_change([1]);
    mock.expect("Evaluate").respond_with(|r| {
        qix_runtime::testing::Reply::result(json!({"qReturn": r.param("qExpression")}))
    });
    mock.expect("GetScript")
        .returns(json!({"qScript": "line 1\r\nline 2 \"quoted\""}));
}

#[tokio::test]
async fn what_json_lines_log_records_replays() {
    within(LIMIT, "record and replay", async {
        let mock = MockEngine::start().await;
        scripted_mock(&mock);
        let buf = SharedBuf::default();
        let path = std::env::temp_dir().join(format!("qix-record-{}.jsonl", std::process::id()));
        let file_log = Arc::new(JsonLinesLog::create(&path).unwrap());
        let session = mock
            .session()
            .traffic(Arc::new(JsonLinesLog::new(Box::new(buf.clone()))))
            .traffic(file_log.clone())
            .connect()
            .await
            .unwrap();
        let live = scripted_calls(&session).await;
        session.close().await;
        drop(session);
        drop(file_log);
        mock.verify().unwrap();
        assert!(
            live[0].is_err() && live[1..].iter().all(Result::is_ok),
            "{live:?}"
        );

        let rec = Recording::parse(&buf.text()).unwrap();
        assert_eq!(rec.requests().count(), 6);
        let replay = Replay::new(rec);
        let session = replay_session(&replay).await;
        assert_eq!(scripted_calls(&session).await, live);
        replay.verify().unwrap();

        // The file the log wrote replays too, over a WebSocket.
        let replay = Replay::load(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let served = replay.serve().await.unwrap();
        let session = connect(&served).await;
        assert_eq!(scripted_calls(&session).await, live);
        served.verify().unwrap();
    })
    .await;
}

#[test]
fn recordings_parse_from_each_format() {
    let arrows = "CLI text\nSaving app... --> {\"method\":\"DoSave\",\"handle\":1,\"id\":4,\"params\":[\"\"]}\n\
                  <-- {\"id\":4,\"result\":{}}\nDone\n";
    let rec = Recording::parse(arrows).unwrap();
    assert_eq!(rec.rows().len(), 2);
    assert!(matches!(&rec.rows()[0], Row::Sent(v) if v["method"] == "DoSave"));

    let lines =
        "{\"Sent\":{\"method\":\"A\",\"handle\":-1,\"id\":1}}\n\n{\"Received\":\"not json\"}\n";
    let rec = Recording::parse(lines).unwrap();
    assert_eq!(rec.rows()[1], Row::Received(json!("not json")));

    let err = Recording::parse("--> {\"broken\"\n").unwrap_err();
    assert!(err.contains("line 1"), "{err}");
    let err = Recording::parse("[{\"Other\": 1}]").unwrap_err();
    assert!(err.contains("row 0"), "{err}");
    assert!(Recording::parse("no frames here").is_err());
    assert!(
        Recording::load("/nonexistent/x.traffic")
            .unwrap_err()
            .contains("/nonexistent/x.traffic")
    );
    let _ = Duration::ZERO;
}

#[test]
fn a_log_with_dropped_frames_is_refused_with_where_and_why() {
    use qix_runtime::TrafficHook;
    let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(b)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let log = qix_runtime::JsonLinesLog::new(Box::new(Shared(out.clone())));
    log.frame(
        qix_runtime::Direction::Sent,
        r#"{"jsonrpc":"2.0","id":1,"handle":-1,"method":"EngineVersion","params":{}}"#,
    );
    log.dropped(3);
    log.frame(
        qix_runtime::Direction::Received,
        r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
    );
    let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
    assert!(text.contains(r#"{"Dropped":3}"#), "{text}");
    let e = qix_runtime::testing::Recording::parse(&text).unwrap_err();
    assert!(
        e.contains("dropped 3 frame(s)") && e.contains("line 2"),
        "{e}"
    );
}
