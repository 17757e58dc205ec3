//! Comparing engine versions, for the `SINCE` constants of generated requests. The
//! comparison itself is the generator's (`qix_codegen::version_order`), generated into
//! `api_tables` under the drift check.

use std::cmp::Ordering;

/// Orders engine versions by their numeric parts (`12.999.0` < `12.1205.0`); parts that are
/// not numbers compare as text. (The generator orders its spec history with this same
/// function.)
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    crate::api_tables::version_order::compare(a, b)
}

/// True when an engine at `version` has a method whose request says `since`: check
/// `Global::engine_version()` against `Request::SINCE` before calling a newer method.
///
/// ```
/// use qix_runtime::supports;
/// assert!(supports("12.2528.0", Some("12.2064.0")));
/// assert!(!supports("12.1885.0", Some("12.2064.0")));
/// assert!(supports("12.1205.0", None)); // in every known version
/// ```
pub fn supports(version: &str, since: Option<&str>) -> bool {
    since.is_none_or(|s| compare_versions(version, s) != Ordering::Less)
}
