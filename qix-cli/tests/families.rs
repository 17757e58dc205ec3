//! corectl's other command families on `qix`: `measure|dimension|variable|bookmark|object`
//! (ls, layout, properties, set, rm; object data), eval by dimensions, the data model
//! (tables, keys, meta, assoc), connections, alternate states, apps, status, and the
//! global flags (--no-data, -v, -q, --config precedence, completion) — against a FakeApp.

mod common;

use std::path::PathBuf;

use common::*;
use qix_runtime::testing::{FakeApp, MockEngine};
use serde_json::{Value, json};

/// An app built from `tests/projects/entities` (the way a user gets one), and where.
async fn built() -> (FakeApp, MockEngine, PathBuf, String) {
    let app = FakeApp::new("entities.qvf").table(
        "Letters",
        &["abcs", "numbers", "xyz"],
        [
            vec![json!("a"), json!(1), json!("x")],
            vec![json!("b"), json!(2), json!("y")],
            vec![json!("c"), json!(3), json!("z")],
        ],
    );
    let mock = serve(&app).await;
    let dir = project_copy("entities");
    let url = mock.url();
    let out = qix_in(
        &dir,
        &[
            ("QIX_TEST_ENGINE", &url),
            ("QIX_TEST_CONNECT", "c.internal"),
        ],
        &["build", "--silent"],
    )
    .await;
    expect_code(&out, 0, "build");
    (app, mock, dir, url)
}

/// `qix --engine URL --app entities.qvf args…` in a folder without a project.
async fn on(url: &str, args: &[&str]) -> Out {
    let dir = temp_dir("no-project");
    let mut all = vec!["--engine", url, "--app", "entities.qvf"];
    all.extend_from_slice(args);
    qix_in(&dir, &[], &all).await
}

async fn ok(url: &str, args: &[&str]) -> String {
    let out = on(url, args).await;
    expect_code(&out, 0, &args.join(" "));
    out.stdout
}

#[tokio::test]
async fn entity_families_list_show_and_print_ids() {
    let (_app, mock, _dir, url) = built().await;
    for family in ["measure", "dimension", "variable", "bookmark", "object"] {
        golden(&format!("{family}-ls"), &ok(&url, &[family, "ls"]).await);
        golden(
            &format!("{family}-ls.json"),
            &ok(&url, &["--json", family, "ls"]).await,
        );
    }
    // -q: ids only, one a line (corectl's --bash).
    assert_eq!(
        ok(&url, &["-q", "measure", "ls"]).await,
        "measure-count-numbers\nmeasure-sum-numbers\n"
    );
    // `object ls` has no master items, variables or bookmarks (GetAllInfos has them all).
    let objects = ok(&url, &["-q", "object", "ls"]).await;
    assert_eq!(objects, "chart-numbers\nobject-letters\nsheet-overview\n");
    mock.verify().unwrap();
}

#[tokio::test]
async fn layouts_and_properties_of_every_kind() {
    let (_app, _mock, _dir, url) = built().await;
    golden(
        "measure-layout",
        &ok(&url, &["measure", "layout", "measure-sum-numbers"]).await,
    );
    golden(
        "dimension-properties",
        &ok(&url, &["dimension", "properties", "dimension-abcs"]).await,
    );
    golden(
        "variable-layout",
        &ok(&url, &["variable", "layout", "variable-limit"]).await,
    );
    golden(
        "bookmark-properties",
        &ok(&url, &["bookmark", "properties", "bookmark-start"]).await,
    );
    golden(
        "object-layout",
        &ok(&url, &["object", "layout", "object-letters"]).await,
    );
    golden(
        "object-properties-full",
        &ok(&url, &["object", "properties", "--full", "sheet-overview"]).await,
    );
    // --minimum: what recreating it needs; --full: the children too.
    let plain: Value =
        serde_json::from_str(&ok(&url, &["object", "properties", "sheet-overview"]).await).unwrap();
    assert!(plain.get("qChildren").is_none() && plain["qInfo"]["qId"] == "sheet-overview");
    let min: Value = serde_json::from_str(
        &ok(
            &url,
            &["variable", "properties", "--minimum", "variable-first"],
        )
        .await,
    )
    .unwrap();
    assert_eq!(
        min,
        json!({"qInfo": {"qId": "variable-first", "qType": "variable"},
        "qName": "vFirst", "qComment": "The first letter", "qDefinition": "'a'"})
    );
}

#[tokio::test]
async fn set_and_rm_create_update_remove_then_save() {
    let (app, _mock, _dir, url) = built().await;
    let dir = temp_dir("set");
    std::fs::write(
        dir.join("m-new.json"),
        r#"{"qInfo": {"qId": "m-new", "qType": "measure"}, "qMeasure": {"qDef": "Max(numbers)"}}"#,
    )
    .unwrap();
    std::fs::write(dir.join("m-old.json"), r#"[{"qInfo": {"qId": "measure-count-numbers", "qType": "measure"}, "qMeasure": {"qDef": "Count(DISTINCT numbers)"}}]"#).unwrap();
    let saves = app.saves();
    let out = qix_in(
        &dir,
        &[],
        &[
            "--engine",
            &url,
            "--app",
            "entities.qvf",
            "measure",
            "set",
            "m-*.json",
        ],
    )
    .await;
    expect_code(&out, 0, "measure set");
    golden("measure-set", &out.stdout);
    assert_eq!(app.saves(), saves + 1);
    assert_eq!(
        app.properties("measure-count-numbers").unwrap()["qMeasure"]["qDef"],
        "Count(DISTINCT numbers)"
    );
    assert_eq!(ok(&url, &["eval", "Count(DISTINCT numbers)"]).await, "3\n");
    let out = ok(
        &url,
        &[
            "measure",
            "rm",
            "m-new",
            "measure-count-numbers",
            "--no-save",
        ],
    )
    .await;
    golden("measure-rm", &out);
    assert!(app.properties("m-new").is_none() && app.properties("measure-count-numbers").is_none());
    assert_eq!(app.saves(), saves + 1);
    // Removing an object removes its children.
    ok(&url, &["object", "rm", "sheet-overview"]).await;
    assert!(app.properties("chart-numbers").is_none());
    // A variable, a dimension and a bookmark the same way.
    ok(&url, &["variable", "rm", "variable-first"]).await;
    ok(&url, &["dimension", "rm", "dimension-xyz"]).await;
    ok(&url, &["bookmark", "rm", "bookmark-start"]).await;
    assert_eq!(
        app.ids(),
        [
            "dimension-abcs",
            "measure-sum-numbers",
            "object-letters",
            "variable-limit"
        ]
    );
}

#[tokio::test]
async fn a_variable_is_found_by_name_when_its_id_differs() {
    let (app, _mock, dir, url) = built().await;
    let vars = dir.join("variables.json");
    let text = std::fs::read_to_string(&vars)
        .unwrap()
        .replace("\"variable-first\"", "\"renamed\"");
    std::fs::write(&vars, text.replace("'a'", "'b'")).unwrap();
    let env = [
        ("QIX_TEST_ENGINE", url.as_str()),
        ("QIX_TEST_CONNECT", "c.internal"),
    ];
    let out = qix_in(&dir, &env, &["build", "--no-reload"]).await;
    expect_code(&out, 0, "build with a renamed variable id");
    // Updated, not created twice (the engine allows one variable per name).
    assert!(
        out.stdout.contains("renamed") && out.stdout.contains("Built: 0 created, 1 updated"),
        "{}",
        out.stdout
    );
    assert_eq!(
        app.properties("variable-first").unwrap()["qDefinition"],
        "'b'"
    );
    assert!(app.properties("renamed").is_none());
}

#[tokio::test]
async fn eval_measures_by_dimensions_and_object_data() {
    let (_app, _mock, _dir, url) = built().await;
    golden(
        "eval-by",
        &ok(&url, &["eval", "Sum(numbers), Count(abcs) by xyz"]).await,
    );
    // corectl's form gives the same table.
    assert_eq!(
        ok(&url, &["eval", "Sum(numbers)", "Count(abcs)", "by", "xyz"]).await,
        ok(&url, &["eval", "Sum(numbers), Count(abcs) by xyz"]).await
    );
    golden(
        "eval-by.json",
        &ok(&url, &["--json", "eval", "Sum(numbers) by abcs"]).await,
    );
    // One expression: EvaluateEx, as before.
    assert_eq!(ok(&url, &["eval", "Sum(numbers)"]).await, "6\n");
    // The master items an object refers to are read through.
    golden(
        "object-data-library",
        &ok(&url, &["object", "data", "object-letters"]).await,
    );
}

/// Two tables that share one key, and two that share two fields (a synthetic key).
fn model() -> FakeApp {
    FakeApp::new("model.qvf")
        .table(
            "Orders",
            &["OrderId", "CustomerId", "Amount"],
            [
                vec![json!(1), json!(10), json!(99.5)],
                vec![json!(2), json!(11), json!(12)],
                vec![json!(3), json!(10), json!(7)],
            ],
        )
        .table(
            "Customers",
            &["CustomerId", "Name", "Country"],
            [
                vec![json!(10), json!("Acme"), json!("SE")],
                vec![json!(11), json!("Globex"), json!("NO")],
            ],
        )
        .table(
            "Targets",
            &["Country", "Year", "Target"],
            [vec![json!("SE"), json!(2024), json!(100)]],
        )
        .table(
            "Actuals",
            &["Country", "Year", "Actual"],
            [vec![json!("SE"), json!(2024), json!(90)]],
        )
        .loaded()
}

#[tokio::test]
async fn the_data_model_tables_keys_meta_and_drawings() {
    let app = model();
    let mock = serve(&app).await;
    let url = mock.url();
    let on = |args: &'static [&'static str]| {
        let url = url.clone();
        async move {
            let dir = temp_dir("model");
            let mut all = vec!["--engine", url.as_str(), "--app", "model.qvf"];
            all.extend_from_slice(args);
            let out = qix_in(&dir, &[], &all).await;
            expect_code(&out, 0, &args.join(" "));
            out.stdout
        }
    };
    golden("tables", &on(&["tables"]).await);
    golden("keys", &on(&["keys"]).await);
    golden("meta", &on(&["meta"]).await);
    golden("assoc", &on(&["assoc"]).await);
    golden("assoc-dot", &on(&["assoc", "--format", "dot"]).await);
    golden(
        "assoc-mermaid",
        &on(&["assoc", "--format", "mermaid"]).await,
    );
    let tables: Value = serde_json::from_str(&on(&["--json", "tables"]).await).unwrap();
    assert_eq!(tables.as_array().unwrap().len(), 5);
    assert_eq!(
        on(&["-q", "tables"]).await,
        "Orders\nCustomers\nTargets\nActuals\n$Syn 1 Table\n"
    );
    mock.verify().unwrap();
}

#[tokio::test]
async fn connections_states_apps_and_status() {
    let (app, _mock, _dir, url) = built().await;
    golden("connection-ls", &ok(&url, &["connection", "ls"]).await);
    let got: Value =
        serde_json::from_str(&ok(&url, &["connection", "get", "myconnection"]).await).unwrap();
    assert_eq!(got["qName"], "myconnection");
    let dir = temp_dir("conn");
    std::fs::write(dir.join("c.yml"), "connections:\n  myconnection:\n    type: testconnector\n    connectionstring: CUSTOM CONNECT TO \"provider=testconnector;host=new;\"\n    username: gwe\n    password: new-pw\n  files:\n    type: folder\n    connectionstring: /files\n").unwrap();
    let out = qix_in(
        &dir,
        &[],
        &[
            "--engine",
            &url,
            "--app",
            "entities.qvf",
            "connection",
            "set",
            "c.yml",
        ],
    )
    .await;
    expect_code(&out, 0, "connection set");
    golden("connection-set", &out.stdout);
    assert_eq!(
        app.connection_password("myconnection").as_deref(),
        Some("new-pw")
    );
    assert_eq!(app.connections().len(), 2);
    // `ls` redacts the credentials in connection strings.
    std::fs::write(dir.join("odbc.yml"), "connections:\n  files:\n    type: ODBC\n    connectionstring: DSN=sales;UID=sa;PWD=hunter2;\n").unwrap();
    let out = qix_in(
        &dir,
        &[],
        &[
            "--engine",
            &url,
            "--app",
            "entities.qvf",
            "connection",
            "set",
            "odbc.yml",
            "--no-save",
        ],
    )
    .await;
    expect_code(&out, 0, "connection set odbc");
    let ls = ok(&url, &["connection", "ls"]).await;
    assert!(
        ls.contains("DSN=sales;UID=<redacted>;PWD=<redacted>;") && !ls.contains("hunter2"),
        "{ls}"
    );
    ok(&url, &["connection", "rm", "files"]).await;
    assert_eq!(app.connections().len(), 1);

    assert_eq!(ok(&url, &["-q", "state", "ls"]).await, "", "no states yet");
    golden(
        "state-add",
        &ok(&url, &["state", "add", "Compare", "Baseline"]).await,
    );
    golden("state-ls", &ok(&url, &["state", "ls"]).await);
    ok(&url, &["state", "rm", "Compare"]).await;
    assert_eq!(app.states(), ["Baseline"]);
    let out = on(&url, &["state", "add", "Baseline"]).await;
    assert_eq!(
        one_line_error(&out, "state add twice"),
        "qix: the app already has the state \"Baseline\"\n"
    );

    golden("status", &ok(&url, &["status"]).await.replace(&url, "URL"));
    golden("app-ls", &ok(&url, &["app", "ls"]).await);
    ok(&url, &["app", "rm", "entities.qvf"]).await;
    assert!(app.deleted());
}

#[tokio::test]
async fn no_data_verbose_quiet_and_reload_options() {
    let (app, mock, _dir, url) = built().await;
    // --no-data: OpenDoc without data, and saves keep the data on disk (SaveObjects).
    let out = on(&url, &["--no-data", "save"]).await;
    expect_code(&out, 0, "--no-data save");
    assert_eq!(app.opened_without_data(), Some(true));
    assert_eq!(mock.received_method("SaveObjects").len(), 1);
    // -v: what is being done, on stderr; stdout unchanged.
    let out = on(&url, &["-v", "measure", "ls", "-q"]).await;
    expect_code(&out, 0, "-v");
    assert!(
        out.stderr.contains("qix: connecting to ws://"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout, "measure-count-numbers\nmeasure-sum-numbers\n");
    // reload --limit N --silent: the engine's fetch limit, a debug-mode reload, no output.
    let out = on(&url, &["reload", "--limit", "10", "--silent", "--no-save"]).await;
    expect_code(&out, 0, "reload --limit");
    assert_eq!(out.stderr, "");
    assert_eq!(app.fetch_limit(), Some(10));
    assert_eq!(app.reloads().last().unwrap()["qParams"]["qDebug"], true);
}

#[tokio::test]
async fn the_project_file_is_between_flags_and_the_environment() {
    let app = FakeApp::new("p.qvf");
    let mock = serve(&app).await;
    // A bare host: `/app/<app>/ttl/<ttl>` is added from the file's app and ttl.
    let url = format!("ws://{}", mock.addr());
    let dir = temp_dir("precedence");
    std::fs::write(
        dir.join("qix.yml"),
        format!("engine: {url}\napp: p.qvf\nheaders:\n  X-Team: analytics\nttl: \"30\"\n"),
    )
    .unwrap();
    // The file wins over QIX_ENGINE and QIX_APP (which point nowhere).
    let out = qix_in(
        &dir,
        &[("QIX_ENGINE", "ws://127.0.0.1:9"), ("QIX_APP", "other.qvf")],
        &["script", "get"],
    )
    .await;
    expect_code(&out, 0, "file over environment");
    let conn = mock.connections().pop().unwrap();
    assert_eq!(conn.header("x-team"), Some("analytics"));
    assert!(conn.path.ends_with("/app/p.qvf/ttl/30"), "{}", conn.path);
    // A flag wins over the file.
    let out = qix_in(
        &dir,
        &[],
        &["--engine", "ws://127.0.0.1:9", "script", "get"],
    )
    .await;
    assert_eq!(out.code, Some(1));
    // --config names another file, relative paths are relative to it.
    let sub = dir.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(sub.join("s.qvs"), "LOAD 1 AS x AUTOGENERATE 1;\n").unwrap();
    std::fs::write(
        sub.join("corectl.yml"),
        format!("engine: {url}\napp: p.qvf\nscript: s.qvs\n"),
    )
    .unwrap();
    let out = qix_in(
        &dir,
        &[],
        &["--config", "sub/corectl.yml", "build", "--no-reload"],
    )
    .await;
    expect_code(&out, 0, "--config");
    assert_eq!(app.script(), "LOAD 1 AS x AUTOGENERATE 1;\n");
    // corectl's flags as keys of the file.
    std::fs::write(
        sub.join("corectl.yml"),
        format!("engine: {url}\napp: p.qvf\nscript: s.qvs\nno-reload: true\nno-save: true\n"),
    )
    .unwrap();
    let (reloads, saves) = (app.reloads().len(), app.saves());
    let out = qix_in(&dir, &[], &["--config", "sub/corectl.yml", "build"]).await;
    expect_code(&out, 0, "no-reload and no-save from the file");
    assert_eq!((app.reloads().len(), app.saves()), (reloads, saves));
}

#[tokio::test]
async fn completion_scripts_for_shells() {
    let dir = temp_dir("completion");
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = qix_in(&dir, &[], &["completion", shell]).await;
        expect_code(&out, 0, shell);
        for word in ["build", "unbuild", "plan", "measure", "assoc"] {
            assert!(out.stdout.contains(word), "{shell}: no {word}");
        }
    }
    // A broken project file does not stop completion (it reads none).
    std::fs::write(dir.join("corectl.yml"), "{{{").unwrap();
    expect_code(
        &qix_in(&dir, &[], &["completion", "bash"]).await,
        0,
        "completion with a broken project",
    );
    let out = qix_in(&dir, &[], &["completion", "tcsh"]).await;
    assert_eq!(
        out.code,
        Some(2),
        "clap rejects an unknown shell: {}",
        out.stderr
    );
}

#[tokio::test]
async fn contexts_keep_connection_settings_with_the_lowest_precedence() {
    let app = FakeApp::new("ctx.qvf");
    let mock = serve(&app).await;
    let url = format!("ws://{}", mock.addr());
    let dir = temp_dir("contexts");
    let home = dir.join("home");
    let home_s = home.to_str().unwrap();
    let env = [("QIX_HOME", home_s)];
    let set = qix_in(
        &dir,
        &env,
        &[
            "--engine",
            &url,
            "--header",
            "X-Team: data",
            "context",
            "set",
            "dev",
            "--comment",
            "the mock",
        ],
    )
    .await;
    expect_code(&set, 0, "context set");
    assert_eq!(
        set.stdout,
        format!("Context dev created ({}/contexts.yml).\n", home_s)
    );
    expect_code(
        &qix_in(&dir, &env, &["context", "use", "dev"]).await,
        0,
        "context use",
    );
    let ls = qix_in(&dir, &env, &["context", "ls"]).await;
    expect_code(&ls, 0, "context ls");
    assert!(
        ls.stdout.contains("│ *") && ls.stdout.contains("the mock"),
        "{}",
        ls.stdout
    );
    let get = qix_in(&dir, &env, &["context", "get"]).await;
    expect_code(&get, 0, "context get");
    assert_eq!(
        get.stdout,
        format!("name: dev\nengine: {url}\nheaders:\n  X-Team: data\ncomment: the mock\n")
    );
    // No --engine: the current context's engine and header.
    let out = qix_in(&dir, &env, &["--app", "ctx.qvf", "script", "get"]).await;
    expect_code(&out, 0, "a command in the context");
    assert_eq!(
        mock.connections().last().unwrap().header("x-team"),
        Some("data")
    );
    // The environment wins over the context.
    let out = qix_in(
        &dir,
        &[("QIX_HOME", home_s), ("QIX_ENGINE", "ws://127.0.0.1:9")],
        &["--app", "ctx.qvf", "script", "get"],
    )
    .await;
    assert_eq!(out.code, Some(1), "QIX_ENGINE was not used: {}", out.stderr);
    // Clear, then an unknown one, then remove.
    expect_code(
        &qix_in(&dir, &env, &["context", "clear"]).await,
        0,
        "context clear",
    );
    let out = qix_in(&dir, &env, &["context", "get"]).await;
    assert_eq!(
        one_line_error(&out, "get with none current"),
        "qix: no current context; name one\n"
    );
    let out = qix_in(&dir, &env, &["--context", "prod", "script", "get"]).await;
    assert_eq!(
        one_line_error(&out, "unknown context"),
        "qix: there is no context \"prod\" (qix context ls)\n"
    );
    expect_code(
        &qix_in(&dir, &env, &["context", "rm", "dev"]).await,
        0,
        "context rm",
    );
    let ls = qix_in(&dir, &env, &["-q", "context", "ls"]).await;
    assert_eq!(ls.stdout, "");
}
