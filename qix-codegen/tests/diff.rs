//! `diff`: one fixture pair per change kind (a hand-written base spec and a variant with one
//! change), snapshots of real consecutive versions, and properties over the whole history.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use qix_codegen::Companion;
use qix_codegen::diff::{self, Change, DiffOptions, Kind, Report};
use qix_codegen::history;
use qix_codegen::ir::Api;

// ---- helpers -------------------------------------------------------------------------------

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diff")
}

fn load(path: &Path) -> Api {
    history::load_api(path, &Companion::builtin()).unwrap_or_else(|e| panic!("{e}"))
}

fn all() -> DiffOptions {
    DiffOptions { docs: true }
}

/// Every spec version in the shared folder, loaded once per test run, oldest first.
fn real_history() -> &'static [Api] {
    static HISTORY: OnceLock<Vec<Api>> = OnceLock::new();
    HISTORY.get_or_init(|| {
        let dir = match std::env::var_os("QIX_SCHEMAS_DIR") {
            Some(d) => PathBuf::from(d),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/schemas/openrpc"),
        };
        assert!(
            dir.is_dir(),
            "the real specs are missing: {} is not a folder (set QIX_SCHEMAS_DIR to a folder of <version>.json specs)",
            dir.display()
        );
        let started = Instant::now();
        let apis = history::load_history(&dir, &Companion::builtin()).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("loaded {} specs from {} in {:.2?}", apis.len(), dir.display(), started.elapsed());
        apis
    })
}

fn real(version: &str) -> &'static Api {
    real_history()
        .iter()
        .find(|a| a.version == version)
        .unwrap_or_else(|| panic!("no spec {version} in the real history"))
}

#[test]
#[ignore = "exploration: prints the diff of two versions (QIX_DIFF=old,new)"]
fn explore() {
    let pair = std::env::var("QIX_DIFF").unwrap_or_else(|_| "12.2399.0,12.2528.0".into());
    let (a, b) = pair.split_once(',').unwrap();
    let changes = diff::diff(real(a), real(b), &all());
    let r = Report { old_version: a, new_version: b, changes: &changes, docs: std::env::var_os("QIX_DOCS").is_some() };
    println!("{}", diff::render::text(&r));
}
