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
    assert_eq!(app.script(), std::fs::read_to_string(dir.join("script.qvs")).unwrap());
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
    let text = std::fs::read_to_string(&m).unwrap().replace("Sum(numbers)", "Sum(numbers) * 2");
    std::fs::write(&m, text).unwrap();
    let s = dir.join("script.qvs");
    let text = std::fs::read_to_string(&s).unwrap().replace("c, 3, z", "c, 4, z");
    std::fs::write(&s, text).unwrap();
    let o = dir.join("object-sheet.json");
    let text = std::fs::read_to_string(&o).unwrap().replace("\"Numbers\"", "\"All numbers\"");
    std::fs::write(&o, text).unwrap();
    std::fs::remove_file(dir.join("dimension-xyz.json")).unwrap();
    let out = run(&dir, &env, &["plan"]).await;
    expect_code(&out, 2, "plan with changes");
    golden("plan", &out.stdout);
    let out = run(&dir, &env, &["--json", "plan"]).await;
    expect_code(&out, 2, "plan --json");
    golden("plan.json", &out.stdout);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["summary"], json!({"add": 0, "change": 3, "remove": 1, "unchanged": 8}));
    mock.verify().unwrap();
}

#[tokio::test]
async fn unbuild_writes_a_project_that_builds_the_same_app() {
    // An app built from the project, unbuilt, built into a new empty app, unbuilt again:
    // the two folders are the same byte for byte, and a plan of either is empty.
    let first = letters(FakeApp::new("entities.qvf"));
    let mock = serve(&first).await;
    let dir = project_copy("entities");
    let env = entities_env(&mock.url());
    expect_code(&run(&dir, &env, &["build"]).await, 0, "build");
    let out_dir = temp_dir("unbuild-1");
    let out = run(&dir, &env, &["unbuild", "--dir", out_dir.to_str().unwrap()]).await;
    expect_code(&out, 0, "unbuild");
    golden(
        "unbuild",
        &out.stdout.replace(out_dir.to_str().unwrap(), "DIR"),
    );
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
    let out = run(&out_dir, &env2, &["--engine", &url2, "--app", "rebuilt.qvf", "build"]).await;
    expect_code(&out, 0, "build from the unbuilt folder");
    assert_eq!(second.connection_password("myconnection").as_deref(), Some("s3cret"));
    let out = run(&out_dir, &env2, &["--engine", &url2, "--app", "rebuilt.qvf", "plan"]).await;
    expect_code(&out, 0, "plan of the rebuilt app");
    let again = temp_dir("unbuild-2");
    let out = run(&out_dir, &env2, &["--engine", &url2, "--app", "rebuilt.qvf", "unbuild", "--dir", again.to_str().unwrap()]).await;
    expect_code(&out, 0, "unbuild of the rebuilt app");
    assert_eq!(tree(&out_dir), tree(&again), "the round trip changed the folder");
    mock.verify().unwrap();
    mock2.verify().unwrap();
}
