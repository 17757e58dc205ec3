//! Hand-written helpers on the generated types (this folder is not generated; the
//! generator and `cargo xtask check` never touch it).
//!
//! - [`extract`](crate::helpers::extract): a whole table out, pages fetched concurrently, in
//!   order, from one consistent state of the data, with typed columns (and Arrow record
//!   batches with the `arrow` feature);
//! - [`paging`](crate::helpers::paging): every page of a hypercube as a `Stream`, in data, stack or pivot mode;
//! - [`reload`](crate::helpers::reload): a reload (`DoReload`/`DoReloadEx`) with a stream of its `GetProgress`
//!   updates, cancelled when dropped.

pub mod extract;
pub mod paging;
pub mod reload;

pub use paging::{PageShape, Pages, data_pages, page_plan, pivot_pages, stack_pages};
pub use reload::{ReloadProgress, with_progress};

/// The workspace README's Rust examples, as doctests of this crate: the usage example is
/// compiled and the testing-kit example run from the README itself, so it cannot drift
/// from the API. (With `testing`, which the README's mock example needs, and `http`, which
/// its OAuth client credentials example needs; CI tests with `--all-features`.)
#[cfg(all(doctest, feature = "testing", feature = "http"))]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
