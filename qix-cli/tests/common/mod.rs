//! Running the real `qix` binary in tests, and its golden outputs (insta snapshots in
//! `tests/golden/`; `INSTA_UPDATE=always cargo test -p qix-cli` rewrites them).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use qix_generated::catalog;
use qix_runtime::testing::{FakeApp, MockEngine};

pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `qix args…` in `dir` with `env` set, the environment's connection variables
/// removed; fails the test after 60 s.
pub async fn qix_in(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Out {
    qix_env(dir, env, &[], args).await
}

/// [`qix_in`], with the variables of `unset` removed after `env` is set (`QIX_HOME`, to
/// use the platform's config folder).
pub async fn qix_env(dir: &Path, env: &[(&str, &str)], unset: &[&str], args: &[&str]) -> Out {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_qix"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("QIX_ENGINE")
        .env_remove("QIX_APP")
        .env_remove("QLIK_API_KEY")
        .env_remove("QLIK_CLIENT_ID")
        .env_remove("QLIK_CLIENT_SECRET")
        .env_remove("QIX_SCHEMAS_DIR")
        // No contexts of the machine's user: a test that wants some sets QIX_HOME.
        .env("QIX_HOME", dir.join(".qix-home"))
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    for k in unset {
        cmd.env_remove(k);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("qix did not finish within 60 s")
        .expect("qix runs");
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A mock engine serving `app` (with the catalog's param names, which the fake needs).
pub async fn serve(app: &FakeApp) -> MockEngine {
    let mock = MockEngine::start().await;
    mock.param_names(catalog::params_of);
    app.serve(&mock);
    mock
}

/// Asserts a run succeeded with `code` (0, or 2 for `plan` with changes).
pub fn expect_code(out: &Out, code: i32, what: &str) {
    assert_eq!(
        out.code,
        Some(code),
        "{what}: exit {:?}\nstderr: {}\nstdout: {}",
        out.code,
        out.stderr,
        out.stdout
    );
}

/// Asserts a run failed with exactly one line on stderr, and gives that line.
pub fn one_line_error(out: &Out, what: &str) -> String {
    assert_eq!(
        out.code,
        Some(1),
        "{what} should fail: {}{}",
        out.stdout,
        out.stderr
    );
    assert_eq!(
        out.stderr.lines().count(),
        1,
        "{what}: one line of error: {:?}",
        out.stderr
    );
    assert!(out.stderr.starts_with("qix: "), "{what}: {:?}", out.stderr);
    out.stderr.clone()
}

pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Checks output against `tests/golden/<name>.snap`; a failure shows the diff.
pub fn golden(name: &str, got: &str) {
    assert!(
        got.ends_with('\n'),
        "{name}: output ends without a newline: {got:?}"
    );
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(golden_dir());
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(name, got));
}

/// `../shared/` beside the workspace (read-only data).
pub fn shared() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared");
    assert!(
        dir.join("corpus").is_dir(),
        "the shared data folder is missing: expected {} beside the checkout (see the README)",
        dir.display()
    );
    dir
}

/// A fresh empty folder for one test (numbered: tests run at the same time).
pub fn temp_dir(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("qix-cli-{}-{n}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A copy of `tests/projects/<name>` in a fresh folder (tests may change it).
pub fn project_copy(name: &str) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/projects")
        .join(name);
    let to = temp_dir(&format!("project-{name}"));
    copy_dir(&from, &to);
    to
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every file under `dir`, relative path → bytes, sorted.
pub fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
