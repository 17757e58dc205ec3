//! The spec history: [`load`] reads a folder of spec versions, [`annotate`] marks each item
//! of an API with the oldest version that has it (its since-version).

pub mod annotate;
pub mod load;

pub use annotate::annotate;
pub use load::{load_api, load_files, load_history, spec_files};
