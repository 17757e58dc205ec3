//! The companion map: facts about the API that the spec does not state, kept by hand in
//! `schemas/companion.json`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The project's own companion map, built in so the binary works on its own.
pub const BUILTIN: &str = include_str!("../../schemas/companion.json");

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Companion {
    /// `Class.Method` → class of the handle its `ObjectInterface` result opens.
    #[serde(rename = "objectInterface", default)]
    pub object_interface: BTreeMap<String, String>,
    /// The class of the session's root object (handle -1): `Global`.
    #[serde(rename = "rootClass", default)]
    pub root_class: Option<String>,
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
