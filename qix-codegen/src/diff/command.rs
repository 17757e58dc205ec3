//! The `diff` command's work, once its arguments are parsed (by the binaries: `qix-codegen
//! diff`, `cargo xtask diff`): find both specs, load them, compare, render, judge.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::cli::CliError;
use crate::companion::Companion;
use crate::error::{Error, Result};
use crate::history::load_api;
use crate::settings::Settings;
use crate::specpath::find_spec;

use super::model::Verdict;
use super::render::{self, Report};
use super::{DiffOptions, diff};

/// How the report is printed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    /// A summary: counts, then every change, worst first.
    #[default]
    Text,
    /// A changelog: class → method, types, enums, error codes.
    Markdown,
    /// One record per change.
    Json,
}

impl FromStr for Format {
    type Err = String;

    /// `text`, `markdown` (or `md`), `json`.
    fn from_str(s: &str) -> std::result::Result<Format, String> {
        match s {
            "text" => Ok(Format::Text),
            "markdown" | "md" => Ok(Format::Markdown),
            "json" => Ok(Format::Json),
            other => Err(format!("unknown format {other:?} (text, markdown or json)")),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Text => "text",
            Format::Markdown => "markdown",
            Format::Json => "json",
        })
    }
}

/// A `--fail-on` threshold: `breaking` or `dangerous` (`compatible` is not one: every change
/// is at least compatible).
pub fn threshold(s: &str) -> std::result::Result<Verdict, String> {
    match Verdict::parse(s) {
        Some(Verdict::Compatible) | None => {
            Err(format!("{s:?} is not a threshold (breaking or dangerous)"))
        }
        Some(t) => Ok(t),
    }
}

/// One comparison of two specs.
#[derive(Debug, Clone)]
pub struct Request {
    /// Spec files, or engine versions (`12.2528.0`) looked up on the spec search path.
    pub old: String,
    pub new: String,
    pub format: Format,
    /// [`run`] says the threshold was crossed when a change is at least this bad on the wire
    /// or for the crate.
    pub fail_on: Verdict,
    /// List description-only changes too (they are always counted).
    pub docs: bool,
    /// A folder searched first for versions (`--spec-dir`).
    pub spec_dir: Option<PathBuf>,
    /// The workspace root whose `schemas/` and `../shared/schemas/openrpc` are searched last.
    pub search_root: Option<PathBuf>,
    /// A companion map (default: the built-in one).
    pub companion: Option<PathBuf>,
}

impl Request {
    /// Compares `old` with `new`: a text report, failing on breaking changes, built-in
    /// companion, no extra folders.
    pub fn new(old: impl Into<String>, new: impl Into<String>) -> Request {
        Request {
            old: old.into(),
            new: new.into(),
            format: Format::Text,
            fail_on: Verdict::Breaking,
            docs: false,
            spec_dir: None,
            search_root: None,
            companion: None,
        }
    }
}

/// Runs a comparison and writes its report to `out`. `Ok(true)` when a change reaches the
/// `fail_on` threshold (the commands exit with 1), `Ok(false)` when none does; `Err` when
/// the tool fails (a spec not found or invalid, the report not written).
pub fn run(req: &Request, out: &mut dyn Write) -> Result<bool, CliError> {
    let root = req.search_root.as_deref();
    let old_path = find_spec(&req.old, req.spec_dir.as_deref(), root)?;
    let new_path = find_spec(&req.new, req.spec_dir.as_deref(), root)?;
    let settings = match &req.companion {
        Some(p) => Settings::default().with_companion(Companion::load(p)?),
        None => Settings::default(),
    };
    let (old, new) = std::thread::scope(|s| {
        let old = s.spawn(|| load_api(&old_path, &settings));
        let new = load_api(&new_path, &settings);
        (join(old, &old_path), new)
    });
    let (old, new) = (old?, new?);

    let changes = diff(&old, &new, &DiffOptions { docs: true });
    let report = Report {
        old_version: &old.version,
        new_version: &new.version,
        changes: &changes,
        docs: req.docs,
    };
    let text = match req.format {
        Format::Text => render::text(&report),
        Format::Markdown => render::markdown(&report),
        Format::Json => render::json(&report),
    };
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|source| CliError::WriteReport { source })?;
    Ok(changes.iter().any(|c| c.worst() >= req.fail_on))
}

fn join<T>(handle: std::thread::ScopedJoinHandle<'_, Result<T>>, path: &Path) -> Result<T> {
    handle.join().unwrap_or_else(|_| {
        Err(Error::Panicked {
            path: path.to_path_buf(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_thresholds_parse_from_their_names() {
        assert_eq!("json".parse(), Ok(Format::Json));
        assert_eq!("md".parse(), Ok(Format::Markdown));
        assert_eq!("text".parse(), Ok(Format::Text));
        assert!(
            "yaml"
                .parse::<Format>()
                .unwrap_err()
                .contains("text, markdown or json")
        );
        assert_eq!(threshold("dangerous"), Ok(Verdict::Dangerous));
        assert_eq!(threshold("breaking"), Ok(Verdict::Breaking));
        assert!(threshold("compatible").is_err());
        assert!(threshold("bad").unwrap_err().contains("not a threshold"));
    }
}
