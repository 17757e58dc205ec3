//! qix-codegen: reads the Qlik Associative Engine's API specification (an OpenRPC document)
//! and emits strongly typed Rust for it.
//!
//! The pipeline is spec → IR → tokens → files:
//! [`spec::Spec::load`] parses the document (keeping unknown keys as warnings),
//! [`lower::lower`] validates it and builds the [`ir::Api`], and [`emit::emit`] turns the IR
//! into formatted source files. [`generate`] runs all three, told the rest by one [`Settings`].
//!
//! The library parses no command-line arguments and bakes in no paths of this checkout:
//! callers pass the workspace root where one is needed (spec lookup). Every fallible
//! function returns [`Error`].

pub mod cli;
pub mod companion;
pub mod diff;
pub mod docs;
pub mod emit;
pub mod error;
pub mod history;
pub mod ir;
pub mod lower;
pub mod names;
pub mod output;
pub mod secrets;
pub mod settings;
pub mod spec;
pub mod specpath;
pub mod version_order;

use std::path::Path;

pub use companion::Companion;
pub use emit::File;
pub use error::{Error, Result};
pub use ir::Api;
pub use output::{
    Drift, DriftKind, Mode, RuntimeDep, crate_manifest, ensure_files, write_crate, write_if_changed,
};
pub use secrets::Secrets;
pub use settings::{ExtraModule, Settings};
pub use spec::Spec;

/// The result of a generation run.
#[derive(Debug, Clone)]
pub struct Generated {
    pub api: Api,
    pub files: Vec<File>,
    /// Keys of the spec the model does not know (reported, never fatal).
    pub warnings: Vec<String>,
}

/// Reads, validates, lowers and emits a spec file.
pub fn generate_file(spec_path: &Path, settings: &Settings) -> Result<Generated> {
    let spec = Spec::load(spec_path)?;
    generate(&spec, &spec_path.display().to_string(), settings)
}

/// Validates, lowers and emits a parsed spec. `origin` names it in messages; `settings`
/// says what else the run knows (see [`Settings`]).
pub fn generate(spec: &Spec, origin: &str, settings: &Settings) -> Result<Generated> {
    let warnings = spec
        .unknown_keys()
        .into_iter()
        .map(|k| format!("{origin}: {k}"))
        .collect();
    let mut api = lower::lower(spec, settings, origin)?;
    if !settings.history.is_empty() {
        history::annotate(&mut api, &settings.history);
    }
    let files = emit::emit(&api, settings).map_err(|source| Error::Emit {
        origin: origin.to_string(),
        source,
    })?;
    Ok(Generated {
        api,
        files,
        warnings,
    })
}

/// A one-paragraph account of what was generated: counts of classes, methods, types,
/// enums, error codes and lines.
pub fn summary(g: &Generated) -> String {
    let lines: usize = g.files.iter().map(|f| f.contents.lines().count()).sum();
    format!(
        "engine API {}: {} classes, {} methods, {} types ({} enums), {} error codes; {} files, {} lines",
        g.api.version,
        g.api.classes.len(),
        g.api.method_count(),
        g.api.types.len(),
        g.api.enum_count(),
        g.api.errors.len(),
        g.files.len(),
        lines
    )
}
