//! The real `qix` binary against a `MockEngine` on loopback: every command, its table and
//! `--json` output as snapshots (insta, `tests/golden/<name>.snap`;
//! `INSTA_UPDATE=always cargo test -p qix-cli --test cli` rewrites them),
//! errors as one line with a non-zero exit, and the corectl recordings of
//! `../shared/corpus/traffic/` replayed strictly.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{golden, golden_dir, shared};

use qix_generated::catalog;
use qix_runtime::testing::{MockEngine, Recording, Replay, Row};
use serde_json::{Value, json};

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `qix` with `args`, the environment's connection variables removed.
async fn qix(args: &[&str]) -> Out {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_qix"))
            .args(args)
            .env_remove("QIX_ENGINE")
            .env_remove("QIX_APP")
            .env_remove("QLIK_API_KEY")
            .env_remove("QIX_SCHEMAS_DIR")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("qix did not finish within 60 s")
    .expect("qix runs");
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `qix --engine <mock> args…`.
async fn against(mock: &MockEngine, args: &[&str]) -> Out {
    let url = mock.url();
    let mut all = vec!["--engine", url.as_str()];
    all.extend_from_slice(args);
    qix(&all).await
}

/// `qix --engine <mock> args…`, expected to succeed.
async fn ok(mock: &MockEngine, args: &[&str]) -> String {
    let out = against(mock, args).await;
    assert_eq!(
        out.code,
        Some(0),
        "qix {args:?} failed: {}\nstdout: {}",
        out.stderr,
        out.stdout
    );
    out.stdout
}

/// `qix --engine <mock> args…`, expected to fail with one line on stderr.
async fn fails(mock: &MockEngine, args: &[&str]) -> String {
    let out = against(mock, args).await;
    assert_eq!(
        out.code,
        Some(1),
        "qix {args:?} should fail: {}",
        out.stdout
    );
    assert_eq!(
        out.stderr.lines().count(),
        1,
        "one line of error: {:?}",
        out.stderr
    );
    assert!(out.stderr.starts_with("qix: "), "{:?}", out.stderr);
    out.stderr
}

/// The output a snapshot holds (its text after insta's header), with its final newline.
fn golden_text(name: &str) -> String {
    let path = golden_dir().join(format!("{name}.snap"));
    let file = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let body = file
        .strip_prefix("---\n")
        .and_then(|rest| rest.split_once("\n---\n"))
        .map(|(_, body)| body)
        .unwrap_or_else(|| panic!("{}: no insta header", path.display()));
    format!("{}\n", body.trim_end_matches('\n'))
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qix-cli-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// A mock whose session has an active doc (handle 1).
async fn doc_mock() -> MockEngine {
    let mock = MockEngine::start().await;
    mock.param_names(catalog::params_of);
    mock.expect("GetActiveDoc").on_handle(-1).returns(
        json!({"qReturn": {"qType": "Doc", "qHandle": 1, "qGenericId": "/apps/sales.qvf"}}),
    );
    mock
}

/// Expects one session object (handle 2) whose layout is `layout`.
fn session_object(mock: &MockEngine, layout: Value) {
    mock.expect("CreateSessionObject")
        .on_handle(1)
        .returns(json!({"qReturn": {"qType": "GenericObject", "qHandle": 2, "qGenericId": "s1"}}));
    mock.expect("GetLayout")
        .on_handle(2)
        .returns(json!({ "qLayout": layout }));
}

#[tokio::test]
async fn eval_prints_the_text_or_the_json_value() {
    let mock = doc_mock().await;
    mock.expect("EvaluateEx")
        .with_params(json!({"qExpression": "Sum(Sales)"}))
        .returns(json!({"qValue": {"qText": "1234.5", "qIsNumeric": true, "qNumber": 1234.5}}))
        .times(2);
    golden("eval", &ok(&mock, &["eval", "Sum(Sales)"]).await);
    golden(
        "eval.json",
        &ok(&mock, &["--json", "eval", "Sum(Sales)"]).await,
    );
    mock.verify().unwrap();
}

#[tokio::test]
async fn script_get_and_set_then_save() {
    let mock = doc_mock().await;
    mock.expect("GetScript")
        .returns(json!({"qScript": "Sales:\r\nLOAD * INLINE [a\n1];\r\n"}))
        .times(1);
    let got = ok(&mock, &["script", "get"]).await;
    // Byte for byte: the engine's line ends and its last one, nothing added.
    assert_eq!(got, "Sales:\r\nLOAD * INLINE [a\n1];\r\n");
    golden("script-get", &got);
    // A script without a last line end is written without one (stdout is a pipe here).
    mock.expect("GetScript")
        .returns(json!({"qScript": "LOAD 1 AS x AUTOGENERATE 1;"}))
        .times(1);
    assert_eq!(
        ok(&mock, &["script", "get"]).await,
        "LOAD 1 AS x AUTOGENERATE 1;"
    );
    let file = temp_file("script.qvs", "LOAD 1 AS x AUTOGENERATE 1;\n");
    mock.expect("SetScript")
        .with_params(json!({"qScript": "LOAD 1 AS x AUTOGENERATE 1;\n"}))
        .times(2);
    mock.expect("DoSave").times(1);
    golden(
        "script-set",
        &ok(&mock, &["script", "set", file.to_str().unwrap()]).await,
    );
    // --no-save: no DoSave is sent (a second one would be unmatched and fail verify).
    let out = ok(
        &mock,
        &["script", "set", file.to_str().unwrap(), "--no-save"],
    )
    .await;
    assert_eq!(out, "Script set.\n");
    mock.verify().unwrap();
}

#[tokio::test]
async fn script_set_names_an_unreadable_file() {
    let mock = doc_mock().await;
    let err = fails(&mock, &["script", "set", "/no/such/script.qvs"]).await;
    assert!(err.contains("cannot read /no/such/script.qvs"), "{err}");
}

#[tokio::test]
async fn save() {
    let mock = doc_mock().await;
    mock.expect("DoSave").on_handle(1);
    golden("save", &ok(&mock, &["save"]).await);
    golden("save.json", &ok(&mock, &["--json", "save"]).await);
    mock.verify().unwrap();
}

#[tokio::test]
async fn reload_shows_the_engines_progress_and_saves() {
    let mock = doc_mock().await;
    mock.expect("DoReloadEx")
        .on_handle(1)
        .delay(Duration::from_millis(1300))
        .returns(json!({"qResult": {"qSuccess": true, "qScriptLogFile": "/logs/sales.log"}}));
    mock.expect("GetProgress")
        .on_handle(-1)
        .returns(json!({"qProgressData": {
            "qStarted": true, "qFinished": false,
            "qPersistentProgress": "Sales << INLINE\nLines fetched: 2",
            "qTransientProgress": "Lines fetched: 1"
        }}));
    mock.expect("DoSave").on_handle(1);
    let url = mock.url();
    let out = qix(&["--engine", &url, "reload"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    golden("reload", &out.stdout);
    // Not a terminal: the engine's persistent messages as plain lines on stderr.
    assert!(
        out.stderr.contains("Sales << INLINE\nLines fetched: 2\n"),
        "{}",
        out.stderr
    );
    // GetProgress was asked for the reload's own request id.
    let reload_id = json!(mock.received_method("DoReloadEx")[0].id.unwrap());
    for p in mock.received_method("GetProgress") {
        assert_eq!(p.param("qRequestId"), Some(&reload_id), "{}", p.describe());
    }
    mock.verify().unwrap();
}

#[tokio::test]
async fn a_failed_reload_exits_non_zero_and_does_not_save() {
    let mock = doc_mock().await;
    mock.expect("DoReloadEx")
        .returns(json!({"qResult": {"qSuccess": false, "qScriptLogFile": "/logs/x.log"}}));
    mock.expect("GetProgress")
        .returns(json!({"qProgressData": {"qFinished": true}}))
        .optional();
    let err = fails(&mock, &["reload"]).await;
    assert_eq!(err, "qix: the reload failed (script log: /logs/x.log)\n");
    assert!(mock.received_method("DoSave").is_empty());
    mock.verify().unwrap();
}

#[tokio::test]
async fn apps_table_and_json() {
    let mock = MockEngine::start().await;
    mock.param_names(catalog::params_of);
    mock.expect("GetDocList")
        .times(2)
        .returns(json!({"qDocList": [
            {"qDocName": "Sales.qvf", "qDocId": "/apps/Sales.qvf", "qFileSize": 40960,
             "qLastReloadTime": "2024-03-01T10:00:00.000Z", "qMeta": {}, "qTitle": "Sales"},
            {"qDocName": "HR.qvf", "qDocId": "/apps/HR.qvf", "qFileSize": 1024, "qMeta": {}}
        ]}));
    golden("apps", &ok(&mock, &["apps"]).await);
    golden("apps.json", &ok(&mock, &["--json", "apps"]).await);
    // `apps` needs no open app.
    assert!(mock.received_method("GetActiveDoc").is_empty());
    mock.verify().unwrap();
}

#[tokio::test]
async fn fields() {
    let mock = doc_mock().await;
    session_object(
        &mock,
        json!({"qInfo": {"qId": "s1", "qType": "qix-field-list"}, "qFieldList": {"qItems": [
            {"qName": "Region", "qCardinal": 4, "qTags": ["$ascii", "$text"]},
            {"qName": "Sales", "qCardinal": 1200, "qTags": ["$numeric"]}
        ]}}),
    );
    golden("fields", &ok(&mock, &["fields"]).await);
    let sent = &mock.received_method("CreateSessionObject")[0];
    assert!(sent.param("qProp").unwrap()["qFieldListDef"].is_object());
    mock.verify().unwrap();
}

#[tokio::test]
async fn values_of_a_field_with_their_state() {
    let mock = doc_mock().await;
    session_object(
        &mock,
        json!({"qInfo": {"qId": "s1", "qType": "qix-value-list"}, "qListObject": {
            "qSize": {"qcx": 1, "qcy": 3},
            "qDataPages": [{"qArea": {"qLeft": 0, "qTop": 0, "qWidth": 1, "qHeight": 2},
              "qMatrix": [[{"qText": "East", "qNum": "NaN", "qElemNumber": 0, "qState": "S"}],
                          [{"qText": "West", "qNum": "NaN", "qElemNumber": 1, "qState": "X"}]]}]
        }}),
    );
    // The layout says 3 values but carries 2: the third is read with GetListObjectData.
    mock.expect("GetListObjectData")
        .on_handle(2)
        .with_params(json!({"qPath": "/qListObjectDef", "qPages": [{"qLeft": 0, "qTop": 2, "qWidth": 1, "qHeight": 1}]}))
        .returns(json!({"qDataPages": [{"qMatrix": [[{"qText": "North", "qNum": "NaN", "qElemNumber": 2, "qState": "A"}]]}]}));
    golden("values", &ok(&mock, &["values", "Region"]).await);
    let sent = &mock.received_method("CreateSessionObject")[0];
    assert_eq!(
        sent.param("qProp").unwrap()["qListObjectDef"]["qDef"]["qFieldDefs"],
        json!(["Region"])
    );
    mock.verify().unwrap();
}

#[tokio::test]
async fn select_values() {
    let mock = doc_mock().await;
    mock.expect("GetField")
        .with_params(json!({"qFieldName": "Region"}))
        .returns(json!({"qReturn": {"qType": "Field", "qHandle": 3}}));
    mock.expect("SelectValues")
        .on_handle(3)
        .with_params(json!({"qFieldValues": [{"qText": "East"}, {"qText": "West"}]}))
        .returns(json!({"qReturn": true}));
    golden(
        "select",
        &ok(&mock, &["select", "Region", "East", "West"]).await,
    );
    mock.verify().unwrap();
}

#[tokio::test]
async fn objects() {
    let mock = doc_mock().await;
    mock.expect("GetAllInfos").returns(json!({"qInfos": [
        {"qId": "abc", "qType": "sheet"}, {"qId": "xyz", "qType": "barchart"}
    ]}));
    golden("objects", &ok(&mock, &["objects"]).await);
    mock.verify().unwrap();
}

#[tokio::test]
async fn layout_properties_and_set_properties() {
    let mock = doc_mock().await;
    mock.expect("GetObject")
        .with_params(json!({"qId": "abc"}))
        .returns(json!({"qReturn": {"qType": "GenericObject", "qHandle": 2, "qGenericId": "abc", "qGenericType": "sheet"}}));
    mock.expect("GetLayout")
        .on_handle(2)
        .returns(json!({"qLayout": {
            "qInfo": {"qId": "abc", "qType": "sheet"}, "qMeta": {"title": "Overview"},
            "custom": {"kept": [1, 2]}
        }}));
    mock.expect("GetProperties")
        .on_handle(2)
        .returns(json!({"qProp": {
            "qInfo": {"qId": "abc", "qType": "sheet"}, "title": "Overview"
        }}));
    golden("layout", &ok(&mock, &["layout", "abc"]).await);
    golden("properties", &ok(&mock, &["properties", "abc"]).await);
    // Custom properties travel through set-properties unchanged.
    let file = temp_file(
        "props.json",
        r#"{"qInfo": {"qId": "abc", "qType": "sheet"}, "title": "Renamed", "custom": {"n": 1}}"#,
    );
    mock.expect("SetProperties")
        .on_handle(2)
        .with_params(json!({"qProp": {
            "qInfo": {"qId": "abc", "qType": "sheet"}, "title": "Renamed", "custom": {"n": 1}
        }}));
    mock.expect("DoSave").on_handle(1);
    golden(
        "set-properties",
        &ok(&mock, &["set-properties", "abc", file.to_str().unwrap()]).await,
    );
    mock.verify().unwrap();
}

#[tokio::test]
async fn set_properties_names_a_file_that_is_not_properties() {
    let mock = doc_mock().await;
    let file = temp_file("bad.json", "{not json");
    let err = fails(&mock, &["set-properties", "abc", file.to_str().unwrap()]).await;
    assert!(err.contains("bad.json: not object properties"), "{err}");
}

#[tokio::test]
async fn master_items_and_variables() {
    for (command, key, def) in [
        ("measures", "qMeasureList", "qMeasureListDef"),
        ("dimensions", "qDimensionList", "qDimensionListDef"),
        ("bookmarks", "qBookmarkList", "qBookmarkListDef"),
    ] {
        let mock = doc_mock().await;
        session_object(
            &mock,
            json!({"qInfo": {"qId": "s1", "qType": "list"}, key: {"qItems": [
                {"qInfo": {"qId": "m1", "qType": command}, "qMeta": {}, "qData": {"title": "Revenue"}},
                {"qInfo": {"qId": "m2", "qType": command}, "qMeta": {"title": "t"}, "qData": {"title": "Margin"}}
            ]}}),
        );
        golden(command, &ok(&mock, &[command]).await);
        let sent = &mock.received_method("CreateSessionObject")[0];
        assert!(sent.param("qProp").unwrap()[def].is_object(), "{command}");
        mock.verify().unwrap();
    }
    let mock = doc_mock().await;
    session_object(
        &mock,
        json!({"qInfo": {"qId": "s1", "qType": "list"}, "qVariableList": {"qItems": [
            {"qName": "vYear", "qDefinition": "=Year(Today())", "qInfo": {"qId": "v1", "qType": "variable"}}
        ]}}),
    );
    golden("variables", &ok(&mock, &["variables"]).await);
    golden("variables.json", &{
        mock.expect("CreateSessionObject")
            .returns(json!({"qReturn": {"qType": "GenericObject", "qHandle": 2}}))
            .optional();
        ok(&mock, &["--json", "variables"]).await
    });
    mock.verify().unwrap();
}

#[tokio::test]
async fn version_with_and_without_an_engine() {
    let mock = MockEngine::start().await;
    mock.expect("EngineVersion")
        .returns(json!({"qVersion": {"qComponentVersion": "12.2528.0"}}));
    let out = ok(&mock, &["version"]).await;
    let expected = format!(
        "qix     {}\nAPI     {}\nengine  12.2528.0\n",
        env!("CARGO_PKG_VERSION"),
        qix_generated::API_VERSION
    );
    assert_eq!(out, expected);
    mock.verify().unwrap();
    drop(mock);
    // Port 1 on loopback: nothing listens; `version` still answers, and says so.
    let out = qix(&["--engine", "ws://127.0.0.1:1", "version"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("engine  not reachable: "),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn engine_errors_are_one_line_with_the_code() {
    let mock = MockEngine::start().await;
    mock.param_names(catalog::params_of);
    mock.expect("GetActiveDoc")
        .returns_error(1007, "No active document", "App invalid");
    mock.expect("OpenDoc")
        .with_params(json!({"qDocName": "nope.qvf"}))
        .returns_error(1002, "nope.qvf", "App not found");
    let err = fails(&mock, &["--app", "nope.qvf", "eval", "1"]).await;
    assert_eq!(
        err,
        "qix: Global.OpenDoc failed: engine error 1002: App not found (nope.qvf)\n"
    );
    // No --app and no active doc: say what to do.
    let err = fails(&mock, &["eval", "1"]).await;
    assert!(err.contains("name one with --app or QIX_APP"), "{err}");
    assert!(err.contains("engine error 1007"), "{err}");
}

#[tokio::test]
async fn connection_and_option_errors_are_one_line() {
    let out = qix(&["--engine", "ws://127.0.0.1:1", "apps"]).await;
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.starts_with("qix: ") && out.stderr.contains("127.0.0.1:1"),
        "{}",
        out.stderr
    );
    let out = qix(&[
        "--engine",
        "ws://127.0.0.1:1",
        "--header",
        "nocolon",
        "apps",
    ])
    .await;
    assert_eq!(
        out.stderr,
        "qix: --header \"nocolon\": expected NAME:VALUE\n"
    );
    let out = qix(&[
        "--engine",
        "ws://127.0.0.1:1",
        "--certs",
        "/no/such/dir",
        "apps",
    ])
    .await;
    assert_eq!(
        out.stderr,
        "qix: --certs /no/such/dir: /no/such/dir/client.pem is missing\n"
    );
}

#[tokio::test]
async fn connection_options_reach_the_engine() {
    let mock = doc_mock().await;
    mock.expect("EvaluateEx")
        .returns(json!({"qValue": {"qText": "1"}}));
    let base = format!("ws://{}", mock.addr());
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_qix"))
        .args(["--header", "X-Tenant: acme", "--ttl", "30", "eval", "1"])
        .env("QIX_ENGINE", &base)
        .env("QIX_APP", "my app")
        .env("QLIK_API_KEY", "secret-token")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conn = &mock.connections()[0];
    assert_eq!(conn.header("authorization"), Some("Bearer secret-token"));
    assert_eq!(conn.header("x-tenant"), Some("acme"));
    assert_eq!(conn.path, "/app/my%20app/ttl/30");
    mock.verify().unwrap();
}

fn corectl_recordings() -> Vec<PathBuf> {
    let dir = shared().join("corpus/traffic");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("corectl-")
        })
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    files
}

/// Each corectl recording, served strictly, driven by the `qix` command corectl ran.
#[tokio::test]
async fn corectl_recordings_replay_through_the_binary() {
    for file in corectl_recordings() {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let recording = Recording::load(&file).unwrap();
        let requests: Vec<&Value> = recording.requests().collect();
        let app = requests
            .iter()
            .find(|r| r["method"] == "OpenDoc")
            .map(|r| r["params"][0].as_str().unwrap().to_string());
        let script = requests
            .iter()
            .find(|r| r["method"] == "SetScript")
            .map(|r| r["params"][0].as_str().unwrap().to_string());
        let replay = Replay::new(recording.clone()).param_names(catalog::params_of);
        let engine = replay.serve().await.unwrap();
        let url = engine.url();
        let traffic = temp_file(&format!("{name}.jsonl"), "");
        let mut args = vec![
            "--engine".to_string(),
            url,
            "--traffic".into(),
            traffic.display().to_string(),
        ];
        if let Some(app) = &app {
            args.extend(["--app".to_string(), app.clone()]);
        }
        match &script {
            Some(s) => {
                let f = temp_file(&format!("{name}.qvs"), s);
                args.extend(["script".into(), "set".into(), f.display().to_string()]);
            }
            None => args.extend(["script".into(), "get".into()]),
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = qix(&args).await;
        assert_eq!(out.code, Some(0), "{name}: {}", out.stderr);
        replay.verify().unwrap_or_else(|e| panic!("{name}: {e}"));
        if script.is_none() {
            let recorded = recording
                .rows()
                .iter()
                .find_map(|r| match r {
                    Row::Received(v) => v["result"]["qScript"].as_str().map(str::to_string),
                    _ => None,
                })
                .unwrap();
            // The script as the engine has it, byte for byte.
            assert_eq!(out.stdout, recorded);
        } else {
            assert_eq!(out.stdout, "Script set.\nApp saved.\n", "{name}");
        }
        // --traffic wrote what was sent and received, in a form replay reads back.
        let written = Recording::load(&traffic).unwrap();
        assert_eq!(
            written.requests().count(),
            requests.len(),
            "{name}: {}",
            std::fs::read_to_string(&traffic).unwrap()
        );
    }
}

/// A loopback HTTP server answering one request with `body` (chunked when asked), and
/// handing back the request it read.
async fn serve_once(body: Vec<u8>, chunked: bool) -> (String, tokio::task::JoinHandle<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "the client closed before its request ended");
            request.extend_from_slice(&buf[..n]);
        }
        let head = if chunked {
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_string()
        } else {
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len())
        };
        socket.write_all(head.as_bytes()).await.unwrap();
        if chunked {
            for part in body.chunks(100_000) {
                socket
                    .write_all(format!("{:x}\r\n", part.len()).as_bytes())
                    .await
                    .unwrap();
                socket.write_all(part).await.unwrap();
                socket.write_all(b"\r\n").await.unwrap();
            }
            socket.write_all(b"0\r\n\r\n").await.unwrap();
        } else {
            socket.write_all(&body).await.unwrap();
        }
        socket.shutdown().await.unwrap();
        String::from_utf8(request).unwrap()
    });
    (format!("http://{addr}"), task)
}

fn shared_spec() -> Vec<u8> {
    let path = shared().join("schemas/openrpc/12.2528.0.json");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn spec_fetch_saves_the_engines_spec_under_its_version() {
    let spec = shared_spec();
    for chunked in [false, true] {
        let (url, server) = serve_once(spec.clone(), chunked).await;
        let dir =
            std::env::temp_dir().join(format!("qix-cli-spec-{}-{chunked}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_qix"))
            .args([
                "--engine",
                &url,
                "--bearer",
                "k3y",
                "--header",
                "X-Trace: 1",
                "spec",
                "fetch",
            ])
            .current_dir(&dir)
            .env_remove("QIX_ENGINE")
            .env_remove("QIX_SCHEMAS_DIR")
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            stdout,
            format!(
                "Spec 12.2528.0 ({} bytes) written to 12.2528.0.json.\n",
                spec.len()
            )
        );
        assert_eq!(std::fs::read(dir.join("12.2528.0.json")).unwrap(), spec);
        let request = server.await.unwrap();
        assert!(
            request.starts_with("GET /api/engine/openrpc HTTP/1.1\r\n"),
            "{request}"
        );
        // Header names are case-insensitive (HTTP/1.1 clients may send them lower case).
        let lower = request.to_ascii_lowercase();
        assert!(
            lower.contains("\r\nauthorization: bearer k3y\r\n"),
            "{request}"
        );
        assert!(lower.contains("\r\nx-trace: 1\r\n"), "{request}");
        // With QIX_SCHEMAS_DIR: there, under the version, where qix-codegen looks.
        let (url, _server) = serve_once(spec.clone(), chunked).await;
        let schemas = dir.join("schemas");
        std::fs::create_dir_all(&schemas).unwrap();
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_qix"))
            .args(["--engine", &url, "spec", "fetch"])
            .env("QIX_SCHEMAS_DIR", &schemas)
            .env_remove("QIX_ENGINE")
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read(schemas.join("12.2528.0.json")).unwrap(), spec);
    }
}

#[tokio::test]
async fn spec_fetch_refuses_what_is_not_a_spec() {
    let (url, _server) = serve_once(b"<html>login</html>".to_vec(), false).await;
    let out = qix(&["--engine", &url, "spec", "fetch", "--out", "/dev/null"]).await;
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr
            .starts_with(&format!("qix: {url}/api/engine/openrpc: not JSON")),
        "{}",
        out.stderr
    );
}

/// On a terminal, `reload` shows a progress bar with the engine's transient message (which
/// plain output leaves out). The terminal is a pty from util-linux `script`.
#[tokio::test]
async fn reload_on_a_terminal_shows_a_progress_bar() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: util-linux `script` (for a pty) is not installed");
        return;
    }
    let mock = doc_mock().await;
    mock.expect("DoReloadEx")
        .delay(Duration::from_millis(1500))
        .returns(json!({"qResult": {"qSuccess": true}}));
    mock.expect("GetProgress").returns(json!({"qProgressData": {
        "qPersistentProgress": "Sales << INLINE",
        "qTransientProgress": "Lines fetched: 4711"
    }}));
    let command = format!(
        "{} --engine {} reload --no-save",
        env!("CARGO_BIN_EXE_qix"),
        mock.url()
    );
    let out = tokio::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("TERM", "xterm")
        .env_remove("QIX_ENGINE")
        .output()
        .await
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(screen.contains("Lines fetched: 4711"), "{screen:?}");
    assert!(screen.contains("Sales << INLINE"), "{screen:?}");
    assert!(screen.contains("Reload finished."), "{screen:?}");
}

/// An HTTPS server for `localhost` with `cert`, answering every request with `body`.
async fn https_server(cert: &rcgen::CertifiedKey<rcgen::KeyPair>, body: Vec<u8>) -> u16 {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = std::sync::Arc::new(body);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, body) = (acceptor.clone(), body.clone());
            tokio::spawn(async move {
                // A client that distrusts the certificate ends the handshake here.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                let _ = tls.write_all(head.as_bytes()).await;
                let _ = tls.write_all(&body).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test]
async fn spec_fetch_over_https_trusts_certs_or_insecure_only() {
    let server = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let client = rcgen::generate_simple_self_signed(vec!["qix-client".to_string()]).unwrap();
    let certs = std::env::temp_dir().join(format!("qix-cli-certs-{}", std::process::id()));
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::write(certs.join("root.pem"), server.cert.pem()).unwrap();
    std::fs::write(certs.join("client.pem"), client.cert.pem()).unwrap();
    std::fs::write(
        certs.join("client_key.pem"),
        client.signing_key.serialize_pem(),
    )
    .unwrap();
    let spec = shared_spec();
    let port = https_server(&server, spec.clone()).await;
    let engine = format!("https://localhost:{port}");
    let out_file = certs.join("fetched.json");
    let out_path = out_file.to_str().unwrap();

    let certs_dir = certs.to_str().unwrap();
    let out = qix(&[
        "--engine", &engine, "--certs", certs_dir, "spec", "fetch", "--out", out_path,
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(std::fs::read(&out_file).unwrap(), spec);

    // Without the root the self-signed server is refused, in one line.
    let out = qix(&["--engine", &engine, "spec", "fetch", "--out", out_path]).await;
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.starts_with(&format!(
            "qix: transport error: GET {engine}/api/engine/openrpc: TLS handshake failed"
        )),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1);

    let out = qix(&[
        "--engine",
        &engine,
        "--insecure",
        "spec",
        "fetch",
        "--out",
        out_path,
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

/// The README shows golden outputs as the `qix` command's samples: they stay in step.
#[test]
fn the_readme_samples_are_the_golden_outputs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("../README.md")).unwrap();
    for (command, golden) in [
        ("$ qix --app /apps/Sales.qvf eval 'Sum(Sales)'\n", "eval"),
        ("$ qix apps\n", "apps"),
        ("$ qix values Region\n", "values"),
        ("$ qix build\n", "build"),
        ("$ qix plan\n", "plan"),
        ("$ qix unbuild --dir sales-project\n", "unbuild"),
        ("$ qix assoc --format mermaid\n", "assoc-mermaid"),
    ] {
        let text = golden_text(golden);
        assert!(
            readme.contains(&format!("{command}{text}")),
            "README.md's sample of {command:?} differs from tests/golden/{golden}.snap"
        );
    }
    // The sample errors of project files are lines of the bad-input golden output.
    let bad = golden_text("bad-input");
    let samples: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("qix: ") && !l.contains("Global.OpenDoc"))
        .collect();
    assert!(samples.len() >= 5, "{samples:?}");
    for line in samples {
        assert!(
            bad.lines().any(|b| b.ends_with(line)),
            "README.md's error {line:?} is not in tests/golden/bad-input.snap"
        );
    }
}
