//! Comparing engine versions, for the `SINCE` constants of generated requests.

use std::cmp::Ordering;

/// Orders engine versions by their numeric parts (`12.999.0` < `12.1205.0`); parts that are
/// not numbers compare as text.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let mut x = a.trim().split('.');
    let mut y = b.trim().split('.');
    loop {
        match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) => {
                let ord = match (p.parse::<u64>(), q.parse::<u64>()) {
                    (Ok(p), Ok(q)) => p.cmp(&q),
                    _ => p.cmp(q),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
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
