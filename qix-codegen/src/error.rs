//! The generator's error: every public function of the library that can fail returns
//! [`Error`]. Each variant names what it was working on (a file, a folder, a spec) and keeps
//! the underlying error as its [`source`](std::error::Error::source).

use std::path::PathBuf;

use crate::lower::Invalid;
use crate::spec::LoadError;

/// Why generating, loading a history, finding a spec or comparing two specs failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A spec could not be read or parsed (the message names the file and JSON path).
    #[error("{0}")]
    Spec(#[from] LoadError),
    /// A spec parsed but is not valid (every problem is listed, with its place).
    #[error("{0}")]
    Invalid(#[from] Invalid),
    /// The emitter refused the lowered API of the spec `origin`.
    #[error("{origin}: {source}")]
    Emit {
        origin: String,
        source: crate::emit::EmitError,
    },
    /// A secret list could not be parsed.
    #[error("{0}")]
    Secrets(#[from] crate::secrets::SecretsError),
    /// A companion map could not be parsed.
    #[error("{origin}: not a companion map: {source}")]
    Companion {
        origin: String,
        source: serde_json::Error,
    },
    /// A file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A folder could not be created.
    #[error("{}: cannot create the folder: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A folder could not be listed.
    #[error("{}: cannot list the folder: {source}", path.display())]
    ListDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A history folder without any `<version>.json`.
    #[error("{}: no specs (files named <version>.json) in this folder", dir.display())]
    NoSpecs { dir: PathBuf },
    /// Loading a spec panicked (a bug in the generator).
    #[error("{}: loading the spec panicked", path.display())]
    Panicked { path: PathBuf },
}

/// The result of the generator's functions.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use std::error::Error as _;
    use std::path::Path;

    use super::*;
    use crate::{Companion, Settings, Spec};

    #[test]
    fn io_failures_name_the_path_and_keep_the_io_error() {
        let missing = std::env::temp_dir().join(format!("qix-no-such-dir-{}", std::process::id()));
        let file = missing.join("x.rs");
        let e = crate::write_if_changed(&file, "x").unwrap_err();
        assert!(
            matches!(&e, Error::Write { path, .. } if path == &file),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .starts_with(&format!("{}: cannot write: ", file.display())),
            "{e}"
        );
        let io = e.source().and_then(|s| s.downcast_ref::<std::io::Error>());
        assert_eq!(io.map(|e| e.kind()), Some(std::io::ErrorKind::NotFound));

        let e = Companion::load(&file).unwrap_err();
        assert!(matches!(e, Error::Read { .. }), "{e:?}");
        assert!(e.to_string().contains("cannot read"), "{e}");
        assert!(e.source().is_some_and(|s| s.is::<std::io::Error>()));

        let e = crate::history::load_history(&missing, &Settings::default()).unwrap_err();
        assert!(matches!(e, Error::ListDir { .. }), "{e:?}");
        assert!(e.to_string().contains("cannot list the folder"), "{e}");
    }

    #[test]
    fn spec_failures_keep_the_parse_or_lowering_error() {
        let e = crate::generate_file(Path::new("/no/such/spec.json"), &Settings::default())
            .unwrap_err();
        assert!(e.source().is_some_and(|s| s.is::<LoadError>()), "{e:?}");
        assert!(
            e.to_string()
                .starts_with("/no/such/spec.json: cannot read the file"),
            "{e}"
        );

        let spec = Spec::parse(
            br#"{"openrpc": "1.0.0", "info": {"title": "QIX", "version": "1"},
                 "methods": [{"name": "NoDot", "result": {"schema": {}}}], "components": {}}"#,
            "t.json",
        )
        .unwrap();
        let e = crate::generate(&spec, "t.json", &Settings::default()).unwrap_err();
        let invalid = e.source().and_then(|s| s.downcast_ref::<Invalid>());
        assert!(invalid.is_some_and(|i| !i.problems.is_empty()), "{e:?}");
        assert!(e.to_string().starts_with("t.json: 1 problem(s)"), "{e}");

        let e = Companion::parse("[1]", "c.json").unwrap_err();
        assert!(
            e.to_string().starts_with("c.json: not a companion map: "),
            "{e}"
        );
        assert!(e.source().is_some_and(|s| s.is::<serde_json::Error>()));
    }
}
