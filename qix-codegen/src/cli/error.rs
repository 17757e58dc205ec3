//! The errors of the commands: what only a command line can get wrong (a spec named by
//! version and found nowhere, a report that cannot be written), beside the generator's
//! own [`Error`].

use crate::error::Error;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The generator failed (the spec is invalid, a file cannot be read, …).
    #[error(transparent)]
    Generator(#[from] Error),
    /// No spec named: neither a file nor a version.
    #[error("no spec given (a file or an engine version such as 12.2528.0)")]
    NoSpecGiven,
    /// A path with folders that is not a file.
    #[error("{name}: no such spec file{}", crate::specpath::how_to_get(name))]
    NoSuchSpecFile { name: String },
    /// A version (or file name) on none of the folders of the search path. `looked` holds
    /// each folder searched, where it comes from and what it has.
    #[error("{}", crate::specpath::not_found_message(name, file, looked))]
    SpecNotFound {
        name: String,
        file: String,
        looked: Vec<crate::specpath::Looked>,
    },
    /// The report of `diff` could not be written.
    #[error("cannot write the report: {source}")]
    WriteReport { source: std::io::Error },
}
