//! `diff`: what changed between two versions of the engine API, with two verdicts per change:
//! *wire* (does a client generated from the old spec still work against an engine at the new
//! one?) and *crate* (does code written against the old generated crate still compile?).
//!
//! [`diff`] compares two lowered APIs ([`ir::Api`](crate::ir::Api)); the verdicts come from
//! one table, [`policy::POLICY`] (documented below); [`render`] prints text, markdown
//! or JSON; [`run`] does the `diff` command's work (the binaries parse its arguments).
//!
#![doc = include_str!("README.md")]

pub mod command;
mod compare;
pub mod model;
pub mod policy;
pub mod render;
mod usage;

use crate::ir::Api;

pub use command::{Format, Request, run, threshold};
pub use model::{Change, Context, Kind, Scope, Verdict};
pub use render::Report;

#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Keep `doc.changed` records (description, deprecation note and error message edits).
    pub docs: bool,
}

/// Every difference between two APIs, sorted by scope (methods by class and name, then types,
/// then error codes), path and kind. Empty for an API and itself; `diff(b, a)` mirrors
/// `diff(a, b)` (same count, added ↔ removed).
pub fn diff(old: &Api, new: &Api, opts: &DiffOptions) -> Vec<Change> {
    let mut changes = compare::Differ::new(old, new).run();
    if !opts.docs {
        changes.retain(|c| c.kind != Kind::DocChanged);
    }
    changes
}
