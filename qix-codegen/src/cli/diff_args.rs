//! The options of `diff`: one declaration for `qix-codegen diff` and `cargo xtask diff`.

use std::path::PathBuf;

use crate::diff::{self, Format, Verdict};
use clap::Args;

/// The options of `diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The old spec: a file, or an engine version (12.2528.0) looked up in --spec-dir,
    /// $QIX_SCHEMAS_DIR, schemas/ and ../shared/schemas/openrpc.
    pub old: String,
    /// The new spec, as OLD.
    pub new: String,
    /// text: a summary; markdown: a changelog; json: one record per change.
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub format: Format,
    /// Exit with 1 when a change is at least this bad on the wire or for the crate
    /// (breaking or dangerous).
    #[arg(long, value_name = "THRESHOLD", default_value = "breaking", value_parser = diff::threshold)]
    pub fail_on: Verdict,
    /// Also list description-only changes (always counted).
    #[arg(long)]
    pub docs: bool,
    /// A folder searched first for versions.
    #[arg(long, value_name = "DIR")]
    pub spec_dir: Option<PathBuf>,
    /// A companion map (default: the built-in one).
    #[arg(long, value_name = "FILE")]
    pub companion: Option<PathBuf>,
}

impl DiffArgs {
    /// The library's request; versions are also looked up relative to `search_root` (the
    /// workspace root).
    pub fn request(self, search_root: PathBuf) -> diff::Request {
        diff::Request {
            old: self.old,
            new: self.new,
            format: self.format,
            fail_on: self.fail_on,
            docs: self.docs,
            spec_dir: self.spec_dir,
            search_root: Some(search_root),
            companion: self.companion,
        }
    }
}
