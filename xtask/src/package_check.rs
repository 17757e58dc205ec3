//! `package-check`: every crate of the workspace packages on its own.
//!
//! `cargo package --workspace --no-verify` checks the manifests (a path dependency without a
//! version, a missing file); it does not compile the packages, so a source file that reaches
//! outside its crate (`#[path = "../../other/src/x.rs"]`, `include_str!("../../schemas/…")`)
//! would only fail a verifying build, which rebuilds every dependency. Those paths are found
//! here instead, by reading the sources: every literal path of `#[path]`, `include!`,
//! `include_str!` and `include_bytes!` must stay inside the crate's folder. Doctest-only
//! includes (under `cfg(doctest)`) are not built by a package and are allowed.

use std::path::{Component, Path, PathBuf};
use std::process::{Command, ExitCode};

use crate::codegen::root;

/// The macros and attribute whose literal path names a file to compile in.
const INCLUDES: [&str; 4] = ["#[path = ", "include_str!(", "include_bytes!(", "include!("];

pub fn run() -> Result<ExitCode, String> {
    let root = root();
    // --exclude-lockfile: a lock file per package would be resolved against crates.io,
    // where the sibling crates (publish = false) are not; the manifests and file lists are
    // what is checked here.
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "package",
            "--workspace",
            "--no-verify",
            "--exclude-lockfile",
            "--allow-dirty",
            "--quiet",
        ])
        .current_dir(&root)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("cargo package --workspace --no-verify failed (see above)".into());
    }
    let mut problems = Vec::new();
    for krate in members(&root)? {
        problems.extend(escaping_paths(&root.join(&krate))?);
    }
    if problems.is_empty() {
        eprintln!("every crate packages, and no source reaches outside its crate");
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        eprintln!("{p}");
    }
    eprintln!(
        "{} path(s) leave their crate: a packaged crate has only its own files",
        problems.len()
    );
    Ok(ExitCode::from(1))
}

/// The member folders of the workspace manifest (`members = [...]`).
fn members(root: &Path) -> Result<Vec<String>, String> {
    let path = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .ok_or_else(|| format!("{}: no `members = [...]` line", path.display()))?;
    Ok(line
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect())
}

/// Every include of the crate at `dir` whose path leaves `dir`, as messages.
pub fn escaping_paths(dir: &Path) -> Result<Vec<String>, String> {
    let mut files = Vec::new();
    for sub in ["src", "tests", "examples", "benches", "build.rs"] {
        rust_files(&dir.join(sub), &mut files)?;
    }
    files.sort();
    let mut problems = Vec::new();
    for file in files {
        let text =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") || doctest_only(&lines[..i]) {
                continue;
            }
            for include in INCLUDES {
                let Some(at) = code.find(include) else {
                    continue;
                };
                let Some(target) = literal_after(&code[at + include.len()..]) else {
                    continue;
                };
                let base = file.parent().unwrap_or(dir);
                let resolved = normalize(&base.join(target));
                if !resolved.starts_with(dir) {
                    problems.push(format!(
                        "{}:{}: {include}\"{target}\") is outside {}",
                        file.display(),
                        i + 1,
                        dir.display()
                    ));
                }
            }
        }
    }
    Ok(problems)
}

/// Whether the attributes right above a line put it under `cfg(doctest)`.
fn doctest_only(before: &[&str]) -> bool {
    before
        .iter()
        .rev()
        .map(|l| l.trim_start())
        .take_while(|l| l.starts_with("#["))
        .any(|l| l.contains("doctest"))
}

/// The string literal at the start of `s` (`"a/b.rs")` → `a/b.rs`), if it is a plain one.
fn literal_after(s: &str) -> Option<&str> {
    let rest = s.trim_start().strip_prefix('"')?;
    rest.find('"').map(|end| &rest[..end])
}

/// `a/b/../c` → `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    if path.is_file() {
        if path.extension().is_some_and(|e| e == "rs") {
            out.push(path.to_path_buf());
        }
        return Ok(());
    }
    if !path.is_dir() {
        return Ok(());
    }
    let entries = std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", path.display()))?;
        rust_files(&entry.path(), out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_crate_are_found() {
        let dir = std::env::temp_dir().join(format!("xtask-package-check-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("krate/src/sub")).unwrap();
        std::fs::write(
            dir.join("krate/src/lib.rs"),
            "//! `#[path = \"../../x.rs\"]` in a comment is no include.\n\
             #[path = \"sub/inner.rs\"]\nmod inner;\n\
             #[path = \"../../other/src/shared.rs\"]\nmod shared;\n\
             pub const A: &str = include_str!(\"../data.json\");\n\
             pub const B: &str = include_str!(\"../../schemas/x.json\");\n\
             #[cfg(doctest)]\n#[doc = include_str!(\"../../README.md\")]\npub struct Readme;\n",
        )
        .unwrap();
        let krate = dir.join("krate");
        let problems = escaping_paths(&krate).unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains(":4: #[path = \"../../other/src/shared.rs\")"));
        assert!(problems[1].contains(":7: include_str!(\"../../schemas/x.json\")"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The workspace itself: no crate reaches outside its folder.
    #[test]
    fn no_workspace_crate_reaches_outside_its_folder() {
        let root = root();
        for krate in members(&root).unwrap() {
            let problems = escaping_paths(&root.join(&krate)).unwrap();
            assert!(problems.is_empty(), "{problems:#?}");
        }
    }
}
