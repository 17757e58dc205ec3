//! `schemas/history.pin`: the spec versions whose history gives `qix-generated` its
//! since-version notes, each with the sha256 of its file.
//!
//! # Why the inputs are pinned, not the result
//!
//! The drift check (`cargo xtask check`) must depend only on pinned inputs: the pinned spec
//! (`schemas/spec.pin`), the companion map, and the history. Two ways to pin the history
//! were weighed:
//!
//! - pin the *result*, the since map (item → oldest version that has it), so that the check
//!   needs no history folder at all;
//! - pin the *inputs*, every history file by version and sha256 (this file).
//!
//! Pinning the result would not make the check hermetic: the pinned spec itself lives in
//! the same shared folder (spec files are never committed), so the check needs that folder
//! either way. And the since map is derived data: thousands of entries keyed by the
//! annotator's matching rules (`Class.Method`, param names, enum titles, …), which would
//! have to be re-pinned whenever those rules change and could silently disagree with what
//! the history says. Pinning the inputs keeps one source of truth (the spec files), is a
//! 40-line file that reviews well (a new engine release is one added line), and makes the
//! check reproduce exactly what `regenerate` did: the history is the pinned versions only,
//! each verified before use; other files in the folder are ignored (and reported), and a
//! missing or changed one is an error that names the version and the file.
//!
//! # Format
//!
//! `<version> = <sha256>` lines, oldest first; `#` comments. A pin without versions says
//! that `qix-generated` was generated without a history (`regenerate --no-history`): no
//! since-version notes.

use std::path::{Path, PathBuf};

use qix_codegen::specpath;

use crate::codegen::{root, sha256_hex};

/// The pin file, relative to the workspace root.
pub const PIN_FILE: &str = "schemas/history.pin";

/// How to re-pin, for error messages.
pub const REPIN: &str = "if the change is intended, re-pin with `cargo xtask regenerate --repin-history` \
     (add `--history DIR` for another folder) and commit schemas/history.pin with the regenerated code";

/// One pinned history version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub version: String,
    pub sha256: String,
}

/// The pinned history: no entries means no history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryPin {
    pub entries: Vec<Entry>,
}

impl HistoryPin {
    pub fn path() -> PathBuf {
        root().join(PIN_FILE)
    }

    /// Reads the pin at `path`; `Ok(None)` when there is no such file.
    pub fn read(path: &Path) -> Result<Option<HistoryPin>, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        HistoryPin::parse(&text, &path.display().to_string()).map(Some)
    }

    pub fn parse(text: &str, origin: &str) -> Result<HistoryPin, String> {
        let mut entries: Vec<Entry> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || {
                format!(
                    "{origin}:{}: expected `<version> = <sha256>`, got {line:?}",
                    n + 1
                )
            };
            let (version, sha) = line.split_once('=').ok_or_else(bad)?;
            let (version, sha) = (version.trim(), sha.trim().to_lowercase());
            if !specpath::is_version(version)
                || sha.len() != 64
                || !sha.chars().all(|c| c.is_ascii_hexdigit())
            {
                return Err(bad());
            }
            if entries.iter().any(|e| e.version == version) {
                return Err(format!("{origin}:{}: {version} is pinned twice", n + 1));
            }
            entries.push(Entry {
                version: version.to_string(),
                sha256: sha,
            });
        }
        entries.sort_by(|a, b| specpath::version_cmp(&a.version, &b.version));
        Ok(HistoryPin { entries })
    }

    pub fn render(&self) -> String {
        let mut s = String::from(
            "# The spec history qix-generated's since-version notes come from: each version's\n\
             # <version>.json with its sha256. Written by `cargo xtask regenerate`; verified by\n\
             # `regenerate` and `check` (see schemas/README.md). Re-pin with\n\
             # `cargo xtask regenerate --repin-history`.\n",
        );
        if self.entries.is_empty() {
            s.push_str("# No versions: generated without a history (--no-history).\n");
        }
        for e in &self.entries {
            s.push_str(&format!("{} = {}\n", e.version, e.sha256));
        }
        s
    }

    /// Pins every spec of `dir` (files named `<version>.json`).
    pub fn of_dir(dir: &Path) -> Result<HistoryPin, String> {
        let mut entries = Vec::new();
        for version in specpath::versions_in(dir) {
            let path = dir.join(format!("{version}.json"));
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            entries.push(Entry {
                version,
                sha256: sha256_hex(&bytes),
            });
        }
        if entries.is_empty() {
            return Err(format!(
                "{}: no specs (files named <version>.json) to pin",
                dir.display()
            ));
        }
        Ok(HistoryPin { entries })
    }

    /// The files of the pinned versions in `dir`, after checking each one's sha256. Every
    /// missing or changed file is named in the error, with how to re-pin.
    pub fn verified_files(&self, dir: &Path) -> Result<Vec<PathBuf>, String> {
        if !dir.is_dir() {
            return Err(format!(
                "{}: no such folder, but {PIN_FILE} pins {} spec versions to read from it; \
                 pass --history DIR with them (or --no-history)",
                dir.display(),
                self.entries.len()
            ));
        }
        let mut files = Vec::new();
        let mut problems = Vec::new();
        for e in &self.entries {
            let path = dir.join(format!("{}.json", e.version));
            match std::fs::read(&path) {
                Ok(bytes) => {
                    let got = sha256_hex(&bytes);
                    if got == e.sha256 {
                        files.push(path);
                    } else {
                        problems.push(format!(
                            "  {}: {} has sha256 {got}, the pin says {}",
                            e.version,
                            path.display(),
                            e.sha256
                        ));
                    }
                }
                Err(err) => problems.push(format!(
                    "  {}: {} cannot be read: {err}",
                    e.version,
                    path.display()
                )),
            }
        }
        if problems.is_empty() {
            return Ok(files);
        }
        Err(format!(
            "the spec history in {} is not the pinned one ({PIN_FILE}, {} versions):\n{}\n{REPIN}",
            dir.display(),
            self.entries.len(),
            problems.join("\n")
        ))
    }

    /// Versions with a spec in `dir` that the pin does not list.
    pub fn unpinned_in(&self, dir: &Path) -> Vec<String> {
        specpath::versions_in(dir)
            .into_iter()
            .filter(|v| !self.entries.iter().any(|e| &e.version == v))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary folder with copies of two real specs (never in the repo).
    fn temp_history(name: &str) -> PathBuf {
        let shared = root().join("../shared/schemas/openrpc");
        let dir = std::env::temp_dir().join(format!("xtask-history-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for v in ["12.1205.0", "12.1233.0"] {
            let from = shared.join(format!("{v}.json"));
            std::fs::copy(&from, dir.join(format!("{v}.json")))
                .unwrap_or_else(|e| panic!("{}: {e}", from.display()));
        }
        dir
    }

    #[test]
    fn a_pin_round_trips_and_rejects_bad_lines() {
        let sha = "ab".repeat(32);
        let text = format!("# c\n12.2.0 = {sha}\n\n12.10.0={}\n", sha.to_uppercase());
        let pin = HistoryPin::parse(&text, "p").unwrap();
        assert_eq!(
            pin.entries
                .iter()
                .map(|e| e.version.as_str())
                .collect::<Vec<_>>(),
            ["12.2.0", "12.10.0"]
        );
        assert!(pin.entries.iter().all(|e| e.sha256 == sha));
        assert_eq!(HistoryPin::parse(&pin.render(), "p").unwrap(), pin);
        let empty = HistoryPin::default();
        assert!(empty.render().contains("--no-history"));
        assert_eq!(HistoryPin::parse(&empty.render(), "p").unwrap(), empty);
        for bad in [
            "12.2.0",
            "12.2.0 = 1234",
            "x = {sha}",
            "12.2.0 = {sha}\n12.2.0 = {sha}",
        ] {
            let bad = bad.replace("{sha}", &sha);
            assert!(HistoryPin::parse(&bad, "p").is_err(), "{bad}");
        }
    }

    #[test]
    fn a_changed_or_missing_history_file_is_named() {
        let dir = temp_history("verify");
        let pin = HistoryPin::of_dir(&dir).unwrap();
        assert_eq!(pin.entries.len(), 2);
        assert_eq!(pin.verified_files(&dir).unwrap().len(), 2);

        // One byte more in one file: that version and file are named, with how to re-pin.
        let changed = dir.join("12.1233.0.json");
        let mut bytes = std::fs::read(&changed).unwrap();
        bytes.push(b'\n');
        std::fs::write(&changed, &bytes).unwrap();
        let err = pin.verified_files(&dir).unwrap_err();
        assert!(err.contains("12.1233.0:"), "{err}");
        assert!(err.contains(&changed.display().to_string()), "{err}");
        assert!(err.contains(&pin.entries[1].sha256), "{err}");
        assert!(!err.contains("12.1205.0:"), "{err}");
        assert!(err.contains("--repin-history"), "{err}");

        // A missing file.
        std::fs::remove_file(dir.join("12.1205.0.json")).unwrap();
        let err = pin.verified_files(&dir).unwrap_err();
        assert!(
            err.contains("12.1205.0:") && err.contains("cannot be read"),
            "{err}"
        );

        // A folder that is not there is said once.
        let err = pin.verified_files(&dir.join("gone")).unwrap_err();
        assert!(
            err.contains("no such folder") && err.contains("--history DIR"),
            "{err}"
        );

        // Re-pinning takes the folder as it is now; an unlisted file is reported.
        let repinned = HistoryPin::of_dir(&dir).unwrap();
        assert_eq!(repinned.entries.len(), 1);
        assert_eq!(repinned.verified_files(&dir).unwrap(), vec![changed]);
        std::fs::write(dir.join("12.9999.0.json"), "{}").unwrap();
        assert_eq!(repinned.unpinned_in(&dir), vec!["12.9999.0".to_string()]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
