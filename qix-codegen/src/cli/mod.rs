//! The command layer the two binaries share (`qix-codegen` and `cargo xtask`): the options
//! of `diff` as one clap declaration, and the errors only commands have (a spec named on the
//! command line and not found, a report that cannot be written). The generator itself —
//! [`generate`](crate::generate), [`lower`](crate::lower), [`emit`](crate::emit) — parses
//! no arguments and returns [`Error`](crate::Error).

mod diff_args;
mod error;

pub use diff_args::DiffArgs;
pub use error::CliError;
