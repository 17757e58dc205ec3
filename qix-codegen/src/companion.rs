//! The companion map: facts about the API that the spec does not state, kept by hand in
//! `schemas/companion.json`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The project's own companion map, built in so the binary works on its own: a copy of
/// `schemas/companion.json` inside the crate (so it packages), which `cargo xtask
/// regenerate` writes and `cargo xtask check` keeps equal.
pub const BUILTIN: &str = include_str!("../builtin/companion.json");

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Companion {
    /// `Class.Method` → class of the handle its `ObjectInterface` result opens.
    #[serde(rename = "objectInterface", default)]
    pub object_interface: BTreeMap<String, String>,
    /// The class of the session's root object (handle -1): `Global`.
    #[serde(rename = "rootClass", default)]
    pub root_class: Option<String>,
    /// Which methods are reads (safe to send again).
    #[serde(default)]
    pub reads: Reads,
    /// How the runtime opens objects again after a reconnection.
    #[serde(default)]
    pub reopen: Reopen,
}

/// How the runtime opens an object again after a reconnection lost the engine session.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reopen {
    #[serde(rename = "$comment", default)]
    pub comment: Option<String>,
    /// Class → the `Doc.Method` that opens an object of the class by its id.
    #[serde(rename = "byId", default)]
    pub by_id: BTreeMap<String, String>,
}

/// The methods that only read (safe to send again): those whose name starts with one of
/// `prefixes`, and those named in `methods`, but for those named in `except`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reads {
    #[serde(rename = "$comment", default)]
    pub comment: Option<String>,
    /// Prefixes of the method part of the name (`Get` for `Doc.GetObject`).
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// `Class.Method` names that are reads whatever their prefix.
    #[serde(default)]
    pub methods: Vec<String>,
    /// `Class.Method` names that a prefix would make reads but that change something.
    #[serde(default)]
    pub except: Vec<String>,
}

impl Reads {
    /// Whether `Class.Method` is a read.
    pub fn is_read(&self, class: &str, method: &str) -> bool {
        let full = format!("{class}.{method}");
        if self.except.contains(&full) {
            return false;
        }
        self.methods.contains(&full) || self.prefixes.iter().any(|p| method.starts_with(p.as_str()))
    }

    /// Every `Class.Method` the lists name (for the check that each exists somewhere).
    pub fn named(&self) -> impl Iterator<Item = &String> {
        self.methods.iter().chain(&self.except)
    }
}

impl Companion {
    pub fn parse(text: &str, origin: &str) -> Result<Companion> {
        serde_json::from_str(text).map_err(|source| Error::Companion {
            origin: origin.to_string(),
            source,
        })
    }

    pub fn load(path: &Path) -> Result<Companion> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Companion::parse(&text, &path.display().to_string())
    }

    pub fn builtin() -> Companion {
        Companion::parse(BUILTIN, "schemas/companion.json")
            .unwrap_or_else(|e| panic!("the built-in companion map is broken: {e}"))
    }
}
