//! The golden specs' outputs compile (progenitor compiles its outputs the same way): the
//! snapshots of `golden.rs` check the text, this lets the compiler check the keyword,
//! recursion, number and secret rules. Each golden spec becomes a crate of one workspace
//! under the target folder, checked with one `cargo check` against this checkout's
//! runtime; the workspace's `Cargo.lock` is reused and the target folder kept between
//! runs, so after the first run only the small generated crates are checked again.

use std::path::{Path, PathBuf};
use std::process::Command;

use qix_codegen::{RuntimeDep, Settings, Spec};

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn golden_specs() -> Vec<(String, PathBuf)> {
    let mut specs: Vec<(String, PathBuf)> = std::fs::read_dir(manifest_dir().join("tests/golden"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e
                .file_name()
                .to_str()?
                .strip_suffix(".openrpc")?
                .to_string();
            Some((name, e.path()))
        })
        .collect();
    specs.sort();
    specs
}

#[test]
fn golden_outputs_compile() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("golden-crates");
    let runtime = RuntimeDep::Path(manifest_dir().join("../qix-runtime"));
    let settings = Settings::default();
    let mut members = Vec::new();
    for (name, path) in golden_specs() {
        let spec = Spec::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let g = qix_codegen::generate(&spec, &name, &settings).unwrap_or_else(|e| panic!("{e}"));
        let package = format!("golden-{}", name.replace('_', "-"));
        let crate_dir = dir.join(&package);
        let manifest = qix_codegen::crate_manifest(&g.api.version, &package, &runtime, false);
        qix_codegen::ensure_files(&crate_dir.join("src"), &g.files, qix_codegen::Mode::Write)
            .and_then(|_| qix_codegen::write_if_changed(&crate_dir.join("Cargo.toml"), &manifest))
            .unwrap_or_else(|e| panic!("{e}"));
        members.push(format!("{package:?}"));
    }
    let workspace = format!(
        "# Written by qix-codegen/tests/golden_compiles.rs.\n[workspace]\nresolver = \"3\"\nmembers = [{}]\n\n[profile.dev]\ndebug = false\n",
        members.join(", ")
    );
    qix_codegen::write_if_changed(&dir.join("Cargo.toml"), &workspace)
        .unwrap_or_else(|e| panic!("{e}"));
    // The versions this workspace builds with: no resolution, no index update.
    let lock = manifest_dir().join("../Cargo.lock");
    std::fs::copy(&lock, dir.join("Cargo.lock"))
        .unwrap_or_else(|e| panic!("{}: {e}", lock.display()));

    // No default features: rustls (and its C build) adds nothing to what is checked here.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["check", "--workspace", "--quiet", "--no-default-features"])
        .arg("--features=testing")
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .current_dir(&dir)
        .output()
        .expect("cannot run cargo");
    assert!(
        out.status.success(),
        "generated golden crates do not compile (in {}):\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
