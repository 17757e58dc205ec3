//! Hand-written helpers on the generated types (this folder is not generated; the
//! generator and `cargo xtask check` never touch it).
//!
//! - [`paging`]: every page of a hypercube as a `Stream`, in data, stack or pivot mode;
//! - [`reload`]: a reload (`DoReload`/`DoReloadEx`) with a stream of its `GetProgress`
//!   updates, cancelled when dropped.

pub mod paging;
pub mod reload;

pub use paging::{PageShape, Pages, data_pages, page_plan, pivot_pages, stack_pages};
pub use reload::{ReloadProgress, with_progress};
