//! Apps as code: `qix build`, `plan` and `unbuild` on corectl projects (the shapes of
//! corectl's documented projects, in `tests/projects/`), against a `FakeApp` behind a
//! `MockEngine`; the round trip unbuild → build → unbuild; the corectl property trees of
//! `../shared/corpus`; and every bad input as one line and a non-zero exit.

mod common;

use std::path::Path;

use common::*;
use qix_runtime::testing::FakeApp;
use serde_json::{Value, json};

/// The data the `entities` project's script would load.
fn letters(app: FakeApp) -> FakeApp {
    app.table(
        "Letters",
        &["abcs", "numbers", "xyz"],
        [
            vec![json!("a"), json!(1), json!("x")],
            vec![json!("b"), json!(2), json!("y")],
            vec![json!("c"), json!(3), json!("z")],
        ],
    )
}

/// The environment the `entities` project needs.
fn entities_env(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("QIX_TEST_ENGINE", url.to_string()),
        ("QIX_TEST_CONNECT", "connector.internal".to_string()),
    ]
}

async fn run(dir: &Path, env: &[(&str, String)], args: &[&str]) -> Out {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    qix_in(dir, &env, args).await
}

#[tokio::test]
async fn build_sets_every_kind_of_entity_then_reloads_and_saves() {
    let app = letters(FakeApp::new("entities.qvf"));
    let mock = serve(&app).await;
    let dir = project_copy("entities");
    let env = entities_env(&mock.url());
    let out = run(&dir, &env, &["build"]).await;
    expect_code(&out, 0, "build");
    golden("build", &out.stdout);
    // The reload's progress went to stderr, as `reload`'s does.
    assert!(out.stderr.contains("Letters << fake"), "{}", out.stderr);
    assert_eq!(app.saves(), 1);
    assert_eq!(app.reloads().len(), 1);
    assert_eq!(
        app.script(),
        std::fs::read_to_string(dir.join("script.qvs")).unwrap()
    );
    // corectl's connection semantics: the key is the name, settings make the string.
    let conns = app.connections();
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0]["qName"], "myconnection");
    assert_eq!(conns[0]["qType"], "testconnector");
    assert_eq!(conns[0]["qUserName"], "gwe");
    assert_eq!(
        conns[0]["qConnectionString"],
        "CUSTOM CONNECT TO \"provider=testconnector;host=connector.internal;port=8080;\""
    );
    // Objects with children through the full property tree; unknown properties kept.
    assert_eq!(
        app.ids(),
        [
            "bookmark-start",
            "chart-numbers",
            "dimension-abcs",
            "dimension-xyz",
            "measure-count-numbers",
            "measure-sum-numbers",
            "object-letters",
            "sheet-overview",
            "variable-first",
            "variable-limit"
        ]
    );
    assert_eq!(app.properties("variable-first").unwrap()["tags"], json!([]));
    assert_eq!(app.properties("chart-numbers").unwrap()["title"], "Numbers");

    // Built again: everything is left alone, nothing is created twice.
    let again = run(&dir, &env, &["build", "--no-reload"]).await;
    expect_code(&again, 0, "second build");
    golden("build-again", &again.stdout);
    assert_eq!(app.ids().len(), 10);
    mock.verify().unwrap();
}

#[tokio::test]
async fn build_json_and_quiet() {
    let app = letters(FakeApp::new("entities.qvf"));
    let mock = serve(&app).await;
    let dir = project_copy("entities");
    let env = entities_env(&mock.url());
    let out = run(&dir, &env, &["--json", "build", "--no-reload", "--no-save"]).await;
    expect_code(&out, 0, "build --json");
    golden("build.json", &out.stdout);
    assert_eq!(app.saves(), 0);
    assert!(app.reloads().is_empty());
    // -q: only the ids of what changed (nothing, the second time).
    let out = run(&dir, &env, &["-q", "build", "--no-reload", "--no-save"]).await;
    expect_code(&out, 0, "build -q");
    assert_eq!(out.stdout, "");
}

#[tokio::test]
async fn plan_shows_what_build_would_change_and_exits_2() {
    let app = letters(FakeApp::new("entities.qvf"));
    let mock = serve(&app).await;
    let dir = project_copy("entities");
    let env = entities_env(&mock.url());
    // An empty app: everything to add.
    let out = run(&dir, &env, &["plan"]).await;
    expect_code(&out, 2, "plan on an empty app");
    golden("plan-empty-app", &out.stdout);
    // --dry-run is the plan, and changes nothing.
    let dry = run(&dir, &env, &["build", "--dry-run"]).await;
    expect_code(&dry, 0, "build --dry-run");
    assert_eq!(dry.stdout, out.stdout);
    assert!(app.ids().is_empty() && app.script().is_empty() && app.saves() == 0);

    let built = run(&dir, &env, &["build", "--no-reload"]).await;
    expect_code(&built, 0, "build");
    let out = run(&dir, &env, &["plan"]).await;
    expect_code(&out, 0, "plan after build");
    golden("plan-nothing", &out.stdout);

    // Change a measure, the script and a child of the sheet; add an object to the app.
    let m = dir.join("measure-sum-numbers.json");
    let text = std::fs::read_to_string(&m)
        .unwrap()
        .replace("Sum(numbers)", "Sum(numbers) * 2");
    std::fs::write(&m, text).unwrap();
    let s = dir.join("script.qvs");
    let text = std::fs::read_to_string(&s)
        .unwrap()
        .replace("c, 3, z", "c, 4, z");
    std::fs::write(&s, text).unwrap();
    let o = dir.join("object-sheet.json");
    let text = std::fs::read_to_string(&o)
        .unwrap()
        .replace("\"Numbers\"", "\"All numbers\"");
    std::fs::write(&o, text).unwrap();
    std::fs::remove_file(dir.join("dimension-xyz.json")).unwrap();
    let out = run(&dir, &env, &["plan"]).await;
    expect_code(&out, 2, "plan with changes");
    golden("plan", &out.stdout);
    let out = run(&dir, &env, &["--json", "plan"]).await;
    expect_code(&out, 2, "plan --json");
    golden("plan.json", &out.stdout);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        v["summary"],
        json!({"add": 0, "change": 3, "remove": 1, "unchanged": 8})
    );
    mock.verify().unwrap();
}

#[tokio::test]
async fn unbuild_writes_a_project_that_builds_the_same_app() {
    // An app built from the project, unbuilt, built into a new empty app, unbuilt again:
    // the two folders are the same byte for byte, and a plan of either is empty. The
    // variable the load script makes is not written (the script makes it again).
    let first = letters(FakeApp::new("entities.qvf")).script_variable("vLoaded", "=Now()");
    let mock = serve(&first).await;
    let dir = project_copy("entities");
    let env = entities_env(&mock.url());
    expect_code(&run(&dir, &env, &["build"]).await, 0, "build");
    let out = run(&dir, &env, &["unbuild", "--dir", "sales-project"]).await;
    expect_code(&out, 0, "unbuild");
    golden("unbuild", &out.stdout);
    let out_dir = dir.join("sales-project");
    let files: Vec<String> = tree(&out_dir).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        files,
        [
            "app-properties.json",
            "bookmarks.json",
            "connections.yml",
            "corectl.yml",
            "dimensions.json",
            "measures.json",
            "objects/my-hypercube-numbers-per-letter-object-letters.json",
            "objects/sheet-overview-sheet-overview.json",
            "script.qvs",
            "variables.json"
        ]
    );
    for f in ["corectl.yml", "connections.yml", "measures.json"] {
        golden(
            &format!("unbuild-{}", f.replace('.', "-")),
            &std::fs::read_to_string(out_dir.join(f)).unwrap(),
        );
    }
    let vars = std::fs::read_to_string(out_dir.join("variables.json")).unwrap();
    assert!(
        !vars.contains("vLoaded") && vars.contains("vFirst"),
        "{vars}"
    );
    // What the engine keeps itself (the reload's time) is not in the project.
    let props = std::fs::read_to_string(out_dir.join("app-properties.json")).unwrap();
    assert!(!props.contains("qLastReloadTime"), "{props}");
    // The script byte for byte.
    assert_eq!(
        std::fs::read(out_dir.join("script.qvs")).unwrap(),
        std::fs::read(dir.join("script.qvs")).unwrap()
    );

    let second = letters(FakeApp::new("rebuilt.qvf"));
    let mock2 = serve(&second).await;
    // The password placeholder of the user/password connection.
    let env2 = vec![("QIX_MYCONNECTION_PASSWORD", "s3cret".to_string())];
    let url2 = mock2.url();
    let out = run(
        &out_dir,
        &env2,
        &["--engine", &url2, "--app", "rebuilt.qvf", "build"],
    )
    .await;
    expect_code(&out, 0, "build from the unbuilt folder");
    assert_eq!(
        second.connection_password("myconnection").as_deref(),
        Some("s3cret")
    );
    let out = run(
        &out_dir,
        &env2,
        &["--engine", &url2, "--app", "rebuilt.qvf", "plan"],
    )
    .await;
    expect_code(&out, 0, "plan of the rebuilt app");
    let again = temp_dir("unbuild-2");
    let out = run(
        &out_dir,
        &env2,
        &[
            "--engine",
            &url2,
            "--app",
            "rebuilt.qvf",
            "unbuild",
            "--dir",
            again.to_str().unwrap(),
        ],
    )
    .await;
    expect_code(&out, 0, "unbuild of the rebuilt app");
    assert_eq!(
        tree(&out_dir),
        tree(&again),
        "the round trip changed the folder"
    );
    mock.verify().unwrap();
    mock2.verify().unwrap();
}

#[tokio::test]
async fn corectls_example_projects_build_unchanged() {
    // examples/corectl.yml's shape: engine, app, script, an inline folder connection and
    // an objects glob.
    let app = FakeApp::new("corectl-example.qvf").table(
        "Airports",
        &["Airport", "Country"],
        [
            vec![json!("ARN"), json!("Sweden")],
            vec![json!("GOT"), json!("Sweden")],
            vec![json!("OSL"), json!("Norway")],
        ],
    );
    let mock = serve(&app).await;
    let dir = project_copy("example");
    let url = mock.url();
    let out = run(&dir, &[], &["--engine", &url, "build"]).await;
    expect_code(&out, 0, "build example");
    assert_eq!(app.connections()[0]["qConnectionString"], "/data");
    assert_eq!(app.connections()[0]["qType"], "folder");
    // The object's hypercube reads the reloaded data.
    let out = run(
        &dir,
        &[],
        &["--engine", &url, "object", "data", "airport-counts"],
    )
    .await;
    expect_code(&out, 0, "object data");
    golden("object-data", &out.stdout);

    // Connections in a file of their own, with ${VAR}s in it.
    let app = FakeApp::new("connections.qvf");
    let mock = serve(&app).await;
    let dir = project_copy("connections-file");
    let url = mock.url();
    let env = vec![
        ("CONN_TYPE", "folder".to_string()),
        ("QIX_TEST_WAREHOUSE_PASSWORD", "pw".to_string()),
    ];
    let out = run(&dir, &env, &["--engine", &url, "build", "--no-reload"]).await;
    expect_code(&out, 0, "build connections-file");
    let conns = app.connections();
    assert_eq!(conns[0]["qName"], "testdata-separate-file");
    assert_eq!(conns[0]["qType"], "folder");
    assert_eq!(
        conns[1]["qConnectionString"],
        "CUSTOM CONNECT TO \"provider=postgres;database=sales;host=db.internal;\""
    );
    assert_eq!(app.connection_password("warehouse").as_deref(), Some("pw"));
    // --connections FILE wins over the file's key.
    let other = dir.join("other.yml");
    std::fs::write(
        &other,
        "connections:\n  flagged:\n    type: folder\n    connectionstring: /flag\n",
    )
    .unwrap();
    let out = run(
        &dir,
        &env,
        &[
            "--engine",
            &url,
            "build",
            "--no-reload",
            "--connections",
            "other.yml",
        ],
    )
    .await;
    expect_code(&out, 0, "build --connections");
    assert!(app.connections().iter().any(|c| c["qName"] == "flagged"));
    mock.verify().unwrap();
}

#[tokio::test]
async fn corectls_real_property_trees_round_trip() {
    // The real GetFullPropertyTree and GetProperties answers of corectl's golden files.
    let corpus = shared().join("corpus/layouts/corectl");
    let dir = temp_dir("corpus-project");
    std::fs::create_dir_all(dir.join("objects")).unwrap();
    let tree = "TestGetFullPropertyTree_object_properties_a699ee97-152d-4470-9655-ae7c82d71491_--full.json";
    let inline = "TestObjectManagementCommands_object_properties_object-using-inline.json";
    let bookmark = "TestBookmarkManagementCommands_bookmark_properties_bookmark-1.json";
    std::fs::copy(corpus.join(tree), dir.join("objects/sheet.json")).unwrap();
    std::fs::copy(corpus.join(inline), dir.join("objects/inline.json")).unwrap();
    std::fs::copy(corpus.join(bookmark), dir.join("bookmark.json")).unwrap();
    std::fs::write(
        dir.join("corectl.yml"),
        "app: corpus.qvf\nobjects: objects/*.json\nbookmarks: bookmark.json\n",
    )
    .unwrap();
    let app = FakeApp::new("corpus.qvf");
    let mock = serve(&app).await;
    let url = mock.url();
    let out = run(&dir, &[], &["--engine", &url, "build", "--no-reload"]).await;
    expect_code(&out, 0, "build the corpus trees");
    let sheet: Value =
        serde_json::from_str(&std::fs::read_to_string(corpus.join(tree)).unwrap()).unwrap();
    let children = sheet["qChildren"].as_array().unwrap().len();
    assert!(children >= 2, "{children}");
    // The sheet and each of its children are in the app.
    assert!(
        app.ids()
            .contains(&"a699ee97-152d-4470-9655-ae7c82d71491".to_string())
    );
    assert_eq!(app.ids().len(), 1 + children + 2, "{:?}", app.ids());
    let out = run(&dir, &[], &["--engine", &url, "plan"]).await;
    expect_code(&out, 0, "plan of the built corpus");
    // The tree as the app gives it back is the file's, value for value.
    let out = run(
        &dir,
        &[],
        &[
            "--engine",
            &url,
            "--json",
            "object",
            "properties",
            "--full",
            "a699ee97-152d-4470-9655-ae7c82d71491",
        ],
    )
    .await;
    expect_code(&out, 0, "object properties --full");
    let back: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(
        qix_diff(&sheet, &back).is_empty(),
        "{:?}",
        qix_diff(&sheet, &back)
    );
    // Unbuilt, built into an empty app, unbuilt: the same bytes.
    let one = temp_dir("corpus-unbuild-1");
    expect_code(
        &run(
            &dir,
            &[],
            &["--engine", &url, "unbuild", "--dir", one.to_str().unwrap()],
        )
        .await,
        0,
        "unbuild",
    );
    let again = FakeApp::new("again.qvf");
    let mock2 = serve(&again).await;
    let url2 = mock2.url();
    expect_code(
        &run(
            &one,
            &[],
            &[
                "--engine",
                &url2,
                "--app",
                "again.qvf",
                "build",
                "--no-reload",
            ],
        )
        .await,
        0,
        "rebuild",
    );
    let two = temp_dir("corpus-unbuild-2");
    expect_code(
        &run(
            &one,
            &[],
            &[
                "--engine",
                &url2,
                "--app",
                "again.qvf",
                "unbuild",
                "--dir",
                two.to_str().unwrap(),
            ],
        )
        .await,
        0,
        "unbuild again",
    );
    assert_eq!(tree_of(&one), tree_of(&two));
    mock.verify().unwrap();
}

fn tree_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    common::tree(dir)
}

/// Where two values differ (null and missing alike), for assertions.
fn qix_diff(a: &Value, b: &Value) -> Vec<String> {
    fn walk(a: &Value, b: &Value, path: String, out: &mut Vec<String>) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                for k in x.keys().chain(y.keys()) {
                    let n = Value::Null;
                    walk(
                        x.get(k).unwrap_or(&n),
                        y.get(k).unwrap_or(&n),
                        format!("{path}/{k}"),
                        out,
                    );
                }
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    walk(p, q, format!("{path}/{i}"), out);
                }
            }
            (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => {}
            (x, y) if x == y => {}
            _ => out.push(path),
        }
    }
    let mut out = Vec::new();
    walk(a, b, String::new(), &mut out);
    out
}

/// A project folder with these files.
fn project(name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = temp_dir(name);
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

const MEASURE: &str =
    r#"{"qInfo": {"qId": "m1", "qType": "measure"}, "qMeasure": {"qDef": "Sum(x)"}}"#;

#[tokio::test]
async fn bad_input_is_one_line_and_leaves_the_app_untouched() {
    let app = FakeApp::new("bad.qvf");
    let mock = serve(&app).await;
    let url = mock.url();
    // (name, the project's files, the command line)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case] = &[
        (
            "missing-script",
            &[("corectl.yml", "app: bad.qvf\nscript: ./missing.qvs\n")],
            &["build"],
        ),
        (
            "glob-matches-nothing",
            &[
                (
                    "corectl.yml",
                    "app: bad.qvf\nmeasures:\n  - ./m-*.json\nobjects: ./nope-*.json\n",
                ),
                ("m-1.json", MEASURE),
            ],
            &["build"],
        ),
        (
            "malformed-json",
            &[
                ("corectl.yml", "app: bad.qvf\nmeasures: [m.json]\n"),
                (
                    "m.json",
                    "{\"qInfo\": {\"qId\": \"m1\",\n  \"qType\": measure}}\n",
                ),
            ],
            &["build"],
        ),
        (
            "malformed-yaml",
            &[(
                "corectl.yml",
                "app: bad.qvf\nmeasures: [m.json\nscript: s.qvs\n",
            )],
            &["build"],
        ),
        (
            "unknown-key",
            &[("corectl.yml", "app: bad.qvf\nscirpt: s.qvs\n")],
            &["build"],
        ),
        (
            "wrong-type",
            &[("corectl.yml", "app: bad.qvf\nttl: [1]\n")],
            &["build"],
        ),
        (
            "unset-variable",
            &[(
                "corectl.yml",
                "app: bad.qvf\nconnections:\n  c:\n    type: x\n    settings:\n      host: ${QIX_TEST_SURELY_UNSET}\n",
            )],
            &["build"],
        ),
        (
            "connection-without-type",
            &[(
                "corectl.yml",
                "app: bad.qvf\nconnections:\n  c:\n    connectionstring: /data\n",
            )],
            &["build"],
        ),
        (
            "malformed-connections-file",
            &[
                ("corectl.yml", "app: bad.qvf\nconnections: c.yml\n"),
                ("c.yml", "connections:\n  c: [1, 2\n"),
            ],
            &["build"],
        ),
        (
            "entity-without-id",
            &[
                ("corectl.yml", "app: bad.qvf\nmeasures: m.json\n"),
                ("m.json", "[{\"qInfo\": {\"qType\": \"measure\"}}]"),
            ],
            &["build"],
        ),
        (
            "duplicate-id",
            &[
                ("corectl.yml", "app: bad.qvf\nmeasures: [a.json, b.json]\n"),
                ("a.json", MEASURE),
                ("b.json", MEASURE),
            ],
            &["build"],
        ),
        ("missing-config", &[], &["--config", "nope.yml", "build"]),
        (
            "missing-certificates",
            &[("p/corectl.yml", "app: bad.qvf\ncertificates: ./certs\n")],
            &["--config", "p/corectl.yml", "build"],
        ),
        ("nothing-to-build", &[], &["--app", "bad.qvf", "build"]),
        ("nothing-to-plan", &[], &["--app", "bad.qvf", "plan"]),
        (
            "unknown-measure",
            &[],
            &["--app", "bad.qvf", "measure", "properties", "nope"],
        ),
        (
            "unknown-object-rm",
            &[],
            &["--app", "bad.qvf", "object", "rm", "nope"],
        ),
        (
            "full-of-a-measure",
            &[],
            &["--app", "bad.qvf", "measure", "properties", "--full", "m1"],
        ),
        (
            "set-glob-matches-nothing",
            &[],
            &["--app", "bad.qvf", "measure", "set", "none-*.json"],
        ),
        (
            "unknown-connection",
            &[],
            &["--app", "bad.qvf", "connection", "get", "nope"],
        ),
        (
            "unknown-state",
            &[],
            &["--app", "bad.qvf", "state", "rm", "nope"],
        ),
        ("unknown-app", &[], &["app", "rm", "nope.qvf"]),
    ];
    let mut all = String::new();
    for (name, files, args) in cases {
        let dir = project(name, files);
        let mut full = vec!["--engine", url.as_str()];
        full.extend_from_slice(args);
        let out = qix_in(&dir, &[], &full).await;
        let line = one_line_error(&out, name);
        all.push_str(&format!("{name}: {line}"));
    }
    golden("bad-input", &all);
    // Every file was checked before the app was touched.
    assert!(app.ids().is_empty(), "{:?}", app.ids());
    assert!(app.script().is_empty());
    assert!(app.connections().is_empty());
    assert_eq!(app.saves(), 0);
}

#[tokio::test]
async fn an_engine_error_mid_build_says_what_was_done_before_it() {
    let app = letters(FakeApp::new("entities.qvf"));
    let mock = serve(&app).await;
    mock.expect("CreateMeasure")
        .returns_error(3, "measure-sum-numbers", "Resource already exists");
    let dir = project_copy("entities");
    let env = entities_env(&mock.url());
    let out = run(&dir, &env, &["build"]).await;
    let line = one_line_error(&out, "engine error");
    golden("build-engine-error", &line);
    // Nothing after the failure, no reload, no save.
    assert_eq!(app.saves(), 0);
    assert!(app.reloads().is_empty());
    assert!(!app.ids().iter().any(|i| i.starts_with("object")));

    // A property tree the engine refuses: the empty object made for it is removed again.
    let app = letters(FakeApp::new("entities.qvf"));
    let mock = serve(&app).await;
    mock.expect("SetFullPropertyTree")
        .returns_error(8, "", "Invalid parameters");
    let env = entities_env(&mock.url());
    let out = run(&dir, &env, &["build"]).await;
    let line = one_line_error(&out, "tree refused");
    assert!(
        line.contains("(the empty object made for it was removed); done before it, not saved:"),
        "{line}"
    );
    assert!(
        app.properties("sheet-overview").is_none(),
        "{:?}",
        app.ids()
    );
    assert!(app.properties("object-letters").is_some());

    // A reload that fails: the build says so, and does not save.
    let app = letters(FakeApp::new("entities.qvf"));
    let mock = serve(&app).await;
    mock.expect("DoReloadEx")
        .returns(json!({"qResult": {"qSuccess": false, "qScriptLogFile": "/logs/entities.log"}}));
    let env = entities_env(&mock.url());
    let out = run(&dir, &env, &["build", "--silent"]).await;
    let line = one_line_error(&out, "failed reload");
    assert!(
        line.starts_with(
            "qix: the reload failed (script log: /logs/entities.log); done before it, not saved: "
        ),
        "{line}"
    );
    assert_eq!(app.saves(), 0);
}
