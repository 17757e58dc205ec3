//! The read-only data beside the checkout (`../shared/`): its one finder. Apart from the
//! rest of `common` so that tests without the `testing` feature use it too
//! (`#[path = "common/data.rs"] mod data;`).
#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared/` beside the workspace (specs, recorded traffic, real layouts).
pub fn shared() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared");
    assert!(
        dir.join("corpus").is_dir(),
        "the shared data folder is missing: expected {} beside the project checkout (see the README)",
        dir.display()
    );
    dir
}

/// `../shared/corpus/traffic`.
pub fn corpus_dir() -> PathBuf {
    shared().join("corpus/traffic")
}

/// Every file of the traffic corpus (README-like files excepted), sorted.
pub fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("read the corpus directory")
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|e| e != "md"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "the traffic corpus is empty");
    files
}
