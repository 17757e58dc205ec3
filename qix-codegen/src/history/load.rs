//! Loading a spec history: every `<version>.json` of a folder (or a given list of files),
//! read and lowered in parallel, oldest version first.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{Error, Result};
use crate::ir::Api;
use crate::lower;
use crate::settings::Settings;
use crate::spec::Spec;
use crate::specpath::{is_version, version_cmp};

/// Reads and lowers one spec file.
pub fn load_api(path: &Path, settings: &Settings) -> Result<Api> {
    let spec = Spec::load(path)?;
    Ok(lower::lower(&spec, settings, &path.display().to_string())?)
}

/// The spec files of `dir` (files named `<version>.json`; other files, such as
/// `companion.json`, are skipped), in no particular order.
pub fn spec_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let list_err = |source| Error::ListDir {
        path: dir.to_path_buf(),
        source,
    };
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(list_err)? {
        let path = entry.map_err(list_err)?.path();
        let is_spec = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json"))
            .is_some_and(is_version);
        if is_spec && path.is_file() {
            files.push(path);
        }
    }
    Ok(files)
}

/// Loads and lowers every spec in `dir` (see [`spec_files`]), oldest version first. Files
/// are read in parallel.
pub fn load_history(dir: &Path, settings: &Settings) -> Result<Vec<Api>> {
    let files = spec_files(dir)?;
    if files.is_empty() {
        return Err(Error::NoSpecs {
            dir: dir.to_path_buf(),
        });
    }
    load_files(&files, settings)
}

/// Loads and lowers the given spec files in parallel, oldest version first.
pub fn load_files(files: &[PathBuf], settings: &Settings) -> Result<Vec<Api>> {
    let mut apis = load_all(files, settings)?;
    apis.sort_by(|a, b| version_cmp(&a.version, &b.version));
    Ok(apis)
}

/// Loads files on as many threads as there are cores; the first error (in file order) wins.
fn load_all(files: &[PathBuf], settings: &Settings) -> Result<Vec<Api>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len());
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<Result<Api>>>> = Mutex::new(files.iter().map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = files.get(i) else { break };
                    let loaded = load_api(path, settings);
                    if let Ok(mut slots) = slots.lock() {
                        slots[i] = Some(loaded);
                    }
                }
            });
        }
    });
    // A worker that panicked poisons the lock; its slot (and any it would have filled)
    // stays empty and is reported as a panic for that file.
    let slots = slots.into_inner().unwrap_or_else(|e| e.into_inner());
    slots
        .into_iter()
        .zip(files)
        .map(|(slot, path)| slot.unwrap_or_else(|| Err(Error::Panicked { path: path.clone() })))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_version_named_files_are_loaded_oldest_first() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diff");
        let dir = std::env::temp_dir().join(format!("qix-history-load-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("companion.json"), "{}").unwrap();
        std::fs::write(dir.join("notes.txt"), "x").unwrap();
        let e = load_history(&dir, &Settings::default()).unwrap_err();
        assert!(matches!(e, Error::NoSpecs { .. }), "{e:?}");
        assert!(e.to_string().contains("no specs"), "{e}");

        let base = std::fs::read_to_string(fixtures.join("base.openrpc")).unwrap();
        for v in ["1.10.0", "1.9.0"] {
            let text = base.replacen(
                "\"version\": \"1.0.0\"",
                &format!("\"version\": \"{v}\""),
                1,
            );
            assert_ne!(text, base, "the fixture names its version");
            std::fs::write(dir.join(format!("{v}.json")), text).unwrap();
        }
        assert_eq!(spec_files(&dir).unwrap().len(), 2);
        let apis = load_history(&dir, &Settings::default()).unwrap();
        let versions: Vec<&str> = apis.iter().map(|a| a.version.as_str()).collect();
        assert_eq!(versions, ["1.9.0", "1.10.0"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
