//! What a generation run is told besides the spec, in one value (typify's
//! `TypeSpaceSettings` is the model): the facts the spec does not state (companion map,
//! secret list), the history of earlier versions, and choices about the output.

use crate::companion::Companion;
use crate::ir::Api;
use crate::secrets::Secrets;

/// The settings of [`generate`](crate::generate) and of the lowering. `Default` is the
/// project's own companion map and secret list, no history and no extra modules.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Facts about the API the spec does not state (`schemas/companion.json`).
    pub companion: Companion,
    /// Params and properties that carry credentials (`schemas/secrets.json`).
    pub secrets: Secrets,
    /// Earlier versions of the API, any order: every item is annotated with the oldest
    /// that has it (see [`history::annotate`](crate::history::annotate)). Empty: no
    /// since-version notes.
    pub history: Vec<Api>,
    /// Hand-written modules of the generated crate, declared at the end of its `lib.rs`
    /// (their files are the crate's own, never written by the generator).
    pub extra_modules: Vec<ExtraModule>,
}

/// A hand-written module the generated `lib.rs` declares: `pub mod {name};`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraModule {
    /// The module name (a Rust identifier).
    pub name: String,
    /// Its doc comment (lines without `///`).
    pub doc: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            companion: Companion::builtin(),
            secrets: Secrets::builtin(),
            history: Vec::new(),
            extra_modules: Vec::new(),
        }
    }
}

impl Settings {
    pub fn with_companion(mut self, companion: Companion) -> Self {
        self.companion = companion;
        self
    }

    pub fn with_secrets(mut self, secrets: Secrets) -> Self {
        self.secrets = secrets;
        self
    }

    pub fn with_history(mut self, history: Vec<Api>) -> Self {
        self.history = history;
        self
    }

    pub fn with_extra_module(mut self, name: &str, doc: &str) -> Self {
        self.extra_modules.push(ExtraModule {
            name: name.to_string(),
            doc: doc.to_string(),
        });
        self
    }
}
